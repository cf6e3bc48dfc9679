"""SELU theory of Klambauer et al. (2017), "Self-Normalizing Neural Networks", as pure functions.

Notation (the paper's). A unit receives ``n`` inputs with mean ``mu`` and variance ``nu`` through
weights with sum ``omega = sum_i w_i`` and squared sum ``tau = sum_i w_i^2``. Under the central
limit theorem its pre-activation is

    z ~ N(m, v),   m = mu * omega,   v = nu * tau,   s = sqrt(v),

and the layer maps the input moments to the output moments of ``selu(z)``:

    g: (mu, nu) -> (mu_tilde, nu_tilde),   mu_tilde = E[selu(z)],
                                           nu_tilde = E[selu(z)^2] - mu_tilde^2.

Closed form. With ``Phi`` the standard normal CDF, ``Phi(x) = erfc(-x / sqrt(2)) / 2``, and
``E_k = E[exp(k z) 1{z < 0}]``, completing the square gives

    E_k = exp(k m + k^2 v / 2) Phi(-(m + k v) / s)
        = exp(k m + k^2 v / 2) erfc((m + k v) / sqrt(2 v)) / 2                      (k = 0, 1, 2)

and the truncated moments of the positive part are

    E[z 1{z > 0}]   = m Phi(m / s) + s phi(m / s),
    E[z^2 1{z > 0}] = (m^2 + v) Phi(m / s) + m s phi(m / s),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi).

Hence, since selu(z) = lam z on z > 0 and lam alpha (exp(z) - 1) on z < 0,

    mu_tilde = lam (E[z 1{z>0}] + alpha (E_1 - E_0)),
    xi_tilde = lam^2 (E[z^2 1{z>0}] + alpha^2 (E_2 - 2 E_1 + E_0)),
    nu_tilde = xi_tilde - mu_tilde^2.

Numerics. For large ``v`` the factor ``exp(k m + k^2 v / 2)`` overflows while the erfc underflows.
With ``x = (m + k v) / sqrt(2 v)`` one has ``k m + k^2 v / 2 - x^2 = -m^2 / (2 v)`` exactly, so for
``x > 0`` we evaluate ``E_k = exp(-m^2 / (2 v)) erfcx(x) / 2`` (``erfcx(x) = exp(x^2) erfc(x)``),
which is bounded and accurate for every ``v > 0``; for ``x <= 0`` the direct form is bounded.
The second moment of the negative part, ``E_2 - 2 E_1 + E_0``, is O(v) for small ``v`` and is
formed by cancellation, so its relative error is about ``1e-16 / v`` when ``|m|`` is small:
~1e-14 at Theorem 3's smallest pre-activation variance (0.016), checked against quadrature.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.special import erfc, erfcx

FloatArray = NDArray[np.float64]

SQRT2 = float(np.sqrt(2.0))
SQRT2PI = float(np.sqrt(2.0 * np.pi))

#: The intervals printed in the paper's Theorem 1 for the fixed points / the image of g.
PAPER_THEOREM1_MU_RANGE = (-0.03106, 0.06773)
PAPER_THEOREM1_NU_RANGE = (0.80009, 1.48617)
#: Half a unit in the last printed digit of those intervals (used when comparing with them).
PAPER_PRINT_TOL = 5e-6

#: Domains of Theorems 1-3 (closed intervals per variable).
THEOREM1_DOMAIN = {"mu": (-0.1, 0.1), "omega": (-0.1, 0.1), "nu": (0.8, 1.5), "tau": (0.95, 1.1)}
THEOREM2_DOMAIN = {"mu": (-1.0, 1.0), "omega": (-0.1, 0.1), "nu": (3.0, 16.0), "tau": (0.8, 1.25)}
THEOREM3_DOMAIN = {"mu": (-0.1, 0.1), "omega": (-0.1, 0.1), "nu": (0.02, 0.16), "tau": (0.8, 1.25)}


# ----------------------------------------------------------------------------------------------
# Activation and Gaussian integrals
# ----------------------------------------------------------------------------------------------


def selu(x: ArrayLike, lam: float, alpha: float) -> FloatArray:
    """SELU: ``lam * x`` for ``x > 0``, ``lam * alpha * (exp(x) - 1)`` for ``x <= 0``."""
    x = np.asarray(x, dtype=np.float64)
    return lam * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _gauss_exp_left(k: float, m: FloatArray, v: FloatArray) -> FloatArray:
    """``E[exp(k z) 1{z < 0}]`` for ``z ~ N(m, v)``, stable for all ``v > 0`` (module docstring).

    ``= exp(k m + k^2 v / 2) erfc(x) / 2`` with ``x = (m + k v) / sqrt(2 v)``;
    for ``x > 0`` this equals ``exp(-m^2 / (2 v)) erfcx(x) / 2``.
    """
    x = (m + k * v) / np.sqrt(2.0 * v)
    positive = x > 0
    x_pos = np.where(positive, x, 0.0)
    x_neg = np.where(positive, 0.0, x)
    log_factor = np.where(positive, 0.0, k * m + 0.5 * k * k * v)  # <= 0 where used
    via_erfcx = np.exp(-(m * m) / (2.0 * v)) * erfcx(x_pos)
    direct = np.exp(log_factor) * erfc(x_neg)
    return 0.5 * np.where(positive, via_erfcx, direct)


@dataclass(frozen=True)
class _GaussTerms:
    """Gaussian integrals of ``z ~ N(m, v)`` that g and its Jacobian are built from."""

    m: FloatArray
    v: FloatArray
    p_pos: FloatArray  # P(z > 0) = Phi(m / s)
    density0: FloatArray  # density of z at 0 = phi(m / s) / s
    z1_pos: FloatArray  # E[z 1{z > 0}]
    z2_pos: FloatArray  # E[z^2 1{z > 0}]
    e0: FloatArray  # E[1{z < 0}]
    e1: FloatArray  # E[exp(z) 1{z < 0}]
    e2: FloatArray  # E[exp(2 z) 1{z < 0}]


def _gauss_terms(mu: ArrayLike, omega: ArrayLike, nu: ArrayLike, tau: ArrayLike) -> _GaussTerms:
    """Evaluate the truncated Gaussian moments of ``z ~ N(mu omega, nu tau)``."""
    m = np.asarray(mu, dtype=np.float64) * np.asarray(omega, dtype=np.float64)
    v = np.asarray(nu, dtype=np.float64) * np.asarray(tau, dtype=np.float64)
    if np.any(v <= 0):
        raise ValueError("the pre-activation variance nu * tau must be positive")
    s = np.sqrt(v)
    p_pos = 0.5 * erfc(-m / (SQRT2 * s))
    s_phi = s / SQRT2PI * np.exp(-(m * m) / (2.0 * v))  # s * phi(m / s)
    return _GaussTerms(
        m=m,
        v=v,
        p_pos=p_pos,
        density0=s_phi / v,
        z1_pos=m * p_pos + s_phi,
        z2_pos=(m * m + v) * p_pos + m * s_phi,
        e0=0.5 * erfc(m / (SQRT2 * s)),
        e1=_gauss_exp_left(1.0, m, v),
        e2=_gauss_exp_left(2.0, m, v),
    )


@functools.lru_cache(maxsize=1)
def selu01() -> tuple[float, float]:
    """``(lambda01, alpha01)``: the solution of g(0, 1) = (0, 1) with omega = 0, tau = 1."""
    return solve_selu_parameters()


def _params(lam: float | None, alpha: float | None) -> tuple[float, float]:
    """Fill in ``lambda01`` / ``alpha01`` for parameters left as ``None``."""
    if lam is None or alpha is None:
        lam01, alpha01 = selu01()
        lam = lam01 if lam is None else lam
        alpha = alpha01 if alpha is None else alpha
    return float(lam), float(alpha)


# ----------------------------------------------------------------------------------------------
# The moment map g and its Jacobian
# ----------------------------------------------------------------------------------------------


def selu_moment_map(
    mu: ArrayLike,
    omega: ArrayLike,
    nu: ArrayLike,
    tau: ArrayLike,
    lam: float | None = None,
    alpha: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Closed-form ``(mu_tilde, xi_tilde)``: mean and SECOND moment of ``selu(z)``.

    ``z ~ N(mu omega, nu tau)``; see the module docstring for the formulas. The output variance is
    ``nu_tilde = xi_tilde - mu_tilde^2`` (:func:`selu_mean_variance`). Broadcasts over arrays;
    ``lam`` / ``alpha`` default to ``lambda01`` / ``alpha01``.
    """
    lam, alpha = _params(lam, alpha)
    t = _gauss_terms(mu, omega, nu, tau)
    mu_tilde = lam * (t.z1_pos + alpha * (t.e1 - t.e0))
    xi_tilde = lam**2 * (t.z2_pos + alpha**2 * (t.e2 - 2.0 * t.e1 + t.e0))
    return mu_tilde, xi_tilde


def selu_mean_variance(
    mu: ArrayLike,
    omega: ArrayLike,
    nu: ArrayLike,
    tau: ArrayLike,
    lam: float | None = None,
    alpha: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """The map g itself: ``(mu_tilde, nu_tilde)`` with ``nu_tilde = xi_tilde - mu_tilde^2``."""
    mu_tilde, xi_tilde = selu_moment_map(mu, omega, nu, tau, lam, alpha)
    return mu_tilde, xi_tilde - mu_tilde**2


def selu_moment_map_jacobian(
    mu: ArrayLike,
    omega: ArrayLike,
    nu: ArrayLike,
    tau: ArrayLike,
    lam: float | None = None,
    alpha: float | None = None,
) -> FloatArray:
    """Closed-form Jacobian of ``(mu, nu) -> (mu_tilde, nu_tilde)``, shape ``(..., 2, 2)``.

    Entry ``[..., i, j]`` is ``d out_i / d in_j`` with ``out = (mu_tilde, nu_tilde)`` and
    ``in = (mu, nu)``. For a Gaussian ``z ~ N(m, v)`` and a (distributional) function f,
    ``dE[f]/dm = E[f']`` and ``dE[f]/dv = E[f''] / 2`` (Price's theorem). With ``f = selu``,
    ``f'' = lam alpha e^z 1{z<0} + lam (1 - alpha) delta(z)``, so

        d mu_tilde / dm = lam (P(z>0) + alpha E_1),
        d mu_tilde / dv = lam (alpha E_1 + (1 - alpha) p_z(0)) / 2,
        d xi_tilde / dm = 2 lam^2 (E[z 1{z>0}] + alpha^2 (E_2 - E_1)),
        d xi_tilde / dv = lam^2 (P(z>0) + alpha^2 (2 E_2 - E_1)),

    (``(f^2)'`` is continuous at 0, so ``f^2`` has no delta term). Then ``m = mu omega`` and
    ``v = nu tau`` give ``d/dmu = omega d/dm``, ``d/dnu = tau d/dv``, and
    ``d nu_tilde = d xi_tilde - 2 mu_tilde d mu_tilde``.
    """
    lam, alpha = _params(lam, alpha)
    t = _gauss_terms(mu, omega, nu, tau)
    omega = np.asarray(omega, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    mu_tilde = lam * (t.z1_pos + alpha * (t.e1 - t.e0))
    dmean_dm = lam * (t.p_pos + alpha * t.e1)
    dmean_dv = 0.5 * lam * (alpha * t.e1 + (1.0 - alpha) * t.density0)
    dsecond_dm = 2.0 * lam**2 * (t.z1_pos + alpha**2 * (t.e2 - t.e1))
    dsecond_dv = lam**2 * (t.p_pos + alpha**2 * (2.0 * t.e2 - t.e1))
    dmean_dmu = omega * dmean_dm
    dmean_dnu = tau * dmean_dv
    dvar_dmu = omega * dsecond_dm - 2.0 * mu_tilde * dmean_dmu
    dvar_dnu = tau * dsecond_dv - 2.0 * mu_tilde * dmean_dnu
    row_mean = np.stack(np.broadcast_arrays(dmean_dmu, dmean_dnu), axis=-1)
    row_var = np.stack(np.broadcast_arrays(dvar_dmu, dvar_dnu), axis=-1)
    return np.stack([row_mean, row_var], axis=-2)


def spectral_norm_2x2(jac: ArrayLike) -> FloatArray:
    """Largest singular value of (a stack of) 2x2 matrices ``[[a, b], [c, d]]``.

    ``sigma_max^2 = (S + sqrt(S^2 - 4 det^2)) / 2`` with ``S = a^2 + b^2 + c^2 + d^2``.
    """
    jac = np.asarray(jac, dtype=np.float64)
    a, b = jac[..., 0, 0], jac[..., 0, 1]
    c, d = jac[..., 1, 0], jac[..., 1, 1]
    frob2 = a * a + b * b + c * c + d * d
    det = a * d - b * c
    disc = np.sqrt(np.maximum(frob2 * frob2 - 4.0 * det * det, 0.0))
    return np.sqrt(0.5 * (frob2 + disc))


def iterate_moment_map(
    mu0: ArrayLike,
    nu0: ArrayLike,
    omega: ArrayLike = 0.0,
    tau: ArrayLike = 1.0,
    lam: float | None = None,
    alpha: float | None = None,
    tol: float = 1e-15,
    max_iter: int = 10_000,
) -> tuple[FloatArray, FloatArray, int]:
    """Iterate ``(mu, nu) <- g(mu, nu)`` until the step is below ``tol``; ``(mu, nu, steps)``.

    Raises ``RuntimeError`` if it does not converge within ``max_iter`` steps.
    """
    mu, nu = np.asarray(mu0, dtype=np.float64), np.asarray(nu0, dtype=np.float64)
    for step in range(1, max_iter + 1):
        mu_new, nu_new = selu_mean_variance(mu, omega, nu, tau, lam, alpha)
        delta = max(float(np.max(np.abs(mu_new - mu))), float(np.max(np.abs(nu_new - nu))))
        mu, nu = mu_new, nu_new
        if delta <= tol * max(1.0, float(np.max(np.abs(nu)))):
            return mu, nu, step
    raise RuntimeError(f"g did not converge in {max_iter} iterations (last step {delta:.3g})")


def moment_trajectory(
    mu0: float,
    nu0: float,
    layers: int,
    omega: float = 0.0,
    tau: float = 1.0,
    random_weights: bool = False,
    lam: float | None = None,
    alpha: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """``(mu_l, nu_l)`` for ``l = 1..layers``: g iterated from the input moments ``(mu0, nu0)``
    (layer 1 sees the inputs themselves, so ``(mu_1, nu_1) = g(mu0, nu0)``).

    ``random_weights=False``: the paper's g at fixed ``(omega, tau)`` (every unit's weights sum
    to ``omega``). ``random_weights=True``: the pooled moments of a layer with i.i.d. weights of
    mean ``omega / n`` and variance ``tau / n`` (LeCun: 0, 1/n) at large n; a unit's weight sum
    is then random, omega_j ~ N(omega, tau), so pooled over units the pre-activation is
    ``N(mu omega, nu tau + mu^2 tau)``: g at ``omega`` with ``nu`` replaced by ``nu + mu^2``.
    Both maps share the fixed point (0, 1) at omega = 0, tau = 1; off it, a mean offset is
    forgotten at once by the first and passed on as variance by the second.
    """
    mus, nus = np.empty(layers), np.empty(layers)
    mu, nu = float(mu0), float(nu0)
    for layer in range(layers):
        nu_in = nu + mu * mu if random_weights else nu
        mu_new, nu_new = selu_mean_variance(mu, omega, nu_in, tau, lam, alpha)
        mu, nu = float(mu_new), float(nu_new)
        mus[layer], nus[layer] = mu, nu
    return mus, nus


# ----------------------------------------------------------------------------------------------
# Solving for lambda and alpha
# ----------------------------------------------------------------------------------------------


def _reduced_coefficients(
    mu_star: float, omega: float, nu_star: float, tau: float
) -> tuple[float, float, float, float]:
    """``(A, B, C, D)`` with ``mu_tilde = lam (A + alpha B)``, ``xi_tilde = lam^2 (C + alpha^2 D)``.

    ``A = E[z 1{z>0}]``, ``B = E_1 - E_0 < 0``, ``C = E[z^2 1{z>0}]``,
    ``D = E_2 - 2 E_1 + E_0 = E[(e^z - 1)^2 1{z<0}] > 0`` at ``z ~ N(mu* omega, nu* tau)``.
    """
    t = _gauss_terms(mu_star, omega, nu_star, tau)
    return (
        float(t.z1_pos),
        float(t.e1 - t.e0),
        float(t.z2_pos),
        float(t.e2 - 2.0 * t.e1 + t.e0),
    )


def _bracket(func: Callable[[float], float], start: float, direction: float) -> tuple[float, float]:
    """Walk from ``start`` in ``direction`` with doubling steps until ``func`` changes sign."""
    f_start = func(start)
    step = 1.0
    for _ in range(60):
        other = start + direction * step
        if np.sign(func(other)) != np.sign(f_start):
            return (min(start, other), max(start, other))
        step *= 2.0
    raise ValueError("no (lambda, alpha) with lambda > 0 has this fixed point")


def solve_selu_parameters(
    mu_star: float = 0.0, nu_star: float = 1.0, omega: float = 0.0, tau: float = 1.0
) -> tuple[float, float]:
    """Solve ``g(mu*, nu*) = (mu*, nu*)`` for ``(lam, alpha)``, ``lam > 0``.

    With the coefficients of :func:`_reduced_coefficients` the conditions read

        lam (A + alpha B) = mu*,      lam^2 (C + alpha^2 D) = nu* + mu*^2 =: S.

    Eliminating ``lam = sqrt(S / (C + alpha^2 D))`` leaves one equation in alpha,

        h(alpha) = (A + alpha B) sqrt(S) - mu* sqrt(C + alpha^2 D) = 0,

    solved by ``brentq``. Any root has ``sign(A + alpha B) = sign(mu*)``; as ``B < 0`` it lies on
    the side of ``alpha_0 = -A / B`` (the root for mu* = 0) given by that sign, and the bracket is
    found by doubling steps away from alpha_0. If ``|mu*| sqrt(D) < |B| sqrt(S)``, h is strictly
    monotone on that side (linear minus a convex/concave term that grows more slowly), so the
    root is unique; otherwise there may be two roots or none (then ``ValueError``). For the
    defaults this gives ``alpha01``, ``lambda01``; see
    :func:`selu01_closed_form` for the analytic expressions.
    """
    if nu_star <= 0 or tau <= 0:
        raise ValueError("nu_star and tau must be positive")
    a_coef, b_coef, c_coef, d_coef = _reduced_coefficients(mu_star, omega, nu_star, tau)
    target = nu_star + mu_star**2
    alpha0 = -a_coef / b_coef

    def h(alpha: float) -> float:
        return (a_coef + alpha * b_coef) * np.sqrt(target) - mu_star * np.sqrt(
            c_coef + alpha**2 * d_coef
        )

    if mu_star == 0.0:
        alpha = alpha0
    else:
        lo, hi = _bracket(h, alpha0, -1.0 if mu_star > 0 else 1.0)
        alpha = brentq(h, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    lam = float(np.sqrt(target / (c_coef + alpha**2 * d_coef)))
    return lam, float(alpha)


def selu01_closed_form() -> tuple[float, float]:
    """Analytic ``(lambda01, alpha01)`` from the fixed point (0, 1) with omega = 0, tau = 1.

    Then ``z ~ N(0, 1)``: ``A = 1 / sqrt(2 pi)``, ``C = 1 / 2``,
    ``B = E_1 - E_0 = (sqrt(e) erfc(1 / sqrt 2) - 1) / 2`` and
    ``D = E_2 - 2 E_1 + E_0 = (e^2 erfc(sqrt 2) - 2 sqrt(e) erfc(1 / sqrt 2) + 1) / 2``.
    ``mu_tilde = 0`` gives ``alpha = -A / B`` and ``nu_tilde = 1`` gives
    ``lam = (C + alpha^2 D)^(-1/2)``:

        alpha01 = -sqrt(2 / pi) / (erfc(1 / sqrt 2) exp(1 / 2) - 1),
        lambda01 = sqrt(2) / sqrt(1 + alpha01^2 (e^2 erfc(sqrt 2) - 2 sqrt(e) erfc(1/sqrt 2) + 1)).
    """
    erfc_a = float(erfc(1.0 / SQRT2))
    erfc_b = float(erfc(SQRT2))
    sqrt_e = float(np.exp(0.5))
    alpha = -np.sqrt(2.0 / np.pi) / (erfc_a * sqrt_e - 1.0)
    d_twice = np.exp(2.0) * erfc_b - 2.0 * sqrt_e * erfc_a + 1.0
    lam = SQRT2 / np.sqrt(1.0 + alpha**2 * d_twice)
    return float(lam), float(alpha)


# ----------------------------------------------------------------------------------------------
# Alpha-dropout
# ----------------------------------------------------------------------------------------------


def alpha_dropout_affine(
    keep_rate: float,
    lam: float | None = None,
    alpha: float | None = None,
    mu: float = 0.0,
    nu: float = 1.0,
) -> tuple[float, float, float]:
    """``(a, b, alpha_prime)`` of alpha-dropout ``a (x d + alpha' (1 - d)) + b``, ``d ~ B(1, q)``.

    ``alpha' = -lam alpha`` is the SELU's negative saturation value. For ``x`` with mean mu and
    variance nu, independent of d, ``y = x d + alpha' (1 - d)`` has

        E[y]   = q mu + (1 - q) alpha',
        Var[y] = q (nu + mu^2) + (1 - q) alpha'^2 - E[y]^2 = q nu + q (1 - q) (mu - alpha')^2,

    so ``a = sqrt(nu / Var[y])`` and ``b = mu - a E[y]`` restore mean mu and variance nu. For
    ``(mu, nu) = (0, 1)``: ``a = (q + alpha'^2 q (1 - q))^(-1/2)`` and ``b = -a (1 - q) alpha'``.
    """
    if not 0.0 < keep_rate <= 1.0:
        raise ValueError("keep_rate must lie in (0, 1]")
    if nu <= 0:
        raise ValueError("nu must be positive")
    lam, alpha = _params(lam, alpha)
    q = keep_rate
    alpha_prime = -lam * alpha
    mean_y = q * mu + (1.0 - q) * alpha_prime
    var_y = q * nu + q * (1.0 - q) * (mu - alpha_prime) ** 2
    a = float(np.sqrt(nu / var_y))
    return a, float(mu - a * mean_y), float(alpha_prime)


# ----------------------------------------------------------------------------------------------
# Theorem checks on grids
# ----------------------------------------------------------------------------------------------

_VARS = ("mu", "omega", "nu", "tau")


def _grid_chunks(
    domain: Mapping[str, tuple[float, float]], grid_points: int
) -> Iterator[dict[str, FloatArray]]:
    """Yield the full tensor grid over ``domain`` (``grid_points`` per axis, ends included).

    One chunk per value of ``nu`` (keeps memory at ``grid_points^3`` points).
    """
    if grid_points < 2:
        raise ValueError("grid_points must be at least 2")
    axes = {k: np.linspace(*domain[k], grid_points) for k in _VARS}
    for nu_value in axes["nu"]:
        mu, omega, tau = np.meshgrid(axes["mu"], axes["omega"], axes["tau"], indexing="ij")
        yield {
            "mu": mu.ravel(),
            "omega": omega.ravel(),
            "nu": np.full(mu.size, nu_value),
            "tau": tau.ravel(),
        }


def _point(chunk: Mapping[str, FloatArray], index: int) -> dict[str, float]:
    """The grid point ``index`` of a chunk as a plain dict."""
    return {k: float(chunk[k][index]) for k in _VARS}


@dataclass
class _Extremum:
    """Running max (or min, with ``sign = -1``) of a quantity and the point where it occurs."""

    sign: float = 1.0
    value: float = -np.inf
    point: dict[str, float] = field(default_factory=dict)

    def update(self, values: FloatArray, chunk: Mapping[str, FloatArray]) -> None:
        index = int(np.argmax(self.sign * values))
        if self.sign * values[index] > self.value:
            self.value = float(self.sign * values[index])
            self.point = _point(chunk, index)

    @property
    def result(self) -> float:
        return self.sign * self.value


@dataclass(frozen=True)
class Theorem1Check:
    """Theorem 1 measured on a grid (``grid_points`` per axis of (mu, omega, nu, tau))."""

    grid_points: int
    lam: float
    alpha: float
    max_spectral_norm: float
    max_spectral_norm_at: dict[str, float]
    is_contraction: bool  # max spectral norm < 1
    mu_tilde_range: tuple[float, float]  # image of the domain under g
    nu_tilde_range: tuple[float, float]
    # [min xi_tilde - max mu_tilde^2, max xi_tilde - min mu_tilde^2]: a looser bound on nu_tilde
    # that treats the two moments separately (the paper's nu interval matches this one).
    nu_tilde_decoupled_bound: tuple[float, float]
    maps_into_domain: bool
    image_within_paper_bounds: bool  # up to PAPER_PRINT_TOL (the paper's rounding)
    paper_mu_range: tuple[float, float]
    paper_nu_range: tuple[float, float]
    fixed_point_mu_range: tuple[float, float]  # fixed points over the (omega, tau) grid
    fixed_point_nu_range: tuple[float, float]
    fixed_point_at_omega0_tau1: tuple[float, float]
    max_distance_after_iteration: float  # starts at the (mu, nu) grid, to the fixed point


def _fixed_points(
    domain: Mapping[str, tuple[float, float]], grid_points: int, lam: float, alpha: float
) -> tuple[FloatArray, FloatArray, float]:
    """Fixed points over the (omega, tau) grid, and the worst distance from (mu, nu) starts.

    The fixed point for each (omega, tau) is found by iterating g from (0, 1); then g is iterated
    from every (mu, nu) grid point for the same number of steps plus 200, and the largest
    remaining distance to the fixed point is returned (0 up to rounding if all converge).
    """
    omega, tau = np.meshgrid(
        np.linspace(*domain["omega"], grid_points),
        np.linspace(*domain["tau"], grid_points),
        indexing="ij",
    )
    mu_fp, nu_fp, steps = iterate_moment_map(0.0 * omega, 1.0 + 0.0 * omega, omega, tau, lam, alpha)
    mu_start, nu_start = np.meshgrid(
        np.linspace(*domain["mu"], grid_points),
        np.linspace(*domain["nu"], grid_points),
        indexing="ij",
    )
    shape = (grid_points,) * 4
    mu = np.broadcast_to(mu_start[:, :, None, None], shape).copy()
    nu = np.broadcast_to(nu_start[:, :, None, None], shape).copy()
    for _ in range(steps + 200):
        mu, nu = selu_mean_variance(mu, omega, nu, tau, lam, alpha)
    distance = float(np.max(np.hypot(mu - mu_fp, nu - nu_fp)))
    return mu_fp, nu_fp, distance


def check_theorem1(
    grid_points: int = 21,
    lam: float | None = None,
    alpha: float | None = None,
    domain: Mapping[str, tuple[float, float]] = THEOREM1_DOMAIN,
    fixed_point_grid_points: int | None = None,
) -> Theorem1Check:
    """Theorem 1 (stable, attracting fixed point) measured on a grid over its domain.

    Reports the largest spectral norm of the Jacobian of g (contraction if < 1), the image of
    the domain under g (must lie in the (mu, nu) domain; compared with the paper's intervals
    mu in [-0.03106, 0.06773], nu in [0.80009, 1.48617]; the paper's nu interval is reproduced by
    ``nu_tilde_decoupled_bound``, the exact image is narrower), and the fixed points for the grid of
    (omega, tau) found by iteration (``fixed_point_grid_points`` per axis; default
    ``min(grid_points, 11)``, the convergence test costs ``n^4`` points per step).
    """
    lam, alpha = _params(lam, alpha)
    norm_max = _Extremum()
    names = ("mu", "nu", "xi", "mu2")
    highs = {k: _Extremum() for k in names}
    lows = {k: _Extremum(-1.0) for k in names}
    for chunk in _grid_chunks(domain, grid_points):
        args = (chunk["mu"], chunk["omega"], chunk["nu"], chunk["tau"], lam, alpha)
        norm_max.update(spectral_norm_2x2(selu_moment_map_jacobian(*args)), chunk)
        mu_tilde, xi_tilde = selu_moment_map(*args)
        values = {"mu": mu_tilde, "nu": xi_tilde - mu_tilde**2, "xi": xi_tilde, "mu2": mu_tilde**2}
        for k in names:
            highs[k].update(values[k], chunk)
            lows[k].update(values[k], chunk)
    mu_range = (lows["mu"].result, highs["mu"].result)
    nu_range = (lows["nu"].result, highs["nu"].result)
    decoupled = (lows["xi"].result - highs["mu2"].result, highs["xi"].result - lows["mu2"].result)
    n_fp = fixed_point_grid_points or min(grid_points, 11)
    mu_fp, nu_fp, distance = _fixed_points(domain, n_fp, lam, alpha)
    mu00, nu00, _ = iterate_moment_map(0.0, 1.0, 0.0, 1.0, lam, alpha)
    return Theorem1Check(
        grid_points=grid_points,
        lam=lam,
        alpha=alpha,
        max_spectral_norm=norm_max.result,
        max_spectral_norm_at=norm_max.point,
        is_contraction=norm_max.result < 1.0,
        mu_tilde_range=mu_range,
        nu_tilde_range=nu_range,
        nu_tilde_decoupled_bound=decoupled,
        maps_into_domain=_inside(mu_range, domain["mu"]) and _inside(nu_range, domain["nu"]),
        image_within_paper_bounds=_inside(mu_range, PAPER_THEOREM1_MU_RANGE, PAPER_PRINT_TOL)
        and _inside(nu_range, PAPER_THEOREM1_NU_RANGE, PAPER_PRINT_TOL),
        paper_mu_range=PAPER_THEOREM1_MU_RANGE,
        paper_nu_range=PAPER_THEOREM1_NU_RANGE,
        fixed_point_mu_range=(float(mu_fp.min()), float(mu_fp.max())),
        fixed_point_nu_range=(float(nu_fp.min()), float(nu_fp.max())),
        fixed_point_at_omega0_tau1=(float(mu00), float(nu00)),
        max_distance_after_iteration=distance,
    )


def _inside(inner: tuple[float, float], outer: tuple[float, float], tol: float = 0.0) -> bool:
    """Whether the interval ``inner`` lies in the closed interval ``outer`` widened by ``tol``."""
    return outer[0] - tol <= inner[0] and inner[1] <= outer[1] + tol


@dataclass(frozen=True)
class VarianceCheck:
    """Theorem 2 / 3 measured on a grid: the worst value of ``nu_tilde - nu`` and where."""

    theorem: int
    grid_points: int
    lam: float
    alpha: float
    worst_change: float  # max of nu_tilde - nu (Theorem 2) or min (Theorem 3)
    worst_point: dict[str, float]
    worst_ratio: float  # max (Thm 2) / min (Thm 3) of nu_tilde / nu
    holds: bool  # worst_change < 0 (Thm 2) or > 0 (Thm 3) on the grid


def _check_variance(
    theorem: int,
    sign: float,
    grid_points: int,
    lam: float | None,
    alpha: float | None,
    domain: Mapping[str, tuple[float, float]],
) -> VarianceCheck:
    """Shared scan: ``sign = +1`` tracks the max of ``nu_tilde - nu``, ``-1`` the min."""
    lam, alpha = _params(lam, alpha)
    change, ratio = _Extremum(sign), _Extremum(sign)
    for chunk in _grid_chunks(domain, grid_points):
        _, nu_tilde = selu_mean_variance(
            chunk["mu"], chunk["omega"], chunk["nu"], chunk["tau"], lam, alpha
        )
        change.update(nu_tilde - chunk["nu"], chunk)
        ratio.update(nu_tilde / chunk["nu"], chunk)
    worst = change.result
    return VarianceCheck(
        theorem=theorem,
        grid_points=grid_points,
        lam=lam,
        alpha=alpha,
        worst_change=worst,
        worst_point=change.point,
        worst_ratio=ratio.result,
        holds=bool(sign * worst < 0),
    )


def check_theorem2(
    grid_points: int = 21,
    lam: float | None = None,
    alpha: float | None = None,
    domain: Mapping[str, tuple[float, float]] = THEOREM2_DOMAIN,
) -> VarianceCheck:
    """Theorem 2 (variance decreases for large nu): the max of ``nu_tilde - nu`` must be < 0.

    Domain: nu in [3, 16], mu in [-1, 1], omega in [-0.1, 0.1], tau in [0.8, 1.25].
    """
    return _check_variance(2, 1.0, grid_points, lam, alpha, domain)


def check_theorem3(
    grid_points: int = 21,
    lam: float | None = None,
    alpha: float | None = None,
    domain: Mapping[str, tuple[float, float]] = THEOREM3_DOMAIN,
) -> VarianceCheck:
    """Theorem 3 (variance increases for small nu): the min of ``nu_tilde - nu`` must be > 0.

    Domain: nu in [0.02, 0.16], mu, omega in [-0.1, 0.1], tau in [0.8, 1.25].
    """
    return _check_variance(3, -1.0, grid_points, lam, alpha, domain)


# ----------------------------------------------------------------------------------------------
# Vector field for figures
# ----------------------------------------------------------------------------------------------


def vector_field(
    mu_grid: ArrayLike,
    nu_grid: ArrayLike,
    omega: float = 0.0,
    tau: float = 1.0,
    lam: float | None = None,
    alpha: float | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """``(mu, nu, dmu, dnu)`` on the mesh of ``mu_grid`` x ``nu_grid`` for a quiver plot.

    ``mu, nu = meshgrid(mu_grid, nu_grid)`` (shape ``(len(nu_grid), len(mu_grid))``) and
    ``(dmu, dnu) = g(mu, nu) - (mu, nu)``.
    """
    mu, nu = np.meshgrid(
        np.asarray(mu_grid, dtype=np.float64), np.asarray(nu_grid, dtype=np.float64)
    )
    mu_tilde, nu_tilde = selu_mean_variance(mu, omega, nu, tau, lam, alpha)
    return mu, nu, mu_tilde - mu, nu_tilde - nu
