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
    """The resolved config dict that ``python train.py <overrides>`` would run."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name=config_name, overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)
