"""``task=lr_search``: the largest learning rate at which training stays stable (claim C2).

Bisection on a log scale (:func:`initlab.training.lr_search.max_stable_lr`) over probes. Each
probe builds a fresh model with the run's init and seed (the same weights every probe), makes a
fresh optimizer from the ``optim`` group with only its ``lr`` replaced (plain gradient descent:
``optim=sgd optim.momentum=0``) and trains ``steps`` steps on the first ``samples`` training
examples: full batch (gradient descent) or, with ``full_batch: false``, shuffled minibatches of
``batch_size``. ``criterion`` decides what a stable probe is
(:mod:`initlab.training.lr_search`): ``monotone`` (gradient descent's stability edge, full batch
only): the loss never rises between two steps by more than ``increase_tol`` (relative) and ends
no higher than it began; ``diverge``: the training loop's blow-up rule only (non-finite, or above
``diverge_factor`` times the first loss), under which a loss that rises and falls back counts as
stable. Both stop a probe at a blow-up. An unstable probe is a result, never an error.

With ``sharpness: true`` the top eigenvalue ``lambda_max`` of the Hessian of the same loss (mean
cross-entropy over the same examples, the same initial weights; BatchNorm with the batch's
statistics, as the full-batch steps see them) comes from Lanczos (``sharpness_tol``,
``sharpness_max_iter``); the summary then holds ``lambda_max``, ``edge_lr = 2 / lambda_max`` and
``edge_ratio = max_lr * lambda_max / 2`` (1: the search found exactly the quadratic model's
stability edge).

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
import torch.nn.functional as F

from initlab.analysis.hvp import loss_hvp
from initlab.analysis.lanczos import lanczos
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.optim import build_optimizer
from initlab.run import ResumeError, Run
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.tasks.hessian import evaluation_mode
from initlab.tracking import Progress, atomic_write_text
from initlab.training import batches_for, fit
from initlab.training.lr_search import CRITERIA, max_stable_lr, run_gd

PROBES_FILE = "lr_probes.csv"
PROBE_COLUMNS = [
    "lr",
    "diverged",
    "steps",
    "first_loss",
    "final_loss",
    "max_loss",
    "max_increase",
    "reason",
]


@dataclass(kw_only=True)
class LrSearchConfig(TaskConfig):
    steps: int = spec(min=1, help="K: training steps per probe")
    full_batch: bool = spec(help="gradient descent on all samples; false: SGD with batch_size")
    batch_size: int = spec(min=1)
    samples: int | None = spec(min=1, help="first n training examples; null: all of them")
    criterion: str = spec(
        choices=CRITERIA,
        help="monotone: no step raises the loss by > increase_tol and the final loss <= the "
        "first (GD's stability edge); diverge: only a blow-up (> diverge_factor x first) counts",
    )
    increase_tol: float = spec(
        min=0.0, help="monotone: largest relative rise of the loss between two steps tolerated"
    )
    diverge_factor: float = spec(min=1.0, help="loss > factor x first loss: diverged")
    lr_low: float = spec(min=0.0, min_exclusive=True, help="first guess of a stable lr")
    lr_high: float = spec(min=0.0, min_exclusive=True, help="first guess of a diverging lr")
    expand: float = spec(min=1.0, min_exclusive=True, help="bracket growth while searching")
    rel_tol: float = spec(min=0.0, min_exclusive=True, help="stop when high / low <= 1 + rel_tol")
    max_probes: int = spec(min=1)
    sharpness: bool = spec(help="also lambda_max of the loss Hessian at init (Lanczos): edge_lr")
    sharpness_tol: float = spec(
        min=0.0, min_exclusive=True, help="relative residual of lambda_max's Ritz value"
    )
    sharpness_max_iter: int = spec(min=1, help="Lanczos steps (Hessian-vector products) at most")

    def validate(self) -> None:
        if self.lr_low >= self.lr_high:
            raise ConfigError(f"lr_low: {self.lr_low} must be below lr_high ({self.lr_high})")
        if self.criterion == "monotone" and not self.full_batch:
            raise ConfigError(
                "task.criterion: monotone needs full_batch: true (a minibatch loss is noisy)"
            )


@dataclass
class ProbeRecord:
    lr: float
    diverged: bool
    steps: int
    first_loss: float
    final_loss: float
    max_loss: float
    max_increase: float = math.nan
    reason: str = ""


def train_probe(
    cfg: LrSearchConfig,
    setup: RunSetup,
    data: DataBundle,
    x: torch.Tensor,
    y: torch.Tensor,
    lr: float,
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
    if cfg.full_batch:
        out = run_gd(
            model,
            batches,
            optimizer,
            scheduler,
            steps=cfg.steps,
            criterion=cfg.criterion,
            increase_tol=cfg.increase_tol,
            diverge_factor=cfg.diverge_factor,
            progress=f"probe lr={lr:.4g}",
        )
        return ProbeRecord(lr, out.diverged, out.steps, out.initial_loss, out.final_loss,
                           out.peak_loss, out.max_increase, out.reason)  # fmt: skip
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
        return ProbeRecord(lr, True, step, first, value, peak, reason="blowup")
    return ProbeRecord(lr, False, cfg.steps, first, result.last_loss[0], peak)


def sharpness(
    cfg: LrSearchConfig, setup: RunSetup, data: DataBundle, x: torch.Tensor, y: torch.Tensor
) -> dict:
    """lambda_max of the Hessian of the mean cross-entropy over (x, y) at the probes' initial
    weights (Lanczos, ``sharpness_tol``); BatchNorm with the statistics of the whole batch."""
    torch.manual_seed(setup.seed)  # the probes' initial weights
    model = setup.new_model(data)
    chunks = [(x, y)]
    with evaluation_mode(model):
        op = loss_hvp(model, F.cross_entropy, chunks, method="cached_graph")
        found = lanczos(
            op,
            op.n,
            1,
            which="largest",
            tol=cfg.sharpness_tol,
            max_iter=cfg.sharpness_max_iter,
            seed=setup.seed,
        )
    lam = float(found.top[0])
    return {
        "lambda_max": lam,
        "lambda_max_residual": float(found.top_residuals[0]),
        "lanczos_iterations": found.iterations,
        "lanczos_converged": bool(found.converged),
        "edge_lr": 2.0 / lam if lam > 0 else None,
    }


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
                float(getattr(r, "max_increase", math.nan)),
                "" if pd.isna(getattr(r, "reason", "")) else str(getattr(r, "reason", "")),
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
def lr_search_task(cfg: LrSearchConfig, setup: RunSetup, data: DataBundle, run: Run) -> TaskResult:
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
        "criterion": cfg.criterion,
    }
    if cfg.sharpness:
        metrics.update(sharpness(cfg, setup, data, x, y))
        lam = metrics["lambda_max"]
        metrics["edge_ratio"] = result.max_lr * lam / 2 if lam > 0 else None
    return TaskResult("completed", metrics)
