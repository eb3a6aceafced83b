"""Energy breakdown of a shipped speech model's baseline run on E-PUR and the TPU.

    python -m rnnaccel.apps.energy_breakdown [--checkpoint checkpoints/digits_blstm.pt] [--limit N]
                                       [--hw epur tpu] [--plot runs/breakdown.png]

Runs the checkpoint's test split through the 16-bit bit-exact emulator (its calibrated datapath, no
technique), prices the trace on each accelerator, and prints the breakdown by component with the
largest priced counts behind each (which count times which named price produced the joules).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rnnaccel.apps.data import checkpoint_split
from rnnaccel.apps.evaluate import score
from rnnaccel.emulator import Trace
from rnnaccel.hardware import COMPONENTS, estimate, load_hw
from rnnaccel.models import load_checkpoint, load_model

ROOT = Path(__file__).resolve().parents[2]  # the repository (checkpoints/)


def plot(reports: dict, path: str | Path, what: str) -> Path:
    """One stacked bar per platform (a colour per energy component), in millijoules; the title
    names each platform with its operating point (style: :mod:`rnnaccel.apps.figstyle`)."""
    from rnnaccel.apps.figstyle import COLUMN, figure, palette, save, style

    look = palette(COMPONENTS)
    with style():
        fig, ax = figure(COLUMN + 1.6, 3.2)
        bottom = [0.0] * len(reports)
        for c in COMPONENTS:
            vals = [1e3 * r.energy_j[c] for r in reports.values()]
            if any(vals):
                ax.bar(list(reports), vals, bottom=bottom, label=c, color=look[c]["color"])
                bottom = [a + b for a, b in zip(bottom, vals)]
        ax.set(ylabel="energy (mJ)", xlabel="platform")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        hw = "; ".join(r.hw_name for r in reports.values())
        fig.suptitle(f"Energy by component: {what}\n{hw}", fontsize=8)
        return save(fig, Path(path))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "digits_blstm.pt"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--hw", nargs="+", default=["epur", "tpu"])
    ap.add_argument("--top", type=int, default=3, help="priced counts shown per component")
    ap.add_argument("--plot", default=None, help="stacked bars of the breakdowns: PNG (300 dpi), PDF and SVG")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ck = load_checkpoint(args.checkpoint)
    ds = checkpoint_split(ck, "test", args.limit)
    model, vocab, _ = load_model(args.checkpoint)
    trace = Trace()
    res = score(model, ds, vocab, "emulate", trace=trace)
    print(f"{Path(args.checkpoint).name}: {len(ds)} test utterances, emulated WER {100 * res['wer']:.2f} %")
    reports = {}
    for name in args.hw:
        r = reports[name] = estimate(trace, load_hw(name))
        print(r.summary())
        for comp, entries in r.provenance.items():
            for p in sorted(entries, key=lambda p: -p["joules"])[: args.top]:
                if p["joules"] > 0:
                    print(f"    {comp:<10} {p['count']:<28} x {p['price']:<34} {p['joules'] * 1e3:10.3f} mJ")
    if args.plot:
        what = f"{Path(args.checkpoint).name}, test split ({len(ds)} utterances), no technique"
        print(f"wrote {plot(reports, args.plot, what)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
