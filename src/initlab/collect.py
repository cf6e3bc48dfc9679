"""Gather the files of a sweep's runs into one CSV per table under ``results/<profile>/<name>/``.

Every run directory of a sweep holds ``summary.json``, ``metrics.csv`` and whatever tables its
task wrote (``angles.csv``, ``hessian.csv``, ...; those in ``RUN_ONLY_TABLES`` stay in the run
directories). Each row of the collected table gets the run's sweep overrides (``model``,
``model.depth``, ``seed``, ...) as leading columns, read from Hydra's ``.hydra/overrides.yaml``,
plus the run's ``status``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from initlab.tracking import atomic_write_text

SKIP_SUMMARY_KEYS = ("versions",)
#: tables that stay in their run directories: task=grid_search's grid.csv has a row per member
#: and epoch (millions of rows for the paper's UCI grids); its selections are in selected.csv
RUN_ONLY_TABLES = frozenset({"grid"})


def _overrides(run_dir: Path) -> dict[str, str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.exists():
        return {}
    columns = {}
    for item in yaml.safe_load(path.read_text()) or []:
        key, _, value = str(item).lstrip("+~").partition("=")
        if not key.startswith("hydra") and key != "experiment":
            columns[key] = value
    return columns


def run_dirs(sweep_dir: Path) -> list[Path]:
    """Directories under ``sweep_dir`` that hold a run (a summary.json), in a stable order."""
    return sorted(p.parent for p in Path(sweep_dir).rglob("summary.json"))


def collect(sweep_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Write ``out_dir/<table>.csv`` for every table found; returns table name -> path."""
    tables: dict[str, list[pd.DataFrame]] = {}
    for run_dir in run_dirs(sweep_dir):
        summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
        lead = {
            "run": str(run_dir.relative_to(sweep_dir)),
            **_overrides(run_dir),
            "status": summary.get("status"),
        }
        flat = {k: v for k, v in summary.items() if k not in SKIP_SUMMARY_KEYS and k != "status"}
        tables.setdefault("summary", []).append(pd.DataFrame([{**lead, **flat}]))
        for csv_path in sorted(run_dir.glob("*.csv")):
            if csv_path.stem in RUN_ONLY_TABLES:
                continue
            frame = pd.read_csv(csv_path)
            for i, (key, value) in enumerate(lead.items()):
                if key not in frame.columns:
                    frame.insert(i, key, value)
            tables.setdefault(csv_path.stem, []).append(frame)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frames in tables.items():
        path = out_dir / f"{name}.csv"
        atomic_write_text(path, pd.concat(frames, ignore_index=True).to_csv(index=False))
        written[name] = path
    return written
