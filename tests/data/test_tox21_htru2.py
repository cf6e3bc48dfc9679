"""data=tox21 and data=htru2 on small files written here in the real formats; their metrics."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from initlab.compose import compose
from initlab.data import DataUnavailableError, build_data
from initlab.data.htru2 import stratified_folds
from initlab.data.multitask import binary_auc, masked_bce_with_logits, mean_auc
from initlab.setup import parse_config

TASKS = [
    "NR.AhR",
    "NR.AR",
    "NR.AR.LBD",
    "NR.Aromatase",
    "NR.ER",
    "NR.ER.LBD",
    "NR.PPAR.gamma",
    "SR.ARE",
    "SR.ATAD5",
    "SR.HSE",
    "SR.MMP",
    "SR.p53",
]


def _build(root: Path, name: str, *overrides: str):
    cfg = compose([f"data={name}", f"data.root={root}", *overrides])
    return build_data(parse_config(cfg).data)


def _write_tox21(root: Path, n_train: int = 60, n_test: int = 20, features: int = 5) -> None:
    folder = root / "tox21"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for which, n in (("train", n_train), ("test", n_test)):
        ids = [f"NCGC{which}{i:05d}" for i in range(n)]
        x = rng.normal(size=(n, features))
        x[:, 0] = np.arange(n)  # identifies the row
        dense = pd.DataFrame(x, index=ids, columns=[f"d{j}" for j in range(features)])
        labels = rng.integers(0, 2, size=(n, len(TASKS))).astype(float)
        labels[rng.random(labels.shape) < 0.3] = np.nan
        labels[:, 0] = np.arange(n) % 2  # task 0 fully observed: label = row parity
        frame = pd.DataFrame(labels, index=ids, columns=TASKS)
        dense.to_csv(folder / f"tox21_dense_{which}.csv.gz", compression="gzip")
        frame.to_csv(folder / f"tox21_labels_{which}.csv.gz", compression="gzip")


def test_tox21_bundle_keeps_missing_labels_as_nan(tmp_path) -> None:
    _write_tox21(tmp_path)
    bundle = _build(tmp_path, "tox21", "data.standardize=false", "data.val_fraction=0.25")
    assert bundle.metric == "mean_auc" and bundle.num_classes == 12
    assert bundle.y_train.dtype == torch.float32 and bundle.y_train.shape[1] == 12
    assert len(bundle.x_train) == 45 and len(bundle.x_val) == 15 and len(bundle.x_test) == 20
    assert torch.isnan(bundle.y_train).any()
    # labels travel with their compounds: task 0 is the row number's parity
    rows = bundle.x_train[:, 0].round().long()
    assert torch.equal(bundle.y_train[:, 0], (rows % 2).float())
    assert torch.equal(bundle.x_test[:, 0], torch.arange(20, dtype=torch.float32))


def test_tox21_missing_and_corrupt_files(tmp_path) -> None:
    with pytest.raises(
        DataUnavailableError, match="tox21_dense_train.csv.gz is missing.*tox21.zip"
    ):
        _build(tmp_path, "tox21")
    _write_tox21(tmp_path)
    (tmp_path / "tox21" / "tox21_labels_test.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataUnavailableError, match="tox21_labels_test.csv.gz is corrupt"):
        _build(tmp_path, "tox21")


def test_tox21_labels_must_be_binary(tmp_path) -> None:
    _write_tox21(tmp_path)
    path = tmp_path / "tox21" / "tox21_labels_train.csv.gz"
    frame = pd.read_csv(path, index_col=0)
    frame.iloc[0, 0] = 3.0
    frame.to_csv(path, compression="gzip")
    with pytest.raises(DataUnavailableError, match="labels other than 0, 1"):
        _build(tmp_path, "tox21")


def test_masked_bce_ignores_missing_labels() -> None:
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.3]], requires_grad=True)
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    loss = masked_bce_with_logits(logits, y)
    kept = torch.tensor([0.5, 2.0, 0.3])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        kept, torch.tensor([1.0, 0.0, 1.0])
    )
    assert torch.allclose(loss, expected)
    loss.backward()
    assert logits.grad[0, 1] == 0.0  # no gradient from the missing label


def test_mean_auc_over_observed_entries() -> None:
    y = np.array([[1, 0], [0, np.nan], [1, 1], [0, 0], [np.nan, 1]], dtype=float)
    scores = np.array([[0.9, 0.1], [0.2, 5.0], [0.4, 0.8], [0.5, 0.3], [0.0, 0.7]])
    auc0 = roc_auc_score([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.5])
    auc1 = roc_auc_score([0, 1, 0, 1], [0.1, 0.8, 0.3, 0.7])
    assert mean_auc(scores, y) == pytest.approx((auc0 + auc1) / 2)


def _write_htru2(root: Path, n: int = 200) -> None:
    folder = root / "htru2"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).round(6)
    x[:, 0] = np.arange(n)
    y = (np.arange(n) % 10 == 0).astype(int)  # 10% positives, like the pulsars' ~9%
    rows = [",".join([*(f"{v:.6f}" for v in xi), str(yi)]) for xi, yi in zip(x, y, strict=True)]
    (folder / "HTRU_2.csv").write_text("\n".join(rows) + "\n")


def test_htru2_folds_test_and_validate_as_in_the_paper(tmp_path) -> None:
    _write_htru2(tmp_path)
    seen_test: set[int] = set()
    for fold in range(10):
        bundle = _build(tmp_path, "htru2", f"data.fold={fold}", "data.standardize=false")
        test = set(bundle.x_test[:, 0].round().long().tolist())
        val = set(bundle.x_val[:, 0].round().long().tolist())
        assert not test & val and not test & seen_test
        seen_test |= test
        assert int(bundle.y_test.sum()) == 2  # stratified: 20 positives over 10 folds
        assert bundle.metric == "auc" and bundle.num_classes == 2
    assert seen_test == set(range(200))
    # fold M - 1 validates: the validation split of fold 0 is the test split of fold 9
    first = _build(tmp_path, "htru2", "data.fold=0", "data.standardize=false")
    last = _build(tmp_path, "htru2", "data.fold=9", "data.standardize=false")
    assert torch.equal(first.x_val.sort(dim=0).values, last.x_test.sort(dim=0).values)


def test_htru2_errors(tmp_path) -> None:
    from initlab.config import ConfigError

    with pytest.raises(DataUnavailableError, match="HTRU_2.csv is missing.*HTRU2.zip"):
        _build(tmp_path, "htru2")
    _write_htru2(tmp_path)
    with open(tmp_path / "htru2" / "HTRU_2.csv", "a") as handle:
        handle.write("1,2,3\n")
    with pytest.raises(DataUnavailableError, match="HTRU_2.csv is corrupt"):
        _build(tmp_path, "htru2")
    with pytest.raises(ConfigError, match="data.fold"):
        _build(tmp_path, "htru2", "data.fold=10")


def test_stratified_folds_balance_classes() -> None:
    y = np.array([0] * 95 + [1] * 5)
    folds = stratified_folds(y, 5, seed=3)
    assert np.bincount(folds[y == 1], minlength=5).tolist() == [1] * 5
    assert np.bincount(folds, minlength=5).tolist() == [20] * 5
    assert not np.array_equal(folds, stratified_folds(y, 5, seed=4))


def test_binary_auc_uses_class_one_probability() -> None:
    logits = torch.tensor([[0.0, 2.0], [1.0, 0.0], [0.0, 0.5], [3.0, 0.0]])
    y = torch.tensor([1, 0, 0, 1])
    expected = roc_auc_score([1, 0, 0, 1], torch.softmax(logits, 1)[:, 1].numpy())
    assert binary_auc(logits, y) == pytest.approx(expected)


def test_gzip_fixture_is_real_gzip(tmp_path) -> None:
    _write_tox21(tmp_path)
    with gzip.open(tmp_path / "tox21" / "tox21_dense_train.csv.gz", "rt") as handle:
        assert handle.readline().startswith(",d0")


def test_training_on_tox21_uses_masked_loss_and_reports_mean_auc(tmp_path) -> None:
    """End to end: the train task on multi-label data with gaps trains and reports mean AUC."""
    from initlab.main import execute

    _write_tox21(tmp_path / "data", n_train=200, n_test=60)
    cfg = compose(
        [
            "data=tox21",
            f"data.root={tmp_path / 'data'}",
            "model.depth=2",
            "model.width=16",
            "task.epochs=3",
            "task.batch_size=32",
            "optim.lr=0.01",
            "device=cpu",
            "logger.wandb.mode=disabled",
            "logger.progress=off",
        ]
    )
    summary = execute(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    for split in ("train", "val", "test"):
        assert 0.0 <= summary[f"{split}_mean_auc"] <= 1.0
        assert np.isfinite(summary[f"{split}_loss"])
    assert "test_accuracy" not in summary  # class accuracy means nothing for 12 binary tasks
