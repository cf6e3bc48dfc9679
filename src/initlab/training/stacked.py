"""Train K models of one architecture together: one batched forward and update for all.

Small networks on small tables spend most of each step in kernel launches and Python, so a
hyper-parameter grid trained one member at a time is overhead-bound (on a GPU: each step costs
what its launches cost). Here K members whose parameters and buffers have the same shapes form a
stack: a copy of the model whose layers hold all K members' tensors with a leading member dim
(:mod:`initlab.training.stacked_layers`: one ``bmm`` per Linear, one ``batch_norm`` per
BatchNorm with each member's own statistics, per-member dropout rates and masks), one
``backward`` of the summed per-member losses (independent terms: member k's gradient is that
of its own loss), and one update of all members (:mod:`initlab.training.stacked_optim`: SGD or
Adam, per-member lr, momentum, weight decay). Models whose layers have no batched twin but no
buffers either run through ``vmap`` of ``functional_call``, which is also the path when members
see different batches.

Each member k sees the batches of ``epoch_order(n, order_seeds[k], epoch)`` (the order
``initlab.training`` uses); when all seeds are equal the batch is shared and not replicated.
The result equals training each member alone with the same order and ``torch.optim.SGD`` /
``Adam`` to float32 rounding (``tests/training/test_stacked.py``). With dropout, pass each
member's random state as its one-by-one run would start training (``rng_states``; e.g.
``torch.get_rng_state()`` right after building it): on CPU its masks are then drawn exactly as that
run draws them. Without, or on CUDA, one draw serves all members: statistically, not bitwise, the
one-by-one masks.

The steps run in the one training loop, :func:`initlab.training.fit`: the stack is its model
(:meth:`StackedModels.objective` gives one loss per member and example, so the loop's loss has
shape (K,) and each member's divergence is checked on its own), the stacked optimizer its
optimizer. No host sync per step: the loop keeps the per-member losses on the device and reads
them at epoch ends.

What torch.func (``vmap`` of ``functional_call`` over ``stack_module_state``) does not give,
and what the batched layers (:mod:`~initlab.training.stacked_layers`) and the stacked optimizer
keep for it:

* per-member optimizer settings on one stacked tensor: torch.func has no optimizer and
  ``torch.optim`` takes one lr, momentum and weight decay per tensor;
  :class:`~initlab.training.stacked_optim.StackedOptimizer` updates the (K, ...) tensor with one
  lr (momentum, weight decay) per member;
* per-member dropout rates, and on CPU each member's masks bitwise as its one-by-one run draws
  them (``vmap(randomness="different")`` draws other masks);
* per-member BatchNorm statistics, fast: ``vmap`` gives them too when the buffers are stacked
  as well (checked on torch 2.14: logits and running means bitwise equal to
  :class:`~initlab.training.stacked_layers.StackedBatchNorm1d`'s), but a forward and backward of
  16 BatchNorm MLPs (depth 4, batch 32, 1 thread, loaded 2-core machine) took 1.31x (width 256)
  to 1.84x (width 32) longer under ``vmap``.

Speed where both apply (no buffers, plain SGD; ``benchmarks/bench_stacked.py``,
``benchmarks/results/stacked.json``, 16 members, 2 CPU threads): the batched layers train
1.06x (ReLU 4 x 256), 1.14x (SELU 4 x 256), 1.27x (4 x 64) and 1.38x (4 x 32) faster than
``vmap(functional_call)``. Only the widest case is near the noise of those runs, and the
batched Linear is the same module the BatchNorm and dropout stacks need around them, so no
hand-written layer is replaced by ``vmap``; ``vmap`` remains the path for models whose layers
have no batched twin and no buffers, and for members that see different batches.

Grouping (:func:`stack_groups`): members go together when their models have the same layer types
and tensor shapes (built on the meta device, so grouping costs no memory), their optimizers share
everything but lr, momentum and weight decay, and their seeds are equal (same batch order); a
group is cut into stacks of at most ``max_members`` members and ``max_mb`` estimated memory.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from initlab.training.loop import Batches, epoch_order, fit, has_batch_norm
from initlab.training.stacked_layers import (
    DROPOUT_SLOT,
    MemberGenerators,
    StackedDropout,
    batched_copy,
    batched_copy_or_reason,
)
from initlab.training.stacked_optim import STATES, StackedOptimizer, shared_settings

__all__ = [
    "StackedModels",
    "StackedResult",
    "batched_copy",
    "load_member",
    "member_bytes",
    "stack_groups",
    "stacking_refusal",
    "train_stacked",
]

Params = dict[str, torch.Tensor]
# on_epoch_end(epoch, stack, epoch_losses) -> members to go on training, or None: all
EpochCallback = Callable[[int, "StackedModels", torch.Tensor], "Collection[int] | None"]


@dataclass
class StackedResult:
    params: Params  # every parameter with a leading member dim K
    metrics: list[dict[str, float]]  # per member: {split}_loss, {split}_accuracy
    steps: int
    buffers: Params | None = None  # every buffer (BatchNorm running statistics), likewise


@dataclass
class PlainSGD:
    """What ``train_stacked`` uses when given ``lr``/``momentum``/``weight_decay`` only."""

    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    name: str = "sgd"
    nesterov: bool = False


def settle_lazy_state(model: nn.Module) -> None:
    """Resolve state a layer sets on its first forward (weight norm's g = ||v||) now, as that
    first forward would, so the members' tensors can be stacked."""
    for module in model.modules():
        settle = getattr(module, "settle", None)
        if callable(settle):
            settle()


def _generators(states: Sequence[torch.Tensor] | None, k: int) -> list[torch.Generator] | None:
    if states is None:
        return None
    if len(states) != k:
        raise ValueError(f"rng_states: expected {k} values, got {len(states)}")
    generators = []
    for state in states:
        generator = torch.Generator()
        generator.set_state(state)
        generators.append(generator)
    return generators


class StackedModels:
    """K same-shaped models as one: batched layers, or ``vmap`` of their stacked parameters."""

    def __init__(
        self, models: Sequence[nn.Module], rng_states: Sequence[torch.Tensor] | None = None
    ) -> None:
        if not models:
            raise ValueError("need at least one model")
        for model in models:
            settle_lazy_state(model)
        self.k = len(models)
        self.rng = MemberGenerators(_generators(rng_states, self.k))
        # a parameter-free copy whose forward functional_call runs with each member's tensors
        self.base = copy.deepcopy(models[0]).to("meta")
        self.base.train(models[0].training)
        self.batched, reason = batched_copy_or_reason(models, self.rng)
        self.shapes = {name: p.shape for name, p in models[0].named_parameters()}
        if self.batched is not None:  # its layers' own tensors are the stacked parameters
            self.batched.train(models[0].training)
            self.params: Params = dict(self.batched.named_parameters())
        elif any(True for _ in models[0].buffers()):
            raise ValueError(f"models with buffers cannot be stacked here: {reason}")
        else:
            params, _ = stack_module_state(list(models))
            self.params = {name: p.detach().clone() for name, p in params.items()}
        self.members = list(range(self.k))  # which of the given models each row holds

    @property
    def buffers(self) -> Params:
        return dict(self.batched.named_buffers()) if self.batched is not None else {}

    def _assign(self, tensors: Params) -> None:
        """Hold ``tensors`` (parameters and buffers by name, leading dim: the rows)."""
        if self.batched is None:
            self.params = {name: tensors[name] for name in self.params}
            return
        for name, t in tensors.items():
            owner, _, attr = name.rpartition(".")
            module = self.batched.get_submodule(owner) if owner else self.batched
            if attr in module._parameters:
                setattr(module, attr, nn.Parameter(t))
            else:
                setattr(module, attr, t)
        self.params = dict(self.batched.named_parameters())

    def state(self) -> Params:
        return {**{n: p.detach() for n, p in self.params.items()}, **self.buffers}

    def set_params(self, params: Params, members: Sequence[int]) -> None:
        """Hold ``params`` (and buffers, leading dim: one row per entry of ``members``)."""
        self._assign(params)
        self.members = list(members)
        self.k = len(self.members)

    def keep(self, rows: Sequence[int]) -> None:
        """Go on with the rows ``rows`` of the stack only (e.g. drop diverged members)."""
        index = torch.as_tensor(list(rows), dtype=torch.long)
        kept = {name: t[index.to(t.device)] for name, t in self.state().items()}
        for module in self._dropouts():
            module.keep_rows(rows)
        self.rng.keep(rows)
        self.set_params(kept, [self.members[r] for r in rows])

    def _dropouts(self) -> list[StackedDropout]:
        if self.batched is None:
            return []
        return [m for m in self.batched.modules() if isinstance(m, StackedDropout)]

    @property
    def training(self) -> bool:
        return self.base.training

    def train(self, mode: bool = True) -> None:
        self.base.train(mode)
        if self.batched is not None:
            self.batched.train(mode)

    def logits(self, params: Params, x: torch.Tensor, shared_x: bool) -> torch.Tensor:
        """(K, batch, classes); ``x`` is (batch, ...) if ``shared_x`` else (K, batch, ...)."""

        if shared_x and self.batched is not None:
            if params is self.params:  # no parameter swap: the cheapest call per step
                return self.batched(x)
            return functional_call(self.batched, params, (x,))

        def one(p: Params, xb: torch.Tensor) -> torch.Tensor:
            return functional_call(self.base, p, (xb,))

        randomness = "different" if self.base.training else "error"
        return vmap(one, in_dims=(0, None if shared_x else 0), randomness=randomness)(params, x)

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per member and example: the training loss, (K, batch) (the one loop's objective).

        ``x`` (batch, ...) with ``y`` (batch, ...) is one batch for every member; (K, batch, ...)
        with (K, batch, ...) one batch per member: ``y`` of class labels is (batch,) or (K, batch),
        of multi-label targets (batch, tasks) or (K, batch, tasks)."""
        shared = y.dim() == (2 if y.is_floating_point() else 1)
        logits = self.logits(self.params, x, shared_x=shared)
        targets = y.expand(self.k, *y.shape) if shared else y
        return {"loss": example_losses(logits, targets)}

    def state_dict(self) -> Params:
        return {name: t.detach().clone() for name, t in self.state().items()}

    def load_state_dict(self, tensors: Params) -> None:
        self._assign(dict(tensors))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        """Every member's logits on ``x`` in eval mode: (K, n, classes), in chunks."""
        was_training = self.training
        self.train(False)
        chunks = [
            self.logits(self.params, x[start : start + batch_size], shared_x=True)
            for start in range(0, len(x), batch_size)
        ]
        self.train(was_training)
        return torch.cat(chunks, dim=1)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, prefix: str) -> list[dict[str, float]]:
        """Mean loss (and, for class labels, accuracy) of every member on (x, y), eval mode."""
        logits = self.predict(x, max(len(x), 1))
        losses = member_losses(logits, y.expand(len(logits), *y.shape))
        out = [{f"{prefix}_loss": loss} for loss in losses.tolist()]
        if not y.is_floating_point():
            for row, acc in zip(out, (logits.argmax(-1) == y).float().mean(1).tolist()):
                row[f"{prefix}_accuracy"] = acc
        return out


def example_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per member and example: the loss ``InitlabModel.objective`` trains with, (K, batch).

    ``logits`` (K, batch, outputs); ``targets`` (K, batch) class labels, or (K, batch, tasks)
    multi-label targets with NaN where unobserved (masked binary cross-entropy per example).
    """
    if targets.is_floating_point():
        observed = ~torch.isnan(targets)
        bce = F.binary_cross_entropy_with_logits(
            logits, torch.nan_to_num(targets), reduction="none"
        )
        return (bce * observed).sum(2) / observed.sum(2).clamp(min=1)
    return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")


def member_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per member: the batch mean of :func:`example_losses`, (K,)."""
    return example_losses(logits, targets).mean(1)


def load_member(
    model: nn.Module, params: Params, k: int, buffers: Params | None = None
) -> nn.Module:
    """Copy member ``k`` of stacked ``params`` (and ``buffers``) into ``model``; return it."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name][k].reshape(p.shape))
        for name, b in model.named_buffers():
            if buffers is not None and name in buffers:
                b.copy_(buffers[name][k].reshape(b.shape))
    return model


class StackedBatches:
    """The loop's batches for a stack whose members see different batch orders: x (K, b, ...).

    Batch bounds as :class:`initlab.training.Batches` (``drop_single``: a last batch of one
    example joins the one before it, as for a model with BatchNorm trained alone)."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        size: int,
        seeds: Sequence[int],
        drop_single: bool = False,
        max_batches: int | None = None,
    ) -> None:
        self.x, self.y, self.seeds = x, y, list(seeds)
        bounds = Batches(x, y, size, 0, drop_single=drop_single, max_batches=max_batches)
        self.n, self.bounds, self.per_epoch = bounds.n, bounds.bounds, bounds.per_epoch
        self._orders: tuple[int, torch.Tensor] | None = None

    def get(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if self._orders is None or self._orders[0] != epoch:
            orders = [epoch_order(self.n, seed, epoch) for seed in self.seeds]
            self._orders = (epoch, torch.stack(orders).to(self.x.device))
        idx = self._orders[1][:, self.bounds[index] : self.bounds[index + 1]]
        return self.x[idx], self.y[idx], idx.shape[1]

    def keep(self, rows: Sequence[int]) -> None:
        self.seeds = [self.seeds[r] for r in rows]
        self._orders = None


def train_stacked(
    models: Sequence[nn.Module],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    order_seeds: Sequence[int],
    lr: float | Sequence[float] | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    optims: Sequence[Any] | None = None,
    rng_states: Sequence[torch.Tensor] | None = None,
    eval_sets: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    on_epoch_end: EpochCallback | None = None,
    max_batches: int | None = None,
) -> StackedResult:
    """Train ``models`` together, each as ``torch.optim.SGD``/``Adam`` would train it alone.

    The steps run in the one loop, :func:`initlab.training.fit`, with the stack as its model
    (:meth:`StackedModels.objective`: one loss per member) and a
    :class:`~initlab.training.stacked_optim.StackedOptimizer`.

    ``optims``: one optimizer config per member (``initlab.optim`` configs: sgd or adam, with
    lr schedule and warm-up; members may differ in lr, momentum and weight decay); or plain SGD
    from ``lr`` (one value or one per member), ``momentum`` and ``weight_decay``.
    ``order_seeds`` gives each member's batch-order seed; ``rng_states`` each member's random
    state for its dropout masks (see the module docstring). The models are left untouched but for
    lazily set state (weight norm's g, as their first forward sets it); read trained member k with
    ``load_member(model, result.params, k, result.buffers)``, or use the returned metrics, which
    hold ``{split}_loss`` (and ``{split}_accuracy``) for ``train`` and every split in
    ``eval_sets``. ``max_batches`` caps the batches per epoch (None: the whole split).

    ``on_epoch_end(epoch, stack, epoch_losses)``, if given, runs after every epoch (0-based) with
    the live :class:`StackedModels` (score it with ``stack.predict``; row r of the stack is member
    ``stack.members[r]``) and a float64 tensor with one entry per row: that member's training loss
    of the epoch, the mean training-batch loss weighted by batch size (in train mode, before each
    step), or, for a member whose batch loss turned non-finite during the epoch, that first
    non-finite value (what a one-model loop that stops there reports). A member's non-finite loss
    does not touch the others: their losses and gradients are separate terms. It returns None to
    go on, or the members (indices into ``models``) to go on training: the others stop there (a
    diverged member costs no more steps) and keep their parameters of that moment; none left ends
    training.
    """
    stack = StackedModels(models, rng_states)
    k = stack.k
    if len(order_seeds) != k:
        raise ValueError(f"order_seeds: expected {k} values, got {len(order_seeds)}")
    if optims is None:
        if lr is None:
            raise ValueError("lr: give lr (plain SGD) or optims (one config per member)")
        lrs = torch.as_tensor(lr, dtype=torch.float64).flatten().tolist()
        lrs = lrs * k if len(lrs) == 1 else lrs
        if len(lrs) != k:
            raise ValueError(f"lr: expected 1 or {k} values, got {len(lrs)}")
        optims = [PlainSGD(value, momentum, weight_decay) for value in lrs]
    if len(optims) != k:
        raise ValueError(f"optims: expected {k} configs, got {len(optims)}")
    shared = len(set(order_seeds)) == 1
    drop_single = has_batch_norm(models[0])  # the batches a BatchNorm member sees alone
    if shared:
        batches: Any = Batches(
            x_train, y_train, batch_size, order_seeds[0], drop_single=drop_single,
            max_batches=max_batches,
        )  # fmt: skip
    else:
        batches = StackedBatches(
            x_train, y_train, batch_size, order_seeds, drop_single, max_batches
        )
    optimizer = StackedOptimizer(list(stack.params.values()), optims, epochs * batches.per_epoch)
    stopped: dict[int, Params] = {}  # state of members that stopped before the end

    def hook(epoch: int, losses: torch.Tensor, last: bool, step: int) -> list[int] | None:
        if on_epoch_end is None:
            return None
        go_on = on_epoch_end(epoch - 1, stack, losses)
        if go_on is None:
            return None
        go_on = set(go_on)
        rows = [r for r, m in enumerate(stack.members) if m in go_on]
        for r, m in enumerate(stack.members):
            if m not in go_on:
                stopped[m] = {name: t[r].clone() for name, t in stack.state().items()}
        if len(rows) == stack.k:
            return None
        if rows:
            stack.keep(rows)
            optimizer.keep(rows, list(stack.params.values()))
            if not shared:
                batches.keep(rows)
        return rows

    result = fit(
        stack,
        batches,
        optimizer,
        epochs=epochs,
        log_every=batches.per_epoch * max(epochs, 1),  # read losses at epoch ends only
        on_epoch_end=hook,
        progress=f"stack of {k}",
    )
    if stopped:  # every member back in its row, for the result and the final metrics
        live = {m: r for r, m in enumerate(stack.members)}
        current = stack.state()
        full = {
            name: torch.stack([stopped[m][name] if m in stopped else t[live[m]] for m in range(k)])
            for name, t in current.items()
        }
        for module in stack._dropouts():
            module.keep_rows(None)
        stack.set_params(full, range(k))
    stack.params = {name: p.detach() for name, p in stack.params.items()}
    metrics = stack.evaluate(x_train, y_train, "train")
    for split, (x, y) in (eval_sets or {}).items():
        for member, values in zip(metrics, stack.evaluate(x, y, split), strict=True):
            member.update(values)
    return StackedResult(stack.params, metrics, result.steps, stack.buffers)


# ---- which members can train together, and how many at once --------------------------------


def stacking_refusal(model: nn.Module, optim: Any) -> str | None:
    """Why ``model`` (with ``optim``) cannot train in a stack, or None if it can."""
    from initlab.models.base import InitlabModel

    if not isinstance(model, InitlabModel) or type(model).objective is not InitlabModel.objective:
        return "a model with its own objective"
    if getattr(optim, "name", None) not in STATES:
        return f"optim {getattr(optim, 'name', None)!r} (stacks know sgd and adam)"
    if getattr(optim, "scalar_lr_scale", 1.0) != 1.0:
        return "optim.scalar_lr_scale != 1 (a stack has one lr per member, not per group)"
    if getattr(optim, "bias_lr_scale", 1.0) != 1.0:
        return "optim.bias_lr_scale != 1 (a stack has one lr per member, not per group)"
    settle_lazy_state(model)
    _, reason = batched_copy_or_reason([model])
    if reason is not None and any(True for _ in model.buffers()):
        return reason
    return None


def shape_signature(model: nn.Module) -> tuple:
    """Layer types and tensor shapes: members with equal signatures fit one stack (a dropout
    slot, whatever its rate or kind, counts as one type)."""
    modules = tuple(
        (name, "dropout-slot" if isinstance(m, DROPOUT_SLOT) else type(m).__qualname__)
        for name, m in model.named_modules(remove_duplicate=False)
    )
    tensors = tuple(
        (name, tuple(t.shape), str(t.dtype))
        for name, t in [*model.named_parameters(), *model.named_buffers()]
    )
    return modules, tensors


def member_bytes(model: nn.Module, batch_size: int, eval_batch_size: int, optim: str) -> int:
    """Estimated memory one member adds to a stack (float32): weights, gradients, optimizer
    state and a foreach temporary per parameter, plus activations kept for the backward pass (4
    tensors of batch x units per layer: its output, norm, activation, dropout mask) and the
    eval chunk's widest layer."""
    numel = sum(p.numel() for p in model.parameters())
    units = sum(m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    widest = max((m.out_features for m in model.modules() if isinstance(m, nn.Linear)), default=1)
    per_param = 3 + STATES.get(optim, 2)
    return 4 * (numel * per_param + 4 * batch_size * units + 2 * eval_batch_size * widest)


def stack_groups(
    setups: Sequence[Any],
    data: Any,
    *,
    batch_size: int,
    eval_batch_size: int,
    max_mb: float,
    max_members: int,
) -> list[list[int]]:
    """Member indices in stacks (see the module docstring), in order of their first member.

    ``setups`` are the members' :class:`initlab.setup.Setup`; their models are built on the meta
    device (no memory, no init). A member whose model cannot be built there stays alone.
    """
    from initlab.models.base import build_model

    keys: list[Hashable] = []
    sizes: list[int] = []
    for index, setup in enumerate(setups):
        try:
            with torch.device("meta"):
                model = build_model(setup.model, data.input_shape, data.num_classes)
        except (RuntimeError, NotImplementedError, ValueError):
            keys.append(("alone", index))
            sizes.append(0)
            continue
        others = {k: v for k, v in setup.resolved.items() if k not in ("model", "optim", "init")}
        keys.append(
            (
                shape_signature(model),
                shared_settings(setup.optim),
                json.dumps(others, sort_keys=True, default=str),
            )
        )
        sizes.append(member_bytes(model, batch_size, eval_batch_size, setup.optim.name))
    by_key: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault(key, []).append(index)
    stacks: list[list[int]] = []
    cap = max_mb * 2**20
    for indices in by_key.values():
        current: list[int] = []
        used = 0
        for index in indices:
            if current and (len(current) >= max_members or used + sizes[index] > cap):
                stacks.append(current)
                current, used = [], 0
            current.append(index)
            used += sizes[index]
        stacks.append(current)
    return sorted(stacks, key=lambda stack: stack[0])
