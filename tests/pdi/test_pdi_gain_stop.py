"""PDI's gain on the base initializer and its stop rule (the variance ratio has settled)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from initlab.config import ConfigError
from initlab.data import build_data
from initlab.inits.base import WEIGHT_LAYERS, fans
from initlab.inits.pdi import settled
from initlab.main import execute
from initlab.setup import parse_config
from tests.conftest import quiet_config

SMALL = ["data=iris", "model.depth=2", "model.width=64", "device=cpu"]


def _weights(gain: float, base: str = "he") -> list[torch.Tensor]:
    setup = parse_config(
        quiet_config(*SMALL, "init=pdi", f"init.base={base}", "init.duration=[0]",
                     f"init.gain={gain}")
    )  # fmt: skip
    data = build_data(setup.data)
    torch.manual_seed(3)
    model = setup.new_model(data)
    return [m.weight.detach().clone() for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]


def test_gain_scales_the_variance_by_its_square(gain=2.0):
    """Same seed: the weights are exactly gain x the plain draw, biases untouched. Against the
    formula: the He layer's sample variance within 5 standard errors of gain^2 x 2 / fan_in
    (a sample variance of n normal draws has relative s.e. sqrt(2 / n))."""
    plain, scaled = _weights(1.0), _weights(gain)
    for w0, w in zip(plain, scaled, strict=True):
        assert torch.allclose(w, gain * w0, rtol=1e-6, atol=0)
        fan_in, _ = fans(w)
        n = w.numel()
        expected = gain**2 * 2.0 / fan_in
        tolerance = 5 * math.sqrt(2.0 / n) * expected
        assert abs(w.var(unbiased=False).item() - expected) < tolerance, (n, fan_in)


def test_gain_must_be_positive_and_the_stop_rule_needs_variance_records():
    with pytest.raises(ConfigError, match="init.gain"):
        parse_config(quiet_config(*SMALL, "init=pdi", "init.gain=0"))
    with pytest.raises(ConfigError, match="stop_window"):
        parse_config(quiet_config(*SMALL, "init=pdi", "init.stop_window=3"))


def test_stop_rule_on_synthetic_series():
    rising = [1.0 + 0.1 * i for i in range(20)]  # keeps moving: never settled
    assert not settled(rising, window=5, tol=0.01)
    flat_tail = [0.3, 0.5, 0.8, 1.0, 1.004, 1.006, 1.007, 1.008, 1.009]
    assert settled(flat_tail, window=5, tol=0.01)  # (1.009 - 1.0) / 1.009 < 1%
    assert not settled(flat_tail, window=6, tol=0.01)  # the window reaches back to 0.8
    assert not settled(flat_tail[:5], window=5, tol=0.01)  # too few records yet
    assert not settled([1.0] * 5 + [float("nan")], window=3, tol=0.1)
    assert not settled([1.0] * 10, window=0, tol=0.1)  # window 0: the rule is off
    # relative: a small ratio moving by the same absolute amount is not settled
    assert settled([10.0, 10.05, 10.09], window=2, tol=0.01)
    assert not settled([0.1, 0.15, 0.19], window=2, tol=0.01)


@pytest.mark.slow
def test_a_stage_stops_once_its_ratio_settles_and_says_so(tmp_path):
    """A huge tolerance settles at the first record past the window; its rows say settled, and
    the stage ran fewer steps than its cap; a zero tolerance runs to the cap, unsettled."""
    common = [*SMALL, "init=pdi", "init.stages=[1.0]", "init.duration=[40]",
              "init.variance_every=2", "init.stop_window=3", "task.epochs=0"]  # fmt: skip
    execute(quiet_config(*common, "init.stop_tol=10.0"), tmp_path / "loose")
    table = pd.read_csv(tmp_path / "loose" / "weight_variance.csv")
    assert table["step"].max() == 6 and table["settled"].all()
    execute(quiet_config(*common, "init.stop_tol=0.0"), tmp_path / "tight")
    table = pd.read_csv(tmp_path / "tight" / "weight_variance.csv")
    assert table["step"].max() == 40 and not table["settled"].any()
