"""Per-layer activation statistics of a model at initialization (SNN claim E3).

Pre-activations are the outputs of every ``nn.Linear`` layer except the classifier, caught by
forward hooks; post-activations are the model's ``layer_outputs`` (after norm, activation and
dropout). Each statistic pools all units and examples of a layer: for a layer output ``h`` of
shape (batch, units), ``mean = mean(h)`` and ``var = mean(h^2) - mean^2``, the (mu, nu) of the
SNN paper's moment map. :func:`log_spaced_layers` picks the layers whose statistics are kept
(the forward pass still goes through every layer), so that a deep sweep's table stays small.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab.models.base import InitlabModel


@dataclass(frozen=True)
class LayerStats:
    layer: int  # 1-based hidden layer index
    kind: str  # "pre" (Linear output) or "post" (layer output)
    mean: float
    var: float
    unit_mean_std: float  # spread of the per-unit means across units
    units: int  # the layer's width n (E3's band is derived from it)


def _stats(layer: int, kind: str, h: torch.Tensor) -> LayerStats:
    h = h.detach().double().flatten(1)
    mean = h.mean()
    var = (h * h).mean() - mean * mean
    unit_means = h.mean(dim=0)
    spread = float(unit_means.std(unbiased=False))
    return LayerStats(layer, kind, float(mean), float(var), spread, int(h.shape[1]))


def log_spaced_layers(depth: int, count: int | None) -> list[int]:
    """Layers 1..``depth`` to keep: ``count`` points geometrically spaced from 1 to ``depth``,
    rounded, duplicates merged (so at most ``count``; the first and the last always), or every
    layer when ``count`` is None or covers them all."""
    if depth < 1:
        return []
    if count is None or count >= depth:
        return list(range(1, depth + 1))
    if count < 2:
        raise ValueError(f"keep at least the first and the last layer, not {count}")
    points = np.rint(np.geomspace(1, depth, count)).astype(int)
    return sorted({1, depth, *(int(p) for p in points)})


def hidden_linears(model: InitlabModel) -> list[nn.Linear]:
    """The model's Linear layers in forward order, without the classifier."""
    return [m for m in model.modules() if isinstance(m, nn.Linear) and m is not model.classifier]


@contextmanager
def capture_pre_activations(model: InitlabModel) -> Iterator[list[torch.Tensor]]:
    """Within the block, every hidden Linear layer's output is appended to the yielded list."""
    captured: list[torch.Tensor] = []
    handles = [
        layer.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
        for layer in hidden_linears(model)
    ]
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()


def activation_stats(
    model: InitlabModel, x: torch.Tensor, keep: int | None = None
) -> list[LayerStats]:
    """Pre- and post-activation statistics of the hidden layers for one batch ``x``: every layer,
    or the :func:`log_spaced_layers` of ``keep`` (the forward still runs through all of them).

    One forward pass: in train mode dropout masks and BatchNorm batch statistics are drawn once
    and both kinds of statistics see the same draw. Pre-activations are summarised as they pass
    (not kept: at 128 layers of width 1024 on 4096 inputs they would hold 2 GB).
    """
    from initlab.tracking import Progress

    pre: list[LayerStats] = []
    layers = hidden_linears(model)
    kept = set(log_spaced_layers(len(layers), keep))
    progress = Progress(len(layers), "activation statistics", unit="layer")
    seen = [0]

    def summarise(_module: nn.Module, _inputs: Any, out: torch.Tensor) -> None:
        seen[0] += 1
        if seen[0] in kept:
            pre.append(_stats(seen[0], "pre", out))
        progress.update(1)

    handles = [layer.register_forward_hook(summarise) for layer in layers]
    try:
        with torch.no_grad():
            outputs = model.layer_outputs(x)
    finally:
        for handle in handles:
            handle.remove()
        progress.close()
    kept_post = set(log_spaced_layers(len(outputs), keep))  # a model's own count of outputs
    return pre + [_stats(i + 1, "post", h) for i, h in enumerate(outputs) if i + 1 in kept_post]
