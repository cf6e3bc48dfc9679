"""MNIST and CIFAR-10: torchvision fetches the files; these loaders read them from ``data.root``.

With no network and no files, the run stops with one message naming the files and the folder
they belong in. MNIST is read by torchvision's own class (the idx files); CIFAR-10's python
batches are read here, because torchvision's class insists on the official checksums and so
could not be tested on small files written in the same format.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from initlab.config import spec
from initlab.data.bundle import (
    DATASETS,
    BundleParts,
    DataBundle,
    DataUnavailableError,
    SplitConfig,
    finish_bundle,
    split_indices,
)


@dataclass(kw_only=True)
class VisionConfig(SplitConfig):
    root: str = spec(path=True, help="folder holding the downloaded files")
    download: bool = spec(help="try to download missing files")
    test_fraction: float = spec(min=0.0, max=0.0, help="the official test split is used")


MNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/ (or http://yann.lecun.com/exdb/mnist/)"


def _missing(folder: Path, names: list[str]) -> list[str]:
    return [n for n in names if not (folder / n).is_file()]


def _try_download(fetch, what: str, folder: Path, names: list[str], url: str) -> None:
    try:
        fetch()
    except Exception as err:  # noqa: BLE001 - any failure means: tell the user what to fetch
        raise DataUnavailableError(
            f"{what} is not in {folder} and could not be downloaded ({type(err).__name__}). "
            f"Download {url} and put {', '.join(names)} in {folder}/ "
            f"(or set data.root to the folder that holds {folder.name}/)."
        ) from None


def _with_val_split(name: str, x, y, x_test, y_test, cfg: SplitConfig, classes: int) -> BundleParts:
    train, val, _ = split_indices(len(x), cfg.val_fraction, 0.0, cfg.seed)
    return BundleParts(name, x[train], y[train], x[val], y[val], x_test, y_test, classes)


@DATASETS.register("mnist", VisionConfig)
def build_mnist(cfg: VisionConfig) -> DataBundle:
    from torchvision.datasets import MNIST

    root = Path(cfg.root)
    raw = root / "MNIST" / "raw"
    if _missing(raw, MNIST_FILES):
        if not cfg.download:
            raise DataUnavailableError(
                f"MNIST is not in {raw} (data.download=false). Download {MNIST_URL} and put "
                f"{', '.join(MNIST_FILES)} (unzipped) in {raw}/."
            )
        _try_download(
            lambda: MNIST(root, train=True, download=True), "MNIST", raw, MNIST_FILES, MNIST_URL
        )
    train, test = MNIST(root, train=True), MNIST(root, train=False)
    for split in (train, test):
        if tuple(split.data.shape[1:]) != (28, 28) or len(split.data) != len(split.targets):
            raise DataUnavailableError(
                f"data.name: mnist: {raw} holds images of shape {tuple(split.data.shape)} and "
                f"{len(split.targets)} labels; MNIST's are 28x28, one label each. Replace the "
                f"files with the originals from {MNIST_URL}"
            )
    x = train.data.numpy()[:, None].astype(np.float32) / 255.0
    x_test = test.data.numpy()[:, None].astype(np.float32) / 255.0
    parts = _with_val_split(
        "mnist", x, train.targets.numpy(), x_test, test.targets.numpy(), cfg, 10
    )
    return finish_bundle(parts, cfg)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers and numpy arrays, nothing that runs code: a
    CIFAR-10 batch is a pickle, and a planted one could name any function."""

    ALLOWED = {"_reconstruct", "ndarray", "dtype", "scalar"}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 pickles bytes
            return _latin1_bytes
        numpy = module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
        if numpy and name in self.ALLOWED:
            try:
                from numpy._core import multiarray
            except ImportError:  # numpy < 2
                from numpy.core import multiarray  # type: ignore[no-redef]

            return getattr(np, name, None) or getattr(multiarray, name)
        raise _NeedsCode(f"{module}.{name}")


class _NeedsCode(pickle.UnpicklingError):
    pass


def _latin1_bytes(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of bytes call it, and no other codec."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _NeedsCode(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


def read_cifar10_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One python-pickle batch file of CIFAR-10: uint8 images (N, 3, 32, 32) and labels (N,).
    Read by :class:`_ArraysOnly`: a file that names anything but numpy's array pieces is
    refused (one line) before any of it runs."""
    with open(path, "rb") as fh:
        try:
            batch = _ArraysOnly(fh, encoding="latin1").load()
        except _NeedsCode as named:
            raise DataUnavailableError(
                f"data.root: {path} needs code to load (it names {named}): refused, nothing in "
                f"it ran; replace it with the original from {CIFAR10_URL}"
            ) from None
    data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data, np.asarray(batch["labels"], dtype=np.int64)


@DATASETS.register("cifar10", VisionConfig)
def build_cifar10(cfg: VisionConfig) -> DataBundle:
    root = Path(cfg.root)
    folder = root / "cifar-10-batches-py"
    if _missing(folder, CIFAR10_FILES):
        if not cfg.download:
            raise DataUnavailableError(
                f"CIFAR-10 is not in {folder} (data.download=false). Download {CIFAR10_URL}, "
                f"unpack it in {root}/ so that {folder}/ holds {', '.join(CIFAR10_FILES)}."
            )
        from torchvision.datasets import CIFAR10

        _try_download(
            lambda: CIFAR10(root, train=True, download=True),
            "CIFAR-10",
            folder,
            CIFAR10_FILES,
            CIFAR10_URL,
        )
    train = [read_cifar10_batch(folder / f) for f in CIFAR10_FILES[:-1]]
    x = np.concatenate([b[0] for b in train]).astype(np.float32) / 255.0
    y = np.concatenate([b[1] for b in train])
    x_test, y_test = read_cifar10_batch(folder / "test_batch")
    parts = _with_val_split("cifar10", x, y, x_test.astype(np.float32) / 255.0, y_test, cfg, 10)
    return finish_bundle(parts, cfg)
