"""rnnaccel-sensitivity: how far each headline figure moves when each uncertain price of a table
goes to its low and high end (a tornado table and plot), and which conclusions flip sign.

Headlines come from traces saved by ``rnnaccel-evaluate ... eval.trace_output=PATH.npz`` (the
baseline without techniques and one run per technique) and, with ``--ebatch``, from the serving
simulator (E-BATCH energy per sequence against cellular batching on the same workload)::

    rnnaccel-sensitivity --hw epur --base base.npz --tech memo=memo.npz --tech precision=dp.npz \\
        --ebatch --out results/sensitivity

writes ``tornado.md``, ``tornado.json`` and ``tornado.{pdf,svg,png}`` under ``--out``; prints the
table. Exit 2 with one line on a bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..emulator.trace import Trace
from ..hardware import load_hw
from ..hardware.sensitivity import flipped, format_tornado, plot_tornado, rows_to_dicts, tornado, trace_headline

__all__ = ["main", "headlines_from_args"]


def _trace(path: str) -> Trace:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"trace file {path} not found (write one with rnnaccel-evaluate eval.trace_output={path})")
    try:
        return Trace.load_npz(p)
    except Exception as e:  # noqa: BLE001 — any unreadable file is one bad input
        raise ValueError(f"{path} is not an rnnaccel trace NPZ ({type(e).__name__}: {e})") from None


def _ebatch_headline(batching: str):
    from ..serving import ChunkCoster, load_batching_config, simulate

    cfg = load_batching_config(batching)

    def energy_efficiency(hw) -> float:
        coster = ChunkCoster(hw, cfg.network)  # the varied table, not the config's packaged one
        per_seq = {
            p: simulate(cfg, coster=coster, policy={"name": p}).summary()["energy_per_seq_j"]
            for p in ("ebatch", "cellular")
        }
        return per_seq["cellular"] / per_seq["ebatch"]

    return energy_efficiency


def headlines_from_args(args) -> dict:
    heads = {}
    if args.tech and not args.base:
        raise ValueError("--tech needs --base (the run without techniques to compare against)")
    base = _trace(args.base) if args.base else None
    for spec in args.tech or []:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--tech {spec!r}: expected NAME=TRACE.npz, e.g. --tech memo=memo.npz")
        tech = _trace(path)
        heads[f"{name} energy saving"] = trace_headline(base, tech, "energy_saving")
        heads[f"{name} speedup"] = trace_headline(base, tech, "speedup")
    if args.ebatch:
        heads["E-BATCH energy efficiency vs cellular"] = _ebatch_headline(args.batching)
    if not heads:
        raise ValueError("nothing to vary: give --base with --tech NAME=TRACE.npz, and/or --ebatch")
    return heads


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="rnnaccel-sensitivity", description=__doc__.split("\n\n")[0])
    ap.add_argument("--hw", default="epur", help="price table: packaged name (epur, tpu) or YAML path")
    ap.add_argument("--base", help="trace NPZ of the run without techniques")
    ap.add_argument("--tech", action="append", help="NAME=TRACE.npz of a run with a technique (repeatable)")
    ap.add_argument("--ebatch", action="store_true", help="add E-BATCH's energy efficiency vs cellular batching")
    ap.add_argument("--batching", default="ebatch", help="batching config for --ebatch (packaged name or YAML)")
    ap.add_argument("--top", type=int, default=12, help="prices per headline in the table and plot")
    ap.add_argument("--out", help="folder for tornado.md/.json/.pdf/.svg/.png")
    ap.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = ap.parse_args(argv)
    try:
        if args.top < 1:
            raise ValueError(f"--top must be >= 1, got {args.top}")
        hw = load_hw(args.hw)
        rows = tornado(headlines_from_args(args), hw)
    except (ValueError, OSError) as e:
        if args.debug:
            raise
        print(f"rnnaccel-sensitivity: {e}", file=sys.stderr)
        return 2
    text = format_tornado(rows, args.top)
    print(f"# Sensitivity on {hw.name}\n\n{text}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "tornado.md").write_text(f"# Sensitivity on {hw.name}\n\n{text}\n")
        (out / "tornado.json").write_text(
            json.dumps(
                {"hw": hw.name, "rows": rows_to_dicts(rows), "flipped": [r.param for r in flipped(rows)]}, indent=1
            )
        )
        plot_tornado(
            rows, out / "tornado", args.top, f"Sensitivity of headline figures to uncertain prices ({hw.name})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
