"""Derived prices: every energy the model charges, built from the YAML prices by written-down rules.

Rules (docs/cost_model.md gives the reasoning and checks):

* node scaling   ``E(node) = E_ref * (node / node_ref) ** k`` with ``k = chip.energy_node_exponent``;
                 prices with ``node_nm: null`` (DRAM, off-chip) are never scaled;
* multiplier     ``E_mul(a, b) = arith.int_mult * (a * b) / bits_ref**2`` (array multiplier: area and
                 switching grow with the product of the operand widths);
* adder          ``E_add(n) = arith.int_add * n / bits_ref`` (ripple/carry-select adder: linear);
* MAC            ``E_mac(wb, ab) = E_mul(wb, ab) + E_add(arith.accumulator_bits)``;
* memory         ``E_byte = E_access / (access_bits / 8)``: a price per 64-bit access is charged per byte;
* activation op  one segment-table read of ``2 * ab`` bits (slope, offset) + ``E_mul(ab, ab) + E_add(ab)``;
* BNN            XNOR per bit = ``E_add(1)`` (one full-adder cell); popcount of N bits = ``N * E_add(1)``
                 plus the reuse test ``|b - b_m| <= θ|b_m|`` = ``E_mul(t, t) + 2 E_add(t)``, t = test_bits;
* controller     compare = ``E_add(compare_bits)``, counter update = ``E_add(counter_bits)``.

A :class:`Rate` has a unique ``name``: two rates with the same name always have the same value, so
provenance entries can be merged by name.
"""
from __future__ import annotations

from dataclasses import dataclass

from .schema import HwConfig, Memory
from .units import Price

__all__ = ["Rate", "PriceBook"]


@dataclass(frozen=True)
class Rate:
    """Joules per one counted unit (``per``: MAC, byte, op, bit, entry, s)."""

    name: str
    joules: float
    per: str
    source: str


class PriceBook:
    """All derived prices of one :class:`HwConfig`, scaled to its technology node."""

    def __init__(self, hw: HwConfig):
        self.hw = hw
        self.node = hw.chip.node.value
        self.k = hw.chip.energy_node_exponent.value

    # ------------------------------------------------------------------ primitives (joules)
    def scaled(self, p: Price) -> float:
        if p.node_nm is None:
            return p.joules
        return p.joules * (self.node / p.node_nm) ** self.k

    def _node_note(self, p: Price) -> str:
        if p.node_nm is None:
            return "off-chip, not node-scaled"
        return f"x({self.node:g}/{p.node_nm:g} nm)^{self.k:g}"

    def mul_j(self, a: int, b: int) -> float:
        m = self.hw.arith.int_mult
        return self.scaled(m) * (a * b) / (m.bits * m.bits)

    def add_j(self, n: int) -> float:
        a = self.hw.arith.int_add
        return self.scaled(a) * n / a.bits

    def _arith_src(self) -> str:
        m, a = self.hw.arith.int_mult, self.hw.arith.int_add
        return (f"arith.int_mult {m.value:g} {m.unit}@{m.bits}x{m.bits}b [{m.source}]; "
                f"arith.int_add {a.value:g} {a.unit}@{a.bits}b [{a.source}]; {self._node_note(m)}")

    # ------------------------------------------------------------------ arithmetic rates
    def mac(self, wb: int, ab: int) -> Rate:
        acc = self.hw.arith.accumulator_bits.value
        m, a = self.hw.arith.int_mult, self.hw.arith.int_add
        j = self.mul_j(wb, ab) + self.add_j(acc)
        rule = f"int_mult*{wb}*{ab}/{m.bits}^2 + int_add*{acc}/{a.bits}"
        return Rate(f"mac{wb}x{ab}", j, "MAC", f"{rule}; {self._arith_src()}")

    def elt_mul(self, bits: int) -> Rate:
        m = self.hw.arith.int_mult
        return Rate(f"eltwise.mul@{bits}b", self.mul_j(bits, bits), "op",
                    f"int_mult*{bits}*{bits}/{m.bits}^2; {self._arith_src()}")

    def elt_add(self, bits: int) -> Rate:
        a = self.hw.arith.int_add
        return Rate(f"eltwise.add@{bits}b", self.add_j(bits), "op",
                    f"int_add*{bits}/{a.bits}; {self._arith_src()}")

    def act(self, bits: int) -> Rate:
        seg = self.hw.activation.segment_table_read
        table = self.scaled(seg) * (2 * bits) / seg.bits
        j = table + self.mul_j(bits, bits) + self.add_j(bits)
        src = (f"activation.segment_table_read {seg.value:g} {seg.unit}/{seg.bits}b x 2*{bits}b "
               f"[{seg.source}] + E_mul({bits},{bits}) + E_add({bits}); {self._arith_src()}")
        return Rate(f"act@{bits}b", j, "op", src)

    # ------------------------------------------------------------------ memories (per byte)
    def mem(self, path: str, mem: Memory, op: str) -> Rate:
        p: Price = getattr(mem, op)
        j = self.scaled(p) / (p.bits / 8)
        src = f"{path}.{op} {p.value:g} {p.unit}/{p.bits}b access / {p.bits / 8:g} B; {self._node_note(p)} [{p.source}]"
        return Rate(f"{path}.{op}", j, "byte", src)

    def dram(self) -> Rate:
        p = self.hw.dram.energy
        return Rate("dram.energy", self.scaled(p) / (p.bits / 8), "byte",
                    f"dram.energy {p.value:g} {p.unit}/{p.bits}b access; {self._node_note(p)} [{p.source}]")

    # ------------------------------------------------------------------ BNN predictor, memo buffer
    def xnor_bit(self) -> Rate:
        return Rate("bnn.xnor", self.add_j(1), "bit-op", f"E_add(1): one full-adder cell (assumption); {self._arith_src()}")

    def popcount(self, n: int) -> Rate:
        t = self.hw.bnn.test_bits.value
        j = n * self.add_j(1) + self.mul_j(t, t) + 2 * self.add_j(t)
        return Rate(f"bnn.popcount@N={n}", j, "op",
                    f"{n}*E_add(1) (adder tree) + reuse test E_mul({t},{t}) + 2*E_add({t}); {self._arith_src()}")

    def sign_bit_read(self) -> Rate:
        p = self.hw.bnn.sign_weight_read
        return Rate("bnn.sign_weight_read", self.scaled(p) / p.bits, "bit",
                    f"bnn.sign_weight_read {p.value:g} {p.unit}/{p.bits}b; {self._node_note(p)} [{p.source}]")

    def memo_entry(self, op: str) -> Rate:
        eb = self.hw.bnn.memo_entry_bits.value
        per_byte = self.mem("bnn.memo_buffer", self.hw.bnn.memo_buffer, op)
        return Rate(f"bnn.memo_buffer.{op}@{eb}b", per_byte.joules * eb / 8, "entry",
                    f"{eb}-bit entry x {per_byte.source}")

    # ------------------------------------------------------------------ precision controller
    def compare(self) -> Rate:
        n = self.hw.control.compare_bits.value
        return Rate(f"control.compare@{n}b", self.add_j(n), "op", f"E_add({n}) (subtract); {self._arith_src()}")

    def counter_op(self) -> Rate:
        n = self.hw.control.counter_bits.value
        return Rate(f"control.counter@{n}b", self.add_j(n), "op", f"E_add({n}); {self._arith_src()}")

    # ------------------------------------------------------------------ static
    def static(self) -> Rate:
        p = self.hw.chip.static_power
        return Rate("chip.static_power", p.si, "s", f"chip.static_power {p.value:g} {p.unit} [{p.source}]")
