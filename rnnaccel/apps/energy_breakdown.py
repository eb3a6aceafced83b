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
from rnnaccel.hardware import estimate, load_hw, plot_breakdown
from rnnaccel.models import load_checkpoint, load_model

ROOT = Path(__file__).resolve().parents[2]  # the repository (checkpoints/)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "digits_blstm.pt"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--hw", nargs="+", default=["epur", "tpu"])
    ap.add_argument("--top", type=int, default=3, help="priced counts shown per component")
    ap.add_argument("--plot", default=None, help="stacked-bar PNG of the breakdowns")
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
        print(f"wrote {plot_breakdown(reports, args.plot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
