"""Column names of the collected results tables (``results/<profile>/<experiment>/*.csv``).

One home for the names that collect writes and the claim rules, tables and figures read. A
recorded config key keeps its dotted config name as its column (``model.depth``), so a column
always says which key of the run it came from.
"""

from __future__ import annotations

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
