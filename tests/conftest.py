"""Shared test helpers: compose configs the way ``train.py`` does, without W&B or progress bars."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from initlab.compose import compose

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["logger.wandb.mode=disabled", "logger.progress=off"]


def quiet_config(*overrides: str) -> dict:
    """The resolved config of ``python train.py <overrides>``, with W&B off."""
    return compose([*QUIET, *overrides])


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300):
    """Run ``python train.py args...`` as a user would; returns the CompletedProcess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def config():
    return quiet_config
