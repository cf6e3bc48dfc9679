"""Task registry. A task is called as ``builder(cfg, setup, data, run) -> TaskResult``.

``setup`` (:class:`RunSetup`: what :class:`initlab.setup.Setup` offers a task) builds freshly
initialized models, so a task that needs many (a learning-rate search) asks for them; it never
parses config names itself. Tasks import nothing from :mod:`initlab.setup`, which sits above them
(it composes a run from the task registry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from initlab.registry import Registry

TASKS: Registry = Registry("task", "initlab.tasks")


class RunSetup(Protocol):
    """The typed configs of one run and what a task may build from them."""

    model: Any
    init: Any
    data: Any
    task: Any
    optim: Any
    seed: int
    resolved: dict[str, Any]

    @property
    def device(self) -> torch.device: ...

    def new_model(self, data: Any, run: Any = None, init: Any = None) -> Any:
        """A model sized for ``data``, freshly initialized (``init``: another init config)."""
        ...

    def derive(self, resolved: dict[str, Any]) -> RunSetup:
        """The setup of another resolved config (checked like any run's)."""
        ...


@dataclass(kw_only=True)
class TaskConfig:
    name: str


@dataclass
class TaskResult:
    status: str  # completed | diverged | failed
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
