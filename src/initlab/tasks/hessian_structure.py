"""``task=hessian_structure``: the dense Hessian of a small model, by parameter-tensor blocks (A3).

The Hessian of the mean training loss over the first ``samples`` examples is formed entry by
entry (``torch.autograd.functional.hessian``; memory n^2, so the number of parameters is capped by
``max_params``). It is summarised per pair of parameter tensors (:func:`block_structure`):

* ``hessian_blocks.csv``: one row per (row tensor, column tensor) block: names, offsets, sizes,
  max and mean |H|, the max relative to max|H| (``rel_max``), whether the block is zero up to
  round-off (``zero``: ``rel_max`` <= the threshold below) and whether it is exactly zero
  (``exact_zero``);
* ``hessian_matrix.csv``: |H| max-pooled onto at most ``heatmap_cells`` x ``heatmap_cells`` cells
  (long format: cell row, cell column, the index range they cover, max |H|) for the heat map;
* ``hessian_abs.npy``: the full |H| (float32), next to the run's other files;
* summary: ``zero_block_fraction`` (zero up to round-off), ``exact_zero_block_fraction``,
  ``zero_entry_fraction``, the threshold ``zero_threshold`` and the largest |entry|
  ``hessian_scale``, the gap around the threshold (``largest_zero_rel``: the largest relative
  block max counted zero; ``smallest_nonzero_rel``: the smallest counted non-zero), and
  ``lambda_max``/``lambda_min`` of the dense matrix (a check on task=hessian).

**Zero up to round-off.** A block is zero when its largest |entry| is at most
``zero_threshold * max|H|``, with ``zero_threshold`` the float round-off bound gamma_k = k u /
(1 - k u) of a sum of k = examples x parameters rounded products
(:func:`initlab.analysis.dense.roundoff_threshold`; u = 2^-53 in float64): BatchNorm's
analytically zero blocks come out of the double backward at ~1e-17 of max|H|, not exactly 0.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from initlab.analysis.dense import block_structure, dense_hessian, roundoff_threshold
from initlab.analysis.hvp import param_names, trainable_params
from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.meter import mark, tick
from initlab.run import Run
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.tasks.hessian import CurvatureData, evaluation_mode, has_batchnorm, prepare
from initlab.tracking import Progress, atomic_write_text


@dataclass(kw_only=True)
class HessianStructureConfig(TaskConfig, CurvatureData):
    max_params: int = spec(min=1, help="refuse larger models (the matrix has n^2 entries)")
    heatmap_cells: int = spec(min=1, help="|H| is max-pooled to at most this many cells a side")
    rows: int | None = spec(
        min=1, help="form only the first n rows (the rest stay 0: a rehearsal's cut); null: all"
    )


def pooled_abs(H: torch.Tensor, cells: int) -> pd.DataFrame:
    """Max of |H| over a grid of at most ``cells`` x ``cells`` near-equal index ranges."""
    n = H.shape[0]
    edges = np.unique(np.linspace(0, n, min(cells, n) + 1).round().astype(int))
    absh = H.detach().abs().double().cpu().numpy()
    rows = []
    for i, (r0, r1) in enumerate(zip(edges[:-1], edges[1:])):
        band = absh[r0:r1]
        for j, (c0, c1) in enumerate(zip(edges[:-1], edges[1:])):
            rows.append((i, j, r0, r1, c0, c1, float(band[:, c0:c1].max())))
    return pd.DataFrame(
        rows, columns=["cell_row", "cell_col", "row0", "row1", "col0", "col1", "abs_max"]
    )


@TASKS.register("hessian_structure", HessianStructureConfig)
def hessian_structure_task(
    cfg: HessianStructureConfig, setup: RunSetup, data: DataBundle, run: Run
) -> TaskResult:
    model, chunks = prepare(cfg, setup, data)
    params = trainable_params(model)
    n = sum(p.numel() for p in params)
    if n > cfg.max_params:
        raise ConfigError(
            f"task.max_params: the model has {n} parameters, more than {cfg.max_params}; "
            "use a smaller model (depth, width, data.dim) or raise the cap"
        )
    rows = n if cfg.rows is None else min(cfg.rows, n)
    progress = Progress(rows * len(chunks), "dense hessian", unit="row")

    def on_row() -> None:
        tick()  # each row is one Hessian-vector product: the meter's step
        progress.update(1)

    with evaluation_mode(model):
        mark()
        H = dense_hessian(model, F.cross_entropy, chunks, params, rows=cfg.rows, on_row=on_row)
    progress.close()
    H = 0.5 * (H + H.T)  # exact symmetry; rounding makes the two triangles differ slightly
    names = param_names(model, params)
    samples = sum(len(c[1]) for c in chunks)
    threshold = roundoff_threshold(samples * n, H.dtype)
    blocks = block_structure(H, [p.shape for p in params], names, threshold=threshold)
    offsets = np.concatenate([[0], np.cumsum(blocks.sizes)[:-1]])
    table = []
    for a, row_name in enumerate(names):
        for b, col_name in enumerate(names):
            table.append(
                {
                    "row_param": row_name,
                    "col_param": col_name,
                    "row_index": a,
                    "col_index": b,
                    "row_offset": int(offsets[a]),
                    "col_offset": int(offsets[b]),
                    "row_size": blocks.sizes[a],
                    "col_size": blocks.sizes[b],
                    "abs_max": float(blocks.abs_max[a, b]),
                    "abs_mean": float(blocks.abs_mean[a, b]),
                    "rel_max": float(blocks.rel_max[a, b]),
                    "zero": bool(blocks.zero[a, b]),
                    "exact_zero": bool(blocks.exact_zero[a, b]),
                }
            )
    atomic_write_text(run.out_dir / "hessian_blocks.csv", pd.DataFrame(table).to_csv(index=False))
    atomic_write_text(
        run.out_dir / "hessian_matrix.csv", pooled_abs(H, cfg.heatmap_cells).to_csv(index=False)
    )
    buffer = io.BytesIO()
    np.save(buffer, H.detach().abs().float().cpu().numpy())
    (run.out_dir / "hessian_abs.npy").write_bytes(buffer.getvalue())
    eig = torch.linalg.eigvalsh(H.double())
    metrics = {
        "params": n,
        "tensors": len(names),
        "blocks": len(names) ** 2,
        "zero_blocks": int(blocks.zero.sum()),
        "zero_block_fraction": blocks.zero_fraction,
        "exact_zero_blocks": int(blocks.exact_zero.sum()),
        "exact_zero_block_fraction": blocks.exact_zero_fraction,
        "zero_threshold": threshold,
        "hessian_scale": blocks.scale,
        "largest_zero_rel": blocks.largest_zero_rel,
        "zero_entry_fraction": blocks.zero_entry_fraction,
        "lambda_max": float(eig[-1]),
        "lambda_min": float(eig[0]),
        "samples": samples,
        "rows": rows,
    }
    if np.isfinite(blocks.smallest_nonzero_rel):  # absent when every block is zero
        metrics["smallest_nonzero_rel"] = blocks.smallest_nonzero_rel
    if has_batchnorm(model):
        metrics["bn_mode"] = "batch_stats"
    return TaskResult("completed", metrics)
