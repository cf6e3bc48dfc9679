"""Optimizers and learning-rate schedules: each module registers a name in ``OPTIMIZERS``."""

from initlab.optim.base import OPTIMIZERS, OptimConfig, build_optimizer

__all__ = ["OPTIMIZERS", "OptimConfig", "build_optimizer"]
