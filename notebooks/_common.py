"""Shared cells of the paper notebooks (not a notebook: the underscore keeps it out of the runs).

* :func:`results_dir`: the results folder, from ``INITLAB_RESULTS`` (default ``results/quick``
  of this repository, wherever the notebook is started from), of the profile ``INITLAB_PROFILE``
  (default ``quick``);
* :func:`load`: one collected CSV, or ``None`` with a printed note when it is absent;
* :func:`verdicts` / :func:`check`: the claims registry's verdicts, and whether a number
  recomputed in the notebook is the one the report states;
* :func:`show_table` / :func:`show`: tables and figures that display in Jupyter and print (or
  close, under the Agg backend) when the notebook runs as a script; ``INITLAB_FIGURES=<dir>``
  also saves every figure there as PNG.

The figures themselves are drawn by each paper's ``figures`` module (:mod:`initlab.papers`), the
functions ``make report`` saves, so a notebook shows the report's figures.
Importing it picks the Agg backend when not in Jupyter and no ``MPLBACKEND`` is set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

if "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from initlab.papers import load_rules  # noqa: E402
from initlab.report.common import completed_runs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "results" / "quick"
#: printed by :func:`check` when a recomputed number is not the report's (the tests look for it)
MISMATCH = "MISMATCH"

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 40)
pd.set_option("display.precision", 4)


def results_dir() -> Path:
    """``$INITLAB_RESULTS`` if set, else this repository's ``results/quick``."""
    value = os.environ.get("INITLAB_RESULTS")
    path = Path(value).expanduser() if value else DEFAULT_RESULTS
    missing = "" if path.is_dir() else " (missing: every section below says what is absent)"
    print(f"results folder: {path}{missing}")
    return path


def load(results: Path, experiment: str, table: str = "summary", completed: bool = True):
    """``results/<experiment>/<table>.csv`` (completed runs only, unless ``completed=False``),
    or ``None`` with a note saying how to produce it."""
    path = Path(results) / experiment / f"{table}.csv"
    if not path.exists():
        print(
            f"NOTE: {path} is absent (run `make experiment NAME={experiment}` or "
            "`make reproduce-quick`); this part is skipped."
        )
        return None
    frame = pd.read_csv(path)
    if completed:
        frame = completed_runs(frame)
    if frame.empty:
        print(f"NOTE: {path} has no completed runs; this part is skipped.")
        return None
    return frame


def show_table(frame: pd.DataFrame, title: str = "") -> None:
    """Display a table in Jupyter, print it in a script."""
    if title:
        print(f"\n{title}")
    if "ipykernel" in sys.modules:
        from IPython.display import display

        display(frame)
    else:
        print(frame.to_string())


_saved = 0


def show(fig: plt.Figure) -> None:
    """Lay out and show a figure inline (Jupyter), close it afterwards to free memory; with
    ``INITLAB_FIGURES`` set, also save it there as ``<notebook>_<n>.png``."""
    global _saved
    fig.tight_layout()
    folder = os.environ.get("INITLAB_FIGURES")
    if folder:
        _saved += 1
        stem = Path(sys.argv[0]).stem or "notebook"
        Path(folder).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(folder) / f"{stem}_{_saved}.png", dpi=90)
    plt.show()
    plt.close(fig)


def profile() -> str:
    """``$INITLAB_PROFILE`` if set, else ``quick``: the scale the results folder holds."""
    return os.environ.get("INITLAB_PROFILE", "quick")


def verdicts(results: Path, ids: tuple[str, ...]) -> pd.DataFrame:
    """The registry's verdict of every claim in ``ids`` on ``results``, printed one per line."""
    claims = {c.id: c for c in load_rules()}
    rows = []
    for claim_id in ids:
        claim = claims[claim_id]
        verdict = claim.verdict(Path(results), profile())
        rows.append(
            {
                "claim": claim_id,
                "statement": claim.statement,
                "verdict": verdict.status,
                "scale": verdict.scale,
                "measured": verdict.measured,
            }
        )
        print(f"{claim_id}: {verdict.status}")
        if verdict.measured:
            print(f"    measured: {verdict.measured}")
    return pd.DataFrame(rows).set_index("claim")


def check(results: Path, claim_id: str, recomputed: str) -> bool:
    """Is the text of a number recomputed here part of the claim's reported ``measured`` line?"""
    claim = next(c for c in load_rules() if c.id == claim_id)
    measured = claim.verdict(Path(results), profile()).measured
    ok = recomputed in measured
    print(f"check {claim_id}: '{recomputed}' {'is in the report' if ok else MISMATCH}")
    return ok
