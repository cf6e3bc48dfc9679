"""Rendering is a function of the CSVs alone (issue 32, item 1).

``make report`` runs in subprocesses on a copy of ``results/`` whose figures are deleted (each
figure's data written alone, :func:`initlab.report.figures.save_figure_data`): once as
it is, once with every numpy SIMD dispatch level this CPU has masked from each level up
(``NPY_DISABLE_CPU_FEATURES``: numpy then sorts, and computes exp / log, with the kernels another
CPU would use), each under another ``PYTHONHASHSEED``. Every table and report must come out
byte-identical to the committed one, and every figure's drawn data (``*.figure.json``) equal
within ``FIGURE_RTOL``; the PNG and PDF bytes are not compared (anti-aliased pixels may differ
by CPU for the same data). The figures' metadata hold no version and no date.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from initlab.report.figures import DATA_SUFFIX, data_path, same_data, save_figure  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
FIGURES = (".png", ".pdf", DATA_SUFFIX)

MAKE_REPORT = str(ROOT / "scripts" / "make_report.py")
#: the child prints numpy's CPU features as numpy saw them (the mask applied), then renders
CHILD = f"""
import json, runpy, sys
try:
    from numpy._core._multiarray_umath import __cpu_features__
except ImportError:  # numpy < 2
    from numpy.core._multiarray_umath import __cpu_features__
print("CPU_FEATURES " + json.dumps(__cpu_features__), flush=True)
import initlab.report.figures as figures  # each figure's data only: no PNG, no PDF (faster)
figures.save_figure = figures.save_figure_data
sys.argv = [{MAKE_REPORT!r}, sys.argv[1]]
runpy.run_path({MAKE_REPORT!r}, run_name="__main__")
"""


def _numpy_cpu() -> tuple[list[str], dict[str, bool]]:
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    return list(__cpu_dispatch__), dict(__cpu_features__)


def masks() -> list[list[str]]:
    """Each SIMD dispatch level this CPU runs, masked together with every level above it
    (x86-64 with AVX-512: [X86_V3 X86_V4 AVX512_ICL], [X86_V4 AVX512_ICL], [AVX512_ICL]).
    The baseline cannot be masked; a CPU with no dispatch level above it gives none."""
    dispatch, features = _numpy_cpu()
    enabled = [group for group in dispatch if features.get(group)]
    return [enabled[i:] for i in range(len(enabled))]


def _variants() -> list[tuple[str, dict[str, str]]]:
    """(test id, environment): as the CPU is, then each mask; each with its own hash seed."""
    found = [("unmasked-hashseed1", {"PYTHONHASHSEED": "1"})]
    for i, mask in enumerate(masks(), start=2):
        env = {"NPY_DISABLE_CPU_FEATURES": " ".join(mask), "PYTHONHASHSEED": str(i)}
        found.append((f"masked-{'+'.join(mask)}-hashseed{i}", env))
    return found


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _first_difference(old: str, new: str, width: int = 120) -> str:
    """The first differing line of two texts, cut around where it starts to differ."""
    for line, (a, b) in enumerate(zip(old.splitlines(), new.splitlines(), strict=False), 1):
        if a != b:
            at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), 0)
            start = max(0, at - width // 2)
            cut = slice(start, at + width)
            return f"line {line}: committed ...{a[cut]}...\n    rendered  ...{b[cut]}..."
    return "lengths differ"


def _differences(committed: Path, rendered: Path) -> list[str]:
    """What differs between the committed results and a rendering of them, one line each."""
    problems = []
    # the pixels of the same data may differ by CPU: the figures' data are compared instead
    old = {n for n in _files(committed) if not n.endswith((".png", ".pdf"))}
    new = _files(rendered)
    problems += [f"{name}: not written" for name in sorted(old - new)]
    problems += [f"{name}: written, not committed" for name in sorted(new - old)]
    for name in sorted(old & new):
        a, b = committed / name, rendered / name
        if name.endswith(DATA_SUFFIX):
            if not same_data(json.loads(a.read_text()), json.loads(b.read_text())):
                problems.append(f"{name}: the figure draws other data")
        elif a.read_bytes() != b.read_bytes():
            problems.append(
                f"{name}: differs\n    " + _first_difference(a.read_text(), b.read_text())
            )
    return problems


VARIANTS = _variants()


#: the default suite renders as the CPU is and with every level masked (the kernels of the
#: oldest x86-64 CPU numpy supports); the levels between run with ``-m slow``
DEFAULT_VARIANTS = {name for name, _ in VARIANTS[:2]}


def _selected(session: pytest.Session) -> set[str]:
    """The variants whose test this session runs (only those are rendered)."""
    test = "test_rendering_is_the_committed_one_under_other_sort_kernels_and_hash_seeds"
    return {
        item.callspec.id
        for item in session.items
        if getattr(item, "originalname", "") == test and hasattr(item, "callspec")
    }


@pytest.fixture(scope="module")
def renderings(request, tmp_path_factory) -> dict[str, tuple[int, str, Path]]:
    """variant name -> (exit status, output, the rendered results folder); every selected
    variant renders at once, each in its own subprocess on its own copy of results/ without
    figures."""
    runs = {}
    selected = _selected(request.session)
    for k, (name, env) in enumerate(VARIANTS):
        if name not in selected:
            continue
        copy = tmp_path_factory.mktemp(f"render{k}") / "results"
        shutil.copytree(RESULTS, copy, ignore=shutil.ignore_patterns(*(f"*{s}" for s in FIGURES)))
        inherited = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
        child_env = {**inherited, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", **env}
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(copy)],
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        runs[name] = (process, copy)
    found = {}
    for name, (process, copy) in runs.items():
        output, _ = process.communicate(timeout=900)
        found[name] = (process.returncode, output, copy)
    return found


NO_MASK = "numpy dispatches no SIMD level above its baseline on this CPU: nothing to mask"


@pytest.mark.parametrize(
    "name, env",
    [
        pytest.param(name, env, id=name, marks=() if name in DEFAULT_VARIANTS else pytest.mark.slow)
        for name, env in VARIANTS
    ]
    + ([] if masks() else [pytest.param("", {}, id="masked", marks=pytest.mark.skip(NO_MASK))]),
)
def test_rendering_is_the_committed_one_under_other_sort_kernels_and_hash_seeds(
    name, env, renderings
):
    """Every profile's report, tables and figure data, rendered from the committed CSVs with
    numpy's other SIMD kernels and another hash seed, are the committed ones."""
    returncode, output, copy = renderings[name]
    assert returncode == 0, f"{name}: make_report failed\n{output[-3000:]}"
    line = next(x for x in output.splitlines() if x.startswith("CPU_FEATURES "))
    features = json.loads(line.removeprefix("CPU_FEATURES "))
    masked = env.get("NPY_DISABLE_CPU_FEATURES", "").split()
    assert not any(features.get(g) for g in masked), f"{name}: the mask did not apply"
    problems = _differences(RESULTS, copy)
    assert not problems, f"[{env}] rendering depends on more than the CSVs:\n" + "\n".join(problems)


def _png_text_keys(path: Path) -> list[str]:
    """The keywords of a PNG's text chunks (tEXt, zTXt, iTXt)."""
    data, keys, at = path.read_bytes(), [], 8
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            keys.append(data[at + 8 : at + 8 + size].split(b"\0", 1)[0].decode("latin-1"))
        at += 12 + size
    return keys


VOLATILE_PDF_KEYS = (b"/Producer", b"/Creator", b"/CreationDate", b"/ModDate")


def test_committed_figures_have_their_data_and_no_volatile_metadata():
    pngs = sorted(RESULTS.rglob("*.png"))
    assert pngs
    for png in pngs:
        assert png.with_suffix(".pdf").is_file() and data_path(png).is_file(), png
        assert not {"Software", "Creation Time"} & set(_png_text_keys(png)), png
        pdf = png.with_suffix(".pdf").read_bytes()
        assert not [k for k in VOLATILE_PDF_KEYS if k in pdf], png.with_suffix(".pdf")


def _figure(y_scale: float = 1.0, color: str = "tab:blue") -> plt.Figure:
    fig, ax = plt.subplots(figsize=(3, 2))
    x = [1.0, 2.0, 3.0, 4.0]
    ax.plot(x, [v * y_scale for v in (0.1, 0.4, 0.2, 0.3)], color=color, label="a")
    ax.scatter(x, [0.3, 0.2, 0.1, 0.35], s=5)
    ax.set_yscale("log")
    ax.legend()
    return fig


def test_save_figure_is_byte_stable_and_keeps_files_whose_data_are_the_same(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)  # no date is written at all
    path = tmp_path / "f.png"
    save_figure(_figure(), path)
    files = [path, path.with_suffix(".pdf"), data_path(path)]
    first = [p.read_bytes() for p in files]
    assert "Software" not in _png_text_keys(path)
    assert not [k for k in VOLATILE_PDF_KEYS if k in first[1]]
    for p in files:
        p.unlink()
    save_figure(_figure(), path)
    assert [p.read_bytes() for p in files] == first  # the same figure, the same bytes

    # the same data up to float noise: nothing is rewritten (not even touched)
    stamps = [p.stat().st_mtime_ns for p in files]
    save_figure(_figure(y_scale=1 + 1e-13), path)
    assert [p.stat().st_mtime_ns for p in files] == stamps
    # other data, or another style: rewritten
    save_figure(_figure(y_scale=1 + 1e-6), path)
    assert data_path(path).read_bytes() != first[2]
    save_figure(_figure(), path)
    assert [p.read_bytes() for p in files] == first
    save_figure(_figure(color="tab:red"), path)
    assert path.read_bytes() != first[0] and data_path(path).read_bytes() != first[2]
