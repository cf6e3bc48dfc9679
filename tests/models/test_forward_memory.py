"""``forward`` holds one layer's output at a time, and gives what ``layer_outputs`` gives."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from initlab.models import build_model
from initlab.setup import parse_config
from tests.conftest import quiet_config

MODELS = {
    "mlp": (["model=mlp", "model.depth=12", "model.width=8"], (10,)),
    "resnet": (["model=resnet", "model.depth=12", "model.width=8"], (10,)),
    "conv_resnet": (["model=resnet", "model.depth=12", "model.width=4"], (3, 8, 8)),
    "cnn": (["model=cnn"], (1, 28, 28)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_keeps_only_the_last_layer_output_alive(name: str) -> None:
    overrides, shape = MODELS[name]
    model = build_model(parse_config(quiet_config(*overrides, "device=cpu")).model, shape, 3)
    model.eval()
    x = torch.randn(5, *shape)
    with torch.no_grad():
        expected = model.head(model.layer_outputs(x)[-1])
    layers = len(model.layer_outputs(x))
    assert layers >= 3
    alive_at_head: list[int] = []
    refs: list[weakref.ref] = []
    produce, head = model.layers, model.head

    def tracked_layers(inputs):
        for h in produce(inputs):
            refs.append(weakref.ref(h))
            yield h

    def counting_head(h):
        gc.collect()
        alive_at_head.append(sum(r() is not None for r in refs))
        return head(h)

    model.layers, model.head = tracked_layers, counting_head
    with torch.no_grad():
        logits = model(x)
    assert len(refs) == layers
    assert alive_at_head == [1]  # holding the list would keep every layer's output: `layers`
    torch.testing.assert_close(logits, expected, rtol=0, atol=0)
