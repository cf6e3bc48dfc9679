"""One run's state: its directory, seed, device, tracker, checkpoints and final summary.

Everything a run leaves behind lives in its directory:
``config.yaml`` (resolved), ``metrics.csv``, ``checkpoint.pt``, ``summary.json``, ``wandb/``.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import platform
import random
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import yaml

from initlab.checkpoints import load_file, misfit
from initlab.config import ConfigError, spec
from initlab.tracking import LoggerConfig, Tracker, atomic_write_bytes, atomic_write_text, row_step

# Keys that change how a run is watched, not what it computes: left out of the config hash.
NON_SEMANTIC_KEYS = ("logger", "device", "claims", "runtime")
STATUSES = ("completed", "diverged", "failed", "preempted")
LOCK_FILE = ".lock"


@dataclass(kw_only=True)
class RuntimeConfig:
    """How a run survives its machine (``runtime`` in conf/config.yaml; not in the config hash:
    none of these changes a number)."""

    signals: list[str] = spec(
        choices=("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGHUP", "SIGCONT"),
        help="on these: checkpoint at the current step and exit (a requeue resumes)",
    )
    checkpoint_every_steps: int = spec(min=0, help="also checkpoint every k steps; 0: never")
    checkpoint_every_s: float = spec(min=0.0, help="also checkpoint every s seconds; 0: never")


_RUNTIME = RuntimeConfig(signals=[], checkpoint_every_steps=0, checkpoint_every_s=0.0)


def set_runtime(cfg: RuntimeConfig) -> None:
    global _RUNTIME
    _RUNTIME = cfg


def runtime() -> RuntimeConfig:
    """The running config's ``runtime`` keys (defaults outside ``execute``: no signals)."""
    return _RUNTIME


class ResumeError(ConfigError):
    """A file of an earlier attempt in the run directory cannot be used; the message says which
    and what to do (the file itself is left as it is)."""


class RunLike(Protocol):
    """What the training loop and tasks need of a run (:class:`Run`, :data:`NULL_RUN`)."""

    out_dir: Path | None

    def log(self, row: dict[str, Any]) -> None: ...

    def truncate(self, step: int, phase: str | None = None) -> None: ...

    def load_checkpoint(self) -> dict[str, Any] | None: ...

    def save_checkpoint(self, state: dict[str, Any]) -> None: ...


class NullRun:
    """A run that keeps nothing: no rows, no checkpoints (probes, members, models built without
    a run)."""

    out_dir: Path | None = None

    def log(self, row: dict[str, Any]) -> None:
        pass

    def truncate(self, step: int, phase: str | None = None) -> None:
        pass

    def load_checkpoint(self) -> dict[str, Any] | None:
        return None

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        pass


NULL_RUN = NullRun()


def read_checkpoint(path: Path, config_hash: str, key: str = "hydra.run.dir") -> dict | None:
    """The checkpoint at ``path`` if it belongs to ``config_hash``; None if there is none.

    A file that cannot be read, would need code to load (refused before anything in it runs:
    :func:`initlab.checkpoints.load_file`), holds no checkpoint or belongs to another config
    raises :class:`ResumeError` (one line: what is wrong and what to do)."""
    if not path.exists():
        return None
    path = Path(os.path.abspath(path))
    try:
        state = load_file(
            path, key, "move it aside to start this run over, or point hydra.run.dir elsewhere"
        )
    except ConfigError as err:
        raise ResumeError(str(err)) from None
    if not isinstance(state, dict) or "config_hash" not in state:
        raise ResumeError(
            f"{key}: {path} is not a checkpoint of an initlab run; move it aside to start over"
        )
    step = state.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
        raise ResumeError(
            f"{key}: {path}: its step is {step!r}, not a step number; move it aside to start "
            "this run over, or point hydra.run.dir elsewhere"
        )
    if state.get("config_hash") != config_hash:
        raise ResumeError(
            f"{key}: {path} belongs to a different config (hash {state.get('config_hash')} != "
            f"{config_hash}); use another hydra.run.dir"
        )
    return state


#: what the training loop resumes from (``scheduler`` too when the loop has one)
TRAIN_STATE_KEYS = ("model", "optimizer", "step", "epoch", "batch_index", "rng")


def check_train_state(
    saved: dict[str, Any], model: Any, optimizer: Any, scheduler: Any, path: Path | None
) -> None:
    """Refuse, in one line naming the file, a training checkpoint the loop cannot resume from:
    a key it needs is missing or of the wrong kind, or its weights or optimizer groups do not
    fit the model built from this config (e.g. another width under the same config hash)."""
    where = Path(os.path.abspath(path)) if path is not None else "checkpoint.pt"
    todo = "move it aside to start this run over, or point hydra.run.dir elsewhere"
    needed = [*TRAIN_STATE_KEYS, *(["scheduler"] if scheduler is not None else [])]
    missing = [k for k in needed if k not in saved]
    if missing:
        raise ResumeError(
            f"hydra.run.dir: {where} lacks {', '.join(missing)} (not written by this version "
            f"of initlab's training loop?); {todo}"
        )
    wrong = [
        k
        for k, kind in (("step", int), ("epoch", int), ("batch_index", int), ("rng", dict))
        if not isinstance(saved[k], kind) or isinstance(saved[k], bool)
    ]
    if not wrong and not torch.is_tensor(saved["rng"].get("torch")):
        wrong = ["rng.torch"]
    if wrong:
        raise ResumeError(f"hydra.run.dir: {where}: {wrong[0]} is not what the loop saves; {todo}")
    problem = misfit(model.state_dict(), saved["model"])
    if problem is None and isinstance(optimizer, torch.optim.Optimizer):
        groups = (
            saved["optimizer"].get("param_groups") if isinstance(saved["optimizer"], dict) else None
        )
        ours = [len(g["params"]) for g in optimizer.param_groups]
        theirs = [len(g.get("params", ())) for g in groups or []]
        if theirs != ours:
            problem = f"its optimizer has parameter groups of {theirs} tensors, this one {ours}"
    if problem is not None:
        raise ResumeError(
            f"hydra.run.dir: {where} does not fit this run's model: {problem}; {todo}"
        )


class DirectoryLock:
    """An exclusive ``fcntl`` lock on ``<dir>/.lock`` while a run holds the directory."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / LOCK_FILE
        self.fh: Any = None

    def acquire(self) -> None:
        self.fh = open(self.path, "a+")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            self.fh.close()
            self.fh = None
            if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise ConfigError(
                    f"hydra.run.dir: {self.path.parent} is in use by {holder}; wait for it to "
                    "end or choose another output directory"
                ) from None
            raise
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()}")
        self.fh.flush()

    def release(self) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None


PACKAGES = (
    "initlab",
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "scikit-learn",
    "hydra-core",
    "omegaconf",
    "wandb",
)


def config_hash(config: dict[str, Any]) -> str:
    """A short stable hash of the resolved config minus the non-semantic keys."""
    semantic = {k: v for k, v in config.items() if k not in NON_SEMANTIC_KEYS}
    blob = json.dumps(semantic, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def seed_everything(seed: int, deterministic: bool, device: torch.device | None = None) -> None:
    """Seed every generator; on CUDA also ask for deterministic kernels.

    CPU kernels used here are deterministic already, and ``use_deterministic_algorithms`` costs
    seconds of imports, so it is only switched on for accelerators.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic and device is not None and device.type != "cpu":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def read_summary(out_dir: Path) -> dict[str, Any] | None:
    """The directory's ``summary.json``; None if there is none or it is unreadable (a run that
    died while writing it has not finished: it resumes)."""
    path = Path(out_dir) / "summary.json"
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


@dataclass
class Run:
    """Files, seed, device and tracker of one run; tasks receive it and log through it."""

    out_dir: Path
    config: dict[str, Any]
    seed: int
    device: torch.device
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    started: float = field(default_factory=time.time)
    lock: DirectoryLock | None = None  # held by the caller already (it releases it on failure)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.hash = config_hash(self.config)
        given = self.lock is not None
        if self.lock is None:
            self.lock = DirectoryLock(self.out_dir)
            self.lock.acquire()
        try:
            self._open()
        except BaseException:
            if not given:
                self.lock.release()
            raise

    def _open(self) -> None:
        atomic_write_text(
            self.out_dir / "config.yaml", yaml.safe_dump(self.config, sort_keys=False)
        )
        self.tracker = Tracker(
            self.out_dir,
            self.logger,
            run_name=self.name,
            run_id=self._wandb_id(),
            config=self.config,
        )
        self.previous_wall_time = 0.0

    @property
    def name(self) -> str:
        """The W&B run name: ``logger.wandb.name`` (a sweep member's overrides), else
        task-model-init-data-s<seed>."""
        given = ((self.config.get("logger") or {}).get("wandb") or {}).get("name")
        if given:
            return str(given)
        parts = [self.config.get(k, {}).get("name", "") for k in ("task", "model", "init", "data")]
        return "-".join(p for p in parts if p) + f"-s{self.seed}"

    def _wandb_id(self) -> str:
        """Stable per directory, so a resumed run continues the same W&B run."""
        path = self.out_dir / ".wandb_id"
        if not path.exists():
            atomic_write_text(path, f"{self.hash}-{os.urandom(4).hex()}")
        return path.read_text().strip()

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoint.pt"

    def log(self, row: dict[str, Any]) -> None:
        self.tracker.log(row)

    def truncate(self, step: int, phase: str | None = None) -> None:
        """Drop ``metrics.csv`` rows after ``step`` (of ``phase`` only, if given): a resumed
        loop redoes them (-1: every row of the phase; the loop starts it afresh)."""
        self.tracker.csv.keep_until(step, phase)

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        state = {
            **state,
            "logged_rows": len(self._rows_of(state.get("phase"), state.get("step"))),
            "config_hash": self.hash,
            "wall_time": self.wall_time(),
            "saved_at": time.time(),
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)  # serialized first: a failed write leaves the old file
        atomic_write_bytes(self.checkpoint_path, buffer.getvalue())

    def load_checkpoint(self) -> dict[str, Any] | None:
        state = read_checkpoint(self.checkpoint_path, self.hash)
        if state is None:
            return None
        if state.get("saved_at", 0.0) < self.started:
            # written by an earlier process: its time adds to this one's (a checkpoint this
            # process wrote, in an earlier phase, is already counted)
            self.previous_wall_time = float(state.get("wall_time", 0.0))
        logged = len(self._rows_of(state.get("phase"), state.get("step")))
        if logged < state.get("logged_rows", 0):
            raise ResumeError(
                f"hydra.run.dir: {self.tracker.csv.path} holds {logged} of the "
                f"{state['logged_rows']} rows logged up to the checkpoint's step "
                f"{state.get('step')} (emptied or cut short?); put the whole file back, or move "
                "the run directory aside to start afresh"
            )
        return state

    def _rows_of(self, phase: str | None, step: int | None) -> list[dict[str, Any]]:
        """``metrics.csv`` rows of ``phase`` (every row if None) up to ``step``."""
        return [
            row
            for row in self.tracker.csv.rows
            if (phase is None or row.get("phase") == str(phase))
            and (step is None or (row_step(row) or 0) <= step)
        ]

    def wall_time(self) -> float:
        return self.previous_wall_time + time.time() - self.started

    def finish(self, status: str, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Write ``summary.json`` and close the tracker; returns the summary."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        summary = {
            "status": status,
            **metrics,
            **extra,
            "seed": self.seed,
            "config_hash": self.hash,
            "wall_time_s": round(self.wall_time(), 3),
            "device": str(self.device),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": package_versions(),
            "git_commit": git_commit(),
        }
        atomic_write_text(
            self.out_dir / "summary.json", json.dumps(summary, indent=2, default=_json_default)
        )
        self.tracker.finish(summary, failed=status == "failed")
        self.lock.release()
        return summary

    def started_work(self) -> bool:
        """Did this directory get any work done (a checkpoint, metric rows, task files)?"""
        ours = {"config.yaml", "metrics.csv", "summary.json", ".wandb_id", "wandb", LOCK_FILE}
        ours |= {".hydra", "train.log", "error.txt"}
        if self.checkpoint_path.exists() or self.tracker.csv.rows:
            return True
        return any(
            p.name not in ours and not p.name.startswith(".") for p in self.out_dir.iterdir()
        )

    def discard(self) -> None:
        """Remove what this run wrote (a config refused before any work: nothing is left)."""
        self.tracker.finish({}, failed=True)
        for name in ("config.yaml", "metrics.csv", "summary.json", ".wandb_id", "error.txt"):
            (self.out_dir / name).unlink(missing_ok=True)
        shutil.rmtree(self.out_dir / "wandb", ignore_errors=True)
        self.lock.release()
        (self.out_dir / LOCK_FILE).unlink(missing_ok=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | torch.Tensor):
        return value.item()
    if isinstance(value, float):
        return str(value)
    return str(value)
