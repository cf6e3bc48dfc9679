"""The per-layer table against a hand computation, the pair generator, and batch statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from initlab.analysis.features import layer_table, make_pairs, pairs_within_batches
from initlab.compose import compose
from initlab.models import build_model
from initlab.setup import parse_config


def tiny(*overrides: str, input_dim: int = 3):
    cfg = compose(["logger.wandb.mode=disabled", "data=iris", *overrides])
    return build_model(parse_config(cfg).model, (input_dim,), 2)


def test_table_matches_a_hand_computation():
    model = tiny("model=mlp", "model.depth=2", "model.width=3")
    model.hidden[1][0] = torch.nn.Linear(3, 2)  # widths 3 then 2
    w1 = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0], [0.5, 0.5, 0.5]])
    w2 = np.array([[1.0, 1.0, 0.2], [-1.0, 0.5, 1.0]])
    with torch.no_grad():
        for layer, w in zip(model.hidden, (w1, w2), strict=True):
            layer[0].weight.copy_(torch.tensor(w))
            layer[0].bias.zero_()
    x = np.array([[1.0, 0.0, 2.0], [0.5, -1.0, 1.0], [2.0, 1.0, 0.0], [-1.0, 1.0, 3.0]])
    labels = np.array([0, 0, 1, 1])
    pairs = np.array([[0, 1], [2, 3], [0, 2]])
    table = layer_table(
        model, torch.tensor(x, dtype=torch.float32), torch.tensor(labels), pairs, ["a", "a", "b"]
    )
    feats = [x]
    for w in (w1, w2):
        feats.append(np.maximum(feats[-1] @ w.T, 0.0))
    for layer, h in enumerate(feats):
        rows = table[table.layer == layer].set_index("group")
        cos = [h[i] @ h[j] / np.linalg.norm(h[i]) / np.linalg.norm(h[j]) for i, j in pairs]
        assert rows.loc["a", "cos_mean"] == pytest.approx(np.mean(cos[:2]), abs=1e-6)
        assert rows.loc["a", "cos_std"] == pytest.approx(np.std(cos[:2]), abs=1e-6)
        assert rows.loc["b", "angle_mean"] == pytest.approx(np.arccos(cos[2]), abs=1e-5)
        if layer == 0:
            cos_input = np.mean(cos[:2])
        assert rows.loc["a", "cos0"] == pytest.approx(cos_input, abs=1e-6)
        dist = np.linalg.norm(h[:, None] - h[None], axis=2)
        within = np.mean([dist[0, 1], dist[2, 3]])
        between = np.mean([dist[i, j] for i in (0, 1) for j in (2, 3)])
        assert rows.loc["a", "within"] == pytest.approx(within, rel=1e-6)
        assert rows.loc["b", "between"] == pytest.approx(between, rel=1e-6)
        assert rows.loc["a", "ratio"] == pytest.approx(between / within, rel=1e-6)
        assert rows.loc["a", "second_moment"] == pytest.approx((h**2).mean(), rel=1e-6)
    # tanh has no closed form here: theory columns stay empty rather than wrong
    assert table.theory_cos.notna().all()
    tanh = tiny("model=mlp", "model.depth=2", "model.activation=tanh")
    assert layer_table(tanh, torch.tensor(x).float(), pairs=pairs).theory_cos.isna().all()


def test_cos0_is_only_set_at_the_input_layer_group_mean():
    pairs = make_pairs([0.3], 4, 5, torch.Generator().manual_seed(0))
    table = layer_table(tiny("model=mlp", input_dim=5), pairs.x, pairs=pairs.pairs)
    assert table.cos0.nunique() == 1
    assert table.cos0.iloc[0] == pytest.approx(0.3, abs=1e-6)


def test_pairs_have_the_asked_cosine_and_norm():
    pairs = make_pairs([0.0, 0.5, -0.3, 0.999], 5, 16, torch.Generator().manual_seed(0))
    a, b = pairs.x[pairs.pairs[:, 0]].double(), pairs.x[pairs.pairs[:, 1]].double()
    cos = (a * b).sum(1) / a.norm(dim=1) / b.norm(dim=1)
    np.testing.assert_allclose(cos.numpy(), pairs.group, atol=1e-6)
    np.testing.assert_allclose(a.norm(dim=1).numpy(), 4.0, rtol=1e-6)
    assert len(set(map(tuple, pairs.x.numpy().round(4).tolist()))) == 40  # all distinct


def test_data_pairs_stay_within_a_batch():
    pairs = pairs_within_batches(70, 500, 16, torch.Generator().manual_seed(0))
    assert torch.all(pairs[:, 0] != pairs[:, 1])
    assert torch.all(pairs[:, 0] // 16 == pairs[:, 1] // 16)
    assert pairs.max() < 70 and pairs.min() >= 0


def test_batchnorm_uses_the_statistics_of_each_batch():
    model = tiny("model=resnet_bn", "model.depth=3", "model.width=8", input_dim=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    pairs = torch.tensor([[0, 1], [32, 33]])
    whole = layer_table(model, x, pairs=pairs, batch_size=None)
    halves = layer_table(model, x, pairs=pairs, batch_size=32)
    quarters = layer_table(model, x, pairs=pairs, batch_size=16)
    last = whole.layer.max()
    assert whole.cos_mean.iloc[0] == halves.cos_mean.iloc[0]  # the input layer
    for other in (halves, quarters):  # deeper layers depend on the batch they were normalized in
        assert abs(whole.cos_mean.iloc[last] - other.cos_mean.iloc[last]) > 1e-4
    assert whole.theory_cos.isna().all()  # no closed form for true BatchNorm
    for key, value in model.state_dict().items():  # running statistics untouched
        assert torch.equal(value, before[key]), key
