"""Growth-law fits recover the law and its parameters from noisy synthetic curves."""

import numpy as np
import pytest

from initlab.analysis.laws import LAWS, compare_laws, fit_law

X = np.arange(1, 41, dtype=float)


def noisy(y, sigma=0.05, seed=0):
    return y * np.exp(np.random.default_rng(seed).normal(0, sigma, y.shape))


def test_exponential_data_is_classified_exponential():
    fits = compare_laws(X, noisy(0.5 * np.exp(0.2 * X)))
    assert next(iter(fits)) == "exponential"
    assert fits["exponential"].params["rate"] == pytest.approx(0.2, abs=0.005)
    assert fits["exponential"].prefactor == pytest.approx(0.5, rel=0.1)
    assert fits["exponential"].r2_log > 0.99
    assert fits["power"].rmse_log > 3 * fits["exponential"].rmse_log


def test_power_law_data_is_classified_power_law():
    x = np.geomspace(1, 512, 20)
    fits = compare_laws(x, noisy(3 * np.sqrt(x)))
    assert next(iter(fits)) == "power"
    assert fits["power"].params["exponent"] == pytest.approx(0.5, abs=0.02)
    assert fits["exponential"].rmse_log > 3 * fits["power"].rmse_log
    # the fixed-exponent sqrt law fits almost as well as the free one
    assert fits["sqrt"].rmse_log < 1.2 * fits["power"].rmse_log
    assert fits["sqrt"].prefactor == pytest.approx(3, rel=0.05)


def test_reciprocal_decay_and_exact_data():
    x = np.geomspace(1, 100, 15)
    fits = compare_laws(x, noisy(2 / x, seed=1))
    assert fits["power"].params["exponent"] == pytest.approx(-1, abs=0.05)
    ranking = list(fits)
    assert ranking.index("reciprocal") < ranking.index("exponential")
    assert ranking.index("reciprocal") < ranking.index("sqrt")
    exact = fit_law("reciprocal", x, 2 / x)
    assert exact.rmse_log == pytest.approx(0, abs=1e-12) and exact.r2_log == pytest.approx(1)
    assert np.allclose(exact.predict(x), 2 / x)
    assert set(fits) == set(LAWS)
    rmses = [f.rmse_log for f in fits.values()]
    assert rmses == sorted(rmses)


def test_constant_curve_and_invalid_input():
    fits = compare_laws(X, noisy(np.full_like(X, 7.0), sigma=0.01))
    assert abs(fits["power"].params["exponent"]) < 0.01
    assert abs(fits["exponential"].params["rate"]) < 0.001
    assert fits["constant"].prefactor == pytest.approx(7, rel=0.01)
    with pytest.raises(ValueError):
        fit_law("power", X, -X)
    with pytest.raises(ValueError):
        fit_law("sqrt", X - 5, X)
    with pytest.raises(ValueError):
        fit_law("cubic", X, X)
    assert fit_law("exponential", X - 5, np.exp(X)).params["rate"] == pytest.approx(1)


def _coverage(law, truth, make_y, name, trials=400, replicates=3, sigma=0.3):
    """Share of trials whose 95% interval holds the true parameter (fits on every replicate)."""
    rng = np.random.default_rng(7)
    x = np.repeat(np.array([1, 2, 4, 8, 16, 32], dtype=float), replicates)
    hits = 0
    for _ in range(trials):
        y = make_y(x) * np.exp(rng.normal(0, sigma, x.shape))
        lo, hi = fit_law(law, x, y).interval(name)
        hits += lo <= truth <= hi
    return hits / trials


def test_power_exponent_interval_covers_the_truth_at_the_nominal_rate():
    rate = _coverage("power", 0.5, lambda x: 2 * x**0.5, "exponent")
    assert 0.92 <= rate <= 0.98, rate


def test_exponential_rate_interval_covers_the_truth_at_the_nominal_rate():
    rate = _coverage("exponential", 0.3, lambda x: 0.1 * np.exp(0.3 * x), "rate")
    assert 0.92 <= rate <= 0.98, rate


def test_interval_narrows_with_less_noise_and_is_infinite_without_dof():
    x = np.array([1.0, 2, 4, 8])
    wide = fit_law("power", x, noisy(x**2, sigma=0.3, seed=3)).interval("exponent")
    narrow = fit_law("power", x, noisy(x**2, sigma=0.01, seed=3)).interval("exponent")
    assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 10
    assert fit_law("power", x[:2], x[:2] ** 2).interval("exponent") == (-np.inf, np.inf)
    assert fit_law("sqrt", x, x).interval("exponent") == (0.5, 0.5)  # fixed, not fitted


def test_nested_choice_names_the_law_that_generated_the_data():
    from initlab.analysis.laws import nested_choice

    x = np.repeat(np.array([1, 2, 4, 8, 16, 32], dtype=float), 2)
    rng = np.random.default_rng(0)
    noise = np.exp(rng.normal(0, 0.1, x.shape))
    assert nested_choice(x, np.exp(0.4 * x) * noise).law == "exponential"
    assert nested_choice(x, x**1.5 * noise).law == "power"
    assert nested_choice(x, np.full_like(x, 3.0) * noise).law == "undecided"


def test_replicate_interval_covers_the_mean_at_the_nominal_rate():
    from initlab.analysis.laws import replicate_interval

    rng = np.random.default_rng(1)
    hits = sum(replicate_interval(rng.normal(2.0, 1.0, 3)).excludes(2.0) for _ in range(2000))
    assert 0.03 <= hits / 2000 <= 0.07
