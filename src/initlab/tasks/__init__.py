"""Tasks (train, and later hessian, angles, lr_search, ...): each module registers in ``TASKS``."""

from initlab.tasks.base import TASKS, TaskConfig, TaskResult

__all__ = ["TASKS", "TaskConfig", "TaskResult"]
