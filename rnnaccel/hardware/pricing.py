"""Derived prices: every energy the model charges, built from the YAML prices by written-down rules.

Rules (docs/cost_model.md gives the reasoning and checks):

* node scaling   ``chip.node_scaling: stillmaker2017`` (default): ``E(node) = E_ref * f(node, vdd) /
                 f(node_ref, 0.9 V)`` with ``f`` the fitted energy polynomial of Stillmaker & Baas
                 (Integration 58, 2017) at each node, linearly interpolated between the nodes of their
                 table (:data:`SB2017_NODES`); areas scale by their area factors. ``exponent``:
                 ``E(node) = E_ref * (node / node_ref) ** k``, ``k = chip.energy_node_exponent``, areas
                 by ``(node / node_ref) ** 2``. Prices with ``node_nm: null`` (DRAM) are never scaled;
                 CACTI prices are computed at the chip's node, so their factor is 1;
* multiplier     ``E_mul(a, b) = arith.int_mult * (a * b) / bits_ref**2`` (array multiplier: area and
                 switching grow with the product of the operand widths);
* adder          ``E_add(n) = arith.int_add * n / bits_ref`` (ripple/carry-select adder: linear);
* MAC            ``E_mac(wb, ab) = E_mul(wb, ab) + E_add(arith.accumulator_bits)``;
* memory         ``E_byte = E_access / (access_bits / 8)``: a price per 64-bit access is charged per byte;
* activation op  one segment-table read of ``2 * ab`` bits (slope, offset) + ``E_mul(ab, ab) + E_add(ab)``;
* BNN            XNOR per bit = ``E_add(1)`` (one full-adder cell); popcount of N bits = ``N * E_add(1)``
                 plus the reuse test ``|b - b_m| <= θ|b_m|`` = ``E_mul(t, t) + 2 E_add(t)``, t = test_bits;
* controller     compare = ``E_add(compare_bits)``, counter update = ``E_add(counter_bits)``;
* static power   the sum of every memory's CACTI leakage times its instances plus the logic area
                 (:mod:`.area`) times ``chip.logic_leakage``.

A :class:`Rate` has a unique ``name``: two rates with the same name always have the same value, so
provenance entries can be merged by name.

Caching: a rate depends only on the table and its arguments, so a book computes each rate once and
keeps it (per method and arguments). :func:`price_book` returns one book per table *content*: it is
keyed by :func:`hw_digest` (SHA-256 of the table's canonical JSON, every value, unit and source),
never by object identity, so an edited copy (``with_value``) gets its own book and two equal tables
share one. The serving simulator prices tens of thousands of chunks with one table: building every
rate (node scaling, the static power's area walk, the provenance strings) per call was most of
their time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .schema import HwConfig, Memory
from .units import Price

__all__ = ["Rate", "PriceBook", "price_book", "hw_digest", "SB2017_NODES", "sb2017_energy", "sb2017_area"]

#: Stillmaker & Baas 2017 (docs/references.md#stillmaker2017) [R]: their nodes (nm), the fitted
#: energy-per-operation polynomial a*Vdd^2 + b*Vdd + c at each node (relative units), and each
#: node's area relative to 45 nm. Values as reproduced from the paper's tables, not re-verified.
SB2017_NODES = (130, 90, 65, 45, 32, 20, 16, 14, 10, 7)
SB2017_ENERGY_FIT = (
    (7.171, -6.709, 2.904),
    (4.762, -4.781, 2.092),
    (3.755, -4.398, 1.975),
    (1.103, -0.362, 0.2767),
    (0.9559, -0.7823, 0.471),
    (0.373, -0.1582, 0.04104),
    (0.2958, -0.1241, 0.03024),
    (0.2363, -0.09675, 0.02239),
    (0.2068, -0.09311, 0.02375),
    (0.1776, -0.09097, 0.02447),
)
SB2017_AREA_VS_45 = (6.4, 2.8, 1.5, 1.0, 0.46, 0.21, 0.19, 0.17, 0.1, 0.059)
#: supply of the Horowitz ISSCC 2014 45 nm tables every 45 nm price here comes from
REF_VDD = 0.9


def _between(node: float) -> tuple[int, int, float]:
    """Neighbouring table indices ``(i, j)`` and the weight of ``j`` for a node inside the table."""
    if not SB2017_NODES[-1] <= node <= SB2017_NODES[0]:
        raise ValueError(
            f"node {node:g} nm is outside the Stillmaker-Baas table ({SB2017_NODES[-1]}-"
            f"{SB2017_NODES[0]} nm); use chip.node_scaling: exponent"
        )
    for i in range(len(SB2017_NODES) - 1):
        hi, lo = SB2017_NODES[i], SB2017_NODES[i + 1]
        if lo <= node <= hi:
            return i, i + 1, (hi - node) / (hi - lo)
    return 0, 0, 0.0


def sb2017_energy(node: float, vdd: float) -> float:
    """Fitted energy per operation at ``node`` and ``vdd`` (relative units), linear between nodes."""
    i, j, w = _between(node)
    fit = [a * vdd**2 + b * vdd + c for a, b, c in (SB2017_ENERGY_FIT[i], SB2017_ENERGY_FIT[j])]
    return fit[0] * (1 - w) + fit[1] * w


def sb2017_area(node: float) -> float:
    """Area at ``node`` relative to 45 nm, linear between the table's nodes."""
    i, j, w = _between(node)
    return SB2017_AREA_VS_45[i] * (1 - w) + SB2017_AREA_VS_45[j] * w


def _cached(method):
    """Memoize a rate method per book on its (hashable) arguments: a rate is a pure function of
    the book's table and the arguments."""

    @functools.wraps(method)
    def wrapper(self, *args):
        key = (method.__name__, *args)
        hit = self._rates.get(key)
        if hit is None:
            hit = self._rates[key] = method(self, *args)
        return hit

    return wrapper


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
        self.rule = hw.chip.node_scaling
        self.vdd = hw.chip.vdd.value
        self._rates: dict[tuple, Any] = {}

    # ------------------------------------------------------------------ node scaling
    @_cached
    def energy_factor(self, node_ref: float) -> float:
        """Multiplier from an energy measured at ``node_ref`` to the chip's node."""
        if node_ref == self.node:
            return 1.0
        if self.rule == "exponent":
            return (self.node / node_ref) ** self.k
        return sb2017_energy(self.node, self.vdd) / sb2017_energy(node_ref, REF_VDD)

    @_cached
    def area_factor(self, node_ref: float) -> float:
        """Multiplier from an area measured at ``node_ref`` to the chip's node."""
        if node_ref == self.node:
            return 1.0
        if self.rule == "exponent":
            return (self.node / node_ref) ** 2
        return sb2017_area(self.node) / sb2017_area(node_ref)

    def scaled(self, p: Price) -> float:
        if p.node_nm is None:
            return p.joules
        return p.joules * self.energy_factor(p.node_nm)

    def _node_note(self, p: Price) -> str:
        if p.node_nm is None:
            return "off-chip, not node-scaled"
        if p.node_nm == self.node:
            return f"at the chip's {self.node:g} nm"
        if self.rule == "exponent":
            return f"x({self.node:g}/{p.node_nm:g} nm)^{self.k:g}"
        return (
            f"x{self.energy_factor(p.node_nm):.4g} (Stillmaker-Baas 2017: {p.node_nm:g} nm at {REF_VDD:g} V "
            f"-> {self.node:g} nm at {self.vdd:g} V)"
        )

    def mul_j(self, a: int, b: int) -> float:
        m = self.hw.arith.int_mult
        return self.scaled(m) * (a * b) / (m.bits * m.bits)

    def add_j(self, n: int) -> float:
        a = self.hw.arith.int_add
        return self.scaled(a) * n / a.bits

    def _arith_src(self) -> str:
        m, a = self.hw.arith.int_mult, self.hw.arith.int_add
        return (
            f"arith.int_mult {m.value:g} {m.unit}@{m.bits}x{m.bits}b [{m.source}]; "
            f"arith.int_add {a.value:g} {a.unit}@{a.bits}b [{a.source}]; {self._node_note(m)}"
        )

    # ------------------------------------------------------------------ arithmetic rates
    @_cached
    def mac(self, wb: int, ab: int) -> Rate:
        acc = self.hw.arith.accumulator_bits.value
        m, a = self.hw.arith.int_mult, self.hw.arith.int_add
        j = self.mul_j(wb, ab) + self.add_j(acc)
        rule = f"int_mult*{wb}*{ab}/{m.bits}^2 + int_add*{acc}/{a.bits}"
        return Rate(f"mac{wb}x{ab}", j, "MAC", f"{rule}; {self._arith_src()}")

    @_cached
    def elt_mul(self, bits: int) -> Rate:
        m = self.hw.arith.int_mult
        return Rate(
            f"eltwise.mul@{bits}b",
            self.mul_j(bits, bits),
            "op",
            f"int_mult*{bits}*{bits}/{m.bits}^2; {self._arith_src()}",
        )

    @_cached
    def elt_add(self, bits: int) -> Rate:
        a = self.hw.arith.int_add
        return Rate(f"eltwise.add@{bits}b", self.add_j(bits), "op", f"int_add*{bits}/{a.bits}; {self._arith_src()}")

    @_cached
    def elt_max(self, bits: int) -> Rate:
        """A ReLU's ``max(0, z)``: one ``bits``-wide comparison, priced as the controller's compare
        (a subtraction, ``E_add(bits)``) at the activation width; an upper bound (a sign test and a
        mux cost less)."""
        return Rate(
            f"eltwise.max@{bits}b",
            self.add_j(bits),
            "op",
            f"E_add({bits}) (compare = subtract, as control.compare; upper bound of a sign test + mux); "
            f"{self._arith_src()}",
        )

    @_cached
    def act(self, bits: int) -> Rate:
        seg = self.hw.activation.segment_table.read
        table = self.scaled(seg) * (2 * bits) / seg.bits
        j = table + self.mul_j(bits, bits) + self.add_j(bits)
        src = (
            f"activation.segment_table.read {seg.value:g} {seg.unit}/{seg.bits}b x 2*{bits}b "
            f"[{seg.source}] + E_mul({bits},{bits}) + E_add({bits}); {self._arith_src()}"
        )
        return Rate(f"act@{bits}b", j, "op", src)

    # ------------------------------------------------------------------ memories (per byte)
    def mem(self, path: str, mem: Memory, op: str) -> Rate:
        key = ("mem", path, op, id(mem))  # the entry keeps ``mem`` alive: its id cannot be reused
        hit = self._rates.get(key)
        if hit is None:
            hit = self._rates[key] = (mem, self._mem(path, mem, op))
        return hit[1]

    def _mem(self, path: str, mem: Memory, op: str) -> Rate:
        p: Price = getattr(mem, op)
        j = self.scaled(p) / (p.bits / 8)
        src = f"{path}.{op} {p.value:g} {p.unit}/{p.bits}b access / {p.bits / 8:g} B; {self._node_note(p)} [{p.source}]"
        return Rate(f"{path}.{op}", j, "byte", src)

    @_cached
    def dram(self) -> Rate:
        p = self.hw.dram.energy
        return Rate(
            "dram.energy",
            self.scaled(p) / (p.bits / 8),
            "byte",
            f"dram.energy {p.value:g} {p.unit}/{p.bits}b access; {self._node_note(p)} [{p.source}]",
        )

    # ------------------------------------------------------------------ BNN predictor, memo buffer
    @_cached
    def xnor_bit(self) -> Rate:
        return Rate(
            "bnn.xnor", self.add_j(1), "bit-op", f"E_add(1): one full-adder cell (assumption); {self._arith_src()}"
        )

    @_cached
    def popcount(self, n: int) -> Rate:
        t = self.hw.bnn.test_bits.value
        j = n * self.add_j(1) + self.mul_j(t, t) + 2 * self.add_j(t)
        return Rate(
            f"bnn.popcount@N={n}",
            j,
            "op",
            f"{n}*E_add(1) (adder tree) + reuse test E_mul({t},{t}) + 2*E_add({t}); {self._arith_src()}",
        )

    @_cached
    def sign_bit_read(self) -> Rate:
        p = self.hw.bnn.sign_weights.read
        return Rate(
            "bnn.sign_weights.read@bit",
            self.scaled(p) / p.bits,
            "bit",
            f"bnn.sign_weights.read {p.value:g} {p.unit}/{p.bits}b; {self._node_note(p)} [{p.source}]",
        )

    @_cached
    def memo_entry(self, op: str) -> Rate:
        eb = self.hw.bnn.memo_entry_bits.value
        per_byte = self.mem("bnn.memo_buffer", self.hw.bnn.memo_buffer, op)
        return Rate(
            f"bnn.memo_buffer.{op}@{eb}b", per_byte.joules * eb / 8, "entry", f"{eb}-bit entry x {per_byte.source}"
        )

    # ------------------------------------------------------------------ precision controller
    @_cached
    def compare(self) -> Rate:
        n = self.hw.control.compare_bits.value
        return Rate(f"control.compare@{n}b", self.add_j(n), "op", f"E_add({n}) (subtract); {self._arith_src()}")

    @_cached
    def counter_op(self) -> Rate:
        n = self.hw.control.counter_bits.value
        return Rate(f"control.counter@{n}b", self.add_j(n), "op", f"E_add({n}); {self._arith_src()}")

    # ------------------------------------------------------------------ static
    def static_parts(self) -> list[tuple[str, float, str]]:
        """``(name, watts, how)`` of every part of the chip's static power: each memory's CACTI
        leakage times its instances, and the logic area times ``chip.logic_leakage``."""
        from .area import logic_area_mm2  # area prices its logic with this book's node scaling

        parts = []
        for path, mem, n in self.hw.memories():
            lk = mem.leakage
            parts.append((f"{path}.leakage", lk.si * n, f"{lk.value:g} {lk.unit} x {n} [{lk.basis}]"))
        mm2, dens = logic_area_mm2(self.hw, self), self.hw.chip.logic_leakage
        parts.append(
            (
                "logic",
                mm2 * dens.si,
                f"{mm2:.4g} mm2 of logic (area.py) x chip.logic_leakage {dens.value:g} {dens.unit}",
            )
        )
        return parts

    @_cached
    def static(self) -> Rate:
        parts = self.static_parts()
        watts = sum(w for _, w, _ in parts)
        src = "sum of " + "; ".join(f"{name} {w * 1e3:.4g} mW ({how})" for name, w, how in parts)
        return Rate("chip.static_power", watts, "s", src)


# ---------------------------------------------------------------------- one book per table content
#: books by table digest, least recently used first (a sensitivity sweep makes one table per end of
#: every uncertain price; 256 keeps a sweep's books without growing without bound)
_BOOKS: OrderedDict[str, PriceBook] = OrderedDict()
_BOOKS_MAX = 256
#: digest of a live table object, by id (checked against a weak reference: an id reused by a new
#: object is recomputed)
_DIGESTS: dict[int, tuple[weakref.ref, str]] = {}


def hw_digest(hw: HwConfig) -> str:
    """SHA-256 of the table's canonical JSON (every value, unit, range and source)."""
    hit = _DIGESTS.get(id(hw))
    if hit is not None and hit[0]() is hw:
        return hit[1]
    digest = hashlib.sha256(json.dumps(hw.to_dict(), sort_keys=True, default=str).encode()).hexdigest()
    key = id(hw)
    _DIGESTS[key] = (weakref.ref(hw, functools.partial(_forget_digest, key)), digest)
    return digest


def _forget_digest(key: int, _ref) -> None:
    _DIGESTS.pop(key, None)


def price_book(hw: HwConfig) -> PriceBook:
    """The (cached) :class:`PriceBook` of ``hw``'s content; equal tables share one."""
    key = hw_digest(hw)
    book = _BOOKS.get(key)
    if book is None:
        book = _BOOKS[key] = PriceBook(hw)
        if len(_BOOKS) > _BOOKS_MAX:
            _BOOKS.popitem(last=False)
    else:
        _BOOKS.move_to_end(key)
    return book
