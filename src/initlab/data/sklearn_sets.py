"""Data sets that ship inside scikit-learn: they need no network, so every default uses them."""

from __future__ import annotations

from sklearn import datasets as skd

from initlab.data.bundle import DATASETS, DataBundle, SplitConfig, bundle_from_arrays, finish_bundle


def _register(name: str, loader, image_shape: tuple[int, ...] | None = None) -> None:
    @DATASETS.register(name, SplitConfig)
    def build(cfg: SplitConfig) -> DataBundle:
        raw = loader()
        x = raw.data
        if image_shape is not None:
            x = x.reshape(len(x), *image_shape)
        parts = bundle_from_arrays(name, x, raw.target, cfg, num_classes=len(raw.target_names))
        return finish_bundle(parts, cfg)


# digits are 8x8 grey images: image models see (1, 8, 8); vector models flatten them.
_register("digits", skd.load_digits, image_shape=(1, 8, 8))
_register("iris", skd.load_iris)
_register("wine", skd.load_wine)
_register("breast_cancer", skd.load_breast_cancer)
