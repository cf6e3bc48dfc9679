"""Saving figures the one way every plot script does: PNG for the report, PDF for papers, and the
figure's data next to them.

A figure's pixels are not a function of the CSVs alone: numpy's SIMD ``exp``/``log`` differ in
the last bits between CPUs, and a line moved by 1e-16 can switch an anti-aliased pixel. So every
figure ``<name>.png`` comes with ``<name>.figure.json``, the description of what is drawn
(:func:`figure_data`: every artist's data and style, after layout), and :func:`save_figure`
leaves the PNG and PDF alone when the description equals the one on disk within
:data:`initlab.report.tolerances.FIGURE_RTOL`. The tests compare the descriptions, not the bytes.

No file carries volatile metadata (:data:`CLEAN_METADATA`: no software version, no date).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.collections import Collection
from matplotlib.colors import to_rgba
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from initlab.report.tolerances import FIGURE_ATOL, FIGURE_RTOL
from initlab.tracking import atomic_write_bytes, atomic_write_text

#: savefig(metadata=...) per format: None drops the key matplotlib would write (its version, the
#: date), so a figure's bytes depend on what is drawn only
CLEAN_METADATA: dict[str, dict[str, None]] = {
    ".png": {"Software": None},
    ".pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    ".svg": {"Creator": None, "Date": None},
    ".eps": {"Creator": None, "CreationDate": None},
}
#: the data of a figure ``x.png`` is in ``x.figure.json``
DATA_SUFFIX = ".figure.json"
#: significant digits the description keeps (far below FIGURE_RTOL)
DIGITS = 10


def savefig_clean(fig: plt.Figure, path: Path | io.BytesIO, fmt: str, **kwargs: Any) -> None:
    """``fig.savefig`` without the volatile metadata of the format ``fmt`` (".png", ".pdf"...)."""
    fig.savefig(path, format=fmt.lstrip("."), metadata=CLEAN_METADATA.get(fmt, {}), **kwargs)


def _num(value: Any) -> Any:
    """Numbers and arrays as JSON values, floats to DIGITS significant digits."""
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, np.ma.MaskedArray):
        value = value.astype(float).filled(np.nan)
    array = np.asarray(value)
    if array.dtype.kind in "biu":
        return array.tolist()
    if array.dtype.kind == "f":
        flat = [float(f"{v:.{DIGITS}g}") if math.isfinite(v) else v for v in array.ravel().tolist()]
        return (
            np.asarray(flat, dtype=float).reshape(array.shape).tolist() if array.ndim else flat[0]
        )
    return str(value)


def _in_data_coordinates(artist: Artist) -> bool:
    """Whether some coordinate of ``artist`` is data (its axes' transData), not pixels."""
    ax = artist.axes
    if ax is None:
        return False
    return any(artist.get_transform().contains_branch_seperately(ax.transData))


def _artist(artist: Artist) -> dict[str, Any] | None:
    """One artist's data and style (None for artists that draw nothing of their own)."""
    if not artist.get_visible():
        return None
    info: dict[str, Any] = {"type": type(artist).__name__, "zorder": _num(artist.get_zorder())}
    alpha = artist.get_alpha()
    if alpha is not None:
        info["alpha"] = _num(alpha)
    if isinstance(artist, Line2D):
        info.update(
            xy=_num(artist.get_xydata()),
            color=_num(np.asarray(to_rgba(artist.get_color()))),
            ls=str(artist.get_linestyle()),
            lw=_num(artist.get_linewidth()),
            marker=str(artist.get_marker()),
            ms=_num(artist.get_markersize()),
            label=str(artist.get_label()),
        )
    elif isinstance(artist, Text):
        if not artist.get_text():
            return None
        info.update(
            text=artist.get_text(),
            xy=_num(artist.get_position()),
            size=_num(artist.get_fontsize()),
            color=_num(np.asarray(to_rgba(artist.get_color()))),
            rotation=_num(artist.get_rotation()),
        )
    elif isinstance(artist, AxesImage):
        norm = artist.norm
        info.update(
            array=_num(artist.get_array()),
            extent=_num(artist.get_extent()),
            cmap=artist.get_cmap().name,
            norm=[type(norm).__name__, _num(norm.vmin), _num(norm.vmax)],
        )
    elif isinstance(artist, Collection):
        info.update(
            offsets=_num(artist.get_offsets()),
            paths=[_num(p.vertices) for p in artist.get_paths()],
            facecolor=_num(artist.get_facecolor()),
            edgecolor=_num(artist.get_edgecolor()),
            lw=_num(artist.get_linewidth()),
            label=str(artist.get_label()),
        )
        if artist.get_array() is not None:
            info["array"] = _num(artist.get_array())
        if hasattr(artist, "get_sizes"):
            info["sizes"] = _num(artist.get_sizes())
    elif isinstance(artist, Patch):
        if _in_data_coordinates(artist):  # bars, spans, fills (not frames laid out in pixels)
            vertices = artist.get_patch_transform().transform(artist.get_path().vertices)
            info["vertices"] = _num(vertices)
        info.update(
            facecolor=_num(artist.get_facecolor()),
            edgecolor=_num(artist.get_edgecolor()),
            lw=_num(artist.get_linewidth()),
            ls=str(artist.get_linestyle()),
        )
    else:
        return None
    return info


def _ticks(axis: Any) -> dict[str, Any]:
    """An axis' label and its ticks: where they are and what they read."""
    labels = [t.get_text() for t in axis.get_ticklabels()]
    return {"label": axis.get_label_text(), "ticks": _num(axis.get_ticklocs()), "text": labels}


def figure_data(fig: plt.Figure) -> dict[str, Any]:
    """What ``fig`` draws, as JSON values: its size, every axes' limits, scales, position and
    ticks, and every other visible line, text, image, collection and patch with its data and
    style (call it after the figure is drawn, so that ticks and the layout are final)."""
    axes, in_axis = [], set()
    for ax in fig.axes:
        axes.append(
            {
                "xlim": _num(ax.get_xlim()),
                "ylim": _num(ax.get_ylim()),
                "scale": [ax.get_xscale(), ax.get_yscale()],
                "position": _num(ax.get_position().bounds),
                "x": _ticks(ax.xaxis),
                "y": _ticks(ax.yaxis),
            }
        )
        for axis in (ax.xaxis, ax.yaxis):
            in_axis.update(id(a) for a in axis.findobj())
    found = (a for a in fig.findobj(include_self=False) if id(a) not in in_axis)
    artists = [info for info in map(_artist, found) if info is not None]
    return {"size": _num(fig.get_size_inches()), "axes": axes, "artists": artists}


def dumps(data: dict[str, Any]) -> str:
    """A description as JSON, one axes or artist a line (readable diffs)."""

    def one(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    head = ",".join(f"{one(k)}:{one(v)}" for k, v in data.items() if k not in ("axes", "artists"))
    rows = [
        f"{one(key)}:[\n" + ",\n".join(one(item) for item in data.get(key, [])) + "\n]"
        for key in ("axes", "artists")
    ]
    return "{" + ",\n".join([head, *rows]) + "}\n"


def same_data(a: Any, b: Any, rtol: float = FIGURE_RTOL, atol: float = FIGURE_ATOL) -> bool:
    """Two descriptions (:func:`figure_data`) agree: the same structure and strings, numbers
    equal within ``rtol`` (relative) or ``atol`` (absolute), NaN equal to NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_data(a[k], b[k], rtol, atol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_data(x, y, rtol, atol) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= atol + rtol * max(abs(a), abs(b))
    return a == b


def data_path(path: Path) -> Path:
    """``x.figure.json`` of the figure ``x.png``."""
    path = Path(path)
    return path.with_name(path.with_suffix("").name + DATA_SUFFIX)


def _laid_out(fig: plt.Figure, tight_bbox: bool) -> str | None:
    """Lay ``fig`` out as :func:`save_figure` saves it; the ``bbox_inches`` to save with."""
    if not tight_bbox:
        fig.tight_layout()
    return "tight" if tight_bbox else None


def _record(fig: plt.Figure, dpi: int, bbox: str | None) -> dict[str, Any]:
    return {"dpi": dpi, "bbox": bbox, **figure_data(fig)}


def _write_data(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(data_path(path), dumps(data))


def save_figure(fig: plt.Figure, path: Path, dpi: int = 120, tight_bbox: bool = False) -> None:
    """Write ``path`` as .png and .pdf side by side with its data (:func:`data_path`), then close
    the figure. When the files exist and the data on disk equal the figure's within the stated
    tolerance, nothing is rewritten (pixels may differ between CPUs for the same data)."""
    path = Path(path)
    png, pdf, data_file = path.with_suffix(".png"), path.with_suffix(".pdf"), data_path(path)
    bbox = _laid_out(fig, tight_bbox)
    buffer = io.BytesIO()
    savefig_clean(fig, buffer, ".png", dpi=dpi, bbox_inches=bbox)  # draws: ticks, layout final
    data = _record(fig, dpi, bbox)
    if png.exists() and pdf.exists() and data_file.exists():
        try:
            unchanged = same_data(json.loads(data_file.read_text()), data)
        except ValueError:
            unchanged = False
        if unchanged:
            plt.close(fig)
            print(f"unchanged {png} (same data)")
            return
    png.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(png, buffer.getvalue())
    buffer = io.BytesIO()
    savefig_clean(fig, buffer, ".pdf", dpi=dpi, bbox_inches=bbox)
    atomic_write_bytes(pdf, buffer.getvalue())
    _write_data(path, data)
    plt.close(fig)
    print(f"wrote {png}")


def save_figure_data(fig: plt.Figure, path: Path, dpi: int = 120, tight_bbox: bool = False) -> None:
    """Write only what :func:`save_figure` stores next to the PNG (laid out and drawn the same
    way, without rasterizing), then close the figure: the determinism test renders with it."""
    bbox = _laid_out(fig, tight_bbox)
    fig.set_dpi(dpi)  # as savefig draws: legend boxes are laid out in pixels
    fig.draw_without_rendering()
    _write_data(Path(path), _record(fig, dpi, bbox))
    plt.close(fig)
