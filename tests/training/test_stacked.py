"""Stacked (vmap) training of K members equals training each member alone."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from initlab.compose import compose
from initlab.data import build_data
from initlab.setup import parse_config
from initlab.training import epoch_order
from initlab.training.stacked import StackedModels, load_member, train_stacked

LRS = [0.05, 0.1, 0.02, 0.2]
EPOCHS, BATCH = 3, 16


def make_models(seeds, dropout=0.0, arm=("model=mlp",)):
    setup = parse_config(
        compose(
            [
                "data=iris",
                *arm,
                "model.depth=2",
                "model.width=16",
                f"model.dropout={dropout}",
                "device=cpu",
                "logger.wandb.mode=disabled",
            ]
        )
    )
    data = build_data(setup.data)
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(setup.new_model(data))
    return models, data


def train_alone(model, data, lr, seed, momentum=0.0, weight_decay=0.0):
    """The plain one-model loop stacked training must reproduce."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    x, y = data.x_train, data.y_train
    n = len(x)
    for epoch in range(EPOCHS):
        order = epoch_order(n, seed, epoch)
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        logits = model(data.x_test)
    return F.cross_entropy(logits, data.y_test).item(), (logits.argmax(1) == data.y_test).float()


@pytest.mark.parametrize(
    ("momentum", "weight_decay", "order_seeds"),
    [(0.0, 0.0, [0, 1, 2, 3]), (0.9, 1e-3, [0, 1, 2, 3]), (0.0, 0.0, [7, 7, 7, 7])],
    ids=["sgd_own_orders", "momentum_wd", "shared_order"],
)
def test_stacked_equals_one_by_one(momentum, weight_decay, order_seeds):
    seeds = [10, 11, 12, 13]
    models, data = make_models(seeds)
    result = train_stacked(
        models,
        data.x_train,
        data.y_train,
        lr=LRS,
        epochs=EPOCHS,
        batch_size=BATCH,
        order_seeds=order_seeds,
        momentum=momentum,
        weight_decay=weight_decay,
        eval_sets={"test": (data.x_test, data.y_test)},
    )
    assert result.steps == EPOCHS * math.ceil(len(data.x_train) / BATCH)
    reference, _ = make_models(seeds)
    for k, model in enumerate(reference):
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        test_loss, correct = train_alone(
            model, data, LRS[k], order_seeds[k], momentum, weight_decay
        )
        trained = load_member(make_models([0])[0][0], result.params, k)
        moved = 0.0
        for (name, p), (_, q) in zip(model.named_parameters(), trained.named_parameters()):
            torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=name)
            moved = max(moved, (p - before[name]).abs().max().item())
        assert moved > 1e-3  # the members really trained
        assert result.metrics[k]["test_loss"] == pytest.approx(test_loss, rel=1e-5, abs=1e-6)
        assert result.metrics[k]["test_accuracy"] == pytest.approx(correct.mean().item())
        assert set(result.metrics[k]) == {
            "train_loss",
            "train_accuracy",
            "test_loss",
            "test_accuracy",
        }


def test_members_differ_and_inputs_untouched():
    models, data = make_models([1, 1, 1, 1])
    initial = [p.detach().clone() for p in models[0].parameters()]
    result = train_stacked(
        models, data.x_train, data.y_train, lr=LRS, epochs=1, batch_size=BATCH, order_seeds=[0] * 4
    )
    for p, q in zip(models[0].parameters(), initial):
        assert torch.equal(p, q)
    first = next(iter(result.params.values()))
    assert not torch.allclose(first[0], first[1])  # same init, different lr


def test_dropout_runs_with_independent_masks():
    """With dropout, members of identical init, lr and order still diverge: masks differ."""
    models, data = make_models([3, 3], dropout=0.5)
    result = train_stacked(
        models, data.x_train, data.y_train, lr=0.1, epochs=1, batch_size=BATCH, order_seeds=[0, 0]
    )
    first = next(iter(result.params.values()))
    assert not torch.allclose(first[0], first[1])
    assert all(math.isfinite(m["train_loss"]) for m in result.metrics)


def test_rejects_mismatched_arguments():
    models, data = make_models([0, 1])
    with pytest.raises(ValueError, match="order_seeds"):
        train_stacked(
            models, data.x_train, data.y_train, lr=0.1, epochs=1, batch_size=8, order_seeds=[0]
        )
    with pytest.raises(ValueError, match="lr"):
        train_stacked(
            models,
            data.x_train,
            data.y_train,
            lr=[0.1] * 3,
            epochs=1,
            batch_size=8,
            order_seeds=[0, 1],
        )


@pytest.mark.parametrize(
    ("fnn", "batched"),
    [("snn", True), ("msra", True), ("layernorm", True), ("resnet", True), ("highway", True)],
)
def test_batched_layers_equal_one_by_one_for_the_fnn_variants(fnn, batched):
    """With a shared batch order the members run as batched layers (one bmm per layer; the
    highway gate's own bias is stacked as (K, 1, width))."""
    arm = (f"arm=fnn_{fnn}",)
    seeds, order = [20, 21, 22, 23], [5] * 4
    models, data = make_models(seeds, arm=arm)
    assert (StackedModels(models).batched is not None) == batched
    result = train_stacked(
        models, data.x_train, data.y_train, lr=LRS, epochs=2, batch_size=BATCH, order_seeds=order
    )
    reference, _ = make_models(seeds, arm=arm)
    for k, model in enumerate(reference):
        opt = torch.optim.SGD(model.parameters(), lr=LRS[k])
        for epoch in range(2):
            idx_all = epoch_order(len(data.x_train), order[k], epoch)
            for start in range(0, len(idx_all), BATCH):
                idx = idx_all[start : start + BATCH]
                loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        trained = load_member(make_models([0], arm=arm)[0][0], result.params, k)
        for (name, p), (_, q) in zip(model.named_parameters(), trained.named_parameters()):
            torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=f"{fnn} {name}")


def test_layers_without_a_batched_twin_fall_back_to_vmap():
    """A model whose layers have no batched twin (here a buffer of an unknown layer type) is
    refused; one without buffers (here a bias-free classifier computed as a plain function of
    its weight in a module the table does not know) trains through vmap."""
    models, data = make_models([0, 1])
    for model in models:
        model.register_buffer("unknown_state", torch.zeros(2))
    with pytest.raises(ValueError, match="buffers"):
        StackedModels(models)
    models, data = make_models([0, 1])
    for model in models:
        model.classifier = Bilinear(model.classifier)
    stack = StackedModels(models)
    assert stack.batched is None
    result = train_stacked(
        models, data.x_train, data.y_train, lr=0.1, epochs=1, batch_size=BATCH, order_seeds=[0, 0]
    )
    assert all(math.isfinite(m["train_loss"]) for m in result.metrics)


class Bilinear(torch.nn.Module):
    """F.linear through a matrix parameter the stacking table does not know."""

    def __init__(self, linear):
        super().__init__()
        self.w = torch.nn.Parameter(linear.weight.detach().clone())

    def forward(self, x):
        return F.linear(x, self.w)


@pytest.mark.parametrize("arm", [("model=mlp",), ("arm=fnn_resnet",)], ids=["mlp", "resnet"])
def test_epoch_callback_gets_one_by_one_losses_and_logits_and_stops_members(arm):
    """``on_epoch_end`` sees each member's epoch loss as a one-model loop computes it (the
    size-weighted mean of batch losses; for a member that blew up, its first non-finite batch
    loss) and eval logits from ``stack.predict`` equal to that model's; the members it does not
    return stop there (the others train on unchanged), and none returned ends training."""
    seeds, lrs, order = [30, 31, 32], [0.05, 1e8, 0.2], 4
    models, data = make_models(seeds, arm=arm)
    assert StackedModels(models).batched is not None
    seen = []

    def on_epoch_end(epoch, stack, losses):
        seen.append((epoch, list(stack.members), losses.tolist(), stack.predict(data.x_test, 7)))
        finite = [m for m, loss in zip(stack.members, losses.tolist()) if math.isfinite(loss)]
        return finite if epoch == 0 else []  # drop the blown-up member, then stop all

    result = train_stacked(
        models,
        data.x_train,
        data.y_train,
        lr=lrs,
        epochs=3,
        batch_size=BATCH,
        order_seeds=[order] * 3,
        on_epoch_end=on_epoch_end,
    )
    n = len(data.x_train)
    assert [(epoch, members) for epoch, members, _, _ in seen] == [(0, [0, 1, 2]), (1, [0, 2])]
    assert result.steps == 2 * math.ceil(n / BATCH)
    reference, _ = make_models(seeds, arm=arm)
    for k, model in enumerate(reference):
        opt = torch.optim.SGD(model.parameters(), lr=lrs[k])
        for epoch, members, losses, logits in seen:
            if k not in members:
                break
            total, first_bad = 0.0, None
            idx_all = epoch_order(n, order, epoch)
            for start in range(0, n, BATCH):
                idx = idx_all[start : start + BATCH]
                loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
                value = loss.item()
                if not math.isfinite(value) and first_bad is None:
                    first_bad = value
                total += value * len(idx)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            got = losses[members.index(k)]
            if first_bad is not None:
                assert (k, epoch) == (1, 0)  # only the lr=1e8 member blows up, in epoch 1
                assert str(got) == str(first_bad)  # nan or the same inf
                continue
            assert got == pytest.approx(total / n, rel=1e-5, abs=1e-6)
            model.eval()
            with torch.no_grad():
                expected = model(data.x_test)
            model.train()
            torch.testing.assert_close(logits[members.index(k)], expected, rtol=1e-4, atol=1e-5)
        # the result holds every member as it was when it stopped
        trained = load_member(make_models([0], arm=arm)[0][0], result.params, k)
        for (name, p), (_, q) in zip(model.named_parameters(), trained.named_parameters()):
            torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, equal_nan=True, msg=name)
    assert not math.isfinite(seen[0][2][1])
