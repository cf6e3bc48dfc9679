"""``data=htru2``: the UCI HTRU2 pulsar candidates (8 features, class 1 = pulsar; metric AUC).

``<data.root>/htru2/HTRU_2.csv``: no header, one candidate per line, 8 comma-separated features
then the class (0 or 1). Cross-validation as in the SNN paper: the candidates are dealt into
``data.folds`` stratified folds by ``data.seed``; fold ``data.fold`` (M) is the test split and
the fold before it (M - 1, the last fold for M = 0) the validation split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from initlab.config import ConfigError, spec
from initlab.data.bundle import DATASETS, BundleParts, DataBundle, SplitConfig, finish_bundle
from initlab.data.files import SOURCES, corrupt, require

SOURCE = SOURCES["htru2"]
FILE = "HTRU_2.csv"
FEATURES = 8


@dataclass(kw_only=True)
class HTRU2Config(SplitConfig):
    root: str = spec(path=True, help="folder that holds htru2/")
    folds: int = spec(min=3, help="cross-validation folds (the paper: 10)")
    fold: int = spec(min=0, help="test fold; the fold before it validates")
    val_fraction: float = spec(min=0.0, max=0.0, help="the folds define the splits")
    test_fraction: float = spec(min=0.0, max=0.0, help="the folds define the splits")

    def validate(self) -> None:
        if self.fold >= self.folds:
            raise ConfigError(f"fold: {self.fold} is out of range; allowed 0..{self.folds - 1}")


def stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold number of every example: each class shuffled by ``seed``, then dealt round-robin."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(y), dtype=np.int64)
    offset = 0
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        assignment[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    return assignment


@DATASETS.register("htru2", HTRU2Config)
def build_htru2(cfg: HTRU2Config) -> DataBundle:
    base = Path(cfg.root) / SOURCE.folder
    path = require(SOURCE, base, FILE)
    try:
        table = np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError as err:
        raise corrupt(SOURCE, base, FILE, f"not comma-separated numbers: {err}") from None
    if table.shape[1] != FEATURES + 1:
        raise corrupt(SOURCE, base, FILE, f"{table.shape[1]} columns; expected {FEATURES + 1}")
    x, y = table[:, :FEATURES], table[:, FEATURES]
    if not np.all((y == 0) | (y == 1)):
        raise corrupt(SOURCE, base, FILE, "the class column holds values other than 0 and 1")
    y = y.astype(np.int64)
    if len(y) < cfg.folds:
        raise corrupt(SOURCE, base, FILE, f"{len(y)} rows, fewer than {cfg.folds} folds")
    fold_of = stratified_folds(y, cfg.folds, cfg.seed)
    test = fold_of == cfg.fold
    val = fold_of == (cfg.fold - 1) % cfg.folds
    train = ~test & ~val
    parts = BundleParts("htru2", x[train], y[train], x[val], y[val], x[test], y[test], 2)
    bundle = finish_bundle(parts, cfg)
    bundle.metric = "auc"
    return bundle
