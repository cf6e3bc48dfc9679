"""An arm's own values reach the runs of every experiment that sweeps it.

conf/config.yaml lists ``arm`` after ``experiment`` in its defaults, so an arm's values win over
the experiment's whatever order a command line gives them in. When the arm was appended
(``+arm=``) before the experiment instead, any key both set was the experiment's: at paper scale
this once ran every B-experiment's conv ResNets at the quick file's width (512, 256, 128) instead
of their arms' 64 channels, and D2's He control without its extra steps, silently.
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
            keys = [k for k in params if k.lstrip("+~") == "arm"]
            cases += [(config_name(name, profile), k, arm) for k in keys for arm in params[k]]
    return cases


CASES = _swept_arms()


def test_the_sweeps_have_arms_to_check() -> None:
    assert len(CASES) > 50
    # one way only: every sweep sets the arm group the defaults list declares
    assert {key for _, key, _ in CASES} == {"arm"}


@pytest.mark.parametrize("experiment", sorted({c[0] for c in CASES}))
def test_every_arm_keeps_its_values(experiment: str) -> None:
    lost = []
    for name, key, arm in CASES:
        if name != experiment:
            continue
        cfg = compose([f"{key}={arm}", f"experiment={name}"])  # the sweep's order
        for dotted, value in _arm_keys(arm).items():
            if _value(cfg, dotted) != value:
                lost.append(f"{arm}: {dotted}={value!r} composed as {_value(cfg, dotted)!r}")
    assert not lost, f"{experiment}: the experiment overrides its arms' keys: {lost}"


@pytest.mark.parametrize("group", ["arm", "experiment"])
def test_the_old_appending_form_is_refused_in_one_line(group: str) -> None:
    from initlab.hydra_errors import one_line

    option = {"arm": "resnet_he", "experiment": "smoke_train"}[group]
    with pytest.raises(Exception) as err:
        compose([f"+{group}={option}"])
    assert one_line(err.value, [f"+{group}={option}"]) == (
        f"{group}: already in the config; drop the + to set it ({group}=...), or use ++"
    )
