"""Run every experiment of a profile, then the report: ``make reproduce-quick`` / ``-all``.

    python scripts/reproduce.py --profile quick            # CPU, embedded data, ~minutes
    python scripts/reproduce.py --profile full [--launcher slurm] [--only a1_a2_hessian_depth]
    python scripts/reproduce.py --profile rehearsal        # every full run, work cut, CPU
    python scripts/reproduce.py --profile full --plan      # what the full profile will cost

Idempotent: finished runs are skipped and unfinished ones resume, so a killed invocation re-run
picks up where it stopped. ``--force`` (FORCE=1) moves earlier outputs of the selected
experiments aside (to ``outputs/<profile>/.replaced/<name>-<n>``) and runs them again. The full
profile first checks that every data set it needs is present and says what is missing. The
rehearsal first writes its synthetic files in the real formats
(``initlab_harness.rehearsal.writers``) into their own folder and runs the full profile's data
check on them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from initlab.experiments import (
    PROFILES,
    discover,
    run_experiment,
    runs_finished,
    sweep_dir,
    sweep_size,
)
from initlab.preemption import INTERRUPT_EXIT_CODE
from initlab.tracking import atomic_write_text

#: the kernel-launch benchmark the plan of the grid searches on one GPU reads
LAUNCHES = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "launches.json"


def missing_data(names: list[str], profile: str) -> list[str]:
    """One message per data set of the experiments' sweeps that cannot be loaded (files absent)."""
    from initlab.compose import compose
    from initlab.data import DataUnavailableError, build_data
    from initlab.data.bundle import DATASETS
    from initlab.experiments import config_name, data_points

    problems, seen = [], set()
    for name in names:
        for point in data_points(name, profile):
            cfg = compose(
                [f"experiment={config_name(name, profile)}", f"profile={profile}", *point]
            )
            key = repr(sorted(cfg["data"].items()))
            if key in seen:
                continue
            seen.add(key)
            try:  # the data group alone: the sweep's other keys (its arm) are not composed here
                build_data(DATASETS.parse(cfg["data"], "data"))
            except DataUnavailableError as err:
                problems.append(f"{name}: {err}")
    return problems


def move_aside(name: str, profile: str) -> None:
    source = sweep_dir(name, profile)
    if not source.exists():
        return
    backup_root = source.parent / ".replaced"
    backup_root.mkdir(parents=True, exist_ok=True)
    n = sum(1 for p in backup_root.glob(f"{name}-*")) + 1
    shutil.move(str(source), str(backup_root / f"{name}-{n}"))
    print(f"FORCE: moved {source} to {backup_root / f'{name}-{n}'}")


def timings_file(profile: str) -> Path:
    """Wall time of each experiment's last full pass, to estimate the next invocation's ETA."""
    return sweep_dir("_", profile).parent / ".timings.json"


def estimate_left(
    names: list[str],
    sizes: dict[str, int],
    profile: str,
    per_run: float,
    known: dict[str, float],
    force: bool = False,
) -> float:
    """Seconds left: an experiment's last recorded time for its unfinished share, else per_run.

    With ``force`` the experiments not reached yet will re-run in full.
    """
    total = 0.0
    for name in names:
        left = sizes[name] if force else max(sizes[name] - runs_finished(name, profile), 0)
        if name in known:
            total += known[name] * left / max(sizes[name], 1)
        else:
            total += per_run * left
    return total


def fmt(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes}m{sec:02d}s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    parser.add_argument("--only", default="", help="comma-separated experiment names")
    parser.add_argument("--force", action="store_true", help="re-run finished runs too")
    parser.add_argument("--launcher", default="", help="a hydra/launcher option, e.g. slurm")
    parser.add_argument("--skip-data-check", action="store_true")
    parser.add_argument(
        "--plan", action="store_true", help="print what the full profile costs; run nothing"
    )
    args = parser.parse_args()
    if args.plan:
        return print_plan()

    names = discover(args.profile)
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            print(f"unknown experiments {unknown}; known: {', '.join(names)}", file=sys.stderr)
            return 2
        names = [n for n in names if n in wanted]
    if args.profile == "rehearsal":
        import initlab_harness.rehearsal  # noqa: F401 - registers its sweep plan and checksums
        from initlab_harness.rehearsal.profile import data_root
        from initlab_harness.rehearsal.writers import write_all

        print(f"rehearsal data: {write_all(data_root()).parent}", flush=True)
        os.environ["INITLAB_DATA_ROOT"] = str(data_root())
    if args.profile in ("full", "rehearsal") and not args.skip_data_check:
        problems = missing_data(names, "full")  # the rehearsal: the same check on its files
        if problems:
            print("Missing data; nothing was started:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        print(
            f"data check passed: every data set of the {len(names)} experiments loads", flush=True
        )
    overrides = [f"hydra/launcher={args.launcher}"] if args.launcher else []
    sizes = {n: sweep_size(n, args.profile) for n in names}
    total = sum(sizes.values())
    print(f"{args.profile} profile: {len(names)} experiments, {total} runs", flush=True)
    path = timings_file(args.profile)
    known = json.loads(path.read_text()) if path.exists() else {}
    started, failed = time.monotonic(), []
    done_before = {}
    for i, name in enumerate(names, 1):
        if args.force:
            move_aside(name, args.profile)
        done_before[name] = runs_finished(name, args.profile)
        label = f"{i}/{len(names)} {name} ({sizes[name]} runs)"
        print(f"== [{label}]", flush=True)
        began = time.monotonic()
        code = run_experiment(name, args.profile, overrides, label=label)
        if code == INTERRUPT_EXIT_CODE:  # Ctrl-C: the run recorded where it stopped
            print(
                f"initlab: interrupted in {name}; the same command resumes from there",
                file=sys.stderr,
            )
            return code
        if code != 0:
            failed.append(name)
        elif done_before[name] == 0:  # a whole pass: its time predicts the next invocation's
            known[name] = round(time.monotonic() - began, 1)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(known, indent=1, sort_keys=True))
        new_runs = sum(runs_finished(n, args.profile) - done_before[n] for n in done_before)
        elapsed = time.monotonic() - started
        per_run = elapsed / new_runs if new_runs else float("nan")
        eta = estimate_left(names[i:], sizes, args.profile, per_run, known, args.force)
        print(
            f"== done {i}/{len(names)} experiments in {fmt(elapsed)}; "
            f"{sum(sizes[n] for n in names[i:])} runs left, about "
            f"{fmt(eta) if eta == eta else 'unknown'}",
            flush=True,
        )
    if args.profile == "rehearsal":
        finish_rehearsal(names)
    if failed:
        print(f"experiments that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def rehearsal_results() -> Path:
    from initlab.experiments import results_dir

    return results_dir("_", "rehearsal").parent


def plan_markdown() -> str | None:
    """The plan from the rehearsal's costs.csv, and the grid searches on one GPU from the
    launch benchmark; None while there is no costs.csv."""
    from initlab_harness.rehearsal.costs import plan_text
    from initlab_harness.rehearsal.gpu_plan import gpu_plan_text

    text = plan_text(rehearsal_results())
    if text is None:
        return None
    grids = gpu_plan_text(rehearsal_results(), LAUNCHES)
    return text + (f"\n{grids}" if grids else "")


def print_plan() -> int:
    """Print the plan of the full profile (make plan) and keep it in results/rehearsal/PLAN.md."""
    text = plan_markdown()
    if text is None:
        print(f"no {rehearsal_results() / 'costs.csv'}: run `make rehearse` first", file=sys.stderr)
        return 1
    atomic_write_text(rehearsal_results() / "PLAN.md", text)
    print(text, end="")
    return 0


def finish_rehearsal(names: list[str]) -> None:
    """Costs of the runs, the plan, and the proofs of resume and checkpointing at paper size."""
    from initlab_harness.rehearsal.costs import write_costs
    from initlab_harness.rehearsal.proofs import run_proofs

    print(f"costs: {write_costs(names, rehearsal_results())}", flush=True)
    atomic_write_text(rehearsal_results() / "PLAN.md", plan_markdown() or "")
    for proof in run_proofs(sweep_dir(".proofs", "rehearsal"), rehearsal_results()):
        print(
            f"proof {proof['proof']}: {'passed' if proof['passed'] else 'FAILED'}; "
            f"{proof['detail']}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
