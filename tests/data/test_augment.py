"""On-device augmentation: every output is a crop (and maybe a mirror) of the padded input,
offsets and flips cover their range, draws are seeded; the loop's hook applies it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from initlab.accel import prepare_batch, prepare_model
from initlab.config import ConfigError
from initlab.data.augment import augment, batch_generator, random_crop_flip
from initlab.main import execute
from tests.conftest import quiet_config


def _generator(seed: int) -> torch.Generator:
    return batch_generator("cpu", seed, 0)


def test_each_example_is_a_crop_or_mirrored_crop_of_its_padded_image():
    x = torch.randn(64, 3, 6, 5)
    out = random_crop_flip(x, _generator(1), padding=2)
    padded = F.pad(x, (2, 2, 2, 2))
    offsets, flips = set(), 0
    for i in range(len(x)):
        found = [
            (top, left, mirror)
            for top in range(5)
            for left in range(5)
            for mirror in (False, True)
            if torch.equal(
                out[i],
                (lambda c: c.flip(-1) if mirror else c)(
                    padded[i, :, top : top + 6, left : left + 5]
                ),
            )
        ]
        assert found, f"example {i} is no crop of its padded image"
        offsets.add(found[0][:2])
        flips += found[0][2]
    assert len(offsets) > 15  # of 25 offsets, with 64 draws
    assert 16 < flips < 48  # about half mirrored


def test_seeded_draws_repeat_and_differ_by_seed():
    x = torch.randn(16, 3, 32, 32)
    a = augment("crop_flip", x, _generator(5))
    assert torch.equal(a, augment("crop_flip", x, _generator(5)))
    assert not torch.equal(a, augment("crop_flip", x, _generator(6)))
    assert torch.equal(augment("none", x, _generator(5)), x)
    with pytest.raises(ValueError, match="image batches"):
        augment("crop_flip", torch.randn(4, 10), _generator(0))


def test_hooks_follow_the_keys():
    class Keys:
        augment, channels_last, compile = "crop_flip", True, False

    x = torch.randn(8, 3, 32, 32)
    batch = prepare_batch(x, Keys, seed=0, step=3)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch, prepare_batch(x, Keys, seed=0, step=3))  # resume: same batch
    assert not torch.equal(batch, prepare_batch(x, Keys, seed=0, step=4))
    assert prepare_batch(x, object(), seed=0, step=3) is x  # a loop without the keys
    model = torch.nn.Conv2d(3, 4, 3)
    prepare_model(model, Keys, image=True)
    assert model.weight.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ConfigError, match="task.augment"):
        prepare_model(torch.nn.Linear(2, 2), Keys, image=False)


def test_a_cnn_trains_with_augmentation_and_channels_last(tmp_path):
    cfg = quiet_config(
        "model=cnn",
        "data=digits",
        "task.epochs=1",
        "task.augment=crop_flip",
        "task.channels_last=true",
    )
    summary = execute(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    assert 0.0 <= summary["test_accuracy"] <= 1.0
