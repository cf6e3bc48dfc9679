"""Experiments: discover them, count their runs, run their sweeps and collect their tables.

An experiment is ``conf/experiment/<name>.yaml`` (quick profile) with ``<name>_full.yaml`` for
the paper-scale profile, which extends the quick file (its defaults list) and states only what
the scale changes; the rehearsal profile runs the ``_full`` configs with the work per run
cut on synthetic files in the real formats: its sweeps are planned by code outside the engine
(``initlab_harness.rehearsal``), registered in :data:`SWEEP_PLANS`.
Its sweep runs through Hydra's multirun (locally one run at a time, or
through any Hydra launcher such as ``hydra/launcher=slurm``) into ``outputs/<profile>/<name>/``,
one directory per run named by its identity, the keys its experiment records with their values
and its seed (:func:`initlab.columns.run_name`: ``arm=resnet_he,model.depth=4,seed=0``), not by
the command's overrides: a re-run finds finished runs (skipped) and unfinished ones (resumed from
their checkpoints) whatever else it sets (``logger.wandb.mode=offline``, ``device=...``).
"""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from initlab import sweep_progress
from initlab.collect import ContractError, DuplicateRunError, check_claims, collect, run_dirs
from initlab.columns import RUN_NAME_RESOLVER, SEED, run_name, summary_identity
from initlab.compose import CONF_DIR
from initlab.config import ConfigError

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
    return {k: sweep_choices(k, v) for k, v in _params(config_name(name, profile)).items()}


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


@dataclass(frozen=True)
class SweepPlan:
    """How a profile runs an experiment's sweep when it is not one Hydra multirun of the
    experiment's params (quick, full): the rehearsal cuts the work per run and splits big
    sweeps into segments. ``multiruns(name, profile, params)`` gives the overrides of each
    multirun and their environment; ``size(params)`` the number of runs. Registered by code
    outside the engine (``initlab_harness.rehearsal`` registers ``rehearsal``)."""

    multiruns: Callable[[str, str, dict[str, list[str]]], tuple[list[list[str]], dict[str, str]]]
    size: Callable[[dict[str, list[str]]], int]


SWEEP_PLANS: dict[str, SweepPlan] = {}


def _plan(profile: str) -> SweepPlan | None:
    if profile in ("quick", "full"):
        return None
    if profile not in SWEEP_PLANS:
        raise ConfigError(
            f"profile {profile}: no sweep plan is registered for it (scripts/reproduce.py "
            "registers the rehearsal's by importing initlab_harness.rehearsal)"
        )
    return SWEEP_PLANS[profile]


def sweep_size(name: str, profile: str, overrides: list[str] | tuple[str, ...] = ()) -> int | None:
    """Number of runs in the experiment's sweep: the product of its params' choices, with the
    command line's ``overrides`` replacing or adding axes (a planned profile: its plan's
    count, None when the command line narrows it)."""
    params = sweep_params(name, profile)
    plan = _plan(profile)
    if plan is not None:
        return None if overrides else plan.size(params)
    for override in overrides:
        key, _, value = override.partition("=")
        if key.startswith("hydra."):
            continue
        axis = next((k for k in params if k.lstrip("+~") == key.lstrip("+~")), key)
        params[axis] = sweep_choices(key, value)
    return math.prod(len(v) for v in params.values())


def profile_overrides(name: str, profile: str) -> tuple[list[list[str]], dict[str, str]]:
    """Overrides of each multirun of a profile's sweep, and its environment: one multirun with
    no extra overrides, except where the profile has a plan (:data:`SWEEP_PLANS`)."""
    plan = _plan(profile)
    if plan is None:
        return [[]], {}
    return plan.multiruns(name, profile, sweep_params(name, profile))


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


#: groups that command lines appended (``+arm=``, ``+experiment=``) before conf/config.yaml listed
#: them in its defaults; an override recorded in that form is read in its current one
DEFAULTS_GROUPS = ("arm", "experiment")


def current_override(override: str) -> str:
    """``+arm=x`` -> ``arm=x`` (a recorded override of an older run); any other unchanged."""
    key = override.partition("=")[0]
    return override[1:] if key[1:] in DEFAULTS_GROUPS and key[:1] == "+" else override


def sweep_choices(key: str, value: str) -> list[str]:
    """The values Hydra's basic sweeper runs for ``key=value``, parsed by Hydra's own override
    grammar: comma lists (brackets and quoted commas kept together), ``range()``, ``choice()``,
    ``glob()``, ``shuffle()``/``sort()``; one value when ``value`` sweeps nothing. ``interval()``
    is a continuous range only an optimizing sweeper samples: refused, in one line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        override = OverridesParser.create().parse_overrides([f"{key}={value}"])[0]
    except HydraException as err:
        raise ConfigError(f"{key}={value}: Hydra cannot parse this sweep: {err}") from None
    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    if override.is_interval_sweep():
        raise ConfigError(
            f"{key}={value}: interval() is a continuous range that only an optimizing sweeper "
            "samples; give the values (a,b,c), range(start,stop,step) or choice(...)"
        )
    return list(override.sweep_string_iterator())


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
    """Run the sweep (``python train.py -m``) and collect its tables; returns the exit code. A
    sweep Hydra cannot run (``interval()``, an override it cannot parse) is one line, code 2."""
    try:
        return _run_experiment(name, profile, overrides, results_root, label)
    except ConfigError as err:
        print(f"initlab: error: {name}: {err}", file=sys.stderr)
        return 2


def _run_experiment(
    name: str,
    profile: str,
    overrides: list[str] | tuple[str, ...],
    results_root: Path | None,
    label: str | None,
) -> int:
    segments, profile_env = profile_overrides(name, profile)
    env = {**os.environ, **profile_env, "INITLAB_SWEEP_LABEL": label or name}
    if profile == "quick":
        # The quick profile's networks are small: one torch thread per run avoids oversubscribing
        # a shared CPU, which made runs several times slower. Set OMP_NUM_THREADS to override.
        env.setdefault("OMP_NUM_THREADS", "1")
    problem = identity_problem(name, profile, overrides)
    if problem:
        print(f"initlab: error: {name}: {problem}", file=sys.stderr)
        return 2
    adopt_run_dirs(sweep_dir(name, profile))
    given = {o.partition("=")[0] for o in overrides}  # keys the caller sets win over segments'
    unique: list[list[str]] = []
    for segment in segments:
        kept = [o for o in segment if o.partition("=")[0] not in given]
        if kept not in unique:
            unique.append(kept)
    # "run k/N" with an ETA (initlab.sweep_progress)
    runs = sweep_size(name, profile, overrides)
    env.update(sweep_progress.start(sweep_dir(name, profile) / ".progress.json", runs))
    for cuts in unique:
        code = _multirun(name, profile, [*cuts, *overrides], env)
        if code != 0:
            return code
    out_dir = results_dir(name, profile, results_root)
    try:
        collect(sweep_dir(name, profile), out_dir)
    except DuplicateRunError as err:
        print(f"initlab: error: {err}", file=sys.stderr)
        return 1
    try:
        check_claims(out_dir, declared_claims(name, profile))
    except ContractError as err:
        print(f"initlab: {name}: {err}", file=sys.stderr)
        return 1
    return 0


#: top-level keys that change how a run is watched, not what it computes (outside the config
#: hash, initlab.run.NON_SEMANTIC_KEYS, and outside a run's identity)
WATCH_ONLY_KEYS = ("logger", "device", "claims", "runtime")


def identity_problem(name: str, profile: str, overrides: list[str] | tuple[str, ...]) -> str | None:
    """Why the sweep's runs could not each have a directory of their own, or None.

    The sweep varies a key its ``record`` list does not name (:func:`unrecorded_sweep_keys`), or
    the command changes a key that is neither recorded nor watch-only (``model.width=32``) from
    the value the experiment's finished runs have (:func:`changed_unrecorded_keys`): their
    directories would be refused as holding runs of another config.
    """
    unrecorded = unrecorded_sweep_keys(name, profile, overrides)
    if unrecorded:
        return (
            f"the sweep varies {', '.join(unrecorded)}, which its `record` list does not name, so "
            f"its runs would share one directory; add {unrecorded[0]} to the experiment's record "
            "list (or record=[...] on the line)"
        )
    moved = changed_experiment(name, profile, overrides)
    if moved:
        run, key, old, new = moved
        return (
            f"the experiment's config changed since the runs in {sweep_dir(name, profile)} were "
            f"made ({key}={old!r} in {run}, now {new!r}), so each of them would be refused as a "
            "run of another config; move them aside (scripts/reproduce.py --force "
            f"--only {name}) or keep them apart (INITLAB_OUTPUTS=<another folder>)"
        )
    changed = changed_unrecorded_keys(name, profile, overrides)
    if changed:
        override, key, run, value = changed[0]
        return (
            f"{override} is not a recorded key and differs from the runs in "
            f"{sweep_dir(name, profile)} ({key}={value} in {run}), so each run's directory would "
            f"hold a run of another config; record it (record=[...,{key}] on the line), or keep "
            "those runs apart (INITLAB_OUTPUTS=<another folder>, or scripts/reproduce.py --force "
            "moves them aside)"
        )
    return None


def unrecorded_sweep_keys(
    name: str, profile: str, overrides: list[str] | tuple[str, ...]
) -> list[str]:
    """Keys the sweep varies (more than one choice in the experiment's params or on the command
    line) that the experiment's ``record`` list does not name (``seed`` needs no naming): their
    runs would share one identity, hence one directory."""
    params = _params(config_name(name, profile))
    varied = {k.lstrip("+~"): _is_sweep(k, v) for k, v in params.items()}
    for override in overrides:
        key, _, value = override.partition("=")
        if not key.startswith("hydra."):
            varied[key.lstrip("+~")] = _is_sweep(key, value)
    swept = [k for k, many in varied.items() if many and k != SEED]
    cfg = _point(name, profile, overrides) if swept else None
    if cfg is None:
        return []
    record = {str(k) for k in cfg.get("record") or []}
    return [k for k in swept if k not in record]


def changed_experiment(
    name: str, profile: str, overrides: list[str] | tuple[str, ...]
) -> tuple[str, str, Any, Any] | None:
    """The experiment's files changed since its runs were made: composed at the first run's
    own sweep point (its ``.hydra/overrides.yaml``, with the command's single-valued overrides
    of other keys), the experiment no longer gives that run's config. (run directory, first
    differing key, its old value, its new one), or None (also when nothing can be compared)."""
    from initlab.analysis.grid import flatten
    from initlab.run import NON_SEMANTIC_KEYS, config_hash

    for path in sorted(sweep_dir(name, profile).glob("*/.hydra/overrides.yaml")):
        run = path.parent.parent
        try:
            recorded = yaml.safe_load(path.read_text()) or []
            old = yaml.safe_load((run / "config.yaml").read_text())
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if not isinstance(old, dict) or not isinstance(recorded, list):
            continue
        point = [
            current_override(str(o))
            for o in recorded
            if str(o).partition("=")[0].lstrip("+~") not in ("experiment", "profile")
            and not str(o).startswith("hydra.")
        ]
        keys = {o.partition("=")[0].lstrip("+~") for o in point}
        extra = [o for o in overrides if o.partition("=")[0].lstrip("+~") not in keys]
        new = _point(name, profile, [*point, *extra])
        if new is None or config_hash(new) == config_hash(old):
            return None
        before, after = (
            flatten({k: v for k, v in c.items() if k not in NON_SEMANTIC_KEYS}) for c in (old, new)
        )
        key = next((k for k in sorted({*before, *after}) if before.get(k) != after.get(k)), "?")
        return run.name, key, before.get(key), after.get(key)
    return None


def changed_unrecorded_keys(
    name: str, profile: str, overrides: list[str] | tuple[str, ...]
) -> list[tuple[str, str, str, Any]]:
    """Single-valued overrides of keys that are neither recorded, swept nor watch-only whose
    value differs from that of a run already in the sweep's directory: (override, key, run
    directory, its value) for each, the first such run only."""
    swept = {k.lstrip("+~") for k in sweep_params(name, profile)}
    candidates = []
    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+")
        if key.startswith(("hydra.", "~")) or _is_sweep(key, value) or key in swept:
            continue
        if key.split(".")[0] in (*WATCH_ONLY_KEYS, "record", "profile"):
            continue
        candidates.append((override, key))
    # each run folder's own resolved config (not Hydra's .hydra/config.yaml, nor W&B's files)
    runs = sorted(sweep_dir(name, profile).glob("*/config.yaml")) if candidates else []
    cfg = _point(name, profile, overrides) if runs else None
    if cfg is None:
        return []
    record = {str(k) for k in cfg.get("record") or []}
    changed = []
    for override, key in candidates:
        if key in record:
            continue
        wanted = _value(cfg, key)
        for path in runs:
            try:
                old = _value(yaml.safe_load(path.read_text()), key)
            except (OSError, yaml.YAMLError, UnicodeDecodeError):
                continue
            if old != wanted:
                run = str(path.parent.relative_to(sweep_dir(name, profile)))
                changed.append((override, key, run, old))
                break
    return changed


def _is_sweep(key: str, value: str) -> bool:
    """An override ``key=value`` that Hydra expands into several runs."""
    return len(sweep_choices(key, value)) > 1


def _point(name: str, profile: str, overrides: list[str] | tuple[str, ...]) -> dict | None:
    """The experiment composed with the command's single-valued overrides; None if they do not
    compose (the sweep then reports the bad override in its own words)."""
    from initlab.compose import compose

    single = [o for o in overrides if not _is_sweep(*o.partition("=")[::2])]
    try:
        return compose([f"experiment={config_name(name, profile)}", f"profile={profile}", *single])
    except Exception:  # noqa: BLE001
        return None


def _value(config: Any, key: str) -> Any:
    """The value at a dotted key; a group (a mapping with a ``name``) compares by its name."""
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node.get("name", node) if isinstance(node, dict) else node


def adopt_run_dirs(sweep: Path) -> list[tuple[Path, Path]]:
    """Rename run directories named otherwise (by every override, before runs were named by
    their identity) to :func:`initlab.columns.run_name` of the keys their summary.json records,
    so that a re-run finds them (skips or resumes) instead of running them again.

    A directory whose name is taken already, a run without recorded keys and one that a process
    holds (its ``.lock``) stay where they are; :func:`initlab.collect.collect` refuses two runs of
    one identity. Returns the (old, new) pairs, each also printed on one line.
    """
    import json

    moved = []
    for run_dir in run_dirs(sweep):
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
        except (OSError, ValueError):
            continue
        identity = summary_identity(summary) if isinstance(summary, dict) else None
        if identity is None:
            continue
        target = Path(sweep) / run_name(identity)
        if run_dir == target or target.exists() or _held(run_dir):
            continue
        run_dir.rename(target)
        moved.append((run_dir, target))
        print(f"initlab: renamed {run_dir} to {target.name} (runs are named by their identity)")
    return moved


def _held(run_dir: Path) -> bool:
    """Is a process running in ``run_dir`` (an ``fcntl`` lock on its ``.lock``)?"""
    import fcntl

    lock = run_dir / ".lock"
    if not lock.exists():
        return False
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _multirun(name: str, profile: str, overrides: list[str], env: dict[str, str]) -> int:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        f"experiment={config_name(name, profile)}",
        f"profile={profile}",
        f"hydra.sweep.dir={sweep_dir(name, profile)}",
        # one directory per run, named by its recorded keys and seed (not by every override):
        # a re-run finds its runs again, whatever logger/device/runtime keys it adds
        f"hydra.sweep.subdir=${{{RUN_NAME_RESOLVER}:}}",
        *overrides,
    ]
    return run_child(command, env)


def run_child(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` and return its exit code, letting a Ctrl-C end it the way it chooses.

    A Ctrl-C in the terminal reaches the child too (same process group): ``train.py``
    checkpoints at its current step, records ``preempted`` and exits 130. ``subprocess.run``
    would instead kill the child 0.25 s after the parent's KeyboardInterrupt, possibly before
    that checkpoint, and print the parent's traceback; so the parent ignores SIGINT while it
    waits (a second Ctrl-C stops the child at once by the child's own handler).
    """
    import signal

    with subprocess.Popen(command, cwd=ROOT, env=env) as child:
        try:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread: nothing to route
            return child.wait()
        try:
            return child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)


def declared_claims(name: str, profile: str) -> dict[str, dict[str, list[str]]]:
    """The experiment's ``claims``: claim id -> table -> the columns its rule reads."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose("config", [f"experiment={config_name(name, profile)}"])
    return OmegaConf.to_container(cfg.claims, resolve=True)  # type: ignore[return-value]


def runs_finished(name: str, profile: str) -> int:
    """Runs of the experiment whose summary says completed or diverged."""
    import json

    count = 0
    for path in sweep_dir(name, profile).rglob("summary.json"):
        count += json.loads(path.read_text()).get("status") in ("completed", "diverged")
    return count
