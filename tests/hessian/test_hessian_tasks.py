"""End to end: task=hessian (Hessian and Fisher), task=hessian_structure on tiny models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from initlab.compose import compose
from initlab.main import execute

QUIET = ["logger.wandb.mode=disabled", "logger.progress=off"]
TINY = [
    "data=synthetic",
    "data.samples=200",
    "data.dim=6",
    "data.classes=3",
    "model.depth=2",
    "model.width=4",
]


def run(tmp_path, name: str, *overrides: str) -> dict:
    return execute(compose([*QUIET, *TINY, *overrides]), tmp_path / name)


@pytest.mark.parametrize("arm", ["resnet_he", "resnet_fixup", "resnet_bn"])
def test_lanczos_ends_match_the_dense_hessian(tmp_path, arm: str) -> None:
    common = [f"arm={arm}", "task.samples=64", "task.chunk_size=64", "task.float64=true"]
    lanczos = run(tmp_path, "lanczos", "task=hessian", "task.tol=1e-8", *common)
    dense = run(tmp_path, "dense", "task=hessian_structure", *common)
    assert lanczos["status"] == dense["status"] == "completed"
    for key in ("lambda_max", "lambda_min"):
        assert lanczos[key] == pytest.approx(dense[key], rel=1e-5, abs=1e-9)
    assert lanczos["hvps"] == lanczos["lanczos_iterations"] > 0
    assert lanczos["lambda_max_residual"] <= 1e-8 * abs(lanczos["lambda_max"])
    table = pd.read_csv(tmp_path / "lanczos" / "hessian.csv")
    assert list(table["end"]) == ["top", "bottom"]
    assert table["eigenvalue"].iloc[0] == lanczos["lambda_max"]
    assert (lanczos.get("bn_mode") == "batch_stats") == (arm == "resnet_bn")


def test_chunking_and_top_k(tmp_path) -> None:
    """Without BatchNorm the chunk size does not change the operator; top_k gives k per end."""
    common = ["arm=resnet_he", "task.samples=60", "task.float64=true", "task.tol=1e-9"]
    whole = run(tmp_path, "whole", "task=hessian", "task.chunk_size=60", "task.top_k=2", *common)
    parts = run(tmp_path, "parts", "task=hessian", "task.chunk_size=7", "task.top_k=2", *common)
    assert parts["lambda_max"] == pytest.approx(whole["lambda_max"], rel=1e-9)
    assert parts["lambda_min"] == pytest.approx(whole["lambda_min"], rel=1e-9)
    table = pd.read_csv(tmp_path / "parts" / "hessian.csv")
    assert len(table) == 4
    top = table[table["end"] == "top"]["eigenvalue"].to_numpy()
    assert top[0] >= top[1]


def test_fisher_matrices_are_positive_and_below_the_gradient_bound(tmp_path) -> None:
    common = ["arm=mlp_he", "task.samples=50", "task.chunk_size=50", "task.float64=true"]
    true = run(tmp_path, "true", "task=hessian", "task.matrix=fisher_true", *common)
    emp = run(tmp_path, "emp", "task=hessian", "task.matrix=fisher_empirical", *common)
    assert true["matrix"] == "fisher_true" and emp["matrix"] == "fisher_empirical"
    assert true["lambda_min"] > -1e-10 and emp["lambda_min"] > -1e-10
    # the empirical Fisher's top eigenvalue is at least ||mean gradient||^2 (v = g / ||g||)
    assert emp["lambda_max"] >= emp["grad_norm"] ** 2 * (1 - 1e-9)


def test_checkpoint_weights_are_used(tmp_path) -> None:
    trained = execute(
        compose([*QUIET, *TINY, "arm=resnet_fixup", "task.epochs=2", "optim.lr=0.1"]),
        tmp_path / "train",
    )
    assert trained["status"] == "completed"
    common = ["arm=resnet_fixup", "task.samples=64", "task.chunk_size=64"]
    at_init = run(tmp_path, "init", "task=hessian", *common)
    ckpt = str(tmp_path / "train" / "checkpoint.pt")
    loaded = run(tmp_path, "ckpt", "task=hessian", f"task.checkpoint={ckpt}", *common)
    assert at_init["loss"] == pytest.approx(math.log(3), rel=1e-6)  # Fixup: zero classifier
    assert loaded["loss"] < at_init["loss"]
    assert loaded["lambda_max"] != pytest.approx(at_init["lambda_max"])


def test_structure_of_fixup_and_he(tmp_path) -> None:
    fixup = run(tmp_path, "fixup", "task=hessian_structure", "arm=resnet_fixup")
    he = run(tmp_path, "he", "task=hessian_structure", "arm=resnet_he")
    assert fixup["zero_block_fraction"] > 0.5 > he["zero_block_fraction"]
    blocks = pd.read_csv(tmp_path / "fixup" / "hessian_blocks.csv")
    assert len(blocks) == fixup["blocks"] == fixup["tensors"] ** 2
    assert blocks["zero"].mean() == pytest.approx(fixup["zero_block_fraction"])
    # Fixup zeroes the classifier: only blocks with a classifier row or column survive
    alive = blocks[~blocks["zero"]]
    assert alive.apply(lambda r: "classifier" in r.row_param + r.col_param, axis=1).all()
    full = np.load(tmp_path / "fixup" / "hessian_abs.npy")
    assert full.shape == (fixup["params"], fixup["params"])
    assert np.allclose(full, full.T)
    pooled = pd.read_csv(tmp_path / "fixup" / "hessian_matrix.csv")
    assert pooled["abs_max"].max() == pytest.approx(full.max(), rel=1e-6)
    # the relative round-off threshold: gamma_k for k = examples x parameters in float64
    k = fixup["samples"] * fixup["params"]
    assert fixup["zero_threshold"] == pytest.approx(k * 2.0**-53 / (1 - k * 2.0**-53))
    assert blocks["rel_max"].max() == pytest.approx(1.0)
    assert (blocks["zero"] == (blocks["rel_max"] <= fixup["zero_threshold"])).all()
    assert fixup["largest_zero_rel"] <= fixup["zero_threshold"] < fixup["smallest_nonzero_rel"]
    assert fixup["exact_zero_block_fraction"] <= fixup["zero_block_fraction"]


def test_structure_refuses_large_models(tmp_path) -> None:
    from initlab.config import ConfigError

    with pytest.raises(ConfigError, match="max_params"):
        run(tmp_path, "big", "task=hessian_structure", "arm=resnet_he", "task.max_params=10")


def test_functional_call_leaves_shared_modules_intact() -> None:
    """ResidualBranch registers its weight layers twice; the dense Hessian must not swap them
    for plain tensors (torch's functional_call with tie_weights=True did)."""
    import torch.nn.functional as F

    from initlab.analysis.dense import dense_hessian
    from initlab.models.resnet import ResNet
    from initlab.setup import parse_config

    setup = parse_config(compose([*QUIET, "model=resnet", "model.depth=1", "model.width=3"]))
    model = ResNet(setup.model, (4,), 2)
    before = list(model.parameters())
    dense_hessian(model, F.cross_entropy, [(torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1]))])
    after = list(model.parameters())
    assert all(a is b for a, b in zip(before, after, strict=True))
    assert all(
        isinstance(p, torch.nn.Parameter) for p in model.blocks[0].weight_layers[0].parameters()
    )


def test_cached_graph_products_equal_double_backward() -> None:
    """The kept per-chunk graphs give the same H v on every later product, chunk by chunk."""
    import torch.nn.functional as F

    from initlab.analysis.hvp import loss_hvp
    from initlab.models.resnet import ResNet
    from initlab.setup import parse_config

    setup = parse_config(compose([*QUIET, "model=resnet", "model.depth=2", "model.width=3"]))
    torch.manual_seed(0)
    model = ResNet(setup.model, (4,), 3).double()
    x, y = torch.randn(20, 4, dtype=torch.float64), torch.randint(0, 3, (20,))
    chunks = [(x[i : i + 7], y[i : i + 7]) for i in range(0, 20, 7)]
    plain = loss_hvp(model, F.cross_entropy, chunks)
    cached = loss_hvp(model, F.cross_entropy, iter(chunks), method="cached_graph")
    for _ in range(3):
        v = torch.randn(plain.n, dtype=torch.float64)
        assert torch.allclose(cached(v), plain(v), rtol=1e-10, atol=1e-12)
    assert cached.calls == 3
