"""``data=tox21``: the DeepTox Tox21 challenge data (12 toxicity assays, labels partly missing).

Files in ``<data.root>/tox21/``: ``tox21_dense_{train,test}.csv.gz`` (first column the compound
id, then the dense descriptors) and ``tox21_labels_{train,test}.csv.gz`` (compound id, then one
column per assay: 1 active, 0 inactive, empty = not measured). The optional sparse
``.mtx.gz`` features are not read. The challenge's test set is the test split; the validation
split is carved from the training compounds by ``data.seed`` (``val_fraction``).

Multi-task labels with gaps do not fit int64 class labels, so the bundle holds ``y`` as a float
tensor of shape (n, 12) with NaN where a label is missing, ``num_classes = 12`` (one logit per
assay) and ``metric = "mean_auc"``: the loss must be a binary cross-entropy over the observed
entries only and the metric the mean over assays of the ROC AUC on the observed entries (see
:mod:`initlab.data.multitask`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from initlab.config import spec
from initlab.data.bundle import (
    DATASETS,
    BundleParts,
    DataBundle,
    SplitConfig,
    finish_bundle,
    split_indices,
)
from initlab.data.files import SOURCES, corrupt, require

SOURCE = SOURCES["tox21"]
FILES = {
    "x_train": "tox21_dense_train.csv.gz",
    "y_train": "tox21_labels_train.csv.gz",
    "x_test": "tox21_dense_test.csv.gz",
    "y_test": "tox21_labels_test.csv.gz",
}


@dataclass(kw_only=True)
class Tox21Config(SplitConfig):
    root: str = spec(path=True, help="folder that holds tox21/")
    test_fraction: float = spec(min=0.0, max=0.0, help="the challenge's test set is used")


def _read_csv(base: Path, rel: str) -> pd.DataFrame:
    path = require(SOURCE, base, rel)
    try:
        frame = pd.read_csv(path, index_col=0, compression="gzip")
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as err:
        raise corrupt(SOURCE, base, rel, f"not a gzipped CSV table: {err}") from None
    if frame.empty or frame.shape[1] == 0:
        raise corrupt(SOURCE, base, rel, "no rows or no columns")
    return frame


def _load_split(base: Path, which: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    x_rel, y_rel = FILES[f"x_{which}"], FILES[f"y_{which}"]
    x_frame, y_frame = _read_csv(base, x_rel), _read_csv(base, y_rel)
    if len(x_frame) != len(y_frame) or not x_frame.index.equals(y_frame.index):
        raise corrupt(SOURCE, base, y_rel, f"its compounds differ from those of {x_rel}")
    try:
        x = x_frame.to_numpy(dtype=np.float64)
        y = y_frame.to_numpy(dtype=np.float64)
    except ValueError as err:
        raise corrupt(SOURCE, base, x_rel, f"non-numeric entries: {err}") from None
    if not np.all(np.isfinite(x)):
        raise corrupt(SOURCE, base, x_rel, "non-finite feature values")
    observed = y[~np.isnan(y)]
    if not np.all((observed == 0) | (observed == 1)):
        raise corrupt(SOURCE, base, y_rel, "labels other than 0, 1 or empty")
    return x, y, list(y_frame.columns)


@DATASETS.register("tox21", Tox21Config)
def build_tox21(cfg: Tox21Config) -> DataBundle:
    base = Path(cfg.root) / SOURCE.folder
    x, y, tasks = _load_split(base, "train")
    x_test, y_test, test_tasks = _load_split(base, "test")
    if x.shape[1] != x_test.shape[1] or tasks != test_tasks:
        raise corrupt(SOURCE, base, FILES["x_test"], "its columns differ from the training files")
    train, val, _ = split_indices(len(x), cfg.val_fraction, 0.0, cfg.seed)
    # finish_bundle handles int class labels: pass row numbers through it, then look labels up
    rows = np.arange(len(x) + len(x_test))
    labels = np.concatenate([y, y_test])
    parts = BundleParts(
        "tox21", x[train], rows[train], x[val], rows[val], x_test, rows[len(x) :], len(tasks)
    )
    bundle = finish_bundle(parts, cfg)
    table = torch.from_numpy(labels.astype(np.float32))
    bundle.y_train, bundle.y_val, bundle.y_test = (
        table[bundle.y_train],
        table[bundle.y_val],
        table[bundle.y_test],
    )
    bundle.metric = "mean_auc"
    return bundle
