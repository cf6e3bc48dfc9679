"""Column names of the collected results tables (``results/<profile>/<experiment>/*.csv``).

One home for the names that collect writes and the claim rules, tables and figures read. A
recorded config key keeps its dotted config name as its column (``model.depth``), so a column
always says which key of the run it came from.

A run's recorded keys are also its identity within its experiment (:func:`run_identity`): its
folder in the sweep is named after them (:func:`run_name`), and :mod:`initlab.collect` refuses
two runs of one sweep that share them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from initlab.config import ConfigError

#: the run's directory relative to its sweep (one per sweep point)
RUN = "run"
#: the run's final status: completed, diverged or failed
STATUS = "status"
COMPLETED = "completed"
DIVERGED = "diverged"
#: the compared model + initializer (``conf/arm/<name>.yaml``)
ARM = "arm"
SEED = "seed"
DEPTH = "model.depth"
LR = "optim.lr"
DATA = "data"
DATASET = "data.dataset"
FOLD = "data.fold"
MATRIX = "task.matrix"
INIT_BASE = "init.base"
#: the scale a run belongs to; every run records it after its experiment's keys
PROFILE = "profile"
#: summary.json's entry holding the recorded keys
RECORDED = "recorded"


def recorded(config: dict[str, Any]) -> dict[str, Any]:
    """The values of ``config["record"]`` (then ``profile``) that a run writes into its summary.

    A key names a config entry by its dotted path (``model.depth``); a group (``data``,
    ``init``) records the name of its choice. A key missing from the config is an error.
    """
    values = {}
    for key in [*config.get("record", []), PROFILE]:
        node: Any = config
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"record: {key!r} is not a key of the config")
            node = node[part]
        values[key] = node.get("name", key) if isinstance(node, dict) else node
    return values


#: a run folder's name longer than this keeps a prefix and ends with a hash of the identity
MAX_RUN_NAME = 100
#: the resolver that names a sweep's run folders: ``hydra.sweep.subdir=${initlab.run_name:}``
RUN_NAME_RESOLVER = "initlab.run_name"
_SAFE_KEY = re.compile(r"[A-Za-z0-9_.]+")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.+-]+")


def run_identity(values: Mapping[str, Any], seed: Any = None) -> dict[str, Any]:
    """A run's identity within its experiment: its recorded keys with their values (less
    ``profile``, which names the sweep's folder already), then its ``seed`` if they lack it.

    Keys that only change how a run is watched (``logger.*``, ``device``, ``runtime.*``) are
    never recorded, so they never change a run's identity.
    """
    identity = {k: v for k, v in values.items() if k != PROFILE}
    if SEED not in identity and seed is not None:
        identity[SEED] = seed
    return identity


def summary_identity(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The identity of the run that wrote ``summary`` (summary.json); None when it recorded no
    keys (a sweep member refused before its config was read)."""
    values = summary.get(RECORDED)
    if not isinstance(values, Mapping):
        return None
    return run_identity(values, summary.get(SEED))


def describe_identity(identity: Mapping[str, Any]) -> str:
    """``key=value, ...`` as the keys read in a message."""
    return ", ".join(f"{k}={_text(v)}" for k, v in identity.items())


def run_name(identity: Mapping[str, Any]) -> str:
    """The run's folder name: ``key=value`` per identity key, in record order, comma-joined
    (``arm=resnet_he,model.depth=4,seed=0``).

    A name with a character outside ``[A-Za-z0-9_.+-]`` in a value (a list, a path, a space),
    or longer than :data:`MAX_RUN_NAME`, keeps what fits of its safe form and ends with
    ``,sha=`` and 12 hex digits of the whole identity: stable, filesystem-safe, distinct.
    """
    parts = [(str(k), _text(v)) for k, v in identity.items()]
    name = ",".join(f"{k}={v}" for k, v in parts)
    safe = all(_SAFE_KEY.fullmatch(k) and _SAFE_VALUE.fullmatch(v) for k, v in parts)
    if safe and len(name) <= MAX_RUN_NAME:
        return name
    blob = json.dumps([[k, v] for k, v in parts], separators=(",", ":"))
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    tag = f",sha={digest}"
    readable = re.sub(r"[^A-Za-z0-9_.+=,-]", "_", name)[: MAX_RUN_NAME - len(tag)]
    return readable + tag


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _run_name_of_config(*, _root_: Any) -> str:
    """``${initlab.run_name:}``: the run folder's name from the job's composed config (Hydra
    resolves ``hydra.sweep.subdir`` per sweep member), with the values :func:`recorded` gives.
    Only the recorded keys are resolved (a group by its ``name``). A ``record`` key missing from
    the config names the folder ``record-error``; the run then refuses it in one line."""
    from omegaconf import OmegaConf

    missing = object()
    values = {}
    for key in [*(str(k) for k in _root_.get("record") or []), PROFILE]:
        node = OmegaConf.select(_root_, key, default=missing)
        if node is missing:
            return "record-error"
        if OmegaConf.is_dict(node):
            node = node.get("name", key)
        values[key] = (
            OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        )
    return run_name(run_identity(values, OmegaConf.select(_root_, SEED)))


def _register_resolver() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver(RUN_NAME_RESOLVER):
        OmegaConf.register_new_resolver(RUN_NAME_RESOLVER, _run_name_of_config)


# train.py imports this module (through initlab.main) before Hydra names a sweep's folders,
# in the process that runs the job (a SLURM job too: unpickling the task imports it)
_register_resolver()
