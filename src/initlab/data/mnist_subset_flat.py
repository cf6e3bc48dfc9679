"""``mnist_subset_flat``: the 5,000 MNIST digits of ``mnist_subset`` as 784-dim vectors, so that
every model (ResNets included) is fully connected on them (``mnist_subset`` gives (1, 28, 28)
images, on which a ResNet takes 3x3 conv branches).

Same split and the same numbers as ``mnist_subset`` (standardized per CHANNEL with training
statistics: one mean and one standard deviation over all pixels), flattened afterwards. Not
standardized per feature: the border pixels of MNIST are almost always 0, and dividing them by
their tiny standard deviations would turn one stray grey value into a feature of size 100.
"""

from __future__ import annotations

from initlab.data.bundle import DATASETS, DataBundle, SplitConfig, bundle_from_arrays, finish_bundle
from initlab.data.mnist_subset import load_mnist_subset


@DATASETS.register("mnist_subset_flat", SplitConfig)
def build_mnist_subset_flat(cfg: SplitConfig) -> DataBundle:
    x, y = load_mnist_subset()
    images = finish_bundle(bundle_from_arrays("mnist_subset_flat", x, y, cfg, num_classes=10), cfg)
    flat = {
        f"x_{split}": getattr(images, f"x_{split}").flatten(1) for split in ("train", "val", "test")
    }
    return DataBundle(
        name=images.name,
        y_train=images.y_train,
        y_val=images.y_val,
        y_test=images.y_test,
        num_classes=images.num_classes,
        metric=images.metric,
        **flat,
    )
