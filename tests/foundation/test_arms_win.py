"""An arm's own values reach the runs of every experiment that sweeps it.

conf/config.yaml lists ``arm`` after ``experiment`` in its defaults, so an arm's values (and its
``override /group`` choices) win over the experiment's whatever order a command line gives them
in. When the arm was appended (``+arm=``) before the experiment instead, any key both set was
the experiment's: at paper scale this once ran every B-experiment's conv ResNets at the quick
file's width (512, 256, 128) instead of their arms' 64 channels, and D2's He control without its
extra steps, silently. What can still beat an arm is a command-line-level override: a key the
experiment's own sweep sets.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from initlab.analysis.grid import flatten
from initlab.compose import CONF_DIR, compose
from initlab.experiments import config_name, discover, sweep_params


def _arm_file(arm: str) -> dict[str, Any]:
    return yaml.safe_load((CONF_DIR / "arm" / f"{arm}.yaml").read_text()) or {}


def _arm_keys(arm: str) -> dict[str, Any]:
    """The keys an arm sets (its groups' choices as ``model``, ``init``, ...)."""
    spec = _arm_file(arm)
    keys = {k: v for k, v in flatten(spec).items() if k not in ("defaults", "hydra")}
    for entry in spec.get("defaults", []) or []:
        if isinstance(entry, dict):
            for key, value in entry.items():
                keys[key.removeprefix("override ").strip("/")] = value
    return {k: v for k, v in keys.items() if not (isinstance(v, str) and "${" in v)}


def _swept_arms() -> list[tuple[str, str, str]]:
    cases = []
    for profile in ("quick", "full"):
        for name in discover(profile):
            params = sweep_params(name, profile)
            keys = [k for k in params if k.lstrip("+~") == "arm"]
            cases += [(config_name(name, profile), k, arm) for k in keys for arm in params[k]]
    return cases


CASES = _swept_arms()


def test_every_sweep_sets_the_arm_group_one_way() -> None:
    assert len(CASES) > 50
    assert {key for _, key, _ in CASES} == {"arm"}  # never +arm: the defaults list declares it


def test_no_sweep_overrides_a_key_its_arms_set() -> None:
    """A sweep's params are command-line overrides: they would beat every arm's value."""
    clashes = []
    for name, _, arm in CASES:
        profile = "full" if name.endswith("_full") else "quick"
        swept = {k.lstrip("+~") for k in sweep_params(name.removesuffix("_full"), profile)} - {
            "arm"
        }
        clashes += [
            f"{name} sweeps {k}, which {arm} sets" for k in sorted(swept & set(_arm_keys(arm)))
        ]
    assert not clashes


@pytest.mark.parametrize(
    ("experiment", "arm", "key"),
    [
        ("b1_b3_angles_full", "angles_resnet_cifar", "model.width"),  # the experiment says 512
        ("b4_distance_ratio_full", "angles_resnet_bn_cifar", "model.width"),
        ("d2_pdi_vae", "d2_he_matched", "task.max_steps"),  # the experiment says 200
        ("d1_pdi_weight_variance", "d1_he_x4", "init.gain"),
    ],
)
def test_the_arm_wins_in_either_order(experiment: str, arm: str, key: str) -> None:
    assert key in _arm_keys(arm)
    one = compose([f"arm={arm}", f"experiment={experiment}"])
    other = compose([f"experiment={experiment}", f"arm={arm}"])
    assert one == other
    node: Any = one
    for part in key.split("."):
        node = node[part]
    assert node == _arm_keys(arm)[key]


@pytest.mark.parametrize("group", ["arm", "experiment"])
def test_the_old_appending_form_is_refused_in_one_line(group: str) -> None:
    from initlab.hydra_errors import one_line

    option = {"arm": "resnet_he", "experiment": "smoke_train"}[group]
    with pytest.raises(Exception) as err:
        compose([f"+{group}={option}"])
    assert one_line(err.value, [f"+{group}={option}"]) == (
        f"{group}: already in the config; drop the + to set it ({group}=...), or use ++"
    )
