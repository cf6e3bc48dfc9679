"""Hydra's and OmegaConf's refusals of a command line, in one line each.

Hydra answers a bad group option (``model=nosuch``), a key typo without ``+``
(``model.dept=3``), an override it cannot parse or a list given without ``-m`` with messages of
several lines (the options one per line, the search path, a hint about ``HYDRA_FULL_ERROR``).
``train.py`` catches them (``HYDRA_FULL_ERROR`` lets them through Hydra) and prints
``initlab: error: <key>: <what is wrong>; <what is allowed>`` instead, like initlab's own
refusals.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

from initlab.compose import CONF_DIR


def _match(word: str, options: Sequence[str]) -> str | None:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return match[0] if match else None


def _close(word: str, options: Sequence[str]) -> str:
    match = _match(word, options)
    return f" (did you mean {match!r}?)" if match else ""


def _first_lines(text: str, n: int = 1) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    keep = [line for line in lines if not line.startswith(("See https://", "full_key", "object_"))]
    return " ".join(keep[:n]).rstrip(".")


def _keys_of(parent: str, overrides: Sequence[str], bad: str) -> list[str] | None:
    """The keys under ``parent`` ("" for the top) of the config the other overrides compose."""
    from hydra import compose, initialize_config_dir
    from omegaconf import DictConfig, OmegaConf

    others = [o for o in overrides if o != bad and not o.startswith("hydra")]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", others)
    except Exception:  # noqa: BLE001 - another bad override: name no keys
        return None
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return [str(k) for k in node] if isinstance(node, DictConfig) else None


def _override_of(key: str, overrides: Sequence[str]) -> str:
    for override in overrides:
        if override.lstrip("+~").split("=", 1)[0] == key:
            return override
    return key


def one_line(err: BaseException, overrides: Sequence[str] = ()) -> str:
    """``err`` (a Hydra or OmegaConf exception) as one line: the key, what is wrong, what is
    allowed (without the ``initlab: error:`` prefix)."""
    from hydra.errors import MissingConfigException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    text = str(err)
    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, option = err.missing_cfg_file.rpartition("/")
        options = list(err.options or [])
        if group and options:
            allowed = ", ".join(options)
            given = f"no option {option!r}" if option else "no option given"
            return f"{group}: {given}{_close(option, options)}; options: {allowed}"
        return f"{err.missing_cfg_file}: no such config in {CONF_DIR}"
    if isinstance(err, OverrideParseException):
        reason = _first_lines(err.message.replace(f"Error parsing override '{err.override}'", ""))
        return (
            f"{err.override}: cannot parse this override ({reason}); write key=value, +key=value "
            "to add a key, ~key to delete one (https://hydra.cc/docs/advanced/override_grammar/"
            "basic)"
        )
    cause = err.__cause__
    if isinstance(cause, OmegaConfBaseException) and text.startswith("Could not override"):
        key = re.search(r"Could not override '([^']*)'", text)
        override = _override_of(key.group(1), overrides) if key else ""
        full = key.group(1) if key else str(getattr(cause, "full_key", "") or "")
        missing = str(getattr(cause, "full_key", "") or full)
        parent, _, name = missing.rpartition(".")
        known = _keys_of(parent, overrides, override)
        match = _match(name, known) if known else None
        close = f" (did you mean {parent + '.' if parent else ''}{match}?)" if match else ""
        allowed = f"; allowed keys: {', '.join(known)}" if known else ""
        add = override.split("=", 1)[1] if "=" in override else "..."
        return f"{full}: unknown key{close}{allowed}; to add a new key, write +{full}={add}"
    # +key= on a key the config has (a value), or on a group its defaults list names
    if text.startswith(("Could not append to config", "Multiple values for ")):
        key = re.search(r"An item is already at '([^']*)'|Multiple values for (\S+?)\.? To", text)
        name = next((g for g in key.groups() if g), "?") if key else "?"
        return f"{name}: already in the config; drop the + to set it ({name}=...), or use ++"
    if text.startswith("Could not delete from config"):
        key = re.search(r"'([^']*)' does not exist", text)
        return f"{key.group(1) if key else '?'}: not in the config, so it cannot be deleted (~)"
    if text.startswith("Ambiguous value for argument"):
        arg = re.search(r"argument '([^']*)'", text)
        override = arg.group(1) if arg else "?"
        return (
            f"{override}: several values need -m (--multirun) to sweep over them; write "
            "key=[a,b] for a list, or key='a,b' for one string"
        )
    if isinstance(err, OmegaConfBaseException):
        key = getattr(err, "full_key", None)
        return f"{key + ': ' if key else ''}{_first_lines(text)}"
    detail = _first_lines(str(cause)) if cause is not None else ""
    return _first_lines(text, 2) + (f" ({detail})" if detail else "")


def is_hydra_error(err: BaseException) -> bool:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return isinstance(err, HydraException | OmegaConfBaseException)


def describe(err: Any, overrides: Sequence[str] = ()) -> str:
    return f"initlab: error: {one_line(err, overrides)}"
