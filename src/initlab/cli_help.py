"""``python train.py --help``: every group and key of the composition, from the schemas.

Hydra's own help page lists the config groups but none of the schemas' help strings; this page
is written from the same schemas ``parse_config`` checks against, for the composition the rest
of the command line selects (``python train.py model=resnet --help`` shows the ResNet's keys).
Each key is listed with its type, its value in that composition (the YAML default unless the
command line changed it), its constraint and its help string. Hydra's page stays available as
``--hydra-help``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HELP_FLAGS = ("--help", "-h")
USAGE = (
    "usage: python train.py [group=option ...] [key=value ...]   (-m: a sweep over comma lists)\n"
    "       python train.py experiment=<name> -m   |   make experiment NAME=<name>\n"
    "Keys below are for the composition the rest of this command line selects; add group\n"
    "options before --help to see theirs (python train.py model=resnet task=hessian --help).\n"
    "Hydra's own help: --hydra-help."
)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _constraint(meta: Mapping[str, Any]) -> str:
    if meta.get("choices"):
        return "one of " + ", ".join(str(c) for c in meta["choices"])
    lo, hi = meta.get("min"), meta.get("max")
    parts = []
    if lo is not None:
        parts.append(f"{'>' if meta.get('min_exclusive') else '>='} {lo}")
    if hi is not None:
        parts.append(f"<= {hi}")
    return " and ".join(parts)


def _value(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def field_lines(schema: type, values: Mapping[str, Any], prefix: str) -> list[str]:
    """One line per key of ``schema`` (nested dataclasses flattened), ``prefix.key``."""
    lines = []
    hints = typing.get_type_hints(schema)
    for field in dataclasses.fields(schema):
        if field.name == "name":
            continue
        key = f"{prefix}.{field.name}" if prefix else field.name
        tp = hints.get(field.name, field.type)
        value = values.get(field.name) if isinstance(values, Mapping) else None
        if dataclasses.is_dataclass(tp):
            lines += field_lines(tp, value or {}, key)
            continue
        detail = "; ".join(
            p for p in (_constraint(field.metadata), field.metadata.get("help")) if p
        )
        lines.append(
            f"  {key} ({_type_name(tp)}) = {_value(value)}" + (f"  # {detail}" if detail else "")
        )
    return lines


def _options(folder: Path) -> str:
    return ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))


def help_text(overrides: Sequence[str]) -> str:
    """The help page for ``python train.py <overrides> --help``."""
    from initlab.compose import CONF_DIR, compose
    from initlab.run import RuntimeConfig
    from initlab.setup import GROUPS, RootConfig
    from initlab.tracking import LoggerConfig

    cfg = compose(list(overrides))
    out = [USAGE, ""]
    for group, registry in GROUPS.items():
        chosen = cfg[group]["name"]
        out.append(f"{group}={chosen}   (options: {_options(CONF_DIR / group)})")
        out += field_lines(registry.entry(chosen).schema, cfg[group], group)
        out.append("")
    out.append(f"logger   (options: {_options(CONF_DIR / 'logger')})")
    out += field_lines(LoggerConfig, cfg["logger"], "logger")
    out.append("")
    out.append("runtime   (outside the config hash)")
    out += field_lines(RuntimeConfig, cfg.get("runtime", {}), "runtime")
    out.append("")
    out.append("top-level keys")
    out += [
        line
        for line in field_lines(RootConfig, cfg, "")
        if not line.lstrip().startswith(tuple(f"{g} " for g in (*GROUPS, "logger", "runtime")))
    ]
    out.append("")
    out.append(f"arm={cfg.get('arm', 'none')}   (options: {_options(CONF_DIR / 'arm')})")
    out.append(f"experiment=<name>   (options: {_options(CONF_DIR / 'experiment')})")
    return "\n".join(out)


def wants_help(argv: Sequence[str]) -> bool:
    return any(arg in HELP_FLAGS for arg in argv)


def without_help(argv: Sequence[str]) -> list[str]:
    return [arg for arg in argv if arg not in HELP_FLAGS]
