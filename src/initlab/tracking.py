"""Where metrics go: ``metrics.csv`` in the run directory, and Weights & Biases.

W&B is offline by default (no account, no network; ``wandb sync`` later), ``online`` streams,
``disabled`` skips it. A run is always finished, failed or not, so sweep runs never mix.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from initlab.config import spec


@dataclass(kw_only=True)
class WandbConfig:
    mode: str = spec(choices=("offline", "online", "disabled"))
    project: str
    entity: str | None
    group: str | None = spec(help="runs of one experiment share a group")
    job_type: str | None
    tags: list[str]


@dataclass(kw_only=True)
class LoggerConfig:
    progress: str = spec(choices=("auto", "on", "off"), help="auto: only on a terminal")
    wandb: WandbConfig

    def show_progress(self) -> bool:
        return self.progress == "on" or (self.progress == "auto" and sys.stderr.isatty())


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary sibling, then rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsCSV:
    """Rows of metrics; columns grow as new keys appear (the file is rewritten only then)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []
        if path.exists():
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                self.columns = list(reader.fieldnames or [])
                self.rows = [{k: v for k, v in r.items() if v != ""} for r in reader]

    def keep_until(self, step: int, phase: str | None = None) -> None:
        """Drop rows logged after ``step`` (of ``phase`` only, if given): a resume redoes them."""

        def keep(row: dict[str, Any]) -> bool:
            later = int(float(row.get("step", 0))) > step
            return not later or (phase is not None and row.get("phase") != phase)

        self.rows = [r for r in self.rows if keep(r)]
        self._rewrite()

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new or not self.path.exists():
            self.columns.extend(new)
            self._rewrite()
            return
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, self.columns).writerow({k: _clean(v) for k, v in row.items()})

    def _rewrite(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns)
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: _clean(v) for k, v in r.items()})
        atomic_write_text(self.path, buffer.getvalue())


class Tracker:
    """Fans one stream of metric rows out to the CSV and (optionally) W&B."""

    def __init__(
        self,
        out_dir: Path,
        cfg: LoggerConfig,
        run_name: str,
        run_id: str,
        config: dict[str, Any],
    ) -> None:
        self.csv = MetricsCSV(out_dir / "metrics.csv")
        self._wandb = None
        if cfg.wandb.mode != "disabled":
            self._wandb = _start_wandb(out_dir, cfg, run_name, run_id, config)

    def log(self, row: dict[str, Any]) -> None:
        self.csv.append(row)
        if self._wandb is not None:
            step = row.get("step")
            self._wandb.log({k: v for k, v in row.items() if k != "step"}, step=step)

    def finish(self, summary: dict[str, Any], failed: bool) -> None:
        if self._wandb is None:
            return
        self._wandb.summary.update(
            {k: v for k, v in summary.items() if isinstance(v, int | float | str | bool)}
        )
        self._wandb.finish(exit_code=1 if failed else 0)
        self._wandb = None


def _start_wandb(
    out_dir: Path, cfg: LoggerConfig, run_name: str, run_id: str, config: dict[str, Any]
) -> Any:
    """``wandb.init``; online mode without a W&B account is a user error, named in one line."""
    import wandb

    from initlab.config import ConfigError

    try:
        return wandb.init(
            mode=cfg.wandb.mode,
            project=cfg.wandb.project,
            entity=cfg.wandb.entity,
            group=cfg.wandb.group,
            job_type=cfg.wandb.job_type,
            tags=cfg.wandb.tags or None,
            name=run_name,
            id=run_id,
            resume="allow",
            dir=str(out_dir),
            config=config,
            settings=wandb.Settings(silent=True),
            reinit="finish_previous",
        )
    except Exception as err:  # noqa: BLE001 - wandb raises its own types; keep the message
        if cfg.wandb.mode == "online" and "api key" in str(err).lower():
            raise ConfigError(
                "logger.wandb.mode: online needs a W&B account (`wandb login` or WANDB_API_KEY); "
                "offline, the default, needs none and `wandb sync` pushes the runs later"
            ) from None
        raise
