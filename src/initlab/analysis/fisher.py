"""Fisher-vector products for classifiers whose ``model(x)`` returns logits (softmax outputs).

Both operators have the form ``F v = (1/N) sum_chunks J^T M J v`` and are computed per chunk
without forming J: ``J v`` by the double-backward trick (the vjp ``u -> J^T u`` is linear in u,
so differentiating ``(J^T u) . v`` w.r.t. u gives ``J v``), then one vjp for ``J^T (M J v)``.

* True Fisher: J is the Jacobian of the logits z_i, and ``M_i = diag(p_i) - p_i p_i^T`` with
  p_i = softmax(z_i). This is the exact expectation ``E_{y ~ p_i}[g_i g_i^T]`` (no label
  sampling) and equals the generalized Gauss-Newton matrix of the cross-entropy loss.
* Gaussian-output Fisher: M = I, ``(1/N) sum_i J_i^T J_i`` with J_i the Jacobian of example i's
  logits: the Fisher of a model whose outputs are the mean of a unit-variance Gaussian (the
  generalized Gauss-Newton of the squared error), the matrix analyses of the Fisher at random
  weights study. It does not depend on the labels nor on the softmax, so it stays non-zero where
  a saturated softmax makes the true Fisher vanish.
* Empirical Fisher: ``(1/N) sum_i g_i g_i^T`` with g_i the gradient of the cross-entropy at the
  true label. Here J is the Jacobian of the vector of per-example losses and M = I, so
  ``sum_i g_i (g_i . v)`` costs two passes, without storing per-example gradients.

For BatchNorm models in batch-statistics mode the examples of a chunk interact; "per example"
then means the derivative of l_i through the whole chunk's forward pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from initlab.analysis.hvp import Batch, ChunkedOperator, _grads, trainable_params


def _jvp(out: Tensor, params: Sequence[Tensor], vs: Sequence[Tensor]) -> Tensor:
    """``J v`` for J = d out / d params, by differentiating the (linear in u) vjp w.r.t. u."""
    u = torch.zeros_like(out, requires_grad=True)
    jtu = _grads(out, params, grad_outputs=u, create_graph=True)
    dot = sum((g * v).sum() for g, v in zip(jtu, vs, strict=True))
    if not dot.requires_grad:  # out does not depend on params at all
        return torch.zeros_like(out)
    (jv,) = torch.autograd.grad(dot, u, retain_graph=True)  # the forward graph is reused
    return jv


def true_fisher(
    model: nn.Module, batches: Iterable[Batch], params: Sequence[Tensor] | None = None
) -> ChunkedOperator:
    """Matvec of the true Fisher = GGN of cross-entropy: ``(1/N) sum_i J_i^T (diag p_i - p_i
    p_i^T) J_i v``, J_i the Jacobian of example i's logits w.r.t. ``params``."""
    params = trainable_params(model) if params is None else list(params)

    def chunk_product(x: Tensor, y: Tensor, vs: list[Tensor]) -> list[Tensor]:
        logits = model(x)
        jv = _jvp(logits, params, vs)
        p = torch.softmax(logits.detach(), dim=-1)
        mjv = p * jv - p * (p * jv).sum(dim=-1, keepdim=True)
        return _grads(logits, params, grad_outputs=mjv)

    return ChunkedOperator(chunk_product, batches, params)


def gauss_fisher(
    model: nn.Module, batches: Iterable[Batch], params: Sequence[Tensor] | None = None
) -> ChunkedOperator:
    """Matvec of the Gaussian-output Fisher ``(1/N) sum_i J_i^T J_i v``, J_i the Jacobian of
    example i's logits (model outputs) w.r.t. ``params``."""
    params = trainable_params(model) if params is None else list(params)

    def chunk_product(x: Tensor, y: Tensor, vs: list[Tensor]) -> list[Tensor]:  # noqa: ARG001
        logits = model(x)
        jv = _jvp(logits, params, vs)
        return _grads(logits, params, grad_outputs=jv.detach())

    return ChunkedOperator(chunk_product, batches, params)


def empirical_fisher(
    model: nn.Module, batches: Iterable[Batch], params: Sequence[Tensor] | None = None
) -> ChunkedOperator:
    """Matvec of the empirical Fisher ``(1/N) sum_i g_i g_i^T v`` with g_i the gradient of the
    cross-entropy of example i at its true label ``y_i`` (integer class indices)."""
    params = trainable_params(model) if params is None else list(params)

    def chunk_product(x: Tensor, y: Tensor, vs: list[Tensor]) -> list[Tensor]:
        losses = F.cross_entropy(model(x), y, reduction="none")
        gv = _jvp(losses, params, vs)  # g_i . v for every example
        return _grads(losses, params, grad_outputs=gv)

    return ChunkedOperator(chunk_product, batches, params)
