"""Dense Hessians of tiny models and their block structure by parameter tensor (claim A3).

Built with ``torch.autograd.functional.hessian`` over ``torch.func.functional_call``, so it is an
implementation independent of the Hessian-vector products in :mod:`initlab.analysis.hvp` and can
check them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
) -> Tensor:
    """The n x n Hessian of the mean loss over all chunks w.r.t. ``params`` (flattening order of
    :func:`initlab.analysis.hvp.flatten`). Memory n^2: for tiny models only."""
    params = trainable_params(model) if params is None else list(params)
    names = param_names(model, params)
    theta0 = flatten([p.detach() for p in params])
    total = torch.zeros(theta0.numel(), theta0.numel(), dtype=theta0.dtype, device=theta0.device)
    count = 0
    for x, y in _reiterable(batches):

        def chunk_loss(theta: Tensor, x: Tensor = x, y: Tensor = y) -> Tensor:
            values = dict(zip(names, unflatten(theta, params), strict=True))
            # tie_weights=False: with a module registered under two paths (ResidualBranch's
            # weight layers), tying makes functional_call leave plain tensors in the model
            out = functional_call(model, values, (x,), tie_weights=False)
            return loss_fn(out, y) * x.shape[0]

        total += torch.autograd.functional.hessian(chunk_loss, theta0)
        count += x.shape[0]
    if count == 0:
        raise ValueError("no data: the batches iterable is empty")
    return total / count


@dataclass(frozen=True)
class BlockStructure:
    """Per (row tensor, column tensor) block summaries of |H|, T x T for T parameter tensors.

    ``zero[a, b]`` is True when every entry of the block is exactly 0; ``zero_fraction`` is the
    fraction of the T^2 blocks that are, and ``zero_entry_fraction`` the fraction of all n^2
    entries that are exactly 0.
    """

    names: list[str]
    sizes: list[int]
    abs_max: Tensor
    abs_mean: Tensor
    zero: Tensor
    zero_fraction: float
    zero_entry_fraction: float


def block_structure(
    H: Tensor, param_shapes: Sequence[Sequence[int]], names: Sequence[str]
) -> BlockStructure:
    """Summarise a dense Hessian by blocks, one per pair of parameter tensors (in flatten order)."""
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
    zero = abs_max == 0
    return BlockStructure(
        names=list(names),
        sizes=sizes,
        abs_max=abs_max,
        abs_mean=abs_mean,
        zero=zero,
        zero_fraction=float(zero.double().mean()),
        zero_entry_fraction=float((absh == 0).double().mean()),
    )
