"""Hessian-vector products of the mean training loss over a data set held in chunks.

The loss is the mean over all N examples, ``L = (1/N) sum_i l_i``. The data come as an iterable of
``(x, y)`` chunks and ``loss_fn(model(x), y)`` must return the MEAN loss over its chunk (the
default reduction of torch's losses). Chunk contributions are weighted by the chunk size
``x.shape[0]`` and divided by N at the end, so any chunking gives the one-big-batch answer up to
float rounding, while memory stays bounded by one chunk. Each operator application re-iterates the
chunks, so they must yield the same data on every pass (no random augmentation); a one-shot
iterator is stored as a list.

The model is used in whatever mode it is in. For BatchNorm models evaluated with batch statistics
use :func:`batchnorm_batch_stats`; their statistics are then per chunk, so there chunking changes
the function being differentiated.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from initlab import hooks

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
# One chunk's contribution: (x, y, v split per parameter) -> per-parameter SUMS over the chunk.
ChunkProduct = Callable[[Tensor, Tensor, list[Tensor]], list[Tensor]]


def flatten(tensors: Sequence[Tensor | None], like: Sequence[Tensor] | None = None) -> Tensor:
    """Concatenate tensors into one flat vector; a None entry becomes zeros shaped like ``like``."""
    parts = []
    for i, t in enumerate(tensors):
        if t is None:
            if like is None:
                raise ValueError("a None entry needs `like` to know its shape")
            t = torch.zeros_like(like[i])
        parts.append(t.reshape(-1))
    return torch.cat(parts)


def unflatten(vec: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
    """Split a flat vector into tensors shaped (and typed, placed) like ``like``."""
    n = num_elements(like)
    if vec.numel() != n:
        raise ValueError(f"vector has {vec.numel()} entries, parameters have {n}")
    out, start = [], 0
    for p in like:
        k = p.numel()
        out.append(vec[start : start + k].view_as(p).to(dtype=p.dtype, device=p.device))
        start += k
    return out


def num_elements(tensors: Iterable[Tensor]) -> int:
    return sum(t.numel() for t in tensors)


def trainable_params(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def _reiterable(batches: Iterable[Batch]) -> Iterable[Batch]:
    """A one-shot iterator is materialised once; lists and DataLoaders are re-iterated per pass."""
    if isinstance(batches, Iterator):
        return list(batches)
    return batches


def _grads(output: Tensor, inputs: Sequence[Tensor], **kwargs) -> list[Tensor]:
    """``torch.autograd.grad`` with zeros (not None) for inputs the output does not depend on."""
    if not output.requires_grad:
        return [torch.zeros_like(t) for t in inputs]
    gs = torch.autograd.grad(output, inputs, allow_unused=True, **kwargs)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, gs, strict=True)]


class ChunkedOperator:
    """Linear operator ``v -> (1/N) sum_chunks chunk_product(x, y, v)`` on flat vectors.

    ``calls`` counts operator applications (each one a full pass over the data).
    """

    def __init__(
        self, chunk_product: ChunkProduct, batches: Iterable[Batch], params: Sequence[Tensor]
    ):
        self.chunk_product = chunk_product
        self.batches = _reiterable(batches)
        self.params = list(params)
        if not self.params:
            raise ValueError("no parameters to differentiate")
        self.n = num_elements(self.params)
        self.dtype = self.params[0].dtype
        self.device = self.params[0].device
        self.calls = 0

    def __call__(self, v: Tensor) -> Tensor:
        began = time.perf_counter()
        vs = unflatten(v.to(dtype=self.dtype, device=self.device), self.params)
        total = [torch.zeros_like(p) for p in self.params]
        count = 0
        for x, y in self.batches:
            for acc, part in zip(total, self.chunk_product(x, y, vs), strict=True):
                acc.add_(part.detach())
            count += x.shape[0]
        if count == 0:
            raise ValueError("no data: the batches iterable is empty")
        self.calls += 1
        hooks.emit("timed", seconds=time.perf_counter() - began)  # initlab.meter: s/step
        return flatten(total) / count


def param_names(model: nn.Module, params: Sequence[Tensor]) -> list[str]:
    """The names under which ``model`` holds ``params`` (for ``torch.func.functional_call``)."""
    by_id = {id(p): name for name, p in model.named_parameters()}
    missing = [i for i, p in enumerate(params) if id(p) not in by_id]
    if missing:
        raise ValueError(f"params at positions {missing} are not parameters of the model")
    return [by_id[id(p)] for p in params]


def loss_hvp(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    params: Sequence[Tensor] | None = None,
    *,
    method: str = "double_backward",
) -> ChunkedOperator:
    """The Hessian of the mean loss w.r.t. ``params`` as a matvec ``v -> H v`` on flat vectors.

    ``method="double_backward"`` (default): per chunk g = dL_chunk/dtheta with a graph, then
    d(g . v)/dtheta; works for any module with double backward.
    ``method="forward_over_reverse"``: ``torch.func.jvp`` of ``torch.func.grad`` over
    ``functional_call``; typically ~1.5-2x faster, but needs forward-mode AD for every op and no
    in-place buffer updates (BatchNorm only inside :func:`batchnorm_batch_stats` or eval mode).
    ``method="cached_graph"``: double backward, but each chunk's gradient graph is built on the
    first product and kept, so every later product is one backward pass through it (no forward,
    no first backward). Fastest for repeated products; memory grows with the number of chunks
    (every chunk's graph is held), and the parameters must not change while the operator lives.
    ``params`` defaults to the model's parameters that require grad (flattening order).
    """
    params = trainable_params(model) if params is None else list(params)
    if method == "cached_graph":
        batches = list(batches)  # held, so the same chunk tensors (and ids) come every pass
        graphs: dict[int, list[Tensor]] = {}

        def chunk_hvp(x: Tensor, y: Tensor, vs: list[Tensor]) -> list[Tensor]:
            key = id(x)
            if key not in graphs:
                loss = loss_fn(model(x), y) * x.shape[0]
                graphs[key] = _grads(loss, params, create_graph=True)
            grads = graphs[key]
            dot = sum((g * v).sum() for g, v in zip(grads, vs, strict=True))
            return _grads(dot, params, retain_graph=True)

    elif method == "double_backward":

        def chunk_hvp(x: Tensor, y: Tensor, vs: list[Tensor]) -> list[Tensor]:
            loss = loss_fn(model(x), y) * x.shape[0]
            grads = _grads(loss, params, create_graph=True)
            dot = sum((g * v).sum() for g, v in zip(grads, vs, strict=True))
            return _grads(dot, params)

    elif method == "forward_over_reverse":
        names = param_names(model, params)
        primals = tuple(p.detach() for p in params)

        def chunk_hvp(x: Tensor, y: Tensor, vs: list[Tensor]) -> list[Tensor]:
            def chunk_loss(theta: tuple[Tensor, ...]) -> Tensor:
                values = dict(zip(names, theta, strict=True))
                # tie_weights=False: see initlab.analysis.dense (modules under two paths)
                out = functional_call(model, values, (x,), tie_weights=False)
                return loss_fn(out, y) * x.shape[0]

            _, hv = torch.func.jvp(torch.func.grad(chunk_loss), (primals,), (tuple(vs),))
            return list(hv)

    else:
        raise ValueError(f"unknown method {method!r}")
    return ChunkedOperator(chunk_hvp, batches, params)


def full_gradient(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[Batch],
    params: Sequence[Tensor] | None = None,
) -> tuple[Tensor, float]:
    """The mean loss over all chunks and its flat gradient w.r.t. ``params``: ``(grad, loss)``."""
    params = trainable_params(model) if params is None else list(params)
    total = [torch.zeros_like(p) for p in params]
    loss_sum, count = 0.0, 0
    for x, y in _reiterable(batches):
        loss = loss_fn(model(x), y) * x.shape[0]
        for acc, g in zip(total, _grads(loss, params), strict=True):
            acc.add_(g)
        loss_sum += float(loss.detach())
        count += x.shape[0]
    if count == 0:
        raise ValueError("no data: the batches iterable is empty")
    return flatten(total) / count, loss_sum / count


@contextlib.contextmanager
def batchnorm_batch_stats(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluate with batch statistics in BatchNorm layers and leave their running stats untouched.

    Inside the block the model is in eval mode (no dropout) except BatchNorm layers, which run in
    train mode with ``track_running_stats`` off, so they normalise by the current batch and update
    nothing. Modes and flags are restored on exit.
    """
    saved = [(m, m.training, getattr(m, "track_running_stats", None)) for m in model.modules()]
    try:
        model.eval()
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
                m.track_running_stats = False
        yield model
    finally:
        for m, training, track in saved:
            m.training = training
            if track is not None:
                m.track_running_stats = track
