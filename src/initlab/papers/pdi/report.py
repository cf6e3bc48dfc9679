"""Paper D's table and figures from the collected CSVs (``make report``; never trains). Drawn by
:mod:`initlab.papers.pdi.figures` (the notebook shows the same):
D1: ``d1_pdi_weight_variance/weight_variance.png``: Var(W) / (2 / fan_in) of every layer through
PDI, one colour per start (geometric mean over seeds, band: their range; 1 is He's variance), and
the second layer's end against start ratio per run (the attraction test).
D2: ``d2_pdi_vae/vae_curves.png``: test and train L1 per value of every arm (mean, band: range
over seeds) against optimizer steps in total, PDI's stages drawn first, and PDI's relative L1
gain over He and matched He (95% Welch intervals) beside the paper's gain; ``l1_table.csv`` /
``.md`` (in the report): final test L1 per arm with the paper's Table 1 values.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from initlab.papers.pdi import figures as pdi
from initlab.papers.pdi.claims import D1_EXP, D2_EXP
from initlab.report.common import read_completed
from initlab.report.figures import save_figure
from initlab.report.tables import write_table


def plot_d1(results: Path) -> None:
    variance = read_completed(results / D1_EXP / "weight_variance.csv")
    if variance is not None:
        save_figure(pdi.weight_variance_figure(variance), results / D1_EXP / "weight_variance.png")


def plot_d2(results: Path) -> None:
    base = results / D2_EXP
    if not (base / "metrics.csv").exists():
        return
    metrics = pd.read_csv(base / "metrics.csv")
    summary = pd.read_csv(base / "summary.csv")
    save_figure(pdi.vae_figure(metrics, summary), base / "vae_curves.png")
    write_table(pdi.l1_table(summary), base / "l1_table")


def build(results: Path, profile: str) -> None:
    """D1's figure and D2's figure and L1 table (shown under D2's verdict) under ``results``."""
    plot_d1(Path(results))
    plot_d2(Path(results))
