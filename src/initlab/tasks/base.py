"""Task registry. A task is called as ``builder(cfg, setup, data, run) -> TaskResult``.

``setup`` (:class:`initlab.setup.Setup`) builds freshly initialized models, so a task that needs
many (a learning-rate search) asks for them; it never parses config names itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from initlab.registry import Registry

TASKS: Registry = Registry("task", "initlab.tasks")


@dataclass(kw_only=True)
class TaskConfig:
    name: str


@dataclass
class TaskResult:
    status: str  # completed | diverged | failed
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
