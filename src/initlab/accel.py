"""How the training loop uses a GPU well, by config: augmentation on the device, channels_last,
``torch.compile``. The loop calls :func:`prepare_model` once and :func:`prepare_batch` per step.

Keys (task configs that mix in :class:`AccelConfig`): ``augment`` (``none`` | ``crop_flip``, see
:mod:`initlab.data.augment`), ``channels_last`` (image models: NHWC memory layout, which cuDNN's
tensor-core convolutions prefer under bf16 autocast), ``compile`` (``torch.compile`` of the
model's forward, in place). Loops whose config lacks the keys (e.g. PDI's inner loop) get none of
them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from initlab.config import ConfigError, spec
from initlab.data.augment import AUGMENTATIONS, augment, batch_generator


@dataclass(kw_only=True)
class AccelConfig:
    augment: str = spec(choices=AUGMENTATIONS, help="training-batch augmentation on the device")
    channels_last: bool = spec(help="image models: channels_last memory format")
    compile: bool = spec(help="torch.compile the model's forward")


def _keys(loop: object) -> tuple[str, bool, bool]:
    return (
        getattr(loop, "augment", "none"),
        getattr(loop, "channels_last", False),
        getattr(loop, "compile", False),
    )


def prepare_model(model: nn.Module, loop: object, image: bool) -> nn.Module:
    """The model in the layout and compiled form the loop's keys ask for (in place)."""
    name, channels_last, compile_ = _keys(loop)
    if name != "none" and not image:
        raise ConfigError(f"task.augment: {name!r} needs image data; allowed here: none")
    if channels_last and image:
        model.to(memory_format=torch.channels_last)
    if compile_:
        model.compile()
    return model


def batch_transform(loop: object, seed: int) -> Callable[[torch.Tensor, int], torch.Tensor] | None:
    """:func:`prepare_batch` for the loop's ``transform(x, step)``, or None when it would
    return every batch unchanged (no augmentation, no channels_last)."""
    name, channels_last, _ = _keys(loop)
    if name == "none" and not channels_last:
        return None
    return lambda x, step: prepare_batch(x, loop, seed, step)


def prepare_batch(x: torch.Tensor, loop: object, seed: int, step: int) -> torch.Tensor:
    """The training batch of step ``step``: augmented (seeded by (seed, step)) and laid out."""
    name, channels_last, _ = _keys(loop)
    if name != "none":
        x = augment(name, x, batch_generator(x.device, seed, step))
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x
