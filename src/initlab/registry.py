"""Name -> (schema, builder) registries, one per config group.

A model, initializer, data set, task or optimizer is added by writing one module that decorates
its builder with ``@GROUP.register("name", SchemaDataclass)`` and one YAML file in
``conf/<group>/name.yaml`` whose ``name:`` key matches. Nothing else dispatches on names.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from initlab.config import ConfigError, check

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Entry:
    name: str
    schema: type
    builder: Callable[..., Any]


class Registry(Generic[F]):
    """A config group: names registered with their schema dataclass and builder."""

    def __init__(self, group: str, package: str) -> None:
        self.group = group
        self._package = package
        self._entries: dict[str, Entry] = {}
        self._loaded = False

    def register(self, name: str, schema: type) -> Callable[[F], F]:
        def decorate(builder: F) -> F:
            if name in self._entries:
                raise RuntimeError(f"{self.group} {name!r} is registered twice")
            self._entries[name] = Entry(name, schema, builder)
            return builder

        return decorate

    def _load(self) -> None:
        """Import every module of the group's package so their decorators run."""
        if self._loaded:
            return
        package = importlib.import_module(self._package)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{self._package}.{info.name}")
        self._loaded = True

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def entry(self, name: str) -> Entry:
        self._load()
        if name not in self._entries:
            hint = difflib.get_close_matches(str(name), list(self._entries), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(
                f"{self.group}.name: unknown {self.group} {name!r}{extra}; "
                f"allowed values: {', '.join(self.names())}"
            )
        return self._entries[name]

    def parse(self, node: Mapping[str, Any], prefix: str | None = None) -> Any:
        """Check ``node`` (which must hold ``name``) against its schema; return the typed config."""
        prefix = prefix or self.group
        if not isinstance(node, Mapping) or "name" not in node:
            raise ConfigError(
                f"{prefix}.name: required key is missing; allowed values: {', '.join(self.names())}"
            )
        return check(node, self.entry(node["name"]).schema, prefix)

    def build(self, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the builder registered under ``cfg.name`` with the typed config."""
        return self.entry(cfg.name).builder(cfg, *args, **kwargs)
