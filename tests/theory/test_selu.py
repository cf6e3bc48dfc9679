"""Tests of the SELU theory (claims E1, E2 and the alpha-dropout constants of E3)."""

from __future__ import annotations

from collections.abc import Callable

import mpmath
import numpy as np
import pytest

from initlab.theory.selu import (
    PAPER_PRINT_TOL,
    PAPER_THEOREM1_MU_RANGE,
    PAPER_THEOREM1_NU_RANGE,
    alpha_dropout_affine,
    check_theorem1,
    check_theorem2,
    check_theorem3,
    iterate_moment_map,
    selu,
    selu01,
    selu01_closed_form,
    selu_mean_variance,
    selu_moment_map,
    selu_moment_map_jacobian,
    solve_selu_parameters,
    spectral_norm_2x2,
    vector_field,
)

# The paper's printed digits, used only as a check of the computed values.
PAPER_ALPHA01 = "1.6732632423543772848170429916717"
PAPER_LAMBDA01 = "1.0507009873554804934193349852946"

# Monte Carlo: a closed-form value must lie within N_SE standard errors of the sample estimate.
N_SAMPLES = 1_000_000
N_SE = 5.0

# (mu, omega, nu, tau) points across the domains of Theorems 1-3 and beyond.
MOMENT_POINTS = [
    (0.0, 0.0, 1.0, 1.0),
    (0.1, 0.1, 1.5, 1.1),
    (-1.0, 0.1, 16.0, 1.25),
    (-0.1, -0.1, 0.02, 0.8),
    (2.0, 0.5, 0.5, 1.0),
    (-3.0, 1.0, 0.3, 1.0),
]


def test_selu_pieces() -> None:
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    expected = 1.5 * np.where(x > 0, x, 2.0 * (np.exp(x) - 1.0))
    np.testing.assert_allclose(selu(x, 1.5, 2.0), expected, rtol=1e-15, atol=0.0)


def test_fixed_point_is_zero_one_with_solved_parameters() -> None:
    lam, alpha = solve_selu_parameters()
    mu_tilde, nu_tilde = selu_mean_variance(0.0, 0.0, 1.0, 1.0, lam, alpha)
    assert abs(mu_tilde) < 1e-10
    assert abs(nu_tilde - 1.0) < 1e-10
    assert selu01() == (lam, alpha)


def test_selu01_matches_closed_form_and_paper_digits() -> None:
    lam, alpha = selu01()
    lam_cf, alpha_cf = selu01_closed_form()
    assert lam == pytest.approx(lam_cf, rel=1e-14)
    assert alpha == pytest.approx(alpha_cf, rel=1e-14)
    # at least 12 significant digits against the printed values
    assert lam == pytest.approx(float(PAPER_LAMBDA01), rel=1e-13)
    assert alpha == pytest.approx(float(PAPER_ALPHA01), rel=1e-13)


def test_closed_form_in_high_precision_reproduces_all_printed_digits() -> None:
    """The analytic expressions of selu01_closed_form, evaluated with 50 digits."""
    with mpmath.workdps(50):
        sqrt_e = mpmath.sqrt(mpmath.e)
        erfc_a, erfc_b = mpmath.erfc(1 / mpmath.sqrt(2)), mpmath.erfc(mpmath.sqrt(2))
        alpha = -mpmath.sqrt(2 / mpmath.pi) / (erfc_a * sqrt_e - 1)
        d_twice = mpmath.e**2 * erfc_b - 2 * sqrt_e * erfc_a + 1
        lam = mpmath.sqrt(2) / mpmath.sqrt(1 + alpha**2 * d_twice)
        assert abs(alpha - mpmath.mpf(PAPER_ALPHA01)) < mpmath.mpf("1e-30")
        assert abs(lam - mpmath.mpf(PAPER_LAMBDA01)) < mpmath.mpf("1e-30")
        assert float(alpha) == pytest.approx(selu01()[1], rel=1e-15)
        assert float(lam) == pytest.approx(selu01()[0], rel=1e-15)


@pytest.mark.parametrize(
    ("lam", "alpha", "omega", "tau"),
    [(1.2, 1.3, 0.0, 1.0), (1.0, 2.0, 0.05, 1.05), (1.1, 1.5, -0.08, 0.97), (0.9, 2.5, 0.0, 1.0)],
)
def test_solver_recovers_parameters_from_their_fixed_point(
    lam: float, alpha: float, omega: float, tau: float
) -> None:
    mu_star, nu_star, _ = iterate_moment_map(0.0, 1.0, omega, tau, lam, alpha)
    assert abs(float(mu_star)) > 1e-3  # exercises the mu* != 0 (brentq) branch
    lam_hat, alpha_hat = solve_selu_parameters(float(mu_star), float(nu_star), omega, tau)
    assert lam_hat == pytest.approx(lam, rel=1e-12)
    assert alpha_hat == pytest.approx(alpha, rel=1e-12)
    mu_back, nu_back = selu_mean_variance(mu_star, omega, nu_star, tau, lam_hat, alpha_hat)
    assert float(mu_back) == pytest.approx(float(mu_star), abs=1e-13)
    assert float(nu_back) == pytest.approx(float(nu_star), abs=1e-13)


def test_solver_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        solve_selu_parameters(0.0, -1.0)
    with pytest.raises(ValueError):  # a mean far above what any SELU can produce at nu* = 1e-4
        solve_selu_parameters(mu_star=10.0, nu_star=1e-4)


@pytest.mark.parametrize(("mu", "omega", "nu", "tau"), MOMENT_POINTS)
def test_closed_form_moments_match_monte_carlo(
    mu: float, omega: float, nu: float, tau: float
) -> None:
    lam, alpha = selu01()
    rng = np.random.default_rng(12345)
    z = mu * omega + np.sqrt(nu * tau) * rng.standard_normal(N_SAMPLES)
    y = selu(z, lam, alpha)
    mu_tilde, xi_tilde = selu_moment_map(mu, omega, nu, tau, lam, alpha)
    se_mean = y.std() / np.sqrt(N_SAMPLES)
    se_second = (y**2).std() / np.sqrt(N_SAMPLES)
    assert abs(y.mean() - mu_tilde) < N_SE * se_mean
    assert abs((y**2).mean() - xi_tilde) < N_SE * se_second


def _quad_moments(m: float, v: float, lam: float, alpha: float) -> tuple[float, float]:
    """E[selu(z)] and E[selu(z)^2] for z ~ N(m, v) by 30-digit numerical integration."""
    with mpmath.workdps(30):
        m_, s_ = mpmath.mpf(m), mpmath.sqrt(mpmath.mpf(v))

        def density(z: mpmath.mpf) -> mpmath.mpf:
            return mpmath.npdf(z, m_, s_)

        def act(z: mpmath.mpf) -> mpmath.mpf:
            return lam * z if z > 0 else lam * alpha * mpmath.expm1(z)

        lo, hi = m_ - 40 * s_, m_ + 40 * s_
        pts = sorted({lo, min(max(mpmath.mpf(0), lo), hi), m_, hi})
        first = mpmath.quad(lambda z: act(z) * density(z), pts)
        second = mpmath.quad(lambda z: act(z) ** 2 * density(z), pts)
        return float(first), float(second)


@pytest.mark.parametrize(
    ("m", "v"),
    [(-0.1, 20.0), (0.1, 0.016), (-0.01, 0.016), (-50.0, 400.0), (3.0, 1e-4), (-3.0, 1e-4)],
)
def test_closed_form_is_accurate_at_extreme_variances(m: float, v: float) -> None:
    """erfcx keeps the large- and small-variance regimes accurate (vs 30-digit quadrature)."""
    lam, alpha = selu01()
    mu_tilde, xi_tilde = selu_moment_map(m, 1.0, v, 1.0, lam, alpha)
    ref_mean, ref_second = _quad_moments(m, v, lam, alpha)
    assert float(mu_tilde) == pytest.approx(ref_mean, rel=1e-11, abs=1e-300)
    assert float(xi_tilde) == pytest.approx(ref_second, rel=1e-11, abs=1e-300)


@pytest.mark.parametrize(("mu", "omega", "nu", "tau"), MOMENT_POINTS)
def test_jacobian_matches_finite_differences(
    mu: float, omega: float, nu: float, tau: float
) -> None:
    lam, alpha = selu01()
    jac = selu_moment_map_jacobian(mu, omega, nu, tau, lam, alpha)
    h = 1e-5 * max(1.0, abs(mu)), 1e-5 * nu

    def g(x: float, y: float) -> np.ndarray:
        return np.array(selu_mean_variance(x, omega, y, tau, lam, alpha))

    def fourth_order(f: Callable[[float], np.ndarray], step: float) -> np.ndarray:
        return (-f(2 * step) + 8 * f(step) - 8 * f(-step) + f(-2 * step)) / (12 * step)

    d_mu = fourth_order(lambda e: g(mu + e, nu), h[0])
    d_nu = fourth_order(lambda e: g(mu, nu + e), h[1])
    numeric = np.stack([d_mu, d_nu], axis=-1)
    np.testing.assert_allclose(jac, numeric, rtol=1e-7, atol=1e-9)


def test_jacobian_broadcasts_and_spectral_norm_is_correct() -> None:
    rng = np.random.default_rng(0)
    mu = rng.uniform(-0.1, 0.1, size=(3, 4))
    jac = selu_moment_map_jacobian(mu, 0.05, 1.2, 1.0)
    assert jac.shape == (3, 4, 2, 2)
    mats = rng.standard_normal((50, 2, 2))
    np.testing.assert_allclose(
        spectral_norm_2x2(mats), np.linalg.norm(mats, ord=2, axis=(-2, -1)), rtol=1e-12
    )


def test_alpha_dropout_constants_match_the_paper_formulas() -> None:
    lam, alpha = selu01()
    for q in (0.95, 0.9):
        a, b, alpha_prime = alpha_dropout_affine(q, lam, alpha)
        assert alpha_prime == -lam * alpha
        assert a == pytest.approx((q + alpha_prime**2 * q * (1 - q)) ** -0.5, rel=1e-15)
        assert b == pytest.approx(-a * (1 - q) * alpha_prime, rel=1e-15)
    with pytest.raises(ValueError):
        alpha_dropout_affine(0.0, lam, alpha)


@pytest.mark.parametrize("keep_rate", [0.95, 0.9])
def test_alpha_dropout_keeps_mean_zero_variance_one(keep_rate: float) -> None:
    """SELU outputs of N(0, 1) inputs have mean 0 and variance 1; alpha-dropout keeps them."""
    lam, alpha = selu01()
    a, b, alpha_prime = alpha_dropout_affine(keep_rate, lam, alpha)
    rng = np.random.default_rng(7)
    x = selu(rng.standard_normal(N_SAMPLES), lam, alpha)
    keep = rng.random(N_SAMPLES) < keep_rate
    y = a * np.where(keep, x, alpha_prime) + b
    se_mean = y.std() / np.sqrt(N_SAMPLES)
    centred = y - y.mean()
    se_var = np.sqrt(((centred**2 - centred.var()) ** 2).mean() / N_SAMPLES)
    assert abs(y.mean()) < N_SE * se_mean
    assert abs(y.var() - 1.0) < N_SE * se_var


def test_alpha_dropout_general_mean_and_variance() -> None:
    """For inputs with mean mu and variance nu the affine restores (mu, nu) exactly."""
    mu, nu, q = 0.3, 2.0, 0.9
    a, b, alpha_prime = alpha_dropout_affine(q, 1.1, 1.5, mu=mu, nu=nu)
    mean_y = a * (q * mu + (1 - q) * alpha_prime) + b
    second_y = q * (nu + mu**2) + (1 - q) * alpha_prime**2
    var_y = a**2 * (second_y - (q * mu + (1 - q) * alpha_prime) ** 2)
    assert mean_y == pytest.approx(mu, rel=1e-14)
    assert var_y == pytest.approx(nu, rel=1e-14)


def test_theorem1_contraction_and_mapping_into_domain() -> None:
    result = check_theorem1(grid_points=5, fixed_point_grid_points=3)
    assert result.is_contraction and result.max_spectral_norm < 1.0
    assert result.maps_into_domain
    # The extremes of mu_tilde sit at corners of the domain, so a 5-point grid reaches them.
    assert result.mu_tilde_range[0] == pytest.approx(
        PAPER_THEOREM1_MU_RANGE[0], abs=PAPER_PRINT_TOL
    )
    assert result.mu_tilde_range[1] == pytest.approx(
        PAPER_THEOREM1_MU_RANGE[1], abs=PAPER_PRINT_TOL
    )
    # The paper's nu interval is the decoupled bound; the exact image lies strictly inside it.
    low, high = result.nu_tilde_decoupled_bound
    assert low == pytest.approx(PAPER_THEOREM1_NU_RANGE[0], abs=PAPER_PRINT_TOL)
    assert high == pytest.approx(PAPER_THEOREM1_NU_RANGE[1], abs=2 * PAPER_PRINT_TOL)
    assert result.image_within_paper_bounds
    assert result.fixed_point_at_omega0_tau1 == pytest.approx((0.0, 1.0), abs=1e-12)
    assert result.max_distance_after_iteration < 1e-12


def test_theorem2_variance_decreases() -> None:
    result = check_theorem2(grid_points=5)
    assert result.holds and result.worst_change < 0.0 and result.worst_ratio < 1.0


def test_theorem3_variance_increases() -> None:
    result = check_theorem3(grid_points=5)
    assert result.holds and result.worst_change > 0.0 and result.worst_ratio > 1.0


def test_vector_field_points_to_the_fixed_point() -> None:
    mu, nu, dmu, dnu = vector_field(np.linspace(-0.5, 0.5, 5), np.array([0.1, 1.0, 3.0]))
    assert mu.shape == nu.shape == dmu.shape == dnu.shape == (3, 5)
    # omega = 0: the output does not depend on mu; (0, 1) is the fixed point
    assert dmu[1, 2] == pytest.approx(0.0, abs=1e-14)
    assert dnu[1, 2] == pytest.approx(0.0, abs=1e-14)
    assert np.all(dnu[0] > 0) and np.all(dnu[2] < 0)
