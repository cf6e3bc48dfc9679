"""An arm's own values reach the runs of every experiment that sweeps it.

An experiment's sweep lists its arms (``+arm: a,b`` or ``arm: a,b``); Hydra puts a config's
sweep params BEFORE the command line's overrides, so a ``+arm`` is merged before the
``+experiment`` and any key both set is the experiment's. At paper scale this once ran every
B-experiment's conv ResNets at the quick file's width (512, 256, 128) instead of their arms' 64
channels, and D2's He control without its extra steps, silently. Composed here in the sweep's
order, every key an arm file sets must keep the arm's value.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from initlab.analysis.grid import flatten
from initlab.compose import CONF_DIR, compose
from initlab.experiments import config_name, discover, sweep_params


def _arm_keys(arm: str) -> dict[str, Any]:
    spec = yaml.safe_load((CONF_DIR / "arm" / f"{arm}.yaml").read_text()) or {}
    spec.pop("defaults", None)
    spec.pop("hydra", None)
    return {k: v for k, v in flatten(spec).items() if not (isinstance(v, str) and "${" in v)}


def _value(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return "<missing>"
        node = node[part]
    return node


def _swept_arms() -> list[tuple[str, str, str]]:
    cases = []
    for profile in ("quick", "full"):
        for name in discover(profile):
            params = sweep_params(name, profile)
            key = next((k for k in params if k.lstrip("+") == "arm"), None)
            cases += [(config_name(name, profile), key, arm) for arm in params.get(key, [])]
    return cases


CASES = _swept_arms()


def test_the_sweeps_have_arms_to_check() -> None:
    assert len(CASES) > 50 and any(key == "+arm" for _, key, _ in CASES)
    assert any(key == "arm" for _, key, _ in CASES)


@pytest.mark.parametrize("experiment", sorted({c[0] for c in CASES}))
def test_every_arm_keeps_its_values(experiment: str) -> None:
    lost = []
    for name, key, arm in CASES:
        if name != experiment:
            continue
        cfg = compose([f"{key}={arm}", f"+experiment={name}"])  # the sweep's order
        for dotted, value in _arm_keys(arm).items():
            if _value(cfg, dotted) != value:
                lost.append(f"{arm}: {dotted}={value!r} composed as {_value(cfg, dotted)!r}")
    assert not lost, f"{experiment}: the experiment overrides its arms' keys: {lost}"
