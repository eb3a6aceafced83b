"""Named, unit-carrying, sourced numbers: the only way a number enters the cost model.

Every number of a price table is a :class:`Param` (``value``, ``unit``, ``source``) or a
:class:`Price` (an energy that also says at which technology node and operand/access width it
was measured). The schema (:mod:`.schema`) declares, for every field, the unit *family* it
accepts and whether it must be positive or integral; :func:`build_param` checks a YAML mapping
against that declaration and raises a one-line ``ValueError`` naming the field.

Unit conversions are SI/IEC prefixes only (a definition, not a modelling choice).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["UNITS", "Param", "Price", "Spec", "build_param", "reject_unknown"]

#: unit family -> {unit spelling: factor to the family's base unit}
UNITS: dict[str, dict[str, float]] = {
    "energy": {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "uJ": 1e-6, "mJ": 1e-3, "J": 1.0},  # -> J
    "power": {"uW": 1e-6, "mW": 1e-3, "W": 1.0},  # -> W
    "frequency": {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9},  # -> Hz
    "bandwidth": {"B/s": 1.0, "kB/s": 1e3, "MB/s": 1e6, "GB/s": 1e9,
                  "KiB/s": 2.0 ** 10, "MiB/s": 2.0 ** 20, "GiB/s": 2.0 ** 30},  # -> byte/s
    "size": {"B": 1.0, "kB": 1e3, "MB": 1e6, "GB": 1e9,
             "KiB": 2.0 ** 10, "MiB": 2.0 ** 20, "GiB": 2.0 ** 30},  # -> byte
    "length": {"nm": 1.0},  # -> nm
    "bits": {"bit": 1.0},
    "ratio": {"1": 1.0},
    "lanes": {"lane": 1.0},
    "units": {"unit": 1.0},
    "rows": {"row": 1.0},
    "cycles": {"cycle": 1.0},
    "ops_per_cycle": {"op/cycle": 1.0},
    "bits_per_cycle": {"bit/cycle": 1.0},
}


@dataclass(frozen=True)
class Spec:
    """What the schema demands of one numeric field."""

    family: str
    positive: bool = False  # > 0 (otherwise >= 0)
    integer: bool = False
    price: bool = False  # a Price (energy with node_nm and bits) rather than a Param
    bits: bool = False  # a Price that must say the width (bits) it was measured at


@dataclass(frozen=True)
class Param:
    """A number with its unit and where it comes from. ``si`` is the value in the family's base unit."""

    name: str  # dotted path in the price table, e.g. "dram.bandwidth"
    value: float
    unit: str
    source: str
    family: str

    @property
    def si(self) -> float:
        return self.value * UNITS[self.family][self.unit]

    def to_dict(self) -> dict:
        return {"value": self.value, "unit": self.unit, "source": self.source}


@dataclass(frozen=True)
class Price(Param):
    """An energy per action, measured at ``node_nm`` (None: off-chip, never node-scaled) for an
    operand/access width of ``bits`` (None when width does not apply)."""

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
    """Check one ``{value, unit, source[, node_nm, bits]}`` mapping found at ``path`` of the price
    table ``label`` against ``spec``."""
    where = f"{label}: {path}"
    if not isinstance(d, Mapping):
        raise ValueError(f"{where}: expected a mapping with value, unit, source; got {d!r}")
    keys = ("value", "unit", "source") + (("node_nm", "bits") if spec.price else ())
    reject_unknown(d, keys, where)
    for k in ("value", "unit", "source") + (("node_nm",) if spec.price else ()):
        if k not in d:
            raise ValueError(f"{where}.{k} is missing")
    value = _number(d["value"], f"{where}.value")
    units = UNITS[spec.family]
    if d["unit"] not in units:
        raise ValueError(f"{where}.unit={d['unit']!r} is not a {spec.family} unit ({', '.join(units)})")
    if spec.positive and not value > 0:
        raise ValueError(f"{where}.value must be > 0, got {value!r}")
    if value < 0:
        raise ValueError(f"{where}.value must be >= 0, got {value!r}")
    if spec.integer and value != int(value):
        raise ValueError(f"{where}.value must be an integer, got {value!r}")
    if spec.integer:
        value = int(value)
    source = d["source"]
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"{where}.source must be a non-empty string naming where the number comes from")
    if not spec.price:
        return Param(path, value, d["unit"], source.strip(), spec.family)
    node = d["node_nm"]
    if node is not None and not _number(node, f"{where}.node_nm") > 0:
        raise ValueError(f"{where}.node_nm must be > 0 or null (off-chip, not node-scaled), got {node!r}")
    bits = d.get("bits")
    if spec.bits and bits is None:
        raise ValueError(f"{where}.bits is missing (the operand/access width this price was measured at)")
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or bits <= 0):
        raise ValueError(f"{where}.bits must be a positive integer, got {bits!r}")
    return Price(path, value, d["unit"], source.strip(), spec.family, node, bits)
