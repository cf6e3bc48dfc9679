"""The rehearsal's files, written in the real formats, read back through the real loaders."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from initlab.compose import compose
from initlab.data import DataUnavailableError, build_data
from initlab.data.files import MANIFEST
from initlab.setup import parse_config
from initlab_harness.rehearsal.writers import (
    RehearsalRootError,
    read_manifest,
    write_all,
    write_cifar10,
    write_mnist,
)

SMALL = {
    "cifar10": {"shape": (50, 20)},
    "mnist": {"shape": (40, 10)},
    "uci121": {
        "names": ["abalone", "adult"],
        "shapes": {"abalone": (80, 8, 3, 0), "adult": (60, 14, 2, 20)},
    },
    "tox21": {"shape": (60, 12, 30)},
    "htru2": {"shape": (200, 8, 20)},
}


def _load(root, *overrides):
    cfg = compose(["logger.wandb.mode=disabled", *overrides])
    cfg["data"]["root"] = str(root)
    return build_data(parse_config(cfg).data)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("rehearsal-data")
    write_all(root, options=SMALL)
    return root


def test_cifar10_pickles_round_trip(root, tmp_path) -> None:
    data = _load(root, "data=cifar10", "data.standardize=false", "data.val_fraction=0.2")
    assert data.x_train.shape[1:] == (3, 32, 32) and len(data.x_test) == 20
    assert len(data.x_train) + len(data.x_val) == 50 and data.num_classes == 10
    # the bytes written are the bytes read: one more copy with the same seed, byte-identical
    other = write_cifar10(tmp_path, shape=(50, 20))
    assert all(
        p.read_bytes() == (root / "cifar-10-batches-py" / p.name).read_bytes() for p in other
    )


def test_mnist_idx_round_trip(root) -> None:
    data = _load(root, "data=mnist", "data.standardize=false", "data.val_fraction=0.1")
    assert data.x_train.shape[1:] == (1, 28, 28) and len(data.x_test) == 10
    assert float(data.x_train.max()) == 1.0  # the class rows are written as 255


def test_mnist_header_is_the_idx_format(tmp_path) -> None:
    images = write_mnist(tmp_path, shape=(5, 3))[0].read_bytes()
    assert images[:4] == bytes([0, 0, 8, 3])  # ubyte, three dimensions
    assert np.frombuffer(images[4:16], dtype=">i4").tolist() == [5, 28, 28]


def test_uci121_both_kinds_of_set_round_trip(root) -> None:
    folds = _load(root, "data=uci121", "data.dataset=abalone", "data.fold=3")
    assert folds.x_train.shape[1] == 8 and folds.num_classes == 3
    assert len(folds.x_train) + len(folds.x_val) + len(folds.x_test) == 80
    fixed = _load(root, "data=uci121", "data.dataset=adult")
    assert len(fixed.x_test) == 20 and len(fixed.x_train) + len(fixed.x_val) == 40


def test_tox21_and_htru2_round_trip(root) -> None:
    tox = _load(root, "data=tox21")
    assert tox.x_train.shape[1] == 30 and tox.num_classes == 12 and tox.metric == "mean_auc"
    assert len(tox.x_test) == 12 and bool(tox.y_train.isnan().any())  # missing labels kept
    htru = _load(root, "data=htru2", "data.fold=4")
    assert htru.x_train.shape[1] == 8 and htru.metric == "auc"
    assert len(htru.x_train) + len(htru.x_val) + len(htru.x_test) == 200


def test_manifest_lists_every_written_file_with_its_sha256(root) -> None:
    files = {k: v for k, v in read_manifest(root).items() if not k.endswith(":done")}
    assert "htru2/HTRU_2.csv" in files and "cifar-10-batches-py/test_batch" in files
    for rel, digest in files.items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest


def test_a_changed_rehearsal_file_is_refused(tmp_path) -> None:
    write_all(tmp_path, ["htru2"], options=SMALL)
    with open(tmp_path / "htru2" / "HTRU_2.csv", "a") as handle:
        handle.write("1,2,3,4,5,6,7,8,0\n")
    with pytest.raises(DataUnavailableError, match="HTRU_2.csv is corrupt"):
        _load(tmp_path, "data=htru2")


def test_writer_refuses_a_folder_with_real_data(tmp_path) -> None:
    (tmp_path / "htru2").mkdir()
    (tmp_path / "htru2" / "HTRU_2.csv").write_text("real\n")
    with pytest.raises(RehearsalRootError, match="did not write"):
        write_all(tmp_path, ["htru2"])


def test_real_files_keep_their_checksum_next_to_a_manifest(tmp_path) -> None:
    """A real file the manifest does not list is checked against its recorded sha256."""
    write_all(tmp_path, ["htru2"], options=SMALL)
    folder = tmp_path / "uci121" / "toy"
    folder.mkdir(parents=True)
    (folder / "toy_R.dat").write_text("\tf1\tclase\n1\t0.5\t0\n2\t0.1\t1\n")
    good = hashlib.sha256((folder / "toy_R.dat").read_bytes()).hexdigest()
    (tmp_path / "uci121" / "SHA256SUMS").write_text(f"{good}  toy/toy_R.dat\n")
    (folder / "toy_R.dat").write_text("\tf1\tclase\n1\t0.5\t0\n2\t0.9\t1\n")  # corrupted
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert "uci121/toy/toy_R.dat" not in manifest["files"]
    with pytest.raises(DataUnavailableError, match=f"toy_R.dat is corrupt.*expected sha256 {good}"):
        _load(tmp_path, "data=uci121", "data.dataset=toy")
