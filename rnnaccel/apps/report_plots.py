"""Figures of ``rnnaccel-report`` and ``rnnaccel-tune`` (style: :mod:`rnnaccel.apps.figstyle`; each
written as PDF, SVG and 300-dpi PNG; the caption names hardware with its operating point and split).

- ``accuracy_vs_avoided``: score against computations avoided (memoization runs), one colour and
  marker per network and technique, each network's no-technique score dotted in its colour;
- ``savings_vs_loss``: energy saving and speedup against accuracy loss, each network's Pareto
  front drawn in its colour;
- ``time_at_precision``: share of work at each width (precision runs);
- ``energy_breakdown``: energy by component per run, with the techniques-off baseline bar.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..hardware import COMPONENTS
from .figstyle import PAGE, caption, figure, palette, save, style

__all__ = ["plot_all", "front", "context"]

METRIC_AXIS = {"wer": "WER (%)", "accuracy": "accuracy (%)", "bleu": "BLEU (points)"}
FRONT_STYLES = ["--", ":", "-.", (0, (5, 1, 1, 1))]
LOSS_AXIS = {"wer": "WER increase (percentage points)", "accuracy": "accuracy loss (percentage points)",
             "bleu": "BLEU loss (BLEU points)"}  # fmt: skip


def loss_axis(rows: list[dict]) -> str:
    """The loss axis label of rows of one metric; rows of several metrics share 'points of each metric'."""
    metrics = {r.get("metric") for r in rows}
    if len(metrics) == 1 and (m := metrics.pop()) in LOSS_AXIS:
        return LOSS_AXIS[m]
    return "accuracy loss (points of each network's metric)"


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
    parts = re.split(r", (?=[\w.]+=)", r["label"])[1:]  # a value may hold ", " (a list)
    rest = [part for part in parts if not part.startswith(("memo.", "precision."))]
    return ", ".join([f"{r['network']}: {r['technique']}"] + rest)


def _bar_labels(rows: list[dict], widths: list[str]) -> list[str]:
    """Per precision run: network, mode, the widths it used and its setting; unique (a repeated
    label gets its run name), so no two runs share a bar."""
    out = []
    for r in rows:
        used = "/".join(w for w in widths if r[f"time_at_{w}b_pct"] is not None)
        setting = r["setting"] if not r["setting"].startswith("bits=") else ""
        out.append(f"{r['network']}: {r['technique'].split(':')[-1]} {used} {setting}".strip())
    return [f"{lab} ({r['run']})" if out.count(lab) > 1 else lab for lab, r in zip(out, rows)]


def context(results: list[tuple[str, dict]], hw: str | None = None) -> str:
    """Caption of the runs: the hardware each was priced on (name with node, clock and lanes) and
    their split(s) and item counts."""
    names = []
    for _, r in results:
        cost = ((r.get("cost_by_hw") or {}).get(hw) if hw else None) or r.get("cost") or {}
        if cost.get("hw"):
            names.append(cost["hw"])
    splits = [f"{r.get('split')} ({r.get('utterances')} items)" for _, r in results]
    return caption(hardware=", ".join(dict.fromkeys(names)), split=", ".join(dict.fromkeys(splits)))


def _legend(fig, axes_list, ncol: int = 2) -> None:
    handles, labels = {}, []
    for ax in axes_list:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if handles:
        fig.legend([handles[k] for k in labels], labels, loc="outside lower center", ncol=ncol, frameon=False)


def _title(fig, what: str, ctx: str) -> None:
    fig.suptitle(f"{what}\n{ctx}" if ctx else what)


def plot_all(
    rows: list[dict], results: list[tuple[str, dict]], out_dir: str | Path, hw: str | None = None
) -> list[Path]:
    """Every figure the rows allow; returns the PNG paths (a PDF and an SVG sit beside each)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = context(results, hw)
    paths = []
    with style():
        memo = [r for r in rows if r["reuse_pct"] is not None]
        if memo:
            paths.append(_accuracy_vs_avoided(memo, ctx, out / "accuracy_vs_avoided.png"))
        tech = [r for r in rows if r["accuracy_loss_pts"] is not None and r["speedup"] is not None]
        if tech:
            paths.append(_savings_vs_loss(tech, ctx, out / "savings_vs_loss.png"))
        prec = [r for r in rows if r["time_at_lowest_pct"] is not None]
        widths = [k[len("time_at_") : -len("b_pct")] for k in (rows[0] if rows else {}) if k.endswith("b_pct")]
        if prec and widths:
            paths.append(_time_at_precision(prec, widths, ctx, out / "time_at_precision.png"))
        en = [(r, res) for r, (_, res) in zip(rows, results) if r["total_j"] is not None]
        if en:
            paths.append(_energy_breakdown(en, ctx, out / "energy_breakdown.png"))
    return paths


def _accuracy_vs_avoided(memo: list[dict], ctx: str, path: Path) -> Path:
    metrics = list(dict.fromkeys(r["metric"] for r in memo))  # one panel per metric (WER, accuracy, BLEU)
    fig, axes = figure(PAGE if len(metrics) > 1 else PAGE * 0.6, 3.2, ncols=len(metrics))
    axes = list(axes) if len(metrics) > 1 else [axes]
    look = palette(_label(r) for r in memo)
    nets = palette(r["network"] for r in memo)
    for ax, metric in zip(axes, metrics):
        sub = [r for r in memo if r["metric"] == metric]
        for key in dict.fromkeys(_label(r) for r in sub):
            pts = sorted((r["reuse_pct"], r["score_pts"]) for r in sub if _label(r) == key)
            ax.plot(*zip(*pts), label=key, **look[key])
        for net in dict.fromkeys(r["network"] for r in sub):
            base = next((r["baseline_pts"] for r in sub if r["network"] == net and r["baseline_pts"] is not None), None)
            if base is not None:
                ax.axhline(base, ls=":", lw=1, color=nets[net]["color"])
        ax.set(xlabel="computations avoided (% of gate-neuron evaluations)", ylabel=METRIC_AXIS.get(metric, metric))
    _title(fig, "Score vs computations avoided (dotted: no memoization)", ctx)
    _legend(fig, axes)
    return save(fig, path)


def _savings_vs_loss(tech: list[dict], ctx: str, path: Path) -> Path:
    fig, axes = figure(PAGE, 3.4, ncols=2)
    look = palette(_label(r) for r in tech)
    for ax, (col, name) in zip(axes, (("energy_saving_pct", "energy saving (%)"), ("speedup", "speedup (x)"))):
        for key in dict.fromkeys(_label(r) for r in tech):
            pts = [(r["accuracy_loss_pts"], r[col]) for r in tech if _label(r) == key]
            ax.scatter(*zip(*pts), label=key, s=22, color=look[key]["color"], marker=look[key]["marker"])
        for i, net in enumerate(dict.fromkeys(r["network"] for r in tech)):
            f = front([(r["accuracy_loss_pts"], r[col]) for r in tech if r["network"] == net])
            ls = FRONT_STYLES[i % len(FRONT_STYLES)]
            ax.step(*zip(*f), where="post", color="0.35", lw=1, ls=ls, label=f"Pareto front: {net}", zorder=1)
        ax.set(xlabel=loss_axis(tech), ylabel=name)
    _title(fig, "Savings vs accuracy loss (gray: each network's Pareto front)", ctx)
    _legend(fig, list(axes))
    return save(fig, path)


def _time_at_precision(prec: list[dict], widths: list[str], ctx: str, path: Path) -> Path:
    fig, ax = figure(PAGE, 0.22 * len(prec) + 1.6)
    labels = _bar_labels(prec, widths)
    look = palette(int(w) for w in widths)
    left = [0.0] * len(prec)
    for w in widths:
        vals = [r[f"time_at_{w}b_pct"] or 0.0 for r in prec]
        ax.barh(labels, vals, left=left, label=f"{w} bit", color=look[int(w)]["color"])
        left = [a + b for a, b in zip(left, vals)]
    ax.set(xlabel="share of (row x step) work (%)", xlim=(0, 100))
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", visible=False)
    _title(fig, "Time at each precision", ctx)
    _legend(fig, [ax], ncol=len(widths))
    return save(fig, path)


def _energy_bars(runs: list[tuple[dict, dict]]) -> dict[str, dict]:
    """Energy by component per run label, with each network's techniques-off baseline bar."""
    bars = {}
    for r, res in runs:
        cost = res["cost_by_hw"].get(r["hw"]) or res["cost"]
        if cost.get("saved_j") and f"{r['network']}: baseline" not in bars:
            bars[f"{r['network']}: baseline"] = {c: cost["energy_j"][c] + cost["saved_j"][c] for c in COMPONENTS}
        bars[f"{r['network']}: {r['label']}"[:80]] = cost["energy_j"]
    return bars


def _energy_breakdown(runs: list[tuple[dict, dict]], ctx: str, path: Path) -> Path:
    """One panel per platform, titled by the platform its runs were priced on."""
    platforms = list(dict.fromkeys(r["hw"] for r, _ in runs))
    panels = [(hw, _energy_bars([(r, res) for r, res in runs if r["hw"] == hw])) for hw in platforms]
    widest = max(len(bars) for _, bars in panels)
    fig, axes = figure(max(PAGE, 0.32 * widest * len(panels) + 2), 4.6, ncols=len(panels))
    axes = list(axes) if len(panels) > 1 else [axes]
    look = palette(COMPONENTS)
    for ax, (hw, bars) in zip(axes, panels):
        labels = list(bars)
        bottom = [0.0] * len(labels)
        for c in COMPONENTS:
            vals = [1e3 * bars[k].get(c, 0.0) for k in labels]
            if any(vals):
                ax.bar(labels, vals, bottom=bottom, label=c, color=look[c]["color"])
                bottom = [a + b for a, b in zip(bottom, vals)]
        ax.set(ylabel="energy (mJ)", title=f"energy breakdown ({hw})")
        ax.tick_params(axis="x", labelrotation=35, labelsize=6.5)
        for t in ax.get_xticklabels():
            t.set_horizontalalignment("right")
        ax.grid(axis="x", visible=False)
    _title(fig, "Energy by component", ctx)
    _legend(fig, axes, ncol=min(len(COMPONENTS), 6))
    return save(fig, path)
