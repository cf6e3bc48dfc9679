"""``data=uci121``: one of the 121 preprocessed UCI sets (Fernandez-Delgado et al. 2014).

Files live in ``<data.root>/uci121/<data.dataset>/``, in either published layout:

- original (``layout: original``): ``<set>_R.dat`` (a header line, then one row per example:
  row number, features, integer class; whitespace/tab separated), ``conxuntos.dat`` (two lines
  of 0-based indices: training and validation part of the tuning split) and
  ``conxuntos_kfold.dat`` (eight lines: training and test indices of four folds). Fold ``k``
  tests on line ``2k + 1`` of the k-fold file, validates on the tuning split's validation
  indices that fall in fold k's training part, and trains on the rest of that part. Sets that
  come with a fixed test file (``<set>_train_R.dat``, ``<set>_test_R.dat``) use it as the test
  split, ``conxuntos.dat`` (indices into the training file) for train/validation, and have only
  fold 0.
- SNN authors' (``layout: snn``): comma-separated ``<set>_py.dat`` (features),
  ``labels_py.dat``, ``folds_py.dat`` and ``validation_folds_py.dat`` (one 0/1 column per fold:
  1 = test, resp. validation, in that fold); training is everything else.

``layout: auto`` reads the SNN layout when ``<set>_py.dat`` exists, else the original one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from initlab.config import ConfigError, spec
from initlab.data.bundle import DATASETS, BundleParts, DataBundle, SplitConfig, finish_bundle
from initlab.data.files import SOURCES, corrupt, require

SOURCE = SOURCES["uci121"]
LAYOUTS = ("auto", "original", "snn")


@dataclass(kw_only=True)
class UCI121Config(SplitConfig):
    root: str = spec(path=True, help="folder that holds uci121/<set>/")
    dataset: str = spec(help="the set's folder name, e.g. abalone")
    layout: str = spec(choices=LAYOUTS)
    fold: int = spec(min=0, help="which of the files' folds is the test split")
    val_fraction: float = spec(min=0.0, max=0.0, help="the files define the splits")
    test_fraction: float = spec(min=0.0, max=0.0, help="the files define the splits")


def _read(base: Path, rel: str, reader, what: str) -> np.ndarray:
    path = require(SOURCE, base, rel)
    try:
        return reader(path)
    except (ValueError, IndexError, OSError) as err:
        raise corrupt(SOURCE, base, rel, f"not {what}: {err}") from None


def _r_table(path: Path) -> np.ndarray:
    table = np.loadtxt(path, skiprows=1, ndmin=2)
    if table.shape[1] < 3:
        raise ValueError(f"{table.shape[1]} columns; need row number, features and class")
    return table


def _index_lines(path: Path) -> list[np.ndarray]:
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [np.array([int(v) for v in line], dtype=np.int64) for line in lines]


def _py_table(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def _xy(table: np.ndarray, base: Path, rel: str) -> tuple[np.ndarray, np.ndarray]:
    y = table[:, -1]
    if not np.all(y == np.round(y)) or y.min() < 0:
        raise corrupt(SOURCE, base, rel, "the last column holds non-integer or negative classes")
    return table[:, 1:-1], y.astype(np.int64)


def _check_indices(parts: list[np.ndarray], n: int, base: Path, rel: str) -> None:
    for idx in parts:
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise corrupt(SOURCE, base, rel, f"an index is outside 0..{n - 1}")


def _tuning_split(base: Path, name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rel = f"{name}/conxuntos.dat"
    tuning = _read(base, rel, _index_lines, "two lines of indices")
    if len(tuning) < 2:
        raise corrupt(SOURCE, base, rel, f"{len(tuning)} lines; need 2")
    _check_indices(tuning[:2], n, base, rel)
    return tuning[0], tuning[1]


def _original(cfg: UCI121Config, base: Path) -> BundleParts:
    name = cfg.dataset
    if (base / name / f"{name}_test_R.dat").is_file():  # a set with a fixed test file
        if cfg.fold != 0:
            raise ConfigError(f"data.fold: {name} has a fixed test file, so only fold 0")
        train_rel, test_rel = f"{name}/{name}_train_R.dat", f"{name}/{name}_test_R.dat"
        x, y = _xy(_read(base, train_rel, _r_table, "a _R.dat table"), base, train_rel)
        x_test, y_test = _xy(_read(base, test_rel, _r_table, "a _R.dat table"), base, test_rel)
        train, val = _tuning_split(base, name, len(x))
        return BundleParts(name, x[train], y[train], x[val], y[val], x_test, y_test)
    data_rel, kfold_rel = f"{name}/{name}_R.dat", f"{name}/conxuntos_kfold.dat"
    x, y = _xy(_read(base, data_rel, _r_table, "a _R.dat table"), base, data_rel)
    kfold = _read(base, kfold_rel, _index_lines, "lines of indices")
    if len(kfold) < 2 or len(kfold) % 2:
        raise corrupt(SOURCE, base, kfold_rel, f"{len(kfold)} lines; need train/test pairs")
    folds = len(kfold) // 2
    if cfg.fold >= folds:
        raise ConfigError(f"data.fold: {cfg.fold} is out of range; {name} has folds 0..{folds - 1}")
    _check_indices(kfold, len(x), base, kfold_rel)
    _, tuning_val = _tuning_split(base, name, len(x))
    pool, test = kfold[2 * cfg.fold], kfold[2 * cfg.fold + 1]
    in_val = np.isin(pool, tuning_val)
    train, val = pool[~in_val], pool[in_val]
    return BundleParts(name, x[train], y[train], x[val], y[val], x[test], y[test])


def _snn(cfg: UCI121Config, base: Path) -> BundleParts:
    name = cfg.dataset
    rels = {
        "x": f"{name}/{name}_py.dat",
        "y": f"{name}/labels_py.dat",
        "test": f"{name}/folds_py.dat",
        "val": f"{name}/validation_folds_py.dat",
    }
    tables = {k: _read(base, rel, _py_table, "comma-separated numbers") for k, rel in rels.items()}
    n = len(tables["x"])
    for key, table in tables.items():
        if len(table) != n:
            raise corrupt(SOURCE, base, rels[key], f"{len(table)} rows, {rels['x']} has {n}")
    y = tables["y"][:, 0]
    if not np.all(y == np.round(y)) or y.min() < 0:
        raise corrupt(SOURCE, base, rels["y"], "non-integer or negative classes")
    folds = tables["test"].shape[1]
    if tables["val"].shape[1] != folds:
        raise corrupt(SOURCE, base, rels["val"], f"not {folds} fold columns")
    if cfg.fold >= folds:
        raise ConfigError(f"data.fold: {cfg.fold} is out of range; {name} has folds 0..{folds - 1}")
    test = tables["test"][:, cfg.fold] == 1
    val = (tables["val"][:, cfg.fold] == 1) & ~test
    train = ~test & ~val
    x, labels = tables["x"], y.astype(np.int64)
    return BundleParts(name, x[train], labels[train], x[val], labels[val], x[test], labels[test])


@DATASETS.register("uci121", UCI121Config)
def build_uci121(cfg: UCI121Config) -> DataBundle:
    base = Path(cfg.root) / SOURCE.folder
    layout = cfg.layout
    if layout == "auto":
        layout = "snn" if (base / cfg.dataset / f"{cfg.dataset}_py.dat").is_file() else "original"
    parts = _snn(cfg, base) if layout == "snn" else _original(cfg, base)
    parts.name = f"uci121/{cfg.dataset}"
    classes = [int(y.max()) for y in (parts.y_train, parts.y_val, parts.y_test) if len(y)]
    parts.num_classes = max(classes) + 1
    return finish_bundle(parts, cfg)
