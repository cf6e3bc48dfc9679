"""``task=angle_stream``: angles between input pairs through very deep networks at initialization,
layer by layer, with each layer's weights drawn as the forward pass reaches it.

The configured model (``mlp`` or ``resnet``/``resnet_bn`` on flattened inputs, one stage) is
built by initlab's own builder at depth 2 (:class:`StreamedNetwork`): its first layer and one
repeated layer (an MLP's hidden layer, a ResNet's residual branch) are modules of the project's
model, and before each of the ``model.depth`` layers the repeated module is drawn afresh by the
configured init's rule (``he``-style variance scaling on the module; ``fixup`` with its depth
scale L^(-1/(2m-2)) for the full depth and its last layer zero), in order from the draw's seed.
So memory does not grow with depth, and nothing but one layer's weights is ever held; a test
(tests/angles/test_angle_stream.py) checks layer by layer that these are the layer outputs of
the full project model carrying the same weights.

For ``seeds`` independent draws (draw i: torch seed ``seed * 10000 + i``), two input sets go
through the network, each as ONE batch (BatchNorm normalizes over it, with batch statistics):

- ``synthetic``: ``pairs_per_cosine`` pairs of random directions of each initial cosine of
  ``cosines`` in the input space (per-unit second moment 1), group ``<cosine>``;
- ``data``: ``data_pairs`` disjoint pairs of distinct examples of the ``split`` (group ``data``).

Statistics of the pair cosines are recorded at layer 0 (the input), every layer up to ``dense``
and ``points`` log-spaced layers up to ``model.depth`` (the forward goes through every layer).
Forwards run in float32; with ``check_float64`` draw 0 also runs in float64 with the same
weights, its angle in column ``angle_float64`` (what float64 would change).

Beside every curve its mean-field prediction (columns ``theory_cos``, ``theory_angle``,
``theory``): the arc-cosine map for the ReLU MLP, the residual recursion (plain, or normalized
for the per-example scale norm; Fixup's zero branches keep the cosine) of
:mod:`initlab.theory.kernels`, and for batch-statistics BatchNorm the Monte-Carlo batch
recursion of :mod:`initlab.theory.batchnorm` on each batch's own inputs; computed once per input
set from nominal gains (the theory does not depend on the draw).

Table ``angles.csv``: one row per (draw, input set, group, measured layer), columns as
:func:`initlab.analysis.features.layer_table`'s pair columns.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from initlab.analysis.features import make_pairs
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.inits.base import (
    WEIGHT_LAYERS,
    fans,
    fill_with_variance,
    initialize,
    reset_non_weight_parameters,
)
from initlab.inits.fixup import fixup_scale
from initlab.models import build_model
from initlab.models.base import ScaleNorm
from initlab.run import Run
from initlab.tasks.angles import arch_label
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.theory.batchnorm import bn_resnet_grams, gram_cosines
from initlab.theory.kernels import mlp_correlations, resnet_recursion
from initlab.tracking import Progress, atomic_write_text

#: always measured where a network is this deep
COMMON_LAYERS = (10, 20, 50, 100, 200, 500, 1000)


@dataclasses.dataclass(kw_only=True)
class AngleStreamConfig(TaskConfig):
    #: the full model is never built (one layer at a time): main skips its memory check
    streams_layers: ClassVar[bool] = True
    seeds: int = spec(min=1, help="independent model draws measured in one run")
    cosines: list[float] = spec(min=-1.0, max=1.0, help="initial cosines of synthetic pairs")
    pairs_per_cosine: int = spec(min=1)
    data_pairs: int = spec(min=1, help="disjoint pairs of distinct examples of the split")
    split: str = spec(choices=("train", "val", "test"))
    dense: int = spec(min=0, help="every layer up to this one is measured")
    points: int = spec(min=2, help="log-spaced measured layers up to the depth")
    check_float64: bool = spec(help="draw 0 also in float64 with the same weights")
    theory_samples: int = spec(min=100, help="Monte-Carlo samples per block, BN batch recursion")


def measured_layers(depth: int, dense: int, points: int) -> np.ndarray:
    """0..dense, ``points`` log-spaced layers up to ``depth`` (rounded) and the round depths
    of :data:`COMMON_LAYERS` (networks of different depths compare there), unique, sorted."""
    logs = np.unique(np.round(np.geomspace(1, depth, points)).astype(int))
    common = [layer for layer in COMMON_LAYERS if layer <= depth]
    return np.unique(np.concatenate([np.arange(min(dense, depth) + 1), logs, common, [depth]]))


def _mlp_layer(model: nn.Module, index: int) -> nn.Module:
    return model.hidden[min(index, 1)]


class StreamedNetwork:
    """``model.depth`` layers of the configured model, each drawn when reached (module doc).

    ``template``: the project's model at depth 2 (input shape flattened); ``layers(xs, seed)``
    yields after each layer the list of outputs of the batches ``xs`` (one per batch and
    dtype), as the model's own ``layers`` would for a model of full depth."""

    def __init__(self, setup: RunSetup, input_dim: int, num_classes: int) -> None:
        cfg = setup.model
        if cfg.name not in ("mlp", "resnet", "resnet_bn"):
            raise ConfigError(
                f"model.name: angle_stream streams mlp / resnet / resnet_bn, not {cfg.name}"
            )
        if getattr(cfg, "stages", 1) != 1 or getattr(cfg, "shape", "rectangular") != "rectangular":
            raise ConfigError(
                "model: angle_stream needs one width throughout (stages 1, rectangular)"
            )
        if getattr(cfg, "dropout", 0.0):
            raise ConfigError("model.dropout: angle_stream measures networks without dropout")
        self.depth = cfg.depth
        self.activation = getattr(cfg, "activation", "relu")
        self.init = setup.init
        self.kind = "mlp" if cfg.name == "mlp" else "resnet"
        if self.init.name not in ("he", "xavier", "lecun", "fixup"):
            raise ConfigError(
                f"init.name: angle_stream draws he/xavier/lecun/fixup, not {self.init.name}"
            )
        self.template = build_model(dataclasses.replace(cfg, depth=2), (input_dim,), num_classes)
        self.template.eval()
        for module in self.template.modules():
            if isinstance(module, _BatchNorm):
                module.train(True)  # batch statistics
                module.momentum = 0.0  # running averages untouched
        if self.kind == "resnet" and not (
            isinstance(self.template.after_add, nn.Identity)
            and all(isinstance(s, nn.Identity) for s in self.template.skips)
        ):
            raise ConfigError("model: angle_stream needs identity skips, no post-activation")

    # -- drawing -----------------------------------------------------------------------------
    def _draw_first(self) -> nn.Module:
        """The first layer (MLP: hidden layer 1; ResNet: the stem), drawn by the init's rule."""
        if self.kind == "mlp":
            layer = _mlp_layer(self.template, 0)
            self._draw_module(layer)
            return layer
        stem = self.template.stem
        if self.init.name == "fixup":
            fan = self.init.branch_fan
            variance = lambda fi, fo: 2.0 / (fi if fan == "fan_in" else fo)  # noqa: E731
            self._fill(stem, variance)
            if self.init.stem == "torch":
                stem.reset_parameters()
        else:
            self._draw_module(stem)
        return stem

    def _fill(self, module: nn.Module, variance) -> None:
        for m in module.modules():
            if isinstance(m, WEIGHT_LAYERS):
                fill_with_variance(m.weight, variance(*fans(m.weight)), self.init.distribution)
        reset_non_weight_parameters(module)

    def _draw_module(self, module: nn.Module) -> None:
        initialize(module, self.init)

    def _draw_repeated(self) -> nn.Module:
        """The repeated layer (MLP hidden layer >= 2; ResNet branch), drawn afresh."""
        if self.kind == "mlp":
            layer = _mlp_layer(self.template, 1)
            self._draw_module(layer)
            return layer
        branch = self.template.blocks[1]
        if self.init.name != "fixup":
            self._draw_module(branch)
            return branch
        fan = self.init.branch_fan
        self._fill(branch, lambda fi, fo: 2.0 / (fi if fan == "fan_in" else fo))
        layers = list(branch.weight_layers)
        scale = fixup_scale(self.depth, len(layers))  # the full depth's L, as fixup_init
        with torch.no_grad():
            for layer in layers[:-1]:
                layer.weight.mul_(scale)
            layers[-1].weight.zero_()
            if layers[-1].bias is not None:
                layers[-1].bias.zero_()
        return branch

    # -- forward -------------------------------------------------------------------------------
    @property
    def homogeneous(self) -> bool:
        """Positively homogeneous of degree 1 in the input, example by example (ReLU, biases 0
        as every init here leaves them, no normalization): rescaling an example's features by
        any factor > 0 rescales all its later layers by it and changes no angle."""
        cfg = self.template
        norms = [m for m in cfg.modules() if isinstance(m, (_BatchNorm, ScaleNorm, nn.LayerNorm))]
        return self.activation == "relu" and not norms

    @torch.no_grad()
    def layers(
        self, xs: list[torch.Tensor], seed: int, float64: list[bool] | None = None
    ) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
        """(h, log_scale) of layers 1..depth for each batch of ``xs`` (flattened): the layer's
        output is h * exp(log_scale) (per row, float64). In a :attr:`homogeneous` network every
        row of h is rescaled to unit mean square after each layer (exact for angles; a He ResNet
        grows like 3^(l/2) and leaves float32 at block ~160), else log_scale stays 0.
        ``float64[i]``: batch i runs in float64 with the same (float32-drawn) weights."""
        float64 = float64 or [False] * len(xs)
        rescale = self.homogeneous
        torch.manual_seed(seed)
        hs = [x.flatten(1).to(torch.float64 if f else torch.float32) for x, f in zip(xs, float64)]
        logs = [torch.zeros(len(x), dtype=torch.float64) for x in xs]

        def apply(module: nn.Module, residual: bool) -> None:
            wide = copy.deepcopy(module).double() if any(float64) else None
            for i, f in enumerate(float64):
                h = hs[i]
                y = (wide if f else module)(h)
                h = h + y if residual else y
                if rescale:
                    rms = h.pow(2).mean(1, keepdim=True).sqrt().clamp_min(torch.finfo(h.dtype).tiny)
                    h = h / rms
                    logs[i] = logs[i] + rms[:, 0].double().log()
                hs[i] = h

        if self.kind == "resnet":
            apply(self._draw_first(), residual=False)  # the stem: not a layer
        for index in range(self.depth):
            if self.kind == "mlp":
                module = self._draw_first() if index == 0 else self._draw_repeated()
            else:
                module = self._draw_repeated()
            apply(module, residual=self.kind == "resnet")
            yield list(zip(hs, logs, strict=True))


def log10_second_moment(h: torch.Tensor, log_scale: torch.Tensor) -> float:
    """log10 of mean(h^2 exp(2 log_scale)) over rows and units, without overflow."""
    per_row = h.double().pow(2).mean(1).log() + 2.0 * log_scale
    return float(torch.logsumexp(per_row, 0) - np.log(len(per_row))) / np.log(10.0)


def _pair_cosines(h: torch.Tensor, pairs: np.ndarray) -> np.ndarray:
    hn = h / h.norm(dim=1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
    return (hn[pairs[:, 0]] * hn[pairs[:, 1]]).sum(1).clamp(-1.0, 1.0).double().numpy()


# -- theory -----------------------------------------------------------------------------------
def theory_cosines(
    setup: RunSetup, x: np.ndarray, pairs: np.ndarray, samples: int
) -> tuple[str, np.ndarray | None]:
    """(name, (depth + 1, P) cosines) of the mean-field prediction for the configured network
    on the batch ``x`` (flattened rows), or ("none", None) where none is implemented."""
    cfg, init, depth = setup.model, setup.init, setup.model.depth
    if getattr(cfg, "activation", "relu") != "relu":
        return "none", None
    xa, xb = x[pairs[:, 0]], x[pairs[:, 1]]
    c0 = (xa * xb).sum(1) / np.sqrt((xa * xa).sum(1) * (xb * xb).sum(1))
    q = lambda rows: 2.0 * (rows * rows).sum(1) / x.shape[1]  # noqa: E731 (He stem)
    norm = getattr(cfg, "norm", "none")
    if cfg.name == "mlp" and norm == "none" and init.name == "he":
        return "arc-cosine map", mlp_correlations(c0, depth)
    if cfg.name == "resnet" and init.name == "fixup":
        c, _, _ = resnet_recursion(c0, q(xa), q(xb), depth=depth, gain2=0.0)
        return "residual recursion (zero branches)", c
    if cfg.name == "resnet" and init.name == "he" and norm in ("none", "scale"):
        mode = "plain" if norm == "none" else "normalized"
        c, _, _ = resnet_recursion(c0, q(xa), q(xb), depth=depth, mode=mode)
        return f"residual recursion ({mode})", c
    if cfg.name == "resnet_bn" and init.name == "he" and not getattr(cfg, "zero_last_bn", False):
        grams = bn_resnet_grams(x, depth, samples=samples, seed=0)
        return "batch mean-field (Monte Carlo)", gram_cosines(grams, pairs)
    return "none", None


def _inputs(cfg: AngleStreamConfig, setup: RunSetup, data: DataBundle) -> dict:
    """{name: (x (N, dim) float32, pairs (P, 2), groups (P,))}: one batch per input set."""
    gen = torch.Generator().manual_seed(setup.seed)
    x, _ = data.split(cfg.split)
    x = x.flatten(1).float().cpu()
    dim = x.shape[1]
    synth = make_pairs(cfg.cosines, cfg.pairs_per_cosine, dim, gen)
    if 2 * cfg.data_pairs > len(x):
        raise ConfigError(f"task.data_pairs: the {cfg.split} split has {len(x)} examples")
    rows = torch.randperm(len(x), generator=gen)[: 2 * cfg.data_pairs].sort().values
    order = torch.randperm(len(rows), generator=gen)
    pairs = order.reshape(-1, 2).sort(dim=1).values.numpy()
    return {
        "synthetic": (
            synth.x.float(),
            synth.pairs.numpy(),
            np.array([f"{c:g}" for c in synth.group], dtype=object),
        ),
        "data": (x[rows], pairs, np.array(["data"] * len(pairs), dtype=object)),
    }


def _rows(cos: np.ndarray, layers: np.ndarray, groups: np.ndarray) -> list[dict]:
    out = []
    for name in dict.fromkeys(groups.tolist()):
        mask = groups == name
        c = cos[:, mask]
        ang = np.arccos(c)
        for k, layer in enumerate(layers):
            out.append(
                {
                    "group": name,
                    "layer": int(layer),
                    "n_pairs": int(mask.sum()),
                    "cos0": float(cos[0, mask].mean()),
                    "cos_mean": float(c[k].mean()),
                    "cos_std": float(c[k].std()),
                    "angle_mean": float(ang[k].mean()),
                    "angle_std": float(ang[k].std()),
                    "one_minus_cos_mean": float((1.0 - c[k]).mean()),
                }
            )
    return out


@TASKS.register("angle_stream", AngleStreamConfig)
def angle_stream_task(
    cfg: AngleStreamConfig, setup: RunSetup, data: DataBundle, run: Run
) -> TaskResult:
    inputs = _inputs(cfg, setup, data)
    depth = setup.model.depth
    layers = measured_layers(depth, cfg.dense, cfg.points)
    at = {int(layer): k for k, layer in enumerate(layers)}
    dim = next(iter(inputs.values()))[0].shape[1]
    net = StreamedNetwork(setup, dim, data.num_classes)
    names = list(inputs)
    theory = {}
    started = time.perf_counter()
    for name, (x, pairs, _) in inputs.items():
        kind, th = theory_cosines(setup, x.double().numpy(), pairs, cfg.theory_samples)
        theory[name] = (kind, th[layers] if th is not None else None)
    theory_s = time.perf_counter() - started
    frames = []
    progress = Progress(cfg.seeds, "angle_stream", unit="draw")
    started = time.perf_counter()
    for draw in range(cfg.seeds):
        draw_seed = setup.seed * 10_000 + draw
        check = cfg.check_float64 and draw == 0
        xs = [inputs[n][0] for n in names] + ([inputs[n][0] for n in names] if check else [])
        wide = [False] * len(names) + ([True] * len(names) if check else [])
        cos = [np.empty((len(layers), len(inputs[n][1]))) for n in names]
        cos64 = [np.empty_like(c) for c in cos]
        for i, n in enumerate(names):
            cos[i][0] = _pair_cosines(inputs[n][0].double(), inputs[n][1])
            cos64[i][0] = cos[i][0]
        second = {n: np.full(len(layers), np.nan) for n in names}
        for n in names:
            x0 = inputs[n][0]
            second[n][0] = log10_second_moment(x0, torch.zeros(len(x0), dtype=torch.float64))
        for index, hs in enumerate(net.layers(xs, draw_seed, wide), start=1):
            k = at.get(index)
            if k is None:
                continue
            for i, n in enumerate(names):
                cos[i][k] = _pair_cosines(hs[i][0], inputs[n][1])
                second[n][k] = log10_second_moment(*hs[i])
                if check:
                    cos64[i][k] = _pair_cosines(hs[len(names) + i][0], inputs[n][1])
        for i, n in enumerate(names):
            frame = pd.DataFrame(_rows(cos[i], layers, inputs[n][2]))
            kind, th = theory[n]
            frame["theory"] = kind
            frame["theory_cos"] = np.nan
            frame["theory_angle"] = np.nan
            frame["angle_float64"] = np.nan
            for g in dict.fromkeys(inputs[n][2].tolist()):
                mask = inputs[n][2] == g
                rows = frame.group == g
                if th is not None:
                    frame.loc[rows, "theory_cos"] = th[:, mask].mean(1)
                    frame.loc[rows, "theory_angle"] = np.arccos(np.clip(th[:, mask], -1, 1)).mean(1)
                if check:
                    frame.loc[rows, "angle_float64"] = np.arccos(cos64[i][:, mask]).mean(1)
            frame["log10_second_moment"] = np.tile(second[n], len(frame) // len(layers))
            frame.insert(0, "inputs", n)
            frame.insert(0, "stage", "init")
            frame["draw"] = draw
            frame["draw_seed"] = draw_seed
            frames.append(frame)
        progress.update(1)
    progress.close()
    forward_s = time.perf_counter() - started
    labels = {  # the model's name, init and norm are in arch (the CSV stays < 5 MiB)
        "arch": arch_label(setup),
        "data_name": setup.data.name,
        "depth": depth,
        "width": setup.model.width,
        "measure_batch_size": max(len(v[0]) for v in inputs.values()),
    }
    angles = pd.concat(frames, ignore_index=True)
    for i, (key, value) in enumerate(labels.items()):
        angles.insert(i, key, value)
    atomic_write_text(run.out_dir / "angles.csv", angles.to_csv(index=False, float_format="%.7g"))
    last = angles[angles.layer == depth]
    metrics = {
        "layers": depth,
        "measured_layers": len(layers),
        "draws": cfg.seeds,
        "seconds_per_draw": forward_s / cfg.seeds,
        "theory_seconds": theory_s,
        "init_angle_last_synthetic": float(last[last.inputs == "synthetic"].angle_mean.mean()),
        "init_angle_last_data": float(last[last.inputs == "data"].angle_mean.mean()),
    }
    if cfg.check_float64:
        diff = (angles.angle_float64 - angles.angle_mean).abs()
        metrics["float64_max_abs_angle_diff"] = float(diff.max())
    return TaskResult("completed", metrics)
