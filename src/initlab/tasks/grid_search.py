"""``task=grid_search``: the SNN paper's model selection for one network variant (claims E4/E5).

The grid is ``task.grid`` (axes every method shares, e.g. depth, width, learning rate) merged with
``task.method_grids[task.method]`` (axes of that variant: dropout rates, conic or rectangular
shape, ResNet block shapes), whose axes are added or replace shared ones. Each member is the run's
config with the member's dotted keys set, checked like any run (``setup.derive``), so a grid key
that does not exist or a value out of range is refused before training starts.

Every member starts from weights seeded by (run seed, member index), sees the batch order of
``initlab.training.epoch_order`` (the run seed: every member sees the same batches), trains for
``epochs`` epochs with its own optimizer config and is scored after every epoch on the val and
test splits with the data set's metric (accuracy; ROC AUC for HTRU2, mean AUC for Tox21). A
non-finite training loss stops the member as ``diverged``: its rows stay in ``grid.csv``, but it
is never selected.

Selection (:mod:`initlab.analysis.grid`): trailing moving average of the val score over
``smoothing`` epochs (``epochs`` if fewer; undefined until a full window), the best
(member, epoch), ties by the ``tie_break`` keys, then member index, then epoch.

Files: ``grid.csv`` (member, axes, epoch, train_loss, val_score, val_score_smoothed, test_score,
score_name, member_status; train_loss is the epoch's mean training-batch loss, in train mode; a
diverged member's last row is the epoch it diverged in, with its non-finite loss and no scores),
rewritten after each member, so a restarted run skips the members already there;
``selected.csv`` (the overall pick and the pick per ``model.depth``).

Stacked training (``task.stacked``, on by default): members whose models have the same layer
types and shapes, whose optimizers differ at most in lr, momentum and weight decay and whose seeds
are equal are trained together (:func:`initlab.training.stacked.stack_groups` groups them, in
stacks of at most ``stack_max_members`` members and ``stack_max_mb`` estimated memory;
:func:`initlab.training.stacked.train_stacked` trains them: one batched forward and update per
step for all of them). Same init seeds, same batch order, each member's dropout masks drawn from
its own random stream as alone (CPU), same per-epoch scores, so ``grid.csv`` holds the numbers of
one-by-one training to float32 rounding (``tests/tasks/test_grid_search.py``); chaotic
trajectories, e.g. lr 1.0 on the E4 grids, amplify that rounding as they amplify any 1e-7 change of
the initial weights, so their later epochs can differ. A group trains one by one when its model
has its own objective (a VAE), an optimizer other than SGD and Adam, or layers with state that has
no batched twin. A member whose loss turns non-finite leaves the stack at the end of that epoch.
A group's members are written to ``grid.csv`` together, rows sorted by member, so a restart skips
whole finished groups.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from initlab.analysis.grid import (
    expand_grid,
    flatten,
    merge_axes,
    moving_average,
    parse_tie_break,
    selection_table,
)
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.optim import build_optimizer
from initlab.run import Run
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.tracking import Progress, atomic_write_text
from initlab.training import FitResult, batches_for, fit, member_scores, score
from initlab.training.stacked import StackedModels, stack_groups, stacking_refusal, train_stacked

NO_METHOD = "none"  # task.method: the shared grid alone, no variant's own axes
GRID_FILE = "grid.csv"
SELECTED_FILE = "selected.csv"
FIXED_GROUPS = ("data", "task", "logger")  # built once per run: a grid cannot vary them
ROW_COLUMNS = ("epoch", "train_loss", "val_score", "val_score_smoothed", "test_score")


@dataclass(kw_only=True)
class GridSearchConfig(TaskConfig):
    epochs: int = spec(min=1, help="training epochs of every member")
    batch_size: int = spec(min=1)
    eval_batch_size: int = spec(min=1)
    eval_examples: int | None = spec(
        min=1, help="score on the first n val/test examples; null: all of them"
    )
    steps_per_epoch: int | None = spec(
        min=1, help="batches per epoch at most; null: the whole training split"
    )
    smoothing: int = spec(min=1, help="moving-average window (epochs) of the val score")
    tie_break: list[str] = spec(help="'-key': prefer larger values, 'key': smaller")
    grid: dict = spec(help="nested dict of dotted config keys; leaves: non-empty lists")
    method_grids: dict = spec(help="method name -> nested axes added to / replacing `grid`")
    method: str = spec(help="which entry of method_grids applies")
    stacked: bool = spec(help="train members of the same shapes together (false: one by one)")
    stack_max_mb: float = spec(min=0.0, min_exclusive=True, help="estimated memory per stack")
    stack_max_members: int = spec(min=1, help="members per stack at most")

    def validate(self) -> None:
        for origin, nested in (("grid", self.grid), *self._method_items()):
            if not isinstance(nested, dict):
                raise ConfigError(f"{origin}: expected a mapping of config keys, got {nested!r}")
            for key, values in flatten(nested).items():
                if values is not None and (not isinstance(values, list) or not values):
                    raise ConfigError(
                        f"{origin}.{key}: expected a non-empty list of values (or null: no "
                        f"such axis), got {values!r}"
                    )
                if key.split(".")[0] in FIXED_GROUPS:
                    raise ConfigError(
                        f"{origin}.{key}: the grid cannot vary the {key.split('.')[0]} group; "
                        "allowed: keys of model, init, optim, or top-level keys such as seed"
                    )
        if self.method_grids and self.method not in (NO_METHOD, *self.method_grids):
            raise ConfigError(
                f"method: {self.method!r} has no grid (experiments set it to "
                "${arm}); allowed values: " + ", ".join([NO_METHOD, *map(str, self.method_grids)])
            )
        for i, rule in enumerate(self.tie_break):
            if not parse_tie_break(rule)[0]:
                raise ConfigError(f"tie_break[{i}]: {rule!r} names no key; e.g. '-model.depth'")

    def _method_items(self) -> list[tuple[str, Any]]:
        return [(f"method_grids.{name}", axes) for name, axes in self.method_grids.items()]

    def axes(self) -> tuple[dict[str, list], dict[str, str]]:
        """Merged flat axes, and where each came from (the full key, for messages)."""
        shared = flatten(self.grid)
        origin = {key: f"task.grid.{key}" for key in shared}
        extra = flatten(self.method_grids.get(self.method, {}))
        origin.update({key: f"task.method_grids.{self.method}.{key}" for key in extra})
        return merge_axes(shared, extra), origin


def _set_dotted(config: dict[str, Any], key: str, value: Any, origin: str) -> None:
    node = config
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:depth]) or "the config"
            allowed = ", ".join(map(str, node)) if isinstance(node, dict) else "none"
            raise ConfigError(
                f"{origin}: {key} is not a key of the config ({where!r} has no {part!r}); "
                f"allowed keys: {allowed}"
            )
        if depth == len(parts) - 1:
            node[part] = value
        else:
            node = node[part]


def member_setups(cfg: GridSearchConfig, setup: RunSetup) -> tuple[list[dict], list[RunSetup]]:
    """The members' axis values and their checked setups (ConfigError on a bad key/value)."""
    axes, origin = cfg.axes()
    for key in axes:  # a bad key is reported once, before any member is built
        _set_dotted(copy.deepcopy(setup.resolved), key, None, origin[key])
    for i, rule in enumerate(cfg.tie_break):
        key = parse_tie_break(rule)[0]
        _set_dotted(copy.deepcopy(setup.resolved), key, None, f"task.tie_break[{i}]")
    members = expand_grid(axes)
    setups = []
    for index, values in enumerate(members):
        resolved = copy.deepcopy(setup.resolved)
        for key, value in values.items():
            _set_dotted(resolved, key, value, origin[key])
        try:
            setups.append(setup.derive(resolved))
        except ConfigError as err:
            raise ConfigError(f"task.grid: member {index} {values}: {err}") from None
    return members, setups


def new_member_model(member: RunSetup, data: DataBundle, index: int) -> nn.Module:
    """Member ``index``'s initial model, seeded by (its seed, its index)."""
    torch.manual_seed(member.seed * 1_000_003 + index)
    return member.new_model(data)


def _diverged_row(result: FitResult, per_epoch: int, k: int = 0) -> dict[str, float]:
    """A member's last row: the epoch its loss turned non-finite, that loss, no scores."""
    step, value = result.diverged_at_step[k], result.loss_at_divergence[k]
    nan = math.nan
    return {
        "epoch": step // per_epoch + 1,
        "train_loss": value,
        "val_score": nan,
        "test_score": nan,
    }


def scored_splits(cfg: GridSearchConfig, data: DataBundle) -> tuple[torch.Tensor, ...]:
    """x_val, y_val, x_test, y_test: the first ``cfg.eval_examples`` of each (None: all)."""
    x_val, y_val = data.split("val")
    x_test, y_test = data.split("test")
    n = cfg.eval_examples
    return x_val[:n], y_val[:n], x_test[:n], y_test[:n]


def train_member(
    cfg: GridSearchConfig, member: RunSetup, data: DataBundle, index: int
) -> tuple[list[dict[str, float]], str]:
    """Per-epoch rows (train_loss, val_score, test_score) of one member, and its status."""
    model = new_member_model(member, data, index)
    x_train, y_train = data.split("train")
    x_val, y_val, x_test, y_test = scored_splits(cfg, data)
    # the run's seed, unless the grid varies it
    batches = batches_for(model, x_train, y_train, cfg.batch_size, member.seed, "task.batch_size",
                          max_batches=cfg.steps_per_epoch)  # fmt: skip
    optimizer, scheduler = build_optimizer(member.optim, model, cfg.epochs * batches.per_epoch)
    rows: list[dict[str, float]] = []

    def on_epoch_end(epoch: int, losses: torch.Tensor, last: bool, step: int) -> None:
        rows.append(
            {
                "epoch": epoch,
                "train_loss": losses.item(),
                "val_score": score(model, x_val, y_val, data.metric, cfg.eval_batch_size),
                "test_score": (
                    score(model, x_test, y_test, data.metric, cfg.eval_batch_size)
                    if len(x_test)
                    else math.nan
                ),
            }
        )

    result = fit(
        model,
        batches,
        optimizer,
        scheduler,
        epochs=cfg.epochs,
        log_every=batches.per_epoch * cfg.epochs,  # losses are read at epoch ends
        on_epoch_end=on_epoch_end,
        progress=f"member {index}",
    )
    if result.status == "diverged":
        rows.append(_diverged_row(result, batches.per_epoch))
        return rows, "diverged"
    return rows, "completed"


def epoch_scores(
    stack: StackedModels,
    losses: torch.Tensor,
    splits: tuple[torch.Tensor, ...],
    metric: str,
    batch_size: int,
) -> list[list[float]]:
    """Per member of ``stack``: [epoch train loss, val score, test score (NaN without a test
    split)] on ``splits`` = (x_val, y_val, x_test, y_test), read from the device in one
    transfer (the AUC metrics copy each split's outputs once more)."""
    x_val, y_val, x_test, y_test = splits
    columns = [losses.detach().to(torch.float64)]
    columns.append(member_scores(stack.predict(x_val, batch_size), y_val, metric))
    if len(x_test):
        columns.append(member_scores(stack.predict(x_test, batch_size), y_test, metric))
    else:
        columns.append(torch.full_like(columns[0], math.nan))
    return torch.stack(columns, dim=1).tolist()


def stack_refusal(member: RunSetup, model: nn.Module, data: DataBundle) -> str | None:
    """Why ``member``'s group cannot train stacked (see the module docstring), or None."""
    return stacking_refusal(model, member.optim)


def train_group(
    cfg: GridSearchConfig, setups: list[RunSetup], data: DataBundle, indices: list[int]
) -> dict[int, tuple[list[dict[str, float]], str]]:
    """``train_member``'s rows and status of each member in ``indices``, trained stacked when
    their group can be (see the module docstring), else one by one."""
    first = setups[indices[0]]
    model = new_member_model(first, data, indices[0]) if len(indices) > 1 else None
    if model is None or stack_refusal(first, model, data) is not None:
        return {index: train_member(cfg, setups[index], data, index) for index in indices}
    models, rng_states = [], []  # each member's random stream as it would start training alone
    for i in indices:
        models.append(model if i == indices[0] else new_member_model(setups[i], data, i))
        rng_states.append(torch.get_rng_state())
    x_train, y_train = data.split("train")
    scored = scored_splits(cfg, data)
    rows: list[list[dict[str, float]]] = [[] for _ in indices]
    status = ["completed"] * len(indices)

    def on_epoch_end(epoch: int, stack: StackedModels, losses: torch.Tensor) -> list[int]:
        table = epoch_scores(stack, losses, scored, data.metric, cfg.eval_batch_size)
        for k, (loss, val_score, test_score) in zip(stack.members, table, strict=True):
            nan = math.nan
            scores = {"epoch": epoch + 1, "train_loss": loss, "val_score": nan, "test_score": nan}
            if not math.isfinite(loss):  # its rows end here; it trains no further
                status[k] = "diverged"
            else:
                scores["val_score"], scores["test_score"] = val_score, test_score
            rows[k].append(scores)
        return [k for k in stack.members if status[k] != "diverged"]

    train_stacked(
        models,
        x_train,
        y_train,
        optims=[setups[index].optim for index in indices],
        rng_states=rng_states,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        order_seeds=[first.seed] * len(indices),  # epoch_order(n, run seed, epoch), as alone
        on_epoch_end=on_epoch_end,
        max_batches=cfg.steps_per_epoch,
    )
    return {index: (rows[k], status[k]) for k, index in enumerate(indices)}


def _same(read: Any, value: Any) -> bool:
    """A value read back from CSV equals the grid's (1.0 == 1, "True" == True)."""
    try:
        return float(read) == float(value)
    except (TypeError, ValueError):
        return str(read) == str(value)


def _read_done(path: Path, axes: list[str], members: list[dict]) -> pd.DataFrame | None:
    """Rows of the members an earlier, interrupted run of this config finished."""
    if not path.exists():
        return None
    done = pd.read_csv(path)
    for index, group in done.groupby("member"):
        first = group.iloc[0]
        expected = members[int(index)] if int(index) < len(members) else None
        if expected is None or any(not _same(first[k], expected[k]) for k in axes):
            raise ConfigError(
                f"{path}: member {index} does not match this grid; remove the file or choose "
                "another output directory"
            )
    return done


@TASKS.register("grid_search", GridSearchConfig)
def grid_search_task(
    cfg: GridSearchConfig, setup: RunSetup, data: DataBundle, run: Run
) -> TaskResult:
    if len(data.split("val")[0]) == 0:
        raise ConfigError(
            f"data.val_fraction: the {data.name} data has no validation split, which model "
            "selection needs; set data.val_fraction (e.g. 0.15)"
        )
    members, setups = member_setups(cfg, setup)
    axes = list(cfg.axes()[0])
    path = run.out_dir / GRID_FILE
    done = _read_done(path, axes, members)
    frames = [] if done is None else [done]
    finished = set() if done is None else set(done["member"].astype(int))
    progress = Progress(len(members), "grid_search", initial=len(finished), unit="member")
    groups = [[i] for i in range(len(members))]
    if cfg.stacked:
        groups = stack_groups(
            setups,
            data,
            batch_size=cfg.batch_size,
            eval_batch_size=cfg.eval_batch_size,
            max_mb=cfg.stack_max_mb,
            max_members=cfg.stack_max_members,
        )
    columns = ["member", *axes, *ROW_COLUMNS, "score_name", "member_status"]
    for group in groups:
        todo = [index for index in group if index not in finished]
        if not todo:
            continue
        for index, (rows, status) in train_group(cfg, setups, data, todo).items():
            window = min(cfg.smoothing, cfg.epochs)
            smoothed = moving_average([r["val_score"] for r in rows], window)
            frame = pd.DataFrame(
                [
                    {
                        "member": index,
                        **members[index],
                        **row,
                        "val_score_smoothed": s,
                        "score_name": data.metric,
                        "member_status": status,
                    }
                    for row, s in zip(rows, smoothed, strict=True)
                ],
                columns=columns,
            )
            frames.append(frame)
            progress.update(1, f"member {index}: {status}")
        grid = pd.concat(frames, ignore_index=True).sort_values("member", kind="stable")
        atomic_write_text(path, grid.to_csv(index=False))
    progress.close()
    grid = pd.read_csv(path)
    table = selection_table(grid, axes, cfg.tie_break)
    atomic_write_text(run.out_dir / SELECTED_FILE, table.to_csv(index=False))
    diverged = int(grid.groupby("member")["member_status"].first().eq("diverged").sum())
    metrics: dict[str, Any] = {
        "score_name": data.metric,
        "members": len(members),
        "diverged_members": diverged,
    }
    overall = table[table["selection"] == "overall"]
    if overall.empty:
        return TaskResult("diverged", metrics)
    best = overall.iloc[0]
    metrics.update(
        val_score=float(best["val_score_smoothed"]),
        test_score=float(best["test_score"]),
        selected_member=int(best["member"]),
        selected_epoch=int(best["epoch"]),
    )
    return TaskResult("completed", metrics)
