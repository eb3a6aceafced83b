"""`make demo`: the shipped connected-digits model through the bit-exact emulator.

Evaluates ``checkpoints/digits_blstm_heldout.pt`` (trained without FSDD speaker theo) on its test
split: FSDD connected digits, 500 utterances of theo's voice, never heard in training (another
checkpoint, e.g. the in-domain ``digits_blstm.pt``, is scored on the split it was trained for, as
the header line says; ``--limit N`` for fewer) in float and in 16-bit bit-exact emulation with its
calibrated datapath, then with neuron-level memoization (BNN predictor, theta 0.1) and with
per-step dynamic precision (the packaged ``dynamic`` config, tuned on validation data), and prints
one table: WER, saturations, computations avoided, share of steps below 16 bits, and the
E-PUR cost-model estimate of the recurrent layers for the whole split (cycles, energy, time;
speedup and energy saving against the plain 16-bit row).

Each entry of ``ROWS`` is a name plus a function that configures the model (``model`` -> None)
before its emulated run; the first entry is the baseline of the speedup / saving columns. The same
rows from the command line: ``rnnaccel-evaluate memo=bnn memo.theta=0.1`` (docs/cli.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from rnnaccel.apps.data import checkpoint_data, checkpoint_split
from rnnaccel.apps.evaluate import cost_summary, saturations, score
from rnnaccel.emulator import Trace
from rnnaccel.emulator.memo import MemoConfig, memo_factory, memo_stats
from rnnaccel.emulator.precision import load_precision, precision_factory, precision_stats
from rnnaccel.models import load_checkpoint, load_model

ROOT = Path(__file__).resolve().parents[2]  # the repository (checkpoints/)

CHECKPOINT = ROOT / "checkpoints" / "digits_blstm_heldout.pt"


def baseline(model) -> None:
    """16-bit datapath from the checkpoint, no technique."""


def memo(model) -> None:
    """Neuron-level fuzzy memoization, BNN predictor, theta 0.1 (docs/memoization.md §7)."""
    model.rnn.units = [memo_factory(MemoConfig(predictor="bnn", theta=0.1))]


def dynamic_precision(model) -> None:
    """Per-step 16/8/4-bit operands from the cell-state change (packaged `dynamic`, docs/precision.md §8)."""
    model.rnn.units = [precision_factory(load_precision("dynamic"))]


# (name, configure(model)); the first row is the baseline of the speedup / saving columns.
ROWS = [("16-bit emulated", baseline), ("memo bnn θ=0.1", memo), ("dynamic precision", dynamic_precision)]


def split_words(data) -> str:
    """Which split the demo scores and whose voices: held out from training or not."""
    from rnnaccel.datasets.fsdd import SPEAKERS, resolve_test_speaker

    if data.scheme == "speaker":
        held = resolve_test_speaker(data.test_speaker)
        return f"speaker-disjoint: speaker {held} (fold {SPEAKERS.index(held)}), never heard in training"
    return f"{data.scheme}-disjoint, in-domain: all six speakers ({', '.join(SPEAKERS)}) also in training"


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
    ds = checkpoint_split(ck, "test", args.limit)
    model, vocab, _ = load_model(args.checkpoint)
    c = model.config
    print(
        f"model: {Path(args.checkpoint).name}  {c.num_layers}x{'Bi' if c.bidirectional else ''}{c.cell.upper()}"
        f"({c.hidden_size}), stack {c.stack}/stride {c.stride}; test split: {len(ds)} utterances "
        f"(FSDD connected digits, {split_words(checkpoint_data(ck))})"
    )
    rows = []
    f = score(model, ds, vocab, "float")
    rows.append(("float (reference)", f["wer"], f["cer"], "-", None, None, None))
    base = None
    for name, configure in ROWS:
        model, vocab, _ = load_model(args.checkpoint)
        configure(model)
        trace = Trace()
        e = score(model, ds, vocab, "emulate", trace=trace)
        base = base or trace
        sats = saturations(model, trace)
        cost = cost_summary(trace, args.hw, base)
        avoided = memo_stats(trace)["total"]["reuse_fraction"]
        widths = precision_stats(trace).get("all", {16: 1.0})
        rows.append((name, e["wer"], e["cer"], sum(sats.values()), cost, avoided, 1.0 - widths[max(widths)]))
    head = (
        f"{'run':<20} {'WER %':>6} {'CER %':>6} {'sat.':>5} {'avoided':>8} {'low-prec':>8} "
        f"{'cycles (' + args.hw + ')':>14} {'energy mJ':>9} {'time ms':>8} {'speedup':>7} {'saved':>6}"
    )
    print(head)
    print("-" * len(head))
    for name, w, ce, s, cost, avoided, low in rows:
        c = cost or {}
        cells = [
            f"{avoided:.1%}" if cost else "-",
            f"{low:.1%}" if cost else "-",
            f"{c['cycles']:,.0f}" if cost else "-",
            f"{c['total_j'] * 1e3:.2f}" if cost else "-",
            f"{c['seconds'] * 1e3:.1f}" if cost else "-",
            f"{c['speedup']:.2f}" if cost else "-",
            f"{c['energy_saving']:.0%}" if cost else "-",
        ]
        print(
            f"{name:<20} {100 * w:>6.2f} {100 * ce:>6.2f} {s!s:>5} {cells[0]:>8} {cells[1]:>8} {cells[2]:>14} "
            f"{cells[3]:>9} {cells[4]:>8} {cells[5]:>7} {cells[6]:>6}"
        )
    print(
        "avoided: gate-neuron computations reused (memoization); low-prec: share of (sequence x step) work "
        "below 16 bits (8 or 4); speedup / saved: E-PUR time and energy vs the 16-bit emulated row"
    )
    print(f"(cost: recurrent layers only, whole split; {time.time() - t0:.0f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
