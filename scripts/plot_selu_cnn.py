"""E6 table and figure from the collected CSVs (never trains): CNNs with SELU vs ReLU.

    python scripts/plot_selu_cnn.py results/quick

Reads ``e6_selu_cnn/summary.csv`` (quick: digits; full: MNIST) and ``e6_cifar_cnn/summary.csv``
(full only: CIFAR-10), plus their ``metrics.csv`` learning curves when present, and writes under
``e6_selu_cnn/``:
- ``accuracy_table.csv`` / ``accuracy_table.md``: test accuracy mean +- std over seeds per data
  set and activation next to the slides' numbers, and SELU - ReLU with the verdict rule's
  tolerance (``initlab.claims.selu_cnn``);
- ``selu_cnn_accuracy.png`` (+ .pdf): test accuracy against the epoch per data set and activation
  (line: seed mean, band: min-max), the final mean +- std, and the slides' numbers dashed.
Does nothing (exit 0) when no E6 summary.csv is there.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from initlab.claims.selu_cnn import (  # noqa: E402
    ACTIVATIONS,
    EXPERIMENTS,
    FIGURE,
    LABELS,
    MAIN_EXP,
    TABLE,
    accuracy_table,
    compare,
    load_runs,
)
from initlab.report.figures import save_figure  # noqa: E402
from initlab.report.tables import markdown_table  # noqa: E402
from initlab.tracking import atomic_write_text  # noqa: E402

DATA_LABELS = {"digits": "digits 8x8 (quick)", "mnist": "MNIST", "cifar10": "CIFAR-10"}


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} +- {std:.2f}"


def write_tables(table: pd.DataFrame, md_path: Path) -> None:
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
                _pm(m, s) for m, s in zip(table["mean"], table["std"], strict=True)
            ],
            "slides": [
                _pm(m, s) for m, s in zip(table["paper_mean"], table["paper_std"], strict=True)
            ],
        }
    )
    parts = [markdown_table(shown)]
    diffs = []
    for data in table["data"].unique():
        try:
            res = compare(table, data)
        except FileNotFoundError:  # one arm missing: no difference to show
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
            if "status" in frame.columns:
                frame = frame[frame["status"] == "completed"]
            frames.append(frame)
    if not frames or "cnn_act" not in frames[0].columns:
        return None
    return pd.concat(frames, ignore_index=True)


def plot(table: pd.DataFrame, curves: pd.DataFrame | None, path: Path) -> None:
    data_sets = list(table["data"].unique())
    fig, axes = plt.subplots(1, len(data_sets), figsize=(5.5 * len(data_sets), 4.2), squeeze=False)
    for ax, data in zip(axes[0], data_sets, strict=True):
        part = table[table["data"] == data].set_index("activation")
        has_curves = curves is not None and "data" in curves.columns
        rows_of = curves[curves["data"] == data] if has_curves else pd.DataFrame()
        last_epoch = int(rows_of["epoch"].max()) if len(rows_of) else 0
        final_x = last_epoch * 1.03 + 0.5  # the final mean +- std just right of the curves
        for act in ACTIVATIONS:
            if act not in part.index:
                continue
            colour = "C0" if act == "selu" else "C1"
            rows = rows_of[rows_of["cnn_act"] == act] if len(rows_of) else rows_of
            if len(rows):
                stats = (
                    (100 * rows["test_accuracy"]).groupby(rows["epoch"]).agg(["mean", "min", "max"])
                )
                epochs = stats.index.to_numpy()
                ax.plot(epochs, stats["mean"], color=colour, label=LABELS[act])
                ax.fill_between(epochs, stats["min"], stats["max"], color=colour, alpha=0.2)
            row = part.loc[act]
            ax.errorbar(
                [final_x],
                [row["mean"]],
                yerr=[0.0 if math.isnan(row["std"]) else row["std"]],
                fmt="o",
                color=colour,
                capsize=4,
                label=f"{LABELS[act]} final {_pm(row['mean'], row['std'])}",
            )
            if not math.isnan(row["paper_mean"]):
                ax.axhline(
                    row["paper_mean"],
                    color=colour,
                    ls="--",
                    lw=1,
                    label=f"slides {LABELS[act]} {row['paper_mean']:.1f}",
                )
        # zoom on the final accuracies and the slides' (early epochs may fall below the axis)
        levels = pd.concat([part["mean"], part["paper_mean"]]).dropna()
        ax.set_ylim(max(0.0, levels.min() - 3.0), min(100.5, levels.max() + 1.0))
        ax.set_xlabel("epoch" if last_epoch else "final (no learning curves collected)")
        if not last_epoch:
            ax.set_xticks([])
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(DATA_LABELS.get(data, data))
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(
        "E6: CNNs, SELU + LeCun normal vs ReLU + He normal\n"
        "(line: seed mean, band: min-max; dot: final mean +- std; dashed: slides)",
        fontsize=10,
    )
    save_figure(fig, path, dpi=150)


def main(results: Path) -> int:
    try:
        runs = load_runs(results)
    except FileNotFoundError:
        print(f"skipped E6: no {' or '.join(f'{e}/summary.csv' for e in EXPERIMENTS)} in {results}")
        return 0
    table = accuracy_table(runs)
    (results / MAIN_EXP).mkdir(parents=True, exist_ok=True)
    write_tables(table, results / TABLE)
    plot(table, _curves(results), results / FIGURE)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/quick")))
