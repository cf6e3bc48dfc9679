"""The one training loop: every optimizer step of initlab runs in :func:`fit`.

``task=train``, ``train_vae``, learning-rate probes, grid-search members (one by one or stacked),
PDI stages, angle draws, DDP ranks and :func:`initlab.analysis.lr_search.gd_diverges` all call
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

from initlab import hooks, meter, preemption
from initlab.accel import prepare_batch, prepare_model
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
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> dict:
    """Every key of ``model.objective`` averaged over (x, y), in eval mode."""
    was_training = model.training
    model.eval()
    totals: dict[str, torch.Tensor] = {}
    for start in range(0, len(x), batch_size):
        values = model.objective(x[start : start + batch_size], y[start : start + batch_size])
        for key, per_example in values.items():
            part = per_example.sum().double()
            totals[key] = totals[key] + part if key in totals else part
    model.train(was_training)
    n = max(len(x), 1)
    return {key: total.item() / n for key, total in totals.items()}


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
    set's AUC metric where it has one."""
    metrics = {}
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        x, y = x[:examples], y[:examples]
        if len(x):
            for key, value in evaluate(model, x, y, batch_size).items():
                metrics[f"{split}_{key}"] = float(value)
            if data.metric in ("auc", "mean_auc"):
                metrics[f"{split}_{data.metric}"] = score(model, x, y, data.metric, batch_size)
    return metrics


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
    """Where the loop is; device tensors hold the per-member accumulators (see module doc)."""

    step: int = 0
    epoch: int = 0
    batch_index: int = 0
    first_loss: torch.Tensor | None = None  # () or (K,)
    epoch_sum: torch.Tensor | None = None  # float64, size-weighted sum of this epoch's losses
    bad: torch.Tensor | None = None
    bad_step: torch.Tensor | None = None
    bad_value: torch.Tensor | None = None
    peak: torch.Tensor | None = None  # the largest loss seen (probes report it)
    last: torch.Tensor | None = None  # the last step's loss


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


EpochHook = Callable[[int, torch.Tensor, bool, int], "list[int] | None | bool"]


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

    ``on_epoch_end(epoch, epoch_losses, last, step)`` runs after every epoch (``epoch`` counts
    from 1; ``epoch_losses`` holds each member's size-weighted mean batch loss of the epoch in
    float64, or its first non-finite / diverged value; ``last``: no epoch follows; ``step``: steps
    so far). It returns None to go
    on, True to stop, or the rows of a stacked model that go on training (the model and the
    optimizer have been cut to them by the hook). ``on_finish(epoch, step)`` runs once if the
    loop ends mid-epoch (``max_steps``), before its last checkpoint (a final evaluation logged
    there is in the checkpoint's rows: a resume from it does not log it again;
    :attr:`FitResult.resumed_at_end`). ``check_after_last``: also compute and check
    the loss of the batch after the last step (a probe's "did it stay stable" includes the state
    it ends in). Rows go to ``run`` tagged with ``phase``; a run resumes from its checkpoint of
    the same phase and truncates its ``metrics.csv`` rows of this phase to the checkpoint's step.
    ``transform(x, step)``, if given, turns each training batch's inputs into what the model sees
    (:func:`initlab.accel.prepare_batch`: on-device augmentation seeded by step, memory layout).
    ``objective(x, y, step)``, if given, is the training loss of a batch in place of
    ``model.objective`` (mixup: :func:`initlab.data.mixup.mixup_loss`); evaluation never uses it.
    ``micro_batch``: each batch goes forward and backward in pieces of this many examples, each
    piece's loss weighted by its share of the batch, so the step's gradient and logged loss are
    the whole batch's (up to rounding) while only one piece's activations are held (a single
    model only; BatchNorm then normalizes over pieces, as it would per GPU under DDP).
    """
    per_epoch = batches.per_epoch
    total = epochs * per_epoch if max_steps is None else min(epochs * per_epoch, max_steps)
    device_type = batches.x.device.type
    amp_dtype = AMP_DTYPES.get(precision)
    scaler = torch.amp.GradScaler(device_type, enabled=precision == "fp16")
    ckpt = checkpointing or Checkpointing()
    state = LoopState()

    saved = run.load_checkpoint()
    resumed = saved is not None and saved.get("phase") == phase
    settled = True  # the checkpoint's step has been through its epoch-end / finish handling
    if resumed:
        check_train_state(saved, model, optimizer, scheduler, getattr(run, "checkpoint_path", None))
        settled = saved.get("settled", True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
        state.step, state.epoch, state.batch_index = (
            saved["step"],
            saved["epoch"],
            saved["batch_index"],
        )
        if saved.get("first_loss") is not None:
            state.first_loss = torch.as_tensor(saved["first_loss"], device=batches.x.device)
        if saved.get("epoch_sum") is not None:
            state.epoch_sum = torch.as_tensor(
                saved["epoch_sum"], dtype=torch.float64, device=batches.x.device
            )
        _set_rng_state(saved["rng"])
        if "scaler" in saved:
            scaler.load_state_dict(saved["scaler"])
    run.truncate(state.step if state.step or state.epoch else -1, phase)

    last_checkpoint = last_mid = time.monotonic()

    def checkpoint(settled: bool = True) -> None:
        nonlocal last_checkpoint, last_mid
        last_checkpoint = last_mid = time.monotonic()
        payload = {
            "phase": phase,
            "settled": settled,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "step": state.step,
            "epoch": state.epoch,
            "batch_index": state.batch_index,
            "first_loss": None if state.first_loss is None else state.first_loss.tolist(),
            "epoch_sum": None if state.epoch_sum is None else state.epoch_sum.tolist(),
            "rng": _rng_state(),
            "scaler": scaler.state_dict(),
        }
        if extra_state is not None:
            payload.update(extra_state())
        run.save_checkpoint(payload)

    def outcome(status: str, resumed_at_end: bool = False) -> FitResult:
        def values(t: torch.Tensor | None) -> list:
            return [] if t is None else torch.atleast_1d(t).tolist()

        bad = values(state.bad) or [False] * len(values(state.last))
        steps, bad_values = values(state.bad_step), values(state.bad_value)
        return FitResult(
            status,
            state.step,
            state.epoch,
            values(state.first_loss),
            values(state.last),
            values(state.peak),
            [int(s) if b else None for s, b in zip(steps, bad, strict=False)],
            [float(v) if b else None for v, b in zip(bad_values, bad, strict=False)],
            resumed_at_end,
        )

    def accumulate(loss: torch.Tensor, size: int, step: int) -> None:
        """Device-side bookkeeping of one step's loss (no host sync)."""
        detached = loss.detach()
        if state.first_loss is None:
            state.first_loss = detached.clone()
        if state.bad is None:
            state.bad = torch.zeros_like(detached, dtype=torch.bool)
            state.bad_step = torch.full_like(detached, -1, dtype=torch.long)
            state.bad_value = torch.zeros_like(detached)
            state.peak = detached.clone()
        bad_now = ~torch.isfinite(detached)
        if math.isfinite(diverge_factor):
            bad_now |= detached > diverge_factor * state.first_loss.clamp_min(1e-8)
        newly = bad_now & ~state.bad
        state.bad_step = torch.where(newly, step, state.bad_step)
        state.bad_value = torch.where(newly, detached, state.bad_value)
        # the peak up to and including the first bad loss (NaN never counts as a peak)
        state.peak = torch.where(state.bad, state.peak, torch.fmax(state.peak, detached))
        state.bad |= bad_now
        weighted = detached.double() * size
        state.epoch_sum = weighted if state.epoch_sum is None else state.epoch_sum + weighted
        state.last = detached

    def all_bad() -> bool:
        """A single model stops at its first bad loss; a stack's hook drops bad members at the
        epoch's end (the others go on, as they would alone)."""
        return state.bad is not None and state.bad.dim() == 0 and bool(state.bad)

    def epoch_losses(n_rows: int) -> torch.Tensor:
        mean = state.epoch_sum / batches.n
        if state.bad is None:  # resumed right at the epoch's end: no step since (none bad)
            return mean
        return torch.where(state.bad, state.bad_value.double(), mean) if n_rows else mean

    def reindex(rows: list[int]) -> None:
        index = torch.as_tensor(rows, device=batches.x.device)
        for name in ("first_loss", "bad", "bad_step", "bad_value", "peak", "last", "epoch_sum"):
            value = getattr(state, name)
            if value is not None and value.dim():
                setattr(state, name, value[index])

    def diverged_row() -> None:
        step = int(torch.atleast_1d(state.bad_step)[0])
        value = float(torch.atleast_1d(state.bad_value)[0])
        run.log({"step": step, "epoch": step // per_epoch, "phase": phase,
                 "train_batch_loss": value})  # fmt: skip

    def autocast() -> contextlib.AbstractContextManager:
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=amp_dtype)

    def forward_backward(xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        """The batch's mean loss (detached), its gradient accumulated in the parameters."""
        pieces = (
            (split_pieces(xb, micro_batch, single_ok), split_pieces(yb, micro_batch, single_ok))
            if micro_batch
            else ((xb,), (yb,))
        )
        total = None
        for xc, yc in zip(*pieces, strict=True):
            with autocast():
                if objective is None:
                    loss = model.objective(xc, yc)["loss"].float().mean(-1)
                else:
                    loss = objective(xc, yc, step)
            if loss.dim() and len(pieces[0]) > 1:
                raise ValueError("micro_batch: a stack of models trains on whole batches")
            share = len(xc) / len(xb)
            scaler.scale((loss if loss.dim() == 0 else loss.sum()) * share).backward()
            part = loss.detach() * share  # one piece: share 1.0, exact
            total = part if total is None else total + part
        return total

    single_ok = not has_batch_norm(model)  # BatchNorm: a last piece of one joins the one before
    bar = Progress(total, f"{phase}" if progress is None else progress, initial=state.step)
    model.train()
    # a checkpoint written mid-iteration (a signal at the last step) still owes that step its
    # epoch end / final evaluation: the loop goes through it once more (no step)
    pending = not settled
    ran = False
    try:
        with preemption.watch() as stop:
            while (state.epoch < epochs and state.step < total) or pending:
                pending, ran = False, True
                meter.mark()  # the epoch's steps are timed; its evaluation after them is not
                while state.batch_index < per_epoch and state.step < total:
                    xb, yb, size = batches.get(state.epoch, state.batch_index)
                    if transform is not None:  # initlab.accel: augmentation, layout
                        xb = transform(xb, state.step)
                    optimizer.zero_grad(set_to_none=True)
                    accumulate(forward_backward(xb, yb, state.step), size, state.step)
                    scaler.step(optimizer)
                    scaler.update()
                    if scheduler is not None:
                        scheduler.step()
                    meter.tick()  # the run's seconds per step (initlab.meter)
                    state.step += 1
                    state.batch_index += 1
                    bar.update(1)
                    hooks.emit("step", step=state.step)  # initlab.hooks: a step is done
                    logged = state.step % log_every == 0
                    mid = (ckpt.every_steps and state.step % ckpt.every_steps == 0) or (
                        ckpt.every_s and time.monotonic() - last_mid >= ckpt.every_s
                    )
                    if not (logged or mid or stop.requested):
                        continue
                    if all_bad():  # a check point: divergence first
                        diverged_row()
                        return outcome("diverged")
                    if logged and state.last.dim() == 0:
                        value = state.last.item()
                        row = {"step": state.step, "epoch": state.epoch, "phase": phase,
                               "train_batch_loss": value}  # fmt: skip
                        if scheduler is not None:
                            row["lr"] = scheduler.get_last_lr()[0]
                        run.log(row)
                        bar.note = f"loss {value:.4g}"
                    if stop.requested or (mid and state.batch_index < per_epoch):
                        if state.bad is None or not bool(state.bad.any()):
                            checkpoint(settled=False)
                        stop.raise_if_requested(state.step)
                epoch_done = state.batch_index >= per_epoch
                finished_steps = state.step >= total
                if all_bad():
                    diverged_row()
                    return outcome("diverged")
                if epoch_done:
                    state.epoch, state.batch_index = state.epoch + 1, 0
                finished = state.epoch >= epochs or finished_steps
                if finished and check_after_last:
                    xb, yb, size = batches.get(*divmod(state.step, per_epoch))
                    with torch.no_grad(), autocast():
                        loss = model.objective(xb, yb)["loss"].float().mean(-1)
                    accumulate(loss, 0, state.step)
                    if all_bad():
                        return outcome("diverged")
                if epoch_done and on_epoch_end is not None:
                    losses = epoch_losses(1)
                    answer = on_epoch_end(state.epoch, losses, finished, state.step)
                    state.epoch_sum = None
                    if answer is True:
                        return outcome("completed")
                    if isinstance(answer, list):
                        if not answer:
                            return outcome("completed")
                        reindex(answer)
                elif epoch_done:
                    state.epoch_sum = None
                if finished and not epoch_done and on_finish is not None:
                    on_finish(state.epoch, state.step)
                due = epoch_done and ckpt.every_epochs and state.epoch % ckpt.every_epochs == 0
                waited = time.monotonic() - last_checkpoint >= ckpt.min_interval_s
                if ckpt.every_epochs and (finished or (due and waited)) or stop.requested:
                    checkpoint()
                stop.raise_if_requested(state.step)
    finally:
        bar.close()
    return outcome("completed", resumed_at_end=resumed and not ran)


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
        transform=lambda x, step: prepare_batch(x, loop, seed, step),
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
