"""Load a saved network into a freshly built model (tasks that measure a trained network).

A checkpoint is a train run's ``checkpoint.pt`` (written by :meth:`initlab.run.Run.save_checkpoint`:
a dict whose ``model`` entry is the state dict), the run directory holding one, or a plain state
dict saved with ``torch.save``. Loading is strict: every tensor must fit the model built from the
current config, else the user gets one ConfigError naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from initlab.config import ConfigError

CHECKPOINT_FILE = "checkpoint.pt"


def checkpoint_file(path: str | Path, key: str = "task.checkpoint") -> Path:
    """The checkpoint file ``path`` names: the file itself, or ``checkpoint.pt`` in a directory."""
    file = Path(path)
    if file.is_dir():
        file = file / CHECKPOINT_FILE
    if not file.is_file():
        raise ConfigError(f"{key}: {file} does not exist")
    return file


def load_weights(model: nn.Module, path: str | Path, key: str = "task.checkpoint") -> dict:
    """Copy the saved weights into ``model`` (strict); returns the whole saved object's metadata
    (every entry but the weights; empty for a plain state dict)."""
    file = checkpoint_file(path, key)
    try:
        state: Any = torch.load(file, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise ConfigError(
            f"{key}: {file} is not a readable checkpoint ({type(err).__name__}); point {key} at "
            "a train run's directory or its checkpoint.pt"
        ) from None
    meta: dict = {}
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        meta = {k: v for k, v in state.items() if k != "model"}
        state = state["model"]
    if not isinstance(state, dict):
        raise ConfigError(f"{key}: {file} holds no state dict ({type(state).__name__})")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ConfigError(f"{key}: {file} does not fit this model: {err}") from None
    return meta


def saved_config(path: str | Path, key: str = "task.checkpoint") -> dict | None:
    """The resolved config of the run that wrote the checkpoint (its ``config.yaml``), if any."""
    config = checkpoint_file(path, key).parent / "config.yaml"
    if not config.is_file():
        return None
    loaded = yaml.safe_load(config.read_text())
    return loaded if isinstance(loaded, dict) else None
