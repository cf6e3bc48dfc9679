"""Grid expansion, moving average and the SNN paper's selection rule with its tie-breaks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from initlab.analysis.grid import (
    expand_grid,
    flatten,
    merge_axes,
    moving_average,
    select,
    select_by,
    selection_table,
)

TIE_BREAK = ["-model.depth", "optim.lr", "-model.dropout"]


def test_flatten_gives_dotted_keys_in_order() -> None:
    nested = {"model": {"depth": [2, 4], "width": [8]}, "optim": {"lr": [0.1]}, "seed": [0]}
    assert list(flatten(nested).items()) == [
        ("model.depth", [2, 4]),
        ("model.width", [8]),
        ("optim.lr", [0.1]),
        ("seed", [0]),
    ]


def test_expand_grid_is_the_cartesian_product_last_axis_fastest() -> None:
    axes = {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.5]}
    members = expand_grid(axes)
    assert len(members) == 3 * 2 * 1
    assert members[0] == {"a": 1, "b": "x", "c": 0.5}
    assert members[1] == {"a": 1, "b": "y", "c": 0.5}
    assert members[2] == {"a": 2, "b": "x", "c": 0.5}
    assert len({tuple(m.values()) for m in members}) == len(members)  # all distinct


def test_merge_axes_replaces_in_place_and_appends_new_axes() -> None:
    shared = {"model.depth": [2, 4], "optim.lr": [0.1]}
    merged = merge_axes(shared, {"model.depth": [3], "model.dropout": [0.0, 0.5]})
    assert list(merged) == ["model.depth", "optim.lr", "model.dropout"]
    assert merged["model.depth"] == [3]
    assert shared["model.depth"] == [2, 4]  # the shared grid is left untouched


def test_moving_average_matches_pandas_rolling_mean() -> None:
    values = np.random.default_rng(0).random(25)
    for window in (1, 3, 10):
        expected = pd.Series(values).rolling(window).mean().to_numpy()
        got = np.array(moving_average(values.tolist(), window))
        assert np.isnan(got[: window - 1]).all()
        np.testing.assert_allclose(got[window - 1 :], expected[window - 1 :], rtol=1e-12)
    assert moving_average([1.0, 2.0, 6.0], 2)[2] == 4.0
    with pytest.raises(ValueError):
        moving_average([1.0], 0)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (member, depth, lr, dropout, epoch, smoothed[, status])."""
    records = []
    for row in rows:
        member, depth, lr, dropout, epoch, smoothed, *status = row
        records.append(
            {
                "member": member,
                "model.depth": depth,
                "optim.lr": lr,
                "model.dropout": dropout,
                "epoch": epoch,
                "val_score_smoothed": smoothed,
                "test_score": 0.5,
                "score_name": "accuracy",
                "member_status": status[0] if status else "completed",
            }
        )
    return pd.DataFrame(records)


def _pick(frame: pd.DataFrame) -> tuple[int, int]:
    row = select(frame, TIE_BREAK)
    return int(row["member"]), int(row["epoch"])


def test_highest_smoothed_score_wins_whatever_the_tie_break_prefers() -> None:
    frame = _frame([(0, 8, 0.01, 0.5, 1, 0.80), (1, 2, 1.0, 0.0, 3, 0.81)])
    assert _pick(frame) == (1, 3)


def test_ties_go_to_more_layers_then_lower_lr_then_higher_dropout() -> None:
    depth = _frame([(0, 2, 0.01, 0.5, 1, 0.9), (1, 4, 1.0, 0.0, 2, 0.9), (2, 3, 0.01, 0.5, 1, 0.9)])
    assert _pick(depth) == (1, 2)
    lr = _frame([(0, 4, 0.1, 0.5, 1, 0.9), (1, 4, 0.01, 0.0, 1, 0.9), (2, 2, 0.001, 0.5, 1, 0.9)])
    assert _pick(lr) == (1, 1)
    dropout = _frame([(0, 4, 0.1, 0.0, 1, 0.9), (1, 4, 0.1, 0.05, 1, 0.9)])
    assert _pick(dropout) == (1, 1)
    member = _frame([(3, 4, 0.1, 0.0, 1, 0.9), (2, 4, 0.1, 0.0, 5, 0.9)])
    assert _pick(member) == (2, 5)
    epoch = _frame([(0, 4, 0.1, 0.0, 7, 0.9), (0, 4, 0.1, 0.0, 4, 0.9), (0, 4, 0.1, 0.0, 9, 0.9)])
    assert _pick(epoch) == (0, 4)


def test_scores_equal_up_to_rounding_are_ties() -> None:
    frame = _frame(
        [(0, 2, 0.1, 0.0, 1, 0.9333333333333333), (1, 4, 0.1, 0.0, 1, 0.9333333333333332)]
    )
    assert _pick(frame) == (1, 1)


def test_diverged_members_and_nan_scores_are_never_selected() -> None:
    frame = _frame(
        [
            (0, 2, 0.1, 0.0, 1, 0.7),
            (1, 4, 0.1, 0.0, 1, 0.99, "diverged"),
            (2, 4, 0.1, 0.0, 1, math.nan),
        ]
    )
    assert _pick(frame) == (0, 1)
    assert select(_frame([(0, 2, 0.1, 0.0, 1, 0.9, "diverged")]), TIE_BREAK) is None


def test_tie_break_keys_missing_from_the_frame_are_skipped() -> None:
    frame = _frame([(0, 2, 0.1, 0.0, 1, 0.9), (1, 4, 0.1, 0.0, 1, 0.9)]).drop(
        columns="model.dropout"
    )
    assert int(select(frame, TIE_BREAK)["member"]) == 1


def test_selection_by_depth_and_the_table() -> None:
    frame = _frame(
        [
            (0, 2, 0.1, 0.0, 1, 0.70),
            (0, 2, 0.1, 0.0, 2, 0.75),
            (1, 2, 0.01, 0.0, 1, 0.75),
            (2, 4, 0.1, 0.0, 1, 0.80),
            (3, 4, 0.1, 0.5, 1, 0.60),
        ]
    )
    rows = select_by(frame, "model.depth", TIE_BREAK)
    assert [(int(r["model.depth"]), int(r["member"]), int(r["epoch"])) for r in rows] == [
        (2, 1, 1),  # tie at 0.75: lower learning rate
        (4, 2, 1),
    ]
    axes = ["model.depth", "optim.lr", "model.dropout"]
    table = selection_table(frame, axes, TIE_BREAK)
    assert list(table.columns) == [
        "selection",
        "member",
        *axes,
        "epoch",
        "val_score_smoothed",
        "test_score",
        "score_name",
        "tied_members",
    ]
    assert table["selection"].tolist() == ["overall", "by_depth", "by_depth"]
    assert table["member"].tolist() == [2, 1, 2]
    assert table["tied_members"].tolist() == [1, 2, 1]  # depth 2: members 0 and 1 reach 0.75
    no_depth = selection_table(frame, ["optim.lr"], TIE_BREAK)
    assert no_depth["selection"].tolist() == ["overall"]
