"""Where metrics go: ``metrics.csv`` in the run directory, and Weights & Biases.

W&B is offline by default (no account, no network; ``wandb sync`` later), ``online`` streams,
``disabled`` skips it. A run is always finished, failed or not, so sweep runs never mix.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from initlab import hooks
from initlab.config import ConfigError, spec

log = logging.getLogger("initlab.progress")


@dataclass(kw_only=True)
class WandbConfig:
    mode: str = spec(choices=("offline", "online", "disabled"))
    project: str
    entity: str | None
    group: str | None = spec(
        help="runs of one experiment share a group; null in a -m sweep: the sweep's folder"
    )
    name: str | None = spec(
        help="W&B run name; null: the run's overrides in a -m sweep, else task-model-init-data-seed"
    )
    job_type: str | None
    tags: list[str]
    init_timeout_s: float = spec(
        min=0.0,
        min_exclusive=True,
        help="online: give up on reaching W&B after this many seconds (a recorded failure)",
    )


@dataclass(kw_only=True)
class LoggerConfig:
    progress: str = spec(
        choices=("auto", "on", "off"),
        help="progress bars; auto: on a terminal (else log lines); off: no progress output at all",
    )
    progress_every_s: float = spec(
        min=0.0, help="without a bar: a progress log line every this many seconds; 0: never"
    )
    wandb: WandbConfig

    def show_progress(self) -> bool:
        return self.progress == "on" or (self.progress == "auto" and sys.stderr.isatty())


_PROGRESS = {"bars": False, "every_s": 60.0}


def configure_progress(cfg: LoggerConfig) -> None:
    """How every :class:`Progress` of this process reports (set once per run by ``execute``)."""
    every_s = 0.0 if cfg.progress == "off" else cfg.progress_every_s  # off: no lines either
    _PROGRESS.update(bars=cfg.show_progress(), every_s=every_s)


class _Stderr(logging.StreamHandler):
    """stderr as it is at each line (tests and notebooks swap ``sys.stderr``)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _ensure_log_handler() -> None:
    """Progress lines go to stderr and to every log file of the root logger (Hydra's
    ``<job>.log`` in the run directory), not to Hydra's stdout console."""
    root_files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    stderr = [h for h in log.handlers if isinstance(h, _Stderr)]
    if not stderr:
        handler = _Stderr(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s][initlab] %(message)s"))
        stderr = [handler]
    log.handlers = [*stderr, *root_files]
    log.propagate = False
    log.setLevel(logging.INFO)


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


_ACTIVE: list[Progress] = []  # open Progress objects of this process, outermost first


def reset_progress() -> None:
    """Forget open Progress objects (a new run starts; a task that raised never closed its)."""
    _ACTIVE.clear()


def announce(text: str) -> None:
    """One line on stderr and in the run's ``train.log`` (unless ``logger.progress=off``): what
    a run is about to do, before its first progress line."""
    if _PROGRESS["every_s"] <= 0 and not _PROGRESS["bars"]:
        return
    _ensure_log_handler()
    log.info(text)


def log_files_only(text: str) -> None:
    """``text`` in the run's ``train.log`` (and any other log file) but not on the console: the
    final status line, which the console gets from ``print``."""
    record = logging.LogRecord(log.name, logging.INFO, __file__, 0, text, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


class Progress:
    """Progress of one piece of work: a tqdm bar on a terminal, else a log line (the ``initlab``
    logger: Hydra's ``<job>.log`` and console) every ``logger.progress_every_s`` seconds with
    what it is on, how far, and the time left at the average rate so far.

    Progress objects nest: one opened while another is open (a probe's training steps inside a
    learning-rate search) is a part of the outer one's current unit, so a line reads the whole
    stack (``lr_search: 3/30 probes > probe: 120/400 steps``) and its estimate covers the whole
    task, from the outermost object's elapsed time and the fraction done over all levels.
    ``bound``: ``total`` is an upper bound (a search that may stop early, Lanczos that may
    converge early), so the estimate says "at most". Opening one logs its work to do at once.
    """

    def __init__(
        self,
        total: int | None,
        what: str,
        initial: int = 0,
        unit: str = "step",
        bound: bool = False,
    ) -> None:
        self.total, self.what, self.unit, self.done = total, what, unit, initial
        self.bound = bound
        self.started, self.start_count = time.monotonic(), initial
        self.last_line = self.started
        self.note = ""
        self.bar = None
        self.parent = _ACTIVE[-1] if _ACTIVE else None
        self.child: Progress | None = None
        if self.parent is not None:
            self.parent.child = self
        _ACTIVE.append(self)
        if _PROGRESS["bars"]:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total, initial=initial, desc=what, leave=False, dynamic_ncols=True
            )
        elif _PROGRESS["every_s"] > 0:
            _ensure_log_handler()
            if self.parent is None:
                amount = f"{'at most ' if bound else ''}{total} {unit}s" if total else unit + "s"
                log.info(f"{what}: {amount} to do" + (f", {initial} done" if initial else ""))

    def update(self, n: int = 1, note: str | None = None) -> None:
        self.done += n
        hooks.emit("progress", units=n)
        if note is not None:
            self.note = note
        if self.bar is not None:
            self.bar.update(n)
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            return
        every = _PROGRESS["every_s"]
        if every <= 0:  # no progress lines
            return
        now = time.monotonic()
        root = self.root()
        if now - root.last_line >= every:
            root.last_line = now
            log.info(root.line(now))

    def root(self) -> Progress:
        node = self
        while node.parent is not None:
            node = node.parent
        return node

    def fraction(self) -> float | None:
        """Share of this object's work done, counting the open inner object's share of the
        current unit; None without a total."""
        if not self.total:
            return None
        inner = self.child.fraction() if self.child is not None else None
        return min(1.0, (self.done + min(inner or 0.0, 1.0)) / self.total)

    def _where(self) -> str:
        where = f"{self.done}" + (f"/{self.total}" if self.total else "") + f" {self.unit}s"
        note = f" ({self.note})" if self.note else ""
        return f"{self.what}: {where}{note}"

    def line(self, now: float | None = None) -> str:
        """This object's line: every open level from here inwards, the time since this object
        started and the time left for all of its work."""
        now = time.monotonic() if now is None else now
        elapsed = now - self.started
        parts, node = [], self
        while node is not None:
            parts.append(node._where())
            node = node.child
        eta = ""
        if self.child is None:  # one level: the rate of this run's own units (not resumed ones)
            rate = (self.done - self.start_count) / elapsed if elapsed > 0 else 0.0
            left = (self.total - self.done) / rate if self.total and rate > 0 else None
        else:
            frac, first = self.fraction(), (self.start_count / self.total if self.total else 0)
            left = elapsed * (1 - frac) / (frac - first) if frac and frac > first else None
        if left is not None:
            eta = f", {'at most ' if self.bound else ''}about {_duration(left)} left"
        return f"{' > '.join(parts)}, {_duration(elapsed)} elapsed{eta}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if self.parent is not None and self.parent.child is self:
            self.parent.child = None


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    """Write to a temporary sibling, flush, then rename: readers never see half a file, and a
    failed write (full disk) leaves the old file and no temporary behind. ``durable``: also
    sync the data to disk before the rename (a crash of the machine then leaves the old file or
    the new one, never an empty one; ~8 ms on this project's machines)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode(), durable)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def row_step(row: dict[str, Any]) -> int | None:
    try:
        return int(float(row.get("step", 0)))
    except (TypeError, ValueError):
        return None


class MetricsCSV:
    """Rows of metrics; columns grow as new keys appear (the file is rewritten only then)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []
        if path.exists():
            try:
                # utf-8-sig: a file re-saved by a spreadsheet starts with a byte-order mark (its
                # CRLF line ends the csv module reads as any other)
                with open(path, newline="", encoding="utf-8-sig") as fh:
                    reader = csv.DictReader(fh)
                    self.columns = list(reader.fieldnames or [])
                    rows = [{k: v for k, v in r.items() if v not in ("", None)} for r in reader]
            except (OSError, UnicodeDecodeError, csv.Error) as err:
                raise ConfigError(
                    f"hydra.run.dir: {path} is unreadable ({type(err).__name__}); move it aside "
                    "to resume with a fresh log, or choose another output directory"
                ) from None
            # a row cut short by a kill while it was appended has no readable step: drop it
            self.rows = [r for r in rows if row_step(r) is not None]

    def keep_until(self, step: int, phase: str | None = None) -> None:
        """Drop rows logged after ``step`` (of ``phase`` only, if given): a resume redoes them."""

        def keep(row: dict[str, Any]) -> bool:
            later = (row_step(row) or 0) > step
            return not later or (phase is not None and row.get("phase") != phase)

        self.rows = [r for r in self.rows if keep(r)]
        self._rewrite()

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        new = [k for k in row if k not in self.columns]
        if new or not self.path.exists():
            self.columns.extend(new)
            # a first file has no rows on disk that a crash could cost (its appended rows are
            # not synced either): no sync; a rewrite of an existing file is synced
            self._rewrite(durable=self.path.exists())
            return
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, self.columns).writerow({k: _clean(v) for k, v in row.items()})

    def _rewrite(self, durable: bool = True) -> None:
        if not self.columns:  # nothing logged yet: no file (a header of no columns is no CSV)
            self.path.unlink(missing_ok=True)
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, self.columns)
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: _clean(v) for k, v in r.items()})
        atomic_write_text(self.path, buffer.getvalue(), durable)


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
        self.out_dir = out_dir
        self.csv = MetricsCSV(out_dir / "metrics.csv")
        self._wandb = None
        if cfg.wandb.mode != "disabled":
            self._wandb = _start_wandb(out_dir, cfg, run_name, run_id, config)

    def log(self, row: dict[str, Any]) -> None:
        """One row to metrics.csv and W&B. W&B gets the row's ``step`` as a field, not as its
        own step: that must only grow, and a phase's rows (a PDI stage, the Lanczos history)
        count their steps from 0 again, so W&B would drop them."""
        self.csv.append(row)
        if self._wandb is not None:
            self._wandb.log(dict(row))

    def finish(self, summary: dict[str, Any], failed: bool) -> None:
        if self._wandb is None:
            return
        self._wandb.summary.update(
            {k: v for k, v in summary.items() if isinstance(v, int | float | str | bool)}
        )
        files = run_files(self.out_dir)
        if files:  # the run's tables and figures, versioned with the run
            import wandb

            artifact = wandb.Artifact(f"run-{self._wandb.id}", type="run-files")
            for path in files:
                artifact.add_file(str(path))
            self._wandb.log_artifact(artifact)
        self._wandb.finish(exit_code=1 if failed else 0)
        self._wandb = None


#: what a run's W&B artifact holds: its tables, summary and figures (not checkpoints or logs)
ARTIFACT_SUFFIXES = (".csv", ".json", ".png", ".pdf", ".md")


def run_files(out_dir: Path) -> list[Path]:
    """The files of a run directory (top level) that its W&B artifact holds, sorted."""
    return sorted(
        p
        for p in Path(out_dir).iterdir()
        if p.is_file() and p.suffix in ARTIFACT_SUFFIXES and not p.name.startswith(".")
    )


class TrackerUnavailable(ConfigError):
    """W&B could not be started (online without an account, or no answer in time)."""


def _start_wandb(
    out_dir: Path, cfg: LoggerConfig, run_name: str, run_id: str, config: dict[str, Any]
) -> Any:
    """``wandb.init``; online mode without a W&B account, or without an answer within
    ``logger.wandb.init_timeout_s``, is named in one line (:class:`TrackerUnavailable`)."""
    import wandb

    timeout = cfg.wandb.init_timeout_s
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
            settings=wandb.Settings(silent=True, init_timeout=timeout),
            reinit="finish_previous",
        )
    except Exception as err:  # noqa: BLE001 - wandb raises its own types; keep the message
        if cfg.wandb.mode != "online":
            raise
        if "api key" in str(err).lower():
            raise TrackerUnavailable(
                "logger.wandb.mode: online needs a W&B account (`wandb login` or WANDB_API_KEY); "
                "offline, the default, needs none and `wandb sync` pushes the runs later"
            ) from None
        reason = " ".join(str(err).split())[:200]
        raise TrackerUnavailable(
            f"logger.wandb.mode: online: W&B could not be reached within {timeout:g} s "
            f"({type(err).__name__}: {reason}); check the network and the account, or run with "
            "logger.wandb.mode=offline and `wandb sync` the run later (the same command resumes)"
        ) from None


def log_report(results: Path, mode: str, project: str = "initlab") -> list[str]:
    """``make report WANDB=offline|online``: one W&B run per profile folder of ``results`` that
    holds a ``REPORT.md`` (job type ``report``), with the report, tables and figures as an
    artifact and each figure as an image. Offline runs land in ``outputs/wandb-report/``
    (git-ignored; ``wandb sync`` pushes them). Returns the profiles logged."""
    import wandb

    logged = []
    where = Path(results).resolve().parent / "outputs" / "wandb-report"
    where.mkdir(parents=True, exist_ok=True)
    for folder in sorted(p for p in Path(results).iterdir() if (p / "REPORT.md").is_file()):
        files = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.suffix in ARTIFACT_SUFFIXES
        )
        run = wandb.init(
            mode=mode,
            project=project,
            group="report",
            job_type="report",
            name=f"report-{folder.name}",
            dir=str(where),
            settings=wandb.Settings(silent=True),
            reinit="finish_previous",
        )
        artifact = wandb.Artifact(f"report-{folder.name}", type="report")
        for path in files:
            artifact.add_file(str(path), name=str(path.relative_to(folder)))
        run.log_artifact(artifact)
        images = {
            str(p.relative_to(folder)): wandb.Image(str(p)) for p in files if p.suffix == ".png"
        }
        if images:
            run.log(images)
        run.finish()
        logged.append(folder.name)
    return logged
