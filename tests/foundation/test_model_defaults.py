"""Every ``model=`` option trains with the defaults the README composes for it.

Each option is composed through Hydra as ``python train.py model=<m>`` with the init the README
pairs it with (``resnet``: ``init=fixup``, ``snn``: ``init=lecun``) and the groups' defaults
otherwise: ``data=digits``, ``task=train`` and the optimizer the composition gives (SGD, lr 0.05,
momentum 0.9; ``model=snn`` carries its own, plain SGD at lr 0.01). Only the amount of work is
cut: ``task.max_steps``, a small final evaluation, no checkpoints; ``resnet_vae_162`` also at 8 x 8
outputs and batches of 16 instead of 1024 x 1024 and 64 (its default does not fit a CPU). The
training batch losses must be finite and fall: the mean of the last 5 below 0.95 x the mean of
the first 5. ``model=snn init=lecun`` with the group's default optimizer failed this (mean batch
loss 2.04 over the first 5 steps, 9.35 over steps 35-39; diverged at step 48).
"""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from initlab.compose import CONF_DIR
from initlab.main import execute
from tests.conftest import ROOT, quiet_config

# option -> (the README's overrides beyond model=<option>, the work cuts, steps)
CASES: dict[str, tuple[list[str], list[str], int]] = {
    "mlp": ([], [], 40),
    "resnet": (["init=fixup"], [], 40),  # Fixup's zero-initialized branches start slowly
    "resnet_bn": ([], [], 20),
    "cnn": ([], [], 40),
    "snn": (["init=lecun"], [], 40),
    "highway": ([], [], 40),
    "resnet_vae": ([], [], 20),
    "resnet_vae_162": ([], ["model.resolution=8", "task.batch_size=16"], 20),
}
CUT = ["task.log_every=1", "task.eval_examples=64", "task.checkpoint_every=0"]
K = 5  # losses averaged at each end


def _batch_losses(option: str, tmp_path, extra: tuple[str, ...] = ()) -> tuple[dict, list[float]]:
    readme, cuts, steps = CASES[option]
    overrides = [f"model={option}", *readme, *extra, *CUT, *cuts, f"task.max_steps={steps}"]
    summary = execute(quiet_config(*overrides), tmp_path / option)
    metrics = pd.read_csv(tmp_path / option / "metrics.csv")
    return summary, metrics["train_batch_loss"].dropna().tolist()


def test_every_model_option_is_covered_and_listed_in_the_readme():
    options = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
    assert sorted(CASES) == options
    lines = (ROOT / "README.md").read_text().splitlines()
    row = next(line for line in lines if line.startswith("| `model`"))
    listed = re.findall(r"`([a-z0-9_]+)`", row.split("|")[2])
    assert sorted(listed) == options


@pytest.mark.parametrize("option", sorted(CASES))
def test_model_option_trains_with_its_readme_defaults(option, tmp_path):
    summary, losses = _batch_losses(option, tmp_path)
    steps = CASES[option][2]
    assert summary["status"] == "completed", summary
    assert len(losses) == steps
    assert all(math.isfinite(v) for v in losses), losses
    first, last = sum(losses[:K]) / K, sum(losses[-K:]) / K
    assert last < 0.95 * first, f"model={option}: loss {first:.3f} -> {last:.3f} ({losses})"


def test_snn_carries_its_optimizer_and_the_command_line_still_wins():
    """conf/model/snn.yaml overrides /optim (Hydra applies that because conf/config.yaml lists
    optim before model); a command line's optim=... or optim.lr=... comes first."""

    def optim(*overrides: str) -> tuple:
        cfg = quiet_config(*overrides)["optim"]
        return cfg["name"], cfg["lr"], cfg.get("momentum")

    assert optim("model=snn") == ("sgd", 0.01, 0.0)
    assert optim("model=snn", "optim.lr=0.1") == ("sgd", 0.1, 0.0)
    assert optim("model=snn", "optim=sgd") == ("sgd", 0.05, 0.9)
    assert optim("model=snn", "optim=adam")[:2] == ("adam", 0.001)
    assert optim("model=mlp") == ("sgd", 0.05, 0.9)
