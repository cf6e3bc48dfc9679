"""Compose the repository's ``conf/`` from Python (notebooks, tests) without the CLI.

from initlab.compose import compose
from initlab.main import execute
summary = execute(compose(["model=resnet", "init=fixup"]), "outputs/notebook-run")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def compose(overrides: Sequence[str] = (), config_name: str = "config") -> dict[str, Any]:
    """The resolved config dict that ``python train.py <overrides>`` would run.

    Hydra's own node is composed too, so interpolations such as
    ``${hydra:runtime.choices.fnn}`` (the chosen option of a group) resolve as on the CLI; the
    ``hydra`` node itself is dropped from the result, as ``train.py`` never sees it either.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(
            config_name=config_name, overrides=list(overrides), return_hydra_config=True
        )
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return OmegaConf.to_container(cfg, resolve=True)
