"""Run one experiment's sweep and collect its tables into ``results/<profile>/<name>/``.

    python scripts/run_experiment.py b1_angles --profile quick [extra overrides...]

The quick profile runs ``conf/experiment/<name>.yaml`` (its sweep under ``hydra.sweeper.params``);
the full profile runs ``conf/experiment/<name>_full.yaml``.
Runs live in ``outputs/<profile>/<name>/``; a finished run is skipped when the sweep is re-run,
an unfinished one resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from initlab.collect import collect

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="conf/experiment/<name>.yaml")
    parser.add_argument("--profile", default="quick", choices=("quick", "full"))
    parser.add_argument("--results", default=str(ROOT / "results"))
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    config_name = args.name if args.profile == "quick" else f"{args.name}_full"
    if not (ROOT / "conf" / "experiment" / f"{config_name}.yaml").exists():
        known = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))
        print(f"unknown experiment {config_name!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    sweep_dir = ROOT / "outputs" / args.profile / args.name
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        f"+experiment={config_name}",
        f"profile={args.profile}",
        f"hydra.sweep.dir={sweep_dir}",
        # one directory per sweep point, named by its overrides: a re-run finds its runs again
        "hydra.sweep.subdir=${hydra.job.override_dirname}",
        *args.overrides,
    ]
    print("running:", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=ROOT)
    if done.returncode != 0:
        return done.returncode
    written = collect(sweep_dir, Path(args.results) / args.profile / args.name)
    for name, path in written.items():
        print(f"collected {name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
