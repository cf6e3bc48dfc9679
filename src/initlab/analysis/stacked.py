"""Train K models of one architecture together: stacked parameters, vmap, per-member SGD.

Small networks on small tables spend most of each step in Python and kernel launches, so a
hyper-parameter grid trained one member at a time is overhead-bound. Here the K members' parameters
are stacked along a leading dim (``torch.func.stack_module_state``), one ``vmap`` of
``functional_call`` runs all forward passes, one ``autograd.grad`` gives every member's gradient
(the summed loss has independent terms, so member k's gradient is that of its own loss), and SGD
updates all members with a (K,)-shaped learning rate broadcast over each parameter.

Each member k sees the batches of ``epoch_order(n, order_seeds[k], epoch)`` (the order
``initlab.training`` uses); when all seeds are equal the batch is shared and not replicated.
The result equals training each member alone with the same order and ``torch.optim.SGD``
(``tests/analysis/test_stacked.py`` checks this to float32 rounding).

Dropout: the forward runs under ``vmap(..., randomness="different")``, so every member draws its
own masks from the global generator, but not the masks a one-by-one run would draw (the random
stream is consumed in a different order and shape). Runs with dropout are therefore statistically,
not bitwise, equivalent to one-by-one training; the equality test uses no dropout.

Two ways to run the K forward passes, same numbers (to float32 rounding):

* batched modules (used when every member sees the same batch): a copy of the model whose
  ``nn.Linear`` / ``nn.LayerNorm`` layers hold the K members' weights, (K, out, in), and run one
  ``baddbmm``; parameter-free layers (activations, dropout) act on the (K, batch, features)
  tensors unchanged. One kernel per layer for all members, so little Python per step;
* ``vmap`` of ``functional_call`` (any module without buffers; needed when members see different
  batches, or when a model has layers the batched copy does not know).

Limits: class-label targets (cross-entropy loss, accuracy), models without buffers (so no
BatchNorm, whose running statistics vmap cannot update in place).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from initlab.training import Batches, epoch_order, fit

Params = dict[str, torch.Tensor]
# on_epoch_end(epoch, stack, epoch_losses) -> members to go on training, or None: all
EpochCallback = Callable[[int, "StackedModels", torch.Tensor], "Collection[int] | None"]


@dataclass
class StackedResult:
    params: Params  # every parameter with a leading member dim K
    metrics: list[dict[str, float]]  # per member: {split}_loss, {split}_accuracy
    steps: int


def _per_member(value: float | Sequence[float], k: int, name: str) -> torch.Tensor:
    values = torch.as_tensor(value, dtype=torch.float32).flatten()
    if values.numel() == 1:
        values = values.expand(k)
    if values.numel() != k:
        raise ValueError(f"{name}: expected 1 or {k} values, got {values.numel()}")
    return values


class StackedModels:
    """K same-shaped models as one function of stacked parameters."""

    def __init__(self, models: Sequence[nn.Module]) -> None:
        if not models:
            raise ValueError("need at least one model")
        if any(len(list(m.buffers())) for m in models):
            raise ValueError("models with buffers (e.g. BatchNorm) cannot be stacked")
        self.k = len(models)
        # a parameter-free copy whose forward functional_call runs with each member's tensors
        self.base = copy.deepcopy(models[0]).to("meta")
        self.base.train(models[0].training)
        self.batched = batched_copy(models)
        if self.batched is not None:  # its layers' own tensors are the stacked parameters
            self.batched.train(models[0].training)
            self.params: Params = dict(self.batched.named_parameters())
        else:
            params, _ = stack_module_state(list(models))
            self.params = {name: p.detach().clone() for name, p in params.items()}
        self.members = list(range(self.k))  # which of the given models each row holds

    def set_params(self, params: Params, members: Sequence[int]) -> None:
        """Hold ``params`` (leading dim: one row per entry of ``members``) as the members'."""
        if self.batched is not None:  # the batched layers hold the parameters themselves
            for name, p in params.items():
                owner, _, attr = name.rpartition(".")
                module = self.batched.get_submodule(owner) if owner else self.batched
                setattr(module, attr, nn.Parameter(p))
            self.params = dict(self.batched.named_parameters())
        else:
            self.params = dict(params)
        self.members = list(members)
        self.k = len(self.members)

    def keep(self, rows: Sequence[int]) -> None:
        """Go on with the rows ``rows`` of the stack only (e.g. drop diverged members)."""
        index = torch.as_tensor(list(rows), dtype=torch.long)
        kept = {name: p.detach()[index.to(p.device)] for name, p in self.params.items()}
        self.set_params(kept, [self.members[r] for r in rows])

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
        """Per member and example: the cross-entropy loss, (K, batch) (the loop's objective).

        ``x`` (batch, ...) with ``y`` (batch,) is one batch for every member; (K, batch, ...)
        with (K, batch) one batch per member."""
        shared = y.dim() == 1
        logits = self.logits(self.params, x, shared_x=shared)
        targets = y.expand(self.k, -1) if shared else y
        return {"loss": F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")}

    def state_dict(self) -> Params:
        return {name: p.detach().clone() for name, p in self.params.items()}

    def load_state_dict(self, params: Params) -> None:
        self.set_params(dict(params), self.members)

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
        """Mean cross-entropy and accuracy of every member on (x, y), in eval mode."""
        logits = self.predict(x, max(len(x), 1))
        k, n, c = logits.shape
        losses = F.cross_entropy(logits.reshape(k * n, c), y.repeat(k), reduction="none")
        losses = losses.view(k, n).mean(1)
        accuracy = (logits.argmax(-1) == y).float().mean(1)
        return [
            {f"{prefix}_loss": loss.item(), f"{prefix}_accuracy": acc.item()}
            for loss, acc in zip(losses, accuracy, strict=True)
        ]


class StackedLinear(nn.Module):
    """K ``nn.Linear`` layers as one: weight (K, out, in), bias (K, out).

    Input (batch, in) is shared by all members, (K, batch, in) one per member; output
    (K, batch, out).
    """

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.dim() == 2:
            h = h.expand(self.weight.shape[0], -1, -1)
        return torch.baddbmm(self.bias.unsqueeze(1), h, self.weight.transpose(1, 2))


class StackedLayerNorm(nn.Module):
    """K ``nn.LayerNorm`` layers over the last dim, each with its own affine weight and bias."""

    def __init__(self, layers: Sequence[nn.LayerNorm]) -> None:
        super().__init__()
        self.shape, self.eps = tuple(layers[0].normalized_shape), layers[0].eps
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = F.layer_norm(h, self.shape, None, None, self.eps)
        return z * self.weight.unsqueeze(1) + self.bias.unsqueeze(1)


def batched_copy(models: Sequence[nn.Module]) -> nn.Module | None:
    """A copy of ``models[0]`` whose layers hold all members' weights, or None if it cannot be.

    Its parameters have the names of the original model's (with a leading member dim), so
    ``functional_call`` with stacked parameters and :func:`load_member` work on it. A model with
    a layer type not in the table (or an affine-less LayerNorm, or a Linear without bias) returns
    None, and so does one whose forward does not give (K, batch, classes) on a probe batch.
    """
    copy_ = copy.deepcopy(models[0])
    done: dict[int, nn.Module] = {}  # a layer listed under two names gets one twin
    for name, module in models[0].named_modules(remove_duplicate=False):
        twins = [m.get_submodule(name) for m in models] if name else list(models)
        kind = type(module)
        if id(module) in done:
            replacement = done[id(module)]
        elif kind is nn.Linear and module.bias is not None:
            replacement: nn.Module = StackedLinear(twins)
        elif kind is nn.LayerNorm and module.elementwise_affine and module.bias is not None:
            replacement = StackedLayerNorm(twins)
        elif any(True for _ in module.parameters(recurse=False)) or any(
            True for _ in module.buffers(recurse=False)
        ):
            return None
        else:
            continue
        done[id(module)] = replacement
        parent, _, child = name.rpartition(".")
        setattr(copy_.get_submodule(parent) if parent else copy_, child, replacement)
    return copy_ if _probe(copy_, models) else None


@torch.no_grad()
def _probe(batched: nn.Module, models: Sequence[nn.Module]) -> bool:
    """Does the batched copy give every member's logits on a probe batch (eval mode)?"""
    first = next((m for m in models[0].modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        return False
    # vector models take (batch, in_features) of their first Linear; others fail the probe
    x = torch.randn(3, first.in_features, dtype=first.weight.dtype, device=first.weight.device)
    modes = [m.training for m in models]
    for m in (*models, batched):
        m.eval()
    try:
        out = batched(x)
        expected = torch.stack([m(x) for m in models])
        ok = out.shape == expected.shape and torch.allclose(out, expected, rtol=1e-4, atol=1e-5)
    except (RuntimeError, ValueError, IndexError):
        ok = False
    for m, mode in zip(models, modes, strict=True):
        m.train(mode)
    return ok


def load_member(model: nn.Module, params: Params, k: int) -> nn.Module:
    """Copy member ``k`` of stacked ``params`` into ``model`` (same architecture); return it."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name][k])
    return model


class StackedSGD:
    """``torch.optim.SGD`` (dampening 0, no Nesterov) on the stack's parameters with one learning
    rate per member (a (K,) tensor broadcast over each parameter's leading dim): the optimizer
    the one loop steps for a stack. ``keep(rows, params)`` follows the stack when members leave."""

    def __init__(
        self, params: list[torch.Tensor], lrs: torch.Tensor, momentum: float, weight_decay: float
    ) -> None:
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocity: list[torch.Tensor] = []
        self._set(params, lrs)

    def _set(self, params: list[torch.Tensor], lrs: torch.Tensor) -> None:
        self.params = [p.requires_grad_() for p in params]
        self.lrs = lrs
        self.lr_views = [lrs.view(-1, *[1] * (p.dim() - 1)) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:  # noqa: ARG002 - always to None
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [p.grad for p in self.params]
        if self.weight_decay:
            grads = torch._foreach_add(grads, self.params, alpha=self.weight_decay)
        if self.momentum and self.velocity:
            torch._foreach_mul_(self.velocity, self.momentum)
            torch._foreach_add_(self.velocity, grads)
        elif self.momentum:
            self.velocity = [g.clone() for g in grads]
        torch._foreach_addcmul_(self.params, self.lr_views, self.velocity or grads, value=-1.0)

    def keep(self, rows: Sequence[int], params: list[torch.Tensor]) -> None:
        index = torch.as_tensor(list(rows), device=self.lrs.device)
        self.velocity = [v[index] for v in self.velocity]
        self._set(params, self.lrs[index])

    def state_dict(self) -> dict:
        return {"velocity": self.velocity, "lrs": self.lrs}

    def load_state_dict(self, state: dict) -> None:
        self.velocity, self.lrs = list(state["velocity"]), state["lrs"]


class StackedBatches:
    """The loop's batches for a stack whose members see different batch orders: x (K, b, ...)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, size: int, seeds: Sequence[int]) -> None:
        self.x, self.y, self.seeds = x, y, list(seeds)
        self.n = len(x)
        self.size = min(size, self.n)
        self.per_epoch = math.ceil(self.n / self.size)
        self._orders: tuple[int, torch.Tensor] | None = None

    def get(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if self._orders is None or self._orders[0] != epoch:
            orders = [epoch_order(self.n, seed, epoch) for seed in self.seeds]
            self._orders = (epoch, torch.stack(orders).to(self.x.device))
        idx = self._orders[1][:, index * self.size : (index + 1) * self.size]
        return self.x[idx], self.y[idx], idx.shape[1]

    def keep(self, rows: Sequence[int]) -> None:
        self.seeds = [self.seeds[r] for r in rows]
        self._orders = None


def train_stacked(
    models: Sequence[nn.Module],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    lr: float | Sequence[float],
    epochs: int,
    batch_size: int,
    order_seeds: Sequence[int],
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    eval_sets: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    on_epoch_end: EpochCallback | None = None,
) -> StackedResult:
    """Train ``models`` together with SGD (as ``torch.optim.SGD``: dampening 0, no Nesterov).

    ``lr`` may differ per member; ``order_seeds`` gives each member's batch-order seed (one value
    per member). The models themselves are left untouched; read trained member k with
    ``load_member(model, result.params, k)``, or use the returned metrics, which hold
    ``{split}_loss`` and ``{split}_accuracy`` for ``train`` and every split in ``eval_sets``.

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
    stack = StackedModels(models)
    k = stack.k
    if len(order_seeds) != k:
        raise ValueError(f"order_seeds: expected {k} values, got {len(order_seeds)}")
    lrs = _per_member(lr, k, "lr").to(x_train.device)
    shared = len(set(order_seeds)) == 1
    if shared:
        batches: Any = Batches(x_train, y_train, batch_size, order_seeds[0])
    else:
        batches = StackedBatches(x_train, y_train, batch_size, order_seeds)
    optimizer = StackedSGD(list(stack.params.values()), lrs, momentum, weight_decay)
    stopped: dict[int, Params] = {}  # parameters of members that stopped before the end

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
                stopped[m] = {name: p.detach()[r].clone() for name, p in stack.params.items()}
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
    steps = result.steps
    if stopped:  # every member back in its row, for the result and the final metrics
        live = {m: r for r, m in enumerate(stack.members)}
        full = {
            name: torch.stack(
                [stopped[m][name] if m in stopped else p.detach()[live[m]] for m in range(k)]
            )
            for name, p in stack.params.items()
        }
        stack.set_params(full, range(k))
    stack.params = {name: p.detach() for name, p in stack.params.items()}
    metrics = stack.evaluate(x_train, y_train, "train")
    for split, (x, y) in (eval_sets or {}).items():
        for member, values in zip(metrics, stack.evaluate(x, y, split), strict=True):
            member.update(values)
    return StackedResult(stack.params, metrics, steps)
