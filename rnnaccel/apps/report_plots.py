"""Figures of ``rnnaccel-report`` (matplotlib Figure + Agg canvas: no global backend change).

- ``accuracy_vs_avoided.png``: score against computations avoided (memoization runs);
- ``savings_vs_loss.png``: energy savings and speedup against accuracy loss, Pareto front drawn;
- ``time_at_precision.png``: share of work at each width (precision runs);
- ``energy_breakdown.png``: energy by component per run, with the techniques-off baseline bar.
"""

from __future__ import annotations

from pathlib import Path

from ..hardware import COMPONENTS

__all__ = ["plot_all", "front"]


def _fig(w: float = 6.0, h: float = 4.0, ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w * ncols, h))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Upper-left Pareto front of ``(loss, gain)`` points (lower loss, higher gain), by loss."""
    out, best = [], float("-inf")
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            out.append((x, y))
            best = y
    return out


def _label(r: dict) -> str:
    """The series of a run: network, technique and every differing setting but the technique's own
    parameters (those vary along the series)."""
    rest = [part for part in r["label"].split(", ")[1:] if not part.startswith(("memo.", "precision."))]
    return ", ".join([f"{r['network']}: {r['technique']}"] + rest)


def _platforms(rows: list[dict]) -> str:
    return ", ".join(dict.fromkeys(str(r["hw"]) for r in rows))


def plot_all(rows: list[dict], results: list[tuple[str, dict]], out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    memo = [r for r in rows if r["reuse_pct"] is not None]
    if memo:
        metrics = list(dict.fromkeys(r["metric"] for r in memo))  # one panel per metric (WER, accuracy, BLEU)
        fig, axes = _fig(ncols=len(metrics))
        for ax, metric in zip(axes if len(metrics) > 1 else [axes], metrics):
            sub = [r for r in memo if r["metric"] == metric]
            for key in dict.fromkeys(_label(r) for r in sub):
                pts = sorted((r["reuse_pct"], r["score_pts"]) for r in sub if _label(r) == key)
                ax.plot(*zip(*pts), marker="o", label=key)
            for net in dict.fromkeys(r["network"] for r in sub):
                base = next(
                    (r["baseline_pts"] for r in sub if r["network"] == net and r["baseline_pts"] is not None), None
                )
                if base is not None:
                    ax.axhline(base, ls=":", color="gray")
            ax.set(
                xlabel="computations avoided (gate neurons reused, %)",
                ylabel=f"{metric.upper()} (points)",
                title=f"{metric.upper()} vs computations avoided (dotted: no memoization)",
            )
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        paths.append(_save(fig, out / "accuracy_vs_avoided.png"))
    tech = [r for r in rows if r["accuracy_loss_pts"] is not None and r["speedup"] is not None]
    if tech:
        fig, axes = _fig(ncols=2)
        for ax, (col, name) in zip(axes, (("energy_saving_pct", "energy savings (%)"), ("speedup", "speedup"))):
            for key in dict.fromkeys(_label(r) for r in tech):
                pts = [(r["accuracy_loss_pts"], r[col]) for r in tech if _label(r) == key]
                ax.scatter(*zip(*pts), label=key, s=22)
            for net in dict.fromkeys(r["network"] for r in tech):
                f = front([(r["accuracy_loss_pts"], r[col]) for r in tech if r["network"] == net])
                ax.step(*zip(*f), where="post", color="k", lw=1, alpha=0.7)
            ax.set(
                xlabel="accuracy loss (points)",
                ylabel=name,
                title=f"{name} vs accuracy loss on {_platforms(tech)} (line: Pareto front)",
            )
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize="x-small")
        paths.append(_save(fig, out / "savings_vs_loss.png"))
    widths = [
        k[len("time_at_") : -len("b_pct")]
        for k in (rows[0] if rows else {})
        if k.startswith("time_at_") and k.endswith("b_pct")
    ]
    prec = [r for r in rows if r["time_at_lowest_pct"] is not None]
    if prec and widths:
        fig, ax = _fig(7.0, 0.35 * len(prec) + 1.5)
        labels = [f"{r['network']}: {r['label']}"[:80] for r in prec]
        left = [0.0] * len(prec)
        for w in widths:
            vals = [r[f"time_at_{w}b_pct"] or 0.0 for r in prec]
            ax.barh(labels, vals, left=left, label=f"{w} bit")
            left = [a + b for a, b in zip(left, vals)]
        ax.set(xlabel="share of (row x step) work (%)", title="time at each precision")
        ax.tick_params(axis="y", labelsize="x-small")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        paths.append(_save(fig, out / "time_at_precision.png"))
    en = [(r, res) for r, (_, res) in zip(rows, results) if r["total_j"] is not None]
    if en:
        paths.append(_energy_breakdown(en, out / "energy_breakdown.png"))
    return paths


def _energy_bars(runs: list[tuple[dict, dict]]) -> dict[str, dict]:
    """Energy by component per run label, with each network's techniques-off baseline bar."""
    bars = {}
    for r, res in runs:
        cost = res["cost_by_hw"].get(r["hw"]) or res["cost"]
        if cost.get("saved_j") and f"{r['network']}: baseline" not in bars:
            bars[f"{r['network']}: baseline"] = {c: cost["energy_j"][c] + cost["saved_j"][c] for c in COMPONENTS}
        bars[f"{r['network']}: {r['label']}"[:80]] = cost["energy_j"]
    return bars


def _energy_breakdown(runs: list[tuple[dict, dict]], path: Path) -> Path:
    """One panel per platform, titled by the platform its runs were priced on."""
    platforms = list(dict.fromkeys(r["hw"] for r, _ in runs))
    panels = [(hw, _energy_bars([(r, res) for r, res in runs if r["hw"] == hw])) for hw in platforms]
    widest = max(len(bars) for _, bars in panels)
    fig, axes = _fig(max(6.0, 0.5 * widest + 3), 4.5, ncols=len(panels))
    for ax, (hw, bars) in zip(axes if len(panels) > 1 else [axes], panels):
        labels = list(bars)
        bottom = [0.0] * len(labels)
        for c in COMPONENTS:
            vals = [1e3 * bars[k].get(c, 0.0) for k in labels]
            if any(vals):
                ax.bar(labels, vals, bottom=bottom, label=c)
                bottom = [a + b for a, b in zip(bottom, vals)]
        ax.set(ylabel="energy (mJ)", title=f"energy breakdown ({hw})")
        ax.tick_params(axis="x", labelrotation=75, labelsize="x-small")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)
