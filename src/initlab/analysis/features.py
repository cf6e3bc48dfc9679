"""Per-layer feature statistics: angles between input pairs, class distances, second moment.

Usable without Hydra::

    from initlab.analysis.features import layer_table, make_pairs
    pairs = make_pairs([0.0, 0.5, 0.9], pairs_per_cosine=32, dim=64)
    table = layer_table([model_a, model_b], pairs.x, pairs=pairs.pairs, groups=pairs.group)

Layer 0 is the input itself (flattened); layer l >= 1 is ``model.layer_outputs(x)[l - 1]``.
Features are computed in float64 on a copy of the model (a He ResNet's norm grows like 3^l).
BatchNorm layers normalize with the statistics of the batch they see (true batch statistics; the
running averages are left untouched); ``batch_size`` sets that batch, and the caller keeps the two
members of a pair in the same batch. Every other module runs in eval mode.

Statistics are vectorized over pairs, examples and layers of one model; a list of models (draws
of different seeds) gives one block of rows per draw (column ``draw``). The forward passes of
several draws can also run as one (``draws_per_pass``, :func:`stacked_layer_features`, by
``torch.func.vmap``): same numbers, more memory, faster only where batched matmuls pay (on 2 CPU
cores at depth 100, width 512 it was slower, so the default loops).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from initlab.theory.kernels import mlp_correlations, resnet_recursion

TheoryFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class PairSet:
    """``x``: (2P, dim) inputs with the members of pair p at rows 2p and 2p + 1;
    ``pairs``: (P, 2) row indices; ``group``: (P,) the target initial cosine of each pair."""

    x: torch.Tensor
    pairs: torch.Tensor
    group: np.ndarray


def make_pairs(
    cosines: Sequence[float],
    pairs_per_cosine: int,
    dim: int,
    generator: torch.Generator | None = None,
) -> PairSet:
    """Pairs of random Gaussian directions with exactly the given cosines, each of norm sqrt(dim)
    (per-unit second moment 1, like standardized data)."""
    if dim < 2:
        raise ValueError("pairs of a given cosine need dim >= 2")
    cos = torch.tensor(np.repeat(np.asarray(cosines, dtype=float), pairs_per_cosine))
    count = len(cos)
    a = torch.randn(count, dim, generator=generator, dtype=torch.float64)
    a = a / a.norm(dim=1, keepdim=True)
    u = torch.randn(count, dim, generator=generator, dtype=torch.float64)
    u = u - (u * a).sum(1, keepdim=True) * a
    u = u / u.norm(dim=1, keepdim=True)
    b = cos[:, None] * a + torch.sqrt(1.0 - cos[:, None] ** 2) * u
    x = torch.stack([a, b], dim=1).reshape(2 * count, dim) * math.sqrt(dim)
    pairs = torch.arange(2 * count).reshape(count, 2)
    return PairSet(x.float(), pairs, cos.numpy())


def pairs_within_batches(
    n: int, count: int, batch_size: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``count`` random pairs (i, j), i != j, of rows 0..n-1 that share a batch of ``batch_size``
    consecutive rows (so that BatchNorm sees both in one batch)."""
    i = torch.randint(0, n, (count,), generator=generator)
    start = (i // batch_size) * batch_size
    size = torch.clamp(n - start, max=batch_size)
    if torch.any(size < 2):
        raise ValueError("every batch needs at least two rows to draw pairs from it")
    offset = (i - start + 1 + (torch.rand(count, generator=generator) * (size - 1)).long()) % size
    return torch.stack([i, start + offset], dim=1)


def _measurement_copy(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy in ``dtype``: BatchNorm in train mode with momentum 0 (batch statistics, running
    averages untouched), every other module in eval mode."""
    work = copy.deepcopy(model).to(dtype)
    for module in work.modules():
        is_bn = isinstance(module, _BatchNorm)
        module.train(is_bn)
        if is_bn:
            module.momentum = 0.0
    return work


def _layer_stream(work: nn.Module, xb: torch.Tensor) -> Iterator[torch.Tensor]:
    """The outputs of ``work``'s layers one at a time: its ``layers`` generator where the class
    defines one, else the list of its own ``layer_outputs``."""
    for cls in type(work).__mro__:
        if "layers" in vars(cls):
            return work.layers(xb)
        if "layer_outputs" in vars(cls):
            break
    return iter(work.layer_outputs(xb))


@torch.no_grad()
def iter_layer_features(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> Iterator[torch.Tensor]:
    """Input, layer 1, ..., layer L, each (N, features), one layer at a time: the batches of
    ``x`` go through the network in lockstep, so only one layer's features of all N rows are
    held (a 100-block 64-channel ResNet on 512 CIFAR images holds 26 GB in float64 for all
    layers, 0.27 GB for one)."""
    work = _measurement_copy(model, dtype)
    x = x.to(dtype)
    yield x.flatten(1)
    size = batch_size or len(x)
    streams = [_layer_stream(work, x[s : s + size]) for s in range(0, len(x), size)]
    for outputs in zip(*streams, strict=True):
        yield torch.cat([h.flatten(1) for h in outputs])


def layer_features(
    model: nn.Module,
    x: torch.Tensor,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> list[torch.Tensor]:
    """[input, layer 1, ..., layer L], each (N, features), for the rows of ``x`` in batches."""
    return list(iter_layer_features(model, x, batch_size, dtype))


class _LayerOutputs(nn.Module):
    """``forward`` returns ``model.layer_outputs`` (what ``functional_call`` can call)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.layer_outputs(x))


def _check_same_structure(models: Sequence[nn.Module]) -> None:
    def layout(m: nn.Module) -> list:
        tensors = [*m.named_parameters(), *m.named_buffers()]
        return [type(m)] + [(name, t.shape, t.dtype) for name, t in tensors]

    first = layout(models[0])
    if any(layout(m) != first for m in models[1:]):
        raise ValueError("draws measured in one vectorized pass must share one architecture")


@torch.no_grad()
def stacked_layer_features(
    models: Sequence[nn.Module],
    x: torch.Tensor,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float64,
) -> list[torch.Tensor]:
    """[input, layer 1, ..., layer L], each (draws, N, features): all draws in one pass.

    Same numbers as :func:`layer_features` per draw, computed by ``torch.func.vmap`` over the
    draws' stacked weights (``stack_module_state`` + ``functional_call``), so the draws must share
    one architecture. BatchNorm needs no fallback to a loop: the measurement copies lose their
    running buffers (``replace_all_batch_norm_modules_``), so they normalize with the batch's
    statistics exactly as in :func:`layer_features`. Memory grows with the number of draws (all
    their features are held at once); on CPUs the loop is often faster (batched matmuls gain
    nothing there), so :func:`layer_table` vectorizes only when asked.
    """
    works = [
        torch.func.replace_all_batch_norm_modules_(_measurement_copy(m, dtype)) for m in models
    ]
    _check_same_structure(works)
    params, buffers = torch.func.stack_module_state(works)
    state = {f"model.{name}": t for name, t in {**params, **buffers}.items()}
    wrapper = _LayerOutputs(copy.deepcopy(works[0]).to("meta"))
    del works

    def outputs(weights: dict, xb: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.func.functional_call(wrapper, weights, (xb,))

    batched = torch.func.vmap(outputs, in_dims=(0, None))
    x = x.to(dtype)
    size = batch_size or len(x)
    chunks = [batched(state, x[s : s + size]) for s in range(0, len(x), size)]
    layers = [torch.cat([c[i] for c in chunks], dim=1).flatten(2) for i in range(len(chunks[0]))]
    return [x.flatten(1).expand(len(models), -1, -1), *layers]


def _pair_cosines(h: torch.Tensor, pairs: torch.Tensor) -> np.ndarray:
    """(pairs,): the cosine of each pair's features in one layer."""
    hn = h / h.norm(dim=1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
    return (hn[pairs[:, 0]] * hn[pairs[:, 1]]).sum(1).clamp(-1.0, 1.0).cpu().numpy()


def _class_distances(h: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """[within, between]: mean Euclidean distance within classes and between classes (one layer)."""
    labels = labels.to(h.device)
    same = labels[:, None] == labels[None, :]
    off = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    within_mask, between_mask = same & off, ~same
    rms = h.pow(2).sum(1).mean().sqrt().clamp_min(torch.finfo(h.dtype).tiny)
    hs = h / rms
    sq = hs.pow(2).sum(1)
    dist = (sq[:, None] + sq[None, :] - 2.0 * hs @ hs.T).clamp_min(0.0).sqrt() * rms
    within = dist[within_mask].mean() if within_mask.any() else torch.tensor(float("nan"))
    between = dist[between_mask].mean() if between_mask.any() else torch.tensor(float("nan"))
    return [within.item(), between.item()]


def _weight_gain(layer: nn.Module) -> float:
    """fan_in * mean(W^2): the variance scale of a weight layer (He: about 2)."""
    w = layer.weight.detach().double()
    return float(w[0].numel() * w.pow(2).mean())


def _zero(t: torch.Tensor | None) -> bool:
    return t is None or bool(torch.all(t == 0))


def theory_for(model: nn.Module) -> TheoryFn | None:
    """The mean-field prediction of pair cosines per layer for ``model``, asked of its structure.

    Returns ``fn(xa, xb) -> (layers + 1, P)`` cosines for flattened input pairs, or None where no
    closed form applies (BatchNorm, non-ReLU activations, images, biases, ...). Weight gains are
    read from the model's own weights.
    """
    from initlab.models.base import ScalarBias, ScalarScale, ScaleNorm
    from initlab.models.mlp import MLP
    from initlab.models.resnet import ResNet

    def inert(m: nn.Module) -> bool:
        return isinstance(m, nn.Identity) or (isinstance(m, ScalarBias) and _zero(m.bias))

    def cosine(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
        return (xa * xb).sum(1) / np.sqrt((xa * xa).sum(1) * (xb * xb).sum(1))

    if isinstance(model, MLP):
        for layer in model.hidden:
            ops = [m for m in layer if not inert(m)]
            if [type(m) for m in ops] != [nn.Linear, nn.ReLU] or not _zero(ops[0].bias):
                return None
        depth = len(model.hidden)
        return lambda xa, xb: mlp_correlations(cosine(xa, xb), depth)
    if not isinstance(model, ResNet) or model.image or not isinstance(model.after_add, nn.Identity):
        return None
    if not _zero(model.stem.bias):
        return None
    if any(not isinstance(skip, nn.Identity) for skip in getattr(model, "skips", [])):
        return None  # only identity skips x_{l+1} = x_l + F(x_l)
    patterns = {
        (nn.Linear, nn.ReLU, nn.Linear): "plain",
        (nn.LayerNorm, nn.Linear, nn.ReLU, nn.LayerNorm, nn.Linear): "layernorm",
        # per-example scale normalization before each weight layer: the branch sees x / sqrt(q)
        # (mode normalized) and W2 sees relu(.) rescaled to unit second moment, so the branch's
        # variance is gain2 whatever gain1 is (gamma = s1 s2 / 2 with s1 = 2)
        (ScaleNorm, nn.Linear, nn.ReLU, ScaleNorm, nn.Linear): "normalized",
    }
    modes, gain1, gain2 = set(), [], []
    for branch in model.blocks:
        scale = 1.0
        ops = []
        for m in branch.ops:
            if isinstance(m, ScalarScale):
                scale *= float(m.scale.detach())
            elif not inert(m):
                ops.append(m)
        mode = patterns.get(tuple(type(m) for m in ops))
        if mode is None:
            return None
        for m in ops:
            if isinstance(m, nn.Linear) and not _zero(m.bias):
                return None
            if isinstance(m, nn.LayerNorm) and not (
                _zero(m.bias) and bool(torch.all(m.weight == 1))
            ):
                return None
        linears = [m for m in ops if isinstance(m, nn.Linear)]
        modes.add(mode)
        gain1.append(2.0 if mode == "normalized" else _weight_gain(linears[0]))
        gain2.append(_weight_gain(linears[1]) * scale**2)
    if len(modes) != 1:
        return None
    mode = modes.pop()
    stem_gain = _weight_gain(model.stem)
    depth = len(model.blocks)

    def predict(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
        d = xa.shape[1]
        qa, qb = stem_gain * (xa * xa).sum(1) / d, stem_gain * (xb * xb).sum(1) / d
        c, _, _ = resnet_recursion(
            cosine(xa, xb), qa, qb, depth=depth, gain1=gain1, gain2=gain2, mode=mode
        )
        return c

    return predict


def _draw_features(
    models: list[nn.Module], x: torch.Tensor, batch_size: int | None, draws_per_pass: int
) -> Iterator[tuple[int, nn.Module, list[torch.Tensor]]]:
    """(draw, model, its features), ``draws_per_pass`` draws computed together."""
    for start in range(0, len(models), draws_per_pass):
        group = models[start : start + draws_per_pass]
        if len(group) == 1:
            yield start, group[0], iter_layer_features(group[0], x, batch_size)
            continue
        stacked = stacked_layer_features(group, x, batch_size)
        for i, model in enumerate(group):
            yield start + i, model, [h[i] for h in stacked]


def layer_table(
    models: nn.Module | Sequence[nn.Module],
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    pairs: torch.Tensor | None = None,
    groups: Sequence | np.ndarray | None = None,
    batch_size: int | None = None,
    theory: bool = True,
    draws_per_pass: int = 1,
) -> pd.DataFrame:
    """One row per (draw, layer, pair group) with the statistics of the features of ``x``.

    Columns: draw, layer, group, n_pairs, cos0 (mean input cosine of the group's pairs),
    cos_mean, cos_std, angle_mean, angle_std, one_minus_cos_mean (over the group's pairs),
    theory_cos, theory_angle (mean-field prediction averaged over the pairs; NaN without one),
    within, between (mean distances between examples of the same / different ``labels``), ratio
    (between / within), second_moment (mean over examples and units of h^2).
    Without ``pairs`` the pair columns are NaN and each layer has one row (group "").
    ``draws_per_pass`` > 1 computes the features of that many draws at once
    (:func:`stacked_layer_features`, same numbers, more memory); 1 loops over the draws.
    """
    models = [models] if isinstance(models, nn.Module) else list(models)
    if draws_per_pass < 1:
        raise ValueError(f"draws_per_pass must be >= 1, got {draws_per_pass}")
    if pairs is not None:
        pairs = torch.as_tensor(pairs, dtype=torch.long)
        groups = np.asarray(groups if groups is not None else [""] * len(pairs), dtype=object)
        names = list(dict.fromkeys(groups.tolist()))
    else:
        names = [""]
    frames = []
    for draw, model, feats in _draw_features(models, x, batch_size, draws_per_pass):
        second, dist, cos = [], [], []  # per layer, each layer's features dropped once measured
        for h in feats:
            second.append(h.pow(2).mean().item())
            if labels is not None:
                dist.append(_class_distances(h, torch.as_tensor(labels)))
            if pairs is not None:
                cos.append(_pair_cosines(h, pairs))
            del h
        n_layers = len(second)
        second = np.array(second)
        dist = np.asarray(dist) if labels is not None else np.full((n_layers, 2), np.nan)
        cos = np.stack(cos) if pairs is not None else None
        fn = theory_for(model) if (theory and pairs is not None) else None
        if fn is not None:
            flat = x.flatten(1).double().cpu().numpy()
            th = fn(flat[pairs[:, 0].numpy()], flat[pairs[:, 1].numpy()])
            if th.shape[0] != n_layers:
                raise RuntimeError(f"theory has {th.shape[0]} layers, the model {n_layers}")
        for name in names:
            block = {
                "draw": draw,
                "layer": np.arange(n_layers),
                "group": name,
                "n_pairs": 0,
                **{
                    k: np.nan
                    for k in (
                        "cos0",
                        "cos_mean",
                        "cos_std",
                        "angle_mean",
                        "angle_std",
                        "one_minus_cos_mean",
                        "theory_cos",
                        "theory_angle",
                    )
                },
            }
            if cos is not None:
                mask = groups == name
                c = cos[:, mask]
                ang = np.arccos(c)
                block.update(
                    n_pairs=int(mask.sum()),
                    cos0=c[0].mean(),
                    cos_mean=c.mean(1),
                    cos_std=c.std(1),
                    angle_mean=ang.mean(1),
                    angle_std=ang.std(1),
                    one_minus_cos_mean=(1.0 - c).mean(1),
                )
                if fn is not None:
                    block.update(
                        theory_cos=th[:, mask].mean(1),
                        theory_angle=np.arccos(np.clip(th[:, mask], -1, 1)).mean(1),
                    )
            block.update(
                within=dist[:, 0],
                between=dist[:, 1],
                ratio=dist[:, 1] / dist[:, 0],
                second_moment=second,
            )
            frames.append(pd.DataFrame(block))
    return pd.concat(frames, ignore_index=True)
