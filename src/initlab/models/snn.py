"""Self-normalizing network (Klambauer et al. 2017): an MLP with SELU and alpha-dropout.

The architecture is the MLP's (same keys, incl. ``shape: rectangular | conic`` and
``weight_norm``); ``snn`` only names the SNN defaults in ``conf/model/snn.yaml``.
Self-normalization also needs LeCun-normal weights (Var(W) = 1 / fan_in exactly), which come
from ``init=lecun`` (the SNN experiment configs set it).
"""

from __future__ import annotations

from initlab.models.base import MODELS
from initlab.models.mlp import MLP, SHAPES, MLPConfig, conic_widths, mlp_widths

SNNConfig = MLPConfig
__all__ = ["SHAPES", "SNNConfig", "build_snn", "conic_widths"]


@MODELS.register("snn", MLPConfig)
def build_snn(cfg: MLPConfig, input_shape: tuple[int, ...], num_classes: int) -> MLP:
    return MLP(cfg, input_shape, num_classes, widths=mlp_widths(cfg, num_classes))
