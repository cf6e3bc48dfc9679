"""Batched twins of layers: K members' weights in one module, one kernel per layer for all.

:func:`batched_copy` turns K same-shaped models into one copy of the first whose layers hold the
K members' tensors with a leading member dim; the model's own ``forward`` then runs on
(K, batch, features) activations (parameter-free layers act on them unchanged):

* ``nn.Linear`` (with or without bias) and the MLP's ``WeightNormLinear``: one ``(b)addbmm``;
* ``nn.LayerNorm``: one normalization over the last dim, then each member's affine;
* ``nn.BatchNorm1d``: the (K, batch, F) batch seen as (batch, K*F), so one ``batch_norm`` call
  computes every member's own batch statistics and updates its own running statistics;
* dropout slots (``nn.Dropout``, ``nn.AlphaDropout`` or ``nn.Identity`` for a rate of 0): one
  module with every member's rate and kind. With per-member generators (CPU) each member draws
  its masks as its one-by-one run draws them from the global generator (same calls, same shapes,
  same order), so the masks are bitwise the same; without (or on CUDA, whose fused dropout kernel
  consumes the generator differently anyway) one draw for all members;
* other modules with parameters of their own (the highway gate's bias, Fixup's scalars): each
  parameter stacked as (K, 1, *shape), which broadcasts over the batch dim.

A copy is kept only if its eval-mode output equals every member's on a probe batch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ALPHA_SELU = 1.7580993408473766  # -scale * alpha of SELU: alpha-dropout's saturation value
DROPOUT_SLOT = (nn.Identity, nn.Dropout, nn.AlphaDropout)


def _stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors]).clone()


class StackedLinear(nn.Module):
    """K ``nn.Linear`` layers as one: weight (K, out, in), bias (K, out) or None.

    Input (batch, in) is shared by all members, (K, batch, in) one per member; output
    (K, batch, out).
    """

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(_stack([layer.weight for layer in layers]))
        has_bias = layers[0].bias is not None
        self.bias = nn.Parameter(_stack([layer.bias for layer in layers])) if has_bias else None

    def effective_weight(self) -> torch.Tensor:
        return self.weight

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        weight = self.effective_weight()
        if h.dim() == 2:
            h = h.expand(weight.shape[0], -1, -1)
        if self.bias is None:
            return torch.bmm(h, weight.transpose(1, 2))
        return torch.baddbmm(self.bias.unsqueeze(1), h, weight.transpose(1, 2))


class StackedWeightNormLinear(StackedLinear):
    """K ``WeightNormLinear`` layers: w = g v / ||v|| per member and output unit."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__(layers)
        self.weight_g = nn.Parameter(_stack([layer.weight_g for layer in layers]))
        self.register_buffer("g_ready", torch.ones(len(layers), dtype=torch.bool))

    def effective_weight(self) -> torch.Tensor:
        return self.weight_g * self.weight / self.weight.norm(dim=2, keepdim=True)


class StackedLayerNorm(nn.Module):
    """K ``nn.LayerNorm`` layers over the last dim, each with its own affine weight and bias."""

    def __init__(self, layers: Sequence[nn.LayerNorm]) -> None:
        super().__init__()
        self.shape, self.eps = tuple(layers[0].normalized_shape), layers[0].eps
        self.weight = nn.Parameter(_stack([layer.weight for layer in layers]))
        self.bias = nn.Parameter(_stack([layer.bias for layer in layers]))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = F.layer_norm(h, self.shape, None, None, self.eps)
        return torch.addcmul(self.bias.unsqueeze(1), z, self.weight.unsqueeze(1))


class StackedBatchNorm1d(nn.Module):
    """K ``nn.BatchNorm1d`` layers: each member's batch statistics and running statistics.

    (K, batch, F) is viewed as (batch, K*F): one ``batch_norm`` normalizes every (member,
    feature) column over the batch, as each member's own layer does.
    """

    def __init__(self, layers: Sequence[nn.BatchNorm1d]) -> None:
        super().__init__()
        self.eps, self.momentum = layers[0].eps, layers[0].momentum
        self.weight = nn.Parameter(_stack([layer.weight for layer in layers]))
        self.bias = nn.Parameter(_stack([layer.bias for layer in layers]))
        self.register_buffer("running_mean", _stack([layer.running_mean for layer in layers]))
        self.register_buffer("running_var", _stack([layer.running_var for layer in layers]))
        tracked = [layer.num_batches_tracked for layer in layers]
        self.register_buffer("num_batches_tracked", _stack(tracked))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        k, batch, features = h.shape
        flat = h.transpose(0, 1).reshape(batch, k * features)
        out = F.batch_norm(
            flat,
            self.running_mean.view(-1),
            self.running_var.view(-1),
            self.weight.view(-1),
            self.bias.view(-1),
            self.training,
            self.momentum,
            self.eps,
        )
        if self.training:
            self.num_batches_tracked.add_(1)
        return out.view(batch, k, features).transpose(0, 1)


class MemberGenerators:
    """One random generator per stack row (None: draw from the global generator, all at once)."""

    def __init__(self, generators: list[torch.Generator] | None = None) -> None:
        self.generators = generators

    def keep(self, rows: Sequence[int]) -> None:
        if self.generators is not None:
            self.generators = [self.generators[r] for r in rows]


class StackedDropout(nn.Module):
    """A dropout slot of K members: each its own rate (0: no dropout) and kind (alpha or not).

    Standard: x * mask / (1 - p). Alpha (Klambauer et al. 2017): x * mask * a + (mask - 1) a
    alpha' + a alpha' p with a = ((alpha'^2 p + 1)(1 - p))^-1/2, as ``nn.AlphaDropout``.
    """

    def __init__(self, layers: Sequence[nn.Module], rng: MemberGenerators) -> None:
        super().__init__()
        self.all_rates = [float(getattr(layer, "p", 0.0)) for layer in layers]
        self.all_alpha = [isinstance(layer, nn.AlphaDropout) for layer in layers]
        self.rows = list(range(len(layers)))  # which members the stack's rows hold now
        self.rng = rng
        self._coefficients: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @property
    def rates(self) -> list[float]:
        return [self.all_rates[r] for r in self.rows]

    @property
    def alpha(self) -> list[bool]:
        return [self.all_alpha[r] for r in self.rows]

    def keep_rows(self, rows: Sequence[int] | None) -> None:
        """Rows ``rows`` of the current ones go on (None: back to all members)."""
        self.rows = (
            list(range(len(self.all_rates))) if rows is None else [self.rows[r] for r in rows]
        )
        self._coefficients.clear()

    def _scales(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(keep probability, multiplier a, offset c1) per member, shaped (K, 1, 1)."""
        key = (like.device, like.dtype)
        if key not in self._coefficients:
            keep, a, c1 = [], [], []
            for p, alpha in zip(self.rates, self.alpha, strict=True):
                keep.append(1.0 - p)
                if alpha and p > 0:
                    scale = 1.0 / math.sqrt((ALPHA_SELU**2 * p + 1.0) * (1.0 - p))
                    a.append(scale)
                    c1.append(ALPHA_SELU * scale)
                else:
                    a.append(1.0 / (1.0 - p))
                    c1.append(0.0)
            shape = (len(keep), *[1] * (like.dim() - 1))
            self._coefficients[key] = tuple(
                torch.tensor(v, dtype=like.dtype, device=like.device).view(shape)
                for v in (keep, a, c1)
            )
        return self._coefficients[key]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.training or not any(self.rates):
            return h
        keep, a, c1 = self._scales(h)
        generators = self.rng.generators
        if generators is not None and h.device.type == "cpu":
            ones = torch.ones(h.shape[1:], dtype=h.dtype)
            mask = torch.stack(
                [
                    torch.empty(h.shape[1:], dtype=h.dtype).bernoulli_(1.0 - p, generator=g)
                    if p > 0
                    else ones
                    for p, g in zip(self.rates, generators, strict=True)
                ]
            )
        else:
            mask = torch.bernoulli(keep.expand(h.shape))
        out = h * (mask * a)
        if any(self.alpha):  # (mask - 1) * c1 + c1 * p  ==  c1 * (mask - keep)
            out = out + c1 * (mask - keep)
        return out


def _own_tensors(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False)) or any(
        True for _ in module.buffers(recurse=False)
    )


def _twin(twins: list[nn.Module], rng: MemberGenerators) -> nn.Module | str | None:
    """The batched twin of ``twins`` (one module per member), None if none is needed, or why
    there is none (a string)."""
    kinds = {type(m) for m in twins}
    if kinds <= set(DROPOUT_SLOT):
        if kinds == {nn.Identity}:
            return None
        return StackedDropout(twins, rng)
    if len(kinds) > 1:
        return f"members differ in layer type ({', '.join(sorted(k.__name__ for k in kinds))})"
    first = twins[0]
    name = type(first).__name__
    if name == "WeightNormLinear":
        return StackedWeightNormLinear(twins)
    if type(first) is nn.Linear:
        return StackedLinear(twins)
    if type(first) is nn.LayerNorm:
        if first.elementwise_affine and first.bias is not None and len(first.normalized_shape) == 1:
            return StackedLayerNorm(twins)
        return "a LayerNorm without affine bias"
    if type(first) is nn.BatchNorm1d:
        if first.affine and first.track_running_stats and first.momentum is not None:
            return StackedBatchNorm1d(twins)
        return "a BatchNorm1d without affine parameters or running statistics"
    if any(True for _ in first.buffers(recurse=False)):
        return f"{name} holds buffers"
    if any(True for _ in first.parameters(recurse=False)):
        return "own-parameters"
    return None


def _stack_own_parameters(target: nn.Module, twins: list[nn.Module]) -> None:
    """Each parameter of ``target`` itself as (K, 1, *shape): broadcasts over the batch dim."""
    for pname, _ in list(target.named_parameters(recurse=False)):
        stacked = _stack([getattr(m, pname) for m in twins]).unsqueeze(1)
        delattr(target, pname)
        target.register_parameter(pname, nn.Parameter(stacked))


def batched_copy_or_reason(
    models: Sequence[nn.Module], rng: MemberGenerators | None = None
) -> tuple[nn.Module | None, str | None]:
    """(A copy of ``models[0]`` whose layers hold all members' tensors, None) or (None, why not).

    Its parameters and buffers have the names of the original model's (with a leading member
    dim), so :func:`initlab.training.stacked.load_member` works on it.
    """
    rng = rng or MemberGenerators()
    copy_ = copy.deepcopy(models[0])
    done: dict[tuple[int, ...], nn.Module | None] = {}  # a layer listed twice gets one twin
    for name, module in models[0].named_modules(remove_duplicate=False):
        if not name:
            if _own_tensors(module):
                return None, "a model with tensors of its own"
            continue
        twins = [m.get_submodule(name) for m in models]
        key = tuple(id(m) for m in twins)
        if key in done:
            replacement = done[key]
        else:
            made = _twin(twins, rng)
            if made == "own-parameters":
                _stack_own_parameters(copy_.get_submodule(name), twins)
                made = None
            if isinstance(made, str):
                return None, f"{name}: {made}"
            replacement = done[key] = made
        if replacement is not None:
            parent, _, child = name.rpartition(".")
            setattr(copy_.get_submodule(parent) if parent else copy_, child, replacement)
    if not _probe(copy_, models):
        return None, "its batched forward does not give every member's output"
    return copy_, None


def batched_copy(models: Sequence[nn.Module]) -> nn.Module | None:
    """:func:`batched_copy_or_reason` without the reason."""
    return batched_copy_or_reason(models)[0]


@torch.no_grad()
def _probe(batched: nn.Module, models: Sequence[nn.Module]) -> bool:
    """Does the batched copy give every member's logits on a probe batch (eval mode)?"""
    first = next((m for m in models[0].modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        return False
    # vector models take (batch, in_features) of their first Linear; others fail the probe
    generator = torch.Generator().manual_seed(0)  # leaves the global random stream alone
    x = torch.randn(3, first.in_features, generator=generator, dtype=first.weight.dtype)
    x = x.to(first.weight.device)
    modes = [m.training for m in models]
    for m in (*models, batched):
        m.eval()
    try:
        out = batched(x)
        expected = torch.stack([m(x) for m in models])
        ok = out.shape == expected.shape
        if not x.is_meta:  # the meta device (shape-only planning) has no values to compare
            ok = ok and torch.allclose(out, expected, rtol=1e-4, atol=1e-5)
    except (RuntimeError, ValueError, IndexError):
        ok = False
    for m, mode in zip(models, modes, strict=True):
        m.train(mode)
    return ok
