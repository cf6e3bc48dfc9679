"""The data bundle every task receives, and the split/standardize helpers the loaders share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from initlab.config import SEED_MAX, spec
from initlab.registry import Registry

DATASETS: Registry = Registry("data", "initlab.data")


class DataUnavailableError(RuntimeError):
    """A data set's files are absent and cannot be fetched; the message says what to do."""


@dataclass(kw_only=True)
class SplitConfig:
    """Keys every data set shares (each data schema inherits them)."""

    name: str
    seed: int = spec(
        min=0,
        max=SEED_MAX,
        help="seed of the train/val/test split (fixed independently of the run seed)",
    )
    val_fraction: float = spec(min=0.0, max=0.5)
    test_fraction: float = spec(min=0.0, max=0.5)
    max_train: int | None = spec(min=1, help="keep at most this many training examples")
    standardize: bool


@dataclass
class DataBundle:
    """Tensors of a data set, already split and preprocessed, plus what models need to know.

    ``input_shape`` is per example: ``(features,)`` for vectors, ``(C, H, W)`` for images.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    metric: str = "accuracy"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.input_shape) == 3

    def split(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        if which not in ("train", "val", "test"):
            raise ValueError(f"unknown split {which!r}")
        return getattr(self, f"x_{which}"), getattr(self, f"y_{which}")

    def to(self, device: torch.device | str) -> DataBundle:
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return DataBundle(name=self.name, num_classes=self.num_classes, metric=self.metric, **moved)


def split_indices(
    n: int, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A permutation of range(n) cut into train/val/test; the same seed gives the same cut."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    return order[n_test + n_val :], order[n_test : n_test + n_val], order[:n_test]


def bundle_from_arrays(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    cfg: SplitConfig,
    num_classes: int | None = None,
) -> BundleParts:
    """Split one pool of examples by ``cfg`` (see :func:`finish_bundle` for the rest)."""
    train, val, test = split_indices(len(x), cfg.val_fraction, cfg.test_fraction, cfg.seed)
    return BundleParts(name, x[train], y[train], x[val], y[val], x[test], y[test], num_classes)


@dataclass
class BundleParts:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int | None = None


def finish_bundle(parts: BundleParts, cfg: SplitConfig) -> DataBundle:
    """Subsample train, standardize with training statistics only, and convert to tensors.

    Vectors are standardized per feature; images per channel. Test data never leaks into the
    statistics.
    """
    x_train, y_train = parts.x_train, parts.y_train
    if cfg.max_train is not None and len(x_train) > cfg.max_train:
        keep = np.random.default_rng(cfg.seed + 1).permutation(len(x_train))[: cfg.max_train]
        x_train, y_train = x_train[np.sort(keep)], y_train[np.sort(keep)]
    xs = [np.asarray(a, dtype=np.float32) for a in (x_train, parts.x_val, parts.x_test)]
    for split, a in zip(("train", "val", "test"), xs, strict=True):
        if a.size and not np.isfinite(a).all():
            bad = int((~np.isfinite(a.reshape(len(a), -1))).any(axis=1).sum())
            raise DataUnavailableError(
                f"data.name: {parts.name}: {bad} {split} examples hold NaN or infinite features; "
                "clean the files (or impute) before training"
            )
    if cfg.standardize:
        axes = (0,) if xs[0].ndim == 2 else (0, 2, 3)
        mean = xs[0].mean(axis=axes, keepdims=True)
        std = xs[0].std(axis=axes, keepdims=True)
        std = np.where(std > 0, std, 1.0).astype(np.float32)
        # one new array per split, divided in place: no temporary second copy of a large split
        # (CIFAR-10's training split is 553 MB as float32)
        xs = [np.subtract(a, mean.astype(np.float32), dtype=np.float32) for a in xs]
        for a in xs:
            a /= std
    ys = [np.asarray(a, dtype=np.int64) for a in (y_train, parts.y_val, parts.y_test)]
    num_classes = parts.num_classes or int(max(int(y.max()) for y in ys if len(y)) + 1)
    t = [torch.from_numpy(np.ascontiguousarray(a)) for a in (*xs, *ys)]
    return DataBundle(parts.name, t[0], t[3], t[1], t[4], t[2], t[5], num_classes)


#: the last bundle loaded, kept between the runs of one sweep process (see build_data)
_LAST: dict[str, DataBundle] = {}
SWEEP_CACHE = {"enabled": False}


def build_data(cfg: SplitConfig) -> DataBundle:
    """Load the data set named by ``cfg.name`` (a typed config from ``DATASETS.parse``) and check
    it (:func:`check_bundle`). A loader that fails on unreadable files (empty, garbage,
    truncated) is reported as one :class:`DataUnavailableError` naming the data set's files."""
    from initlab.config import ConfigError

    try:
        data = _load(cfg)
    except (ConfigError, DataUnavailableError):
        raise
    except Exception as err:  # noqa: BLE001 - every unreadable file is the same user error
        where = getattr(cfg, "root", None)
        files = f" under {where}" if where else ""
        raise DataUnavailableError(
            f"data.name: the {cfg.name} files{files} could not be read ({type(err).__name__}: "
            f"{str(err)[:200]}); check them or download them again"
        ) from None
    check_bundle(data)
    return data


def _load(cfg: object) -> DataBundle:
    """``DATASETS.build(cfg)``; inside a sweep process (``SWEEP_CACHE["enabled"]``, set by
    ``train.py -m``) the last bundle is kept, and a run with the same data config gets copies of
    its tensors instead of loading the files again (CIFAR-10: seconds per run, paid by every run
    of a sweep otherwise)."""
    if not SWEEP_CACHE["enabled"]:
        return DATASETS.build(cfg)
    key = repr(cfg)
    if key not in _LAST:
        _LAST.clear()
        _LAST[key] = DATASETS.build(cfg)
    kept = _LAST[key]
    tensors = {
        f"{x}_{split}": getattr(kept, f"{x}_{split}").clone()
        for x in ("x", "y")
        for split in ("train", "val", "test")
    }
    return dataclasses.replace(kept, **tensors)


def check_bundle(data: DataBundle) -> None:
    """Refuse data a run would train on silently wrong: non-finite features, splits whose
    shapes disagree, class labels outside ``0..num_classes-1`` or a label set with gaps (a
    label of 999 among 0..2 would make a 1000-class head)."""
    shape = data.input_shape
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        if len(x) != len(y):
            raise DataUnavailableError(
                f"data.name: {data.name}: {split} has {len(x)} inputs but {len(y)} targets"
            )
        if len(x) and tuple(x.shape[1:]) != shape:
            raise DataUnavailableError(
                f"data.name: {data.name}: {split} inputs have shape {tuple(x.shape[1:])}, "
                f"train has {shape}"
            )
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).any(dim=tuple(range(1, x.dim()))).sum())
            raise DataUnavailableError(
                f"data.name: {data.name}: {bad} {split} examples hold NaN or infinite features; "
                "clean the files (or impute) before training"
            )
    if len(data.x_train) == 0:
        raise DataUnavailableError(f"data.name: {data.name}: the training split is empty")
    ys = [data.split(s)[1] for s in ("train", "val", "test")]
    if ys[0].is_floating_point():
        return  # multi-label targets (NaN: unobserved)
    labels = torch.cat([y for y in ys if len(y)])
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= data.num_classes:
        raise DataUnavailableError(
            f"data.name: {data.name}: class labels span {low}..{high}, outside "
            f"0..{data.num_classes - 1}; fix the label column of the files"
        )
    present = torch.unique(labels)
    if data.num_classes > 2 * len(present) and data.num_classes > 2:
        raise DataUnavailableError(
            f"data.name: {data.name}: labels {present.tolist()[:10]} leave "
            f"{data.num_classes - len(present)} of {data.num_classes} classes empty (largest "
            f"label {high}); fix the label column of the files (labels must be 0..K-1)"
        )
