"""Dense Hessians of tiny models and their block structure by parameter tensor (claim A3).

Built row by row from the gradient's own graph (double backward through
``torch.func.functional_call``, as ``torch.autograd.functional.hessian`` does), so it is an
implementation independent of the Hessian-vector products in :mod:`initlab.analysis.hvp` and can
check them. Row by row lets a caller form only the first rows (a rehearsal's cut: the same graph
and memory as the whole matrix, a fraction of the time) and time each row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

from initlab.analysis.hvp import (
    Batch,
    LossFn,
    _reiterable,
    flatten,
    param_names,
    trainable_params,
    unflatten,
)


def dense_hessian(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    params: Sequence[Tensor] | None = None,
    rows: int | None = None,
    on_row: Callable[[], None] | None = None,
) -> Tensor:
    """The n x n Hessian of the mean loss over all chunks w.r.t. ``params`` (flattening order of
    :func:`initlab.analysis.hvp.flatten`). Memory n^2: for tiny models only.

    ``rows``: form only the first ``rows`` rows (the others stay 0); None: all n.
    ``on_row``: called after each row of each chunk (progress, timing).
    """
    params = trainable_params(model) if params is None else list(params)
    names = param_names(model, params)
    theta0 = flatten([p.detach() for p in params])
    n = theta0.numel()
    total = torch.zeros(n, n, dtype=theta0.dtype, device=theta0.device)
    count = 0
    for x, y in _reiterable(batches):
        theta = theta0.clone().requires_grad_(True)
        values = dict(zip(names, unflatten(theta, params), strict=True))
        # tie_weights=False: with a module registered under two paths (ResidualBranch's weight
        # layers), tying makes functional_call leave plain tensors in the model
        out = functional_call(model, values, (x,), tie_weights=False)
        (grad,) = torch.autograd.grad(loss_fn(out, y) * x.shape[0], theta, create_graph=True)
        for i in range(n if rows is None else min(rows, n)):
            if grad[i].requires_grad:  # a gradient constant in theta has zero rows
                (row,) = torch.autograd.grad(grad[i], theta, retain_graph=True, allow_unused=True)
                if row is not None:
                    total[i] += row
            if on_row is not None:
                on_row()
        del grad, out, values
        count += x.shape[0]
    if count == 0:
        raise ValueError("no data: the batches iterable is empty")
    return total / count


def roundoff_threshold(terms: int, dtype: torch.dtype = torch.float64) -> float:
    """Relative size below which an entry of a computed Hessian cannot be told from 0.

    The a-priori bound for a sum of ``terms`` rounded products in floating point (Higham,
    *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Lemma 3.1 and eq. 3.5):
    ``gamma_k = k u / (1 - k u)`` with ``u`` the unit round-off (2^-53 in float64). An entry whose
    exact value is 0 comes out of the double backward at most ``gamma_k`` times the sum of the
    magnitudes of its terms, and those are at most of the order of the largest entry of H; so a
    block whose largest |entry| is <= ``gamma_k * max|H|`` is analytically zero as far as this
    precision can say. Callers pass a generous ``k`` (examples x parameters: every entry is a sum
    over the examples of products through the network, each shorter than the parameter count).
    """
    if terms < 1:
        raise ValueError("terms must be >= 1")
    unit = torch.finfo(dtype).eps / 2
    k_u = terms * unit
    if k_u >= 1:
        raise ValueError(f"{terms} terms exceed what {dtype} can bound (k u >= 1)")
    return float(k_u / (1 - k_u))


@dataclass(frozen=True)
class BlockStructure:
    """Per (row tensor, column tensor) block summaries of |H|, T x T for T parameter tensors.

    ``zero[a, b]`` is True when every entry of the block is at most ``threshold`` times the
    largest |entry| of the whole Hessian (``scale``): analytically zero up to round-off (see
    :func:`roundoff_threshold`; ``threshold`` 0 counts exact zeros only); ``exact_zero[a, b]``
    when every entry is exactly 0. ``rel_max`` is each block's largest |entry| / ``scale``.
    ``zero_fraction`` is the fraction of the T^2 blocks that are zero, ``exact_zero_fraction``
    the fraction exactly zero, ``zero_entry_fraction`` the fraction of all n^2 entries exactly 0.
    ``largest_zero_rel`` / ``smallest_nonzero_rel``: the largest ``rel_max`` of a block counted
    zero (0 when there is none) and the smallest of a block counted non-zero (inf when there is
    none): the gap the threshold lies in.
    """

    names: list[str]
    sizes: list[int]
    abs_max: Tensor
    abs_mean: Tensor
    zero: Tensor
    zero_fraction: float
    zero_entry_fraction: float
    exact_zero: Tensor | None = None
    exact_zero_fraction: float = 0.0
    rel_max: Tensor | None = None
    scale: float = 0.0
    threshold: float = 0.0
    largest_zero_rel: float = 0.0
    smallest_nonzero_rel: float = float("inf")


def block_structure(
    H: Tensor,
    param_shapes: Sequence[Sequence[int]],
    names: Sequence[str],
    threshold: float = 0.0,
) -> BlockStructure:
    """Summarise a dense Hessian by blocks, one per pair of parameter tensors (in flatten order).

    ``threshold``: a block is zero when its largest |entry| is <= ``threshold * max|H|`` (a
    relative round-off floor, :func:`roundoff_threshold`); 0 counts exactly-zero blocks only.
    """
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    sizes = [int(torch.Size(s).numel()) for s in param_shapes]
    if len(names) != len(sizes):
        raise ValueError("need one name per parameter shape")
    if H.shape != (sum(sizes), sum(sizes)):
        raise ValueError(f"H is {tuple(H.shape)}, parameters have {sum(sizes)} entries")
    bounds = torch.tensor([0, *sizes]).cumsum(0).tolist()
    t = len(sizes)
    absh = H.detach().abs().to(torch.float64)
    abs_max = torch.zeros(t, t, dtype=torch.float64)
    abs_mean = torch.zeros(t, t, dtype=torch.float64)
    for a in range(t):
        for b in range(t):
            block = absh[bounds[a] : bounds[a + 1], bounds[b] : bounds[b + 1]]
            abs_max[a, b] = block.max()
            abs_mean[a, b] = block.mean()
    scale = float(absh.max()) if absh.numel() else 0.0
    rel_max = abs_max / scale if scale > 0 else torch.zeros_like(abs_max)
    exact_zero = abs_max == 0
    zero = exact_zero | (rel_max <= threshold)
    counted, alive = rel_max[zero], rel_max[~zero]
    return BlockStructure(
        names=list(names),
        sizes=sizes,
        abs_max=abs_max,
        abs_mean=abs_mean,
        zero=zero,
        zero_fraction=float(zero.double().mean()),
        zero_entry_fraction=float((absh == 0).double().mean()),
        exact_zero=exact_zero,
        exact_zero_fraction=float(exact_zero.double().mean()),
        rel_max=rel_max,
        scale=scale,
        threshold=float(threshold),
        largest_zero_rel=float(counted.max()) if counted.numel() else 0.0,
        smallest_nonzero_rel=float(alive.min()) if alive.numel() else float("inf"),
    )
