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
