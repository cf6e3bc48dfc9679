"""Push the offline W&B runs of a finished sweep (or experiment) to your W&B account.

    python scripts/wandb_sync.py outputs/quick/a1_a2_hessian_depth [--replay] [--dry-run]

Runs are grouped in W&B by ``logger.wandb.group`` (each experiment sets its name), so after a
sync the runs of one experiment sit together: open the project, group by "Group", and compare
them in one panel. Needs ``wandb login`` (or WANDB_API_KEY) and a network; nothing else does.

A run that had W&B off (``logger.wandb.mode=disabled``, as the quick configs set) has no offline
W&B run to push. ``--replay`` writes one into its ``wandb/`` from the files it left, without
training again: its ``config.yaml`` as the W&B config, every ``metrics.csv`` row logged at its
step (the rows a live run sends W&B), and its ``summary.json`` as the W&B summary, under the
name, group and job type a live run would have had. Re-running the experiment with
``logger.wandb.mode=offline`` does not do this: logger keys are not part of a run's identity, so
its finished runs are found and skipped (``already completed``).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

FINISHED = ("completed", "diverged")


def offline_runs(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("offline-run-*") if p.is_dir())


def runs_without_wandb(root: Path) -> list[Path]:
    """Run directories under ``root`` (a summary.json and a config.yaml) with no W&B run."""
    dirs = sorted(p.parent for p in Path(root).rglob("summary.json"))
    return [
        d
        for d in dirs
        if (d / "config.yaml").is_file()
        and not any((d / "wandb").glob("offline-run-*"))
        and not any((d / "wandb").glob("run-*"))
    ]


def replay(run_dir: Path) -> Path:
    """Write an offline W&B run into ``run_dir/wandb/`` from the run's files; returns it."""
    import pandas as pd
    import wandb
    import yaml

    config: dict[str, Any] = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    logger = (config.get("logger") or {}).get("wandb") or {}
    id_file = run_dir / ".wandb_id"
    run = wandb.init(
        mode="offline",
        project=logger.get("project") or "initlab",
        entity=logger.get("entity"),
        group=logger.get("group"),
        job_type=logger.get("job_type"),
        tags=logger.get("tags") or None,
        name=logger.get("name") or _run_name(config, summary),
        id=id_file.read_text().strip() if id_file.is_file() else None,
        dir=str(run_dir),
        config=config,
        settings=wandb.Settings(silent=True),
        reinit="finish_previous",
    )
    metrics = run_dir / "metrics.csv"
    if metrics.is_file() and metrics.stat().st_size:
        for row in pd.read_csv(metrics).to_dict("records"):
            values = {k: _plain(v) for k, v in row.items() if not _missing(v)}
            step = values.pop("step", None)
            run.log(values, step=int(step) if step is not None else None)
    run.summary.update(
        {k: v for k, v in summary.items() if isinstance(v, int | float | str | bool)}
    )
    run.finish(exit_code=0 if summary.get("status") in FINISHED else 1)
    return Path(run.dir).parent


def _run_name(config: dict[str, Any], summary: dict[str, Any]) -> str:
    """The name a live run gives W&B (initlab.run.Run.name): task-model-init-data-s<seed>."""
    parts = [(config.get(k) or {}).get("name", "") for k in ("task", "model", "init", "data")]
    seed = summary.get("seed", config.get("seed"))
    return "-".join(p for p in parts if p) + f"-s{seed}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="a run, sweep or experiment output directory")
    parser.add_argument(
        "--replay",
        action="store_true",
        help="first write offline W&B runs from the files of runs that had W&B off",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be synced")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if not root.is_dir():
        print(f"initlab: error: {root}: no such directory", file=sys.stderr)
        return 2
    missing = runs_without_wandb(root) if args.replay else []
    for run_dir in missing:
        if args.dry_run:
            print(f"{run_dir} (would be replayed from its files)")
        else:
            print(f"replayed {run_dir} into {replay(run_dir).relative_to(run_dir)}")
    if missing and not args.dry_run:
        import wandb

        wandb.teardown()  # the W&B service writes the runs' files out before it stops
    runs = offline_runs(root)
    if not runs and not (args.dry_run and missing):
        hint = "" if args.replay else "; --replay writes them from runs that had W&B off"
        print(f"initlab: error: no offline W&B runs under {root}{hint}", file=sys.stderr)
        return 1
    for run in runs:
        print(run)
    if args.dry_run:
        return 0
    return push(runs)


def push(runs: list[Path]) -> int:
    """``wandb sync`` the offline runs; its exit code."""
    wandb = shutil.which("wandb") or str(Path(sys.executable).with_name("wandb"))
    return subprocess.run([wandb, "sync", *map(str, runs)]).returncode


if __name__ == "__main__":
    sys.exit(main())
