"""NaN is refused in every float key of every config option, with a message naming the key.

For each option of each config group (``model=snn``, ``task=grid_search``, ...) the composed
config is parsed once as it is (it must be accepted), then once per float value in it with that
value (or a list's first item) set to NaN: each must raise ConfigError naming that key. A key
the schema types ``Any`` (or forgets to check) would pass NaN through and fail here.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from initlab.compose import compose
from initlab.config import ConfigError
from initlab.setup import parse_config

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUPS = ("model", "init", "optim", "data", "task")
# options that only compose beside another group's option
PARTNERS = {
    "init=fixup": ["model=resnet"],
    "model=resnet_vae": ["task=train_vae"],
    "model=resnet_vae_162": ["task=train_vae"],
    "task=train_vae": ["model=resnet_vae"],
}


def _options() -> list[str]:
    return [f"{g}={p.stem}" for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


def _float_paths(node: Any, path: tuple) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _float_paths(value, (*path, key))
    elif isinstance(node, list) and node and all(isinstance(v, float) for v in node):
        yield (*path, 0)
    elif isinstance(node, float) and math.isfinite(node):
        yield path


def _key(path: tuple) -> str:
    return ".".join(str(p) for p in path if not isinstance(p, int))


def _set(config: dict, path: tuple, value: float) -> dict:
    changed = copy.deepcopy(config)
    node = changed
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return changed


@pytest.mark.parametrize("option", _options())
def test_nan_is_refused_in_every_float_key(option):
    config = compose([option, *PARTNERS.get(option, [])])
    parse_config(config)  # the option as it is is accepted
    group = option.split("=")[0]
    paths = list(_float_paths(config[group], (group,)))
    for path in paths:
        with pytest.raises(ConfigError) as refused:
            parse_config(_set(config, path, math.nan))
        message = str(refused.value)
        assert message.startswith(_key(path)) and "nan" in message, (path, message)


def test_the_sweep_reaches_float_keys_of_every_group():
    """The test above must see float keys (a walk that found none would check nothing)."""
    counts = {g: 0 for g in GROUPS}
    for option in _options():
        group = option.split("=")[0]
        config = compose([option, *PARTNERS.get(option, [])])
        counts[group] += len(list(_float_paths(config[group], (group,))))
    assert all(n > 0 for n in counts.values()), counts
