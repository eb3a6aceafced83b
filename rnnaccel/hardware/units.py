"""Named, unit-carrying, sourced numbers: the only way a number enters the cost model.

Every number of a price table is a :class:`Param` (``value``, ``unit``, ``source``) or a
:class:`Price` (an energy or area that also says at which technology node and operand/access
width it was measured). The schema (:mod:`.schema`) declares, for every field, the unit *family*
it accepts and whether it must be positive or integral; :func:`build_param` checks a YAML mapping
against that declaration and raises a one-line ``ValueError`` naming the field.

Ranges (the sensitivity rule, docs/cost_model.md §1): a number may carry ``low`` and ``high``
(``low <= value <= high``) and says how it was obtained with ``basis``:

* ``estimate`` (the default): a price or model coefficient taken from a paper, a datasheet or an
  assumption. It **must** carry ``low`` and ``high``;
* ``cacti``: computed by CACTI (``python -m rnnaccel.hardware.cacti``); a range is optional;
* ``measured``: measured on real hardware and reported as such; a range is optional;
* ``design``: a description of the design being modelled (node, clock, sizes, widths, counts),
  not a price; a range is optional (give one to make it a sensitivity axis).

Unit conversions are SI/IEC prefixes only (a definition, not a modelling choice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["UNITS", "BASES", "Param", "Price", "Spec", "build_param", "reject_unknown"]

#: unit family -> {unit spelling: factor to the family's base unit}
UNITS: dict[str, dict[str, float]] = {
    "energy": {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "uJ": 1e-6, "mJ": 1e-3, "J": 1.0},  # -> J
    "power": {"uW": 1e-6, "mW": 1e-3, "W": 1.0},  # -> W
    "frequency": {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},  # -> Hz
    "bandwidth": {
        "B/s": 1.0,
        "kB/s": 1e3,
        "MB/s": 1e6,
        "GB/s": 1e9,
        "KiB/s": 2.0**10,
        "MiB/s": 2.0**20,
        "GiB/s": 2.0**30,
    },  # -> byte/s
    "size": {"B": 1.0, "kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30},  # -> byte
    "length": {"nm": 1.0},  # -> nm
    "area": {"um2": 1e-6, "mm2": 1.0},  # -> mm^2
    "power_density": {"uW/mm2": 1e-6, "mW/mm2": 1e-3, "W/mm2": 1.0},  # -> W/mm^2
    "time": {"ps": 1e-12, "ns": 1e-9, "us": 1e-6, "s": 1.0},  # -> s
    "voltage": {"mV": 1e-3, "V": 1.0},  # -> V
    "banks": {"bank": 1.0},
    "gates": {"gate": 1.0},  # NAND2-equivalent gates
    "steps": {"step": 1.0},
    "sequences": {"sequence": 1.0},
    "bits": {"bit": 1.0},
    "ratio": {"1": 1.0},
    "lanes": {"lane": 1.0},
    "units": {"unit": 1.0},
    "rows": {"row": 1.0},
    "cycles": {"cycle": 1.0},
    "ops_per_cycle": {"op/cycle": 1.0},
    "bits_per_cycle": {"bit/cycle": 1.0},
}

#: how a number was obtained; a range is required only for "estimate" (module docstring)
BASES = ("estimate", "cacti", "measured", "design")


@dataclass(frozen=True)
class Spec:
    """What the schema demands of one numeric field."""

    family: str
    positive: bool = False  # > 0 (otherwise >= 0)
    integer: bool = False
    price: bool = False  # a Price (energy or area with node_nm and bits) rather than a Param
    bits: bool = False  # a Price that must say the width (bits) it was measured at
    design: bool = False  # describes the design (default basis "design": no range required)


@dataclass(frozen=True)
class Param:
    """A number with its unit and where it comes from. ``si`` is the value in the family's base unit."""

    name: str  # dotted path in the price table, e.g. "dram.bandwidth"
    value: float
    unit: str
    source: str
    family: str
    low: float | None = None  # sensitivity range (required for basis "estimate")
    high: float | None = None
    basis: str = "estimate"

    @property
    def si(self) -> float:
        return self.value * UNITS[self.family][self.unit]

    @property
    def has_range(self) -> bool:
        return self.low is not None

    def to_dict(self) -> dict:
        d: dict = {"value": self.value, "unit": self.unit}
        if self.has_range:
            d["low"], d["high"] = self.low, self.high
        d["basis"] = self.basis
        d["source"] = self.source
        return d


@dataclass(frozen=True)
class Price(Param):
    """An energy per action (or an area per unit), measured at ``node_nm`` (None: off-chip, never
    node-scaled) for an operand/access width of ``bits`` (None when width does not apply)."""

    node_nm: float | None = None
    bits: int | None = None

    @property
    def joules(self) -> float:
        return self.si

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["node_nm"] = self.node_nm
        if self.bits is not None:
            d["bits"] = self.bits
        return d


def reject_unknown(d: Mapping[str, Any], allowed, where: str) -> None:
    extra = sorted(set(d) - set(allowed))
    if extra:
        raise ValueError(f"{where}: unknown key {extra[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{where} must be a number, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"{where} must be finite, got {v!r}")
    return v


def build_param(d: Any, spec: Spec, path: str, label: str) -> Param:
    """Check one ``{value, unit, source[, low, high, basis, node_nm, bits]}`` mapping found at
    ``path`` of the price table ``label`` against ``spec``."""
    where = f"{label}: {path}"
    if not isinstance(d, Mapping):
        raise ValueError(f"{where}: expected a mapping with value, unit, source; got {d!r}")
    keys = ("value", "unit", "source", "low", "high", "basis") + (("node_nm", "bits") if spec.price else ())
    reject_unknown(d, keys, where)
    for k in ("value", "unit", "source") + (("node_nm",) if spec.price else ()):
        if k not in d:
            raise ValueError(f"{where}.{k} is missing")
    units = UNITS[spec.family]
    if d["unit"] not in units:
        raise ValueError(f"{where}.unit={d['unit']!r} is not a {spec.family} unit ({', '.join(units)})")
    value = _checked(d["value"], spec, f"{where}.value")
    basis = d.get("basis", "design" if spec.design else "estimate")
    if basis not in BASES:
        raise ValueError(f"{where}.basis={basis!r} unknown; choose one of {', '.join(BASES)}")
    low, high = _range(d, spec, value, basis, where)
    source = d["source"]
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"{where}.source must be a non-empty string naming where the number comes from")
    common = dict(low=low, high=high, basis=basis)
    if not spec.price:
        return Param(path, value, d["unit"], source.strip(), spec.family, **common)
    node = d["node_nm"]
    if node is not None and not _number(node, f"{where}.node_nm") > 0:
        raise ValueError(f"{where}.node_nm must be > 0 or null (off-chip, not node-scaled), got {node!r}")
    bits = d.get("bits")
    if spec.bits and bits is None:
        raise ValueError(f"{where}.bits is missing (the operand/access width this price was measured at)")
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0):
        raise ValueError(f"{where}.bits must be a positive integer, got {bits!r}")
    return Price(path, value, d["unit"], source.strip(), spec.family, node_nm=node, bits=bits, **common)


def _checked(v: Any, spec: Spec, where: str) -> float:
    """A value, low or high: a finite number, >= 0 (> 0 if positive), integral if the field is."""
    value = _number(v, where)
    if spec.positive and not value > 0:
        raise ValueError(f"{where} must be > 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{where} must be >= 0, got {value!r}")
    if spec.integer and value != int(value):
        raise ValueError(f"{where} must be an integer, got {value!r}")
    return int(value) if spec.integer else value


def _range(d: Mapping, spec: Spec, value: float, basis: str, where: str) -> tuple:
    has = [k for k in ("low", "high") if k in d]
    if not has:
        if basis == "estimate":
            raise ValueError(
                f"{where}: an estimate needs low and high (its sensitivity range); "
                f"give them, or set basis to cacti/measured/design if it is not an estimate"
            )
        return None, None
    if len(has) == 1:
        raise ValueError(f"{where}: {has[0]} given without {'high' if has[0] == 'low' else 'low'}")
    low, high = _checked(d["low"], spec, f"{where}.low"), _checked(d["high"], spec, f"{where}.high")
    if not low <= value <= high:
        raise ValueError(f"{where}: need low <= value <= high, got {low!r} <= {value!r} <= {high!r}")
    return low, high
