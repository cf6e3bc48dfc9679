"""Shared test helpers: compose configs the way ``train.py`` does, without W&B or progress bars."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import initlab_harness.rehearsal  # noqa: F401 - registers the rehearsal with the engine's seams
from initlab.compose import compose
from initlab.papers import load_rules

# the project's fault injection and the rehearsal's checksums attach to every run of the
# tests, in this process and in its children (initlab.hooks; each fault point is read from the
# environment at its event); the rehearsal's report and sweep plan as make report and
# scripts/reproduce.py have them
os.environ.setdefault("INITLAB_PLUGINS", "initlab_harness.faults,initlab_harness.rehearsal")

# every paper's rules attached to the claims, as make report has them (initlab.claims never
# imports the papers above it)
load_rules()

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


def run_train(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python train.py args`` in this process (Hydra and all; saves the interpreter start-up
    of a subprocess per case): exit code, stdout and stderr as a subprocess would give them."""
    import runpy

    out, err, rc = io.StringIO(), io.StringIO(), 0
    saved_argv, saved_env = sys.argv, dict(os.environ)
    sys.argv = ["train.py", *args]
    os.environ.update(env or {})
    try:
        with (
            contextlib.chdir(cwd),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                runpy.run_path(str(ROOT / "train.py"), run_name="__main__")
            except SystemExit as stop:
                rc = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            except BaseException:  # noqa: BLE001 - a traceback, as the user would see it
                import traceback

                err.write(traceback.format_exc())
                rc = 1
    finally:
        from initlab import preemption

        preemption.release()  # train.py owns its process's signals: give them back to pytest
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(args, rc, out.getvalue(), err.getvalue())


@pytest.fixture
def config():
    return quiet_config
