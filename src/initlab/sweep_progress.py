"""``run k/N`` with an ETA while a sweep runs (``make experiment``, ``scripts/reproduce.py``).

:func:`initlab.experiments.run_experiment` creates a counter file for the sweep and names it, and
the sweep's size, in the environment of ``train.py -m``; each run of the sweep calls
:func:`announce`, which counts itself in the file and prints one line (stdout, which SLURM logs
too): ``[label] run k/N: <run dir> (12m03s elapsed, about 30m10s left)``. The estimate is the
average time per run so far in this invocation (finished runs it skips count as runs too), so it
is rough for sweeps whose runs differ in size.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

COUNTER_ENV = "INITLAB_SWEEP_COUNTER"  # path of the counter file of the running sweep
RUNS_ENV = "INITLAB_SWEEP_RUNS"  # runs in the sweep (unknown when absent)


def start(counter: Path, runs: int | None) -> dict[str, str]:
    """Reset the counter file; the environment a sweep's processes need to announce runs."""
    counter.parent.mkdir(parents=True, exist_ok=True)
    counter.write_text(json.dumps({"started": time.time(), "runs": 0}))
    env = {COUNTER_ENV: str(counter)}
    if runs:
        env[RUNS_ENV] = str(runs)
    return env


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes}m{sec:02d}s"


def line(label: str, k: int, total: int | None, elapsed: float, what: str) -> str:
    """The announcement of run ``k`` (1-based) of ``total`` after ``elapsed`` seconds."""
    of = f"/{total}" if total else ""
    eta = ""
    if k > 1:
        eta = f" ({_duration(elapsed)} elapsed"
        if total and total >= k:
            eta += f", about {_duration(elapsed / (k - 1) * (total - k + 1))} left"
        eta += ")"
    return f"[{label}] run {k}{of}: {what}{eta}"


def announce(label: str, job_number: int, what: str) -> str:
    """Count this run in the sweep's counter (if any) and return its line."""
    path = os.environ.get(COUNTER_ENV)
    total = int(os.environ[RUNS_ENV]) if os.environ.get(RUNS_ENV) else None
    k, elapsed = job_number + 1, 0.0
    if path:
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(Path(path).read_text())
            state["runs"] += 1
            Path(path).write_text(json.dumps(state))
            k, elapsed = state["runs"], time.time() - state["started"]
    return line(label, k, total, elapsed, what)
