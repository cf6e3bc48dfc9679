"""E6 table and figure from the collected CSVs (``make report``; never trains): CNNs with SELU vs
ReLU. Reads ``e6_selu_cnn/summary.csv`` (quick: digits; full: MNIST) and
``e6_cifar_cnn/summary.csv`` (full only: CIFAR-10), plus their ``metrics.csv`` learning curves
when present, and writes under ``e6_selu_cnn/``:
- ``accuracy_table.csv`` / ``accuracy_table.md``: test accuracy mean +- std over seeds per data
  set and activation next to the slides' numbers, and SELU - ReLU with the verdict rule's
  tolerance (``initlab.papers.snn.claims_cnn``), and the equivalence test (TOST: difference,
  90% interval, p, margin, seeds per arm) where the experiment config fixes a margin;
- ``selu_cnn_accuracy.png`` (+ .pdf): test accuracy against the epoch per data set and activation
  (line: seed mean, band: min-max), the final mean +- std, and the slides' numbers dashed.
Does nothing when no E6 summary.csv is there.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.claims import NotRun
from initlab.claims.decide import Equivalence
from initlab.papers.snn.claims_cnn import (
    ACTIVATION_OF_ARM,
    EXPERIMENTS,
    FIGURE,
    LABELS,
    MAIN_EXP,
    TABLE,
    accuracy_table,
    compare,
    equivalence,
    equivalence_margin,
    load_runs,
    scale_text,
)
from initlab.papers.snn.figures_benchmark import DATA_LABELS, cnn_accuracy_figure, plus_minus
from initlab.report.figures import save_figure
from initlab.report.tables import markdown_table
from initlab.tracking import atomic_write_text


def write_tables(
    table: pd.DataFrame, md_path: Path, tests: dict[str, Equivalence | None] | None = None
) -> None:
    """``md_path`` (rendered by initlab.report.tables) and the raw numbers as CSV beside it."""
    shown = pd.DataFrame(
        {
            "data set": [DATA_LABELS.get(d, d) for d in table["data"]],
            "activation + init": [LABELS[a] for a in table["activation"]],
            "runs": [
                f"{r} ({f} failed)" if f else str(r)
                for r, f in zip(table["runs"], table["failed"], strict=True)
            ],
            "test accuracy % (ours)": [
                plus_minus(m, s) for m, s in zip(table["mean"], table["std"], strict=True)
            ],
            "slides": [
                plus_minus(m, s)
                for m, s in zip(table["paper_mean"], table["paper_std"], strict=True)
            ],
        }
    )
    parts = [markdown_table(shown)]
    diffs = []
    for data in table["data"].unique():
        if data in (tests or {}):  # the equivalence test below decides it
            continue
        try:
            res = compare(table, data)
        except NotRun:  # one arm missing: no difference to show
            continue
        rule = "parity: abs(diff) <=" if res["kind"] == "parity" else "advantage: diff >"
        diffs.append(
            {
                "data set": DATA_LABELS.get(data, data),
                "SELU - ReLU (points)": f"{res['diff']:+.2f}",
                "s.e. (seeds, test set)": (
                    f"{res['se']:.2f} ({res['se_seeds']:.2f}, {res['se_test']:.2f})"
                ),
                "rule": f"{rule} {res['tol']:.2f}",
                "holds": "yes" if res["holds"] else "no",
            }
        )
    if diffs:
        parts.append(markdown_table(pd.DataFrame(diffs)))
    rows = []
    for data, eq in (tests or {}).items():
        if eq is None:
            continue
        rows.append(
            {
                "data set": DATA_LABELS.get(data, data),
                "runs (records)": scale_text(table, data),
                "SELU - ReLU (points)": f"{eq.diff:+.2f}",
                f"{eq.level:.0%} interval": f"[{eq.lo:+.2f}, {eq.hi:+.2f}]",
                "margin": f"+-{eq.margin:g}",
                "TOST p": f"{eq.p:.3g}",
                "outcome": eq.outcome
                + (f" (~{eq.needed} seeds/arm would decide)" if eq.needed else ""),
            }
        )
    if rows:
        parts.append(
            "Equivalence test (two one-sided Welch t tests over seeds, alpha 0.05; the margin "
            "is fixed in the experiment config before the runs):\n"
        )
        parts.append(markdown_table(pd.DataFrame(rows)))
    parts.append(
        "Mean +- standard deviation over seeds. The slides publish only the architecture; our "
        "widths, optimizer and preprocessing are in conf/experiment/e6_*.yaml.\n"
    )
    atomic_write_text(md_path.with_suffix(".csv"), table.to_csv(index=False))
    atomic_write_text(md_path, "\n".join(parts))
    print(f"wrote {md_path}")


def _curves(results: Path) -> pd.DataFrame | None:
    frames = []
    for experiment in EXPERIMENTS:
        path = results / experiment / "metrics.csv"
        if path.exists():
            frame = pd.read_csv(path)
            frame = frame[frame["test_accuracy"].notna()]
            frame = frame.assign(activation=frame["arm"].map(ACTIVATION_OF_ARM))
            if "status" in frame.columns:
                frame = frame[frame["status"] == "completed"]
            frames.append(frame)
    if not frames or frames[0]["activation"].isna().all():
        return None
    return pd.concat(frames, ignore_index=True)


def build(results: Path, profile: str) -> None:
    """E6's table (shown under its verdict) and figure under ``results``."""
    results = Path(results)
    try:
        runs = load_runs(results)
    except NotRun:
        print(f"skipped E6: no {' or '.join(f'{e}/summary.csv' for e in EXPERIMENTS)} in {results}")
        return
    table = accuracy_table(runs)
    tests = {}
    for data in table["data"].unique():
        margin = equivalence_margin(data, profile)
        if margin is not None:
            tests[data] = equivalence(runs, data, margin)
    (results / MAIN_EXP).mkdir(parents=True, exist_ok=True)
    write_tables(table, results / TABLE, tests)
    save_figure(cnn_accuracy_figure(table, _curves(results)), results / FIGURE, dpi=150)
