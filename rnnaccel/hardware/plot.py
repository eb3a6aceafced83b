"""Stacked-bar energy breakdown of several cost reports (matplotlib, Agg canvas, no global state)."""

from __future__ import annotations

from pathlib import Path

from .report import COMPONENTS, CostReport

__all__ = ["plot_breakdown"]

# SI prefixes for the y axis: (factor to J, label)
_SCALES = ((1.0, "J"), (1e-3, "mJ"), (1e-6, "uJ"), (1e-9, "nJ"))


def plot_breakdown(
    reports: dict[str, CostReport], path: str | Path, title: str | None = None, normalize_to: str | None = None
) -> Path:
    """Write a stacked bar per report (one segment per energy component) to ``path``.

    ``normalize_to``: a key of ``reports``; bars are then divided by that report's total energy.
    The file type follows the suffix (``.png``, ``.pdf``, ``.svg``). Returns the path.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not reports:
        raise ValueError("plot_breakdown: no reports given")
    if normalize_to is not None and normalize_to not in reports:
        raise ValueError(f"plot_breakdown: normalize_to={normalize_to!r} is not one of {list(reports)}")
    labels = list(reports)
    if normalize_to is not None:
        denom, unit = reports[normalize_to].total_j or 1.0, f"energy / {normalize_to}"
    else:
        peak = max(r.total_j for r in reports.values())
        denom, name = next(((f, u) for f, u in _SCALES if peak >= f), _SCALES[-1])
        unit = f"energy ({name})"

    fig = Figure(figsize=(max(4.0, 1.1 * len(labels) + 2.5), 4.0))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    bottom = [0.0] * len(labels)
    cmap = colormaps["tab10"]
    for i, comp in enumerate(COMPONENTS):
        vals = [reports[k].energy_j[comp] / denom for k in labels]
        if not any(vals):
            continue
        ax.bar(labels, vals, bottom=bottom, label=comp, color=cmap(i))
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel(unit)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path
