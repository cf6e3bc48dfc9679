"""task=lr_search: the bisection finds a known threshold; real probes are consistent."""

from __future__ import annotations

import pandas as pd
import pytest

import initlab.tasks.lr_search as lr_search
from initlab.compose import compose
from initlab.config import ConfigError
from initlab.main import execute

QUIET = ["logger.wandb.mode=disabled", "logger.progress=off"]
TINY = [
    "task=lr_search",
    "data=synthetic",
    "data.samples=200",
    "data.dim=6",
    "data.classes=3",
    "model.depth=2",
    "model.width=4",
    "optim.momentum=0.0",
]


def test_search_finds_a_known_threshold(tmp_path, monkeypatch) -> None:
    """Probes that diverge exactly above 0.37 (every other piece of the task runs as is)."""
    threshold = 0.37
    real = lr_search.train_probe

    def fake(cfg, setup, data, x, y, lr):
        record = real(cfg, setup, data, x, y, 1e-6)  # a real, harmless run of the pipeline
        return lr_search.ProbeRecord(
            lr, lr > threshold, cfg.steps, record.first_loss, record.final_loss, record.max_loss
        )

    monkeypatch.setattr(lr_search, "train_probe", fake)
    summary = execute(
        compose(
            [
                *QUIET,
                *TINY,
                "task.steps=1",
                "task.rel_tol=0.01",
                "task.lr_low=1e-3",
                "task.lr_high=1e-2",
            ]
        ),
        tmp_path,
    )
    assert summary["status"] == "completed"
    assert summary["search_status"] == "converged"
    assert summary["lr_bracket_low"] <= threshold < summary["lr_bracket_high"]
    assert summary["lr_bracket_high"] / summary["lr_bracket_low"] <= 1.01
    assert summary["max_lr"] == summary["lr_bracket_low"]
    probes = pd.read_csv(tmp_path / "lr_probes.csv")
    assert len(probes) == summary["probes"]
    assert (probes["diverged"] == (probes["lr"] > threshold)).all()


def test_real_probes_are_consistent(tmp_path) -> None:
    summary = execute(
        compose(
            [
                *QUIET,
                *TINY,
                "arm=resnet_he",
                "task.steps=15",
                "task.samples=64",
                "task.rel_tol=0.3",
                "task.lr_low=0.01",
                "task.lr_high=1.0",
                "task.sharpness=true",
            ]
        ),
        tmp_path,
    )
    assert summary["status"] == "completed" and summary["search_status"] == "converged"
    probes = pd.read_csv(tmp_path / "lr_probes.csv")
    # the same initial weights every probe: the same loss before the first step
    assert probes["first_loss"].nunique() == 1
    assert probes["first_loss"].iloc[0] == pytest.approx(summary["initial_loss"])
    stable, diverged = probes[~probes["diverged"]], probes[probes["diverged"]]
    assert stable["lr"].max() == summary["max_lr"]
    assert diverged["lr"].min() == summary["lr_bracket_high"]
    assert (stable["steps"] == 15).all()
    # an unstable probe stopped at the step its loss crossed the rule (never raised): the
    # monotone criterion's rise beyond increase_tol, or a blow-up
    last = diverged["final_loss"]
    blowup = diverged["reason"] == "blowup"
    assert (last[blowup].isna() | (last[blowup] > 10.0 * diverged["first_loss"][blowup])).all()
    assert (diverged.loc[~blowup, "reason"] == "increase").all()
    assert (diverged.loc[~blowup, "max_increase"] > 1e-3).all()
    assert (stable["max_increase"] <= 1e-3).all() and (stable["reason"].isna()).all()
    assert (diverged["steps"] <= 15).all()
    # lambda_max of the same loss at the same init, and the edge it implies
    assert summary["lambda_max"] > 0 and summary["edge_lr"] == pytest.approx(
        2 / summary["lambda_max"]
    )
    assert summary["edge_ratio"] == pytest.approx(summary["max_lr"] / summary["edge_lr"])


def test_sgd_option_and_bad_bracket(tmp_path) -> None:
    summary = execute(
        compose(
            [
                *QUIET,
                *TINY,
                "arm=mlp_he",
                "task.steps=6",
                "task.full_batch=false",
                "task.criterion=diverge",
                "task.batch_size=16",
                "task.samples=64",
                "task.rel_tol=0.5",
            ]
        ),
        tmp_path / "sgd",
    )
    assert summary["status"] == "completed" and summary["max_lr"] > 0
    with pytest.raises(ConfigError, match="monotone needs full_batch"):
        execute(compose([*QUIET, *TINY, "task.full_batch=false"]), tmp_path / "mono")
    with pytest.raises(ConfigError, match="lr_low"):
        execute(compose([*QUIET, *TINY, "task.lr_low=2.0", "task.lr_high=1.0"]), tmp_path / "bad")
