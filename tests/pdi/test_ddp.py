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


def test_ddp_evaluates_at_start_like_one_process(tmp_path, monkeypatch):
    """``task.eval_at_start`` (D2's first curve point) reaches a DDP run's metrics.csv: the
    same ``main_start`` row as one process's (a world of one rank, in this process)."""
    import socket

    import pandas as pd

    from initlab.compose import compose
    from initlab.distributed import train_ddp

    vae = [*QUIET, "task=train_vae", "model=resnet_vae", "model.depth=10", "model.width=4",
           "model.resolution=8", "model.latent=4", "data=digits", "task.max_steps=2",
           "task.eval_examples=32", "task.eval_at_start=true", "task.grid_examples=0",
           "device=cpu"]  # fmt: skip
    single = execute(quiet_config(*vae), tmp_path / "single")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    ddp = train_ddp(compose(vae), tmp_path / "ddp")
    assert ddp["status"] == single["status"] == "completed"
    rows = [pd.read_csv(tmp_path / d / "metrics.csv") for d in ("single", "ddp")]
    starts = [r[r["phase"] == "main_start"].dropna(axis=1, how="all") for r in rows]
    assert len(starts[0]) == 1 and "test_l1" in starts[0].columns
    pd.testing.assert_frame_equal(
        starts[1].reset_index(drop=True), starts[0].reset_index(drop=True)
    )
