"""Loading a checkpoint never runs code: every ``torch.load`` is ``weights_only=True`` with the
allow-list of what initlab saves, and a file that would need code to load is refused in one
``initlab: error:`` line naming it, before anything in it runs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from initlab.analysis.lanczos import LanczosResult
from initlab.checkpoints import UnreadableFile, UnsafeFile, load_file, misfit
from initlab_harness.faults import SIGNAL_ENV
from tests.conftest import QUIET, run_train

SMALL = ["data=digits", "task.epochs=2", "model.width=16", "model.depth=2",
         "task.checkpoint_interval_s=0"]  # fmt: skip
HESSIAN = ["task=hessian", "data=digits", "model.depth=1", "model.width=8", "task.max_iter=4"]


class Payload:
    """Unpickling this runs ``touch <marker>``: what a planted checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _write(path: Path, obj: object, how: str) -> Path:
    if how == "torch":  # torch.save's zip format
        torch.save(obj, path)
    else:  # a plain pickle (torch.load's legacy path reads these too)
        path.write_bytes(pickle.dumps(obj, protocol=2 if how == "pickle2" else 4))
    return path


def _one_error(done) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("initlab: error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


@pytest.mark.parametrize("how", ["torch", "pickle2", "pickle4"])
def test_a_task_checkpoint_that_runs_code_is_refused(tmp_path, how):
    marker = tmp_path / "marker"
    evil = _write(tmp_path / "evil.pt", {"model": Payload(marker)}, how)
    done = run_train(*QUIET, *HESSIAN, f"task.checkpoint={evil}",
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    line = _one_error(done)
    assert not marker.exists(), "the payload ran"
    assert line.startswith(f"initlab: error: task.checkpoint: {evil} "), line
    if how != "pickle4":  # protocol 4 is refused as unreadable before its GLOBAL is reached
        assert "needs code to load (it names posix.system): refused, nothing in it ran" in line


def test_a_planted_run_checkpoint_is_refused_on_resume_and_left_as_it_is(tmp_path):
    out = tmp_path / "run"
    first = run_train(*QUIET, *SMALL, f"hydra.run.dir={out}", cwd=tmp_path,
                      env={SIGNAL_ENV: "25"})  # fmt: skip
    assert first.returncode == 75, first.stderr[-2000:]
    state = load_file(out / "checkpoint.pt", "test", "")
    marker = tmp_path / "marker"
    state["optimizer"] = Payload(marker)  # the right config hash, and code inside
    torch.save(state, out / "checkpoint.pt")
    planted = (out / "checkpoint.pt").read_bytes()
    done = run_train(*QUIET, *SMALL, f"hydra.run.dir={out}", cwd=tmp_path)
    line = _one_error(done)
    assert not marker.exists(), "the payload ran"
    assert f"hydra.run.dir: {out / 'checkpoint.pt'} needs code to load" in line
    assert (out / "checkpoint.pt").read_bytes() == planted


def test_the_run_directory_files_of_a_curvature_run_refuse_code(tmp_path):
    from initlab.tasks.hessian import LANCZOS_FILE, STAGES_FILE, PartialLanczos, Stages

    marker = tmp_path / "marker"
    torch.save({"lanczos": Payload(marker)}, tmp_path / STAGES_FILE)
    with pytest.raises(UnsafeFile, match=STAGES_FILE):
        Stages(tmp_path)
    torch.save({"m": 2, "q": Payload(marker)}, tmp_path / LANCZOS_FILE)
    np.save(tmp_path / Path(LANCZOS_FILE).with_suffix(".npy"), np.zeros((2, 3)))
    with pytest.raises(UnsafeFile, match=LANCZOS_FILE):
        PartialLanczos(tmp_path, 0.0, 0).load()
    assert not marker.exists()
    (tmp_path / STAGES_FILE).write_bytes(b"torn")  # a torn file still means: redo the stages
    assert Stages(tmp_path).done == {}


def test_what_initlab_saves_loads_without_code(tmp_path):
    """The allow-list covers initlab's own files, today's and earlier versions' (spectral
    quadrature rows of numpy floats, a finished Lanczos stage, numpy arrays)."""
    t = torch.arange(3.0)
    lanczos = LanczosResult(t, t, t, t, t, iterations=3, matvecs=4, converged=True, restarts=0)
    saved = {
        "lanczos": {"result": lanczos, "hvps": 4},
        "slq": {"rows": [{"node": np.float64(0.5), "weight": np.float32(0.25)}], "hvps": 2},
        "array": np.arange(4, dtype=np.int64),
        "rng": torch.get_rng_state(),
        "optimizer": torch.optim.Adam([torch.nn.Parameter(t.clone())]).state_dict(),
    }
    torch.save(saved, tmp_path / "old.pt")
    loaded = load_file(tmp_path / "old.pt", "hydra.run.dir", "")
    result = loaded["lanczos"]["result"]
    assert isinstance(result, LanczosResult) and torch.equal(result.top, t)
    assert result.iterations == 3 and result.converged
    assert loaded["slq"]["rows"][0]["node"] == 0.5
    assert np.array_equal(loaded["array"], saved["array"])
    torch.save({"where": Path("/tmp")}, tmp_path / "path.pt")  # not on the allow-list
    with pytest.raises(UnsafeFile, match="PosixPath"):
        load_file(tmp_path / "path.pt", "task.checkpoint", "")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(UnreadableFile, match="is not a readable checkpoint"):
        load_file(tmp_path / "empty.pt", "task.checkpoint", "")


def test_a_misfit_is_one_phrase_with_the_first_tensor_and_a_count():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    other = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Linear(6, 2))
    assert misfit(model.state_dict(), model.state_dict()) is None
    assert misfit(model.state_dict(), other.state_dict()) == (
        "0.weight has shape (6, 4), the model's (8, 4) (3 of 4 tensors do not fit)"
    )
    assert misfit(model.state_dict(), {}) == "0.weight is missing (4 of 4 tensors do not fit)"
