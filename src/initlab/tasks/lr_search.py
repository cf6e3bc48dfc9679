"""``task=lr_search``: the largest learning rate at which training does not diverge (claim C2).

Bisection on a log scale (:func:`initlab.analysis.lr_search.max_stable_lr`) over probes. Each
probe builds a fresh model with the run's init and seed (the same weights every probe), makes a
fresh optimizer from the ``optim`` group with only its ``lr`` replaced (plain gradient descent:
``optim=sgd optim.momentum=0``) and trains ``steps`` steps on the first ``samples`` training
examples: full batch (gradient descent) or, with ``full_batch: false``, shuffled minibatches of
``batch_size``. Divergence follows the training loop's rule: a loss that is non-finite or above
``diverge_factor`` times the first loss. A diverging probe is a result, never an error.

Writes ``lr_probes.csv`` (one row per probe) and puts ``max_lr``, the bracket and the number of
probes in the summary.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from initlab.analysis.lr_search import max_stable_lr
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.optim import build_optimizer
from initlab.run import Run
from initlab.setup import Setup
from initlab.tasks.base import TASKS, TaskConfig, TaskResult
from initlab.tracking import atomic_write_text
from initlab.training import epoch_order


@dataclass(kw_only=True)
class LrSearchConfig(TaskConfig):
    steps: int = spec(min=1, help="K: training steps per probe")
    full_batch: bool = spec(help="gradient descent on all samples; false: SGD with batch_size")
    batch_size: int = spec(min=1)
    samples: int | None = spec(min=1, help="first n training examples; null: all of them")
    diverge_factor: float = spec(min=1.0, help="loss > factor x first loss: diverged")
    lr_low: float = spec(min=0.0, min_exclusive=True, help="first guess of a stable lr")
    lr_high: float = spec(min=0.0, min_exclusive=True, help="first guess of a diverging lr")
    expand: float = spec(min=1.0, min_exclusive=True, help="bracket growth while searching")
    rel_tol: float = spec(min=0.0, min_exclusive=True, help="stop when high / low <= 1 + rel_tol")
    max_probes: int = spec(min=1)

    def validate(self) -> None:
        if self.lr_low >= self.lr_high:
            raise ConfigError(f"lr_low: {self.lr_low} must be below lr_high ({self.lr_high})")


@dataclass
class ProbeRecord:
    lr: float
    diverged: bool
    steps: int
    first_loss: float
    final_loss: float
    max_loss: float


def train_probe(
    cfg: LrSearchConfig, setup: Setup, data: DataBundle, x: torch.Tensor, y: torch.Tensor, lr: float
) -> ProbeRecord:
    """``cfg.steps`` optimizer steps from a fresh model; stops at the first diverged loss."""
    torch.manual_seed(setup.seed)  # the same initial weights for every probe
    model = setup.new_model(data)
    model.train()
    optim = dataclasses.replace(setup.optim, lr=lr)
    optimizer, scheduler = build_optimizer(optim, model.parameters(), cfg.steps)
    n = len(x)
    batch = n if cfg.full_batch else min(cfg.batch_size, n)
    per_epoch = math.ceil(n / batch)
    first = last = peak = math.nan
    for step in range(cfg.steps + 1):
        epoch, index = divmod(step, per_epoch)
        if batch == n:
            xb, yb = x, y
        else:
            order = epoch_order(n, setup.seed, epoch)[index * batch : (index + 1) * batch]
            xb, yb = x[order.to(x.device)], y[order.to(x.device)]
        loss = F.cross_entropy(model(xb), yb)
        last = float(loss.detach())
        first = last if step == 0 else first
        peak = last if step == 0 else max(peak, last)
        if not math.isfinite(last) or last > cfg.diverge_factor * max(first, 1e-8):
            return ProbeRecord(lr, True, step, first, last, peak)
        if step == cfg.steps:
            break  # the loss after the last step has been checked
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return ProbeRecord(lr, False, cfg.steps, first, last, peak)


@TASKS.register("lr_search", LrSearchConfig)
def lr_search_task(cfg: LrSearchConfig, setup: Setup, data: DataBundle, run: Run) -> TaskResult:
    x, y = data.split("train")
    n = len(x) if cfg.samples is None else min(cfg.samples, len(x))
    x, y = x[:n], y[:n]
    records: list[ProbeRecord] = []

    def probe(lr: float) -> bool:
        record = train_probe(cfg, setup, data, x, y, lr)
        records.append(record)
        run.log(
            {
                "step": len(records),
                "lr": lr,
                "diverged": int(record.diverged),
                "final_loss": record.final_loss,
            }
        )
        return not record.diverged

    result = max_stable_lr(
        probe, cfg.lr_low, cfg.lr_high, cfg.rel_tol, cfg.max_probes, expand=cfg.expand
    )
    table = pd.DataFrame([dataclasses.asdict(r) for r in records])
    table.insert(0, "probe", range(len(records)))
    atomic_write_text(run.out_dir / "lr_probes.csv", table.to_csv(index=False))
    low, high = result.bracket
    metrics = {
        "max_lr": result.max_lr,
        "lr_bracket_low": low,
        "lr_bracket_high": high if math.isfinite(high) else None,
        "probes": len(records),
        "search_status": result.status,
        "samples": n,
        "initial_loss": records[0].first_loss if records else None,
    }
    return TaskResult("completed", metrics)
