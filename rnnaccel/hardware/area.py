"""Chip area by component, and the area overhead of each technique.

Memories take CACTI's area (the ``area`` of each memory section, times its instances). Logic is
counted in units whose cell area comes from the ``area`` section of the price table (45 nm
figures, scaled to the chip's node with the same rule as energies, :meth:`PriceBook.area_factor`)
and is multiplied by ``area.layout_overhead`` (placement utilisation, clock tree, wiring):

* MAC lanes      ``lanes * (A_mul(w, w) + A_add(acc) + (2w + acc) * A_flop)``, ``w`` the lane
                 width (E-PUR ``base_width_bits``, TPU ``native_bits``), ``acc`` the accumulator;
* multi-width    ``lanes * A_mul(w, w) * area.multiwidth_overhead`` (dynamic precision);
* activation     ``activation.ops_per_cycle * (A_mul(w, w) + A_add(w))`` (+ the segment tables);
* BNN            ``xnor_bits_per_cycle * 2 * A_add(1)`` (an XNOR and a popcount-tree full adder
                 per bit) + one reuse test ``A_mul(t, t) + 2 A_add(t)`` per 256-bit XNOR row
                 (+ the sign-weight store and the memo buffer);
* controller     ``control.ops_per_cycle * (A_add(compare_bits) + A_add(counter_bits)
                 + counter_bits * A_flop)``;
* control        ``area.control_gates * A_gate`` (sequencer, address generation, DMA).

``technique_overhead(hw)`` groups the parts each technique adds — memoization: sign-weight store,
memo buffer, XNOR/popcount rows, reuse comparators; dynamic precision: the multi-width MAC extra
and the precision controller — as mm^2 and as a percentage of the base accelerator (every other
part) and of its logic alone (papers that synthesise logic and take SRAM from CACTI may quote
either). ``python -m rnnaccel.hardware.area --hw epur`` prints both tables.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from .pricing import PriceBook, price_book
from .schema import HwConfig, available_hw, load_hw
from .units import Price

__all__ = [
    "AreaItem",
    "AreaReport",
    "area",
    "logic_area_mm2",
    "technique_overhead",
    "PAPER_OVERHEAD",
    "BNN_ROW_BITS",
    "main",
]

#: width of one XNOR/popcount row (one reuse test per row); both tables' BNN sources assume 256-bit rows
BNN_ROW_BITS = 256

#: what the technique papers report (docs/references.md), for the report beside ours
PAPER_OVERHEAD = {
    "memoization": "paper: small area overhead of the BNN and memo buffer (the issue quotes < 8 %) [R]",
    "dynamic_precision": "paper: precision-selection hardware costs 8.8 % area (arXiv 1911.04244) [V]",
}


@dataclass(frozen=True)
class AreaItem:
    name: str
    mm2: float
    kind: str  # "memory" or "logic"
    technique: str  # "base", "memoization" or "dynamic_precision"
    how: str


@dataclass(frozen=True)
class AreaReport:
    items: list[AreaItem]

    @property
    def total_mm2(self) -> float:
        return sum(i.mm2 for i in self.items)

    def mm2(self, technique: str | None = None, kind: str | None = None) -> float:
        return sum(
            i.mm2
            for i in self.items
            if (technique is None or i.technique == technique) and (kind is None or i.kind == kind)
        )


class _Cells:
    """Cell areas (mm^2) at the chip's node from the table's 45 nm figures."""

    def __init__(self, hw: HwConfig, book: PriceBook):
        self.a, self.book = hw.area, book

    def _mm2(self, p: Price) -> float:
        return p.si * self.book.area_factor(p.node_nm)

    def mul(self, a: int, b: int) -> float:
        m = self.a.int_mult
        return self._mm2(m) * a * b / (m.bits * m.bits)

    def add(self, n: int) -> float:
        return self._mm2(self.a.int_add) * n / self.a.int_add.bits

    def flop(self) -> float:
        return self._mm2(self.a.flop)

    def gate(self) -> float:
        return self._mm2(self.a.gate)


def _lanes_and_width(hw: HwConfig) -> tuple[int, int]:
    a = hw.arch
    if hw.kind == "epur":
        return a.computation_units.value * a.dpu_lanes.value, a.base_width_bits.value
    return a.array_rows.value * a.array_cols.value, a.native_bits.value


def _logic_items(hw: HwConfig, book: PriceBook) -> list[AreaItem]:
    c, layout = _Cells(hw, book), hw.area.layout_overhead.value
    lanes, w = _lanes_and_width(hw)
    acc, t = hw.arith.accumulator_bits.value, hw.bnn.test_bits.value
    ctl = hw.control
    xnor = hw.bnn.xnor_bits_per_cycle.value
    rows = max(1, round(xnor / BNN_ROW_BITS))
    cb, nb = ctl.compare_bits.value, ctl.counter_bits.value
    raw = [
        (
            "mac_lanes",
            "base",
            lanes * (c.mul(w, w) + c.add(acc) + (2 * w + acc) * c.flop()),
            f"{lanes} lanes x (A_mul({w},{w}) + A_add({acc}) + {2 * w + acc} flops)",
        ),
        (
            "activation_units",
            "base",
            hw.activation.ops_per_cycle.value * (c.mul(w, w) + c.add(w)),
            f"{hw.activation.ops_per_cycle.value} units x (A_mul({w},{w}) + A_add({w}))",
        ),
        (
            "control",
            "base",
            hw.area.control_gates.value * c.gate(),
            f"{hw.area.control_gates.value} NAND2-equivalent gates",
        ),
        ("bnn_xnor_popcount", "memoization", xnor * 2 * c.add(1), f"{xnor} bits x 2 A_add(1)"),
        (
            "bnn_reuse_test",
            "memoization",
            rows * (c.mul(t, t) + 2 * c.add(t)),
            f"{rows} rows x (A_mul({t},{t}) + 2 A_add({t}))",
        ),
        (
            "multiwidth_macs",
            "dynamic_precision",
            lanes * c.mul(w, w) * hw.area.multiwidth_overhead.value,
            f"{lanes} x A_mul({w},{w}) x area.multiwidth_overhead {hw.area.multiwidth_overhead.value:g}",
        ),
        (
            "precision_controller",
            "dynamic_precision",
            ctl.ops_per_cycle.value * (c.add(cb) + c.add(nb) + nb * c.flop()),
            f"{ctl.ops_per_cycle.value} lanes x (A_add({cb}) + A_add({nb}) + {nb} flops)",
        ),
    ]
    return [AreaItem(name, mm2 * layout, "logic", tech, f"{how} x layout {layout:g}") for name, tech, mm2, how in raw]


def _memory_items(hw: HwConfig) -> list[AreaItem]:
    items = []
    for path, mem, n in hw.memories():
        tech = "memoization" if path in ("bnn.sign_weights", "bnn.memo_buffer") else "base"
        items.append(
            AreaItem(
                path, mem.area.si * n, "memory", tech, f"{mem.area.value:g} {mem.area.unit} x {n} [{mem.area.basis}]"
            )
        )
    return items


def area(hw: HwConfig | str, book: PriceBook | None = None) -> AreaReport:
    """mm^2 of every component of the chip (memories from CACTI, logic from per-unit figures)."""
    hw = load_hw(hw)
    book = book or price_book(hw)
    return AreaReport(_memory_items(hw) + _logic_items(hw, book))


def logic_area_mm2(hw: HwConfig, book: PriceBook | None = None) -> float:
    """Placed logic area (every logic item, layout overhead included): the area that leaks at
    ``chip.logic_leakage``."""
    return sum(i.mm2 for i in _logic_items(hw, book or price_book(hw)))


def technique_overhead(hw: HwConfig | str) -> dict[str, dict]:
    """Per technique: its parts' mm^2, and that as a percentage of the base accelerator."""
    rep = area(hw)
    base, base_logic = rep.mm2("base"), rep.mm2("base", "logic")
    out = {}
    for tech in ("memoization", "dynamic_precision"):
        parts = {i.name: i.mm2 for i in rep.items if i.technique == tech}
        mm2 = sum(parts.values())
        out[tech] = {
            "mm2": mm2,
            "percent": 100 * mm2 / base,
            "base_mm2": base,
            "percent_of_logic": 100 * mm2 / base_logic,
            "base_logic_mm2": base_logic,
            "parts": parts,
            "paper": PAPER_OVERHEAD[tech],
        }
    return out


def report_text(hw: HwConfig) -> str:
    rep = area(hw)
    lines = [f"# area of {hw.name}", "| component | kind | technique | mm^2 | how |", "|---|---|---|---|---|"]
    for i in rep.items:
        lines.append(f"| {i.name} | {i.kind} | {i.technique} | {i.mm2:.4g} | {i.how} |")
    lines.append(
        f"| **total** | | | **{rep.total_mm2:.4g}** | memories {rep.mm2(kind='memory'):.4g}, "
        f"logic {rep.mm2(kind='logic'):.4g} |"
    )
    lines += ["", "| technique | mm^2 | % of base chip | % of base logic | papers |", "|---|---|---|---|---|"]
    for tech, o in technique_overhead(hw).items():
        lines.append(
            f"| {tech} | {o['mm2']:.4g} | {o['percent']:.2f} % of {o['base_mm2']:.4g} | "
            f"{o['percent_of_logic']:.1f} % of {o['base_logic_mm2']:.4g} | {o['paper']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rnnaccel.hardware.area", description="Area by component and each technique's area overhead."
    )
    ap.add_argument("--hw", action="append", default=[], help="packaged table name or YAML path (repeatable)")
    a = ap.parse_args(argv)
    names = a.hw or available_hw()
    for n in names:
        try:
            hw = load_hw(n)
        except ValueError as e:
            print(f"area: {e}", file=sys.stderr)
            return 2
        print(report_text(hw))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
