"""Push the offline W&B runs of a finished sweep (or experiment) to your W&B account.

    python scripts/wandb_sync.py outputs/quick/a1_a2_hessian_depth [--dry-run]

Runs are grouped in W&B by ``logger.wandb.group`` (each experiment sets its name), so after a
sync the runs of one experiment sit together: open the project, group by "Group", and compare
them in one panel. Needs ``wandb login`` (or WANDB_API_KEY) and a network; nothing else does.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path


def offline_runs(root: Path) -> list[Path]:
    return sorted(p for p in Path(root).rglob("offline-run-*") if p.is_dir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="a run, sweep or experiment output directory")
    parser.add_argument("--dry-run", action="store_true", help="list what would be synced")
    args = parser.parse_args()
    runs = offline_runs(Path(args.root))
    if not runs:
        print(f"no offline W&B runs under {args.root}", file=sys.stderr)
        return 1
    for run in runs:
        print(run)
    if args.dry_run:
        return 0
    wandb = shutil.which("wandb") or str(Path(sys.executable).with_name("wandb"))
    return subprocess.run([wandb, "sync", *map(str, runs)]).returncode


if __name__ == "__main__":
    sys.exit(main())
