"""`make demo`: the shipped connected-digits model through the bit-exact emulator.

Evaluates ``checkpoints/digits_blstm.pt`` on its test split (FSDD connected digits, index-disjoint,
500 utterances; ``--limit N`` for fewer) in float and in 16-bit bit-exact emulation with its
calibrated datapath, and prints one table: WER, saturations and the E-PUR cost-model estimate of the
recurrent layers (cycles, energy) for the whole split.

Columns for the techniques (memoization, dynamic precision) go in ``ROWS`` below: each row is a
name plus a function that configures the model (``model`` -> None) before the emulated run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnnaccel.apps.data import load_split  # noqa: E402
from rnnaccel.apps.evaluate import cost_summary, saturations, score  # noqa: E402
from rnnaccel.emulator import Trace  # noqa: E402
from rnnaccel.models import load_checkpoint, load_model  # noqa: E402

CHECKPOINT = ROOT / "checkpoints" / "digits_blstm.pt"


def baseline(model) -> None:
    """16-bit datapath from the checkpoint, no technique."""


# (name, configure(model)) — the memoization / dynamic-precision rows are added here later, e.g.
# ("memo θ=0.1", lambda m: m.rnn.set_memo(...)). Each row gets WER, saturations, cycles, energy.
ROWS = [("16-bit emulated", baseline)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(CHECKPOINT))
    ap.add_argument("--limit", type=int, default=None, help="first N test utterances (default: all)")
    ap.add_argument("--hw", default="epur")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    ck = load_checkpoint(args.checkpoint)
    from rnnaccel.apps.config import DataConf, FeaturesConf
    data = DataConf(**{**ck["extra"]["data"], "features": FeaturesConf(**ck["extra"]["data"]["features"])})
    ds = load_split(data, "test")
    if args.limit is not None:
        ds = ds.subset(args.limit)
    model, vocab, _ = load_model(args.checkpoint)
    c = model.config
    print(f"model: {Path(args.checkpoint).name}  {c.num_layers}x{'Bi' if c.bidirectional else ''}{c.cell.upper()}"
          f"({c.hidden_size}), stack {c.stack}/stride {c.stride}; test split: {len(ds)} utterances "
          f"(FSDD connected digits, {data.scheme}-disjoint)")
    rows = []
    f = score(model, ds, vocab, "float")
    rows.append(("float (reference)", f["wer"], f["cer"], "-", None))
    for name, configure in ROWS:
        model, vocab, _ = load_model(args.checkpoint)
        configure(model)
        trace = Trace()
        e = score(model, ds, vocab, "emulate", trace=trace)
        sats = saturations(model, trace)
        cost = cost_summary(trace, args.hw)
        rows.append((name, e["wer"], e["cer"], sum(sats.values()), cost))
    head = f"{'run':<20} {'WER %':>7} {'CER %':>7} {'sat.':>6} {'cycles (' + args.hw + ')':>15} {'energy mJ':>10} {'time ms':>8}"
    print(head)
    print("-" * len(head))
    for name, w, ce, s, cost in rows:
        cyc = f"{cost['cycles']:,.0f}" if cost else "-"
        en = f"{cost['total_j'] * 1e3:.3f}" if cost else "-"
        ms = f"{cost['seconds'] * 1e3:.2f}" if cost else "-"
        print(f"{name:<20} {100 * w:>7.2f} {100 * ce:>7.2f} {s!s:>6} {cyc:>15} {en:>10} {ms:>8}")
    print(f"(cost: recurrent layers only, whole split; {time.time() - t0:.0f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
