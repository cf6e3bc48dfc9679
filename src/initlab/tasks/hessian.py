"""``task=hessian``: extreme eigenvalues of the Hessian (or Fisher) of the training loss.

The operator is the mean cross-entropy over the first ``samples`` training examples, applied
chunk by chunk (``chunk_size``) by Hessian-vector products (``matrix=hessian``) or Fisher-vector
products (``fisher_true``, ``fisher_gauss``: J^T J of the logits, ``fisher_empirical``; see
:mod:`initlab.analysis.fisher`), and its ``top_k`` largest and/or smallest eigenvalues come from
Lanczos with full re-orthogonalization to a relative residual ``tol`` (:mod:`initlab.analysis`).
The smallest ones matter: at Fixup initialization the spectrum has large negative eigenvalues
that plain power iteration would report as the "top" one.

The model is freshly initialized, or loaded from ``checkpoint`` (a ``checkpoint.pt`` of a train
run, or a plain state dict). BatchNorm models are evaluated with batch statistics (train-mode
normalisation, running statistics untouched; statistics per chunk, so use ``chunk_size >=
samples`` for the full-batch function); the summary says ``bn_mode: batch_stats``.

Writes ``hessian.csv`` (one row per reported eigenvalue) and puts ``lambda_max``, ``lambda_min``,
the operator applications ``hvps`` and the residuals in the summary. Stage by stage (Lanczos,
Hutchinson, SLQ) the results are saved in ``hessian_stages.pt``: a preempted or killed run
resumes at the first unfinished stage.

Spectrum keys (:mod:`initlab.analysis.spectrum`): ``params`` restricts the operator to the
parameters matching these globs (its diagonal block: a layer, a block, the biases); with
``trace_probes`` > 0 the summary gets Hutchinson's ``trace`` and its standard error
``trace_se``; with ``slq_probes`` > 0 stochastic Lanczos quadrature of ``slq_steps`` steps per
probe writes ``spectrum.csv`` (probe, node, weight; each probe's weights sum to 1) and its
moment estimates ``slq_mean`` (tr H / n) and ``slq_m2`` (tr H^2 / n) go in the summary.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from initlab import hooks, preemption
from initlab.analysis.fisher import empirical_fisher, gauss_fisher, true_fisher
from initlab.analysis.hvp import (
    ChunkedOperator,
    batchnorm_batch_stats,
    full_gradient,
    loss_hvp,
    trainable_params,
)
from initlab.analysis.lanczos import lanczos
from initlab.analysis.spectrum import hutchinson_trace, select_parameters, slq
from initlab.checkpoints import UnreadableFile, UnsafeFile, load_file, load_weights
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.run import Run, runtime
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.tracking import atomic_write_bytes, atomic_write_text

MATRICES = ("hessian", "fisher_true", "fisher_gauss", "fisher_empirical")


@dataclass(kw_only=True)
class CurvatureData:
    """Keys shared by the curvature tasks: which examples, in what chunks, at what precision."""

    samples: int | None = spec(min=1, help="first n training examples; null: all of them")
    chunk_size: int = spec(min=1, help="examples per forward/backward pass (memory bound)")
    float64: bool = spec(help="compute in double precision (model and data)")
    checkpoint: str | None = spec(path=True, help="load weights from this file instead of the init")


@dataclass(kw_only=True)
class HessianConfig(TaskConfig, CurvatureData):
    matrix: str = spec(
        choices=MATRICES,
        help="hessian | fisher_true (cross-entropy GGN) | fisher_gauss (J^T J of the logits: "
        "Gaussian-output Fisher) | fisher_empirical",
    )
    top_k: int = spec(min=1, help="eigenvalues reported at each requested end")
    which: str = spec(choices=("both", "largest", "smallest"), help="ends of the spectrum")
    tol: float = spec(min=0.0, min_exclusive=True, help="relative residual of every Ritz value")
    max_iter: int = spec(min=1, help="Lanczos steps (operator applications) at most")
    method: str = spec(
        choices=("cached_graph", "double_backward", "forward_over_reverse"),
        help="how H v is computed (cached_graph keeps every chunk's gradient graph)",
    )
    # spectrum (initlab.analysis.spectrum)
    params: list[str] = spec(help="globs of parameter names; [] = all (the operator's block)")
    trace_probes: int = spec(min=0, help="Hutchinson probes for the trace; 0: none")
    slq_probes: int = spec(min=0, help="stochastic Lanczos quadrature probes; 0: none")
    slq_steps: int = spec(min=1, help="Lanczos steps per SLQ probe")


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def prepare(cfg: CurvatureData, setup: RunSetup, data: DataBundle) -> tuple[nn.Module, list]:
    """The model (initialized or loaded, in the requested precision) and the data chunks."""
    model = setup.new_model(data)
    if cfg.checkpoint:
        load_weights(model, cfg.checkpoint)
    dtype = torch.float64 if cfg.float64 else torch.float32
    model = model.to(dtype)
    x, y = data.split("train")
    n = len(x) if cfg.samples is None else min(cfg.samples, len(x))
    if n == 0:
        raise ConfigError("data: the training split is empty")
    x, y = x[:n].to(dtype), y[:n]
    chunks = [
        (x[i : i + cfg.chunk_size], y[i : i + cfg.chunk_size]) for i in range(0, n, cfg.chunk_size)
    ]
    return model, chunks


def evaluation_mode(model: nn.Module) -> contextlib.AbstractContextManager:
    """Batch statistics for BatchNorm models, eval mode (no dropout) otherwise."""
    if has_batchnorm(model):
        return batchnorm_batch_stats(model)
    model.eval()
    return contextlib.nullcontext(model)


def curvature_operator(
    matrix: str, model: nn.Module, chunks: list, method: str, params: list | None = None
) -> ChunkedOperator:
    if matrix == "hessian":
        return loss_hvp(model, F.cross_entropy, chunks, params, method=method)
    if matrix == "fisher_true":
        return true_fisher(model, chunks, params)
    if matrix == "fisher_gauss":
        return gauss_fisher(model, chunks, params)
    return empirical_fisher(model, chunks, params)


log = logging.getLogger("initlab")

START_OVER = "move the run directory aside to start it over"
STAGES_FILE = "hessian_stages.pt"


class Stages:
    """The finished stages of a curvature run (Lanczos, Hutchinson, SLQ), saved one by one in
    the run directory: a preempted or killed run resumes at the first unfinished stage, with
    the numbers of an uninterrupted one (each stage is deterministic given the seed)."""

    def __init__(self, out_dir: Path | None) -> None:
        self.path = None if out_dir is None else Path(out_dir) / STAGES_FILE
        self.done: dict[str, Any] = {}
        if self.path is not None and self.path.exists():
            try:
                self.done = load_file(self.path, "hydra.run.dir", START_OVER)
            except UnreadableFile:  # a torn file: redo every stage (a file that needs code
                self.done = {}  # to load is refused: UnsafeFile goes up as one line)
            if not isinstance(self.done, dict):
                self.done = {}

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        if name not in self.done:
            self.done[name] = work()
            if self.path is not None:
                buffer = io.BytesIO()
                torch.save(self.done, buffer)
                atomic_write_bytes(self.path, buffer.getvalue())
            hooks.emit("stage_saved", name=name)
        return self.done[name]


LANCZOS_FILE = "hessian_lanczos.pt"


def log_ritz(run: Run, state: dict) -> None:
    """The run's history: after Lanczos step m, the extreme Ritz values of T_m (the estimates of
    lambda_min and lambda_max so far; metrics.csv and W&B, phase ``lanczos``)."""
    m, alphas, betas = state["m"], state["alphas"], state["betas"]
    ritz = scipy.linalg.eigvalsh_tridiagonal(np.asarray(alphas[:m]), np.asarray(betas[: m - 1]))
    run.log({"step": m, "phase": "lanczos", "ritz_max": float(ritz[-1]),
             "ritz_min": float(ritz[0])})  # fmt: skip


class PartialLanczos:
    """The state of an unfinished Lanczos run, written every ``runtime.checkpoint_every_s``
    seconds and every ``runtime.checkpoint_every_steps`` steps (0: never) and on a preemption
    signal, so a killed or requeued run resumes at the last saved step instead
    of at step 0. The basis so far (``m`` vectors of the operator's size, the bulk) goes to a
    ``.npy`` file written from the basis in place (no copy in memory), the rest to a small
    ``.pt`` file naming ``m``; a pair that does not agree (a kill between the two) is ignored."""

    def __init__(self, out_dir: Path | None, every_s: float, every_steps: int) -> None:
        self.path = None if out_dir is None else Path(out_dir) / LANCZOS_FILE
        self.every_s, self.every_steps = every_s, every_steps
        self.last = time.monotonic()

    @property
    def basis_path(self) -> Path | None:
        return None if self.path is None else self.path.with_suffix(".npy")

    def load(self) -> dict | None:
        if self.path is None or not self.path.exists() or not self.basis_path.exists():
            return None
        try:
            state = load_file(self.path, "hydra.run.dir", START_OVER)
            basis = np.load(self.basis_path, mmap_mode="r+")  # read into place, not twice
        except UnsafeFile:
            raise  # one line: refused, nothing in it ran
        except Exception:  # noqa: BLE001 - a torn file: start the stage again
            return None
        if not isinstance(state, dict) or basis.shape[0] != state.get("m"):
            return None
        return {**state, "basis": torch.from_numpy(basis)}

    def save(self, state: dict) -> None:
        hooks.emit("lanczos_step", m=int(state["m"]))
        signal_arrived = preemption.requested() is not None
        due = (self.every_s > 0 and time.monotonic() - self.last >= self.every_s) or (
            self.every_steps > 0 and state["m"] % self.every_steps == 0
        )
        if self.path is not None and (due or signal_arrived):
            basis = state["basis"].detach().cpu().numpy()
            temporary = self.basis_path.with_name(f".{self.basis_path.name}.tmp")
            with open(temporary, "wb") as handle:
                np.save(handle, basis)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.basis_path)
            rest = {k: v.cpu() if torch.is_tensor(v) else v for k, v in state.items()}
            del rest["basis"]
            buffer = io.BytesIO()
            torch.save(rest, buffer)
            atomic_write_bytes(self.path, buffer.getvalue())
            self.last = time.monotonic()
            hooks.emit("lanczos_saved", m=int(state["m"]))
        if signal_arrived:
            raise preemption.Preempted(preemption.requested(), int(state["m"]))

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.basis_path.unlink(missing_ok=True)


def spectrum_metrics(
    cfg: HessianConfig, op: ChunkedOperator, seed: int, run: Run, stages: Stages
) -> dict:
    """Hutchinson's trace and the SLQ density (spectrum.csv) when asked for."""
    metrics: dict = {}
    kwargs = {"seed": seed, "dtype": op.dtype, "device": op.device}
    if cfg.trace_probes:

        def trace_stage() -> dict:
            start = op.calls
            trace = hutchinson_trace(op, op.n, max(cfg.trace_probes, 2), **kwargs)
            return {"trace": trace.value, "trace_se": trace.stderr,
                    "trace_probes": trace.probes, "hvps": op.calls - start}  # fmt: skip

        metrics["trace"] = stages.run("trace", trace_stage)
    if cfg.slq_probes:

        def slq_stage() -> dict:
            start = op.calls
            density = slq(op, op.n, cfg.slq_probes, cfg.slq_steps, **kwargs)
            rows = [
                {"matrix": cfg.matrix, "probe": i, "node": float(node), "weight": float(weight)}
                for i in range(density.nodes.shape[0])
                for node, weight in zip(density.nodes[i], density.weights[i], strict=True)
                if weight > 0
            ]
            return {"rows": rows, "slq_mean": density.moment(1), "slq_m2": density.moment(2),
                    "hvps": op.calls - start}  # fmt: skip

        done = stages.run("slq", slq_stage)
        # the header even with no rows (a density of NaNs, e.g. an overflowed He net at 128
        # blocks, has none), so the table stays readable
        table = pd.DataFrame(done["rows"], columns=["matrix", "probe", "node", "weight"])
        atomic_write_text(run.out_dir / "spectrum.csv", table.to_csv(index=False))
        metrics["slq"] = {k: v for k, v in done.items() if k != "rows"}
    return metrics


@TASKS.register("hessian", HessianConfig)
def hessian_task(cfg: HessianConfig, setup: RunSetup, data: DataBundle, run: Run) -> TaskResult:
    model, chunks = prepare(cfg, setup, data)
    params = trainable_params(model)
    if cfg.params:
        try:
            params = select_parameters(model, cfg.params)[1]
        except ValueError as err:
            raise ConfigError(f"task.params: {err}") from None
    with evaluation_mode(model):
        grad, loss = full_gradient(model, F.cross_entropy, chunks, params)
        op = curvature_operator(cfg.matrix, model, chunks, cfg.method, params)
        stages = Stages(run.out_dir)

        def lanczos_stage() -> dict:
            settings = runtime()
            partial = PartialLanczos(
                run.out_dir, settings.checkpoint_every_s, settings.checkpoint_every_steps
            )
            resume = partial.load()
            if resume is not None:
                log.info("lanczos: resuming at step %d of %d (%s)", resume["m"], cfg.max_iter,
                         partial.path)  # fmt: skip
            start = op.calls - (resume["m"] if resume else 0)  # the killed attempt's HVPs count
            run.truncate(resume["m"] if resume else -1, "lanczos")  # rows past the saved step
            with preemption.watch():
                found = lanczos(
                    op,
                    op.n,
                    cfg.top_k,
                    which=cfg.which,
                    tol=cfg.tol,
                    max_iter=cfg.max_iter,
                    seed=setup.seed,
                    resume=resume,
                    snapshot=lambda state: (log_ritz(run, state), partial.save(state)),
                )
            partial.clear()
            return {"result": found, "hvps": op.calls - start}

        done = stages.run("lanczos", lanczos_stage)
        result = done["result"]
        spectrum = spectrum_metrics(cfg, op, setup.seed, run, stages)
    # every stage's operator applications, resumed or not (the gradient pass is not one)
    hvps = done["hvps"] + sum(part["hvps"] for part in spectrum.values())
    rows = []
    for end, values, residuals in (
        ("top", result.top, result.top_residuals),
        ("bottom", result.bottom, result.bottom_residuals),
    ):
        for index, (value, residual) in enumerate(zip(values.tolist(), residuals.tolist())):
            rows.append(
                {
                    "matrix": cfg.matrix,
                    "end": end,
                    "index": index,
                    "eigenvalue": value,
                    "residual": residual,
                    "rel_residual": residual / abs(value) if value else math.inf,
                }
            )
    atomic_write_text(run.out_dir / "hessian.csv", pd.DataFrame(rows).to_csv(index=False))
    metrics = {
        "matrix": cfg.matrix,
        "params": op.n,
        "samples": sum(len(c[1]) for c in chunks),
        "loss": loss,
        "grad_norm": float(grad.norm()),
        "hvps": hvps,
        "lanczos_iterations": result.iterations,
        "converged": result.converged,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
    }
    if len(result.top):
        metrics["lambda_max"] = float(result.top[0])
        metrics["lambda_max_residual"] = float(result.top_residuals[0])
    if len(result.bottom):
        metrics["lambda_min"] = float(result.bottom[0])
        metrics["lambda_min_residual"] = float(result.bottom_residuals[0])
    if has_batchnorm(model):
        metrics["bn_mode"] = "batch_stats"
    for part in spectrum.values():
        metrics.update({k: v for k, v in part.items() if k != "hvps"})
    return TaskResult("completed", metrics)
