"""The composed config, checked and typed, and the factory for initialized models.

``parse_config`` is the single gate: every group is checked against its registered schema
before any work starts (see :mod:`initlab.config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from initlab.config import SEED_MAX, ConfigError, check, spec
from initlab.data import DATASETS, DataBundle
from initlab.inits import INITS, InitContext, initialize
from initlab.models import MODELS, InitlabModel, build_model
from initlab.optim import OPTIMIZERS
from initlab.run import RuntimeConfig, resolve_device
from initlab.tasks import TASKS
from initlab.tracking import LoggerConfig

PROFILES = ("dev", "quick", "full", "rehearsal")
DEFAULT_RUNTIME = {"signals": [], "checkpoint_every_steps": 0, "checkpoint_every_s": 0.0}
GROUPS = {"model": MODELS, "init": INITS, "data": DATASETS, "task": TASKS, "optim": OPTIMIZERS}


@dataclass(kw_only=True)
class RootConfig:
    """Top-level keys; each group is checked by its own registry."""

    model: dict
    init: dict
    data: dict
    task: dict
    optim: dict
    logger: dict
    runtime: dict
    seed: int = spec(min=0, max=SEED_MAX, help="seed of every generator of the run")
    profile: str = spec(choices=PROFILES, help="scale of an experiment; results/<profile>/")
    device: str = spec(help="auto, cpu, cuda, cuda:N or mps")
    deterministic: bool = spec(help="deterministic algorithms (CPU runs are reproducible)")
    arm: str = spec(help="the compared model + initializer (conf/arm/<name>.yaml), or none")
    record: list[str] = spec(help="config keys written into summary.json (results columns)")
    claims: dict = spec(help="claim id -> table -> columns its rule reads (checked by collect)")

    def validate(self) -> None:
        allowed = ("auto", "cpu", "cuda", "mps")
        if self.device not in allowed and not self.device.startswith("cuda:"):
            raise ConfigError(
                f"device: {self.device!r} is not allowed; allowed: {', '.join(allowed)}, cuda:N"
            )


@dataclass
class Setup:
    """Typed configs of one run plus the resolved dict they came from."""

    model: Any
    init: Any
    data: Any
    task: Any
    optim: Any
    logger: LoggerConfig
    runtime: RuntimeConfig
    seed: int
    device_name: str
    deterministic: bool
    resolved: dict[str, Any]

    @property
    def device(self) -> torch.device:
        return resolve_device(self.device_name)

    def new_model(self, data: DataBundle, run: Any = None, init: Any = None) -> InitlabModel:
        """A model sized for ``data``, initialized on the CPU (same numbers on any device)."""
        model = build_model(self.model, data.input_shape, data.num_classes)
        task = self.task  # an initializer that trains (PDI) evaluates as the task does
        context = InitContext(
            data=data,
            run=run,
            eval_batch_size=getattr(task, "eval_batch_size", 1024),
            eval_examples=getattr(task, "eval_examples", None),
            precision=getattr(task, "precision", "fp32"),
            micro_batch=getattr(task, "micro_batch", None),
        )
        initialize(model, init or self.init, context)
        return model.to(self.device)

    def derive(self, resolved: dict[str, Any]) -> Setup:
        """The setup of another resolved config (a grid member's), checked like any run's."""
        return parse_config(resolved)


def parse_config(resolved: dict[str, Any]) -> Setup:
    """Check a resolved config dict; raise ConfigError naming the first bad key."""
    if "runtime" not in resolved:  # configs saved before the key existed
        resolved = {**resolved, "runtime": dict(DEFAULT_RUNTIME)}
    root = check(resolved, RootConfig, "")
    typed = {group: registry.parse(resolved[group], group) for group, registry in GROUPS.items()}
    logger = check({"progress_every_s": 60.0, **root.logger}, LoggerConfig, "logger")
    runtime = check(root.runtime, RuntimeConfig, "runtime")
    if root.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device: {root.device!r} asked for, but no CUDA device is available; use device=auto"
        )
    return Setup(
        **typed,
        logger=logger,
        runtime=runtime,
        seed=root.seed,
        device_name=root.device,
        deterministic=root.deterministic,
        resolved=resolved,
    )
