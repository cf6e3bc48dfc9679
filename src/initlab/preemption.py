"""Preemption and interruption: a signal (SLURM's warning before the time limit, a requeue,
Ctrl-C) ends a run cleanly, and the same command resumes it.

``install(["SIGTERM", "SIGINT", ...])`` (``runtime.signals``; called by ``initlab.main.execute``)
makes the named signals set a flag. Inside the training loop (:func:`watch`) the flag is read
after every step: the loop writes a checkpoint at the current step and raises :class:`Preempted`;
elsewhere in a run (loading data, a Lanczos run, writing tables) the handler raises
:class:`Preempted` at once (those tasks resume from their own files: probe by probe, member by
member). ``execute`` then records the status ``preempted`` (not final: the same command resumes)
and ``train.py`` calls the handler that was there before (submitit's requeue handler under
``hydra/launcher=slurm``), else the process exits with :data:`EXIT_CODE` (75) so that a requeue
resumes it, or :data:`INTERRUPT_EXIT_CODE` (130) for Ctrl-C: a person asked it to stop, and a
requeue must not start it again.

``train.py`` owns its process's signals (:func:`own`): they are handled from its first line to
its exit, so that a signal during start-up or between the runs of a sweep only sets the flag,
and the next run records ``preempted`` before it starts work. A signal while an earlier one is
being handled is not a new request: a second SIGTERM (or USR1, ...) is ignored (the run is
already stopping), and a second Ctrl-C stops the process at once (one line, no traceback; the
last checkpoint on disk is where the same command resumes).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

EXIT_CODE = 75  # EX_TEMPFAIL: try again (a requeue resumes from the checkpoint)
INTERRUPT_EXIT_CODE = 128 + signal.SIGINT  # 130: Ctrl-C, as a shell reports it
SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGHUP", "SIGCONT")
DEFAULT_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2")  # conf/config.yaml's default

# requested: the first signal of this run (None: none); depth: nesting of watch() (the loop
# reads the flag); active: inside a run (outside watch a signal raises at once); owned: the
# process entry point keeps the handlers between runs; original: the handler each signal had
# before the first install (chain() calls it); installed: signals routed to _handler now
_state: dict[str, Any] = {
    "requested": None,
    "depth": 0,
    "active": False,
    "owned": False,
    "original": {},
    "installed": set(),
    "where": None,
}


class Preempted(BaseException):  # noqa: N818 - it is an event, not an error
    """A preemption signal arrived; ``step`` is where the loop checkpointed (None: no loop).

    Like ``KeyboardInterrupt`` it is no ``Exception``: code that turns any failure into a user
    error (a download, an unreadable file) lets it through."""

    def __init__(self, signum: int, step: int | None = None) -> None:
        self.signum, self.step = signum, step
        self.recorded = True  # False: nothing could be recorded (the directory was not ours)
        super().__init__(self.name)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def interrupted(self) -> bool:
        """Ctrl-C (SIGINT): a person stopped the run."""
        return self.signum == signal.SIGINT

    @property
    def exit_code(self) -> int:
        return INTERRUPT_EXIT_CODE if self.interrupted else EXIT_CODE


def _handler(signum: int, frame: Any) -> None:  # noqa: ARG001
    if _state["requested"] is not None:  # the run is already stopping
        if signum == signal.SIGINT:
            _exit_at_once()
        return  # a repeated SIGTERM/USR1/...: the first is being handled
    _state["requested"] = signum
    if _state["active"] and _state["depth"] == 0:
        raise Preempted(signum)


def _exit_at_once() -> None:
    """A second Ctrl-C: stop now, in one line (files are written atomically, so whatever is on
    disk is whole: the last checkpoint resumes)."""
    where = f" in {_state['where']}" if _state["where"] else ""
    with contextlib.suppress(Exception):
        sys.stderr.write(
            "initlab: interrupted again: stopped at once; run the same command to resume from "
            f"the last checkpoint{where}\n"
        )
        sys.stderr.flush()
    os._exit(INTERRUPT_EXIT_CODE)


def _route(names: list[str] | tuple[str, ...]) -> None:
    """Send ``names`` to :func:`_handler` and give every other signal back its own handler."""
    wanted = {getattr(signal, name) for name in names}
    for signum in sorted(_state["installed"] - wanted):
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signum, _state["original"][signum])
        _state["installed"].discard(signum)
    for signum in sorted(wanted):
        if signum in _state["installed"] and signal.getsignal(signum) is _handler:
            continue
        try:
            previous = signal.signal(signum, _handler)
        except ValueError:  # not the main thread (e.g. a notebook worker): no handler
            return
        if previous is not _handler:  # (one set since, e.g. submitit's: chained after the run)
            _state["original"][signum] = previous
        _state["installed"].add(signum)


def own(names: list[str] | tuple[str, ...] = DEFAULT_SIGNALS) -> None:
    """The process entry point (``train.py``) takes ``names`` from its start to its exit."""
    _state.update(requested=None, depth=0, active=False, owned=True, where=None)
    _route(names)


def owned() -> bool:
    return _state["owned"]


def install(names: list[str] | tuple[str, ...]) -> None:
    """Route ``names`` to the preemption flag for a run (main thread only; elsewhere a no-op).

    Under :func:`own` a signal that arrived before (start-up, the previous run of a sweep) stays
    requested: the run sees it when it starts (:func:`raise_if_requested`)."""
    if not _state["owned"]:
        _state["requested"] = None
        if not _state["installed"]:  # the handlers now are the ones to give back (and chain)
            _state["original"] = {}
    _route(names)


def uninstall() -> None:
    """Give every signal back the handler it had before :func:`install` (kept for
    :func:`chain`: the run ends, and only then does a requeue handler run). Under :func:`own`
    the signals stay handled until the process exits."""
    if not _state["owned"]:
        _route(())


def release() -> None:
    """Tests that run ``train.py`` in their own process: give every signal back (see own)."""
    _state["owned"] = False
    _route(())
    _state.update(requested=None, depth=0, active=False, original={}, where=None)


def chain(signum: int) -> bool:
    """Call the handler that ``install`` replaced for ``signum`` (submitit requeues there);
    False if there was none to call (the process then exits with its own code, the signals
    still handled: a repeated one cannot kill it on the way out)."""
    previous = _state["original"].get(signum)
    if callable(previous) and previous not in (signal.default_int_handler, _handler):
        _route(())
        previous(signum, None)
        return True
    return False


def exiting() -> None:
    """The process ends now (a handled stop): the signals it handled are ignored from here to
    its last instruction (Python gives its handlers back to the system while it shuts down, and
    a repeated SIGTERM then would kill it: exit -15 instead of 75). :func:`release` undoes it."""
    for signum in _state["installed"]:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signum, signal.SIG_IGN)


def requested() -> int | None:
    return _state["requested"]


def raise_if_requested(step: int | None = None) -> None:
    if _state["requested"] is not None:
        raise Preempted(_state["requested"], step)


@contextlib.contextmanager
def active(where: Any = None) -> Iterator[None]:
    """Within: a run is under way in ``where`` (a signal outside :func:`watch` raises at once)."""
    _state["active"], _state["where"] = True, where
    try:
        yield
    finally:
        _state["active"] = False


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within: a signal only sets the flag (recording a finished run's summary is not cut short;
    the flag is seen by whatever comes next)."""
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1


class _Watch:
    @property
    def requested(self) -> bool:
        return _state["requested"] is not None

    def raise_if_requested(self, step: int | None = None) -> None:
        raise_if_requested(step)


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
