"""``task=grid_search``: the SNN paper's model selection for one network variant (claims E4/E5).

The grid is ``task.grid`` (axes every method shares, e.g. depth, width, learning rate) merged with
``task.method_grids[task.method]`` (axes of that variant: dropout rates, conic or rectangular
shape, ResNet block shapes), whose axes are added or replace shared ones. Each member is the run's
config with the member's dotted keys set, checked by ``parse_config`` like any run, so a grid key
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

Stacked training (``task.stacked``): members whose resolved configs differ only in ``optim.lr``
form a group trained together by :func:`initlab.analysis.stacked.train_stacked` (one batched
forward per step for all of them; same init seeds, same batch order, same per-epoch scores, so
``grid.csv`` holds the numbers of one-by-one training to float32 rounding, which
``tests/tasks/test_grid_search.py`` checks; chaotic trajectories, e.g. lr 1.0 on the E4 grids,
amplify that rounding as they amplify any 1e-7 change of the initial weights, so their later
epochs can differ). A group trains one by one instead when stacking could not reproduce those
numbers: an optimizer other than plain SGD (Adam, Nesterov, an lr schedule or warm-up), a model
with buffers (BatchNorm, weight norm), with dropout > 0 (stacked members draw other dropout masks
than one-by-one runs), with its own objective (e.g. a VAE), or multi-label targets (Tox21's masked
BCE); and so does a model whose layers have no batched twin (the highway gate), whose ``vmap``
path measured slower than one-by-one training on the E4 grids (CPU). A member whose loss turns
non-finite leaves the stack at the end of that epoch. A group's members are written to
``grid.csv`` together, rows sorted by member, so a restart skips whole finished groups.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from initlab.analysis.grid import (
    expand_grid,
    flatten,
    merge_axes,
    moving_average,
    parse_tie_break,
    selection_table,
)
from initlab.analysis.stacked import StackedModels, batched_copy, train_stacked
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.data.multitask import binary_auc
from initlab.models.base import InitlabModel
from initlab.optim import build_optimizer
from initlab.run import Run
from initlab.setup import Setup, parse_config
from initlab.tasks.base import TASKS, TaskConfig, TaskResult
from initlab.tracking import atomic_write_text
from initlab.training import auc_score, epoch_order, evaluate

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
    smoothing: int = spec(min=1, help="moving-average window (epochs) of the val score")
    tie_break: list[str] = spec(help="'-key': prefer larger values, 'key': smaller")
    grid: dict = spec(help="nested dict of dotted config keys; leaves: non-empty lists")
    method_grids: dict = spec(help="method name -> nested axes added to / replacing `grid`")
    method: str = spec(help="which entry of method_grids applies")
    stacked: bool = spec(help="train members that differ only in optim.lr together")

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
                "${hydra:runtime.choices.fnn}); allowed values: "
                + ", ".join([NO_METHOD, *map(str, self.method_grids)])
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


def member_setups(cfg: GridSearchConfig, setup: Setup) -> tuple[list[dict], list[Setup]]:
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
            setups.append(parse_config(resolved))
        except ConfigError as err:
            raise ConfigError(f"task.grid: member {index} {values}: {err}") from None
    return members, setups


def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, metric: str, batch: int) -> float:
    """The data set's metric of ``model`` on (x, y): accuracy, or (mean) ROC AUC."""
    if metric in ("auc", "mean_auc"):
        return auc_score(model, x, y, metric, batch)
    return evaluate(model, x, y, batch)[metric]


def new_member_model(member: Setup, data: DataBundle, index: int) -> nn.Module:
    """Member ``index``'s initial model, seeded by (its seed, its index)."""
    torch.manual_seed(member.seed * 1_000_003 + index)
    return member.new_model(data)


def train_member(
    cfg: GridSearchConfig, member: Setup, data: DataBundle, index: int
) -> tuple[list[dict[str, float]], str]:
    """Per-epoch rows (train_loss, val_score, test_score) of one member, and its status."""
    seed = member.seed  # the run's seed, unless the grid varies it
    model = new_member_model(member, data, index)
    x_train, y_train = data.split("train")
    x_val, y_val = data.split("val")
    x_test, y_test = data.split("test")
    n = len(x_train)
    batch = min(cfg.batch_size, n)
    per_epoch = math.ceil(n / batch)
    optimizer, scheduler = build_optimizer(member.optim, model.parameters(), cfg.epochs * per_epoch)
    rows: list[dict[str, float]] = []
    model.train()
    for epoch in range(cfg.epochs):
        order = epoch_order(n, seed, epoch).to(x_train.device)
        total = 0.0
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            loss = model.objective(x_train[idx], y_train[idx])["loss"].mean()
            value = loss.item()
            if not math.isfinite(value):  # the epoch it happened in, with no scores
                nan = math.nan
                rows.append(
                    {"epoch": epoch + 1, "train_loss": value, "val_score": nan, "test_score": nan}
                )
                return rows, "diverged"
            total += value * len(idx)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        rows.append(
            {
                "epoch": epoch + 1,
                "train_loss": total / n,
                "val_score": score(model, x_val, y_val, data.metric, cfg.eval_batch_size),
                "test_score": (
                    score(model, x_test, y_test, data.metric, cfg.eval_batch_size)
                    if len(x_test)
                    else math.nan
                ),
            }
        )
    return rows, "completed"


def stack_refusal(member: Setup, model: nn.Module, data: DataBundle) -> str | None:
    """Why ``member``'s group cannot train stacked with numbers equal to one-by-one training."""
    optim = member.optim
    if optim.name != "sgd":
        return f"optim {optim.name!r} (stacking reproduces plain SGD only)"
    if (
        optim.nesterov
        or optim.schedule != "none"
        or optim.warmup_steps
        or optim.scalar_lr_scale != 1
    ):
        return "Nesterov momentum, an lr schedule, warm-up or a scalar lr scale"
    if data.metric not in ("accuracy", "auc") or data.split("train")[1].is_floating_point():
        return f"multi-label targets (metric {data.metric!r})"
    if not isinstance(model, InitlabModel) or type(model).objective is not InitlabModel.objective:
        return "a model with its own objective"
    if any(True for _ in model.buffers()):
        return "a model with buffers (BatchNorm, weight norm)"
    if any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()):
        return "dropout > 0 (stacked members draw other masks than one-by-one runs)"
    if batched_copy([model]) is None:  # e.g. the highway gate's bias: vmap only
        return "no batched layers for this model (its vmap path is slower than one by one)"
    return None


def stack_groups(members: list[dict], setups: list[Setup]) -> list[list[int]]:
    """Member indices grouped by their resolved config without ``optim.lr``, in member order."""
    groups: dict[str, list[int]] = {}
    for index, member in enumerate(setups):
        resolved = copy.deepcopy(member.resolved)
        resolved.get("optim", {}).pop("lr", None)
        groups.setdefault(json.dumps(resolved, sort_keys=True, default=str), []).append(index)
    return list(groups.values())


def _score_logits(logits: torch.Tensor, y: torch.Tensor, metric: str) -> float:
    """``score`` of one member from its eval-mode logits (accuracy or binary AUC)."""
    if metric == "auc":
        return binary_auc(logits, y)
    return (logits.argmax(-1) == y).float().sum().item() / max(len(y), 1)


def train_group(
    cfg: GridSearchConfig, setups: list[Setup], data: DataBundle, indices: list[int]
) -> dict[int, tuple[list[dict[str, float]], str]]:
    """``train_member``'s rows and status of each member in ``indices``, trained stacked when
    their group can be (see the module docstring), else one by one."""
    first = setups[indices[0]]
    model = new_member_model(first, data, indices[0]) if len(indices) > 1 else None
    if model is None or stack_refusal(first, model, data) is not None:
        return {index: train_member(cfg, setups[index], data, index) for index in indices}
    models = [model, *(new_member_model(setups[i], data, i) for i in indices[1:])]
    x_train, y_train = data.split("train")
    x_val, y_val = data.split("val")
    x_test, y_test = data.split("test")
    rows: list[list[dict[str, float]]] = [[] for _ in indices]
    status = ["completed"] * len(indices)

    def on_epoch_end(epoch: int, stack: StackedModels, losses: torch.Tensor) -> list[int]:
        val = stack.predict(x_val, cfg.eval_batch_size)
        test = stack.predict(x_test, cfg.eval_batch_size) if len(x_test) else None
        for row, (k, loss) in enumerate(zip(stack.members, losses.tolist(), strict=True)):
            nan = math.nan
            scores = {"epoch": epoch + 1, "train_loss": loss, "val_score": nan, "test_score": nan}
            if not math.isfinite(loss):  # its rows end here; it trains no further
                status[k] = "diverged"
            else:
                scores["val_score"] = _score_logits(val[row], y_val, data.metric)
                if test is not None:
                    scores["test_score"] = _score_logits(test[row], y_test, data.metric)
            rows[k].append(scores)
        return [k for k in stack.members if status[k] != "diverged"]

    train_stacked(
        models,
        x_train,
        y_train,
        lr=[setups[index].optim.lr for index in indices],
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        order_seeds=[first.seed] * len(indices),  # epoch_order(n, run seed, epoch), as alone
        momentum=first.optim.momentum,
        weight_decay=first.optim.weight_decay,
        on_epoch_end=on_epoch_end,
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
def grid_search_task(cfg: GridSearchConfig, setup: Setup, data: DataBundle, run: Run) -> TaskResult:
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
    progress = tqdm(
        total=len(members),
        initial=len(finished),
        desc="grid",
        disable=not setup.logger.show_progress(),
        dynamic_ncols=True,
    )
    groups = stack_groups(members, setups) if cfg.stacked else [[i] for i in range(len(members))]
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
            progress.update(1)
            progress.set_postfix(member=index, status=status, refresh=False)
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
