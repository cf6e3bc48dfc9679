"""The deep ResNet-VAE: loss terms on cases with known answers, layer count, scale options."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Laplace, Normal, kl_divergence

from initlab.config import ConfigError
from initlab.inits.base import WEIGHT_LAYERS
from initlab.main import execute
from initlab.models import build_model
from initlab.models.resnet_vae import vae_terms
from initlab.setup import parse_config
from tests.conftest import quiet_config


def _model(*overrides: str, shape=(1, 8, 8)):
    setup = parse_config(quiet_config("model=resnet_vae", *overrides))
    torch.manual_seed(0)
    return build_model(setup.model, shape, 10)


def test_kl_l1_and_elbo_on_known_values():
    mu = torch.tensor([[1.0, -2.0], [0.0, 0.0]])
    sigma = torch.tensor([[2.0, 0.5], [1.0, 1.0]])
    target = torch.rand(2, 3, 4, 4)
    recon = target + torch.where(torch.rand_like(target) > 0.5, 0.5, -0.5)  # |error| = 0.5
    terms = vae_terms(recon, target, mu, 2 * sigma.log(), beta=1.0)
    # KL(N(mu, s^2) || N(0, 1)) = (mu^2 + s^2 - 1 - log s^2) / 2 per dimension; N(0,1): 0
    by_hand = 0.5 * (1 + 4 - 1 - math.log(4)) + 0.5 * (4 + 0.25 - 1 - math.log(0.25))
    assert terms["kl"][0].item() == pytest.approx(by_hand, rel=1e-6)
    assert terms["kl"][1].item() == pytest.approx(0.0, abs=1e-7)
    expected_kl = kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(terms["kl"], expected_kl)
    torch.testing.assert_close(terms["l1"], torch.full((2,), 0.5))
    log_lik = Laplace(recon, 1.0).log_prob(target).flatten(1).sum(1)
    torch.testing.assert_close(terms["elbo"], log_lik - expected_kl)
    values = target[0].numel()
    torch.testing.assert_close(terms["loss"], -terms["elbo"] / values - math.log(2.0))


@pytest.mark.parametrize(
    ("depth", "resolution", "data_size"), [(14, 16, 8), (30, 32, 8), (162, 32, 8), (162, 1024, 32)]
)
def test_depth_counts_every_weight_layer(depth, resolution, data_size):
    model = _model(
        f"model.depth={depth}", f"model.resolution={resolution}", shape=(3, data_size, data_size)
    )
    assert sum(isinstance(m, WEIGHT_LAYERS) for m in model.modules()) == depth


def test_preset_is_the_papers_162_layers_at_1024():
    setup = parse_config(quiet_config("model=resnet_vae_162"))
    assert (setup.model.depth, setup.model.resolution) == (162, 1024)


def test_a_depth_that_does_not_fit_is_refused():
    with pytest.raises(ConfigError, match="model.depth: 15 does not fit"):
        _model("model.depth=15")


def test_images_are_upsampled_and_reconstructed_at_the_model_resolution():
    model = _model("model.resolution=16")
    x = torch.randn(3, 1, 8, 8)
    out = model(x)
    assert out["reconstruction"].shape == out["target"].shape == (3, 1, 16, 16)
    assert model.sample(2).shape == (2, 1, 16, 16)
    assert set(model.objective(x, None)) == {"loss", "l1", "kl", "elbo"}


def test_activation_checkpointing_gives_the_same_gradients():
    grads = []
    for flag in ("false", "true"):
        model = _model("model.resolution=16", f"model.activation_checkpointing={flag}")
        torch.manual_seed(1)
        model.objective(torch.randn(4, 1, 8, 8), None)["loss"].mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_bf16_autocast_stays_close_to_fp32():
    x = torch.randn(4, 1, 8, 8)
    model = _model("model.resolution=16", "model.norm=none")
    losses = []
    for autocast in (False, True):
        torch.manual_seed(2)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            values = model.objective(x, None)
        assert values["l1"].dtype == torch.float32  # losses in float32 under autocast too
        losses.append(values["l1"].mean().item())
    assert math.isfinite(losses[1])
    assert losses[1] == pytest.approx(losses[0], rel=0.05)


def test_train_vae_reports_every_term_and_saves_the_grid(tmp_path):
    cfg = quiet_config(
        "task=train_vae", "model=resnet_vae", "model.resolution=16", "model.depth=14",
        "model.width=8", "data=digits", "data.max_train=64", "task.epochs=1",
        "task.batch_size=32", "device=cpu",
    )  # fmt: skip
    summary = execute(cfg, tmp_path)
    assert summary["status"] == "completed"
    for split in ("train", "val", "test"):
        for term in ("loss", "l1", "kl", "elbo"):
            assert math.isfinite(summary[f"{split}_{term}"])
    assert (tmp_path / "vae_grid.png").stat().st_size > 0
