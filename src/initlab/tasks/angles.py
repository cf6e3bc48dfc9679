"""``task=angles``: angles between input pairs and class distances, layer by layer.

For ``seeds`` independent draws of the configured model (draw i uses torch seed
``seed * 10000 + i``), records at every layer (layer 0 = the input) of two input sets:

- ``synthetic``: pairs of random directions with the initial cosines ``cosines``
  (``pairs_per_cosine`` each; one row group per cosine; none with ``cosines: []``);
- ``data``: ``examples`` examples of the ``split`` (class distances) and ``data_pairs`` random
  pairs among them (group ``data``).

Inputs go through the network in batches of ``measure_batch_size`` (both members of a pair in
one batch): BatchNorm layers normalize with that batch's statistics, so the batch size is part of
the result. With ``train: true`` every draw is then trained with the loop keys (same budget for
every architecture) and measured again (``stage`` init / trained). With ``checkpoint`` (a train
run's ``checkpoint.pt`` or its directory) the one draw is the model built from the config with
the saved weights loaded, measured as is (``stage`` checkpoint; no training, ``seeds: 1``).
``draws_per_pass`` > 1 runs that many draws through the network at once (``torch.func.vmap``;
same numbers, more memory; slower than the loop on a 2-core CPU, hence the default 1).
Tables: ``angles.csv`` (see :func:`initlab.analysis.features.layer_table`, plus the mean-field
prediction where one applies) and ``draws.csv`` (test accuracy per draw and stage). Every layer is
measured; ``layers: log`` writes the rows of log-spaced layers only (:func:`log_layers`: the
table of 20 draws of 6 networks at depth 100 on 2 data sets is 18 MB with every layer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from initlab.analysis.features import layer_table, make_pairs, pairs_within_batches
from initlab.checkpoints import checkpoint_file, load_weights, saved_config
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.run import Run
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.tracking import Progress, atomic_write_text
from initlab.training import TrainLoopConfig, evaluate, train_model


@dataclass(kw_only=True)
class AnglesConfig(TaskConfig, TrainLoopConfig):
    seeds: int = spec(min=1, help="independent model draws measured in one run")
    measure_batch_size: int = spec(
        min=2, help="inputs per forward pass; BatchNorm normalizes over this batch"
    )
    cosines: list[float] = spec(min=-1.0, max=1.0, help="initial cosines of synthetic pairs")
    pairs_per_cosine: int = spec(min=1)
    examples: int = spec(min=2, help="examples of the split for class distances and data pairs")
    data_pairs: int = spec(min=1, help="random pairs among those examples")
    split: str = spec(choices=("train", "val", "test"))
    train: bool = spec(help="train each draw with the loop keys, then measure again")
    checkpoint: str | None = spec(
        path=True,
        help="measure these saved weights (checkpoint.pt or its run directory) instead of draws",
    )
    draws_per_pass: int = spec(
        min=1, help="draws through the network at once (vmap; more memory); 1: a loop"
    )
    layers: str = spec(
        choices=("all", "log"), help="rows written: every layer, or log-spaced ones (log_layers)"
    )

    def validate(self) -> None:
        if self.checkpoint is None:
            return
        if self.train:
            raise ConfigError(
                "train: a checkpoint is measured as saved; set task.train=false (train it with "
                "task=train, then pass that run's directory as task.checkpoint)"
            )
        if self.seeds != 1:
            raise ConfigError(
                f"seeds: a checkpoint is one network; set task.seeds=1, not {self.seeds}"
            )


#: ``layers: log``: layers 10^(k / LOG_LAYERS_PER_DECADE) (rounded, k = 0, 1, ...)
LOG_LAYERS_PER_DECADE = 16


def log_layers(depth: int) -> np.ndarray:
    """Layers 0 (the input) to 10, the rounded 10^(k/16) for k = 0, 1, ... up to ``depth``,
    and ``depth`` itself: every layer up to 10, then 16 per decade (27 of 0..100)."""
    k = np.arange(int(np.ceil(np.log10(max(depth, 1)) * LOG_LAYERS_PER_DECADE)) + 1)
    steps = np.round(10.0 ** (k / LOG_LAYERS_PER_DECADE)).astype(int)
    first = np.arange(min(depth, 10) + 1)
    return np.unique(np.concatenate([first, steps[steps <= depth], [depth]]))


def arch_label(setup: RunSetup) -> str:
    """A short name of the network for tables: the model, its norm where the model's name does
    not say it (``resnet_scale``: per-example scale norm), the init unless it is He's."""
    name = setup.model.name
    norm = getattr(setup.model, "norm", "none")
    name = f"{name}_{norm}" if norm in ("layer", "scale") else name
    return name if setup.init.name == "he" else f"{name}_{setup.init.name}"


def _measure(models: list, inputs: dict, batch: int, draws_per_pass: int) -> list[pd.DataFrame]:
    """One table per model (in order), all of them measured on the same inputs."""
    per_input = []
    for name, (x, labels, pairs, groups, size) in inputs.items():
        table = layer_table(
            models,
            x,
            labels,
            pairs,
            groups,
            batch_size=min(size, batch),
            draws_per_pass=draws_per_pass,
        )
        table.insert(0, "inputs", name)
        per_input.append(table)
    table = pd.concat(per_input, ignore_index=True)
    return [table[table.draw == i].reset_index(drop=True) for i in range(len(models))]


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_checkpoint(cfg: AnglesConfig, setup: RunSetup) -> None:
    """The file exists and, where its run's config.yaml is next to it, the model keys match
    (a strict load catches other shapes, not e.g. another activation)."""
    checkpoint_file(cfg.checkpoint)
    saved = saved_config(cfg.checkpoint)
    if saved is None or not isinstance(saved.get("model"), dict):
        return
    ours = setup.resolved["model"]
    differ = sorted(
        k for k in set(saved["model"]) | set(ours) if saved["model"].get(k) != ours.get(k)
    )
    if differ:
        pairs = ", ".join(f"{k}={saved['model'].get(k)!r} (here {ours.get(k)!r})" for k in differ)
        raise ConfigError(f"task.checkpoint: {cfg.checkpoint} was trained with model {pairs}")


def _inputs(cfg: AnglesConfig, setup: RunSetup, data: DataBundle) -> dict:
    gen = torch.Generator().manual_seed(setup.seed)
    shape = data.input_shape
    synth = (
        make_pairs(cfg.cosines, cfg.pairs_per_cosine, math.prod(shape), gen)
        if cfg.cosines
        else None
    )
    even = max(2, cfg.measure_batch_size - cfg.measure_batch_size % 2)
    x, y = data.split(cfg.split)
    n = min(cfg.examples, len(x))
    if n % cfg.measure_batch_size == 1:
        n -= 1  # a last batch of one example holds no pair
    if n < 2:
        raise ConfigError(f"task.split: the {cfg.split} split has fewer than 2 examples")
    rows = torch.randperm(len(x), generator=gen)[:n].sort().values.to(x.device)
    pairs = pairs_within_batches(n, cfg.data_pairs, cfg.measure_batch_size, gen)
    data = (x[rows], y[rows], pairs, np.array(["data"] * len(pairs), dtype=object), n)
    if synth is None:
        return {"data": data}
    group = np.array([f"{c:g}" for c in synth.group], dtype=object)
    return {
        "synthetic": (synth.x.reshape(-1, *shape).to(x.device), None, synth.pairs, group, even),
        "data": data,
    }


def _last(table: pd.DataFrame, inputs: str, column: str) -> float:
    rows = table[(table.inputs == inputs) & (table.layer == table.layer.max())]
    return float(rows[column].mean())


def _scores(model, data: DataBundle, cfg: AnglesConfig) -> dict[str, float]:
    x, y = data.split("test")
    x, y = x[: cfg.eval_examples], y[: cfg.eval_examples]
    if not len(x):
        return {"test_accuracy": np.nan, "test_loss": np.nan}
    scores = evaluate(model, x, y, cfg.eval_batch_size)
    return {"test_accuracy": scores["accuracy"], "test_loss": scores["loss"]}


@TASKS.register("angles", AnglesConfig)
def angles_task(cfg: AnglesConfig, setup: RunSetup, data: DataBundle, run: Run) -> TaskResult:
    if cfg.checkpoint is not None:
        _check_checkpoint(cfg, setup)
    inputs = _inputs(cfg, setup, data)
    first_stage = "init" if cfg.checkpoint is None else "checkpoint"
    frames, draws = [], []
    progress = Progress(cfg.seeds, "angles", unit="draw")
    for start in range(0, cfg.seeds, cfg.draws_per_pass):
        group = list(range(start, min(start + cfg.draws_per_pass, cfg.seeds)))
        models, states, infos = [], [], []
        for draw in group:
            torch.manual_seed(setup.seed * 10_000 + draw)
            model = setup.new_model(data, run)
            info = {"train_status": "", "steps": 0}
            if cfg.checkpoint is not None:
                meta = load_weights(model, cfg.checkpoint)
                info["steps"] = meta.get("step", np.nan)
            models.append(model)
            states.append(_rng_state())  # training starts from here, as if drawn alone
            infos.append(info)
        tables = _measure(models, inputs, cfg.measure_batch_size, cfg.draws_per_pass)
        results = {
            draw: [(first_stage, table, _scores(model, data, cfg), info)]
            for draw, model, table, info in zip(group, models, tables, infos, strict=True)
        }
        if cfg.train:
            trained = []
            for draw, model, state in zip(group, models, states, strict=True):
                draw_seed = setup.seed * 10_000 + draw
                _set_rng_state(state)
                outcome = train_model(
                    model, data, cfg, setup.optim, run, seed=draw_seed, phase=f"draw{draw}"
                )
                trained.append({"train_status": outcome.status, "steps": outcome.steps})
            tables = _measure(models, inputs, cfg.measure_batch_size, cfg.draws_per_pass)
            for draw, model, table, info in zip(group, models, tables, trained, strict=True):
                results[draw].append(("trained", table, _scores(model, data, cfg), info))
        progress.update(len(group))
        for draw in group:
            draw_seed = setup.seed * 10_000 + draw
            for stage, tab, scores, info in results[draw]:
                tab = tab.assign(draw=draw, draw_seed=draw_seed)
                tab.insert(0, "stage", stage)
                frames.append(tab)
                data_rows = tab[tab.inputs == "data"]
                draws.append(
                    {
                        "draw": draw,
                        "draw_seed": draw_seed,
                        "stage": stage,
                        **scores,
                        "angle_last_data": _last(tab, "data", "angle_mean"),
                        "angle_last_synthetic": _last(tab, "synthetic", "angle_mean"),
                        "ratio_input": float(data_rows[data_rows.layer == 0].ratio.mean()),
                        "ratio_last": _last(tab, "data", "ratio"),
                        **info,
                    }
                )
    progress.close()
    labels = {
        "arch": arch_label(setup),
        "model_name": setup.model.name,
        "init_name": setup.init.name,
        "norm": setup.model.norm,
        "data_name": setup.data.name,
        "depth": setup.model.depth,
        "width": setup.model.width,
        "measure_batch_size": cfg.measure_batch_size,
    }
    angles = pd.concat(frames, ignore_index=True)
    if cfg.layers == "log":
        angles = angles[angles.layer.isin(log_layers(int(angles.layer.max())))]
    draws_table = pd.DataFrame(draws)
    for i, (key, value) in enumerate(labels.items()):
        angles.insert(i, key, value)
        draws_table.insert(i, key, value)
    atomic_write_text(run.out_dir / "angles.csv", angles.to_csv(index=False))
    atomic_write_text(run.out_dir / "draws.csv", draws_table.to_csv(index=False))
    metrics = {}
    for stage, rows in draws_table.groupby("stage"):
        for column in ("angle_last_data", "angle_last_synthetic", "ratio_input", "ratio_last"):
            metrics[f"{stage}_{column}"] = float(rows[column].mean())
        if rows.test_accuracy.notna().any():
            metrics[f"{stage}_test_accuracy"] = float(rows.test_accuracy.mean())
    metrics["layers"] = int(angles.layer.max())
    status = "completed"
    return TaskResult(status, metrics)
