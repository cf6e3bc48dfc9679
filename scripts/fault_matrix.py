"""Count the engine's kill/resume and fault cases: tried / clean, one line per case.

    python scripts/fault_matrix.py            # runs tests/foundation/test_engine_resume.py and
                                              # tests/foundation/test_fault_matrix.py (slow too)

A case is clean when its test passes: a killed or preempted run resumed to the numbers and rows
of an uninterrupted run; a bad input ended with one ``initlab: error:`` line naming the key, file
or path, a non-zero exit code and no traceback (or, for the inputs now handled, a completed run).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = [
    "tests/foundation/test_engine_resume.py",
    "tests/foundation/test_fault_matrix.py",
    "tests/foundation/test_signals_and_resume_edges.py",
    "tests/foundation/test_checkpoint_safety.py",
    "tests/foundation/test_paths_chdir.py",
    "tests/foundation/test_run_identity.py",
]
KINDS = {
    "test_kill_at_a_random_step": "kill -9 + resume",
    "test_preemption_signal": "signal + requeue",
    "test_signal_mid_epoch": "signal + requeue",
    "test_hessian_killed_after_a_stage": "kill -9 + resume",
    "test_lanczos_killed_mid_way": "kill -9 + resume",
    "test_kill_mid_measurement": "kill -9 + resume",
    "test_a_preemption_signal_mid_lanczos": "signal + requeue",
    "test_fault_ends_with_one_line": "fault",
    "test_directory_lock": "fault",
    "test_output_dir_on_a_read_only": "fault",
    # Ctrl-C and repeated / early signals
    "test_ctrl_c": "SIGINT",
    "test_a_second_ctrl_c": "SIGINT",
    "test_a_repeated_sigterm": "signal + requeue",
    "test_a_sigterm_": "signal + requeue",
    "test_a_signal_at_the_last_step": "signal + requeue",
    "test_the_handler_a_run_replaced": "signal + requeue",
    "test_a_run_stopped_after_its_last_step": "kill -9 + resume",
    "test_a_metrics_csv_resaved": "fault",
    "test_a_refused_": "fault",
    "test_hydras_refusals": "fault",
    "test_wandb_online": "fault",
    # loading never runs code
    "test_a_task_checkpoint_that_runs_code": "malicious checkpoint",
    "test_a_planted_run_checkpoint": "malicious checkpoint",
    "test_the_run_directory_files_of_a_curvature_run": "malicious checkpoint",
    # paths from the start directory, whatever hydra.job.chdir says
    "test_a_relative_data_root": "chdir",
    "test_a_missing_relative_data_root": "chdir",
    "test_a_relative_task_checkpoint": "chdir",
    "test_a_plain_dict_resolves": "chdir",
    # a run counted once
    "test_two_runs_of_one_identity": "duplicate run",
    "test_a_rerun_with_logger_and_device_keys": "duplicate run",
    "test_a_changed_key_outside_the_identity": "duplicate run",
    "test_a_sweep_over_a_key_that_is_not_recorded": "duplicate run",
}

# cases of test_fault_ends_with_one_line counted under their own kind, by their id's start
CASE_KINDS = {"malicious_": "malicious checkpoint", "chdir_": "chdir"}


def kind_of(name: str) -> str:
    """The kind a test case counts under: its case id's, else its test name's, else other."""
    case = name.partition("[")[2]
    for prefix, kind in CASE_KINDS.items():
        if case.startswith(prefix):
            return kind
    return next((k for prefix, k in KINDS.items() if name.startswith(prefix)), "other")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-m", "slow or not slow", *FILES,
             f"--junitxml={report}", "-p", "no:cacheprovider"],
            cwd=ROOT, check=False, capture_output=True, text=True,
        )  # fmt: skip
        cases = ET.parse(report).getroot().iter("testcase")
        rows = []
        for case in cases:
            name = case.get("name", "")
            kind = kind_of(name)
            bad = case.find("failure") is not None or case.find("error") is not None
            skipped = case.find("skipped") is not None
            rows.append((kind, name, "skipped" if skipped else ("FAILED" if bad else "clean")))
    tried, clean = Counter(), Counter()
    for kind, name, outcome in rows:
        print(f"{kind:20s} {outcome:8s} {name}")
        if outcome != "skipped":
            tried[kind] += 1
            clean[kind] += outcome == "clean"
    print()
    for kind in sorted(tried):
        print(f"{kind:20s} tried {tried[kind]:3d}  clean {clean[kind]:3d}")
    return 0 if tried == clean else 1


if __name__ == "__main__":
    sys.exit(main())
