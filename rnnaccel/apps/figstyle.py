"""One figure style for every plotting app (report, tune, precision plot, energy breakdown).

- :func:`figure`: a matplotlib ``Figure`` on an Agg canvas (no global backend change), sized in
  inches for a paper (:data:`COLUMN` = one column, :data:`PAGE` = two), fonts >= 9 pt at that size;
- :func:`palette`: one colour and one marker per series key (network, technique, policy), the
  Okabe-Ito colour-blind-safe colours, assigned in sorted key order so a key keeps its look
  whatever else a figure holds;
- :func:`save`: the figure as vector PDF and SVG and as a 300-dpi PNG (returns the PNG path);
- :func:`caption`: the figure's context line (hardware with its operating point, split, ...).

Plotting code runs inside ``with style():`` (an ``rc_context``) so every artist uses these fonts.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["COLUMN", "PAGE", "DPI", "RC", "COLORS", "MARKERS", "style", "figure", "palette", "save", "caption"]

COLUMN = 3.5  # inches: one column of a two-column paper (IEEE/ACM ~3.3-3.5 in)
PAGE = 7.16  # inches: both columns
DPI = 300  # PNG resolution (>= 200 dpi asked by issue 17)
RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8,
    "figure.titlesize": 9.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.4,
    "lines.markersize": 5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # text stays text in the SVG
    "pdf.fonttype": 42,  # TrueType in the PDF (editable, accepted by publishers)
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
}
#: Okabe & Ito (2008) colour-blind-safe palette, black last
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
FORMATS = ("pdf", "svg", "png")
#: no creation dates: the same figure gives the same file
_METADATA = {
    "pdf": {"Creator": "rnnaccel", "CreationDate": None},
    "svg": {"Creator": "rnnaccel", "Date": None},
    "png": {},
}


@contextlib.contextmanager
def style():
    import matplotlib as mpl

    with mpl.rc_context(RC):
        yield


def figure(width: float = COLUMN, height: float = 2.6, ncols: int = 1, nrows: int = 1, **subplots):
    """``(fig, axes)``: ``axes`` a single Axes when ``ncols == nrows == 1``, else an array;
    ``subplots``: more ``Figure.subplots`` arguments (``sharex``, ``gridspec_kw``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=True, **subplots)


def palette(keys) -> dict:
    """``{key: {"color": c, "marker": m}}`` for the distinct ``keys`` in sorted order."""
    out = {}
    for i, k in enumerate(sorted(dict.fromkeys(keys), key=str)):
        out[k] = {"color": COLORS[i % len(COLORS)], "marker": MARKERS[i % len(MARKERS)]}
    return out


def caption(**parts) -> str:
    """``"hardware: E-PUR (28 nm, 500 MHz, ...); split: val"`` from the non-empty parts."""
    return "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in parts.items() if v)


def save(fig, path: str | Path) -> Path:
    """Write ``path`` with each of :data:`FORMATS` as suffix; returns the PNG path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    for ext in FORMATS:
        fig.savefig(p.with_suffix(f".{ext}"), dpi=DPI, metadata=_METADATA[ext])
    return p.with_suffix(".png")
