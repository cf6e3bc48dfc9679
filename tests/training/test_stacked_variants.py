"""Stacked training equals one-by-one training for every FNN variant of the SNN paper.

Each member is built and trained as ``task=grid_search`` trains it alone (seeded model, the
global random stream from there on for its dropout masks, ``build_optimizer`` with its own lr,
momentum and weight decay, ``model.objective``); the stack gets the same models, optimizer configs
and random states. Parameters and buffers (BatchNorm running statistics) must agree to float32
rounding after a short run: rtol 1e-5, atol 1e-6 (2e-5 / 2e-6 for Adam, whose update divides by
sqrt of a second moment near zero early on). Adam is not tested on BatchNorm nets: the bias of a
Linear right before a BatchNorm has a zero gradient up to rounding noise, which Adam normalizes to
steps of size lr, so one-by-one training itself is not reproducible there beyond rounding.
"""

from __future__ import annotations

import math

import pytest
import torch

from initlab.compose import compose
from initlab.data import build_data
from initlab.optim import build_optimizer
from initlab.setup import parse_config
from initlab.training import epoch_order
from initlab.training.stacked import StackedModels, load_member, train_stacked

EPOCHS, BATCH, ORDER_SEED = 2, 16, 3


def member(arm: tuple[str, ...], overrides: tuple[str, ...], seed: int):
    setup = parse_config(
        compose(
            [
                "data=iris",
                *arm,
                "model.depth=2",
                "model.width=16",
                "device=cpu",
                "logger.wandb.mode=disabled",
                *overrides,
            ]
        )
    )
    data = build_data(setup.data)
    torch.manual_seed(seed)
    model = setup.new_model(data)
    return model, setup.optim, torch.get_rng_state(), data


def train_alone(model, optim, rng_state, data, epochs=EPOCHS):
    """``task=grid_search``'s one-by-one member loop."""
    torch.set_rng_state(rng_state)
    x, y = data.split("train")
    n = len(x)
    optimizer, scheduler = build_optimizer(optim, model.parameters(), epochs * math.ceil(n / BATCH))
    model.train()
    for epoch in range(epochs):
        order = epoch_order(n, ORDER_SEED, epoch)
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            loss = model.objective(x[idx], y[idx])["loss"].mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:  # None: a constant learning rate
                scheduler.step()
    return model


SGD = ("optim=sgd",)
# per member: (overrides); every case mixes members that differ in lr, momentum, weight decay
# and, where the variant has dropout, in the dropout rate (0 = no dropout layer at all)
CASES = {
    "snn_alpha_dropout": (
        ("arm=fnn_snn", *SGD),
        [
            ("optim.lr=0.05", "model.dropout=0.05", "optim.momentum=0.0"),
            ("optim.lr=0.1", "model.dropout=0.0", "optim.momentum=0.0"),
            ("optim.lr=0.02", "model.dropout=0.1", "optim.momentum=0.5"),
        ],
    ),
    "msra_dropout": (
        ("arm=fnn_msra", *SGD),
        [
            ("optim.lr=0.05", "model.dropout=0.5", "optim.momentum=0.0"),
            ("optim.lr=0.1", "model.dropout=0.0", "optim.weight_decay=0.01"),
            ("optim.lr=0.02", "model.dropout=0.2", "optim.momentum=0.9"),
        ],
    ),
    "batchnorm": (
        ("arm=fnn_batchnorm", *SGD),
        [("optim.lr=0.05",), ("optim.lr=0.1", "optim.momentum=0.9"), ("optim.lr=0.01",)],
    ),
    "layernorm": (
        ("arm=fnn_layernorm", *SGD),
        [("optim.lr=0.05",), ("optim.lr=0.1", "optim.weight_decay=0.001"), ("optim.lr=0.2",)],
    ),
    "weightnorm": (
        ("arm=fnn_weightnorm", *SGD),
        [("optim.lr=0.05",), ("optim.lr=0.1", "optim.momentum=0.9"), ("optim.lr=0.02",)],
    ),
    "highway_dropout": (
        ("arm=fnn_highway", *SGD),
        [
            ("optim.lr=0.05", "model.dropout=0.5"),
            ("optim.lr=0.1", "model.dropout=0.0"),
            ("optim.lr=0.02", "model.dropout=0.5", "optim.momentum=0.9"),
        ],
    ),
    "resnet_diavolo": (
        ("arm=fnn_resnet", *SGD, "model.branch_layers=3", "model.block_shape=diavolo"),
        [
            ("optim.lr=0.05", "model.bottleneck=0.25"),
            ("optim.lr=0.1", "model.bottleneck=0.25", "optim.momentum=0.9"),
        ],
    ),
    "resnet_rectangular_dropout": (
        ("arm=fnn_resnet", *SGD, "model.bottleneck=0.5"),
        [("optim.lr=0.05", "model.dropout=0.1"), ("optim.lr=0.03", "model.dropout=0.0")],
    ),
    "nesterov_cosine_warmup": (
        (
            "arm=fnn_msra",
            *SGD,
            "optim.momentum=0.9",
            "optim.nesterov=true",
            "optim.schedule=cosine",
        ),
        [("optim.lr=0.05", "optim.warmup_steps=3"), ("optim.lr=0.1", "optim.warmup_steps=3")],
    ),
    "adam": (
        ("arm=fnn_msra", "optim=adam"),
        [("optim.lr=0.001",), ("optim.lr=0.01", "optim.weight_decay=0.01"), ("optim.lr=0.003",)],
    ),
    "adamw_step_schedule": (
        ("arm=fnn_snn", "optim=adam", "optim.decoupled=true", "optim.schedule=step"),
        [("optim.lr=0.001", "optim.weight_decay=0.1"), ("optim.lr=0.01", "model.dropout=0.0")],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stack_equals_one_by_one(case):
    arm, members = CASES[case]
    built = [member(arm, overrides, seed=40 + i) for i, overrides in enumerate(members)]
    models = [m for m, _, _, _ in built]
    data = built[0][3]
    x, y = data.split("train")
    assert StackedModels(models).batched is not None  # every variant runs as batched layers
    result = train_stacked(
        models,
        x,
        y,
        epochs=EPOCHS,
        batch_size=BATCH,
        order_seeds=[ORDER_SEED] * len(models),
        optims=[optim for _, optim, _, _ in built],
        rng_states=[state for _, _, state, _ in built],
    )
    tolerance = {"rtol": 2e-5, "atol": 2e-6} if "adam" in case else {"rtol": 1e-5, "atol": 1e-6}
    for k, (_, optim, state, _) in enumerate(built):
        fresh, _, _, _ = member(arm, members[k], seed=40 + k)
        before = {name: p.detach().clone() for name, p in fresh.named_parameters()}
        alone = train_alone(fresh, optim, state, data)
        into, _, _, _ = member(arm, members[k], seed=0)
        into(x[:2])  # settles weight norm's g of this target (then overwritten by load_member)
        trained = load_member(into, result.params, k, result.buffers)
        moved = 0.0
        for (name, p), (_, q) in zip(alone.named_parameters(), trained.named_parameters()):
            torch.testing.assert_close(q, p, **tolerance, msg=f"{case} member {k} {name}")
            moved = max(moved, (p - before[name]).abs().max().item())
        assert moved > 1e-4, "the member did not train"
        for (name, p), (_, q) in zip(alone.named_buffers(), trained.named_buffers()):
            torch.testing.assert_close(q, p, **tolerance, msg=f"{case} member {k} {name}")


def test_dropout_members_draw_their_own_masks_of_their_own_rate():
    """Same init, lr and batches: members with different dropout rates end apart, and a member
    with rate 0 trains as a dropout-free net (a stack without dropout at all)."""
    arm = ("arm=fnn_msra", *SGD)
    built = [member(arm, (f"model.dropout={p}",), seed=7) for p in (0.0, 0.5, 0.5)]
    models = [m for m, _, _, _ in built]
    data = built[0][3]
    x, y = data.split("train")
    common = dict(epochs=1, batch_size=BATCH, order_seeds=[0] * 3, lr=0.1)
    states = [built[0][2], built[1][2], torch.manual_seed(99).get_state()]
    result = train_stacked(models, x, y, rng_states=states, **common)
    first = next(iter(result.params.values()))
    assert not torch.allclose(first[1], first[2])  # same rate, other masks
    assert not torch.allclose(first[0], first[1])
    plain, _, _, _ = member(arm, ("model.dropout=0.0",), seed=7)
    alone = train_stacked([plain], x, y, **{**common, "order_seeds": [0]})
    torch.testing.assert_close(first[0], next(iter(alone.params.values()))[0])
