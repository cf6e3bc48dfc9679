"""task=grid_search: config checks, files in the agreed format, selection, resume, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from initlab.config import ConfigError
from initlab.main import execute
from initlab.setup import parse_config
from tests.conftest import quiet_config
from tests.data.test_tox21_htru2 import _write_tox21

TINY = (
    "task=grid_search",
    "arm=fnn_snn",
    "data=iris",
    "task.method=fnn_snn",
    "model.width=16",
    "task.epochs=3",
    "task.smoothing=2",
    "task.batch_size=32",
)
AXES = ["model.depth", "optim.lr"]
GRID = {"model": {"depth": [1, 2]}, "optim": {"lr": [0.01, 0.1]}}


def _config(*overrides: str, grid: dict = GRID, method_grids: dict | None = None) -> dict:
    """TINY with the grids replaced (overrides would merge into the default grids)."""
    cfg = quiet_config(*TINY, *overrides)
    cfg["task"]["grid"] = grid
    cfg["task"]["method_grids"] = method_grids or {}
    return cfg


def _run(
    tmp_path, name: str, *overrides: str, grid: dict = GRID
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    out = tmp_path / name
    summary = execute(_config(*overrides, grid=grid), out)
    grid = pd.read_csv(out / "grid.csv")
    selected = pd.read_csv(out / "selected.csv")
    return summary, grid, selected


def test_a_misspelt_grid_key_is_refused_by_its_full_name(tmp_path) -> None:
    cfg = quiet_config(*TINY, "+task.grid.model.dept=[2]")  # as a user would misspell it
    with pytest.raises(ConfigError, match=r"task\.grid\.model\.dept.*allowed keys:.*depth"):
        execute(cfg, tmp_path / "bad")
    cfg = _config(method_grids={"fnn_snn": {"model": {"depth": [0]}}})
    with pytest.raises(ConfigError, match=r"member 0.*model\.depth.*out of range"):
        execute(cfg, tmp_path / "range")
    cfg = quiet_config(*TINY, "task.tie_break=[-model.dept]")
    with pytest.raises(ConfigError, match=r"task\.tie_break\[0\].*model\.dept"):
        execute(cfg, tmp_path / "tie")


def test_method_axes_add_replace_and_null_removes(tmp_path) -> None:
    from initlab.tasks.grid_search import member_setups

    cfg = quiet_config(*TINY, "task.method_grids.fnn_snn.model.shape=null")
    setup = parse_config(cfg)
    members, setups = member_setups(setup.task, setup)
    assert len(members) == 2 * 2 * 2  # depth x lr (shared) x dropout (snn's), no shape axis
    assert list(members[0]) == ["model.depth", "optim.lr", "model.dropout"]
    assert [(s.model.depth, s.optim.lr, s.model.dropout) for s in setups] == [
        tuple(m.values()) for m in members
    ]
    assert {s.model.width for s in setups} == {16}  # other keys come from the run's config


def test_unknown_method_and_missing_val_split_are_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"task\.method: 'mlp'.*snn.*resnet"):
        parse_config(quiet_config("task=grid_search", "arm=fnn_snn", "task.method=mlp"))
    with pytest.raises(ConfigError, match=r"task\.grid\.data\.seed"):
        parse_config(quiet_config(*TINY, "+task.grid.data.seed=[1]"))
    with pytest.raises(ConfigError, match=r"data\.val_fraction"):
        execute(quiet_config(*TINY, "data.val_fraction=0.0"), tmp_path / "noval")


def test_tiny_iris_grid_files_and_selection(tmp_path) -> None:
    summary, grid, selected = _run(tmp_path, "a")
    assert list(grid.columns) == [
        "member",
        *AXES,
        "epoch",
        "train_loss",
        "val_score",
        "val_score_smoothed",
        "test_score",
        "score_name",
        "member_status",
    ]
    assert len(grid) == 4 * 3 and grid["member"].nunique() == 4
    assert grid.groupby("member")[AXES].first().drop_duplicates().shape[0] == 4
    assert (grid["score_name"] == "accuracy").all()
    assert grid["val_score"].between(0, 1).all() and grid["test_score"].between(0, 1).all()
    assert grid.groupby("member")["train_loss"].first().nunique() == 4  # members really differ
    for _, member in grid.groupby("member"):  # smoothing over 2 epochs, undefined at epoch 1
        values = member["val_score"].to_numpy()
        smoothed = member["val_score_smoothed"].to_numpy()
        assert np.isnan(smoothed[0])
        np.testing.assert_allclose(smoothed[1:], (values[1:] + values[:-1]) / 2)
    # the overall pick, recomputed by hand from grid.csv
    ok = grid[grid["member_status"] == "completed"].dropna(subset=["val_score_smoothed"])
    best = ok[ok["val_score_smoothed"] >= ok["val_score_smoothed"].max() - 1e-12]
    best = best.sort_values(["model.depth", "optim.lr", "member", "epoch"])
    best = best.sort_values("model.depth", ascending=False, kind="stable").iloc[0]
    overall = selected[selected["selection"] == "overall"].iloc[0]
    for key in ("member", *AXES, "epoch", "val_score_smoothed", "test_score"):
        assert overall[key] == best[key], key
    assert summary["status"] == "completed" and summary["members"] == 4
    assert summary["val_score"] == overall["val_score_smoothed"]
    assert summary["test_score"] == overall["test_score"]
    assert summary["score_name"] == "accuracy"
    by_depth = selected[selected["selection"] == "by_depth"]
    assert sorted(by_depth["model.depth"]) == [1, 2]
    assert overall["val_score_smoothed"] == by_depth["val_score_smoothed"].max()


@pytest.mark.parametrize("stacked", ["true", "false"])
def test_resumed_run_gives_the_uninterrupted_grid(tmp_path, stacked) -> None:
    axes = {"model": {"depth": [1, 2]}, "optim": {"lr": [0.01, 1]}}  # int 1: read back as 1.0
    mode = (f"task.stacked={stacked}", "model.dropout=0.0")  # no dropout: lr groups do stack
    _run(tmp_path, "full", *mode, grid=axes)
    full_text = (tmp_path / "full" / "grid.csv").read_text()
    part = tmp_path / "part"
    _run(tmp_path, "part", *mode, grid=axes)
    assert (part / "grid.csv").read_text() == full_text  # CPU: same config, same numbers
    # an interruption after 2 members: grid.csv holds only them, the run is not finished
    grid = pd.read_csv(part / "grid.csv")
    kept = grid[grid["member"] < 2]
    (part / "grid.csv").write_text(kept.to_csv(index=False))
    (part / "summary.json").unlink()
    (part / "selected.csv").unlink()
    _run(tmp_path, "part", *mode, grid=axes)
    assert (part / "grid.csv").read_text() == full_text
    # finished members are read back, not retrained: a marked value survives the resume
    marked = kept.copy()
    marked.loc[marked["member"] == 0, "train_loss"] = 123.0
    (part / "grid.csv").write_text(marked.to_csv(index=False))
    (part / "summary.json").unlink()
    _, resumed, _ = _run(tmp_path, "part", *mode, grid=axes)
    assert (resumed.loc[resumed["member"] == 0, "train_loss"] == 123.0).all()
    assert len(resumed) == len(grid)


def test_diverged_member_is_kept_but_never_selected(tmp_path) -> None:
    grid_div = {"model": {"depth": [1]}, "optim": {"lr": [0.01, 1e30]}}
    _, grid, selected = _run(tmp_path, "div", grid=grid_div)
    status = grid.groupby("member")["member_status"].first()
    assert status.tolist() == ["completed", "diverged"]
    diverged = grid[grid["member"] == 1]
    assert len(diverged) < 3 and not np.isfinite(diverged["train_loss"].iloc[-1])
    assert diverged["val_score"].iloc[-1] != diverged["val_score"].iloc[-1]  # NaN: no score
    assert grid["epoch"].dtype.kind == "i"  # epochs stay integers
    assert (selected["member"] == 0).all()


def test_multilabel_tox21_grid_scores_mean_auc(tmp_path) -> None:
    _write_tox21(tmp_path)
    summary, grid, selected = _run(
        tmp_path,
        "tox",
        "data=tox21",
        f"data.root={tmp_path}",
        "data.val_fraction=0.25",
        grid={"model": {"depth": [1, 2]}, "optim": {"lr": [0.01]}},
    )
    assert (grid["score_name"] == "mean_auc").all()
    assert grid["val_score"].between(0, 1).all()
    assert grid["test_score"].between(0, 1).all()
    assert summary["score_name"] == "mean_auc" and summary["members"] == 2
    assert selected["selection"].tolist() == ["overall", "by_depth", "by_depth"]


NUMBERS = ["train_loss", "val_score", "val_score_smoothed", "test_score"]


def _count_one_by_one(monkeypatch) -> list[int]:
    """Members that ``train_member`` (the one-by-one loop) trains from now on."""
    from initlab.tasks import grid_search

    calls: list[int] = []
    alone = grid_search.train_member

    def counted(cfg, member, data, index):
        calls.append(index)
        return alone(cfg, member, data, index)

    monkeypatch.setattr(grid_search, "train_member", counted)
    return calls


def _assert_same_grid(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns=NUMBERS), b.drop(columns=NUMBERS))
    np.testing.assert_allclose(a[NUMBERS], b[NUMBERS], rtol=1e-5, atol=1e-6, equal_nan=True)


def test_stacked_grid_equals_one_by_one(tmp_path, monkeypatch) -> None:
    """Members that differ only in lr train together, and grid.csv / selected.csv hold the
    numbers of one-by-one training (to float32 rounding; lr kept where training is stable, as an
    exploding loss amplifies rounding differences like any change of summation order)."""
    axes = {"model": {"depth": [2, 3]}, "optim": {"lr": [0.01, 0.1, 0.3]}}
    calls = _count_one_by_one(monkeypatch)
    on = _run(tmp_path, "on", "model.dropout=0.0", "task.stacked=true", grid=axes)
    assert calls == []  # two groups of three, none trained one by one
    off = _run(tmp_path, "off", "model.dropout=0.0", "task.stacked=false", grid=axes)
    assert calls == list(range(6))
    _assert_same_grid(on[1], off[1])
    assert on[1]["train_loss"].nunique() == len(on[1])  # members and epochs really differ
    assert (on[1]["member_status"] == "completed").all()
    pd.testing.assert_frame_equal(on[2], off[2], rtol=1e-5, atol=1e-6)
    for key in ("val_score", "test_score", "selected_member", "selected_epoch"):
        assert on[0][key] == pytest.approx(off[0][key], rel=1e-5, abs=1e-6)


def test_a_diverging_lr_marks_only_its_member_in_both_modes(tmp_path, monkeypatch) -> None:
    axes = {"model": {"depth": [2]}, "optim": {"lr": [0.01, 0.1, 0.5, 50]}}
    calls = _count_one_by_one(monkeypatch)
    runs = {}
    for mode in ("true", "false"):
        _, grid, selected = _run(
            tmp_path, mode, "model.dropout=0.0", f"task.stacked={mode}", grid=axes
        )
        status = grid.groupby("member")["member_status"].first()
        assert status.tolist() == ["completed"] * 3 + ["diverged"], mode
        diverged = grid[grid["member"] == 3]  # finite (huge) loss in epoch 1, non-finite in 2
        assert diverged["epoch"].tolist() == [1, 2] and np.isfinite(diverged["val_score"].iloc[0])
        assert not np.isfinite(diverged["train_loss"].iloc[-1])
        assert np.isnan(diverged["val_score"].iloc[-1])
        assert (selected["member"] != 3).all()
        runs[mode] = grid
    assert calls == [0, 1, 2, 3]  # only the one-by-one run
    # the members beside the diverged one are untouched by it; the diverged member's finite
    # losses are huge (an exploding trajectory), so only its length and status are compared
    kept = [runs[mode][runs[mode]["member"] != 3].reset_index(drop=True) for mode in runs]
    _assert_same_grid(*kept)


VARIANT_GRIDS = {  # each variant's own axes (dropout rates, block shapes) mixed into one stack
    "snn": {"model": {"dropout": [0.0, 0.05]}},
    "msra": {"model": {"dropout": [0.0, 0.5]}},
    "batchnorm": {},
    "layernorm": {},
    "weightnorm": {},
    "highway": {"model": {"dropout": [0.0, 0.5]}},
    "resnet": {"model": {"branch_layers": [3], "block_shape": ["diavolo"], "bottleneck": [0.25]}},
}


@pytest.mark.parametrize("fnn", list(VARIANT_GRIDS))
def test_every_fnn_variant_trains_stacked_with_the_one_by_one_grid(tmp_path, monkeypatch, fnn):
    """Members of one shape (lr, momentum and the variant's dropout rates differ) form one stack,
    and grid.csv / selected.csv hold the one-by-one numbers (float32 rounding)."""
    from initlab.tasks import grid_search

    axes = {"model": {"depth": [2]}, "optim": {"lr": [0.01, 0.05], "momentum": [0.0, 0.5]}}
    method = {f"fnn_{fnn}": VARIANT_GRIDS[fnn]}
    stacks = []
    grouping = grid_search.stack_groups
    monkeypatch.setattr(
        grid_search, "stack_groups", lambda *a, **k: stacks.append(grouping(*a, **k)) or stacks[-1]
    )
    calls = _count_one_by_one(monkeypatch)
    runs = {}
    for mode in ("true", "false"):
        cfg = quiet_config(
            "task=grid_search",
            f"arm=fnn_{fnn}",
            "data=iris",
            f"task.method=fnn_{fnn}",
            "optim=sgd",
            "model.width=16",
            "task.epochs=3",
            "task.smoothing=2",
            "task.batch_size=32",
            f"task.stacked={mode}",
        )
        cfg["task"]["grid"], cfg["task"]["method_grids"] = axes, method
        execute(cfg, tmp_path / mode)
        runs[mode] = [pd.read_csv(tmp_path / mode / name) for name in ("grid.csv", "selected.csv")]
    members = 4 * max(1, len(VARIANT_GRIDS[fnn].get("model", {}).get("dropout", [])))
    assert stacks == [[list(range(members))]]  # one stack of every member
    assert calls == list(range(members))  # the one-by-one run only
    _assert_same_grid(runs["true"][0], runs["false"][0])
    pd.testing.assert_frame_equal(runs["true"][1], runs["false"][1], rtol=1e-5, atol=1e-6)


def test_stacks_are_cut_by_memory_and_member_caps_and_split_by_shape() -> None:
    from initlab.data import build_data
    from initlab.models.base import build_model
    from initlab.tasks.grid_search import member_setups
    from initlab.training.stacked import member_bytes, stack_groups

    cfg = _config(
        "task.stack_max_members=3",
        grid={"model": {"width": [16, 32]}, "optim": {"lr": [0.1, 0.2, 0.3, 0.4]}},
    )
    setup = parse_config(cfg)
    data = build_data(setup.data)
    _, setups = member_setups(setup.task, setup)
    sizes = dict(batch_size=32, eval_batch_size=1024)
    groups = stack_groups(setups, data, **sizes, max_mb=1e6, max_members=3)
    assert groups == [[0, 1, 2], [3], [4, 5, 6], [7]]  # by width, then at most 3 per stack
    one = member_bytes(build_model(setups[4].model, (4,), 3), optim="sgd", **sizes)
    groups = stack_groups(setups, data, **sizes, max_mb=2.5 * one / 2**20, max_members=64)
    assert groups == [[0, 1, 2, 3], [4, 5], [6, 7]]  # the wider members: 2 fit the cap


def test_a_model_with_its_own_objective_trains_one_by_one() -> None:
    from initlab.tasks.grid_search import stacking_refusal

    class Own(torch.nn.Linear):
        pass

    assert "objective" in stacking_refusal(Own(2, 2), parse_config(quiet_config()).optim)


def test_multilabel_targets_train_stacked_with_the_one_by_one_grid(tmp_path, monkeypatch) -> None:
    _write_tox21(tmp_path)
    calls = _count_one_by_one(monkeypatch)
    runs = [
        _run(
            tmp_path,
            mode,
            "data=tox21",
            f"data.root={tmp_path}",
            "data.val_fraction=0.25",
            "model.dropout=0.0",
            f"task.stacked={mode}",
            grid={"model": {"depth": [1]}, "optim": {"lr": [0.01, 0.1]}},
        )[1]
        for mode in ("true", "false")
    ]
    assert calls == [0, 1]
    _assert_same_grid(*runs)
