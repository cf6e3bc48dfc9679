"""Run one composed config end to end: check -> data -> task -> summary.json.

``execute`` works with a plain dict (notebooks, tests); ``hydra_main`` adapts it to Hydra and
turns user errors into one line on stderr instead of a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from initlab.config import ConfigError
from initlab.data import DataUnavailableError, build_data
from initlab.data.bundle import SWEEP_CACHE
from initlab.rehearsal.meter import StepMeter
from initlab.run import Run, config_hash, read_summary, seed_everything
from initlab.setup import parse_config
from initlab.tasks import TASKS
from initlab.tracking import atomic_write_text

log = logging.getLogger("initlab")
USER_ERRORS = (ConfigError, DataUnavailableError)
FINAL_STATUSES = ("completed", "diverged")
SWEEP_LABEL_ENV = "INITLAB_SWEEP_LABEL"


class OutputDirInUse(ConfigError):
    """The output directory holds a run of another config: refuse rather than overwrite it."""


def guard_output_dir(out_dir: Path, new_hash: str) -> dict[str, Any] | None:
    """Return the earlier summary if this exact config already finished there, else None.

    Raises OutputDirInUse if the directory belongs to a run of a different config.
    """
    previous = read_summary(out_dir)
    config_file = out_dir / "config.yaml"
    if config_file.exists():
        import yaml

        old_hash = config_hash(yaml.safe_load(config_file.read_text()) or {})
        if old_hash != new_hash:
            raise OutputDirInUse(
                f"hydra.run.dir: {out_dir} holds a run of another config (hash {old_hash}, "
                f"this one is {new_hash}); choose another output directory"
            )
    same_config = previous is not None and previous.get("config_hash") == new_hash
    if same_config and previous.get("status") in FINAL_STATUSES:
        return previous
    return None


def execute(resolved: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Check ``resolved``, run its task in ``out_dir`` and return the summary.

    A finished run of the same config in ``out_dir`` is returned as is (``skipped: true``);
    an unfinished one resumes from its checkpoint.
    """
    out_dir = Path(out_dir)
    setup = parse_config(resolved)
    earlier = guard_output_dir(out_dir, config_hash(resolved))
    if earlier is not None:
        return {**earlier, "skipped": True}
    seed_everything(setup.seed, setup.deterministic, setup.device)
    meter = StepMeter.start(setup.device)  # seconds per step and peak memory, in the summary
    run = Run(out_dir, resolved, setup.seed, setup.device, setup.logger)
    try:
        data = build_data(setup.data).to(setup.device)
        meter.examples(len(data.x_train), len(data.x_val) + len(data.x_test))  # for the plan
        result = TASKS.build(setup.task, setup, data, run)
    except USER_ERRORS as err:
        run.finish("failed", {}, error=str(err), **meter.stop())
        raise
    except Exception as err:
        atomic_write_text(out_dir / "error.txt", traceback.format_exc())
        run.finish("failed", {}, error=f"{type(err).__name__}: {err}", **meter.stop())
        raise
    return run.finish(result.status, result.metrics, **result.extra, **meter.stop())


def describe(summary: dict[str, Any], out_dir: Path) -> str:
    shown = ("train_loss", "test_loss", "test_accuracy", "val_score", "test_score", "score_name")
    keys = [k for k in (*shown, "diverged_at_step") if k in summary]
    if not keys:  # a measurement task: its first few numbers (bookkeeping is all but floats)
        keys = [k for k, v in summary.items() if isinstance(v, float) and k != "wall_time_s"][:3]
    numbers = ", ".join(
        f"{k}={summary[k]:.4g}" if isinstance(summary[k], float) else f"{k}={summary[k]}"
        for k in keys
    )
    done = "already " if summary.get("skipped") else ""
    return f"initlab: {done}{summary['status']} ({numbers}); results in {out_dir}"


def hydra_main(cfg: Any) -> dict[str, Any] | None:
    """Entry point for ``train.py``: single runs exit non-zero on errors; sweeps carry on."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    sweeping = hydra_cfg.mode == RunMode.MULTIRUN
    SWEEP_CACHE["enabled"] = sweeping  # runs of a sweep share their loaded data (copies)
    label = os.environ.get(SWEEP_LABEL_ENV)  # set by scripts/reproduce.py: "exp 3/7 runs"
    if sweeping and label:
        print(f"[{label}] run {hydra_cfg.job.num + 1}: {out_dir.name}", flush=True)
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        summary = execute(resolved, out_dir)
    except USER_ERRORS as err:
        print(f"initlab: error: {err}", file=sys.stderr)
        if sweeping:
            _record_failure(out_dir, str(err))
            return None
        sys.exit(2 if isinstance(err, ConfigError) else 1)
    except Exception as err:  # noqa: BLE001 - a sweep records the failure and moves on
        if not sweeping:
            raise
        print(f"initlab: failed in {out_dir}: {type(err).__name__}: {err}", file=sys.stderr)
        return None
    print(describe(summary, out_dir))
    return summary


def _record_failure(out_dir: Path, message: str) -> None:
    """A sweep member refused before its run started still leaves a failed summary."""
    import json

    if read_summary(out_dir) is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            out_dir / "summary.json", json.dumps({"status": "failed", "error": message}, indent=2)
        )
