"""Gaussian class clusters of configurable size and dimension."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from initlab.config import spec
from initlab.data.bundle import DATASETS, DataBundle, SplitConfig, bundle_from_arrays, finish_bundle


@dataclass(kw_only=True)
class SyntheticConfig(SplitConfig):
    samples: int = spec(min=10)
    dim: int = spec(min=1)
    classes: int = spec(min=2)
    spread: float = spec(min=0.0, min_exclusive=True, help="std of a cluster around its centre")
    separation: float = spec(min=0.0, help="std of the cluster centres")


@DATASETS.register("synthetic", SyntheticConfig)
def build_synthetic(cfg: SyntheticConfig) -> DataBundle:
    rng = np.random.default_rng(cfg.seed + 12345)
    centres = rng.normal(0.0, cfg.separation, size=(cfg.classes, cfg.dim))
    y = rng.integers(0, cfg.classes, size=cfg.samples)
    x = centres[y] + rng.normal(0.0, cfg.spread, size=(cfg.samples, cfg.dim))
    parts = bundle_from_arrays("synthetic", x, y, cfg, num_classes=cfg.classes)
    return finish_bundle(parts, cfg)
