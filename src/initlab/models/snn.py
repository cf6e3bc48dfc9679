"""Self-normalizing network (Klambauer et al. 2017): an MLP with SELU and alpha-dropout.

The model only fixes the architecture; self-normalization also needs LeCun-normal weights
(Var(W) = 1 / fan_in exactly), which come from ``init=lecun`` (the SNN experiment configs set
it). ``shape: conic`` starts at ``width`` and shrinks the widths geometrically towards the number
of outputs, as in the paper's "conic" grids; ``rectangular`` keeps ``width`` throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

from initlab.config import spec
from initlab.models.base import MODELS, ModelConfig
from initlab.models.mlp import MLP

SHAPES = ("rectangular", "conic")


@dataclass(kw_only=True)
class SNNConfig(ModelConfig):
    shape: str = spec(choices=SHAPES, help="conic: widths shrink geometrically to the outputs")


def conic_widths(width: int, depth: int, outputs: int) -> list[int]:
    """``width * r^i`` for ``i = 0..depth-1`` with ``r = (outputs / width)^(1 / depth)``.

    The classifier's ``outputs`` would be layer ``depth`` of the same geometric sequence. Widths
    are rounded and never fall below ``outputs``.
    """
    ratio = (outputs / width) ** (1.0 / depth)
    return [max(outputs, int(round(width * ratio**i))) for i in range(depth)]


def snn_widths(cfg: SNNConfig, num_classes: int) -> list[int]:
    if cfg.shape == "conic":
        return conic_widths(cfg.width, cfg.depth, num_classes)
    return [cfg.width] * cfg.depth


@MODELS.register("snn", SNNConfig)
def build_snn(cfg: SNNConfig, input_shape: tuple[int, ...], num_classes: int) -> MLP:
    return MLP(cfg, input_shape, num_classes, widths=snn_widths(cfg, num_classes))
