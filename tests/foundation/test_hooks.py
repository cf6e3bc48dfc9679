"""The engine's seams (initlab.hooks) and the direction of imports: the harness imports the
engine, never the reverse."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import pytest

from initlab import hooks

SRC = Path(__file__).resolve().parents[2] / "src"


def test_listeners_hear_their_event_and_plugins_load_once(monkeypatch):
    heard = []
    monkeypatch.setattr(hooks, "_listeners", {})
    monkeypatch.setattr(hooks, "_loaded", set())
    plugin = types.ModuleType("my_plugin")
    imported = []

    def import_module(name):
        imported.append(name)
        hooks.on("step", lambda step: heard.append(step))
        return plugin

    monkeypatch.setattr(hooks.importlib, "import_module", import_module)
    monkeypatch.setenv(hooks.PLUGINS_ENV, "my_plugin, ,my_plugin")
    hooks.load_plugins()
    hooks.load_plugins()
    assert imported == ["my_plugin"]
    hooks.emit("step", step=3)
    hooks.emit("progress", units=1)  # nobody listens: nothing happens
    assert heard == [3]
    with pytest.raises(ValueError, match="unknown event 'stpe'"):
        hooks.on("stpe", print)


def test_the_engine_imports_nothing_of_the_harness():
    offenders = []
    for path in sorted((SRC / "initlab").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [f"{path.relative_to(SRC)}: {n}" for n in names
                          if n.split(".")[0] == "initlab_harness"]  # fmt: skip
    assert offenders == []
