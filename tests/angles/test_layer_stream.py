"""Features streamed layer by layer (batches in lockstep) equal those of whole forward passes per
batch, and a consumer holds one layer at a time."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from initlab.analysis.features import _measurement_copy, iter_layer_features, layer_table
from tests.angles.test_vectorized import NETS, draws


def whole_passes(model, x, batch_size):
    """The features as computed before streaming: each batch's full ``layer_outputs``, then cat."""
    work = _measurement_copy(model, torch.float64)
    x = x.double()
    with torch.no_grad():
        chunks = [work.layer_outputs(x[s : s + batch_size]) for s in range(0, len(x), batch_size)]
    return [
        x.flatten(1),
        *(torch.cat([c[i] for c in chunks]).flatten(1) for i in range(len(chunks[0]))),
    ]


@pytest.mark.parametrize("net", ["conv_resnet_bn", "resnet", "mlp"])
def test_streamed_features_equal_whole_passes(net):
    models, x, _ = draws(NETS[net], count=1)
    streamed = list(iter_layer_features(models[0], x, batch_size=16))  # 40 rows: 3 batches
    expected = whole_passes(models[0], x, 16)
    assert len(streamed) == len(expected) > 3
    for a, b in zip(streamed, expected, strict=True):
        assert torch.equal(a, b)


def test_a_consumer_holds_one_layer_at_a_time():
    models, x, y = draws(NETS["conv_resnet"], count=1)
    refs = []
    for h in iter_layer_features(models[0], x, batch_size=16):
        gc.collect()
        assert sum(r() is not None for r in refs) == 0  # the previous layers are gone
        refs.append(weakref.ref(h))
        del h
    assert len(refs) > 3
    table = layer_table(models[0], x, y, batch_size=16)
    assert len(table) == len(refs) and table.second_moment.notna().all()
