"""Fault injection: kill, signal or pause a run at a chosen point (the resume and signal tests,
``scripts/fault_matrix.py`` and the rehearsal's kill proof).

Importing this module attaches it to the engine's events (:mod:`initlab.hooks`); a process gets
it through ``INITLAB_PLUGINS=initlab_harness.faults`` (:func:`env` adds it). Each point is read
from the environment at the event, so one process can run cases one after another:

- ``INITLAB_FAULT_AFTER_STEP=K`` / ``INITLAB_SIGNAL_AFTER_STEP=K``: hard-kill the process
  (``os._exit``, as ``kill -9``) / send it SIGUSR1 (as SLURM does before a time limit) after the
  run's K-th optimizer step, all loops of the run together (probes, members, stages);
- ``INITLAB_FAULT_AFTER_PROGRESS=K``: hard-kill after K units of progress of the run (steps,
  probes, members, fits, rows, layers: every ``Progress`` together);
- ``INITLAB_FAULT_AFTER_STAGE=name``: hard-kill right after a curvature stage is saved;
- ``INITLAB_FAULT_AFTER_LANCZOS_STEP=m`` / ``INITLAB_SIGNAL_AFTER_LANCZOS_STEP=m``: hard-kill
  right after the Lanczos state of step m is saved / signal the process at step m;
- ``INITLAB_PAUSE_AT=step:K|between_runs`` with ``INITLAB_PAUSE_FILE=path``: stop there (touching
  ``<path>.reached``) until ``path`` exists, so that a test can send real signals at that point.

The counts start again at every run (event ``run_start``).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from initlab import hooks

FAULT_ENV = "INITLAB_FAULT_AFTER_STEP"
SIGNAL_ENV = "INITLAB_SIGNAL_AFTER_STEP"
FAULT_PROGRESS_ENV = "INITLAB_FAULT_AFTER_PROGRESS"
FAULT_STAGE_ENV = "INITLAB_FAULT_AFTER_STAGE"
FAULT_LANCZOS_ENV = "INITLAB_FAULT_AFTER_LANCZOS_STEP"
SIGNAL_LANCZOS_ENV = "INITLAB_SIGNAL_AFTER_LANCZOS_STEP"
PAUSE_ENV = "INITLAB_PAUSE_AT"
PAUSE_FILE_ENV = "INITLAB_PAUSE_FILE"
PLUGIN = __name__
KILL_CODE = 3  # what a killed run's process exits with (os._exit: no clean-up, as kill -9)

_counts = {"steps": 0, "units": 0}


def env(**points: str) -> dict[str, str]:
    """Environment entries for a child process: this plugin plus the given points, e.g.
    ``env(INITLAB_FAULT_AFTER_STEP="3")``."""
    plugins = [p for p in os.environ.get(hooks.PLUGINS_ENV, "").split(",") if p]
    return {hooks.PLUGINS_ENV: ",".join(dict.fromkeys([*plugins, PLUGIN])), **points}


def _at(name: str, value: Any) -> bool:
    return os.environ.get(name) == str(value)


def kill() -> None:
    os._exit(KILL_CODE)


def send_sigusr1() -> None:
    os.kill(os.getpid(), signal.SIGUSR1)


def pause_point(name: str) -> None:
    if os.environ.get(PAUSE_ENV) != name:
        return
    path = Path(os.environ[PAUSE_FILE_ENV])
    Path(f"{path}.reached").touch()
    deadline = time.monotonic() + 120.0
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def _run_start(**_: Any) -> None:
    _counts.update(steps=0, units=0)


def _step(**_: Any) -> None:
    _counts["steps"] += 1
    if _at(FAULT_ENV, _counts["steps"]):
        kill()
    if _at(SIGNAL_ENV, _counts["steps"]):
        send_sigusr1()
    pause_point(f"step:{_counts['steps']}")


def _progress(units: int, **_: Any) -> None:
    _counts["units"] += units
    if _at(FAULT_PROGRESS_ENV, _counts["units"]):
        kill()


def _stage_saved(name: str, **_: Any) -> None:
    if _at(FAULT_STAGE_ENV, name):
        kill()


def _lanczos_step(m: int, **_: Any) -> None:
    if _at(SIGNAL_LANCZOS_ENV, m):
        send_sigusr1()


def _lanczos_saved(m: int, **_: Any) -> None:
    if _at(FAULT_LANCZOS_ENV, m):
        kill()


def _run_end(**_: Any) -> None:
    pause_point("between_runs")


for _event, _listener in (
    ("run_start", _run_start),
    ("step", _step),
    ("progress", _progress),
    ("stage_saved", _stage_saved),
    ("lanczos_step", _lanczos_step),
    ("lanczos_saved", _lanczos_saved),
    ("run_end", _run_end),
):
    hooks.on(_event, _listener)
