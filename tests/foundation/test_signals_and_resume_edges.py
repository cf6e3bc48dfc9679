"""Signals as a user or a scheduler sends them, and the edges of resuming (issue 32).

- Ctrl-C (SIGINT) is handled like SIGTERM: a checkpoint at the current step, the status
  ``preempted`` recorded, one line, exit 130; the same command resumes to the numbers and rows of
  an uninterrupted run. A second Ctrl-C stops at once (one line, no traceback), and the run
  still resumes from the last checkpoint on disk.
- A repeated SIGTERM is not a second request (exit 75, one line that names the step once); a
  SIGTERM during start-up or between the runs of a sweep is recorded by the run that starts.
- A run that stopped after its last step (summary.json missing, empty or garbage; a signal at the
  last step) resumes without a duplicated row; a ``metrics.csv`` re-saved by a spreadsheet (BOM,
  CRLF) resumes as it was.
- A refused command (a running or finished run in the directory) leaves that run's ``.hydra/``
  and ``train.log`` byte-identical; Hydra's own refusals are one ``initlab: error:`` line.
- ``logger=online`` without a reachable W&B fails within ``logger.wandb.init_timeout_s`` into a
  recorded status and one line.

The signal tests run ``train.py`` in a subprocess and send it real signals; a pause point
(``initlab_harness.faults.pause_point``) holds the process at a chosen step until the test lets
it go.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from initlab.preemption import EXIT_CODE, INTERRUPT_EXIT_CODE
from initlab_harness.faults import PAUSE_ENV, PAUSE_FILE_ENV, SIGNAL_ENV
from tests.conftest import QUIET, ROOT, run_cli, run_train
from tests.foundation.test_engine_resume import _assert_same_run

# 3 epochs of 20 steps; a checkpoint at every epoch end
SMALL = ["data=digits", "task.epochs=3", "model.width=16", "model.depth=2", "task.log_every=7",
         "task.checkpoint_interval_s=0"]  # fmt: skip


def _reference(tmp: Path, overrides: list[str] = SMALL, name: str = "uninterrupted") -> Path:
    out = tmp / name
    done = run_train(*QUIET, *overrides, f"hydra.run.dir={out}", cwd=tmp)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("initlab:")]


def _status(out: Path) -> str:
    return json.loads((out / "summary.json").read_text())["status"]


class Paused:
    """``train.py`` in a subprocess, held at a pause point until :meth:`go`."""

    def __init__(self, tmp: Path, args: list[str], at: str | None) -> None:
        self.gate = tmp / "gate"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", PAUSE_FILE_ENV: str(self.gate)}
        if at is not None:
            env[PAUSE_ENV] = at
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), *args], cwd=tmp, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def wait_paused(self, timeout: float = 120.0) -> None:
        reached = Path(f"{self.gate}.reached")
        deadline = time.monotonic() + timeout
        while not reached.exists():
            assert self.proc.poll() is None, self.proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "never reached the pause point"
            time.sleep(0.02)

    def wait_handling(self, signum: int, timeout: float = 60.0) -> None:
        """Until the process catches ``signum`` (its handler is installed: /proc SigCgt)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.proc.communicate()[1][-2000:]
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
            caught = int(next(x for x in status.splitlines() if x.startswith("SigCgt:")).split()[1],
                         16)  # fmt: skip
            if caught >> (signum - 1) & 1:
                return
            assert time.monotonic() < deadline, "the signal was never handled"
            time.sleep(0.005)

    def send(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def go(self) -> None:
        self.gate.touch()

    def finish(self, timeout: float = 120.0) -> tuple[int, str]:
        self.go()
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err


@pytest.fixture
def launch():
    """``Paused`` processes; any still running when the test ends is killed."""
    started: list[Paused] = []

    def start(tmp: Path, args: list[str], at: str | None) -> Paused:
        started.append(Paused(tmp, args, at))
        return started[-1]

    yield start
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate()


def _one_clean_line(err: str, *pieces: str) -> str:
    assert "Traceback" not in err, err[-3000:]
    lines = _lines(err)
    assert len(lines) == 1, err[-3000:]
    for piece in pieces:
        assert piece in lines[0], lines[0]
    return lines[0]


def test_ctrl_c_checkpoints_records_and_the_same_command_resumes(tmp_path, launch):
    reference = _reference(tmp_path)
    out = tmp_path / "run"
    args = [*QUIET, *SMALL, f"hydra.run.dir={out}"]
    run = launch(tmp_path, args, at="step:30")
    run.wait_paused()
    run.send(signal.SIGINT)
    rc, err = run.finish()
    assert rc == INTERRUPT_EXIT_CODE, err[-2000:]
    line = _one_clean_line(err, "interrupted (SIGINT) at step 30", str(out), "resume")
    assert line.count("step 30") == 1
    assert _status(out) == "preempted"
    import torch

    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 30
    resumed = run_train(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same_run(reference, out, [])


def test_a_second_ctrl_c_stops_at_once_and_the_run_still_resumes(tmp_path, launch):
    reference = _reference(tmp_path)
    out = tmp_path / "run"
    args = [*QUIET, *SMALL, f"hydra.run.dir={out}"]
    run = launch(tmp_path, args, at="step:30")
    run.wait_paused()
    run.send(signal.SIGINT)  # the first: the loop would checkpoint at step 30 once let go...
    time.sleep(0.5)  # (two signals sent at once are delivered as one)
    run.send(signal.SIGINT)  # ...the second stops it before that
    started = time.monotonic()
    _, err = run.proc.communicate(timeout=60)
    assert time.monotonic() - started < 10
    assert run.proc.returncode == INTERRUPT_EXIT_CODE
    _one_clean_line(err, "interrupted again: stopped at once", str(out))
    import torch

    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 20  # epoch 1's
    resumed = run_train(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same_run(reference, out, [])


@pytest.mark.parametrize("second", ["while_stopping", "after_0.2s"])
def test_a_repeated_sigterm_is_the_same_request(tmp_path, launch, second):
    out = tmp_path / "run"
    run = launch(tmp_path, [*QUIET, *SMALL, f"hydra.run.dir={out}"], at="step:30")
    run.wait_paused()
    run.send(signal.SIGTERM)
    if second == "while_stopping":
        time.sleep(0.5)  # (two signals sent at once are delivered as one)
        run.send(signal.SIGTERM)
        run.go()
    else:
        run.go()
        time.sleep(0.2)
        run.send(signal.SIGTERM)
    rc, err = run.finish()
    assert rc == EXIT_CODE, err[-2000:]
    line = _one_clean_line(err, "preempted by SIGTERM at step 30", str(out))
    assert line.count("at step") == 1
    assert _status(out) == "preempted"


def test_a_sigterm_during_start_up_is_recorded_and_resumes(tmp_path, launch):
    reference = _reference(tmp_path)
    out = tmp_path / "run"
    args = [*QUIET, *SMALL, f"hydra.run.dir={out}"]
    run = launch(tmp_path, args, at=None)
    run.wait_handling(signal.SIGTERM)  # train.py's first line ran: it is importing
    run.send(signal.SIGTERM)
    rc, err = run.finish()
    assert rc == EXIT_CODE, err[-2000:]
    _one_clean_line(err, "preempted by SIGTERM", "status recorded in")
    assert _status(out) == "preempted"
    assert not (out / "checkpoint.pt").exists()  # it stopped before it trained
    resumed = run_train(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same_run(reference, out, [])


@pytest.mark.slow  # in the fault matrix (scripts/fault_matrix.py runs slow cases too)
def test_a_sigterm_between_sweep_runs_is_recorded_by_the_next(tmp_path, launch):
    sweep = tmp_path / "sweep"
    args = ["-m", *QUIET, *SMALL, "seed=0,1", f"hydra.sweep.dir={sweep}",
            "hydra.sweep.subdir=s${seed}"]  # fmt: skip
    run = launch(tmp_path, args, at="between_runs")
    run.wait_paused()  # seed 0 has finished; seed 1 has not started
    run.send(signal.SIGTERM)
    rc, err = run.finish()
    assert rc == EXIT_CODE, err[-2000:]
    _one_clean_line(err, "preempted by SIGTERM", str(sweep / "s1"))
    assert _status(sweep / "s0") == "completed"
    assert _status(sweep / "s1") == "preempted"
    again = run_cli(*args, cwd=tmp_path)  # the requeue: s0 is done, s1 runs
    assert again.returncode == 0, again.stderr[-2000:]
    assert "already completed" in again.stdout
    assert _status(sweep / "s1") == "completed"
    reference = _reference(tmp_path, [*SMALL, "seed=1"])
    _assert_same_run(reference, sweep / "s1", [])


def test_the_handler_a_run_replaced_is_chained_after_the_run(tmp_path):
    """Under submitit (no train.py owning the process) execute installs the handlers for the
    run and gives them back after it; the replaced one (submitit's requeue) is still chained."""
    from initlab import preemption

    called: list[int] = []
    saved = signal.signal(signal.SIGUSR2, lambda signum, frame: called.append(signum))
    try:
        preemption.install(["SIGUSR2"])
        assert signal.getsignal(signal.SIGUSR2) is preemption._handler
        preemption.uninstall()
        assert signal.getsignal(signal.SIGUSR2) is not preemption._handler
        assert preemption.chain(signal.SIGUSR2) and called == [signal.SIGUSR2]
        # a handler set over initlab's (submitit's, after train.py took the signals) is the one
        # the next run replaces and chains
        preemption.install(["SIGUSR2"])
        signal.signal(signal.SIGUSR2, lambda signum, frame: called.append(-signum))
        preemption.install(["SIGUSR2"])
        assert signal.getsignal(signal.SIGUSR2) is preemption._handler
        preemption.uninstall()
        assert preemption.chain(signal.SIGUSR2) and called[-1] == -signal.SIGUSR2
    finally:
        signal.signal(signal.SIGUSR2, saved)
        preemption.release()


# ---------------------------------------------------------------- resumed after the last step


def _after_the_end(kind: str):
    def prepare(out: Path) -> None:
        if kind == "summary_missing":
            (out / "summary.json").unlink()
        elif kind == "summary_empty":
            (out / "summary.json").write_bytes(b"")
        elif kind == "summary_garbage":
            (out / "summary.json").write_bytes(b"\x00{garbage")

    return prepare


MAX_STEPS = [*SMALL, "task.max_steps=50"]  # stops mid-epoch 3: its final evaluation is its own


@pytest.mark.parametrize("overrides", [SMALL, MAX_STEPS], ids=["epoch_end", "max_steps"])
@pytest.mark.parametrize("kind", ["summary_missing", "summary_empty", "summary_garbage"])
def test_a_run_stopped_after_its_last_step_resumes_without_a_duplicated_row(
    tmp_path, overrides, kind
):
    import shutil

    reference = _reference(tmp_path, overrides)
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    _after_the_end(kind)(out)
    done = run_train(*QUIET, *overrides, f"hydra.run.dir={out}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "initlab: completed" in done.stdout and "already" not in done.stdout
    _assert_same_run(reference, out, [])


@pytest.mark.parametrize(("overrides", "last"), [(SMALL, 60), (MAX_STEPS, 50), (SMALL, 20)],
                         ids=["last_step", "max_steps", "epoch_end"])  # fmt: skip
def test_a_signal_at_the_last_step_of_an_epoch_or_run_resumes_equal(tmp_path, overrides, last):
    """The checkpoint a signal writes at an epoch's (or the run's) last step comes before that
    epoch's evaluation: the resumed run still evaluates it, once."""
    reference = _reference(tmp_path, overrides)
    out = tmp_path / "run"
    args = [*QUIET, *overrides, f"hydra.run.dir={out}"]
    first = run_train(*args, cwd=tmp_path, env={SIGNAL_ENV: str(last)})
    assert first.returncode == EXIT_CODE, first.stderr[-2000:]
    _one_clean_line(first.stderr, f"preempted by SIGUSR1 at step {last};")
    second = run_train(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    _assert_same_run(reference, out, [])


def test_a_metrics_csv_resaved_by_a_spreadsheet_resumes(tmp_path):
    reference = _reference(tmp_path)
    out = tmp_path / "run"
    args = [*QUIET, *SMALL, f"hydra.run.dir={out}"]
    first = run_train(*args, cwd=tmp_path, env={SIGNAL_ENV: "25"})
    assert first.returncode == EXIT_CODE, first.stderr[-2000:]
    text = (out / "metrics.csv").read_text().replace("\r\n", "\n")
    (out / "metrics.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    second = run_train(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "step" in pd.read_csv(out / "metrics.csv").columns
    _assert_same_run(reference, out, [])


# ---------------------------------------------------------------- refused commands


def _hydra_files(out: Path) -> dict[str, bytes]:
    files = sorted((out / ".hydra").iterdir()) + [out / "train.log"]
    return {f.name: f.read_bytes() for f in files}


def _hold_lock(out: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
         str(out / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.parametrize(
    ("state", "overrides", "rc", "message"),
    [
        ("finished", [], 0, "initlab: already completed"),
        ("finished", ["model.width=8"], 2, "holds a run of another config"),
        ("finished", ["model.depth=-1"], 2, "model.depth: -1 is out of range"),
        ("running", [], 2, "is in use by"),
        ("running", ["model.width=8"], 2, "holds a run of another config"),
        ("running", ["model.depth=-1"], 2, "model.depth: -1 is out of range"),
    ],
)
def test_a_refused_command_leaves_the_runs_hydra_files_as_they_were(
    tmp_path, state, overrides, rc, message
):
    out = tmp_path / "run"
    args = [*QUIET, *SMALL, f"hydra.run.dir={out}"]
    env = {SIGNAL_ENV: "25"} if state == "running" else {}
    first = run_train(*args, cwd=tmp_path, env=env)
    assert first.returncode in (0, EXIT_CODE), first.stderr[-2000:]
    (out / "train.log").write_text("[the first run's log]\n")  # something to keep
    before = _hydra_files(out)
    listing = sorted(p.name for p in out.iterdir())
    holder = _hold_lock(out) if state == "running" else None
    try:
        done = run_train(*args, *overrides, cwd=tmp_path)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    assert done.returncode == rc, done.stderr[-2000:]
    assert message in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert _hydra_files(out) == before
    assert sorted(p.name for p in out.iterdir()) == listing


def test_a_refused_config_never_removes_a_directory_another_run_holds(tmp_path):
    """A run still loading its data holds only Hydra's log and its lock: a refused command in
    the same directory must not take it for its own leftovers."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "train.log").write_text("[loading data]\n")
    holder = _hold_lock(out)
    try:
        done = run_train(*QUIET, *SMALL, "model.depth=-1", f"hydra.run.dir={out}", cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2
    assert (out / "train.log").read_text() == "[loading data]\n"


# ---------------------------------------------------------------- Hydra's refusals, one line


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model=nosuch", "model: no option 'nosuch'; options: cnn, highway, mlp, resnet"),
        ("optim=adamm", "optim: no option 'adamm' (did you mean 'adam'?); options: adam, sgd"),
        ("model=", "model: no option given; options:"),
        ("model.dept=3", "model.dept: unknown key (did you mean model.depth?); allowed keys:"),
        ("task.epoch=3", "task.epoch: unknown key (did you mean task.epochs?)"),
        ("nosuch=3", "nosuch: unknown key; allowed keys: optim, model, init, data, task"),
        ("+model.depth=3", "model.depth: already in the config"),
        ("~model.nosuch", "model.nosuch: not in the config"),
        ("model.depth=[1,", "model.depth=[1,: cannot parse this override"),
        ("model.depth", "model.depth: cannot parse this override (missing EQUAL"),
        ("model=mlp,cnn", "model=mlp,cnn: several values need -m (--multirun)"),
        ("model.depth=${nosuch}", "model.depth: Interpolation key 'nosuch' not found"),
    ],
)
def test_hydras_refusals_are_one_line(tmp_path, override, message):
    out = tmp_path / "r"
    done = run_train(*QUIET, override, f"hydra.run.dir={out}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"initlab: error: {message}"), done.stderr
    assert not out.exists()


def test_hydras_own_flags_still_work(tmp_path):
    done = run_train("--cfg", "job", "model.width=3", cwd=tmp_path)
    assert done.returncode == 0 and "width: 3" in done.stdout
    done = run_train("model=resnet", "--help", cwd=tmp_path)  # initlab's page (cli_help)
    assert done.returncode == 0 and "  model.depth (int) = " in done.stdout, done.stderr
    assert not (tmp_path / "outputs").exists()
    sweep = run_train("-m", *QUIET, "model=mlp,nosuch", "task.epochs=0",
                      f"hydra.sweep.dir={tmp_path / 's'}", cwd=tmp_path)  # fmt: skip
    assert sweep.returncode == 2
    assert sweep.stderr.startswith("initlab: error: model: no option 'nosuch'")


# ---------------------------------------------------------------- W&B online, unreachable


@pytest.mark.slow  # in the fault matrix (scripts/fault_matrix.py runs slow cases too)
def test_wandb_online_unreachable_fails_fast_into_a_recorded_status(tmp_path):
    out = tmp_path / "run"
    env = {
        "WANDB_API_KEY": "0" * 40,
        "WANDB_BASE_URL": "http://127.0.0.1:9",  # nothing listens: no W&B to reach
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb_config"),
        "WANDB_CACHE_DIR": str(tmp_path / "wandb_cache"),
    }
    started = time.monotonic()
    done = run_cli("logger.progress=off", "logger.wandb.mode=online",
                   "logger.wandb.init_timeout_s=3", *SMALL, f"hydra.run.dir={out}",
                   cwd=tmp_path, env=env, timeout=120)  # fmt: skip
    assert time.monotonic() - started < 60
    assert done.returncode == 1, done.stderr[-2000:]
    line = _one_clean_line(done.stderr, "initlab: error: logger.wandb.mode: online: W&B could not")
    assert "within 3 s" in line and "logger.wandb.mode=offline" in line
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "W&B could not be reached" in summary["error"]


@pytest.mark.slow  # in the fault matrix (scripts/fault_matrix.py runs slow cases too)
def test_ctrl_c_in_an_experiment_reaches_the_run_not_a_parents_traceback(tmp_path):
    """``make experiment``: the terminal's Ctrl-C goes to the whole process group. The parent
    waits for the sweep (rather than killing it 0.25 s later, as ``subprocess.run`` does), so
    the run checkpoints and records ``preempted``; the parent exits 130 without a traceback and
    the same command finishes the experiment, each run counted once."""
    gate = tmp_path / "gate"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "INITLAB_OUTPUTS": str(tmp_path / "outputs"),
        PAUSE_ENV: "step:2",
        PAUSE_FILE_ENV: str(gate),
    }
    command = [sys.executable, str(ROOT / "scripts" / "run_experiment.py"), "smoke_train",
               "--results", str(tmp_path / "results")]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        reached = Path(f"{gate}.reached")
        deadline = time.monotonic() + 120
        while not reached.exists():
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "never reached the pause point"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        time.sleep(0.5)  # longer than subprocess.run's 0.25 s grace before it kills the child
        gate.touch()
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == INTERRUPT_EXIT_CODE, err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    sweep = tmp_path / "outputs" / "quick" / "smoke_train"
    stopped = [p.parent for p in sweep.rglob("summary.json") if _status(p.parent) == "preempted"]
    assert len(stopped) == 1, err[-2000:]
    import torch

    assert torch.load(stopped[0] / "checkpoint.pt", weights_only=True)["step"] == 2
    env.pop(PAUSE_ENV)
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    table = pd.read_csv(tmp_path / "results" / "quick" / "smoke_train" / "summary.csv")
    assert len(table) == 4 and set(table["status"]) == {"completed"}
