"""Progressive Data Increasing (PDI, Sato & Kimura): a base init, then training on data subsets.

``init=pdi`` applies its base initializer (He by default), then trains the model on random
subsets of the TRAINING split only (validation and test rows are never in a subset), one stage per
entry of ``init.stages`` (growing subsets, e.g. 0.1% -> 1% -> 100%), each with the shared loop
:func:`initlab.training.train_model` under the phase ``pdi_stage<i>``. The task then continues
with these parameters on the full data, in the same run (so the stages count in its wall time).

Subsets are nested: stage i takes the first ``size_i`` indices of one permutation of the training
rows drawn from ``init.subset_seed``. Stages with zero steps are skipped, so zero steps everywhere
reduces exactly to the base initializer.

Resuming: inside a stage, the loop resumes from ``checkpoint.pt`` as any phase does. A finished
stage leaves ``pdi/stage<i>-<fingerprint>.pt`` (model, RNG and the weight-variance rows) in the
run directory, keyed by the model's parameters after the base init and the PDI config, so a resumed
run skips finished stages and a task that asks for several models never mixes them up. When all
stages are done the checkpoint is replaced by a ``pdi_done`` marker so that the next model's stage
of the same name never resumes from it. A model built without a run (``context.run`` None) trains
its stages with :data:`initlab.run.NULL_RUN`: nothing logged, nothing checkpointed. The stages
evaluate with the task's ``eval_batch_size`` and ``precision`` (when the task has them).

With ``init.variance_every > 0`` the per-layer weight variance (D1) is recorded at the start of
every stage, every k training steps and at the end of every stage into ``weight_variance.csv``,
next to He's 2 / fan_in.

``init.gain`` multiplies every weight layer's weights by the gain right after the base
initializer (its standard deviation times ``gain``, its variance times ``gain ** 2``; biases and
norm layers untouched): D1 starts PDI from He x 0.25 and x 4 in variance with gains 0.5 and 2.

Stopping when the variance settles (D1): with ``init.stop_window = K > 0`` a stage ends early at
the first record (every ``variance_every`` steps) at which the variance ratio Var(W) / (2 /
fan_in) of the weight layer at position ``init.stop_layer`` (0-based, in module order) has moved
by at most ``init.stop_tol`` relative over the last K records (:func:`settled`: (max - min) / last
of the last K + 1 values); the stage's step budget (``duration``) is the cap. Every variance row
of a stage carries ``settled``: whether the stage stopped that way (False: it reached its cap).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from initlab.checkpoints import load_file, misfit
from initlab.config import SEED_MAX, ConfigError, spec
from initlab.data.bundle import DataBundle
from initlab.inits.base import INITS, WEIGHT_LAYERS, InitConfig, InitContext, fans
from initlab.run import NULL_RUN

VARIANCE_FILE = "weight_variance.csv"
STATE_DIR = "pdi"


@dataclass(kw_only=True)
class PDIConfig(InitConfig):
    distribution: str = spec(
        choices=("normal", "uniform", "truncated_normal"), help="the base initializer's draw"
    )
    base: str = spec(help="the initializer applied before the PDI stages (not pdi)")
    base_options: dict = spec(help="further keys of the base initializer's schema, if any")
    stages: list[float] = spec(min=0.0, min_exclusive=True, help="subset size per stage")
    stage_unit: str = spec(choices=("fraction", "count"), help="stages as fractions or counts")
    duration: list[int] = spec(min=0, help="length of each stage (one entry: every stage)")
    duration_unit: str = spec(choices=("steps", "epochs"))
    batch_size: int = spec(min=1)
    optim: dict = spec(help="optimizer of the stages: a full conf/optim mapping")
    subset_seed: int = spec(
        min=0, max=SEED_MAX, help="seed of the subset permutation and the batch order"
    )
    log_every: int = spec(min=1)
    checkpoint_interval_s: float = spec(min=0.0, help="checkpoint a stage at most this often")
    diverge_factor: float = spec(min=1.0)
    variance_every: int = spec(min=0, help="record weight variances every k steps; 0: never")
    gain: float = spec(
        min=0.0,
        min_exclusive=True,
        help="multiplies the base initializer's weights (std x gain, variance x gain^2); 1: as is",
    )
    stop_window: int = spec(
        min=0,
        help="end a stage once the watched layer's variance ratio moved by <= stop_tol over the "
        "last K variance records (needs variance_every); 0: run every stage to its duration",
    )
    stop_tol: float = spec(
        min=0.0, help="relative change ((max - min) / last) of the ratio over the window"
    )
    stop_layer: int = spec(
        min=0, help="the weight layer (0-based position in module order) the stop rule watches"
    )
    eval_every_steps: int = spec(
        min=0,
        help="evaluate train (the stage's subset), val and test about every k steps of a stage "
        "(whole epochs of its subset), and once before the first stage (phase pdi_start); "
        "0: at each stage's end only",
    )

    def validate(self) -> None:
        if self.base == "pdi":
            raise ConfigError("base: pdi cannot wrap itself")
        if len(self.duration) not in (1, len(self.stages)):
            raise ConfigError(
                f"duration: {len(self.duration)} entries for {len(self.stages)} stages; "
                "give one per stage or one for all"
            )
        if self.stage_unit == "fraction" and any(s > 1.0 for s in self.stages):
            raise ConfigError(f"stages: fractions must be <= 1, got {self.stages}")
        if self.stage_unit == "count" and any(s != int(s) for s in self.stages):
            raise ConfigError(f"stages: counts must be whole numbers, got {self.stages}")
        if self.stop_window and not self.variance_every:
            raise ConfigError("stop_window: the stop rule reads the variance records; set "
                              "variance_every > 0")  # fmt: skip


def base_config(cfg: PDIConfig) -> Any:
    """The base initializer's typed config (checked against its own schema)."""
    node = {"name": cfg.base, "distribution": cfg.distribution, **cfg.base_options}
    return INITS.parse(node, "init.base")


def stage_sizes(cfg: PDIConfig, n_train: int) -> list[int]:
    """Training rows per stage: a fraction rounds to at least one row; a count is capped at n."""
    if cfg.stage_unit == "count":
        return [min(int(s), n_train) for s in cfg.stages]
    return [max(1, min(n_train, round(s * n_train))) for s in cfg.stages]


def subset_indices(n_train: int, size: int, seed: int) -> torch.Tensor:
    """The first ``size`` rows of the permutation of ``range(n_train)`` that ``seed`` names.

    Indices into the training split only: validation and test rows cannot be chosen.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n_train, generator=generator)[:size]


def subset_bundle(data: DataBundle, indices: torch.Tensor) -> DataBundle:
    """``data`` with its training split cut to ``indices``; val and test untouched."""
    idx = indices.to(data.x_train.device)
    return DataBundle(
        name=f"{data.name}[pdi:{len(indices)}]",
        x_train=data.x_train[idx],
        y_train=data.y_train[idx],
        x_val=data.x_val,
        y_val=data.y_val,
        x_test=data.x_test,
        y_test=data.y_test,
        num_classes=data.num_classes,
        metric=data.metric,
    )


def stage_eval_every(cfg: PDIConfig, size: int) -> int:
    """Epochs of a stage between its evaluations: ``eval_every_steps`` in whole epochs of its
    subset (at least 1); with 0, the stage's length (so only its end)."""
    if not cfg.eval_every_steps:
        return 0
    per_epoch = math.ceil(size / min(cfg.batch_size, size))
    return max(1, round(cfg.eval_every_steps / per_epoch))


def stage_steps(cfg: PDIConfig, size: int, stage: int) -> tuple[int, int | None]:
    """(epochs, max_steps) of a stage for the loop."""
    length = cfg.duration[stage if len(cfg.duration) > 1 else 0]
    if cfg.duration_unit == "epochs":
        return length, None
    per_epoch = math.ceil(size / min(cfg.batch_size, size))
    return math.ceil(length / per_epoch), length


@torch.no_grad()
def weight_variances(model: nn.Module) -> list[dict[str, Any]]:
    """Per weight layer: name, fan_in, variance of its entries, He's 2 / fan_in."""
    rows = []
    for name, module in model.named_modules():
        if isinstance(module, WEIGHT_LAYERS):
            fan_in, _ = fans(module.weight)
            rows.append(
                {
                    "layer": name,
                    "fan_in": fan_in,
                    "variance": module.weight.detach().float().var(unbiased=False).item(),
                    "he_variance": 2.0 / fan_in,
                }
            )
    return rows


@torch.no_grad()
def apply_gain(model: nn.Module, gain: float) -> None:
    """Every weight layer's weights times ``gain`` (variance times ``gain ** 2``)."""
    if gain == 1.0:
        return
    for module in model.modules():
        if isinstance(module, WEIGHT_LAYERS):
            module.weight.mul_(gain)


def settled(ratios: list[float], window: int, tol: float) -> bool:
    """Has the series stopped moving: over its last ``window`` + 1 values (``window`` records
    apart), (max - min) / |last| <= ``tol``? False while fewer values exist or any is not finite."""
    if window < 1 or len(ratios) < window + 1:
        return False
    tail = ratios[-(window + 1) :]
    if not all(math.isfinite(r) for r in tail) or tail[-1] == 0:
        return False
    return (max(tail) - min(tail)) / abs(tail[-1]) <= tol


class Settled(Exception):
    """Raised by the variance recorder to end a stage whose watched ratio has settled."""


def _fingerprint(model: nn.Module, cfg: PDIConfig, data: DataBundle) -> str:
    digest = hashlib.sha256(repr(sorted(vars(cfg).items())).encode())
    digest.update(f"{data.name}:{len(data.x_train)}".encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


START_OVER = "move the run directory aside to start it over"


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


class _VarianceRecorder:
    """Counts training forward passes of one stage and records variances every k steps."""

    def __init__(
        self,
        model: nn.Module,
        every: int,
        stage: int,
        start_step: int,
        on_record: Any,
        stop: tuple[int, float, int] = (0, 0.0, 0),
        earlier: list[dict[str, Any]] | None = None,
    ) -> None:
        self.model, self.every, self.stage, self.step = model, every, stage, start_step
        self.on_record = on_record  # writes the CSV, so a resume finds the rows before a crash
        self.rows: list[dict[str, Any]] = []
        self.handle = model.register_forward_pre_hook(self._hook) if every else None
        self.window, self.tol, self.layer = stop
        self.settled = False
        # the watched layer's ratios of this stage so far (a resumed stage: from its rows)
        self.ratios = [
            r["variance"] / r["he_variance"]
            for r in (earlier or [])
            if r["stage"] == stage and r.get("position", -1) == self.layer
        ]

    def record(self, step: int) -> None:
        if self.every:
            for position, row in enumerate(weight_variances(self.model)):
                self.rows.append({**row, "position": position, "stage": self.stage,
                                  "step": step, "settled": self.settled})  # fmt: skip
                if position == self.layer:
                    self.ratios.append(row["variance"] / row["he_variance"])
            self.on_record(self.rows)

    def _hook(self, module: nn.Module, args: Any) -> None:
        # the loop calls objective once per step in train mode; evaluation runs in eval mode
        if module.training and torch.is_grad_enabled():
            if self.step % self.every == 0:
                self.record(self.step)
                if self.step and settled(self.ratios, self.window, self.tol):
                    self.settled = True
                    for row in self.rows:
                        row["settled"] = True
                    self.on_record(self.rows)
                    raise Settled(self.step)
            self.step += 1

    def close(self) -> None:
        if self.handle is not None:
            self.handle.remove()


def _write_variances(run: Any, rows: list[dict[str, Any]], base: str) -> None:
    if run.out_dir is None or not rows:
        return
    from initlab.tracking import atomic_write_text

    frame = pd.DataFrame(rows).drop_duplicates(subset=["stage", "step", "layer"], keep="last")
    frame.insert(0, "base", base)
    atomic_write_text(Path(run.out_dir) / VARIANCE_FILE, frame.to_csv(index=False))


@INITS.register("pdi", PDIConfig)
def pdi_init(cfg: PDIConfig, model: nn.Module, context: InitContext) -> None:
    """Base init, then the PDI stages on training subsets (see the module docstring)."""
    from initlab.optim import OPTIMIZERS
    from initlab.training import TrainLoopConfig, train_model

    INITS.build(base_config(cfg), model, context)
    apply_gain(model, cfg.gain)
    if all(d == 0 for d in cfg.duration):
        return
    data = context.data
    if data is None:
        raise ConfigError("init.name: pdi trains on data; this caller passed none")
    optim = OPTIMIZERS.parse(cfg.optim, "init.optim")
    run = context.run if context.run is not None else NULL_RUN
    out_dir = Path(run.out_dir) if run.out_dir is not None else None
    fingerprint = _fingerprint(model, cfg, data)
    home = next(model.parameters()).device
    model.to(data.x_train.device)
    sizes = stage_sizes(cfg, len(data.x_train))
    variance_rows: list[dict[str, Any]] = []
    ran_a_stage = False
    first = next((i for i, size in enumerate(sizes) if stage_steps(cfg, size, i)[0]), None)
    for i, size in enumerate(sizes):
        epochs, max_steps = stage_steps(cfg, size, i)
        if epochs == 0 or max_steps == 0:
            continue
        phase = f"pdi_stage{i}"
        done_file = out_dir / STATE_DIR / f"stage{i}-{fingerprint}.pt" if out_dir else None
        if done_file is not None and done_file.exists():
            state = load_file(done_file, "hydra.run.dir", START_OVER)
            needed = ("model", "rng", "variance_rows")
            if not isinstance(state, dict) or any(k not in state for k in needed):
                raise ConfigError(f"hydra.run.dir: {done_file} is not a PDI stage; {START_OVER}")
            problem = misfit(model.state_dict(), state["model"])
            if problem is not None:
                raise ConfigError(
                    f"hydra.run.dir: {done_file} does not fit: {problem}; {START_OVER}"
                )
            model.load_state_dict(state["model"])
            torch.set_rng_state(state["rng"])
            variance_rows = state["variance_rows"]
            continue
        previous = run.load_checkpoint()
        start = previous["step"] if previous and previous.get("phase") == phase else 0
        if i == first and not start and cfg.eval_every_steps:  # the curve's first point
            _log_start(model, data, context, run)
        if start:  # resuming mid-stage: keep the rows recorded up to the checkpoint
            variance_rows = _read_rows(out_dir, i, start)
        earlier = variance_rows
        recorder = _VarianceRecorder(
            model,
            cfg.variance_every,
            i,
            start,
            lambda rows, earlier=earlier: _write_variances(run, earlier + rows, cfg.base),
            stop=(cfg.stop_window, cfg.stop_tol, cfg.stop_layer),
            earlier=earlier,
        )
        loop = TrainLoopConfig(
            epochs=epochs,
            batch_size=cfg.batch_size,
            full_batch=False,
            max_steps=max_steps,
            eval_every=stage_eval_every(cfg, size) or max(epochs, 1),
            log_every=cfg.log_every,
            checkpoint_every=1 if out_dir else 0,
            checkpoint_interval_s=cfg.checkpoint_interval_s,
            diverge_factor=cfg.diverge_factor,
            eval_batch_size=context.eval_batch_size,  # the task's, not a fixed 1,024 in fp32
            eval_examples=context.eval_examples,
            precision=context.precision,
            micro_batch=context.micro_batch,
        )
        indices = subset_indices(len(data.x_train), size, cfg.subset_seed)
        stopped_at = None
        try:
            outcome = train_model(
                model, subset_bundle(data, indices), loop, optim, run, cfg.subset_seed + i, phase
            )
        except Settled as stop:  # the watched ratio stopped moving: the stage ends here
            stopped_at = int(stop.args[0])
            outcome = None
        finally:
            recorder.close()
        if outcome is None:
            run.log({"phase": phase, "step": stopped_at, "pdi_settled_at": stopped_at})
            status = "completed"
        else:
            recorder.record(outcome.steps)
            status = outcome.status
        variance_rows = variance_rows + recorder.rows
        if done_file is not None:
            _atomic_save(
                {
                    "model": model.state_dict(),
                    "rng": torch.get_rng_state(),
                    "variance_rows": variance_rows,
                },
                done_file,
            )
        ran_a_stage = True
        if status != "completed":
            run.log({"phase": phase, "step": outcome.steps, "pdi_status": status})
            break
    if ran_a_stage and out_dir is not None:
        run.save_checkpoint({"phase": "pdi_done", "fingerprint": fingerprint})
    model.to(home)


def _log_start(model: nn.Module, data: DataBundle, context: InitContext, run: Any) -> None:
    """Train/val/test metrics of the base-initialized model (phase ``pdi_start``, step 0)."""
    from initlab.training import eval_autocast, evaluate_splits

    with eval_autocast(model, context.precision):
        metrics = evaluate_splits(model, data, context.eval_batch_size, context.eval_examples)
    run.log({"phase": "pdi_start", "step": 0, "epoch": 0, **metrics})


def _read_rows(out_dir: Path | None, stage: int, until_step: int) -> list[dict[str, Any]]:
    """Rows of earlier stages and of ``stage`` up to ``until_step`` from the CSV on disk."""
    if out_dir is None or not (out_dir / VARIANCE_FILE).exists():
        return []
    frame = pd.read_csv(out_dir / VARIANCE_FILE).drop(columns=["base"])
    keep = (frame["stage"] < stage) | ((frame["stage"] == stage) & (frame["step"] < until_step))
    return frame[keep].to_dict("records")
