"""The notebooks run headless as scripts (what ``make notebooks`` does).

On the committed quick results every notebook exits 0, draws its figures, prints each of its
claims' verdicts as the registry gives them, and every number it recomputes from the CSVs is the
one the report states (``_common.check`` prints MISMATCH otherwise). On an empty results folder
the paper notebooks still exit 0, say what is absent and draw nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from initlab.claims import all_claims

ROOT = Path(__file__).resolve().parents[2]
QUICK = ROOT / "results" / "quick"
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.py") if not p.name.startswith("_"))
#: notebook -> the paper letter of the claims it walks through (api_angles reads no results)
PAPERS = {
    "a_fixup_hessian": "A",
    "b_angles": "B",
    "c_max_lr_fisher": "C",
    "d_pdi": "D",
    "e_selu": "E",
}
PAPER_NOTEBOOKS = [p for p in NOTEBOOKS if p.stem in PAPERS]
#: verdicts decided on measured numbers (the other: "not run", with its reason)
DECIDED = ("reproduced", "partly", "contradicted", "inconclusive")


def run_notebook(path: Path, results: Path, figures: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "INITLAB_RESULTS": str(results),
        "INITLAB_FIGURES": str(figures),
        "PYTHONUNBUFFERED": "1",
    }
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def claims_of(notebook: Path):
    return [c for c in all_claims() if c.id[0] == PAPERS[notebook.stem]]


def test_every_paper_has_a_notebook():
    assert {p.stem for p in PAPER_NOTEBOOKS} == set(PAPERS)
    assert {c.id[0] for c in all_claims()} == set(PAPERS.values())


@pytest.mark.slow  # 5-11 s each; `make notebooks` runs them too
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_on_quick_results(notebook: Path, tmp_path: Path):
    proc = run_notebook(notebook, QUICK, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "MISMATCH" not in proc.stdout, proc.stdout
    assert list(tmp_path.glob(f"{notebook.stem}_*.png")), "no figure drawn"
    if notebook.stem not in PAPERS:
        return
    for claim in claims_of(notebook):
        status = claim.verdict(QUICK, "quick").status
        assert f"{claim.id}: {status}\n" in proc.stdout, claim.id
        if status in DECIDED:  # a measured claim: its key number is recomputed
            assert f"check {claim.id}: " in proc.stdout, claim.id
    assert "NOTE:" not in proc.stdout, proc.stdout  # every CSV it reads is committed


@pytest.mark.parametrize("notebook", PAPER_NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_without_results(notebook: Path, tmp_path: Path):
    empty, figures = tmp_path / "empty", tmp_path / "figures"
    empty.mkdir()
    proc = run_notebook(notebook, empty, figures)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    for claim in claims_of(notebook):
        status = claim.verdict(empty, "quick").status
        assert status not in DECIDED, claim.id  # nothing to decide on
        assert f"{claim.id}: {status}\n" in proc.stdout, claim.id
    assert "NOTE:" in proc.stdout
    assert not list(figures.glob("*.png"))


@pytest.mark.slow
def test_make_notebooks_executes_a_notebook_in_a_kernel_outside_git(tmp_path):
    """``make notebooks``: jupytext hands each notebook to a Jupyter kernel (nbconvert's client);
    the executed copy, with its outputs and inline figures, lands in NB_OUT, not in git."""
    import json

    out = tmp_path / "nb"
    done = subprocess.run(
        ["make", "-s", "notebooks", f"NB_OUT={out}", f"PY={sys.executable}"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for source in NOTEBOOKS:
        cells = json.loads((out / f"{source.stem}.ipynb").read_text())["cells"]
        outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
        assert outputs and not any(o.get("output_type") == "error" for o in outputs), source
        if source.stem in PAPERS:
            assert any("image/png" in o.get("data", {}) for o in outputs), source
    assert not list((ROOT / "notebooks").glob("*.ipynb"))
