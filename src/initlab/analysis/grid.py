"""Grid search bookkeeping: expand a grid, smooth validation curves, select the best member.

Pure functions on dicts, lists and pandas frames (no torch): ``initlab.tasks.grid_search`` trains
the members and calls these to write ``grid.csv`` and ``selected.csv``.

Selection follows the SNN paper's appendix A4: the validation score of each member is smoothed by
a trailing moving average over the last ``window`` epochs (undefined before epoch ``window``), the
(member, epoch) with the highest smoothed score wins, and ties go through ``tie_break`` keys
(``"-model.depth"``: more layers first; ``"optim.lr"``: lower learning rate first), then the lower
member index, then the earlier epoch. Diverged members never win.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

# smoothed scores closer than this count as equal (float rounding of equal averages)
TIE_TOLERANCE = 1e-12


def flatten(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"depth": [2]}}`` -> ``{"model.depth": [2]}``; leaves are non-mappings."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat


def merge_axes(shared: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, list]:
    """Axes of ``shared`` with ``extra``'s added (appended) or replacing them (same position).

    A ``None`` value (in either) removes that axis: config overrides merge into nested dicts, so
    null is how an experiment drops an axis that a default grid defines.
    """
    merged = {key: list(values) for key, values in shared.items() if values is not None}
    for key, values in extra.items():
        if values is None:
            merged.pop(key, None)
        else:
            merged[key] = list(values)
    return merged


def expand_grid(axes: Mapping[str, Sequence]) -> list[dict[str, Any]]:
    """Cartesian product of the axes: one dict per member, the last axis varying fastest."""
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over full windows: entry i averages ``values[i - window + 1 : i + 1]``.

    The first ``window - 1`` entries are NaN: a mean of fewer epochs is noisier and would favour
    early epochs in the selection (a single lucky epoch could win).
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    array = np.asarray(values, dtype=np.float64)
    return [
        float(array[i - window + 1 : i + 1].mean()) if i >= window - 1 else math.nan
        for i in range(len(array))
    ]


def parse_tie_break(rule: str) -> tuple[str, bool]:
    """``"-model.depth"`` -> ("model.depth", True): prefer larger values; "+key"/"key": smaller."""
    if rule.startswith("-"):
        return rule[1:], True
    return rule.removeprefix("+"), False


def select(
    frame: pd.DataFrame,
    tie_break: Sequence[str] = (),
    score: str = "val_score_smoothed",
) -> pd.Series | None:
    """The row of ``frame`` (one row per member and epoch) that model selection picks.

    Rows of diverged members (``member_status == "diverged"``) and rows whose score is NaN are
    left out; None if nothing is left. A ``tie_break`` key that is not a column is skipped (every
    member shares that value).
    """
    tied = tied_rows(frame, score)
    if tied.empty:
        return None
    keys, ascending = [], []
    for rule in tie_break:
        key, prefer_larger = parse_tie_break(rule)
        if key in tied.columns:
            keys.append(key)
            ascending.append(not prefer_larger)
    keys += ["member", "epoch"]
    ascending += [True, True]
    return tied.sort_values(keys, ascending=ascending, kind="stable").iloc[0]


def tied_rows(frame: pd.DataFrame, score: str = "val_score_smoothed") -> pd.DataFrame:
    """The selectable rows (not diverged, score not NaN) that share the best score."""
    candidates = frame
    if "member_status" in frame:
        candidates = candidates[candidates["member_status"] != "diverged"]
    candidates = candidates[candidates[score].notna()]
    if candidates.empty:
        return candidates
    best = candidates[score].max()
    return candidates[candidates[score] >= best - TIE_TOLERANCE * max(1.0, abs(best))]


def tied_members(frame: pd.DataFrame, score: str = "val_score_smoothed") -> int:
    """How many members reach the best score: above 1, the tie-break rules made the pick."""
    return int(tied_rows(frame, score)["member"].nunique())


def select_by(
    frame: pd.DataFrame,
    by: str,
    tie_break: Sequence[str] = (),
    score: str = "val_score_smoothed",
) -> list[pd.Series]:
    """``select`` within each value of column ``by`` (sorted); groups with no candidate skipped."""
    rows = []
    for _, group in frame.groupby(by, sort=True):
        row = select(group, tie_break, score)
        if row is not None:
            rows.append(row)
    return rows


def selection_table(
    frame: pd.DataFrame,
    axes: Sequence[str],
    tie_break: Sequence[str] = (),
    by_depth: str = "model.depth",
) -> pd.DataFrame:
    """``selected.csv``: the overall pick and, if ``by_depth`` is an axis, the pick per depth.

    ``tied_members`` counts the members that reach the pick's smoothed val score within its
    group (the whole grid, or one depth): above 1, the tie-break rules made the pick.
    """
    columns = ["selection", "member", *axes, "epoch", "val_score_smoothed", "test_score"]
    columns += ["score_name", "tied_members"]
    picks: list[tuple[str, pd.Series, int]] = []
    overall = select(frame, tie_break)
    if overall is not None:
        picks.append(("overall", overall, tied_members(frame)))
    if by_depth in axes:
        for _, group in frame.groupby(by_depth, sort=True):
            row = select(group, tie_break)
            if row is not None:
                picks.append(("by_depth", row, tied_members(group)))
    rows = [
        {"selection": name, **{c: row[c] for c in columns[1:-1]}, "tied_members": ties}
        for name, row, ties in picks
    ]
    return pd.DataFrame(rows, columns=columns)
