"""Lanczos with full re-orthogonalization for the extreme eigenvalues of a symmetric operator.

Unlike power iteration, which converges to the eigenvalue of largest MAGNITUDE (a large negative
one at Fixup initialization), Lanczos approximates both ends of the spectrum at once.

Every new Lanczos vector is orthogonalised against all previous ones twice (classical
Gram-Schmidt, twice is enough), so the basis stays orthonormal to rounding and no spurious copies
of converged eigenvalues appear. Memory is ``max_iter`` vectors of size n.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

MatVec = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class LanczosResult:
    """Extreme Ritz values and their residual norms ``||A y - theta y||`` (unit Ritz vectors y).

    ``top`` is descending (``top[0]`` ~ lambda_max), ``bottom`` ascending (``bottom[0]`` ~
    lambda_min); a side that was not requested is empty. ``ritz_values`` holds all Ritz values of
    the last step (ascending). ``matvecs`` counts operator applications; ``restarts`` counts
    breakdowns (invariant subspace found) after which a fresh orthogonal start vector was drawn.
    """

    top: Tensor
    bottom: Tensor
    top_residuals: Tensor
    bottom_residuals: Tensor
    ritz_values: Tensor
    iterations: int
    matvecs: int
    converged: bool
    restarts: int
    top_vectors: Tensor | None = None
    bottom_vectors: Tensor | None = None


def _orthogonalize(w: Tensor, basis: Tensor) -> Tensor:
    if basis.shape[0] == 0:
        return w
    for _ in range(2):
        w = w - basis.T @ (basis @ w)
    return w


def _random_unit(
    n: int, generator: torch.Generator, dtype: torch.dtype, device: torch.device, basis: Tensor
) -> Tensor | None:
    """A random unit vector orthogonal to ``basis``, or None when the basis spans R^n."""
    if basis.shape[0] >= n:
        return None
    r = torch.randn(n, generator=generator, dtype=torch.float64).to(dtype=dtype, device=device)
    r = _orthogonalize(r / r.norm(), basis)
    norm = float(r.norm())
    if norm <= 1e-6:  # numerically inside the span (only possible when the basis is nearly full)
        return None
    return r / norm


def lanczos(
    matvec: MatVec,
    n: int,
    k: int = 1,
    *,
    which: str = "both",
    tol: float = 1e-6,
    max_iter: int = 200,
    zero_scale: float = 1e-3,
    seed: int = 0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    return_vectors: bool = False,
    resume: dict | None = None,
    snapshot: Callable[[dict], None] | None = None,
) -> LanczosResult:
    """The ``k`` largest and/or smallest eigenvalues of the symmetric operator ``matvec`` on R^n.

    Stopping rule: after each step the Ritz pairs (theta_j, y_j) of the tridiagonal T_m are
    formed, with residual ``r_j = ||A y_j - theta_j y_j|| = beta_m |s_{m,j}|`` (exact up to
    rounding thanks to full re-orthogonalization). The run stops once every requested Ritz value
    satisfies ``r_j <= tol * max(|theta_j|, zero_scale * ||T_m||_2)``, i.e. the relative
    residual ``r_j / |theta_j|`` is below ``tol``, measured against ``zero_scale`` times the
    largest Ritz magnitude when theta_j is near zero. For a symmetric operator some eigenvalue
    then lies within ``r_j`` of theta_j, so the reported value has relative error at most ``tol``
    (and typically ~ r_j^2 / gap, much less). Otherwise it stops after ``max_iter`` steps
    (``converged`` False) or when the Krylov space fills R^n.

    Breakdown: if ``beta_m`` falls to rounding level (``100 eps ||T_m||``) the Krylov space is
    invariant (e.g. a Hessian with many exact zeros); the coupling is set to zero and Lanczos
    continues from a fresh random vector orthogonal to all previous ones if the requested Ritz
    values are not yet all converged (e.g. fewer than k of them exist). Lanczos approximates
    distinct eigenvalues: with k > 1 a repeated eigenvalue may be reported once, the next entry
    being the next distinct eigenvalue.

    ``dtype``/``device`` of the work vectors default to ``matvec.dtype``/``matvec.device`` when the
    operator has them (as :class:`initlab.analysis.hvp.ChunkedOperator` does), else float64/CPU.
    The start vector is drawn on the CPU from ``generator`` (or ``torch.Generator().manual_seed(
    seed)``), so runs are deterministic given the seed.

    Resume: after every step that goes on, ``snapshot`` (if given) receives the state of the run
    (basis so far, tridiagonal, next vector, generator state; no copies: write it or drop it);
    ``lanczos(..., resume=that_state)`` continues from it with the numbers of an uninterrupted
    run.
    """
    if which not in ("both", "largest", "smallest"):
        raise ValueError(f"which must be 'both', 'largest' or 'smallest', not {which!r}")
    if n < 1 or k < 1 or max_iter < 1:
        raise ValueError("need n >= 1, k >= 1 and max_iter >= 1")
    dtype = dtype or getattr(matvec, "dtype", torch.float64)
    device = torch.device(device or getattr(matvec, "device", "cpu"))
    if generator is None:
        generator = torch.Generator().manual_seed(seed)
    eps = torch.finfo(dtype).eps
    max_iter = min(max_iter, n)
    want_top = which in ("both", "largest")
    want_bottom = which in ("both", "smallest")

    basis = torch.empty(max_iter, n, dtype=dtype, device=device)
    alphas: list[float] = []
    betas: list[float] = []  # betas[j] couples q_j and q_{j+1}; the last one is the residual
    norm_est, restarts, converged = 0.0, 0, False
    if resume is None:
        q = _random_unit(n, generator, dtype, device, basis[:0])
        assert q is not None
        m = 0
    else:
        m = int(resume["m"])
        basis[:m] = resume["basis"].to(dtype=dtype, device=device)
        alphas, betas = list(resume["alphas"]), list(resume["betas"])
        norm_est, restarts = float(resume["norm_est"]), int(resume["restarts"])
        q = resume["q"].to(dtype=dtype, device=device)
        generator.set_state(resume["generator"])
    from initlab.tracking import Progress

    progress = Progress(max_iter, "lanczos", unit="matvec", bound=True)
    if m:
        progress.update(m, "resumed")
    while m < max_iter:
        basis[m] = q
        w = matvec(q).to(dtype=dtype, device=device)
        alpha = float(q @ w)
        w = _orthogonalize(w, basis[: m + 1])
        beta = float(w.norm())
        m += 1
        norm_est = max(norm_est, abs(alpha), beta)
        broke = beta <= 100 * eps * norm_est
        alphas.append(alpha)
        betas.append(0.0 if broke else beta)

        theta, s = _tridiag_eig(alphas, betas)
        residuals = abs(betas[-1]) * s[-1].abs()
        converged = _done(theta, residuals, k, tol, zero_scale, want_top, want_bottom)
        progress.update(1, f"Ritz values {float(theta[0]):.4g}..{float(theta[-1]):.4g}")
        if converged or m == max_iter:
            break
        if broke:
            restarts += 1
            nxt = _random_unit(n, generator, dtype, device, basis[:m])
            if nxt is None:
                converged = True  # the Krylov spaces span R^n: T_m holds the whole spectrum
                break
            q = nxt
        else:
            q = w / beta
        if snapshot is not None:
            snapshot(
                {
                    "m": m,
                    "basis": basis[:m],
                    "alphas": alphas,
                    "betas": betas,
                    "q": q,
                    "norm_est": norm_est,
                    "restarts": restarts,
                    "generator": generator.get_state(),
                }  # fmt: skip
            )

    progress.close()
    kk = min(k, m)
    top_idx = torch.arange(m - 1, m - 1 - kk, -1) if want_top else torch.arange(0)
    bot_idx = torch.arange(0, kk) if want_bottom else torch.arange(0)

    def vectors(idx: Tensor) -> Tensor | None:
        if not return_vectors:
            return None
        return basis[:m].T @ s[:, idx].to(dtype=dtype, device=device)

    return LanczosResult(
        top=theta[top_idx],
        bottom=theta[bot_idx],
        top_residuals=residuals[top_idx],
        bottom_residuals=residuals[bot_idx],
        ritz_values=theta,
        iterations=m,
        matvecs=m,
        converged=converged,
        restarts=restarts,
        top_vectors=vectors(top_idx),
        bottom_vectors=vectors(bot_idx),
    )


def _tridiag_eig(alphas: list[float], betas: list[float]) -> tuple[Tensor, Tensor]:
    """Eigenpairs (ascending) of the symmetric tridiagonal T with diagonal ``alphas``."""
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if len(alphas) > 1:
        off = torch.tensor(betas[: len(alphas) - 1], dtype=torch.float64)
        t = t + torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigh(t)


def _done(
    theta: Tensor,
    residuals: Tensor,
    k: int,
    tol: float,
    zero_scale: float,
    want_top: bool,
    want_bottom: bool,
) -> bool:
    m = theta.shape[0]
    if m < k:
        return False
    scale = torch.clamp(theta.abs(), min=zero_scale * float(theta.abs().max()))
    ok = residuals <= tol * scale
    return (not want_top or bool(ok[m - k :].all())) and (not want_bottom or bool(ok[:k].all()))


def ritz_residuals(matvec: MatVec, values: Tensor, vectors: Tensor) -> Tensor:
    """Explicit ``||A y_j - theta_j y_j||`` for Ritz vectors stored as the columns of ``vectors``
    (costs one matvec per column; a check on the residuals Lanczos estimates for free)."""
    out = []
    for j in range(vectors.shape[1]):
        y = vectors[:, j]
        ay = matvec(y).to(y)
        out.append(float((ay - float(values[j]) * y).norm()))
    return torch.tensor(out, dtype=torch.float64)
