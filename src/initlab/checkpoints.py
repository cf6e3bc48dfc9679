"""Load a saved network into a freshly built model (tasks that measure a trained network), and
read any file initlab saved with ``torch.save`` without running code.

A checkpoint is a train run's ``checkpoint.pt`` (written by :meth:`initlab.run.Run.save_checkpoint`:
a dict whose ``model`` entry is the state dict), the run directory holding one, or a plain state
dict saved with ``torch.save``. Loading is strict: every tensor must fit the model built from the
current config, else the user gets one ConfigError naming the file.

Every file is read by :func:`load_file`: ``torch.load(weights_only=True)``, which builds tensors
and plain Python values (dicts, lists, numbers, strings) and nothing else, plus the allow-list
:data:`SAFE_GLOBALS` of what initlab's own files hold. A file that names any other function or
class (a pickle whose ``__reduce__`` calls ``os.system``, a pickled model object) is refused in
one line before anything in it runs.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from initlab.config import ConfigError

CHECKPOINT_FILE = "checkpoint.pt"


class UnreadableFile(ConfigError):
    """A file that is not a torch-saved object at all (torn, empty, garbage)."""


class UnsafeFile(ConfigError):
    """A file that would run code to load (it names a function or class outside the
    allow-list); nothing in it was run."""


def _numpy_globals() -> list[Any]:
    """What a numpy array or scalar pickles into: checkpoints of earlier versions hold some
    (spectral quadrature rows were numpy floats); initlab now saves plain floats and tensors."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    kinds = "?bBhHiIlLqQefdgFDG"  # bool, integers, floats and complex of every width
    return [
        multiarray._reconstruct,
        multiarray.scalar,
        np.ndarray,
        np.dtype,
        *sorted({type(np.dtype(kind)) for kind in kinds}, key=lambda t: t.__name__),
    ]


def safe_globals() -> list[Any]:
    """The allow-list: numpy arrays and scalars (files of earlier versions) and
    :class:`~initlab.analysis.lanczos.LanczosResult` (a curvature run's finished Lanczos stage,
    a frozen dataclass of tensors and numbers). Nothing on it runs code when rebuilt."""
    from initlab.analysis.lanczos import LanczosResult

    return [*_numpy_globals(), LanczosResult]


def load_file(path: str | Path, key: str, fix: str) -> Any:
    """``torch.load(path, weights_only=True)`` with :func:`safe_globals` allowed, on the CPU.

    Raises :class:`UnsafeFile` for a file that would need code to load (what it names is in the
    message: nothing in it ran) and :class:`UnreadableFile` for any other file that does not
    load; both messages are one line naming ``key`` and the absolute path, ``fix`` says what
    to do."""
    file = Path(os.path.abspath(path))
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of plain pickles
            warnings.simplefilter("ignore")
            with torch.serialization.safe_globals(safe_globals()):
                return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any file that does not load is the same error
        named = re.search(r"GLOBAL ([\w.]+)", str(err))
        if named:
            raise UnsafeFile(
                f"{key}: {file} needs code to load (it names {named.group(1)}): refused, "
                f"nothing in it ran; {fix}"
            ) from None
        raise UnreadableFile(
            f"{key}: {file} is not a readable checkpoint ({type(err).__name__}); {fix}"
        ) from None


def checkpoint_file(path: str | Path, key: str = "task.checkpoint") -> Path:
    """The checkpoint file ``path`` names: the file itself, or ``checkpoint.pt`` in a directory."""
    file = Path(os.path.abspath(path))
    if file.is_dir():
        file = file / CHECKPOINT_FILE
    if not file.is_file():
        raise ConfigError(
            f"{key}: {file} does not exist; give a train run's directory or its checkpoint.pt"
        )
    return file


def misfit(expected: dict[str, Any], saved: Any) -> str | None:
    """How the state dict ``saved`` does not fit ``expected`` (a model's own state dict), in one
    phrase: the first missing, unexpected or differently shaped tensor, and how many there are;
    None if every tensor fits."""
    if not isinstance(saved, dict):
        return f"it holds a {type(saved).__name__}, not a state dict"
    problems = []
    for name, tensor in expected.items():
        if name not in saved:
            problems.append(f"{name} is missing")
        elif not torch.is_tensor(saved[name]):
            problems.append(f"{name} is a {type(saved[name]).__name__}, not a tensor")
        elif torch.is_tensor(tensor) and saved[name].shape != tensor.shape:
            problems.append(
                f"{name} has shape {tuple(saved[name].shape)}, the model's {tuple(tensor.shape)}"
            )
    problems += [f"{name} is not in the model" for name in saved if name not in expected]
    if not problems:
        return None
    if len(problems) == 1:
        return problems[0]
    return f"{problems[0]} ({len(problems)} of {len(expected)} tensors do not fit)"


def load_weights(model: nn.Module, path: str | Path, key: str = "task.checkpoint") -> dict:
    """Copy the saved weights into ``model`` (strict); returns the whole saved object's metadata
    (every entry but the weights; empty for a plain state dict)."""
    file = checkpoint_file(path, key)
    state = load_file(
        file,
        key,
        f"point {key} at a train run's directory or its checkpoint.pt, or at weights saved "
        "with torch.save(model.state_dict(), path)",
    )
    meta: dict = {}
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        meta = {k: v for k, v in state.items() if k != "model"}
        state = state["model"]
    if not isinstance(state, dict):
        raise ConfigError(f"{key}: {file} holds no state dict ({type(state).__name__})")
    problem = misfit(model.state_dict(), state)
    if problem is None:
        try:
            model.load_state_dict(state)
        except (RuntimeError, ValueError) as err:
            problem = str(err).strip().splitlines()[-1].strip()
    if problem is not None:
        raise ConfigError(
            f"{key}: {file} does not fit this model: {problem}; give a checkpoint of a run "
            "with the same model settings (model.*)"
        )
    return meta


def saved_config(path: str | Path, key: str = "task.checkpoint") -> dict | None:
    """The resolved config of the run that wrote the checkpoint (its ``config.yaml``), if any."""
    config = checkpoint_file(path, key).parent / "config.yaml"
    if not config.is_file():
        return None
    loaded = yaml.safe_load(config.read_text())
    return loaded if isinstance(loaded, dict) else None
