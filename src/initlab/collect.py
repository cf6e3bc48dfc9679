"""Gather the files of a sweep's runs into one CSV per table under ``results/<profile>/<name>/``.

Every run directory of a sweep holds ``summary.json``, ``metrics.csv`` and whatever tables its
task wrote (``angles.csv``, ``hessian.csv``, ...; those in ``RUN_ONLY_TABLES`` stay in the run
directories). Each row of the collected table gets the run's recorded keys as leading columns:
the ``record`` list its experiment declares (``arm``, ``model.depth``, ``seed``, ...) and its
``profile``, as the run wrote them into ``summary.json["recorded"]``, plus the run's ``status``.
:func:`check_claims` then checks the columns each claim of the experiment declares it reads.

A run is counted once: its recorded keys and its seed are its identity
(:func:`initlab.columns.summary_identity`), and :func:`collect` refuses a sweep in which two runs
share one, whatever their status (completed, diverged, failed or preempted: a failed copy would
count too), with one line naming the keys and both directories, and writes nothing. It does not
pick one of them: which one is meant (an older copy, another config of the same keys) is the
user's to say, by moving the other out of the sweep's directory and running the experiment again
(its finished runs are skipped, and it collects again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from initlab.columns import RECORDED, RUN, STATUS, describe_identity, summary_identity
from initlab.tracking import atomic_write_text

SKIP_SUMMARY_KEYS = ("versions", RECORDED)
#: tables that stay in their run directories: task=grid_search's grid.csv has a row per member
#: and epoch (millions of rows for the paper's UCI grids); its selections are in selected.csv
RUN_ONLY_TABLES = frozenset({"grid"})


class ContractError(Exception):
    """A collected table lacks a column a claim of its experiment declares it reads."""


class DuplicateRunError(Exception):
    """Two runs of one sweep share their identity (recorded keys and seed)."""


def run_dirs(sweep_dir: Path) -> list[Path]:
    """Directories under ``sweep_dir`` that hold a run (a summary.json), in a stable order."""
    return sorted(p.parent for p in Path(sweep_dir).rglob("summary.json"))


def collect(sweep_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Write ``out_dir/<table>.csv`` for every table found; returns table name -> path.

    Raises DuplicateRunError (before writing anything) if two runs share their identity.
    """
    tables: dict[str, list[pd.DataFrame]] = {}
    seen: dict[str, tuple[Path, Any]] = {}
    for run_dir in run_dirs(sweep_dir):
        summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
        identity = summary_identity(summary)
        if identity is not None:
            key = json.dumps(list(identity.items()), default=str)
            if key in seen:
                first, status = seen[key]
                raise DuplicateRunError(
                    f"{sweep_dir}: runs {first.relative_to(sweep_dir)} ({status}) and "
                    f"{run_dir.relative_to(sweep_dir)} ({summary.get(STATUS)}) have the same "
                    f"recorded keys ({describe_identity(identity)}), and a run is counted once; "
                    f"move the one you do not want out of {sweep_dir} and run the experiment "
                    "again (its finished runs are skipped)"
                )
            seen[key] = (run_dir, summary.get(STATUS))
        lead = {
            RUN: str(run_dir.relative_to(sweep_dir)),
            **(summary.get(RECORDED) or {}),
            STATUS: summary.get(STATUS),
        }
        flat = {k: v for k, v in summary.items() if k not in SKIP_SUMMARY_KEYS and k != STATUS}
        tables.setdefault("summary", []).append(pd.DataFrame([{**lead, **flat}]))
        for csv_path in sorted(run_dir.glob("*.csv")):
            if csv_path.stem in RUN_ONLY_TABLES or csv_path.stat().st_size == 0:
                continue  # an empty file (a table truncated to nothing) holds no rows
            try:
                frame = pd.read_csv(csv_path)
            except pd.errors.EmptyDataError:
                continue  # no header either (a writer of an empty frame): no rows
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


def check_claims(out_dir: Path, claims: dict[str, dict[str, Any]]) -> None:
    """Raise ContractError naming the first declared column (claim -> table -> columns) that a
    collected table under ``out_dir`` lacks, or the table itself when it is absent. An entry
    whose value is not a list of columns is a parameter of the claim's rule, set in the
    experiment config before its runs (E6's ``equivalence_margin``), and is not checked here."""
    out_dir = Path(out_dir)
    for claim, tables in claims.items():
        for table, columns in tables.items():
            if not isinstance(columns, list):  # a rule parameter (E6's equivalence_margin)
                continue
            path = out_dir / f"{table}.csv"
            if not path.is_file():
                raise ContractError(f"claim {claim} reads {path}, which the sweep did not write")
            header = set(pd.read_csv(path, nrows=0).columns)
            missing = [c for c in columns if c not in header]
            if missing:
                raise ContractError(
                    f"claim {claim} reads column {missing[0]!r} of {path}, which has none "
                    f"(record it in the experiment's `record` list, or check the task's output)"
                )
