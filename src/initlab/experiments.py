"""Experiments: discover them, count their runs, run their sweeps and collect their tables.

An experiment is ``conf/experiment/<name>.yaml`` (quick profile) with ``<name>_full.yaml`` for
the paper-scale profile, which extends the quick file (its defaults list) and states only what
the scale changes; the rehearsal profile runs the ``_full`` configs with the work per run
cut (:mod:`initlab.rehearsal.profile`) on synthetic files in the real formats.
Its sweep runs through Hydra's multirun (locally one run at a time, or
through any Hydra launcher such as ``hydra/launcher=slurm``) into ``outputs/<profile>/<name>/``,
one directory per sweep point named by its overrides, so a re-run finds finished runs (skipped)
and unfinished ones (resumed from their checkpoints).
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import yaml

from initlab import sweep_progress
from initlab.collect import ContractError, check_claims, collect
from initlab.compose import CONF_DIR
from initlab.rehearsal import profile as rehearsal

ROOT = CONF_DIR.parent
EXPERIMENT_DIR = CONF_DIR / "experiment"
PROFILES = ("quick", "full", "rehearsal")


def config_name(name: str, profile: str) -> str:
    """quick: ``<name>``; full and rehearsal: ``<name>_full``."""
    return name if profile == "quick" else f"{name}_full"


def discover(profile: str) -> list[str]:
    """Experiment names (without ``_full``) that have a config for ``profile``.

    Most experiments have both profiles; a paper-scale-only one (its data cannot be had on a
    CPU machine) has just ``<name>_full.yaml``. ``smoke_*`` experiments exercise the pipeline
    and are not part of a reproduction.
    """
    names = {p.stem for p in EXPERIMENT_DIR.glob("*.yaml")}
    base = sorted({n.removesuffix("_full") for n in names if not n.startswith("smoke")})
    return [n for n in base if config_name(n, profile) in names]


def sweep_params(name: str, profile: str) -> dict[str, list[str]]:
    """The experiment's ``hydra.sweeper.params``: override key -> its choices."""
    return {k: _split_choices(v) for k, v in _params(config_name(name, profile)).items()}


def _params(config: str) -> dict[str, str]:
    """``hydra.sweeper.params`` of ``conf/experiment/<config>.yaml`` merged over those of the
    experiments its defaults list extends (a ``_full`` file extends its quick one), as Hydra
    merges them."""
    spec = yaml.safe_load((EXPERIMENT_DIR / f"{config}.yaml").read_text()) or {}
    merged: dict[str, str] = {}
    for entry in spec.get("defaults", []) or []:
        if isinstance(entry, str) and entry != "_self_":  # another experiment of this group
            merged.update(_params(entry))
    own = ((spec.get("hydra", {}) or {}).get("sweeper", {}) or {}).get("params", {}) or {}
    merged.update({str(k): str(v) for k, v in own.items()})
    return merged


def sweep_size(name: str, profile: str) -> int:
    """Number of runs in the experiment's sweep (product of the comma lists of its params)."""
    params = sweep_params(name, profile)
    if profile == rehearsal.PROFILE:
        return rehearsal.sweep_runs(params)
    return math.prod(len(v) for v in params.values())


def profile_overrides(name: str, profile: str) -> tuple[list[list[str]], dict[str, str]]:
    """Overrides of each multirun of a profile's sweep, and its environment.

    One multirun with no extra overrides, except for the rehearsal: its cuts and its segments
    (:func:`initlab.rehearsal.profile.sweep_segments`) and its data folder.
    """
    if profile != rehearsal.PROFILE:
        return [[]], {}
    from initlab.compose import compose

    base = [f"+experiment={config_name(name, profile)}", f"profile={profile}"]
    params = sweep_params(name, profile)
    segments = rehearsal.sweep_segments(params)
    cuts = rehearsal.overrides(compose(base))
    # an arm may change what is cut (D2's PDI arm: its stages' steps): one multirun per arm then
    per_arm: dict[str, list[str]] = {}
    arm_key = next((k for k in params if k.lstrip("+") == "arm"), None)
    if arm_key and not any(o.startswith(f"{arm_key}=") for seg in segments for o in seg):
        arms = {
            arm: rehearsal.overrides(compose([*base, f"{arm_key}={arm}"]))
            for arm in params[arm_key]
        }
        if any(arm_cuts != cuts for arm_cuts in arms.values()):
            per_arm = arms
    keys = {c.partition("=")[0] for c in cuts}.union(
        *({c.partition("=")[0] for c in arm_cuts} for arm_cuts in per_arm.values())
    )
    # the cuts stay out of the run directories' names (the sweep's own keys name them)
    hidden = ",".join(["experiment", "profile", *sorted(keys)])
    names = f"hydra.job.config.override_dirname.exclude_keys=[{hidden}]"
    env = {"INITLAB_DATA_ROOT": str(rehearsal.data_root())}
    if not per_arm:
        return [[*cuts, names, *segment] for segment in segments], env
    return [
        [*arm_cuts, names, f"{arm_key}={arm}", *segment]
        for arm, arm_cuts in per_arm.items()
        for segment in segments
    ], env


def data_points(name: str, profile: str) -> list[list[str]]:
    """The distinct data overrides of the sweep (``data=...``, ``data.dataset=...``, ...).

    Each entry is a list of overrides; composing the experiment with it gives one data config
    the sweep will load, so missing files can be named before anything starts.
    """
    params = sweep_params(name, profile)
    keys = [k for k in params if k.lstrip("+") == "data" or k.startswith("data.")]
    choices = [params[k] for k in keys]
    return [
        [f"{k}={v}" for k, v in zip(keys, combo, strict=True)]
        for combo in itertools.product(*choices)
    ]


def _split_choices(value: str) -> list[str]:
    """Top-level comma split that keeps brackets together: ``[1,2],[3]`` -> two choices."""
    parts, depth, current = [], 0, ""
    for ch in value:
        depth += ch in "[({"
        depth -= ch in "])}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def sweep_dir(name: str, profile: str) -> Path:
    """``outputs/<profile>/<name>``; set INITLAB_OUTPUTS to keep runs elsewhere (scratch)."""
    return Path(os.environ.get("INITLAB_OUTPUTS", ROOT / "outputs")) / profile / name


def results_dir(name: str, profile: str, results_root: Path | None = None) -> Path:
    return Path(results_root or ROOT / "results") / profile / name


def run_experiment(
    name: str,
    profile: str = "quick",
    overrides: list[str] | tuple[str, ...] = (),
    results_root: Path | None = None,
    label: str | None = None,
) -> int:
    """Run the sweep (``python train.py -m``) and collect its tables; returns the exit code."""
    segments, profile_env = profile_overrides(name, profile)
    env = {**os.environ, **profile_env, "INITLAB_SWEEP_LABEL": label or name}
    if profile == "quick":
        # The quick profile's networks are small: one torch thread per run avoids oversubscribing
        # a shared CPU, which made runs several times slower. Set OMP_NUM_THREADS to override.
        env.setdefault("OMP_NUM_THREADS", "1")
    given = {o.partition("=")[0] for o in overrides}  # keys the caller sets win over segments'
    unique: list[list[str]] = []
    for segment in segments:
        kept = [o for o in segment if o.partition("=")[0] not in given]
        if kept not in unique:
            unique.append(kept)
    # "run k/N" with an ETA (initlab.sweep_progress); N is unknown when the caller narrows it
    runs = None if overrides else sweep_size(name, profile)
    env.update(sweep_progress.start(sweep_dir(name, profile) / ".progress.json", runs))
    for cuts in unique:
        code = _multirun(name, profile, [*cuts, *overrides], env)
        if code != 0:
            return code
    out_dir = results_dir(name, profile, results_root)
    collect(sweep_dir(name, profile), out_dir)
    try:
        check_claims(out_dir, declared_claims(name, profile))
    except ContractError as err:
        print(f"initlab: {name}: {err}", file=sys.stderr)
        return 1
    return 0


def _multirun(name: str, profile: str, overrides: list[str], env: dict[str, str]) -> int:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        f"+experiment={config_name(name, profile)}",
        f"profile={profile}",
        f"hydra.sweep.dir={sweep_dir(name, profile)}",
        # one directory per sweep point, named by its overrides: a re-run finds its runs again
        "hydra.sweep.subdir=${hydra.job.override_dirname}",
        *overrides,
    ]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def declared_claims(name: str, profile: str) -> dict[str, dict[str, list[str]]]:
    """The experiment's ``claims``: claim id -> table -> the columns its rule reads."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("config", [f"+experiment={config_name(name, profile)}"])
    return OmegaConf.to_container(cfg.claims, resolve=True)  # type: ignore[return-value]


def runs_finished(name: str, profile: str) -> int:
    """Runs of the experiment whose summary says completed or diverged."""
    import json

    count = 0
    for path in sweep_dir(name, profile).rglob("summary.json"):
        count += json.loads(path.read_text()).get("status") in ("completed", "diverged")
    return count
