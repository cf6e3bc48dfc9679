"""What the paper figures share: arm colours and reading the completed runs of a table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: one colour per network arm, the same in every figure of papers A and C
ARM_COLORS = {
    "resnet_he": "tab:red",
    "resnet_fixup": "tab:blue",
    "resnet_fixup_slr": "tab:cyan",
    "resnet_fixup_official": "tab:brown",
    "resnet_scale": "tab:orange",
    "resnet_bn": "tab:green",
    "resnet_bn_zero": "tab:olive",
    "mlp_he": "tab:purple",
}


def completed_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of completed runs (all rows when the table has no ``status`` column)."""
    return frame[frame["status"] == "completed"] if "status" in frame.columns else frame


def read_completed(path: Path) -> pd.DataFrame | None:
    """The completed runs of the CSV at ``path``, or ``None`` when it does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    return completed_runs(pd.read_csv(path))
