"""Saving figures the one way every plot script does: PNG for the report, PDF for papers."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt


def save_figure(fig: plt.Figure, path: Path, dpi: int = 120, tight_bbox: bool = False) -> None:
    """Write ``path`` as .png and .pdf side by side, then close the figure.

    With ``make report`` the PDF's date comes from SOURCE_DATE_EPOCH, so regenerating a figure
    from the same CSVs gives the same bytes.
    """
    path = Path(path)
    bbox = "tight" if tight_bbox else None
    if not tight_bbox:
        fig.tight_layout()
    for suffix in (".png", ".pdf"):
        fig.savefig(path.with_suffix(suffix), dpi=dpi, bbox_inches=bbox)
    plt.close(fig)
    print(f"wrote {path.with_suffix('.png')}")
