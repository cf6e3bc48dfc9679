"""Verdict rule for A4 (Fixup's small top eigenvalue allows a larger learning rate: faster and
better than He), from ``a4_lr_sweep/summary.csv``: ``test_accuracy``, ``train_loss`` and
``status`` per (arm, ``optim.lr``, seed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from initlab.claims.decide import fit_line
from initlab.claims.registry import Check, NotRun, Verdict, evaluator, grade, read_table
from initlab.columns import ARM, LR, STATUS

SWEEP_EXP = "a4_lr_sweep"
SWEEP_FIGURE = f"{SWEEP_EXP}/accuracy_vs_lr.png"


def read_summary(results_dir: Path, experiment: str, completed: bool = True) -> pd.DataFrame:
    """The experiment's collected summary (only completed runs unless ``completed=False``)."""
    return read_table(results_dir, experiment, "summary", completed)


#: A4: a learning rate is "usable" when its run did not diverge and reached at least this share
#: of the best test accuracy of the whole sweep (a run that survives with dead units is not).
USABLE_SHARE = 0.5


def sweep_table(frame: pd.DataFrame, arm: str, best: float) -> pd.DataFrame:
    """Per learning rate of ``arm``: test accuracy (0 when the run diverged) and usability."""
    rows = frame[frame[ARM] == arm].copy()
    if rows.empty:
        raise NotRun(f"no a4 runs for arm {arm}")
    done = rows[STATUS] == "completed"
    rows["acc"] = rows["test_accuracy"].where(done, 0.0).fillna(0.0)
    rows["loss"] = rows["train_loss"].where(done, np.inf).fillna(np.inf)
    table = rows.groupby(LR)[["acc", "loss"]].mean()
    table["usable"] = table["acc"] >= USABLE_SHARE * best
    return table


@evaluator("A4", experiment=SWEEP_EXP)
def a4_large_lr(results_dir: Path, profile: str) -> Verdict:
    """Three checks, Fixup vs He over the same learning-rate sweep and training budget: (1) the
    largest usable learning rate (see :data:`USABLE_SHARE`) is larger under Fixup; (2) faster
    convergence: at each arm's best learning rate, Fixup's final training loss is lower; (3)
    Fixup's best test accuracy over the sweep is at least He's. All: reproduced; some: partly.
    None: contradicted when He's largest usable learning rate is larger than Fixup's by at least
    one grid step (the claim's direction reversed); inconclusive when they are equal (the grid
    cannot tell them apart: a finer grid or more seeds decide). No interval: one run per lr."""
    frame = read_summary(results_dir, SWEEP_EXP, completed=False)
    frame = frame[frame[STATUS].isin(("completed", "diverged"))]
    for column in ("test_accuracy", "train_loss"):
        if column not in frame:
            frame = frame.assign(**{column: np.nan})
    best = float(frame["test_accuracy"].where(frame[STATUS] == "completed").max())
    best = best if np.isfinite(best) else 0.0
    known = ("resnet_fixup", "resnet_he", "resnet_fixup_slr", "resnet_fixup_official", "resnet_bn")
    arms = [a for a in known if (frame[ARM] == a).any()]
    tables = {arm: sweep_table(frame, arm, best) for arm in ("resnet_fixup", "resnet_he")}
    tables.update({arm: sweep_table(frame, arm, best) for arm in arms})

    def largest_usable(table: pd.DataFrame) -> float:
        usable = table.index[table["usable"]]
        return float(usable.max()) if len(usable) else 0.0

    fixup, he = tables["resnet_fixup"], tables["resnet_he"]

    def loss_at_best(table: pd.DataFrame) -> float:
        return float(table.loc[table["acc"].idxmax(), "loss"])

    reversed_lr = largest_usable(he) > largest_usable(fixup)
    checks = [
        Check.of(largest_usable(fixup) > largest_usable(he), reversed_lr),
        Check.of(loss_at_best(fixup) < loss_at_best(he), reversed_lr),
        Check.of(fixup["acc"].max() >= he["acc"].max(), reversed_lr),
    ]
    status = grade(checks)
    summary = (
        f"largest usable lr Fixup {largest_usable(fixup):g} vs He {largest_usable(he):g}; best "
        f"acc {fixup['acc'].max():.3f} vs {he['acc'].max():.3f}; "
        f"{sum(c.held for c in checks)}/3 checks"
    )
    parts = [
        f"{arm}: largest usable lr {largest_usable(t):g}, best test acc {t['acc'].max():.3f} "
        f"at lr {t['acc'].idxmax():g} (final train loss {loss_at_best(t):.3g})"
        for arm, t in tables.items()
    ]
    lrs = sorted(frame[LR].unique())
    scale = f"lr {lrs[0]:g}..{lrs[-1]:g} ({len(lrs)} values)"
    summary += f"; {len(lrs)} lrs"
    return Verdict(status, "; ".join(parts), scale, SWEEP_FIGURE, summary=fit_line(summary))
