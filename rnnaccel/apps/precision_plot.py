"""One cell-state element and the width the precision controller chose, step by step (the idea of
Figure 1 of the HiPC'20 dynamic-precision paper; rule in docs/precision.md).

A speech checkpoint on a real FSDD connected-digits utterance::

    python -m rnnaccel.apps.precision_plot --checkpoint checkpoints/digits_blstm.pt --split test --index 0 \
        --precision dynamic --layer 0 --out runs/precision_fig1.png

Any ``rnnaccel.emulator.LSTM`` (here a small random one on a piecewise-smooth input)::

    python -m rnnaccel.apps.precision_plot --random --out runs/precision_random.png

``--precision`` is a packaged config name (``rnnaccel/conf/precision/*.yaml``) or a YAML path;
``--set key=value`` overrides fields (``--set tau=0.1 --set thresholds=[0.3,0.1]``). ``--neuron``
defaults to the element whose cell state varies most. ``--json`` writes the plotted series.
``scripts/precision_plot.py`` is the same command.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from ..emulator import GRU, LSTM, DatapathConfig, Fmt, Trace, dequantize
from ..emulator.precision import PrecisionConfig, format_stats, load_precision, precision_factory, precision_stats


def precision_series(
    rnn, x: torch.Tensor, pc, layer: int = 0, direction: int = 0, neuron: int | None = None, lengths=None
) -> dict:
    """Run ``rnn`` (an emulator LSTM/GRU) on ``x`` (1, T, D) with the unit of ``pc`` on.

    Returns plain lists over the T steps of the sequence (time order): ``state`` (real value of the
    monitored element: LSTM ``c``, GRU ``h``), ``bits`` (width of each step), ``score`` (the
    metric computed after each step, real units), ``thresholds`` (real units), ``neuron``,
    ``stats`` (fractions of steps per width for every layer/direction).
    """
    if x.dim() != 3 or x.shape[0] != 1:
        raise ValueError(f"expected one sequence (1, T, D), got {tuple(x.shape)}")
    fac = precision_factory(pc)
    old_units, old_mode = rnn.units, rnn.mode
    rnn.units, rnn.mode = [fac], "emulate"
    try:
        tr = Trace()
        r = rnn.emulate(x, lengths, trace=tr, record_internals=True)
    finally:
        rnn.units, rnn.mode = old_units, old_mode
    L = int(lengths[0]) if lengths is not None else x.shape[1]
    cfg = rnn.datapath[layer]
    fmt = cfg.cell if rnn.cell == "lstm" else cfg.hidden
    key = "cells" if rnn.cell == "lstm" else "h"
    ints = r.internals[(layer, direction)][key][0, :L]  # (T, H) time order
    if neuron is None:
        neuron = int(ints.to(torch.float64).var(dim=0).argmax())
    u = fac.units[(layer, direction)]
    bits, score = u.bits_rows[:L, 0], u.scores[:L, 0].astype(np.float64)
    if direction == 1:  # the unit counts processing steps: the reverse direction runs backwards
        bits, score = bits[::-1], score[::-1]
    H = ints.shape[1]
    unit = {"fraction": 1.0 / H, "max": 2.0**-fmt.frac, "mean": 2.0**-fmt.frac / H}[pc.metric]
    _, thr = pc.layer_rule(layer)
    return {
        "state": dequantize(ints[:, neuron], fmt, torch.float64).tolist(),
        "bits": [int(b) for b in bits],
        "score": [float(s) * unit if s >= 0 else None for s in score],
        "thresholds": [float(t) for t in thr] if pc.mode in ("dynamic", "reexec") else [],
        "metric": pc.metric,
        "neuron": neuron,
        "layer": layer,
        "direction": direction,
        "cell": rnn.cell,
        "widths": list(pc.widths),
        "stats": {k: {str(b): f for b, f in v.items()} for k, v in precision_stats(tr).items()},
        "stats_text": format_stats(precision_stats(tr)),
    }


def plot(series: dict, out: str | Path, title: str = "") -> Path:
    """Three panels over time: the state element, the metric with its thresholds, the chosen width
    (style: :mod:`rnnaccel.apps.figstyle`; PDF, SVG and PNG beside ``out``; returns the PNG)."""
    from .figstyle import COLORS, PAGE, figure, save, style

    T = len(series["bits"])
    t = np.arange(T)
    name = "c" if series["cell"] == "lstm" else "h"
    with style():
        fig, ax = figure(PAGE, 4.8, nrows=3, sharex=True, gridspec_kw={"height_ratios": [3, 2, 2]})
        ax[0].plot(t, series["state"], color=COLORS[0])
        ax[0].set_ylabel(f"{name}_t[{series['neuron']}]\n(real units)")
        score = np.array([np.nan if s is None else s for s in series["score"]])
        unit = "share" if series["metric"] == "fraction" else "real units"
        ax[1].plot(t, score, color=COLORS[2], lw=1.2, label=f"{series['metric']} of |Δ{name}| after step t")
        for k, th in enumerate(series["thresholds"]):
            ax[1].axhline(th, color=COLORS[3 + k], ls="--", lw=0.9, label=f"> {th:g}: {series['widths'][k]} bit")
        ax[1].set_ylabel(f"metric\n({unit})")
        ax[1].legend(loc="upper right", frameon=False)
        ax[2].step(t, series["bits"], where="mid", color=COLORS[1])
        ax[2].set_yticks(series["widths"])
        ax[2].set_ylabel("width (bits)")
        ax[2].set_xlabel("time step")
        fig.align_ylabels(ax)
        low = series["stats"].get(f"L{series['layer']}.d{series['direction']}", {})
        share = ", ".join(f"{b} bit {100 * f:.0f}%" for b, f in low.items())
        head = title or f"layer {series['layer']} dir {series['direction']}"
        fig.suptitle(f"{head}\nwidths chosen: {share}; bit-exact emulator, metric {series['metric']}")
        return save(fig, Path(out))


def random_case(cell: str = "lstm", steps: int = 120, seed: int = 0):
    """A small random model and a piecewise-smooth input (stable segments joined by ramps)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    dp = DatapathConfig(weight=Fmt(16, 15), input=Fmt(16, 13))
    rnn = (LSTM if cell == "lstm" else GRU)(4, 16, num_layers=1, mode="emulate", datapath=dp)
    levels = torch.randn(steps // 20 + 1, 4, generator=g)
    t = torch.arange(steps) / 20.0
    i = t.floor().long()
    w = (t - i).clamp(max=0.25) * 4  # 5-step ramp, then flat
    x = levels[i] * (1 - w.unsqueeze(1)) + levels[(i + 1).clamp(max=len(levels) - 1)] * w.unsqueeze(1)
    return rnn, x.unsqueeze(0)


def speech_case(checkpoint: str, split: str, index: int):
    """The recurrent stack of a speech checkpoint and the stacked features of one utterance (of the
    split the checkpoint was trained with: its own data settings)."""
    from ..models.checkpoint import load_model
    from ..models.speech import stack_frames
    from .data import checkpoint_split

    model, _, ck = load_model(checkpoint)
    ds = checkpoint_split(ck, split, index + 1)
    item = ds[index]
    f = item.features.unsqueeze(0)
    c = model.config
    x, _ = stack_frames(f, torch.tensor([f.shape[1]]), c.stack, c.stride)
    return model.rnn, x, f'{Path(checkpoint).name} {split}[{index}] "{item.transcript}"'


def _override(pc, sets: list[str]):
    d = pc.to_dict()
    for s in sets:
        k, _, v = s.partition("=")
        d[k.strip()] = json.loads(v) if v.strip()[:1] in "[{0123456789-" or v in ("true", "false", "null") else v
    return load_precision(d)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="speech checkpoint (rnnaccel.models.checkpoint)")
    src.add_argument("--random", action="store_true", help="a small random LSTM (default without --checkpoint)")
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru"], help="--random only")
    ap.add_argument("--steps", type=int, default=120, help="--random only")
    ap.add_argument("--split", default="test")
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument(
        "--precision",
        default=None,
        help="packaged name or YAML path (default: 'dynamic' for a checkpoint; for --random "
        "the schema defaults, whose small thresholds suit small random models)",
    )
    ap.add_argument("--set", action="append", default=[], help="override a PrecisionConfig field: key=value")
    ap.add_argument("--layer", type=int, default=0)
    ap.add_argument("--direction", type=int, default=0)
    ap.add_argument("--neuron", type=int, default=None)
    ap.add_argument("--out", default="runs/precision_plot.png")
    ap.add_argument("--json", default=None, help="also write the series as JSON")
    a = ap.parse_args(argv)
    base = a.precision or ("dynamic" if a.checkpoint else PrecisionConfig(mode="dynamic"))
    pc = _override(load_precision(base), a.set)
    if pc.mode == "off":
        raise SystemExit("precision mode 'off' chooses no width: pick static, dynamic or reexec")
    if a.checkpoint:
        rnn, x, title = speech_case(a.checkpoint, a.split, a.index)
    else:
        rnn, x = random_case(a.cell, a.steps)
        title = ""
    s = precision_series(rnn, x, pc, a.layer, a.direction, a.neuron)
    out = plot(s, a.out, title and f"{title}: layer {a.layer} dir {a.direction}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({k: v for k, v in s.items() if k != "stats_text"}))
    print(s["stats_text"])
    print(f"wrote {out}")
    return s


if __name__ == "__main__":
    main()
