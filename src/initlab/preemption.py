"""Preemption: a signal (SLURM's warning before the time limit, a requeue) ends a run cleanly.

``install(["SIGUSR1", ...])`` (``runtime.signals``; called by ``initlab.main.execute``) makes the
named signals set a flag. Inside the training loop (:func:`watch`) the flag is read after every
step: the loop writes a checkpoint at the current step and raises :class:`Preempted`; anywhere
else (loading data, a Lanczos run, writing tables) the handler raises :class:`Preempted` at once
(those tasks resume from their own files: probe by probe, member by member). ``execute`` then
records the status ``preempted`` (not final: the same command resumes) and calls the handler
that was there before (submitit's requeue handler under ``hydra/launcher=slurm``), else the
process exits with :data:`EXIT_CODE` so that a requeue resumes it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

EXIT_CODE = 75  # EX_TEMPFAIL: try again (a requeue resumes from the checkpoint)
SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGHUP", "SIGCONT")

# previous: handlers install() replaced (restored by uninstall, which keeps them as "replaced"
# for chain(): the run ends, and only then does the requeue handler run)
_state: dict[str, Any] = {"requested": None, "depth": 0, "previous": {}, "replaced": {}}


class Preempted(Exception):  # noqa: N818 - it is an event, not an error
    """A preemption signal arrived; ``step`` is where the loop checkpointed (None: no loop)."""

    def __init__(self, signum: int, step: int | None = None) -> None:
        self.signum, self.step = signum, step
        where = f" at step {step}" if step is not None else ""
        super().__init__(f"{signal.Signals(signum).name}{where}")


def _handler(signum: int, frame: Any) -> None:  # noqa: ARG001
    _state["requested"] = signum
    if _state["depth"] == 0:
        raise Preempted(signum)


def install(names: list[str] | tuple[str, ...]) -> None:
    """Route ``names`` to the preemption flag (main thread only; elsewhere a no-op)."""
    uninstall()
    _state["requested"] = None
    for name in names:
        signum = getattr(signal, name)
        try:
            _state["previous"][signum] = signal.signal(signum, _handler)
        except ValueError:  # not the main thread (e.g. a notebook worker): no handler
            return


def uninstall() -> None:
    for signum, previous in _state["previous"].items():
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signum, previous)
    if _state["previous"]:
        _state["replaced"] = _state["previous"]
    _state["previous"] = {}


def chain(signum: int) -> bool:
    """Call the handler that ``install`` replaced for ``signum`` (submitit requeues there);
    False if there was none to call."""
    uninstall()
    previous = _state["replaced"].get(signum)
    if callable(previous) and previous is not signal.default_int_handler:
        previous(signum, None)
        return True
    return False


def requested() -> int | None:
    return _state["requested"]


class _Watch:
    @property
    def requested(self) -> bool:
        return _state["requested"] is not None

    def raise_if_requested(self, step: int | None = None) -> None:
        if _state["requested"] is not None:
            raise Preempted(_state["requested"], step)


@contextlib.contextmanager
def watch() -> Iterator[_Watch]:
    """Within: a signal only sets the flag, read by the loop (see the module docstring)."""
    _state["depth"] += 1
    try:
        yield _Watch()
    finally:
        _state["depth"] -= 1
    if _state["depth"] == 0 and _state["requested"] is not None:
        raise Preempted(_state["requested"])


def simulate() -> None:
    """Tests: deliver SIGUSR1 to this process (as SLURM would before the time limit)."""
    os.kill(os.getpid(), signal.SIGUSR1)
