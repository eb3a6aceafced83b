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
from ..hardware.sensitivity import TornadoRow, flipped, format_tornado, rows_to_dicts, tornado, trace_headline
from .figstyle import PAGE, caption, figure, palette, save, style

__all__ = ["main", "headlines_from_args", "plot_tornado"]


def plot_tornado(rows: list[TornadoRow], path: str | Path, top: int, title: str) -> list[Path]:
    """One tornado panel per headline (its ``top`` prices by swing): the headline with each price at
    its low end and at its high end (one colour and hatch each), the nominal value as a line; the
    prices whose end flips the headline's sign are marked. PDF, SVG and PNG (figstyle)."""
    by: dict[str, list[TornadoRow]] = {}
    for r in rows:
        by.setdefault(r.headline, []).append(r)
    shown = min(top, max(len(v) for v in by.values()))
    look = palette(["price at high end", "price at low end"])
    with style():
        fig, axes = figure(PAGE, 1.0 + 0.24 * shown * len(by), nrows=len(by))
        axes = list(axes) if len(by) > 1 else [axes]
        for ax, (name, rs) in zip(axes, by.items()):
            _tornado_panel(ax, name, rs[:top][::-1], look)
        axes[0].legend(loc="lower left", bbox_to_anchor=(0.0, 1.02), ncols=3, frameon=False)
        fig.suptitle(title)
        png = save(fig, path)
    return [png.with_suffix(f".{e}") for e in ("pdf", "svg", "png")]


def _tornado_panel(ax, name: str, rs: list[TornadoRow], look: dict) -> None:
    nom = rs[0].nominal if rs else 0.0
    for i, r in enumerate(rs):
        for end, v, hatch in (("price at low end", r.at_low, ""), ("price at high end", r.at_high, "//")):
            ax.barh(i, v - nom, left=nom, color=look[end]["color"], hatch=hatch, label=end if i == 0 else None)
        if r.flips:
            ax.annotate(
                "flips sign",
                (max(r.at_low, r.at_high), i),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.axvline(nom, color="black", lw=1, label="nominal")
    vals = [nom] + [v for r in rs for v in (r.at_low, r.at_high)]
    lo, hi = min(vals), max(vals)
    pad = 0.05 * (hi - lo) or 0.02 * max(abs(nom), 1e-12)
    ax.set_xlim(lo - pad, hi + pad * 5)
    if lo - pad <= 0.0 <= hi + pad:  # a sign change is inside the plotted range: show where
        ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_yticks(range(len(rs)), [r.param for r in rs])
    ax.set_xlabel(f"{name} ({_unit(name)}; nominal {nom:.3g})")


def _unit(headline: str) -> str:
    """The unit of a headline (trace_headline's and the E-BATCH metric's)."""
    if headline.endswith("energy saving"):
        return "fraction, 1 - E / E_base"
    return "ratio, x"


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
        what = "; ".join(
            [f"base {Path(args.base).name}"] * bool(args.base)
            + [f"{t.partition('=')[0]} {Path(t.partition('=')[2]).name}" for t in args.tech or []]
            + ["E-BATCH vs cellular"] * bool(args.ebatch)
        )
        title = "Sensitivity of headline figures to uncertain prices\n" + caption(hardware=hw.name, runs=what)
        plot_tornado(rows, out / "tornado", args.top, title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
