"""Synthetic data sets written to disk in the real formats, at the real shapes.

The rehearsal reads these through the same loaders as the real files (``initlab.data``):

- CIFAR-10: ``cifar-10-batches-py/`` with the python pickles ``data_batch_1..5``,
  ``test_batch`` (10,000 images each: ``data`` uint8 (10000, 3072), ``labels``, ``batch_label``,
  ``filenames``) and ``batches.meta``;
- MNIST: ``MNIST/raw/`` with the four idx files (60,000 / 10,000 images of 28 x 28);
- UCI-121: ``uci121/<set>/`` in Fernandez-Delgado et al.'s layout (``<set>_R.dat``,
  ``conxuntos.dat``, ``conxuntos_kfold.dat``; sets with a fixed test file
  ``<set>_train_R.dat`` / ``<set>_test_R.dat``), every set at its shape
  (:mod:`initlab.data.uci121_shapes`);
- Tox21: ``tox21/tox21_{dense,labels}_{train,test}.csv.gz`` (12,060 + 647 compounds, 801 dense
  features, 12 assays with missing labels);
- HTRU2: ``htru2/HTRU_2.csv`` (17,898 candidates, 8 features, 1,639 pulsars).

Every file written is listed with its SHA-256 in ``<root>/REHEARSAL_MANIFEST.json``. That
manifest is what lets the loaders accept these files without the real data's checksums
(:func:`initlab.data.files.require`): only a file listed there, with exactly the listed content,
is taken as a rehearsal file; every other file is checked as before. The writer refuses a root
that holds anything it did not write (real data are never mixed with synthetic ones).
"""

from __future__ import annotations

import gzip
import json
import pickle
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from initlab.data.files import CHECKSUM_FILE, MANIFEST, sha256
from initlab.data.uci121_shapes import UCI121_SHAPES
from initlab.tracking import atomic_write_text

TOX21_TASKS = [
    "NR.AhR",
    "NR.AR",
    "NR.AR.LBD",
    "NR.Aromatase",
    "NR.ER",
    "NR.ER.LBD",
    "NR.PPAR.gamma",
    "SR.ARE",
    "SR.ATAD5",
    "SR.HSE",
    "SR.MMP",
    "SR.p53",
]
TOX21_SHAPE = (12060, 647, 801)  # train compounds, test compounds, dense features
HTRU2_SHAPE = (17898, 8, 1639)  # candidates, features, pulsars
CIFAR10_SHAPE = (50000, 10000)
MNIST_SHAPE = (60000, 10000)


class RehearsalRootError(ValueError):
    """The folder given for rehearsal data holds files the rehearsal writer did not write."""


def _labelled(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    """Labels with every class present (where n allows), in random order."""
    y = np.arange(n) % classes
    return rng.permutation(y)


def write_cifar10(root: Path, seed: int = 0, shape: tuple[int, int] = CIFAR10_SHAPE) -> list[Path]:
    """``shape``: (training, test) images; the training ones in five batch files."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    per_batch = shape[0] // 5
    written = []
    for i, name in enumerate(names):
        n = per_batch if name != "test_batch" else shape[1]
        labels = _labelled(rng, n, 10)
        # class-dependent mean colour, so a few steps can move the loss
        base = (labels[:, None] * 23 % 256).astype(np.int16)
        data = np.clip(base + rng.integers(-60, 60, size=(n, 3072)), 0, 255).astype(np.uint8)
        label = "testing batch 1 of 1" if name == "test_batch" else f"training batch {i + 1} of 5"
        batch = {
            "batch_label": label,
            "labels": labels.tolist(),
            "data": data,
            "filenames": [f"synthetic_{i}_{j}.png" for j in range(n)],
        }
        written.append(_pickle(folder / name, batch))
    meta = {
        "num_cases_per_batch": per_batch,
        "label_names": [f"class{k}" for k in range(10)],
        "num_vis": 3072,
    }
    written.append(_pickle(folder / "batches.meta", meta))
    return written


def _pickle(path: Path, obj: object) -> Path:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)
    return path


def _idx(path: Path, array: np.ndarray) -> Path:
    """An idx file: magic (0, 0, type 0x08 = ubyte, ndim), big-endian int32 dims, the bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    return path


def write_mnist(root: Path, seed: int = 0, shape: tuple[int, int] = MNIST_SHAPE) -> list[Path]:
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    written = []
    for prefix, n in (("train", shape[0]), ("t10k", shape[1])):
        labels = _labelled(rng, n, 10).astype(np.uint8)
        images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
        images[np.arange(n), 2 * labels.astype(np.int64) + 4, :] = 255  # a class-dependent row
        written.append(_idx(raw / f"{prefix}-images-idx3-ubyte", images))
        written.append(_idx(raw / f"{prefix}-labels-idx1-ubyte", labels))
    return written


def _write_r(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """``_R.dat``: a header line, then row number, features and the integer class, tab-separated."""
    header = "\t" + "\t".join(f"f{j + 1}" for j in range(x.shape[1])) + "\tclase\n"
    rows = np.column_stack([np.arange(1, len(x) + 1), x, y])
    fmt = ["%d", *(["%.5g"] * x.shape[1]), "%d"]
    with open(path, "w") as handle:
        handle.write(header)
        np.savetxt(handle, rows, fmt=fmt, delimiter="\t")
    return path


def _index_file(path: Path, lines: Iterable[np.ndarray]) -> Path:
    path.write_text("".join(" ".join(str(int(i)) for i in line) + "\n" for line in lines))
    return path


def write_uci_set(base: Path, name: str, shape: tuple[int, int, int, int], seed: int) -> list[Path]:
    """One set in the original layout: the table(s), the tuning split and (no test file) 4 folds."""
    n, d, classes, test = shape
    folder = Path(base) / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y = _labelled(rng, n, classes)
    x = rng.standard_normal((n, d)) + 0.5 * (y[:, None] % 3)
    if test:  # fixed test file: conxuntos.dat indexes the training file
        n_train = n - test
        tuning = rng.permutation(n_train)
        half = n_train // 2
        return [
            _write_r(folder / f"{name}_train_R.dat", x[:n_train], y[:n_train]),
            _write_r(folder / f"{name}_test_R.dat", x[n_train:], y[n_train:]),
            _index_file(folder / "conxuntos.dat", [tuning[:half], tuning[half:]]),
        ]
    order = rng.permutation(n)
    tuning = [np.sort(order[: n // 2]), np.sort(order[n // 2 :])]
    folds = np.array_split(rng.permutation(n), 4)
    kfold = []
    for k in range(4):
        kfold += [np.sort(np.concatenate(folds[:k] + folds[k + 1 :])), np.sort(folds[k])]
    return [
        _write_r(folder / f"{name}_R.dat", x, y),
        _index_file(folder / "conxuntos.dat", tuning),
        _index_file(folder / "conxuntos_kfold.dat", kfold),
    ]


def write_uci121(
    root: Path, names: Iterable[str] | None = None, seed: int = 0, shapes: dict | None = None
) -> list[Path]:
    """``shapes``: name -> (examples, features, classes, fixed test size); default the real ones."""
    shapes = shapes or UCI121_SHAPES
    base = Path(root) / "uci121"
    written = []
    for i, name in enumerate(sorted(names or shapes)):
        written += write_uci_set(base, name, shapes[name], seed + i)
    return written


def _gz_csv(path: Path, ids: list[str], columns: list[str], table: np.ndarray, fmt: str) -> Path:
    """A gzipped CSV with the compound id first; NaN (not measured) as an empty cell."""
    frame = pd.DataFrame(table, index=pd.Index(ids), columns=columns)
    with gzip.open(path, "wt", compresslevel=1) as handle:
        frame.to_csv(handle, float_format=fmt)
    return path


def write_tox21(root: Path, seed: int = 0, shape: tuple[int, int, int] = TOX21_SHAPE) -> list[Path]:
    """``shape``: (training compounds, test compounds, dense features)."""
    folder = Path(root) / "tox21"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 2)
    n_train, n_test, d = shape
    written = []
    for split, n, offset in (("train", n_train, 0), ("test", n_test, n_train)):
        ids = [f"NCGC{offset + i:08d}" for i in range(n)]
        x = rng.standard_normal((n, d))
        labels = (rng.random((n, len(TOX21_TASKS))) < 0.08).astype(np.float64)
        labels[rng.random(labels.shape) < 0.2] = np.nan  # about a fifth not measured
        x[:, : len(TOX21_TASKS)] += 2.0 * np.nan_to_num(labels)
        features = [f"f{j}" for j in range(d)]
        written.append(_gz_csv(folder / f"tox21_dense_{split}.csv.gz", ids, features, x, "%.5g"))
        written.append(
            _gz_csv(folder / f"tox21_labels_{split}.csv.gz", ids, TOX21_TASKS, labels, "%.0f")
        )
    return written


def write_htru2(root: Path, seed: int = 0, shape: tuple[int, int, int] = HTRU2_SHAPE) -> list[Path]:
    """``shape``: (candidates, features, pulsars)."""
    folder = Path(root) / "htru2"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 3)
    n, d, positives = shape
    y = np.zeros(n, dtype=np.int64)
    y[rng.choice(n, positives, replace=False)] = 1
    x = rng.standard_normal((n, d)) * 10 + 40 * y[:, None]
    path = folder / "HTRU_2.csv"
    np.savetxt(path, np.column_stack([x, y]), fmt=["%.6f"] * d + ["%d"], delimiter=",")
    return [path]


WRITERS: dict[str, Callable[..., list[Path]]] = {
    "cifar10": write_cifar10,
    "mnist": write_mnist,
    "uci121": write_uci121,
    "tox21": write_tox21,
    "htru2": write_htru2,
}


def check_root(root: Path) -> None:
    """Refuse a root holding files the rehearsal did not write (real data stay untouched)."""
    root = Path(root)
    if not root.exists():
        return
    listed = set(read_manifest(root))
    for path in root.rglob("*"):
        if not path.is_file() or path.name == MANIFEST:
            continue
        rel = path.relative_to(root).as_posix()
        if path.name == CHECKSUM_FILE or rel not in listed:
            raise RehearsalRootError(
                f"{root} holds {rel}, which the rehearsal did not write; rehearsal data need a "
                "folder of their own (set INITLAB_REHEARSAL_DATA), never the real data's"
            )


def read_manifest(root: Path) -> dict[str, str]:
    path = Path(root) / MANIFEST
    return json.loads(path.read_text())["files"] if path.is_file() else {}


def write_all(
    root: Path,
    sets: Iterable[str] = tuple(WRITERS),
    force: bool = False,
    options: dict[str, dict] | None = None,
) -> Path:
    """Write the requested sets under ``root`` (skipped when the manifest already has them).

    ``options``: per set, keyword arguments of its writer (tests write small shapes).
    """
    root = Path(root)
    check_root(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(root)
    for name in sets:
        marker = f"{name}:done"
        if marker in manifest and not force:
            continue
        for path in WRITERS[name](root, **(options or {}).get(name, {})):
            manifest[path.relative_to(root).as_posix()] = sha256(path)
        manifest[marker] = "written"
        _save_manifest(root, manifest)
    return root / MANIFEST


def _save_manifest(root: Path, files: dict[str, str]) -> None:
    text = json.dumps(
        {"written_by": "initlab_harness.rehearsal.writers", "synthetic": True, "files": files},
        indent=1,
        sort_keys=True,
    )
    atomic_write_text(root / MANIFEST, text)


def manifest_sha256(folder: Path, rel: str) -> str | None:
    """The sha256 the rehearsal writer recorded for ``folder / rel``, if it wrote that file.

    The manifest lives at the data root (``folder``'s parent: ``<root>/uci121/...``); only
    files it lists are rehearsal files, so a real file next to it is checked as usual.
    """
    import json

    manifest = Path(folder).parent / MANIFEST
    if not manifest.is_file():
        return None
    files = json.loads(manifest.read_text()).get("files", {})
    return files.get(f"{Path(folder).name}/{rel}")
