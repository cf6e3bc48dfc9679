"""Bad inputs, tried as a user would (``train.py`` in a subprocess), against their messages.

Every case must end with ONE ``initlab: error:`` line naming the key, file or path (and what to
do), a non-zero exit code and no traceback; a case that starts a run records its status; an
earlier run's checkpoint and results stay as they were; a refused config leaves no directory.
A few inputs that used to fail are now handled (``rc == 0``): they are in the table with the
outcome they must have. ``scripts/fault_matrix.py`` prints the table with tried / clean counts.
"""

from __future__ import annotations

import fcntl
import json
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from initlab_harness.faults import SIGNAL_ENV
from tests.conftest import QUIET, ROOT, run_train

SMALL = ["data=digits", "task.epochs=2", "model.width=16", "model.depth=2",
         "task.checkpoint_interval_s=0"]  # fmt: skip


@dataclass
class Case:
    overrides: list[str]
    message: str  # a piece of the one error line ("" with rc 0)
    prepare: Callable[[Path], list[str]] | None = None  # writes files; returns more overrides
    rc: int | None = None  # expected exit code (None: any non-zero)
    base: list[str] = field(default_factory=lambda: list(SMALL))  # overrides before the case's
    leaves_nothing: bool = False  # the run directory must not exist afterwards
    keeps: list[str] = field(default_factory=list)  # files that must be left byte-identical
    limit_file_size: int | None = None  # RLIMIT_FSIZE of the process (a full disk)
    absent: list[str] = field(default_factory=list)  # files (under tmp) that must not appear


def _earlier_run(tmp: Path, *extra: str) -> Path:
    """A run preempted after 25 steps: config.yaml, metrics.csv and a checkpoint at step 25."""
    out = tmp / "run"
    done = run_train(*QUIET, *SMALL, *extra, f"hydra.run.dir={out}", cwd=tmp,
                     env={SIGNAL_ENV: "25"})  # fmt: skip
    assert done.returncode == 75, done.stderr
    assert (out / "checkpoint.pt").exists()
    return out


def _spoil(name: str, content: bytes) -> Callable[[Path], list[str]]:
    def prepare(tmp: Path) -> list[str]:
        out = _earlier_run(tmp)
        (out / name).write_bytes(content)
        return []

    return prepare


def _other_config_checkpoint(tmp: Path) -> list[str]:
    out = _earlier_run(tmp)
    (tmp / "other").mkdir()
    other = _earlier_run(tmp / "other", "seed=5")
    (out / "checkpoint.pt").write_bytes((other / "checkpoint.pt").read_bytes())
    return []


class _Payload:
    """Unpickling this creates ``marker``: what a planted checkpoint's code would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _malicious_task_checkpoint(tmp: Path) -> list[str]:
    import torch

    torch.save({"model": _Payload(tmp / "marker")}, tmp / "weights.pt")
    return [f"task.checkpoint={tmp / 'weights.pt'}"]


def _malicious_run_checkpoint(tmp: Path) -> list[str]:
    import torch

    out = _earlier_run(tmp)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    state["rng"] = _Payload(tmp / "marker")
    torch.save(state, out / "checkpoint.pt")
    return []


def _edit_checkpoint(edit: Callable[[dict, Path], None]) -> Callable[[Path], list[str]]:
    def prepare(tmp: Path) -> list[str]:
        import torch

        out = _earlier_run(tmp)
        state = torch.load(out / "checkpoint.pt", weights_only=True)
        edit(state, tmp)
        torch.save(state, out / "checkpoint.pt")
        return []

    return prepare


def _other_width(state: dict, tmp: Path) -> None:
    """The weights of a width-8 run under this run's config hash."""
    import torch

    (tmp / "other").mkdir()
    other = _earlier_run(tmp / "other", "model.width=8")
    state["model"] = torch.load(other / "checkpoint.pt", weights_only=True)["model"]


def _no_batch_index(state: dict, tmp: Path) -> None:
    del state["batch_index"]


def _checkpoint_of_another_width(tmp: Path) -> list[str]:
    (tmp / "other").mkdir()
    other = _earlier_run(tmp / "other")  # width 16
    return [f"task.checkpoint={other}"]


def _long_run_dir(tmp: Path) -> list[str]:
    return [f"hydra.run.dir={tmp / ('x' * 300) / 'run'}"]


def _dangling_symlink(tmp: Path) -> list[str]:
    (tmp / "link").symlink_to(tmp / "gone")
    return [f"hydra.run.dir={tmp / 'link' / 'run'}"]


def _relative_mnist(tmp: Path) -> list[str]:
    from initlab_harness.rehearsal.writers import write_mnist

    write_mnist(tmp / "mnist_files", shape=(40, 12))
    return ["data.root=mnist_files"]


def _file_in_the_way(tmp: Path) -> list[str]:
    (tmp / "afile").write_text("not a directory")
    return [f"hydra.run.dir={tmp / 'afile' / 'run'}"]


def _garbage_checkpoint(tmp: Path) -> list[str]:
    (tmp / "weights.pt").write_bytes(b"\x00garbage" * 10)
    return [f"task.checkpoint={tmp / 'weights.pt'}"]


def _mnist_files(content: bytes) -> Callable[[Path], list[str]]:
    def prepare(tmp: Path) -> list[str]:
        folder = tmp / "raw" / "MNIST" / "raw"
        folder.mkdir(parents=True)
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):  # fmt: skip
            (folder / name).write_bytes(content)
        return [f"data.root={tmp / 'raw'}"]

    return prepare


def _htru2(values: Callable[[np.ndarray], None]) -> Callable[[Path], list[str]]:
    def prepare(tmp: Path) -> list[str]:
        rng = np.random.default_rng(0)
        table = np.column_stack([rng.normal(size=(60, 8)), np.arange(60) % 2])
        values(table)
        folder = tmp / "raw" / "htru2"
        folder.mkdir(parents=True)
        np.savetxt(folder / "HTRU_2.csv", table, delimiter=",", fmt="%.6g")
        return [f"data.root={tmp / 'raw'}"]

    return prepare


def _nan_feature(table: np.ndarray) -> None:
    table[3, 2] = np.nan


def _inf_feature(table: np.ndarray) -> None:
    table[5, 1] = np.inf


def _held_lock(tmp: Path) -> list[str]:
    out = _earlier_run(tmp)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
         str(out / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    _HOLDERS.append(holder)
    return []


_HOLDERS: list[subprocess.Popen] = []


def _truncate(name: str) -> Callable[[Path], list[str]]:
    def prepare(tmp: Path) -> list[str]:
        out = _earlier_run(tmp)
        content = (out / name).read_bytes()
        (out / name).write_bytes(content[: len(content) // 2])
        return []

    return prepare


def _cifar(data: Callable[[int], dict] | None, raw: bytes = b"") -> Callable[[Path], list[str]]:
    """CIFAR-10 python batches: ``data(i)`` is each pickled dict, or ``raw`` bytes if None."""

    def prepare(tmp: Path) -> list[str]:
        import pickle

        folder = tmp / "raw" / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for i, name in enumerate(names):
            content = raw if data is None else pickle.dumps(data(i))
            (folder / name).write_bytes(content)
        return [f"data.root={tmp / 'raw'}"]

    return prepare


def _cifar_batch(labels: int = 10, shape: tuple[int, int] = (8, 3072)) -> Callable[[int], dict]:
    def batch(i: int) -> dict:
        rng = np.random.default_rng(i)
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        return {"data": pixels, "labels": ((np.arange(shape[0]) + 4) % labels).tolist()}

    return batch


def _uci(change: Callable[[np.ndarray, np.ndarray], None], garbage: bool = False):
    """A UCI-121 set in the original layout (tests/data/test_uci121.py's toy), changed."""

    def prepare(tmp: Path) -> list[str]:
        from tests.data import test_uci121 as uci

        folder = uci._original(tmp / "raw")
        x, y = uci._features()
        x, y = x.copy(), y.copy()
        change(x, y)
        uci._write_r(folder / "toy_R.dat", x, y)
        if garbage:
            (folder / "toy_R.dat").write_bytes(b"\x00\x01 garbage \xff")
        return [f"data.root={tmp / 'raw'}", "data.dataset=toy"]

    return prepare


def _label_999(x: np.ndarray, y: np.ndarray) -> None:
    y[4] = 999


def _nan_uci(x: np.ndarray, y: np.ndarray) -> None:
    x[2, 1] = np.nan


def _unchanged(x: np.ndarray, y: np.ndarray) -> None:
    pass


def _uci_file(change: Callable[[bytes], bytes]) -> Callable[[Path], list[str]]:
    """The toy UCI set with its data file's bytes changed (emptied, cut short, ...)."""

    def prepare(tmp: Path) -> list[str]:
        extra = _uci(_unchanged)(tmp)
        path = tmp / "raw" / "uci121" / "toy" / "toy_R.dat"
        path.write_bytes(change(path.read_bytes()))
        return extra

    return prepare


def _ragged_row(content: bytes) -> bytes:
    lines = content.splitlines(keepends=True)
    lines[3] = b"\t".join(lines[3].split(b"\t")[:2]) + b"\n"  # a row with 1 of 3 features
    return b"".join(lines)


def _idx(kind: int, shape: tuple[int, ...], values: np.ndarray) -> bytes:
    """An IDX file as MNIST publishes it: magic (0, 0, 8 = uint8, rank), big-endian sizes."""
    header = bytes([0, 0, 8, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)
    assert kind == len(shape)
    return header + values.astype(np.uint8).tobytes()


def _mnist(side: int = 28, labels: int = 10, cut: bool = False) -> Callable[[Path], list[str]]:
    """MNIST in its four IDX files (8 train, 4 test images), with a fault: images of another
    size, labels outside 0..9, or the image files cut short."""

    def prepare(tmp: Path) -> list[str]:
        folder = tmp / "raw" / "MNIST" / "raw"
        folder.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for split, n in (("train", 8), ("t10k", 4)):
            pixels = rng.integers(0, 256, size=(n, side, side))
            images = _idx(3, (n, side, side), pixels)
            if cut:
                images = images[: len(images) // 2]
            (folder / f"{split}-images-idx3-ubyte").write_bytes(images)
            targets = (np.arange(n) + 3) % labels
            (folder / f"{split}-labels-idx1-ubyte").write_bytes(_idx(1, (n,), targets))
        return [f"data.root={tmp / 'raw'}", "data.val_fraction=0.25"]

    return prepare


def _htru2_text(content: bytes) -> Callable[[Path], list[str]]:
    def prepare(tmp: Path) -> list[str]:
        folder = tmp / "raw" / "htru2"
        folder.mkdir(parents=True)
        (folder / "HTRU_2.csv").write_bytes(content)
        return [f"data.root={tmp / 'raw'}"]

    return prepare


def _malicious_cifar(tmp: Path) -> list[str]:
    """A CIFAR-10 batch pickle whose unpickling would run code."""
    import pickle

    extra = _cifar(_cifar_batch())(tmp)
    planted = {"data": _Payload(tmp / "marker"), "labels": [0] * 8}
    (tmp / "raw" / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(planted))
    return extra


def _cut_cifar(tmp: Path) -> list[str]:
    extra = _cifar(_cifar_batch())(tmp)
    path = tmp / "raw" / "cifar-10-batches-py" / "data_batch_3"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return extra


CASES: dict[str, Case] = {
    "lr_nan": Case(["optim.lr=nan"], "optim.lr: nan is not a finite number", leaves_nothing=True),
    "lr_inf": Case(["optim.lr=inf"], "optim.lr: inf is not a finite number", leaves_nothing=True),
    "momentum_nan": Case(["optim.momentum=nan"], "optim.momentum: nan", leaves_nothing=True),
    "diverge_factor_nan": Case(["task.diverge_factor=nan"], "task.diverge_factor: nan"),
    "checkpoint_interval_nan": Case(["task.checkpoint_interval_s=nan"], "checkpoint_interval_s"),
    "dropout_nan": Case(["model.dropout=nan"], "model.dropout: nan", leaves_nothing=True),
    "width_1e6": Case(["model.width=1000000"], "reduce model.width", leaves_nothing=True),
    "fixup_on_mlp": Case(["init=fixup"], "fixup", leaves_nothing=True),
    "bn_last_batch_of_one": Case(["model=resnet_bn", "task.batch_size=419"], "", rc=0),
    "bn_batch_of_one": Case(
        ["model=resnet_bn", "task.batch_size=1"], "task.batch_size: batches of 1 example(s)"
    ),
    "output_dir_under_a_file": Case([], "afile", prepare=_file_in_the_way),
    "corrupt_checkpoint": Case(
        [], "checkpoint.pt is not a readable checkpoint", prepare=_spoil("checkpoint.pt", b"xx"),
        keeps=["checkpoint.pt", "metrics.csv"],
    ),
    "empty_checkpoint": Case(
        [], "is not a readable checkpoint", prepare=_spoil("checkpoint.pt", b""),
        keeps=["checkpoint.pt", "metrics.csv"],
    ),
    "checkpoint_of_another_config": Case(
        [], "belongs to a different config", prepare=_other_config_checkpoint,
        keeps=["checkpoint.pt", "metrics.csv"],
    ),
    "corrupt_config_yaml": Case(
        [], "config.yaml is unreadable", prepare=_spoil("config.yaml", b"{[: not yaml"),
        keeps=["checkpoint.pt", "metrics.csv"],
    ),
    "corrupt_metrics_csv": Case(
        [], "metrics.csv is unreadable", prepare=_spoil("metrics.csv", b"\xff\xfe\x00bad"),
        keeps=["checkpoint.pt", "metrics.csv"],
    ),
    # an unreadable summary.json means the run did not finish: it resumes and completes
    "corrupt_summary_json": Case([], "", prepare=_spoil("summary.json", b"{trunc"), rc=0),
    "task_checkpoint_not_a_checkpoint": Case(
        ["task=hessian", "model.depth=1", "model.width=8"], "task.checkpoint:",
        prepare=_garbage_checkpoint, base=["data=digits"],
    ),
    "mnist_garbage": Case(["data=mnist"], "mnist files", prepare=_mnist_files(b"garbage")),
    "mnist_empty": Case(["data=mnist"], "mnist files", prepare=_mnist_files(b"")),
    "htru2_nan": Case(["data=htru2"], "NaN or infinite features", prepare=_htru2(_nan_feature)),
    "htru2_inf": Case(["data=htru2"], "NaN or infinite features", prepare=_htru2(_inf_feature)),
    "truncated_checkpoint": Case(
        [], "is not a readable checkpoint", prepare=_truncate("checkpoint.pt"),
        keeps=["checkpoint.pt", "metrics.csv"],
    ),
    "empty_config_yaml": Case(
        [], "config.yaml is unreadable", prepare=_spoil("config.yaml", b""),
        keeps=["checkpoint.pt", "metrics.csv"],
    ),
    # a row cut short (a kill while appending) is dropped; the run resumes and completes
    "truncated_metrics_csv": Case([], "", prepare=_truncate("metrics.csv"), rc=0),
    "cifar_garbage": Case(["data=cifar10"], "cifar10 files", prepare=_cifar(None, b"garbage")),
    "cifar_empty": Case(["data=cifar10"], "cifar10 files", prepare=_cifar(None, b"")),
    "cifar_wrong_shape": Case(
        ["data=cifar10"], "cifar10 files", prepare=_cifar(_cifar_batch(shape=(8, 100)))
    ),
    "cifar_label_out_of_range": Case(
        ["data=cifar10"], "outside 0..9", prepare=_cifar(_cifar_batch(labels=12))
    ),
    "uci_label_999": Case(
        ["data=uci121"], "classes empty (largest label 999)", prepare=_uci(_label_999),
        leaves_nothing=True,
    ),
    "uci_nan_feature": Case(["data=uci121"], "NaN or infinite", prepare=_uci(_nan_uci)),
    "uci_garbage": Case(["data=uci121"], "toy_R.dat", prepare=_uci(_unchanged, garbage=True)),
    "run_dir_locked": Case([], "is in use by", prepare=_held_lock, keeps=["checkpoint.pt"]),
    "full_disk": Case(
        ["model.width=128"], "cannot write", limit_file_size=48 * 1024,
    ),
    # more of the files a resumed directory holds, and of the data files, each spoiled
    "empty_summary_json": Case([], "", prepare=_spoil("summary.json", b""), rc=0),
    "truncated_config_yaml": Case(
        [], "config.yaml", prepare=_truncate("config.yaml"), keeps=["checkpoint.pt", "metrics.csv"],
    ),
    "empty_metrics_csv": Case(
        [], "metrics.csv", prepare=_spoil("metrics.csv", b""), keeps=["checkpoint.pt"],
    ),
    "mnist_truncated": Case(["data=mnist"], "mnist files", prepare=_mnist(cut=True)),
    "mnist_wrong_shape": Case(["data=mnist"], "28x28", prepare=_mnist(side=14)),
    "mnist_label_out_of_range": Case(["data=mnist"], "outside 0..9", prepare=_mnist(labels=13)),
    "cifar_truncated": Case(["data=cifar10"], "cifar10 files", prepare=_cut_cifar),
    "uci_empty": Case(["data=uci121"], "toy_R.dat", prepare=_uci_file(lambda b: b"")),
    "uci_truncated": Case(
        ["data=uci121"], "toy_R.dat", prepare=_uci_file(lambda b: b[: len(b) // 2 - 3]),
    ),
    "uci_wrong_shape": Case(["data=uci121"], "toy_R.dat", prepare=_uci_file(_ragged_row)),
    "htru2_empty": Case(["data=htru2"], "HTRU_2.csv is corrupt", prepare=_htru2_text(b"")),
    "htru2_garbage": Case(
        ["data=htru2"], "HTRU_2.csv is corrupt", prepare=_htru2_text(b"\x00\xffgarbage"),
    ),
    "htru2_wrong_shape": Case(
        ["data=htru2"], "(3 columns; expected 9", prepare=_htru2_text(b"1,2,3\n4,5,6\n7,8,9\n"),
    ),
    # issue 32: checkpoints that do not fit or would run code, paths, names, seeds
    "checkpoint_of_another_width": Case(
        [], "does not fit this run's model: hidden.0.0.weight has shape (8, 64), the model's "
        "(16, 64) (", prepare=_edit_checkpoint(_other_width),
        keeps=["checkpoint.pt", "metrics.csv"],
    ),
    "checkpoint_without_batch_index": Case(
        [], "checkpoint.pt lacks batch_index", prepare=_edit_checkpoint(_no_batch_index),
        keeps=["checkpoint.pt", "metrics.csv"],
    ),
    "task_checkpoint_does_not_fit": Case(
        ["task=hessian", "model.depth=2", "model.width=32"],
        "does not fit this model: hidden.0.0.weight has shape (16, 64), the model's (32, 64) (",
        prepare=_checkpoint_of_another_width, base=["data=digits"],
    ),
    "malicious_task_checkpoint": Case(
        ["task=hessian", "model.depth=1", "model.width=8"],
        "weights.pt needs code to load (it names posix.system): refused, nothing in it ran",
        prepare=_malicious_task_checkpoint, base=["data=digits"], absent=["marker"],
    ),
    "malicious_run_checkpoint": Case(
        [], "checkpoint.pt needs code to load", prepare=_malicious_run_checkpoint,
        keeps=["checkpoint.pt", "metrics.csv"], absent=["marker"],
    ),
    "malicious_cifar_batch": Case(
        ["data=cifar10"], "data_batch_1 needs code to load (it names posix.system): refused",
        prepare=_malicious_cifar, absent=["marker"],
    ),
    "run_dir_name_too_long": Case([], "is 300 bytes long", prepare=_long_run_dir),
    "run_dir_under_a_dangling_symlink": Case(
        [], "link is a symbolic link to", prepare=_dangling_symlink,
    ),
    "seed_2_to_the_64": Case(
        [f"seed={2**64}"], f"seed: {2**64} is out of range; allowed:", leaves_nothing=True,
    ),
    # hydra.job.chdir=true: a relative data.root is the start directory's (found, or named
    # absolute when it is missing)
    "chdir_relative_data_root": Case(
        ["data=mnist", "data.download=false", "data.val_fraction=0.25", "hydra.job.chdir=true"],
        "", prepare=_relative_mnist, rc=0,
    ),
    "chdir_relative_data_root_missing": Case(
        ["data=mnist", "data.download=false", "hydra.job.chdir=true", "data.root=data/raw"],
        "MNIST is not in /", leaves_nothing=True,
    ),
}  # fmt: skip

# the default suite tries one case of each kind of file; the variants run with -m slow
SLOW_CASES = {"empty_summary_json", "truncated_config_yaml", "mnist_truncated", "cifar_truncated",
              "uci_empty", "uci_truncated", "htru2_empty", "htru2_garbage"}  # fmt: skip


def run_case(tmp_path: Path, case: Case) -> tuple[subprocess.CompletedProcess, Path]:
    extra = case.prepare(tmp_path) if case.prepare else []
    out = tmp_path / "run"
    dirs = [o for o in extra if o.startswith("hydra.run.dir=")]
    if dirs:
        out = Path(dirs[0].split("=", 1)[1])
    else:
        extra.append(f"hydra.run.dir={out}")
    before = {name: (out / name).read_bytes() for name in case.keeps if (out / name).exists()}
    args = [*QUIET, *case.base, *case.overrides, *extra]
    if case.limit_file_size is None:
        done = run_train(*args, cwd=tmp_path)
    else:
        size = case.limit_file_size

        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

        done = subprocess.run(
            [sys.executable, str(ROOT / "train.py"), *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, preexec_fn=limit,
        )  # fmt: skip
    for holder in _HOLDERS:
        holder.kill()
        holder.wait()
    _HOLDERS.clear()
    for name, content in before.items():
        assert (out / name).read_bytes() == content, f"{name} changed"
    for name in case.absent:
        assert not (tmp_path / name).exists(), f"{name} was created"
    return done, out


def check_outcome(case: Case, done: subprocess.CompletedProcess, out: Path) -> None:
    stderr = done.stderr
    assert "Traceback" not in stderr and "Traceback" not in done.stdout, stderr[-3000:]
    if case.rc == 0:
        assert done.returncode == 0, stderr[-2000:]
        assert json.loads((out / "summary.json").read_text())["status"] == "completed"
        return
    assert done.returncode != 0
    errors = [line for line in stderr.splitlines() if line.startswith("initlab: error:")]
    assert len(errors) == 1, stderr[-2000:]
    assert case.message in errors[0], errors[0]
    if case.leaves_nothing:
        assert not out.exists(), sorted(p.name for p in out.iterdir())
    if case.limit_file_size is not None:  # a run had started: its status is recorded
        assert not list(out.glob(".*.tmp")), "temporary files left behind"
        assert json.loads((out / "summary.json").read_text())["status"] == "failed"


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_CASES else n for n in CASES]
)
def test_fault_ends_with_one_line(tmp_path, name):
    case = CASES[name]
    done, out = run_case(tmp_path, case)
    check_outcome(case, done, out)


def test_directory_lock_refuses_a_second_process(tmp_path):
    from initlab.run import DirectoryLock

    first = DirectoryLock(tmp_path)
    first.acquire()
    with open(tmp_path / ".lock") as fh, pytest.raises(BlockingIOError):
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    first.release()


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory on a read-only file system (a tmpfs mounted ro; needs root, as CI runs)."""
    target = tmp_path / "ro"
    target.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    yield target
    subprocess.run(["umount", str(target)], check=True)


@pytest.mark.parametrize("below", ["", "new/run"])
def test_output_dir_on_a_read_only_file_system(tmp_path, read_only_dir, below):
    out = read_only_dir / below if below else read_only_dir
    done = run_train(*QUIET, f"hydra.run.dir={out}", cwd=tmp_path)
    case = Case([], "not writable (read-only?)")
    check_outcome(case, done, out)
