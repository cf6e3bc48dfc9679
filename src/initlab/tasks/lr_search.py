"""``task=lr_search``: the largest learning rate at which training does not diverge (claim C2).

Bisection on a log scale (:func:`initlab.analysis.lr_search.max_stable_lr`) over probes. Each
probe builds a fresh model with the run's init and seed (the same weights every probe), makes a
fresh optimizer from the ``optim`` group with only its ``lr`` replaced (plain gradient descent:
``optim=sgd optim.momentum=0``) and trains ``steps`` steps on the first ``samples`` training
examples: full batch (gradient descent) or, with ``full_batch: false``, shuffled minibatches of
``batch_size``. Divergence follows the training loop's rule: a loss that is non-finite or above
``diverge_factor`` times the first loss. A diverging probe is a result, never an error.

Writes ``lr_probes.csv`` (one row per probe, rewritten after every probe: a resumed run replays
the probes already done, so it resumes probe by probe) and puts ``max_lr``, the bracket and the
number of probes in the summary. The loss of a probe is the model's objective (cross-entropy for
class labels), as in every loop.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from initlab.analysis.lr_search import max_stable_lr
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.optim import build_optimizer
from initlab.run import ResumeError, Run
from initlab.setup import Setup
from initlab.tasks.base import TASKS, TaskConfig, TaskResult
from initlab.tracking import Progress, atomic_write_text
from initlab.training import batches_for, fit

PROBES_FILE = "lr_probes.csv"
PROBE_COLUMNS = ["lr", "diverged", "steps", "first_loss", "final_loss", "max_loss"]


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
    """``cfg.steps`` optimizer steps of the one loop from a fresh model; the loss is checked
    before every step and after the last one (``check_after_last``)."""
    torch.manual_seed(setup.seed)  # the same initial weights for every probe
    model = setup.new_model(data)
    optim = dataclasses.replace(setup.optim, lr=lr)
    optimizer, scheduler = build_optimizer(optim, model, cfg.steps)
    n = len(x)
    key = "task.full_batch" if cfg.full_batch else "task.batch_size"
    batches = batches_for(model, x, y, n if cfg.full_batch else cfg.batch_size, setup.seed, key,
                          shuffle=not cfg.full_batch)  # fmt: skip
    result = fit(
        model,
        batches,
        optimizer,
        scheduler,
        epochs=math.ceil((cfg.steps + 1) / batches.per_epoch),
        max_steps=cfg.steps,
        log_every=max(cfg.steps, 1),
        diverge_factor=cfg.diverge_factor,
        check_after_last=True,
        progress=f"probe lr={lr:.4g}",
    )
    first, peak = result.first_loss[0], result.peak_loss[0]
    if result.status == "diverged":
        step, value = result.diverged_at_step[0], result.loss_at_divergence[0]
        return ProbeRecord(lr, True, step, first, value, peak)
    return ProbeRecord(lr, False, cfg.steps, first, result.last_loss[0], peak)


def _replay(path: Path) -> list[ProbeRecord]:
    """Probes an interrupted run of this config finished (``lr_probes.csv``, written after
    every probe); the bisection asks for the same learning rates in the same order."""
    if not path.exists():
        return []
    try:
        table = pd.read_csv(path)
        return [
            ProbeRecord(
                float(r.lr),
                bool(r.diverged),
                int(r.steps),
                float(r.first_loss),
                float(r.final_loss),
                float(r.max_loss),
            )  # fmt: skip
            for r in table.itertuples()
        ]
    except (ValueError, AttributeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise ResumeError(
            f"hydra.run.dir: {path} is unreadable; move it aside to redo the probes"
        ) from None


def _write(path: Path, records: list[ProbeRecord]) -> None:
    table = pd.DataFrame([dataclasses.asdict(r) for r in records], columns=PROBE_COLUMNS)
    table.insert(0, "probe", range(len(records)))
    atomic_write_text(path, table.to_csv(index=False))


@TASKS.register("lr_search", LrSearchConfig)
def lr_search_task(cfg: LrSearchConfig, setup: Setup, data: DataBundle, run: Run) -> TaskResult:
    x, y = data.split("train")
    n = len(x) if cfg.samples is None else min(cfg.samples, len(x))
    x, y = x[:n], y[:n]
    records: list[ProbeRecord] = []
    path = run.out_dir / PROBES_FILE
    done = _replay(path)
    run.truncate(-1)  # the rows of replayed probes are logged again, in order
    progress = Progress(cfg.max_probes, "lr_search", unit="probe", bound=True)

    def probe(lr: float) -> bool:
        k = len(records)
        if k < len(done) and math.isclose(done[k].lr, lr, rel_tol=1e-12):
            record = done[k]
        else:
            record = train_probe(cfg, setup, data, x, y, lr)
        records.append(record)
        _write(path, records)
        run.log(
            {
                "step": len(records),
                "lr": lr,
                "diverged": int(record.diverged),
                "final_loss": record.final_loss,
            }
        )
        progress.update(1, f"lr {lr:.4g}: {'diverged' if record.diverged else 'stable'}")
        return not record.diverged

    try:
        result = max_stable_lr(
            probe, cfg.lr_low, cfg.lr_high, cfg.rel_tol, cfg.max_probes, expand=cfg.expand
        )
    finally:
        progress.close()
    _write(path, records)
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
