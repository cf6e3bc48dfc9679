"""Verdict rule for A4: "Fixup's small top eigenvalue allows a larger learning rate: faster
convergence and better test accuracy than He", from ``a4_lr_sweep/summary.csv`` (``status``,
``test_accuracy``, ``train_loss`` per arm, ``optim.lr`` and seed).

A run is *usable* when it completed (did not diverge) and its test accuracy is at least
:data:`USABLE_SHARE` of the best test accuracy of any run of the sweep; a diverged run counts as
accuracy 0 and training loss infinite. Per seed, an arm's *largest usable learning rate* is the
largest grid value whose run of that seed is usable. Each arm's *best learning rate* is the grid
value of its highest test accuracy averaged over seeds (ties: the smaller one).

The claim, as stated, is three sub-checks of an arm against ``resnet_he`` over the same grid,
seeds and training budget, each decided with its uncertainty over seeds:

1. larger usable learning rate: the arm's largest usable lr is larger than He's in every seed
   (holds), smaller in every seed (against), otherwise open (the seeds disagree or the grid
   cannot tell them apart: a finer grid decides);
2. faster: after the same number of steps, the training loss (full training set, end of
   training) at the arm's best lr is lower than He's at He's best lr: the 95% Welch interval of
   He - arm over seeds above 0 (holds), below 0 (against), else open;
3. better: the test accuracy at the arm's best lr is higher than He's at He's best lr: the 95%
   Welch interval of arm - He above 0 (holds), below 0 (against), else open.

The verdict grades ``resnet_fixup`` (initlab's Fixup): all three hold, reproduced; some, partly;
none, contradicted when some check is against, else inconclusive. Where several depths were
swept (the full profile), the deepest is graded. With fewer than
:data:`MIN_SEEDS` seeds per arm the verdict is inconclusive (more seeds decide). The authors'
network (``resnet_fixup_official``) gets the same three checks, stated beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from initlab.claims.decide import fit_line, needs_text, replicates_needed_for
from initlab.claims.registry import (
    INCONCLUSIVE,
    Check,
    NotRun,
    Verdict,
    evaluator,
    grade,
    read_table,
)
from initlab.columns import ARM, DEPTH, LR, SEED, STATUS
from initlab.papers.angles.claims import welch

SWEEP_EXP = "a4_lr_sweep"
SWEEP_FIGURE = f"{SWEEP_EXP}/accuracy_vs_lr.png"
FIXUP, OFFICIAL, HE = "resnet_fixup", "resnet_fixup_official", "resnet_he"
#: a run is usable when it completed with at least this share of the sweep's best test accuracy
#: (a run that survives with dead units, or stays at chance, is not)
USABLE_SHARE = 0.5
#: fewest seeds per arm the verdict is decided on
MIN_SEEDS = 3


def deepest(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of the deepest swept ``model.depth`` (the full profile sweeps two), and a note."""
    if DEPTH not in frame or frame[DEPTH].nunique() < 2:
        return frame, ""
    depth = frame[DEPTH].max()
    others = ", ".join(f"{d:g}" for d in sorted(frame[DEPTH].unique()) if d != depth)
    return frame[frame[DEPTH] == depth], f"L = {depth:g} blocks (the deepest; also swept: {others})"


def sweep_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Completed and diverged runs with ``acc`` (0 when diverged), ``loss`` (inf when diverged),
    ``diverged`` and ``usable`` columns, sorted by arm, lr and seed."""
    runs = frame[frame[STATUS].isin(("completed", "diverged"))].copy()
    if runs.empty:
        raise NotRun(f"no completed or diverged runs in {SWEEP_EXP}/summary.csv")
    for column in ("test_accuracy", "train_loss"):
        if column not in runs:
            runs[column] = np.nan
    done = runs[STATUS] == "completed"
    runs["diverged"] = ~done
    runs["acc"] = runs["test_accuracy"].where(done, 0.0).fillna(0.0)
    runs["loss"] = runs["train_loss"].where(done, np.inf).fillna(np.inf)
    best = runs.loc[done, "acc"].max() if done.any() else 0.0
    runs["usable"] = done & (runs["acc"] >= USABLE_SHARE * best) & (runs["acc"] > 0)
    return runs.sort_values([ARM, LR, SEED], kind="stable").reset_index(drop=True)


def lr_table(runs: pd.DataFrame, arm: str) -> pd.DataFrame:
    """Per learning rate of ``arm``: mean and standard error over seeds of the test accuracy,
    seeds, diverged and usable runs."""
    rows = runs[runs[ARM] == arm]
    if rows.empty:
        raise NotRun(f"no a4 runs for arm {arm}")
    grouped = rows.groupby(LR, sort=True)
    table = pd.DataFrame(
        {
            "acc": grouped["acc"].mean(),
            "acc_se": grouped["acc"].std(ddof=1) / np.sqrt(grouped["acc"].count()),
            "seeds": grouped["acc"].count(),
            "diverged": grouped["diverged"].sum(),
            "usable": grouped["usable"].sum(),
        }
    )
    return table


def largest_usable(runs: pd.DataFrame, arm: str) -> pd.Series:
    """Per seed of ``arm``: its largest usable learning rate (0 when none is)."""
    rows = runs[runs[ARM] == arm]
    seeds = sorted(rows[SEED].unique())
    usable = rows[rows["usable"]].groupby(SEED)[LR].max()
    return usable.reindex(seeds, fill_value=0.0).astype(float)


def best_lr(runs: pd.DataFrame, arm: str) -> float:
    """The grid value of ``arm``'s highest mean test accuracy (ties: the smaller lr)."""
    table = lr_table(runs, arm)
    return float(table["acc"].idxmax())


def at_lr(runs: pd.DataFrame, arm: str, lr: float, column: str) -> np.ndarray:
    """``column`` of every seed of ``arm`` at learning rate ``lr``, in seed order."""
    rows = runs[(runs[ARM] == arm) & (runs[LR] == lr)]
    return rows.sort_values(SEED, kind="stable")[column].to_numpy(dtype=float)


def _mean_se(values: np.ndarray) -> str:
    finite = values[np.isfinite(values)]
    if len(finite) < len(values):
        return (
            f"{np.mean(finite):.3g} ({len(values) - len(finite)} diverged)"
            if len(finite)
            else "inf"
        )
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{values.mean():.3g} +- {se:.2g}"


@dataclass
class Comparison:
    """The three sub-checks of one arm against He, with the numbers that decide them."""

    arm: str
    checks: list[Check]
    texts: list[str]
    lr_arm: pd.Series
    lr_he: pd.Series

    @property
    def held(self) -> int:
        return sum(c.held for c in self.checks)


def _interval_check(estimate) -> Check:
    """Holds when the 95% interval is above 0, against when below, else open."""
    if estimate is None:
        return Check.of(False, False)
    return Check.of(estimate.lo > 0, estimate.hi < 0)


def _interval_text(estimate, seeds: int) -> str:
    """The difference with its interval; when the interval straddles 0, the seeds per arm that
    would decide at the observed mean and spread (a projection)."""
    if estimate is None:
        return "no interval (fewer than 2 seeds)"
    text = f"{estimate.value:+.3g} [{estimate.lo:+.3g}, {estimate.hi:+.3g}]"
    if estimate.lo <= 0 <= estimate.hi:
        text += f" ({needs_text(replicates_needed_for(estimate, seeds), 'seeds per arm')})"
    return text


def compare(runs: pd.DataFrame, arm: str) -> Comparison:
    """``arm`` against He: larger usable lr, faster, better (see the module docstring)."""
    lr_arm, lr_he = largest_usable(runs, arm), largest_usable(runs, HE)
    seeds = sorted(set(lr_arm.index) & set(lr_he.index))
    a, h = lr_arm.reindex(seeds).to_numpy(), lr_he.reindex(seeds).to_numpy()
    larger = bool(seeds) and bool(np.all(a > h))
    smaller = bool(seeds) and bool(np.all(a < h))
    lr_check = Check.of(larger, smaller)
    with np.errstate(divide="ignore"):
        ratio = np.log10(np.where(a > 0, a, np.nan) / np.where(h > 0, h, np.nan))
    ratio_text = (
        f"mean log10 ratio {np.nanmean(ratio):+.2f}" if np.isfinite(ratio).any() else "no ratio"
    )
    lr_text = (
        f"largest usable lr per seed {'/'.join(f'{v:g}' for v in a)} vs He "
        f"{'/'.join(f'{v:g}' for v in h)} ({ratio_text}; larger in "
        f"{int(np.sum(a > h))}/{len(seeds)} seeds)"
    )
    if not (larger or smaller):
        lr_text += ": the seeds disagree or tie on the grid (a finer grid or more seeds decide)"
    best_arm, best_he = best_lr(runs, arm), best_lr(runs, HE)
    loss_arm, loss_he = at_lr(runs, arm, best_arm, "loss"), at_lr(runs, HE, best_he, "loss")
    faster = welch(loss_he, loss_arm) if np.isfinite(loss_arm).all() else None
    faster_check = _interval_check(faster)
    faster_text = (
        f"train loss after the budget at best lr ({best_arm:g} vs He {best_he:g}) "
        f"{_mean_se(loss_arm)} vs {_mean_se(loss_he)}, He - arm "
        f"{_interval_text(faster, len(loss_arm))}"
    )
    acc_arm, acc_he = at_lr(runs, arm, best_arm, "acc"), at_lr(runs, HE, best_he, "acc")
    better = welch(acc_arm, acc_he)
    better_check = _interval_check(better)
    better_text = (
        f"test acc at best lr {_mean_se(acc_arm)} vs {_mean_se(acc_he)}, arm - He "
        f"{_interval_text(better, len(acc_arm))}"
    )
    checks = [lr_check, faster_check, better_check]
    texts = [
        f"(1) larger lr {lr_check.outcome}: {lr_text}",
        f"(2) faster {faster_check.outcome}: {faster_text}",
        f"(3) better {better_check.outcome}: {better_text}",
    ]
    return Comparison(arm, checks, texts, lr_arm, lr_he)


def arm_line(runs: pd.DataFrame, arm: str) -> str:
    """One arm's numbers: where it trains, its best lr and accuracy, its diverged runs."""
    table = lr_table(runs, arm)
    trains = [f"{lr:g}" for lr, n in table["usable"].items() if n == table.loc[lr, "seeds"]]
    best = best_lr(runs, arm)
    return (
        f"{arm}: usable in every seed at lr {', '.join(trains) or 'none'} "
        f"({len(trains)} lrs); best lr {best:g}, test acc {table.loc[best, 'acc']:.3f} +- "
        f"{table.loc[best, 'acc_se']:.3f}; diverged runs {int(table['diverged'].sum())}/"
        f"{int(table['seeds'].sum())}; largest usable lr per seed "
        f"{'/'.join(f'{v:g}' for v in largest_usable(runs, arm))}"
    )


@evaluator("A4", experiment=SWEEP_EXP)
def a4_large_lr(results_dir: Path, profile: str) -> Verdict:
    """The three sub-checks of the module docstring, ``resnet_fixup`` against ``resnet_he``."""
    frame, depth_note = deepest(read_table(results_dir, SWEEP_EXP, "summary", completed=False))
    runs = sweep_runs(frame)
    for arm in (FIXUP, HE):
        lr_table(runs, arm)  # NotRun when an arm is missing
    seeds = {arm: runs.loc[runs[ARM] == arm, SEED].nunique() for arm in (FIXUP, HE)}
    lrs = sorted(runs[LR].unique())
    scale = f"lr {lrs[0]:g}..{lrs[-1]:g} ({len(lrs)} values), {min(seeds.values())} seeds"
    if depth_note:
        scale += f", {depth_note}"
    ours = compare(runs, FIXUP)
    status = grade(ours.checks)
    few = min(seeds.values()) < MIN_SEEDS
    if few:
        status = INCONCLUSIVE
    known = (FIXUP, OFFICIAL, HE, "resnet_fixup_slr", "resnet_bn")
    arms = [a for a in known if (runs[ARM] == a).any()]
    parts = [f"Fixup (initlab) vs He: {'; '.join(ours.texts)}"]
    official = compare(runs, OFFICIAL) if (runs[ARM] == OFFICIAL).any() else None
    if official is not None:
        parts.append(f"Fixup (authors' network and recipe) vs He: {'; '.join(official.texts)}")
    parts += [arm_line(runs, arm) for arm in arms]
    if few:
        parts.append(f"only {min(seeds.values())} seeds per arm: >= {MIN_SEEDS} decide")
    outcome = "/".join(c.outcome for c in ours.checks)
    summary = (
        f"Fixup vs He (lr/faster/better {outcome}): usable lr "
        f"{'/'.join(f'{v:g}' for v in ours.lr_arm)} vs {'/'.join(f'{v:g}' for v in ours.lr_he)}"
        f"; acc {lr_table(runs, FIXUP)['acc'].max():.3f} vs {lr_table(runs, HE)['acc'].max():.3f}"
    )
    if official is not None:
        summary += f"; official {official.held}/3"
    summary += f"; {min(seeds.values())} seeds"
    return Verdict(status, "; ".join(parts), scale, SWEEP_FIGURE, summary=fit_line(summary))
