"""Named points of a run that code outside the engine can attach to.

The engine announces what happens (``emit``); it never asks why anyone listens. A listener is a
function of the event's keyword arguments, attached with :func:`on`. Modules listed in the
``INITLAB_PLUGINS`` environment variable (comma-separated, importable names) are imported once
per process before a run starts (:func:`load_plugins`), so a profiler, a custom logger or the
project's own fault injection (``initlab_harness.faults``) attaches to every run of ``python
train.py`` without a line of the engine knowing it.

Events (keyword arguments):

- ``run_start`` (``out_dir``): a run holds its directory and starts its task;
- ``loop_start``: a pass of :func:`initlab.training.fit` over an epoch's batches starts (the
  gap to its first ``step`` is a step's work; what ran before it, an evaluation, is not);
- ``step`` (``step``: the loop's step count after it): an optimizer step of :func:`initlab.
  training.fit` is done (every loop: a run, a probe, a grid member, a PDI stage);
- ``timed`` (``seconds``): one unit of work its caller timed itself (a curvature operator's
  application: :mod:`initlab.analysis.hvp`);
- ``progress`` (``units``): units of a :class:`initlab.tracking.Progress` are done;
- ``stage_saved`` (``name``): a curvature run's stage is on disk;
- ``lanczos_step`` (``m``): Lanczos step ``m`` is done, before its state may be saved;
- ``lanczos_saved`` (``m``): the Lanczos state of step ``m`` is on disk;
- ``run_end`` (``out_dir``): ``train.py`` printed a run's final line.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

PLUGINS_ENV = "INITLAB_PLUGINS"
EVENTS = (
    "run_start",
    "loop_start",
    "step",
    "timed",
    "progress",
    "stage_saved",
    "lanczos_step",
    "lanczos_saved",
    "run_end",
)
_listeners: dict[str, list[Callable[..., Any]]] = {}
_loaded: set[str] = set()


def on(event: str, listener: Callable[..., Any]) -> None:
    """Call ``listener(**info)`` at every ``event``."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; events: {', '.join(EVENTS)}")
    _listeners.setdefault(event, []).append(listener)


def emit(event: str, **info: Any) -> None:
    """Tell the listeners of ``event`` (nothing to do, and no cost to speak of, without any)."""
    for listener in _listeners.get(event, ()):
        listener(**info)


def load_plugins() -> None:
    """Import the modules ``INITLAB_PLUGINS`` names, each once per process."""
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(","))):
        if name not in _loaded:
            importlib.import_module(name)
            _loaded.add(name)
