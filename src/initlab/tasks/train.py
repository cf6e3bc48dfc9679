"""``task=train``: initialize, train, evaluate on train/val/test."""

from __future__ import annotations

from dataclasses import dataclass

from initlab.accel import AccelConfig
from initlab.config import spec
from initlab.data import DataBundle
from initlab.run import Run
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.training import TrainLoopConfig, train_model


@dataclass(kw_only=True)
class TrainConfig(TaskConfig, TrainLoopConfig, AccelConfig):
    """The loop's keys (see ``initlab.training``), GPU use (``initlab.accel``) and mixup
    (``initlab.data.mixup``)."""

    mixup_alpha: float = spec(min=0.0, help="mixup's Beta(alpha, alpha); 0: off")


@TASKS.register("train", TrainConfig)
def train_task(cfg: TrainConfig, setup: RunSetup, data: DataBundle, run: Run) -> TaskResult:
    model = setup.new_model(data, run)
    outcome = train_model(
        model,
        data,
        cfg,
        setup.optim,
        run,
        seed=setup.seed,
    )
    return TaskResult(outcome.status, outcome.metrics)
