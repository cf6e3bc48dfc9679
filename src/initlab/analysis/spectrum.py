"""Trace and spectral density of a symmetric operator from matrix-vector products alone.

* :func:`hutchinson_trace`: tr(A) ~ mean_i z_i^T A z_i over Rademacher probes z_i (E[z z^T] = I),
  with the standard error std_i(z_i^T A z_i) / sqrt(m) of that mean.
* :func:`slq`: stochastic Lanczos quadrature (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao
  2019). From a random unit start vector v, k Lanczos steps give a k x k tridiagonal T; its
  eigenvalues theta_j (nodes) and the squared first components tau_j of its eigenvectors
  (weights, summing to 1) are the k-point Gauss quadrature of the spectral measure
  mu_v = sum_i (v . u_i)^2 delta(lambda_i), exact for polynomials of degree <= 2k - 1:
  sum_j tau_j theta_j^p = v^T A^p v. Averaged over probes, E[v^T A^p v] = tr(A^p) / n for v
  uniform on the sphere, so the probe average of the quadratures estimates the normalized
  spectral density, whose p-th moment is tr(A^p) / n.
* :func:`select_parameters`: the parameters whose names match glob patterns (a layer, a block,
  the biases), to restrict any of these to the Hessian's diagonal block of a parameter subset.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

MatVec = Callable[[Tensor], Tensor]


def select_parameters(model: nn.Module, patterns: Sequence[str]) -> tuple[list[str], list[Tensor]]:
    """(names, tensors) of the trainable parameters matching any glob in ``patterns`` (e.g.
    ``blocks.0.*``, ``*.bias``, ``classifier.weight``); no patterns: every trainable one."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if patterns:
        named = [(n, p) for n, p in named if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]
    if not named:
        some = ", ".join(n for n, _ in list(model.named_parameters())[:6])
        raise ValueError(f"no parameter matches {list(patterns)}; names look like: {some}, ...")
    return [n for n, _ in named], [p for _, p in named]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


@dataclass(frozen=True)
class TraceEstimate:
    value: float
    stderr: float
    probes: int
    samples: tuple[float, ...]  # z_i^T A z_i


def hutchinson_trace(
    matvec: MatVec,
    n: int,
    probes: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> TraceEstimate:
    """Hutchinson's estimate of tr(A) with Rademacher probes and its standard error."""
    if probes < 2:
        raise ValueError("hutchinson_trace needs at least 2 probes (for a standard error)")
    gen = _generator(seed)
    samples = []
    for _ in range(probes):
        z = (torch.randint(0, 2, (n,), generator=gen, dtype=torch.float64) * 2 - 1).to(dtype)
        z = z.to(device)
        samples.append(float(z.double() @ matvec(z).double()))
    arr = np.array(samples)
    return TraceEstimate(
        float(arr.mean()), float(arr.std(ddof=1) / np.sqrt(probes)), probes, tuple(samples)
    )


def lanczos_tridiagonal(matvec: MatVec, v0: Tensor, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta) of ``steps`` Lanczos steps from ``v0`` with full re-orthogonalization; stops
    early (shorter arrays) when an invariant subspace is found."""
    v = v0 / v0.norm()
    basis = [v]
    alphas, betas = [], []
    for step in range(steps):
        w = matvec(v)
        alpha = float(w.double() @ v.double())
        alphas.append(alpha)
        stacked = torch.stack(basis)
        for _ in range(2):  # classical Gram-Schmidt twice
            w = w - stacked.T @ (stacked @ w)
        beta = float(w.norm())
        if step == steps - 1 or beta <= 1e-10 * max(1.0, abs(alpha)):
            break
        betas.append(beta)
        v = w / beta
        basis.append(v)
    return np.array(alphas), np.array(betas)


@dataclass(frozen=True)
class SpectralDensity:
    """Gauss quadrature nodes and weights per probe (rows; shorter ones padded with weight 0)."""

    nodes: np.ndarray  # (probes, steps)
    weights: np.ndarray  # (probes, steps), each row sums to 1

    def moment(self, power: int) -> float:
        """Estimate of tr(A^power) / n."""
        return float((self.weights * self.nodes**power).sum(axis=1).mean())

    def moment_stderr(self, power: int) -> float:
        per_probe = (self.weights * self.nodes**power).sum(axis=1)
        if len(per_probe) < 2:
            return float("inf")
        return float(per_probe.std(ddof=1) / np.sqrt(len(per_probe)))

    def density(self, grid: np.ndarray, sigma: float) -> np.ndarray:
        """The probe-averaged quadrature smoothed with Gaussians of width ``sigma``."""
        grid = np.asarray(grid, dtype=float)
        diff = grid[:, None, None] - self.nodes[None]
        kernel = np.exp(-0.5 * (diff / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
        return (kernel * self.weights[None]).sum(axis=2).mean(axis=1)


def slq(
    matvec: MatVec,
    n: int,
    probes: int,
    steps: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> SpectralDensity:
    """Stochastic Lanczos quadrature with ``probes`` Gaussian start vectors of ``steps`` steps."""
    if probes < 1 or steps < 1:
        raise ValueError("slq needs probes >= 1 and steps >= 1")
    gen = _generator(seed)
    steps = min(steps, n)
    nodes, weights = np.zeros((probes, steps)), np.zeros((probes, steps))
    for i in range(probes):
        v0 = torch.randn(n, generator=gen, dtype=torch.float64).to(dtype).to(device)
        alpha, beta = lanczos_tridiagonal(matvec, v0, steps)
        tri = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
        theta, vectors = np.linalg.eigh(tri)
        k = len(theta)
        nodes[i, :k], weights[i, :k] = theta, vectors[0] ** 2
        if k < steps:
            nodes[i, k:] = theta[-1]
    return SpectralDensity(nodes, weights)
