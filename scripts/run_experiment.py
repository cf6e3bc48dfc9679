"""Run one experiment's sweep and collect its tables into ``results/<profile>/<name>/``.

    python scripts/run_experiment.py b1_b3_angles [--profile quick|full] [hydra overrides...]

The quick profile runs ``conf/experiment/<name>.yaml``, the full one ``<name>_full.yaml``.
Runs live in ``outputs/<profile>/<name>/``, one folder per run named by its recorded keys and seed
(``init=he,seed=0``); re-running skips finished runs and resumes the rest, whatever logger, device
or runtime keys it adds (``logger.wandb.mode=offline`` re-runs nothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from initlab.experiments import EXPERIMENT_DIR, PROFILES, config_name, run_experiment


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="conf/experiment/<name>.yaml")
    parser.add_argument("--profile", default="quick", choices=PROFILES)
    parser.add_argument("--results", default=None, help="results root (default: results/)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_intermixed_args()  # overrides may come before or after the options
    wanted = config_name(args.name, args.profile)
    if not (EXPERIMENT_DIR / f"{wanted}.yaml").exists():
        known = sorted(p.stem for p in EXPERIMENT_DIR.glob("*.yaml"))
        print(f"unknown experiment {wanted!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    if args.profile == "rehearsal":  # its sweeps are planned outside the engine
        import initlab_harness.rehearsal  # noqa: F401 - registers the plan
    results = Path(args.results) if args.results else None
    return run_experiment(args.name, args.profile, args.overrides, results)


if __name__ == "__main__":
    sys.exit(main())
