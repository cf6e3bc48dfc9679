"""One run's state: its directory, seed, device, tracker, checkpoints and final summary.

Everything a run leaves behind lives in its directory:
``config.yaml`` (resolved), ``metrics.csv``, ``checkpoint.pt``, ``summary.json``, ``wandb/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from initlab.tracking import LoggerConfig, Tracker, atomic_write_text

# Keys that change how a run is watched, not what it computes: left out of the config hash.
NON_SEMANTIC_KEYS = ("logger", "device", "claims")
STATUSES = ("completed", "diverged", "failed")
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
    path = Path(out_dir) / "summary.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


@dataclass
class Run:
    """Files, seed, device and tracker of one run; tasks receive it and log through it."""

    out_dir: Path
    config: dict[str, Any]
    seed: int
    device: torch.device
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.hash = config_hash(self.config)
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

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        state = {
            **state,
            "config_hash": self.hash,
            "wall_time": self.wall_time(),
            "saved_at": time.time(),
        }
        tmp = self.checkpoint_path.with_name(".checkpoint.pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        if state.get("config_hash") != self.hash:
            raise RuntimeError(
                f"{self.checkpoint_path} belongs to a different config "
                f"(hash {state.get('config_hash')} != {self.hash}); use another hydra.run.dir"
            )
        if state.get("saved_at", 0.0) < self.started:
            # written by an earlier process: its time adds to this one's (a checkpoint this
            # process wrote, in an earlier phase, is already counted)
            self.previous_wall_time = float(state.get("wall_time", 0.0))
        return state

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
        return summary


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic | torch.Tensor):
        return value.item()
    if isinstance(value, float):
        return str(value)
    return str(value)
