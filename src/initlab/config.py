"""Typed configuration checks.

Every config group node (``model``, ``init``, ``data``, ``task``, ``optim``, ``logger``) carries a
``name`` that selects a registered builder, and each builder declares a dataclass schema. The
composed Hydra config is checked against those schemas before any work starts: an unknown key, a
value of the wrong type, a choice outside its allowed set or an out-of-range number raises
:class:`ConfigError` with a message that names the full key and what is allowed.

Schemas declare types and constraints only (``@dataclass(kw_only=True)``, no defaults: a default
lives in the group's YAML file). Constraints sit next to the field with :func:`spec`, e.g.::

    depth: int = spec(min=1)
    activation: str = spec(choices=ACTIVATIONS)
    root: str = spec(path=True)  # a relative path is taken from the directory the user started in

A ``path=True`` key is resolved against :func:`start_dir` (where ``python train.py`` was started),
whatever ``hydra.job.chdir`` says, so its value and every message about it name an absolute path.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value that initlab refuses; the message is meant for the user, as is."""


#: seeds go to torch, numpy and scikit-learn (``random_state`` < 2**32), some times 10**6
SEED_MAX = 2**32 - 1


def start_dir() -> Path:
    """The directory the user started in: Hydra's ``runtime.cwd`` inside a Hydra job that
    changed into its run directory (``hydra.job.chdir=true``), else the current one (a job
    that did not change directory, ``execute`` called with a plain dict from a notebook or a
    test, ``torchrun``; a config left behind by an earlier ``compose`` is not a job's)."""
    if "hydra" in sys.modules:  # not imported: no Hydra job is running
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import OmegaConf

        if HydraConfig.initialized():
            runtime = HydraConfig.get().runtime
            output_dir = OmegaConf.select(runtime, "output_dir", default=None)
            if output_dir and os.path.realpath(output_dir) == os.path.realpath(os.getcwd()):
                return Path(runtime.cwd)
    return Path.cwd()


def resolve_path(value: str) -> str:
    """``value`` (``~`` expanded) as an absolute path, a relative one taken from
    :func:`start_dir`."""
    return os.path.abspath(start_dir() / os.path.expanduser(value))


def spec(
    *,
    min: float | None = None,  # noqa: A002 - reads naturally at the call site
    max: float | None = None,  # noqa: A002
    min_exclusive: bool = False,
    choices: Sequence[Any] | None = None,
    help: str = "",  # noqa: A002
    path: bool = False,
) -> Any:
    """A required dataclass field with range/choice constraints checked by :func:`check`.

    ``path``: a file or folder; a relative value is resolved against :func:`start_dir`.
    Schemas hold no defaults: a default lives in one place, the YAML file of its config.
    """
    meta = {
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "choices": tuple(choices) if choices is not None else None,
        "help": help,
        "path": path,
    }
    return dataclasses.field(metadata=meta)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Return ``value`` as type ``tp`` or raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        _refuse_nonfinite(value, key)
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(
            f"{key}: {value!r} is not allowed; allowed values: {', '.join(map(repr, args))}"
        )
    if origin in (list, tuple, Sequence):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp in (dict, Mapping) or origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        _refuse_nonfinite(value, key)
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value) and not _allows_infinity(key):
                raise ConfigError(f"{key}: {value!r} is not a finite number; give a finite value")
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if dataclasses.is_dataclass(tp):
        return check(value, tp, key)
    raise TypeError(
        f"unsupported schema type {tp!r} for {key}"
    )  # a bug in a schema, not user input


def _refuse_nonfinite(value: Any, key: str) -> None:
    """NaN or inf anywhere inside an untyped value (a grid's axes, an optimizer mapping) is
    refused like a typed float's, naming the key path down to it."""
    if isinstance(value, float) and not math.isfinite(value) and not _allows_infinity(key):
        raise ConfigError(f"{key}: {value!r} is not a finite number; give a finite value")
    if isinstance(value, Mapping):
        for name, item in value.items():
            _refuse_nonfinite(item, f"{key}.{name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _refuse_nonfinite(item, f"{key}[{i}]")


# Keys whose value may be +inf by design (none yet; NaN is refused everywhere).
INFINITE_OK: tuple[str, ...] = ()


def _allows_infinity(key: str) -> bool:
    return any(key.endswith(suffix) for suffix in INFINITE_OK)


def _check_constraints(value: Any, field: dataclasses.Field, key: str) -> None:
    meta = field.metadata
    if value is None:
        return
    choices = meta.get("choices")
    for item in value if isinstance(value, list) and choices is not None else [value]:
        if choices is not None and item not in choices:
            hint = difflib.get_close_matches(str(item), [str(c) for c in choices], n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(
                f"{key}: {item!r} is not allowed{extra}; allowed values: "
                + ", ".join(str(c) for c in choices)
            )
    lo, hi = meta.get("min"), meta.get("max")
    values = value if isinstance(value, list) else [value]
    for v in values:
        if not isinstance(v, int | float):
            continue
        if lo is not None and (v < lo or (meta.get("min_exclusive") and v == lo)):
            op = ">" if meta.get("min_exclusive") else ">="
            bound = f"{op} {lo}" + (f" and <= {hi}" if hi is not None else "")
            raise ConfigError(f"{key}: {value!r} is out of range; allowed: {bound}")
        if hi is not None and v > hi:
            bound = f"<= {hi}" + (f" and >= {lo}" if lo is not None else "")
            raise ConfigError(f"{key}: {value!r} is out of range; allowed: {bound}")


def check(node: Mapping[str, Any], schema: type[T], prefix: str) -> T:
    """Check a plain mapping against a dataclass schema and return the typed instance.

    ``prefix`` is the dotted path of ``node`` in the full config (for messages).
    """
    if not isinstance(node, Mapping):
        raise ConfigError(f"{prefix}: expected a mapping of keys, got {node!r}")
    fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(schema)
    unknown = [k for k in node if k not in fields]
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(str(key), list(fields), n=1)
        extra = f" (did you mean {_join(prefix, hint[0])}?)" if hint else ""
        raise ConfigError(
            f"{_join(prefix, key)}: unknown key{extra}; allowed keys: {', '.join(fields)}"
        )
    kwargs = {}
    for name, field in fields.items():
        key = _join(prefix, name)
        if name not in node:
            raise ConfigError(f"{key}: required key is missing")
        value = _coerce(node[name], hints[name], key)
        _check_constraints(value, field, key)
        if field.metadata.get("path") and isinstance(value, str) and value:
            value = resolve_path(value)
        kwargs[name] = value
    instance = schema(**kwargs)
    validate = getattr(instance, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError as err:
            raise ConfigError(_join(prefix, str(err))) from None
    return instance


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def allowed_keys(schema: type) -> list[str]:
    return [f.name for f in dataclasses.fields(schema)]
