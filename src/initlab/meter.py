"""What one run costs: seconds per optimizer step (or operator application) and peak memory.

:class:`StepMeter` is started by :func:`initlab.main.execute` for every run and puts its numbers
into ``summary.json``. It listens to the engine's events (:mod:`initlab.hooks`: ``loop_start``,
``step``, ``timed``); nothing in the engine calls it.

- ``seconds_per_step``: the median time between consecutive optimizer steps (the one loop,
  :func:`initlab.training.fit`, ticks after each), or the median duration of the
  Hessian/Fisher-vector products (the ``timed`` event); the median keeps evaluations and
  checkpoints out of it.
  ``timed_steps`` says how many steps it saw.
- ``peak_rss_mb``: the peak resident memory of this run. The kernel's high-water mark is reset
  at the start of the run (``/proc/self/clear_refs``), so runs of one sweep process are measured
  apart; where that is impossible the process-lifetime peak is reported and
  ``peak_rss_scope`` says ``process``.
- ``peak_device_mb``: on CUDA, the peak of ``torch.cuda.max_memory_allocated``;
- ``train_examples``, ``heldout_examples``: the sizes of the training split and of validation
  plus test (the plan's steps per epoch and evaluated examples).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from initlab import hooks

#: summary keys that measure the machine, not the run's numbers (they differ between equal runs)
MEASURED_KEYS = (
    "timed_steps",
    "seconds_per_step",
    "peak_rss_mb",
    "peak_rss_scope",
    "peak_device_mb",
)
_ACTIVE: list[StepMeter] = []


def tick() -> None:
    """One unit of work done (an optimizer step, an HVP) for the meter of the running run."""
    if _ACTIVE:
        meter = _ACTIVE[-1]
        if not meter.segments:
            meter.segments.append([])
        meter.segments[-1].append(time.perf_counter())
        meter.steps += 1


def mark() -> None:
    """A loop starts its first step now: the gap to its first :func:`tick` is a step (so a loop of
    one step is timed too), and the time since the previous loop's last step is not."""
    if _ACTIVE:
        _ACTIVE[-1].segments.append([time.perf_counter()])


def timed(seconds: float) -> None:
    """One unit of work that took ``seconds`` (timed by its caller, e.g. one HVP)."""
    if _ACTIVE:
        _ACTIVE[-1].durations.append(seconds)
        tick()


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_mb(scope: str) -> float:
    if scope == "run":
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class StepMeter:
    """Times steps and the memory peak between :meth:`start` and :meth:`stop`."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.device = device
        self.segments: list[list[float]] = []  # tick times, one list per loop (see mark)
        self.steps = 0
        self.durations: list[float] = []
        self.train_examples: int | None = None
        self.heldout_examples: int | None = None
        self.scope = "run" if _reset_peak_rss() else "process"
        if device is not None and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    @classmethod
    def start(cls, device: torch.device | None = None) -> StepMeter:
        meter = cls(device)
        _ACTIVE.append(meter)
        return meter

    def examples(self, train: int, heldout: int) -> None:
        """The run's split sizes (training; validation + test), for the cost model."""
        self.train_examples, self.heldout_examples = train, heldout

    def stop(self) -> dict[str, Any]:
        """The summary keys; the meter stops counting."""
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        gaps = self.durations or [
            b - a for times in self.segments for a, b in zip(times, times[1:])
        ]
        out: dict[str, Any] = {
            "timed_steps": self.steps,
            "seconds_per_step": round(statistics.median(gaps), 6) if gaps else None,
            "peak_rss_mb": round(_peak_rss_mb(self.scope), 1),
            "peak_rss_scope": self.scope,
        }
        if self.train_examples is not None:
            out["train_examples"] = self.train_examples
            out["heldout_examples"] = self.heldout_examples
        if self.device is not None and self.device.type == "cuda":
            out["peak_device_mb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        return out


hooks.on("loop_start", lambda **_: mark())
hooks.on("step", lambda **_: tick())
hooks.on("timed", lambda seconds: timed(seconds))
