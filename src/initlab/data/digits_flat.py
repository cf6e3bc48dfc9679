"""scikit-learn's 8x8 digits as 64-dim vectors, so that every model (ResNets included) is fully
connected on them; ``digits`` gives the same pixels as (1, 8, 8) images."""

from __future__ import annotations

from sklearn.datasets import load_digits

from initlab.data.bundle import DATASETS, DataBundle, SplitConfig, bundle_from_arrays, finish_bundle


@DATASETS.register("digits_flat", SplitConfig)
def build_digits_flat(cfg: SplitConfig) -> DataBundle:
    raw = load_digits()
    parts = bundle_from_arrays("digits_flat", raw.data, raw.target, cfg, num_classes=10)
    return finish_bundle(parts, cfg)
