"""Benchmark statistics of the SNN paper (E4/E5): ranks, mean ranks, Wilcoxon tests, depth tables.

Inputs are the collected ``selected.csv`` tables of ``task=grid_search`` (FNN variants) and
``task=sklearn_baselines`` (classical methods): one row per (run, selection) with ``test_score``.
A method is named by the ``method`` column, else by the sweep's ``fnn`` column; a data set by
``data.dataset`` (UCI-121 sweeps), else ``data``. Repeats (seeds, folds) are averaged per
(data set, method) before anything is ranked.

Ranks follow the paper: per data set, the highest test score gets rank 1, ties share the average
rank; a method's mean rank averages over data sets. The paired Wilcoxon signed-rank test compares
the reference method (SNN) with each other method across data sets (two-sided, zero differences
dropped as in Wilcoxon's original test). With n non-zero differences the exact test cannot give a
p-value below 2 / 2^n (all differences of one sign): :func:`min_attainable_p` reports it, so a
verdict on 4 data sets can say why it cannot be significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

METHOD_COLUMNS = ("method", "fnn")
DATASET_COLUMNS = ("data.dataset", "data")
DEPTH = "model.depth"
#: differences smaller than this count as zero (averages of identical scores can differ by ulps)
ZERO_TOL = 1e-12


def pick_column(frame: pd.DataFrame, candidates: Sequence[str], what: str) -> str:
    """The first of ``candidates`` that ``frame`` has (with a value in every row)."""
    for name in candidates:
        if name in frame.columns and frame[name].notna().all():
            return name
    raise KeyError(f"no {what} column: expected one of {', '.join(candidates)}")


def usable_rows(frame: pd.DataFrame, selection: str) -> pd.DataFrame:
    """Rows of completed runs with the given ``selection`` and a finite test score."""
    rows = frame
    if "status" in rows.columns:
        rows = rows[rows["status"] == "completed"]
    if "selection" in rows.columns:
        rows = rows[rows["selection"] == selection]
    return rows[np.isfinite(pd.to_numeric(rows["test_score"], errors="coerce"))]


def score_table(frames: Sequence[pd.DataFrame], selection: str = "overall") -> pd.DataFrame:
    """Data set x method table of test scores (mean over repeats) from ``selected.csv`` frames.

    Each frame names its own method and data set columns (an FNN sweep's ``fnn`` and a
    baselines run's ``method`` column can be mixed).
    """
    parts = []
    for frame in frames:
        rows = usable_rows(frame, selection)
        if rows.empty:
            continue
        method = pick_column(rows, METHOD_COLUMNS, "method")
        dataset = pick_column(rows, DATASET_COLUMNS, "data set")
        parts.append(
            pd.DataFrame(
                {
                    "dataset": rows[dataset].astype(str),
                    "method": rows[method].astype(str),
                    "test_score": pd.to_numeric(rows["test_score"]),
                }
            )
        )
    if not parts:
        return pd.DataFrame()
    long = pd.concat(parts, ignore_index=True)
    table = long.pivot_table(index="dataset", columns="method", values="test_score", aggfunc="mean")
    table.columns.name = None
    return table.sort_index()


def complete_sets(scores: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Only the data sets every method has a score on, and the names of the dropped ones."""
    keep = scores.notna().all(axis=1)
    return scores[keep], [str(name) for name in scores.index[~keep]]


def rank_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per data set (row): rank 1 = highest score, ties get the average of their ranks."""
    return scores.rank(axis=1, ascending=False, method="average")


def mean_ranks(ranks: pd.DataFrame) -> pd.Series:
    """Mean rank per method over data sets, best (lowest) first; ties keep column order."""
    return ranks.mean(axis=0).sort_values(kind="stable")


def min_attainable_p(n: int) -> float:
    """Smallest two-sided p the exact signed-rank test can give with ``n`` non-zero differences.

    Computed from scipy's exact distribution at the most extreme sample (all of one sign);
    equals 2 / 2^n. NaN for n = 0.
    """
    if n < 1:
        return math.nan
    extreme = np.arange(1, n + 1, dtype=float)
    return float(stats.wilcoxon(extreme, method="exact").pvalue)


def wilcoxon_vs(scores: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Paired two-sided Wilcoxon signed-rank test of ``reference`` against every other column.

    One row per other method: ``n_sets`` (data sets both have), ``n_nonzero`` (differences that
    are not zero), ``wins``/``losses`` of the reference, ``mean_diff`` (reference - other),
    ``r_plus``/``r_minus`` (the signed-rank sums of the reference's wins and losses: the test's
    direction),
    ``p_value`` (NaN with a ``note`` when no test is possible), ``min_p`` (the smallest p the
    exact test could give with that many differences).
    """
    if reference not in scores.columns:
        raise KeyError(f"reference method {reference!r} not in {list(scores.columns)}")
    rows = []
    for other in scores.columns:
        if other == reference:
            continue
        pair = scores[[reference, other]].dropna()
        diff = (pair[reference] - pair[other]).to_numpy(dtype=float)
        nonzero = diff[np.abs(diff) > ZERO_TOL]
        row = {
            "method": other,
            "n_sets": len(diff),
            "n_nonzero": len(nonzero),
            "wins": int((nonzero > 0).sum()),
            "losses": int((nonzero < 0).sum()),
            "mean_diff": float(diff.mean()) if len(diff) else math.nan,
            "r_plus": math.nan,
            "r_minus": math.nan,
            "statistic": math.nan,
            "p_value": math.nan,
            "min_p": min_attainable_p(len(nonzero)),
            "note": "",
        }
        if len(diff) == 0:
            row["note"] = "no data set in common"
        elif len(nonzero) == 0:
            row["note"] = f"all {len(diff)} differences are zero"
        else:
            result = stats.wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
            row["statistic"], row["p_value"] = float(result.statistic), float(result.pvalue)
            signed = stats.rankdata(np.abs(nonzero))
            row["r_plus"] = float(signed[nonzero > 0].sum())
            row["r_minus"] = float(signed[nonzero < 0].sum())
            if len(nonzero) < len(diff):
                row["note"] = f"{len(diff) - len(nonzero)} zero difference(s) dropped"
        rows.append(row)
    return pd.DataFrame(rows, columns=list(_WILCOXON_COLUMNS))


_WILCOXON_COLUMNS = (
    "method",
    "n_sets",
    "n_nonzero",
    "wins",
    "losses",
    "mean_diff",
    "r_plus",
    "r_minus",
    "statistic",
    "p_value",
    "min_p",
    "note",
)


def by_depth_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Method x depth table of test scores from ``selection == by_depth`` rows.

    Averages over repeats (seeds, folds) and data sets. Depth is ``model.depth`` (layers, or
    blocks for ResNet). Columns are depths in increasing order.
    """
    rows = usable_rows(frame, "by_depth")
    if rows.empty:
        return pd.DataFrame()
    method = pick_column(rows, METHOD_COLUMNS, "method")
    table = rows.assign(
        method=rows[method].astype(str),
        depth=pd.to_numeric(rows[DEPTH]).astype(int),
        test_score=pd.to_numeric(rows["test_score"]),
    ).pivot_table(index="method", columns="depth", values="test_score", aggfunc="mean")
    table.columns.name = None
    table.index.name = None
    return table[sorted(table.columns)]


# ---- several split seeds, multiple comparisons, Friedman / Nemenyi, effect sizes ------------

SPLIT_COLUMNS = ("data.seed",)


def split_scores(frames: Sequence[pd.DataFrame], selection: str = "overall") -> pd.DataFrame:
    """Long table ``dataset, split, method, test_score``: one score per data set, split seed
    (``data.seed``; ``0`` where a frame has none) and method, from ``selected.csv`` frames."""
    parts = []
    for frame in frames:
        rows = usable_rows(frame, selection)
        if rows.empty:
            continue
        method = pick_column(rows, METHOD_COLUMNS, "method")
        dataset = pick_column(rows, DATASET_COLUMNS, "data set")
        split = next((c for c in SPLIT_COLUMNS if c in rows.columns), None)
        parts.append(
            pd.DataFrame(
                {
                    "dataset": rows[dataset].astype(str).to_numpy(),
                    "split": (
                        rows[split].astype(int) if split else pd.Series(0, rows.index)
                    ).to_numpy(),
                    "method": rows[method].astype(str).to_numpy(),
                    "test_score": pd.to_numeric(rows["test_score"]).to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["dataset", "split", "method", "test_score"])
    long = pd.concat(parts, ignore_index=True)
    return long.sort_values(["dataset", "split", "method"], kind="stable").reset_index(drop=True)


def complete_splits(long: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Only the data sets where every method has a score on every split seed seen for that set
    (so a set's average is over the same splits for every method), and the names dropped."""
    methods = long["method"].nunique()
    keep, dropped = [], []
    for name, part in long.groupby("dataset", sort=True):
        cells = part.groupby(["split", "method"]).size()
        full = part["split"].nunique() * methods
        (keep if len(cells) == full else dropped).append(str(name))
    return long[long["dataset"].isin(keep)], dropped


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (monotone, at most 1); NaN entries stay NaN and do
    not count among the m hypotheses."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, math.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m, running = len(order), 0.0
    for j, index in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[index]))
        out[index] = running
    return out


def friedman(scores: pd.DataFrame) -> dict[str, float]:
    """Friedman's test of equal mean ranks over the methods (columns) of ``scores`` (data sets x
    methods), with Iman and Davenport's F form (Demsar 2006, eqs. 1-2): ``n``, ``k``,
    ``chi2``, ``p_chi2``, ``F``, ``p_F``."""
    n, k = scores.shape
    ranks = rank_table(scores)
    r = ranks.mean(axis=0).to_numpy(dtype=float)
    chi2 = 12.0 * n / (k * (k + 1)) * (float(np.sum(r**2)) - k * (k + 1) ** 2 / 4.0)
    f_stat = (n - 1) * chi2 / (n * (k - 1) - chi2) if n * (k - 1) > chi2 else math.inf
    return {
        "n": float(n),
        "k": float(k),
        "chi2": chi2,
        "p_chi2": float(stats.chi2.sf(chi2, k - 1)),
        "F": f_stat,
        "p_F": float(stats.f.sf(f_stat, k - 1, (k - 1) * (n - 1))),
    }


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of mean ranks for k methods on n data sets (Demsar 2006):
    q_alpha * sqrt(k (k + 1) / (6 n)), q_alpha the studentized range quantile / sqrt(2)."""
    q = float(stats.studentized_range.ppf(1.0 - alpha, k, np.inf)) / math.sqrt(2.0)
    return q * math.sqrt(k * (k + 1) / (6.0 * n))


def bootstrap_median(
    diff: np.ndarray, resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the median of ``diff`` over ``resamples`` resamples of its
    entries (data sets) with replacement, drawn by ``numpy.random.default_rng(seed)``."""
    diff = np.asarray(diff, dtype=float)
    if len(diff) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diff), size=(resamples, len(diff)))
    medians = np.median(diff[picks], axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(medians, tail)), float(np.quantile(medians, 1.0 - tail))


def signed_rank_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of ``diff`` (zeros dropped; 1.0 when all are zero)."""
    nonzero = diff[np.abs(diff) > ZERO_TOL]
    if len(nonzero) == 0:
        return 1.0
    return float(stats.wilcoxon(nonzero, zero_method="wilcox").pvalue)


def detectable_shift(diff: np.ndarray, level: float, iterations: int = 40) -> float:
    """The smallest median difference the signed-rank test detects at ``level`` with this
    comparison's spread: the least ``d >= 0`` such that the differences moved to median ``d``
    (``diff - median(diff) + d``) give p < ``level``. Bisection (the signed-rank sum of a shifted
    sample only grows with the shift); ``inf`` if even a shift of 10 times the largest spread
    cannot reach ``level`` (too few data sets)."""
    diff = np.asarray(diff, dtype=float)
    centred = diff - np.median(diff)
    high = 10.0 * max(float(np.max(np.abs(centred))), 1e-3)
    if signed_rank_p(centred + high) >= level:
        return math.inf
    low = 0.0
    for _ in range(iterations):
        mid = (low + high) / 2.0
        if signed_rank_p(centred + mid) < level:
            high = mid
        else:
            low = mid
    return high
