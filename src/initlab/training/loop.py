"""The one training loop: every optimizer step of initlab runs in :func:`fit`.

``task=train``, ``train_vae``, learning-rate probes, grid-search members (one by one or stacked),
PDI stages, angle draws, DDP ranks and :func:`initlab.training.lr_search.gd_diverges` all call
:func:`fit` (through :func:`train_model` when they train on a :class:`DataBundle` and report
train/val/test metrics). What differs between them is passed in: the batches, the optimizer, a
per-epoch hook (evaluation, scoring, stopping members), the run that receives rows and checkpoints
(:class:`initlab.run.NullRun` when nothing is kept).

One rule for divergence: a loss that is non-finite or above ``diverge_factor`` times the first
loss (``inf``: non-finite only). The loss is the batch mean of ``model.objective(x, y)["loss"]``;
a stacked model returns one loss per member (shape (K,)), each checked on its own.

No host sync per step: the losses stay on the device; flags and the first bad step and value are
accumulated there and read every ``log_every`` steps, at epoch ends and before checkpoints
("check points"). A logged loss is the exact loss of its step; a divergence is reported with the
exact step and value it happened at, even if the check came later (the steps in between are
wasted work, never logged or checkpointed: a checkpoint is only written right after a clean check).

Each epoch shuffles with a generator seeded by (seed, epoch), so a run resumed from a checkpoint
(even mid-epoch) sees exactly the batches an uninterrupted run sees. Checkpoints: every
``checkpoint_every`` epochs (at most once per ``checkpoint_interval_s``), every
``runtime.checkpoint_every_steps`` steps or ``runtime.checkpoint_every_s`` seconds mid-epoch, and
on a preemption signal (:mod:`initlab.preemption`), after which the run stops with
:class:`~initlab.preemption.Preempted`.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from initlab import hooks, preemption
from initlab.accel import batch_transform, prepare_model
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.data.mixup import mixup_loss
from initlab.optim import OptimConfig, build_optimizer
from initlab.run import NULL_RUN, RunLike, check_train_state
from initlab.tracking import Progress

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(kw_only=True)
class TrainLoopConfig:
    """Keys of the loop (the ``train`` task's schema extends these)."""

    epochs: int = spec(min=0)
    batch_size: int = spec(min=1)
    full_batch: bool = spec(help="gradient descent on the whole training set per step")
    max_steps: int | None = spec(min=1, help="stop after this many steps in total")
    eval_every: int = spec(min=1, help="evaluate every k epochs (and at the end)")
    log_every: int = spec(min=1, help="log the training loss every k steps")
    checkpoint_every: int = spec(min=0, help="checkpoint every k epochs and at the end; 0: never")
    checkpoint_interval_s: float = spec(min=0.0, help="...but at most once per this many seconds")
    diverge_factor: float = spec(min=1.0, help="loss > factor x first loss: diverged")
    eval_batch_size: int = spec(min=1)
    eval_examples: int | None = spec(
        min=1, help="score on the first n examples of each split; null: all of them"
    )
    precision: str = spec(
        choices=("fp32", "bf16", "fp16"),
        help="mixed precision: autocast the objective; fp16 adds loss scaling",
    )
    micro_batch: int | None = spec(
        min=1,
        help="forward/backward each batch in pieces of n examples, gradients accumulated (the "
        "same step in a fraction of the activation memory; BatchNorm sees n-example batches); "
        "null: whole batches",
    )


@dataclass
class TrainOutcome:
    status: str  # completed | diverged
    metrics: dict[str, Any] = field(default_factory=dict)
    steps: int = 0


class Trainee(Protocol):
    """What the loop trains: a model (or a stack of models) with an objective."""

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]: ...

    def train(self, mode: bool = True) -> Any: ...


# ----------------------------------------------------------------------------- scoring


@torch.no_grad()
def predict(model: Any, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``model``'s outputs on ``x`` in eval mode, in chunks of ``batch_size``."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


@torch.no_grad()
def objective_totals(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> dict[str, torch.Tensor]:
    """Every key of ``model.objective`` summed over (x, y) in eval mode, as float64 tensors on
    the model's device (nothing read back: a caller fetches all its numbers in one transfer)."""
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    for start in range(0, len(x), batch_size):
        values = model.objective(x[start : start + batch_size], y[start : start + batch_size])
        for key, per_example in values.items():
            part = per_example.sum().double()
            totals[key] = totals[key] + part if key in totals else part
    model.train(was_training)
    return totals


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> dict:
    """Every key of ``model.objective`` averaged over (x, y), in eval mode."""
    totals = objective_totals(model, x, y, batch_size)
    values = torch.stack(list(totals.values())).tolist() if totals else []
    return {key: value / max(len(x), 1) for key, value in zip(totals, values, strict=True)}


def score_outputs(outputs: torch.Tensor, y: torch.Tensor, metric: str) -> float:
    """The one scoring function: ``accuracy`` (class labels), ``auc`` (binary, from logits) or
    ``mean_auc`` (multi-label, masked) of model outputs (logits) against ``y``."""
    from initlab.data.multitask import binary_auc, mean_auc

    if metric == "mean_auc":
        return mean_auc(torch.sigmoid(outputs), y)
    if metric == "auc":
        return binary_auc(outputs, y)
    if metric == "accuracy":
        return (outputs.argmax(-1) == y).float().sum().item() / max(len(y), 1)
    raise ValueError(f"unknown metric {metric!r}")


def member_scores(outputs: torch.Tensor, y: torch.Tensor, metric: str) -> torch.Tensor:
    """:func:`score_outputs` of every member of a stack's outputs ``(K, n, ...)``: a length-K
    float64 tensor. Accuracy stays on the outputs' device (no host read, so a caller can fetch
    it with other numbers in one transfer); the AUCs copy the outputs to the host once."""
    if metric == "accuracy":
        hits = (outputs.argmax(-1) == y).to(torch.float64).sum(-1)
        return hits / max(len(y), 1)
    on_host, y_host = outputs.detach().cpu(), y.cpu()
    scores = [  # a diverged member's outputs have no AUC (scikit-learn refuses NaN)
        score_outputs(member, y_host, metric) if member.isfinite().all() else math.nan
        for member in on_host
    ]
    return torch.tensor(scores, dtype=torch.float64, device=outputs.device)


def score(model: Any, x: torch.Tensor, y: torch.Tensor, metric: str, batch_size: int) -> float:
    """The data set's metric of ``model`` on (x, y) (see :func:`score_outputs`)."""
    if metric == "accuracy":  # the objective's own accuracy (the number evaluate reports)
        return evaluate(model, x, y, batch_size)["accuracy"]
    return score_outputs(predict(model, x, batch_size), y, metric)


def eval_autocast(model: nn.Module, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for evaluating ``model`` at the training loop's ``precision`` (fp32: none)."""
    dtype = AMP_DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    device = next(model.parameters()).device.type
    return torch.autocast(device, dtype=dtype)


def evaluate_splits(
    model: nn.Module, data: DataBundle, batch_size: int, examples: int | None = None
) -> dict[str, float]:
    """``evaluate`` on train/val/test (the first ``examples`` of each; None: all), plus the data
    set's AUC metric where it has one; the objective's numbers come to the host in one transfer."""
    order, totals, sizes, aucs = [], [], [], {}
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        x, y = x[:examples], y[:examples]
        if len(x):
            for key, total in objective_totals(model, x, y, batch_size).items():
                order.append(f"{split}_{key}")
                totals.append(total)
                sizes.append(len(x))
            if data.metric in ("auc", "mean_auc"):
                order.append(f"{split}_{data.metric}")
                aucs[order[-1]] = score(model, x, y, data.metric, batch_size)
    values = torch.stack(totals).tolist() if totals else []
    means = dict(zip([n for n in order if n not in aucs], values, strict=True))
    sizes_of = dict(zip(means, sizes, strict=True))
    return {name: aucs[name] if name in aucs else means[name] / sizes_of[name] for name in order}


# ----------------------------------------------------------------------------- batches


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator)


@dataclass
class Batches:
    """Minibatches of (x, y): epoch e visits ``epoch_order(n, seed, e)`` in chunks of ``size``.

    ``shuffle=False`` keeps the rows in order (full-batch gradient descent of a probe).
    ``drop_single`` merges a last batch of one example into the one before it: BatchNorm in
    train mode cannot normalize one example (the loop sets it for models with BatchNorm).
    """

    x: torch.Tensor
    y: torch.Tensor
    size: int
    seed: int
    shuffle: bool = True
    drop_single: bool = False
    max_batches: int | None = None  # batches per epoch at most (the rehearsal's cut); None: all

    def __post_init__(self) -> None:
        self.n = len(self.x)
        self.size = min(self.size, self.n)
        bounds = list(range(0, self.n, self.size)) + [self.n]
        if self.drop_single and len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
            del bounds[-2]
        self.bounds = bounds
        self.per_epoch = min(len(bounds) - 1, self.max_batches or len(bounds))
        self._order: tuple[int, torch.Tensor] | None = None

    def get(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        lo, hi = self.bounds[index], self.bounds[index + 1]
        if not self.shuffle and lo == 0 and hi == self.n:
            return self.x, self.y, self.n
        if not self.shuffle:
            return self.x[lo:hi], self.y[lo:hi], hi - lo
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, epoch_order(self.n, self.seed, epoch).to(self.x.device))
        idx = self._order[1][lo:hi]
        return self.x[idx], self.y[idx], hi - lo


def has_batch_norm(model: Any) -> bool:
    modules = model.modules() if hasattr(model, "modules") else []
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in modules)


def split_pieces(t: torch.Tensor, size: int, single_ok: bool = True) -> tuple[torch.Tensor, ...]:
    """``t`` in pieces of ``size`` rows; unless ``single_ok``, a last piece of one row is merged
    into the one before it (BatchNorm cannot normalize over one example)."""
    pieces = t.split(size)
    if not single_ok and len(pieces) > 1 and len(pieces[-1]) == 1:
        pieces = (*pieces[:-2], torch.cat(pieces[-2:]))
    return pieces


def batches_for(
    model: Any, x: torch.Tensor, y: torch.Tensor, size: int, seed: int, key: str, **kw: Any
) -> Batches:
    """:class:`Batches` for ``model``: with BatchNorm, a last batch of one example is merged into
    the one before it, and batches of one example are refused (naming ``key``)."""
    norm = has_batch_norm(model)
    if norm and min(size, len(x)) < 2:
        raise ConfigError(
            f"{key}: batches of {min(size, len(x))} example(s) cannot train a model with "
            "BatchNorm (it normalizes over the batch); use at least 2"
        )
    return Batches(x, y, size, seed, drop_single=norm, **kw)


# ----------------------------------------------------------------------------- the loop


@dataclass
class LoopState:
    """Where the loop is: steps so far, the epoch and the batch within it."""

    step: int = 0
    epoch: int = 0
    batch_index: int = 0


@dataclass
class FitResult:
    status: str  # completed | diverged
    steps: int
    epochs: int
    first_loss: list[float]
    last_loss: list[float]
    peak_loss: list[float]
    diverged_at_step: list[int | None]  # per member; None: did not diverge
    loss_at_divergence: list[float | None]
    # resumed from the checkpoint written after the last step's epoch end (or on_finish): the
    # loop had nothing left to do, and the rows of its end are in the run's metrics already
    resumed_at_end: bool = False


# loss dtypes whose values times a batch size are exact in float64 (the host's epoch sum)
EXACT_TIMES_SIZE = (torch.float32, torch.float16, torch.bfloat16)

EpochHook = Callable[[int, torch.Tensor, bool, int], "list[int] | None | bool"]


class LossLedger:
    """Each member's losses, kept on the device: the first, the last, the peak, the first bad
    step and value (non-finite or above ``diverge_factor`` x the first loss) and the epoch's
    size-weighted sum.

    A step costs two tensor ops (the epoch sum, added in step order so that a resumed run sums
    exactly as an uninterrupted one); everything else is worked out for all the steps since the
    last check in one go when a check point asks (:meth:`all_bad`, :meth:`epoch_losses`,
    :meth:`result`), without reading anything back to the host.

    On the CPU a host read costs nothing, so a step costs no tensor op: the check point adds the
    stretch's losses to the epoch sum on the host (in float64, in step order: the same sums as
    the device's ``add_``, whose terms, a float32 loss times an integer size, are exact in
    float64; a float64 loss keeps the device's sum), and a stretch where no member has a bad
    loss (the common case) settles in a few ops (the peak); only a stretch with a bad loss runs
    the full bookkeeping. The results are bitwise those of the device path.
    """

    def __init__(self, diverge_factor: float, n_examples: int, device: torch.device) -> None:
        self.factor, self.n, self.device = diverge_factor, n_examples, device
        self.host = torch.device(device).type == "cpu"
        self.sum_on_host: bool | None = None  # decided by the first loss's dtype
        self.first: torch.Tensor | None = None  # () or (K,)
        self.epoch_sum: torch.Tensor | None = None  # float64
        self.last: torch.Tensor | None = None
        self.bad = self.bad_step = self.bad_value = self.peak = None
        self._since_check: list[tuple[torch.Tensor, int, int]] = []
        self._limit: tuple[torch.Tensor, Any] | None = None  # (first, its limit on the host)
        self._clean = True  # on the host: no member has had a bad loss

    def add(self, loss: torch.Tensor, size: int, step: int) -> None:
        if self.sum_on_host is None:  # a float64 loss times a size is not exact: the device's sum
            self.sum_on_host = self.host and loss.dtype in EXACT_TIMES_SIZE
        if not self.sum_on_host:
            if self.epoch_sum is None:
                self.epoch_sum = loss.double() * size
            else:  # in place (a fresh tensor each epoch); float64, in step order
                self.epoch_sum.add_(loss, alpha=size)
        self._since_check.append((loss, size, step))
        self.last = loss

    def _add_on_host(self, rows: list, sizes: list[int]) -> None:
        """The epoch sum of :meth:`add`'s device path, on the host (CPU tensors only)."""
        total = None if self.epoch_sum is None else self.epoch_sum.tolist()
        for values, size in zip(rows, sizes, strict=True):
            if isinstance(values, float):  # one model
                total = values * size if total is None else total + values * size
            else:  # a stack: each member's own sum
                terms = [v * size for v in values]
                total = terms if total is None else [t + u for t, u in zip(total, terms)]
        self.epoch_sum = torch.tensor(total, dtype=torch.float64, device=self.device)

    def _below_limit(self, rows: list) -> bool:
        """No member bad before, and every loss of the stretch finite and below
        ``diverge_factor`` x its member's first loss in magnitude: nothing in it can be bad (a
        sufficient test, in float64 on the host, where the float32 values compare as they do on
        the device; a stretch that fails it goes through the full bookkeeping)."""
        if not self._clean:
            return False
        if self._limit is None or self._limit[0] is not self.first:
            limit: Any = math.inf
            if math.isfinite(self.factor):
                limit = (self.factor * self.first.clamp_min(1e-8)).tolist()
            self._limit = (self.first, limit)
        limit = self._limit[1]
        if isinstance(limit, float):
            if isinstance(rows[0], float):
                return all(abs(v) < limit for v in rows)
            return all(abs(v) < limit for values in rows for v in values)
        return all(abs(v) < m for values in rows for v, m in zip(values, limit, strict=True))

    def settle(self) -> None:
        """Fold the losses since the last check into first / bad / peak."""
        if not self._since_check:
            return
        stretch, self._since_check = self._since_check, []
        losses = torch.stack([loss for loss, _, _ in stretch])  # (n,) or (n, K)
        rows = losses.tolist() if self.host else []  # float32 -> Python float: exact
        if self.sum_on_host:
            self._add_on_host(rows, [size for _, size, _ in stretch])
        if self.first is None:
            self.first = losses[0].clone()
        if self.bad is None:
            self.bad = torch.zeros_like(self.first, dtype=torch.bool)
            self.bad_step = torch.full_like(self.first, -1, dtype=torch.long)
            self.bad_value = torch.zeros_like(self.first)
            self.peak = losses[0].clone()
            self._clean = True
        if self.host and self._below_limit(rows):  # all counted: the general rule's peak
            self.peak = torch.fmax(self.peak, losses.amax(0))
            return
        steps = torch.tensor([step for _, _, step in stretch], device=losses.device)
        bad_now = ~torch.isfinite(losses)
        if math.isfinite(self.factor):
            bad_now |= losses > self.factor * self.first.clamp_min(1e-8)
        hits = bad_now.int()
        first_hit = hits.argmax(0)  # each member's first bad loss in this stretch (0: none)
        newly = bad_now.any(0) & ~self.bad
        self.bad_step = torch.where(newly, steps[first_hit], self.bad_step)
        self.bad_value = torch.where(newly, losses.gather(0, first_hit[None])[0], self.bad_value)
        # the peak counts the losses up to and including the first bad one; NaN never counts
        counted = ~(self.bad | (hits.cumsum(0) - hits > 0)) & ~losses.isnan()
        top = torch.where(counted, losses, -math.inf).amax(0)
        self.peak = torch.where(top == -math.inf, self.peak, torch.fmax(self.peak, top))
        self.bad |= bad_now.any(0)
        self._clean = self._clean and not (self.host and bool(self.bad.any()))

    def all_bad(self) -> bool:
        """A single model stops at its first bad loss; a stack's hook drops bad members at the
        epoch's end (the others go on, as they would alone)."""
        self.settle()
        return self.bad is not None and self.bad.dim() == 0 and bool(self.bad)

    def any_bad(self) -> bool:
        self.settle()
        return self.bad is not None and bool(self.bad.any())

    def epoch_losses(self) -> torch.Tensor:
        """Each member's size-weighted mean loss of the epoch, or its first bad value."""
        self.settle()
        mean = self.epoch_sum / self.n
        return mean if self.bad is None else torch.where(self.bad, self.bad_value.double(), mean)

    def keep(self, rows: list[int]) -> None:
        """Keep the members ``rows`` of a stack (the hook has cut the model to them)."""
        index = torch.as_tensor(rows, device=self.device)
        for name in ("first", "bad", "bad_step", "bad_value", "peak", "last", "epoch_sum"):
            value = getattr(self, name)
            if value is not None and value.dim():
                setattr(self, name, value[index])
        if self.host and self.bad is not None:
            self._clean = not bool(self.bad.any())

    def result(self, status: str, where: LoopState, resumed_at_end: bool = False) -> FitResult:
        self.settle()

        def values(t: torch.Tensor | None) -> list:
            return [] if t is None else torch.atleast_1d(t).tolist()

        bad = values(self.bad) or [False] * len(values(self.last))
        steps, bad_values = values(self.bad_step), values(self.bad_value)
        return FitResult(
            status,
            where.step,
            where.epoch,
            values(self.first),
            values(self.last),
            values(self.peak),
            [int(s) if b else None for s, b in zip(steps, bad, strict=False)],
            [float(v) if b else None for v, b in zip(bad_values, bad, strict=False)],
            resumed_at_end,
        )


@dataclass
class Checkpointing:
    """When to checkpoint: every ``every_epochs`` epochs (at most once per ``min_interval_s``),
    every ``every_steps`` steps or ``every_s`` seconds (mid-epoch), and at the end."""

    every_epochs: int = 0
    min_interval_s: float = 0.0
    every_steps: int = 0
    every_s: float = 0.0


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class BatchLoss:
    """Forward and backward of one batch: the batch's mean loss (detached) is returned and its
    gradient accumulated in the parameters, under autocast at ``precision`` (fp16 adds a loss
    scaler: :attr:`scaler`), in pieces of ``micro_batch`` examples if asked (each piece's loss
    weighted by its share of the batch), with ``objective(x, y, step)`` in place of
    ``model.objective`` if given (mixup)."""

    def __init__(
        self,
        model: Any,
        precision: str,
        device_type: str,
        objective: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] | None,
        micro_batch: int | None,
    ) -> None:
        self.model, self.objective, self.micro_batch = model, objective, micro_batch
        self.device_type, self.amp_dtype = device_type, AMP_DTYPES.get(precision)
        self.scaler = torch.amp.GradScaler(device_type) if precision == "fp16" else None
        self.single_ok = not has_batch_norm(model)  # BatchNorm: a last piece of one joins
        self.common = not micro_batch and objective is None and self.scaler is None
        self._seeds: dict[tuple, torch.Tensor] = {}

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.amp_dtype)

    def per_example(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """The model's own loss per example ((batch,), or (K, batch) for a stack)."""
        if self.amp_dtype is None:
            return self.model.objective(xb, yb)["loss"]
        with self.autocast():
            return self.model.objective(xb, yb)["loss"]

    def plain(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """The model's own mean loss (one per member of a stack)."""
        loss = self.per_example(xb, yb)
        return (loss if loss.dtype == torch.float32 else loss.float()).mean(-1)

    def seed(self, loss: torch.Tensor) -> torch.Tensor:
        """The gradient that ``loss.mean(-1)`` (summed over a stack's members) hands back to the
        per-example ``loss``: made by the same ops autograd's mean backward runs (ones expanded
        over the batch, divided by its size), so the parameters' gradients are bitwise those of
        ``loss.mean(-1).sum().backward()`` without the mean's autograd node and backward ops."""
        key = (loss.shape, loss.device)
        seed = self._seeds.get(key)
        if seed is None:
            one = torch.ones((1,) * loss.dim(), dtype=loss.dtype, device=loss.device)
            seed = self._seeds[key] = one.expand(loss.shape) / loss.shape[-1]
        return seed

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        if self.common:  # without the general path's bookkeeping
            loss = self.per_example(xb, yb)
            if loss.dtype == torch.float32 and loss.requires_grad:
                loss.backward(self.seed(loss))
                return loss.detach().mean(-1)
            loss = (loss if loss.dtype == torch.float32 else loss.float()).mean(-1)
            (loss if loss.dim() == 0 else loss.sum()).backward()
            return loss.detach()
        if self.micro_batch:
            size, ok = self.micro_batch, self.single_ok
            pieces = zip(split_pieces(xb, size, ok), split_pieces(yb, size, ok), strict=True)
        else:
            pieces = ((xb, yb),)
        total = None
        for xc, yc in pieces:
            if self.objective is None:
                loss = self.plain(xc, yc)
            else:
                with self.autocast():
                    loss = self.objective(xc, yc, step)
            if loss.dim() and len(xc) < len(xb):
                raise ValueError("micro_batch: a stack of models trains on whole batches")
            share = len(xc) / len(xb)
            scaled = (loss if loss.dim() == 0 else loss.sum()) * share
            (scaled if self.scaler is None else self.scaler.scale(scaled)).backward()
            part = loss.detach() if share == 1.0 else loss.detach() * share
            total = part if total is None else total + part
        return total


class Checkpointer:
    """The loop's checkpoint: what it holds, when one is due, and resuming from it.

    A run resumes from its checkpoint of the same ``phase``; ``settled`` False marks one written
    mid-iteration (a signal at the last step), whose step still owes its epoch end.
    """

    def __init__(
        self,
        run: RunLike,
        phase: str,
        when: Checkpointing,
        parts: dict[str, Any],
        extra_state: Callable[[], dict[str, Any]] | None,
    ) -> None:
        self.run, self.phase, self.when, self.extra_state = run, phase, when, extra_state
        self.parts = parts  # model, optimizer, scheduler (or None), scaler (or None)
        self.last = self.last_mid = time.monotonic()

    def resume(self, where: LoopState, ledger: LossLedger, device: torch.device) -> bool | None:
        """Load the checkpoint of this phase into the parts, ``where`` and ``ledger``; its
        ``settled`` flag, or None when there is none."""
        saved = self.run.load_checkpoint()
        if saved is None or saved.get("phase") != self.phase:
            return None
        model, optimizer = self.parts["model"], self.parts["optimizer"]
        scheduler, scaler = self.parts["scheduler"], self.parts["scaler"]
        check_train_state(
            saved, model, optimizer, scheduler, getattr(self.run, "checkpoint_path", None)
        )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None and saved.get("scheduler") is not None:
            scheduler.load_state_dict(saved["scheduler"])
        if scaler is not None and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        where.step, where.epoch, where.batch_index = (
            saved["step"],
            saved["epoch"],
            saved["batch_index"],
        )
        if saved.get("first_loss") is not None:
            ledger.first = torch.as_tensor(saved["first_loss"], device=device)
        if saved.get("epoch_sum") is not None:
            ledger.epoch_sum = torch.as_tensor(
                saved["epoch_sum"], dtype=torch.float64, device=device
            )
        _set_rng_state(saved["rng"])
        return saved.get("settled", True)

    def mid_epoch_due(self, step: int) -> bool:
        when = self.when
        return bool(when.every_steps and step % when.every_steps == 0) or bool(
            when.every_s and time.monotonic() - self.last_mid >= when.every_s
        )

    def epoch_due(self, epoch: int, epoch_done: bool, finished: bool) -> bool:
        when = self.when
        if not when.every_epochs:
            return False
        due = epoch_done and epoch % when.every_epochs == 0
        return finished or (due and time.monotonic() - self.last >= when.min_interval_s)

    def save(self, where: LoopState, ledger: LossLedger, settled: bool = True) -> None:
        self.last = self.last_mid = time.monotonic()
        ledger.settle()
        scheduler, scaler = self.parts["scheduler"], self.parts["scaler"]
        payload = {
            "phase": self.phase,
            "settled": settled,
            "model": self.parts["model"].state_dict(),
            "optimizer": self.parts["optimizer"].state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "step": where.step,
            "epoch": where.epoch,
            "batch_index": where.batch_index,
            "first_loss": None if ledger.first is None else ledger.first.tolist(),
            "epoch_sum": None if ledger.epoch_sum is None else ledger.epoch_sum.tolist(),
            "rng": _rng_state(),
            "scaler": scaler.state_dict() if scaler is not None else {},
        }
        if self.extra_state is not None:
            payload.update(self.extra_state())
        self.run.save_checkpoint(payload)


class LossRows:
    """The rows the loop logs: the training loss every ``log_every`` steps (single models) and
    the step a model diverged at."""

    def __init__(self, run: RunLike, phase: str, per_epoch: int, optimizer: Any) -> None:
        self.run, self.phase, self.per_epoch, self.optimizer = run, phase, per_epoch, optimizer

    def loss(self, where: LoopState, last: torch.Tensor) -> str | None:
        """Log the last step's loss (a stack logs none); the progress bar's note."""
        if last.dim():
            return None
        value = last.item()
        lr = self.optimizer.param_groups[0]["lr"]
        self.run.log({"step": where.step, "epoch": where.epoch, "phase": self.phase,
                      "train_batch_loss": value, "lr": lr})  # fmt: skip
        return f"loss {value:.4g}"

    def diverged(self, ledger: LossLedger) -> None:
        step = int(torch.atleast_1d(ledger.bad_step)[0])
        value = float(torch.atleast_1d(ledger.bad_value)[0])
        self.run.log({"step": step, "epoch": step // self.per_epoch, "phase": self.phase,
                      "train_batch_loss": value})  # fmt: skip


def fit(
    model: Any,
    batches: Batches | Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any = None,
    *,
    epochs: int,
    max_steps: int | None = None,
    log_every: int = 50,
    diverge_factor: float = math.inf,
    precision: str = "fp32",
    run: RunLike = NULL_RUN,
    phase: str = "train",
    checkpointing: Checkpointing | None = None,
    on_epoch_end: EpochHook | None = None,
    on_finish: Callable[[int, int], None] | None = None,
    check_after_last: bool = False,
    progress: str | None = None,
    extra_state: Callable[[], dict[str, Any]] | None = None,
    transform: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
    objective: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] | None = None,
    micro_batch: int | None = None,
) -> FitResult:
    """Train ``model`` for ``epochs`` epochs (or ``max_steps`` steps) of ``batches``.

    Callbacks: ``on_epoch_end(epoch, epoch_losses, last, step)`` after every epoch (evaluation,
    scoring, stopping: ``epoch`` counts from 1; ``epoch_losses`` holds each member's mean batch
    loss of the epoch in float64, or its first bad value; ``last``: no epoch follows) returns None
    to go on, True to stop, or the rows of a stacked model that go on (the hook has cut the
    model and optimizer to them); ``on_finish(epoch, step)`` once if the loop ends mid-epoch
    (``max_steps``), before its last checkpoint. Checkpoints (:class:`Checkpointer`), preemption
    (:mod:`initlab.preemption`: checkpoint, then stop), metering and plugins
    (:mod:`initlab.hooks`: ``loop_start``, ``step``) attach at the points marked below.
    ``check_after_last``: also check the loss of the batch after the last step (a probe's "did
    it stay stable" includes the state it ends in). ``transform(x, step)`` turns each training
    batch's inputs into what the model sees (:func:`initlab.accel.prepare_batch`);
    ``objective`` and ``micro_batch``: see :class:`BatchLoss`. Rows go to ``run`` tagged with
    ``phase``; a resumed run truncates its ``metrics.csv`` rows of this phase to its step.
    """
    per_epoch = batches.per_epoch
    total = epochs * per_epoch if max_steps is None else min(epochs * per_epoch, max_steps)
    batch_loss = BatchLoss(model, precision, batches.x.device.type, objective, micro_batch)
    scaler = batch_loss.scaler
    ledger = LossLedger(diverge_factor, batches.n, batches.x.device)
    rows, at = LossRows(run, phase, per_epoch, optimizer), LoopState()
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
    saver = Checkpointer(run, phase, checkpointing or Checkpointing(), parts, extra_state)
    settled = saver.resume(at, ledger, batches.x.device)
    run.truncate(at.step if at.step or at.epoch else -1, phase)
    # a checkpoint written mid-iteration (a signal at the last step) still owes that step its
    # epoch end / final evaluation: the loop goes through it once more (no step)
    owed, ran = settled is False, False
    bar = Progress(total, phase if progress is None else progress, initial=at.step)
    model.train()
    try:
        with preemption.watch() as stop:
            while (at.epoch < epochs and at.step < total) or owed:
                owed, ran = False, True
                hooks.emit("loop_start")  # the epoch's steps are timed, its evaluation is not
                while at.batch_index < per_epoch and at.step < total:
                    xb, yb, size = batches.get(at.epoch, at.batch_index)
                    if transform is not None:
                        xb = transform(xb, at.step)
                    optimizer.zero_grad(set_to_none=True)
                    loss = batch_loss(xb, yb, at.step)  # forward and backward
                    if scaler is None:
                        optimizer.step()
                    else:
                        scaler.step(optimizer)
                        scaler.update()
                    if scheduler is not None:
                        scheduler.step()
                    ledger.add(loss, size, at.step)
                    at.step, at.batch_index = at.step + 1, at.batch_index + 1
                    bar.update(1)
                    hooks.emit("step", step=at.step)
                    logged, mid = at.step % log_every == 0, saver.mid_epoch_due(at.step)
                    if not (logged or mid or stop.requested):
                        continue
                    # a check point: divergence first, then the loss row, then a checkpoint
                    if ledger.all_bad():
                        rows.diverged(ledger)
                        return ledger.result("diverged", at)
                    if logged:
                        bar.note = rows.loss(at, ledger.last) or bar.note
                    if stop.requested or (mid and at.batch_index < per_epoch):
                        if not ledger.any_bad():
                            saver.save(at, ledger, settled=False)
                        stop.raise_if_requested(at.step)
                # the end of an epoch, or of the run mid-epoch
                epoch_done, finished = at.batch_index >= per_epoch, at.step >= total
                if ledger.all_bad():
                    rows.diverged(ledger)
                    return ledger.result("diverged", at)
                if epoch_done:
                    at.epoch, at.batch_index = at.epoch + 1, 0
                finished = finished or at.epoch >= epochs
                if finished and check_after_last:
                    xb, yb, _ = batches.get(*divmod(at.step, per_epoch))
                    with torch.no_grad():
                        ledger.add(batch_loss.plain(xb, yb), 0, at.step)
                    if ledger.all_bad():
                        return ledger.result("diverged", at)
                if epoch_done:
                    answer = None
                    if on_epoch_end is not None:
                        answer = on_epoch_end(at.epoch, ledger.epoch_losses(), finished, at.step)
                    ledger.epoch_sum = None
                    if answer is True or (isinstance(answer, list) and not answer):
                        return ledger.result("completed", at)
                    if isinstance(answer, list):
                        ledger.keep(answer)
                elif finished and on_finish is not None:
                    on_finish(at.epoch, at.step)
                if saver.epoch_due(at.epoch, epoch_done, finished) or stop.requested:
                    saver.save(at, ledger)
                stop.raise_if_requested(at.step)
    finally:
        bar.close()
    return ledger.result("completed", at, resumed_at_end=settled is not None and not ran)


def _mixup_objective(
    model: nn.Module, alpha: float, seed: int
) -> Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] | None:
    """The mixup training loss (``task.mixup_alpha`` > 0), or None: the model's own objective."""
    if not alpha:
        return None
    return lambda x, y, step: mixup_loss(model, x, y, alpha, seed, step)


def train_model(
    model: nn.Module,
    data: DataBundle,
    loop: TrainLoopConfig,
    optim: OptimConfig,
    run: RunLike,
    seed: int,
    phase: str = "train",
) -> TrainOutcome:
    """Train ``model`` on ``data.train`` with :func:`fit`, evaluating train/val/test every
    ``eval_every`` epochs and at the end; rows tagged with ``phase`` go through ``run``."""
    from initlab.run import runtime

    x_train, y_train = data.split("train")
    n = len(x_train)
    key = "task.full_batch" if loop.full_batch else "task.batch_size"
    if loop.micro_batch == 1 and has_batch_norm(model):
        raise ConfigError(
            "task.micro_batch: pieces of 1 example cannot train a model with BatchNorm (it "
            "normalizes over each piece); use at least 2"
        )
    batches = batches_for(model, x_train, y_train, n if loop.full_batch else loop.batch_size,
                          seed, key)  # fmt: skip
    total = loop.epochs * batches.per_epoch
    if loop.max_steps is not None:
        total = min(total, loop.max_steps)
    prepare_model(model, loop, data.is_image)  # initlab.accel: channels_last, torch.compile
    optimizer, scheduler = build_optimizer(optim, model, total)
    metrics: dict[str, Any] = {}

    def on_epoch_end(epoch: int, losses: torch.Tensor, last: bool, step: int) -> None:
        nonlocal metrics
        if epoch % loop.eval_every == 0 or last:
            with eval_autocast(model, loop.precision):  # evaluation at the loop's precision too
                metrics = evaluate_splits(model, data, loop.eval_batch_size, loop.eval_examples)
            run.log({"step": step, "epoch": epoch, "phase": phase, **metrics})

    def on_finish(epoch: int, step: int) -> None:  # stopped mid-epoch (max_steps)
        nonlocal metrics
        with eval_autocast(model, loop.precision):
            metrics = evaluate_splits(model, data, loop.eval_batch_size, loop.eval_examples)
        run.log({"step": step, "epoch": epoch, "phase": phase, **metrics})

    settings = runtime()
    checkpointing = Checkpointing(
        every_epochs=loop.checkpoint_every,
        min_interval_s=loop.checkpoint_interval_s,
        every_steps=settings.checkpoint_every_steps if loop.checkpoint_every else 0,
        every_s=settings.checkpoint_every_s if loop.checkpoint_every else 0.0,
    )
    result = fit(
        model,
        batches,
        optimizer,
        scheduler,
        epochs=loop.epochs,
        max_steps=loop.max_steps,
        log_every=loop.log_every,
        diverge_factor=loop.diverge_factor,
        precision=loop.precision,
        run=run,
        phase=phase,
        checkpointing=checkpointing,
        on_epoch_end=on_epoch_end,
        on_finish=on_finish,
        transform=batch_transform(loop, seed),
        objective=_mixup_objective(model, getattr(loop, "mixup_alpha", 0.0), seed),
        micro_batch=loop.micro_batch,
    )
    if result.status == "diverged":
        extra = {
            "diverged_at_step": result.diverged_at_step[0],
            "loss_at_divergence": result.loss_at_divergence[0],
        }
        return TrainOutcome("diverged", {**metrics, **extra}, result.diverged_at_step[0])
    if not metrics:  # no epoch end ran (no steps, or resumed at the end): evaluate the model
        with eval_autocast(model, loop.precision):
            metrics = evaluate_splits(model, data, loop.eval_batch_size, loop.eval_examples)
        if not result.resumed_at_end:  # else its row was logged before that checkpoint
            run.log({"step": result.steps, "epoch": result.epochs, "phase": phase, **metrics})
    return TrainOutcome(
        "completed", {**metrics, "steps": result.steps, "epochs": result.epochs}, result.steps
    )
