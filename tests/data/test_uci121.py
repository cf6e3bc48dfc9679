"""data=uci121 on small sets written here in both published layouts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from initlab.compose import compose
from initlab.config import ConfigError
from initlab.data import DataUnavailableError, build_data
from initlab.setup import parse_config

N, D = 40, 3


def _data(root: Path, *overrides: str):
    cfg = compose(["data=uci121", f"data.root={root}", "data.dataset=toy", *overrides])
    return build_data(parse_config(cfg).data)


def _features(n: int = N) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, D)).round(4)
    y = np.arange(n) % 3
    x[:, 0] = np.arange(n)  # feature 0 identifies the row: splits can be checked exactly
    return x, y


def _write_r(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    header = "\t" + "\t".join(f"f{i}" for i in range(x.shape[1])) + "\tclase"
    rows = [
        "\t".join([str(i + 1), *(f"{v:.4f}" for v in xi), str(int(yi))])
        for i, (xi, yi) in enumerate(zip(x, y, strict=True))
    ]
    path.write_text("\n".join([header, *rows]) + "\n")


def _write_lines(path: Path, lines: list[np.ndarray]) -> None:
    path.write_text("".join(" ".join(str(int(i)) for i in line) + "\n" for line in lines))


def _original(root: Path) -> Path:
    folder = root / "uci121" / "toy"
    folder.mkdir(parents=True)
    x, y = _features()
    _write_r(folder / "toy_R.dat", x, y)
    order = np.random.default_rng(1).permutation(N)
    _write_lines(folder / "conxuntos.dat", [np.sort(order[:20]), np.sort(order[20:])])
    kfold = []
    for k in range(4):
        test = np.arange(k, N, 4)
        kfold += [np.setdiff1d(np.arange(N), test), test]
    _write_lines(folder / "conxuntos_kfold.dat", kfold)
    return folder


def _rows(x) -> set[int]:
    return set(np.asarray(x[:, 0]).round().astype(int).tolist())


def test_original_layout_follows_the_files(tmp_path) -> None:
    folder = _original(tmp_path)
    bundle = _data(tmp_path, "data.fold=2", "data.standardize=false")
    assert _rows(bundle.x_test) == set(range(2, N, 4))
    val_tuning = {int(v) for v in (folder / "conxuntos.dat").read_text().splitlines()[1].split()}
    assert _rows(bundle.x_val) == val_tuning - set(range(2, N, 4))
    assert _rows(bundle.x_train) | _rows(bundle.x_val) | _rows(bundle.x_test) == set(range(N))
    assert len(bundle.x_train) + len(bundle.x_val) + len(bundle.x_test) == N
    assert bundle.num_classes == 3 and bundle.input_shape == (D,)
    # labels travel with their rows (class = row % 3)
    assert np.array_equal(bundle.y_test.numpy(), np.array(sorted(_rows(bundle.x_test))) % 3)


def test_original_layout_with_fixed_test_file(tmp_path) -> None:
    folder = tmp_path / "uci121" / "toy"
    folder.mkdir(parents=True)
    x, y = _features()
    _write_r(folder / "toy_train_R.dat", x[:30], y[:30])
    _write_r(folder / "toy_test_R.dat", x[30:], y[30:])
    _write_lines(folder / "conxuntos.dat", [np.arange(0, 20), np.arange(20, 30)])
    bundle = _data(tmp_path, "data.standardize=false")
    assert _rows(bundle.x_test) == set(range(30, N))
    assert _rows(bundle.x_val) == set(range(20, 30))
    with pytest.raises(ConfigError, match="data.fold"):
        _data(tmp_path, "data.fold=1")


def test_snn_layout_follows_the_fold_columns(tmp_path) -> None:
    folder = tmp_path / "uci121" / "toy"
    folder.mkdir(parents=True)
    x, y = _features()
    test = np.stack([(np.arange(N) % 4 == k) for k in range(4)], axis=1).astype(int)
    val = np.stack([(np.arange(N) % 4 == (k + 1) % 4) for k in range(4)], axis=1).astype(int)
    np.savetxt(folder / "toy_py.dat", x, delimiter=",", fmt="%.4f")
    np.savetxt(folder / "labels_py.dat", y, fmt="%d")
    np.savetxt(folder / "folds_py.dat", test, delimiter=",", fmt="%d")
    np.savetxt(folder / "validation_folds_py.dat", val, delimiter=",", fmt="%d")
    bundle = _data(tmp_path, "data.fold=1", "data.standardize=false")
    assert _rows(bundle.x_test) == set(range(1, N, 4))
    assert _rows(bundle.x_val) == set(range(2, N, 4))
    assert len(bundle.x_train) == N // 2
    assert bundle.name == "uci121/toy"
    with pytest.raises(ConfigError, match="data.fold"):
        _data(tmp_path, "data.fold=4")


def test_missing_file_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(DataUnavailableError) as err:
        _data(tmp_path)
    message = str(err.value)
    assert "toy_R.dat" in message and "missing" in message
    assert "expected sha256: unknown" in message
    assert "data.tar.gz" in message and "download_data.py" in message


def test_corrupt_file_is_named_with_its_recorded_checksum(tmp_path) -> None:
    folder = _original(tmp_path)
    good = hashlib.sha256((folder / "toy_R.dat").read_bytes()).hexdigest()
    (tmp_path / "uci121" / "SHA256SUMS").write_text(f"{good}  toy/toy_R.dat\n")
    _data(tmp_path)  # matches its checksum: loads
    with open(folder / "toy_R.dat", "a") as handle:
        handle.write("garbage\n")
    with pytest.raises(DataUnavailableError, match=f"toy_R.dat is corrupt.*expected sha256 {good}"):
        _data(tmp_path)


def test_unparsable_file_is_reported_as_corrupt(tmp_path) -> None:
    folder = _original(tmp_path)
    (folder / "conxuntos_kfold.dat").write_text("0 1 2\n3 x 5\n")
    with pytest.raises(DataUnavailableError, match="conxuntos_kfold.dat is corrupt"):
        _data(tmp_path)
    _write_lines(folder / "conxuntos_kfold.dat", [np.arange(30), np.arange(30, N + 5)])
    with pytest.raises(DataUnavailableError, match="outside"):
        _data(tmp_path)
