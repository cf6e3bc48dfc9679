"""Mean-field maps of the correlation between two inputs through deep ReLU networks.

Infinite-width limit, zero biases. A weight layer with entries of variance ``sigma2 / fan_in``
(He: ``sigma2 = 2``) maps two vectors with per-unit second moments ``q, q'`` and cosine ``c`` to
jointly Gaussian pre-activations ``u, u'`` with variances ``sigma2 q, sigma2 q'`` and correlation
``c``. For ReLU (Cho & Saul's degree-1 arc-cosine kernel)

    E[relu(u) relu(u')] = sigma2 sqrt(q q') / 2 * f(c),
    f(c) = (sqrt(1 - c^2) + (pi - arccos c) c) / pi,          f(1) = 1, f(0) = 1 / pi.

**MLP** (Linear -> ReLU, per layer): the cosine of the hidden vectors follows ``c_l = f(c_{l-1})``
whatever the weight variance. Near c = 1, with angle theta: theta_l ~ theta_{l-1} -
theta^2 / (3 pi), so the angle decays like 3 pi / l (a power law), not exponentially.

**ResNet** ``x_{l+1} = x_l + W2 relu(W1 x_l)``: the branch output is uncorrelated with ``x_l``
(``W2`` has zero mean), so second moments and covariances add. With weight gains ``s1, s2``
(``Var = s / fan_in``) and ``gamma = s1 s2 / 2``:

- ``plain``: q <- q (1 + gamma); k <- k + gamma sqrt(q q') f(c). Norms grow like (1 + gamma)^l
  and c <- (c + gamma f(c)) / (1 + gamma), independent of the norms.
- ``normalized``: the branch sees x / sqrt(q) (a per-example normalization of its input):
  q <- q + gamma; k <- k + gamma f(c). The branch's share shrinks like 1 / l, so the angle
  decays only like 3 pi / log l.
- ``layernorm``: LayerNorm before both weight layers (initlab's ``resnet`` with ``norm=layer``).
  The second LayerNorm centres the ReLU output per example (its mean over units is
  sqrt(s1 / (2 pi)), its variance s1 (pi - 1) / (2 pi)), giving the centred kernel
  g(c) = (pi f(c) - 1) / (pi - 1); q <- q + s2; k <- k + s2 g(c). Here c = 1 repels
  (g'(1) = pi / (pi - 1) > 1) and c = 0 attracts: correlations drift towards 0.

True BatchNorm (statistics over a batch) couples the examples of the batch: no closed form; its
mean-field batch recursion is computed by Monte Carlo in :mod:`initlab.theory.batchnorm`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

RESIDUAL_MODES = ("plain", "normalized", "layernorm")


def relu_correlation(c: ArrayLike) -> np.ndarray:
    """f(c): cosine of relu(u), relu(u') for unit-variance Gaussians u, u' of correlation c."""
    c = np.clip(np.asarray(c, dtype=float), -1.0, 1.0)
    return (np.sqrt(1.0 - c**2) + (np.pi - np.arccos(c)) * c) / np.pi


def centered_relu_correlation(c: ArrayLike) -> np.ndarray:
    """g(c): the same after subtracting relu's mean, (pi f(c) - 1) / (pi - 1)."""
    return (np.pi * relu_correlation(c) - 1.0) / (np.pi - 1.0)


def mlp_correlations(c0: ArrayLike, depth: int) -> np.ndarray:
    """Cosines c_0..c_depth (axis 0) of an He/ReLU MLP's hidden vectors, from input cosine c0."""
    c = np.asarray(c0, dtype=float)
    out = [c]
    for _ in range(depth):
        c = relu_correlation(c)
        out.append(c)
    return np.stack(out)


def _per_block(value: ArrayLike, depth: int) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=float), (depth,))
    return np.array(arr)


def resnet_recursion(
    c0: ArrayLike,
    q0: ArrayLike,
    q0_other: ArrayLike | None = None,
    *,
    depth: int,
    gain1: ArrayLike = 2.0,
    gain2: ArrayLike = 2.0,
    mode: str = "plain",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine and per-unit second moments (q, q') of two inputs after each residual block.

    ``c0, q0, q0_other``: the cosine and second moments of x_0 (the stem's output); arrays
    broadcast together. ``gain1, gain2``: the branch weights' gains fan_in * Var(W) (He: 2), a
    scalar or one per block. Returns (c, q, q') with axis 0 the block index 0..depth.
    """
    if mode not in RESIDUAL_MODES:
        raise ValueError(f"mode must be one of {RESIDUAL_MODES}, got {mode!r}")
    q0_other = q0 if q0_other is None else q0_other
    c, q, qo = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (c0, q0, q0_other)))
    s1, s2 = _per_block(gain1, depth), _per_block(gain2, depth)
    k = c * np.sqrt(q * qo)
    cs, qs, qos = [c], [q], [qo]
    for block in range(depth):
        gamma = s1[block] * s2[block] / 2.0
        if mode == "plain":  # c' = (c + gamma f(c)) / (1 + gamma) whatever the norms
            c = (c + gamma * relu_correlation(c)) / (1.0 + gamma)
            q, qo = q * (1.0 + gamma), qo * (1.0 + gamma)
            k = c * np.sqrt(q) * np.sqrt(qo)  # inf once q overflows (3^l), c stays finite
        elif mode == "normalized":
            k = k + gamma * relu_correlation(c)
            q, qo = q + gamma, qo + gamma
        else:
            k = k + s2[block] * centered_relu_correlation(c)
            q, qo = q + s2[block], qo + s2[block]
        if mode != "plain":
            c = np.clip(k / np.sqrt(q * qo), -1.0, 1.0)
        cs.append(np.clip(c, -1.0, 1.0))
        qs.append(q)
        qos.append(qo)
    return np.stack(cs), np.stack(qs), np.stack(qos)


def angle(c: ArrayLike) -> np.ndarray:
    """Angle in radians for a cosine (clipped to [-1, 1])."""
    return np.arccos(np.clip(np.asarray(c, dtype=float), -1.0, 1.0))
