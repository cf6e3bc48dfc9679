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
FILES = ["tests/foundation/test_engine_resume.py", "tests/foundation/test_fault_matrix.py"]
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
}


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
            kind = next((k for prefix, k in KINDS.items() if name.startswith(prefix)), "other")
            bad = case.find("failure") is not None or case.find("error") is not None
            skipped = case.find("skipped") is not None
            rows.append((kind, name, "skipped" if skipped else ("FAILED" if bad else "clean")))
    tried, clean = Counter(), Counter()
    for kind, name, outcome in rows:
        print(f"{kind:18s} {outcome:8s} {name}")
        if outcome != "skipped":
            tried[kind] += 1
            clean[kind] += outcome == "clean"
    print()
    for kind in sorted(tried):
        print(f"{kind:18s} tried {tried[kind]:3d}  clean {clean[kind]:3d}")
    return 0 if tried == clean else 1


if __name__ == "__main__":
    sys.exit(main())
