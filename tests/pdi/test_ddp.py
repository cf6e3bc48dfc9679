"""DDP on 2 CPU processes (gloo) equals one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from initlab.main import execute
from tests.conftest import QUIET, ROOT, quiet_config

# 105 iris training rows, global batch 32: the last batch of an epoch (9 rows) splits 4 / 5
ARGS = [
    *QUIET,
    "data=iris",
    "model.depth=2",
    "model.width=16",
    "task.epochs=3",
    "task.batch_size=32",
    "task.log_every=1",
    "device=cpu",
]


def test_two_gloo_ranks_equal_one_process(tmp_path):
    single = execute(quiet_config(*ARGS), tmp_path / "single")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
            "--master_port=29531", str(ROOT / "scripts" / "train_ddp.py"),
            "--out", str(tmp_path / "ddp"), *ARGS,
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert ddp["world_size"] == 2 and ddp["steps"] == single["steps"] == 12
    for key in ("train_loss", "val_loss", "test_loss", "test_accuracy"):
        assert ddp[key] == pytest.approx(single[key], rel=1e-5, abs=1e-6)
    states = [
        torch.load(tmp_path / d / "checkpoint.pt", weights_only=True)["model"]
        for d in ("single", "ddp")
    ]
    for key, value in states[0].items():
        torch.testing.assert_close(states[1][key], value, rtol=1e-5, atol=1e-6)
