"""Run one composed config end to end: check -> data -> task -> summary.json.

``execute`` works with a plain dict (notebooks, tests); ``hydra_main`` adapts it to Hydra and
turns user errors into one line on stderr instead of a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from initlab import hooks, preemption, sweep_progress
from initlab.columns import recorded
from initlab.config import ConfigError
from initlab.data import DataUnavailableError, build_data
from initlab.data.bundle import SWEEP_CACHE
from initlab.meter import StepMeter
from initlab.preemption import Preempted
from initlab.run import (
    LOCK_FILE,
    DirectoryLock,
    ResumeError,
    Run,
    config_hash,
    read_summary,
    seed_everything,
    set_runtime,
)
from initlab.setup import parse_config
from initlab.tasks import TASKS
from initlab.tracking import (
    TrackerUnavailable,
    announce,
    atomic_write_text,
    configure_progress,
    log_files_only,
    reset_progress,
)

log = logging.getLogger("initlab")
USER_ERRORS = (ConfigError, DataUnavailableError)
FINAL_STATUSES = ("completed", "diverged")
SWEEP_LABEL_ENV = "INITLAB_SWEEP_LABEL"
HYDRA_SUBDIR = ".hydra"  # Hydra's record of the command (written by initlab: save_hydra_files)
HYDRA_FILES = {HYDRA_SUBDIR, "train.log"}  # Hydra's files in a run directory


class StorageError(ConfigError):
    """The output directory cannot be written (full disk, read-only, a file in the way)."""


def storage_error(err: OSError, out_dir: Path) -> StorageError:
    where = err.filename or out_dir
    reason = err.strerror or type(err).__name__
    return StorageError(
        f"hydra.run.dir: cannot write {where} ({reason}); free space or choose a writable "
        "output directory, then run the same command again"
    )


def check_output_dir(argv: list[str]) -> None:
    """Exit with one line if the output directory named on the command line (or the working
    directory, where ``outputs/`` goes by default) cannot be created and written: a file or a
    dangling symbolic link in the way, a read-only folder, a name longer than the file system
    allows (Hydra makes the directory before initlab runs, and would answer with a traceback)."""
    sweeping = any(a in ("-m", "--multirun") for a in argv)
    key = "hydra.sweep.dir" if sweeping else "hydra.run.dir"
    given = [a.split("=", 1)[1] for a in argv if a.startswith(f"{key}=")]
    target = Path(given[-1]) if given and "${" not in given[-1] else None
    if target is None:
        key, target = "the working directory", Path.cwd() / "outputs"
    target = Path(os.path.abspath(target))
    fix = "choose a writable output directory (hydra.run.dir=...)"
    problem = _too_long(target)
    if problem:
        fix = "choose a shorter output directory (hydra.run.dir=...)"
    existing = target
    while problem is None and not existing.exists() and existing != existing.parent:
        if existing.is_symlink():  # exists() follows links: this one points nowhere
            problem = (
                f"{existing} is a symbolic link to {os.readlink(existing)}, which does not exist"
            )
            fix = "create the link's target, remove the link or choose another output directory"
        existing = existing.parent
    if problem is None and not existing.is_dir():
        problem = f"{existing} is a file, not a directory"
    elif problem is None and not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable (read-only?)"
    if problem:
        print(f"initlab: error: {key}: cannot create {target}: {problem}; {fix}", file=sys.stderr)
        sys.exit(1)


def _too_long(path: Path) -> str | None:
    """Why the file system would refuse ``path`` as a name (ENAMETOOLONG), if it would."""
    base = path
    while base != base.parent:
        with contextlib.suppress(OSError):  # exists() raises on a name that is too long
            if base.exists():
                break
        base = base.parent
    try:
        name_max = os.pathconf(base, "PC_NAME_MAX")
        path_max = os.pathconf(base, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            return (
                f"the name {part[:24]}... is {size} bytes long, more than the {name_max} "
                "its file system allows"
            )
    size = len(os.fsencode(str(path)))
    if size >= path_max:
        return f"the path is {size} bytes long, more than the {path_max - 1} allowed"
    return None


def check_model_memory(setup: Any, data: Any, fraction: float = 0.8) -> None:
    """Refuse a model whose parameters alone (with gradients and two optimizer buffers) would
    not fit the device's memory, before allocating them (built on the meta device)."""
    import torch

    from initlab.models import build_model

    try:
        with torch.device("meta"):
            model = build_model(setup.model, data.input_shape, data.num_classes)
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - the real build reports its own errors
        return
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    need = 4 * params  # weights, gradients, two optimizer buffers (Adam); activations extra
    device = setup.device
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        have = free
    else:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > fraction * have:
        raise ConfigError(
            f"model: {sum(p.numel() for p in model.parameters()):,} parameters need about "
            f"{need / 2**30:,.1f} GiB with gradients and optimizer state; {device} has "
            f"{have / 2**30:,.1f} GiB; reduce model.width or model.depth"
        )


class OutputDirInUse(ConfigError):
    """The output directory holds a run of another config: refuse rather than overwrite it."""


def guard_output_dir(
    out_dir: Path, new_hash: str, keys: Sequence[str] = ()
) -> dict[str, Any] | None:
    """Return the earlier summary if this exact config already finished there, else None.

    Raises OutputDirInUse if the directory belongs to a run of a different config, ResumeError
    if its ``config.yaml`` is unreadable or lacks any of the top-level ``keys`` (cut short).
    """
    previous = read_summary(out_dir)
    config_file = out_dir / "config.yaml"
    if config_file.exists():
        import yaml

        try:
            old = yaml.safe_load(config_file.read_text())
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            old = None
        if not isinstance(old, dict):
            raise ResumeError(
                f"hydra.run.dir: {config_file} is unreadable, so this directory cannot be "
                "resumed safely; move it aside or choose another output directory"
            )
        missing = [k for k in keys if k not in old]
        if missing:
            raise ResumeError(
                f"hydra.run.dir: {config_file} is incomplete (no {', '.join(missing)}: cut "
                "short?), so this directory cannot be resumed safely; move it aside or choose "
                "another output directory"
            )
        old_hash = config_hash(old)
        if old_hash != new_hash:
            raise OutputDirInUse(
                f"hydra.run.dir: {out_dir} holds a run of another config (hash {old_hash}, "
                f"this one is {new_hash}); choose another output directory"
            )
    same_config = previous is not None and previous.get("config_hash") == new_hash
    if same_config and previous.get("status") in FINAL_STATUSES:
        return previous
    return None


class DirectoryInUse(ConfigError):
    """Another process holds the output directory (its ``.lock``): nothing of it is touched."""


def _claim(out_dir: Path) -> tuple[DirectoryLock, list[Path]]:
    """Lock ``out_dir`` (made if need be) for this run before anything is written there;
    returns the lock and what this call made (``.lock``, the directory): a refusal removes it."""
    try:
        made = [p for p in (out_dir / LOCK_FILE, out_dir, *out_dir.parents) if not p.exists()]
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = DirectoryLock(out_dir)
        lock.acquire()
    except ConfigError as err:
        raise DirectoryInUse(str(err)) from None
    except OSError as err:
        raise storage_error(err, out_dir) from None
    return lock, made


def _record(out_dir: Path, status: str, config_hash_: str, **extra: Any) -> bool:
    """Record ``status`` for a run stopped before its :class:`Run` existed (the caller holds the
    lock); a finished run's summary is never replaced. False if it could not be written."""
    import json

    previous = read_summary(out_dir)
    if previous is not None and previous.get("status") in FINAL_STATUSES:
        return False
    summary = {"status": status, **extra, "config_hash": config_hash_}
    try:
        atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=str))
    except OSError as err:
        print(f"initlab: could not record status {status!r}: {err}", file=sys.stderr)
        return False
    return True


def _quietly(write: Callable[[], None] | None) -> None:
    """``write`` (Hydra's record of the command, beside a status recorded without a run)."""
    if write is not None:
        with contextlib.suppress(OSError):
            write()


def execute(
    resolved: dict[str, Any], out_dir: str | Path, on_start: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Check ``resolved``, run its task in ``out_dir`` and return the summary.

    A finished run of the same config in ``out_dir`` is returned as is (``skipped: true``);
    an unfinished one resumes from its checkpoint. The directory is locked before anything is
    written to it; ``on_start`` is called once the run holds it and starts (``train.py`` writes
    Hydra's record of the command, ``.hydra/``, there: a refused command writes nothing).
    """
    out_dir = Path(out_dir)
    setup = parse_config(resolved)
    keys = recorded(resolved)  # the results' leading columns; a bad key is refused here
    new_hash = config_hash(resolved)
    earlier = guard_output_dir(out_dir, new_hash, list(resolved))
    if earlier is not None:
        return {**earlier, "skipped": True}
    hooks.load_plugins()  # INITLAB_PLUGINS: listeners of the run's events (initlab.hooks)
    set_runtime(setup.runtime)
    configure_progress(setup.logger)
    reset_progress()
    preemption.install(setup.runtime.signals)
    lock, made = None, []
    run: Run | None = None
    try:
        lock, made = _claim(out_dir)
        earlier = guard_output_dir(out_dir, new_hash, list(resolved))  # finished meanwhile?
        if earlier is not None:
            return {**earlier, "skipped": True}
        with preemption.active(out_dir):
            preemption.raise_if_requested()  # a signal during start-up or between sweep runs
            seed_everything(setup.seed, setup.deterministic, setup.device)
            meter = StepMeter.start(setup.device)  # seconds per step and peak memory
            data = build_data(setup.data)  # refused data: nothing is written
            if not getattr(setup.task, "streams_layers", False):  # holds one layer at a time
                check_model_memory(setup, data)
            data = data.to(setup.device)
            meter.examples(len(data.x_train), len(data.x_val) + len(data.x_test))  # for the plan
            try:
                with preemption.deferred():  # (a signal now: seen as the task starts)
                    run = Run(out_dir, resolved, setup.seed, setup.device, setup.logger, lock=lock)
            except TrackerUnavailable as err:  # config.yaml is written: record why it stopped
                if _record(out_dir, "failed", new_hash, error=str(err), recorded=keys):
                    _quietly(on_start)
                raise
            except OSError as err:
                raise storage_error(err, out_dir) from None
            if on_start is not None:
                try:
                    with preemption.deferred():
                        on_start()
                except OSError as err:
                    _finish_quietly(run, "failed", error=f"{type(err).__name__}: {err}")
                    raise storage_error(err, out_dir) from None
            hooks.emit("run_start", out_dir=out_dir)
            announce(start_line(resolved, out_dir))
            return _run_task(setup, data, run, keys, meter)
    except Preempted as stop:
        if run is None and lock is not None:  # stopped before the run began: say so there
            stop.recorded = _record(out_dir, "preempted", new_hash, signal=stop.name, recorded=keys)
            if stop.recorded:
                _quietly(on_start)
        elif lock is None:
            stop.recorded = False
        raise
    except USER_ERRORS:
        if run is None and lock is not None:  # refused: leave nothing of this call behind
            lock.release()
            for path in made:  # (the directory only if it is empty again)
                with contextlib.suppress(OSError):
                    path.rmdir() if path.is_dir() else path.unlink()
        raise
    finally:
        if lock is not None:
            lock.release()  # (the run released it when it finished; releasing twice is a no-op)
        preemption.uninstall()  # (train.py's own signals stay handled until it exits)
        if "meter" in locals():
            meter.stop()  # a run refused before its task: the meter stops counting


def _run_task(
    setup: Any, data: Any, run: Run, keys: dict[str, Any], meter: StepMeter
) -> dict[str, Any]:
    out_dir = run.out_dir
    try:
        preemption.raise_if_requested()  # a signal while the run was being set up
        result = TASKS.build(setup.task, setup, data, run)
        with preemption.deferred():  # a signal now is seen after the summary is written
            return run.finish(
                result.status, result.metrics, **result.extra, recorded=keys, **meter.stop()
            )
    except Preempted as stop:
        step = {} if stop.step is None else {"stopped_at_step": stop.step}
        stop.recorded = _finish_quietly(
            run, "preempted", signal=stop.name, **step, recorded=keys, **meter.stop()
        )
        raise
    except USER_ERRORS as err:
        if not run.started_work():  # refused before any work: leave nothing behind
            run.discard()
        else:
            _finish_quietly(run, "failed", error=str(err), recorded=keys, **meter.stop())
        raise
    except OSError as err:
        _finish_quietly(
            run, "failed", error=f"{type(err).__name__}: {err}", recorded=keys, **meter.stop()
        )
        raise storage_error(err, out_dir) from None
    except Exception as err:
        with contextlib.suppress(OSError):
            atomic_write_text(out_dir / "error.txt", traceback.format_exc())
        _finish_quietly(
            run, "failed", error=f"{type(err).__name__}: {err}", recorded=keys, **meter.stop()
        )
        raise


def _finish_quietly(run: Run, status: str, **extra: Any) -> bool:
    """Record ``status``; if even that cannot be written (full disk), say so and go on
    (False)."""
    try:
        with preemption.deferred():
            run.finish(status, {}, **extra)
    except OSError as err:
        print(f"initlab: could not record status {status!r}: {err}", file=sys.stderr)
        run.lock.release()
        return False
    return True


def start_line(resolved: dict[str, Any], out_dir: Path) -> str:
    """What a run is about to do (its progress lines then say how much work that is)."""
    names = " ".join(f"{g}={resolved[g]['name']}" for g in ("task", "model", "init", "data"))
    return f"initlab: starting {names} seed={resolved['seed']} in {out_dir}"


def describe(summary: dict[str, Any], out_dir: Path) -> str:
    shown = ("train_loss", "test_loss", "test_accuracy", "val_score", "test_score", "score_name")
    keys = [k for k in (*shown, "diverged_at_step") if k in summary]
    if not keys:  # a measurement task: its first few numbers (bookkeeping is all but floats)
        keys = [k for k, v in summary.items() if isinstance(v, float) and k != "wall_time_s"][:3]
    numbers = ", ".join(
        f"{k}={summary[k]:.4g}" if isinstance(summary[k], float) else f"{k}={summary[k]}"
        for k in keys
    )
    done = "already " if summary.get("skipped") else ""
    return f"initlab: {done}{summary['status']} ({numbers}); results in {out_dir}"


def name_sweep_member(resolved: dict[str, Any], hydra_cfg: Any) -> None:
    """A member of a ``-m`` sweep, in W&B: grouped by its sweep (the sweep folder, unless the
    experiment names a group) and named by its own overrides (unless ``logger.wandb.name`` is
    set). ``logger`` is outside the config hash and the run's identity: nothing re-runs."""
    wandb = (resolved.get("logger") or {}).get("wandb")
    if not isinstance(wandb, dict):
        return
    if not wandb.get("group"):
        wandb["group"] = "sweep " + "/".join(Path(hydra_cfg.sweep.dir).parts[-2:])
    if not wandb.get("name"):
        own = [o for o in hydra_cfg.overrides.task if not o.startswith(("hydra.", "logger."))]
        wandb["name"] = ",".join(own) or None


def hydra_main(cfg: Any) -> dict[str, Any] | None:
    """Entry point for ``train.py``: single runs exit non-zero on errors; sweeps carry on."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from initlab.hydra_errors import one_line

    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    SWEEP_CACHE["enabled"] = sweeping  # runs of a sweep share their loaded data (copies)
    label = os.environ.get(SWEEP_LABEL_ENV)  # set by scripts/reproduce.py: "exp 3/7 runs"
    if sweeping and label:  # "[label] run k/N: dir (elapsed, about ... left)"
        print(sweep_progress.announce(label, hydra_cfg.job.num, out_dir.name), flush=True)
    existed = _listing(out_dir)
    try:
        try:
            resolved = OmegaConf.to_container(cfg, resolve=True)
        except OmegaConfBaseException as err:  # an interpolation that does not resolve
            raise ConfigError(one_line(err)) from None
        if sweeping:
            name_sweep_member(resolved, hydra_cfg)
        summary = execute(resolved, out_dir, on_start=lambda: save_hydra_files(cfg, out_dir))
    except Preempted as stop:
        print(stopped_line(stop, out_dir), file=sys.stderr, flush=True)
        if stop.recorded:  # the run held its folder: its train.log ends with the same line
            log_files_only(stopped_line(stop, out_dir))
        preemption.chain(stop.signum)  # submitit requeues here (and exits)
        preemption.exiting()
        sys.exit(stop.exit_code)
    except USER_ERRORS as err:
        print(f"initlab: error: {err}", file=sys.stderr)
        if sweeping:
            if not isinstance(err, DirectoryInUse | OutputDirInUse):  # not this command's
                with contextlib.suppress(OSError):
                    if _record_failure(out_dir, str(err)) and not isinstance(err, ResumeError):
                        save_hydra_files(cfg, out_dir)  # (a directory it could not read: no)
            return None
        if not isinstance(err, StorageError):
            _remove_if_hydra_only(out_dir, existed)
        config_error = not isinstance(err, StorageError | TrackerUnavailable)
        sys.exit(2 if isinstance(err, ConfigError) and config_error else 1)
    except OSError as err:
        print(f"initlab: error: {storage_error(err, out_dir)}", file=sys.stderr)
        if sweeping:
            return None
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - a sweep records the failure and moves on
        if not sweeping:
            raise
        print(f"initlab: failed in {out_dir}: {type(err).__name__}: {err}", file=sys.stderr)
        return None
    print(describe(summary, out_dir), flush=True)
    if not summary.get("skipped"):  # a finished run's folder is left as it was
        log_files_only(describe(summary, out_dir))  # train.log ends with the same status line
    hooks.emit("run_end", out_dir=out_dir)
    return summary


def stopped_line(stop: Preempted, out_dir: Path) -> str:
    """The one line a run stopped by a signal ends with."""
    what = "interrupted (SIGINT)" if stop.interrupted else f"preempted by {stop.name}"
    where = f" at step {stop.step}" if stop.step is not None else ""
    if not stop.recorded:
        return f"initlab: {what}{where}; nothing recorded in {out_dir}; run the same command again"
    return (
        f"initlab: {what}{where}; status recorded in {out_dir}; run the same command (same "
        "hydra.run.dir) to resume"
    )


def save_hydra_files(cfg: Any, out_dir: Path) -> None:
    """Hydra's record of the command (``.hydra/config.yaml``, ``hydra.yaml``,
    ``overrides.yaml``, as Hydra writes them), written once this command's run holds the
    directory: conf/config.yaml turns Hydra's own writing off (``hydra.output_subdir: null``),
    which happens before initlab can refuse a command (a running or finished run elsewhere)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    hydra_cfg = HydraConfig.instance().cfg
    folder = out_dir / HYDRA_SUBDIR
    folder.mkdir(exist_ok=True)
    atomic_write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(folder / "hydra.yaml", OmegaConf.to_yaml(hydra_cfg))
    atomic_write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.hydra.overrides.task))


def _listing(out_dir: Path) -> set[str] | None:
    with contextlib.suppress(OSError):
        return {p.name for p in out_dir.iterdir()} if out_dir.is_dir() else None
    return None


def _remove_if_hydra_only(out_dir: Path, before: set[str] | None) -> None:
    """A refused config leaves nothing: remove the directory Hydra made for it, if it held
    nothing but Hydra's log when this command started and holds only Hydra's files now (a
    directory another command is running in holds its ``.lock``: it is never touched)."""
    now = _listing(out_dir)
    if now is None or not now <= HYDRA_FILES or (before and not before <= {"train.log"}):
        return
    # Hydra's file handler holds train.log: closed and detached, or a later run of this process
    # (a test, a notebook) would log into the removed folder and fail
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).is_relative_to(
            out_dir.resolve()
        ):
            handler.close()
            root.removeHandler(handler)
    shutil.rmtree(out_dir, ignore_errors=True)


def _record_failure(out_dir: Path, message: str) -> bool:
    """A sweep member refused before its run started still leaves a failed summary (True: it
    was written now)."""
    import json

    if read_summary(out_dir) is not None:
        return False
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out_dir / "summary.json", json.dumps({"status": "failed", "error": message}, indent=2)
    )
    return True
