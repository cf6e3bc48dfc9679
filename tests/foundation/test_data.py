"""Data: fixed splits, no leakage, and the real MNIST/CIFAR-10 readers on files in their formats."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from initlab.data import DataUnavailableError, build_data
from initlab.data.bundle import split_indices
from initlab.setup import parse_config
from tests.conftest import quiet_config


def _data(*overrides: str):
    return build_data(parse_config(quiet_config(*overrides)).data)


def test_split_is_a_partition_fixed_by_its_seed():
    train, val, test = split_indices(100, 0.1, 0.2, seed=3)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    assert (len(train), len(val), len(test)) == (70, 10, 20)
    again = split_indices(100, 0.1, 0.2, seed=3)
    other = split_indices(100, 0.1, 0.2, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))
    assert not np.array_equal(test, other[2])


def test_split_does_not_depend_on_the_run_seed():
    a, b = _data("seed=0"), _data("seed=5")
    assert torch.equal(a.x_test, b.x_test)


def test_standardization_uses_training_statistics_only():
    bundle = _data("data=wine")
    mean = bundle.x_train.mean(0)
    std = bundle.x_train.std(0, unbiased=False)
    torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-5, rtol=0)
    torch.testing.assert_close(std, torch.ones_like(std), atol=1e-4, rtol=0)
    assert bundle.x_test.mean(0).abs().max() > 1e-3  # test data was not used for the statistics


def test_embedded_shapes_and_max_train():
    digits = _data("data=digits", "data.max_train=100")
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert len(digits.x_train) == 100
    synthetic = _data("data=synthetic", "data.dim=7", "data.classes=3", "data.samples=300")
    assert synthetic.input_shape == (7,) and synthetic.num_classes == 3
    assert len(synthetic.x_train) + len(synthetic.x_val) + len(synthetic.x_test) == 300


def _write_idx(path, array: np.ndarray) -> None:
    """The idx format of MNIST: magic (0, 0, dtype 0x08, ndim), big-endian sizes, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_reader_on_files_in_the_idx_format(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, size=(50, 28, 28))
    train_y = np.arange(50) % 10
    test_x = rng.integers(0, 256, size=(20, 28, 28))
    _write_idx(raw / "train-images-idx3-ubyte", train_x)
    _write_idx(raw / "train-labels-idx1-ubyte", train_y)
    _write_idx(raw / "t10k-images-idx3-ubyte", test_x)
    _write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(20) % 10)
    bundle = _data(
        "data=mnist", f"data.root={tmp_path}", "data.download=false", "data.standardize=false"
    )
    assert bundle.input_shape == (1, 28, 28)
    assert len(bundle.x_train) == 45 and len(bundle.x_val) == 5 and len(bundle.x_test) == 20
    # the test split is the official one, in order
    torch.testing.assert_close(
        bundle.x_test[:, 0], torch.tensor(test_x / 255.0, dtype=torch.float32)
    )
    assert bundle.y_test.tolist() == (np.arange(20) % 10).tolist()


def test_cifar10_reader_on_files_in_the_pickle_format(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    images = {}
    for name in names:
        data = rng.integers(0, 256, size=(8, 3072), dtype=np.uint8)
        images[name] = data
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": data, "labels": list(range(8)), "batch_label": name}, fh)
    bundle = _data(
        "data=cifar10",
        f"data.root={tmp_path}",
        "data.download=false",
        "data.standardize=false",
        "data.val_fraction=0.0",
    )
    assert bundle.input_shape == (3, 32, 32) and bundle.num_classes == 10
    assert len(bundle.x_train) == 40 and len(bundle.x_test) == 8
    expected = images["test_batch"].reshape(8, 3, 32, 32) / 255.0
    torch.testing.assert_close(bundle.x_test, torch.tensor(expected, dtype=torch.float32))


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_missing_files_give_one_clear_message(tmp_path, name):
    with pytest.raises(DataUnavailableError) as err:
        _data(f"data={name}", f"data.root={tmp_path}", "data.download=false")
    assert str(tmp_path) in str(err.value) and "Download" in str(err.value)


def test_failed_download_says_what_to_fetch(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(DataUnavailableError, match="could not be downloaded") as err:
        _data("data=mnist", f"data.root={tmp_path}", "data.download=true")
    assert "train-images-idx3-ubyte" in str(err.value)


def test_gzip_is_not_needed_for_the_idx_reader(tmp_path):
    """torchvision reads unpacked idx files; a .gz left alone is not mistaken for them."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    with gzip.open(raw / "train-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(b"not read")
    with pytest.raises(DataUnavailableError):
        _data("data=mnist", f"data.root={tmp_path}", "data.download=false")
