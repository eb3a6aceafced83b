"""Load sweeps and the throughput-latency plot per platform.

Loads are fractions of :func:`reference_rate`, the request rate E-BATCH could sustain with every
lane busy and the longest chunk (``max_batch`` rows, ``steps_max`` steps) on that platform, so one
list of loads means the same pressure on E-PUR and on the TPU.
"""

from __future__ import annotations

from pathlib import Path

from .config import load_batching_config
from .costs import ChunkCoster
from .sim import simulate
from .workload import load_lengths

__all__ = ["reference_rate", "load_sweep", "plot_throughput_latency", "format_table"]


def reference_rate(cfg, coster: ChunkCoster | None = None) -> float:
    """Requests/s at full lanes: ``max_batch / (mean steps x seconds per step)``, where a step's time
    is that of a ``(max_batch, steps_max)`` chunk over ``steps_max``."""
    cfg = load_batching_config(cfg)
    coster = coster or ChunkCoster(cfg.platform, cfg.network)
    p, w = cfg.policy, cfg.workload
    dist = load_lengths(w.lengths)
    mean_steps = float(((-(-dist.values // w.length_divisor)) * dist.counts).sum() / dist.counts.sum())
    layers = [(layer, d) for layer in range(cfg.network.num_layers) for d in range(coster.dirs)]
    per_step = sum(coster.layer_cost(layer, d, p.max_batch, p.steps_max, False)[0] for layer, d in layers) / p.steps_max
    return p.max_batch / (mean_steps * per_step)


def load_sweep(
    cfg="ebatch",
    loads=(0.1, 0.3, 0.5, 0.7, 0.9),
    policies=("padded", "cellular", "ebatch"),
    platforms=("epur", "tpu"),
    num_requests: int = 2000,
    targets: dict | None = None,
    progress=None,
) -> list[dict]:
    """Simulate every (platform, policy, load); returns rows ``{platform, policy, load, rate,
    **SimResult.summary()}``. ``targets``: optional latency target (s) per platform."""
    base = load_batching_config(cfg)
    rows = []
    for plat in platforms:
        c = base.with_(platform=plat)
        if targets and plat in targets:
            c = c.with_(policy={"latency_target_s": float(targets[plat])})
        coster = ChunkCoster(plat, c.network)
        ref = reference_rate(c, coster)
        for load in loads:
            w = {"rate": load * ref, "num_requests": num_requests}
            for pol in policies:
                res = simulate(c, coster=coster, workload=w, policy={"name": pol})
                res.check()
                row = {"platform": plat, "policy": pol, "load": load, "rate": load * ref, **res.summary()}
                rows.append(row)
                if progress:
                    progress(row)
    return rows


def plot_throughput_latency(rows: list[dict], out_dir: str | Path, metric: str = "latency_p95_s") -> list[Path]:
    """One PNG per platform (``throughput_latency_<platform>.png``): ``metric`` and energy per
    sequence against achieved throughput, a line per policy. Matplotlib Agg canvas (no global
    backend change). Returns the written paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for plat in dict.fromkeys(r["platform"] for r in rows):
        fig = Figure(figsize=(10, 4))
        FigureCanvasAgg(fig)
        ax_l, ax_e = fig.subplots(1, 2)
        for pol in dict.fromkeys(r["policy"] for r in rows):
            pts = sorted((r for r in rows if r["platform"] == plat and r["policy"] == pol), key=lambda r: r["load"])
            if not pts:
                continue
            x = [r["throughput_seq_s"] for r in pts]
            ax_l.plot(x, [r[metric] for r in pts], marker="o", label=pol)
            ax_e.plot(x, [r["energy_per_seq_j"] * 1e3 for r in pts], marker="o", label=pol)
        ax_l.set(
            xlabel="throughput (sequences/s)",
            ylabel=metric.replace("_", " "),
            yscale="log",
            title=f"{plat}: throughput vs latency",
        )
        ax_e.set(
            xlabel="throughput (sequences/s)",
            ylabel="energy per sequence (mJ)",
            yscale="log",
            title=f"{plat}: throughput vs energy",
        )
        for ax in (ax_l, ax_e):
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        fig.tight_layout()
        p = out_dir / f"throughput_latency_{plat}.png"
        fig.savefig(p, dpi=110)
        paths.append(p)
    return paths


def format_table(
    rows: list[dict],
    cols=(
        "platform",
        "load",
        "policy",
        "throughput_seq_s",
        "latency_p50_s",
        "latency_p95_s",
        "latency_p99_s",
        "energy_per_seq_j",
        "padding_fraction",
        "idle_fraction",
        "utilization",
    ),
) -> str:
    """A Markdown table of sweep rows."""

    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
