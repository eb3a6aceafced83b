"""How a MAC's time and energy depend on its operand widths: three named rules.

A DPU lane is ``base`` bits wide (E-PUR: 16) and does one ``base x base`` MAC per cycle.

``bit_parallel`` (Bit Fusion-like, Sharma et al. ISCA'18): the lane's multiplier splits into
    narrower multipliers — a 16-bit lane does 2 MACs of 8 bits or 4 MACs of 4 bits per cycle. The
    lane width used is ``p = the narrowest split (base, base/2, base/4) >= max(wb, ab)``; operands
    wider than ``base`` take ``ceil(w / base)`` passes. Time per MAC ``p / base`` lane-cycles;
    energy per MAC that of a ``p x p`` multiplier (the sub-multiplier that switches).
``bit_serial`` (Stripes-like, Judd et al. MICRO'16): activations are fed one bit per cycle against
    ``base``-bit weights held in parallel, so time per MAC is ``ab / base`` lane-cycles (normalised
    so that a 16-bit MAC takes one lane-cycle on either datapath) and its energy is that of a
    ``max(wb, base) x ab`` product (the weight side is always full width).
``fixed``: width never changes time (1 lane-cycle) nor energy (a ``base x base`` multiplier).

E-PUR's default is ``bit_parallel``: our reading of the dynamic-precision paper (Silfa et al.,
arXiv 1911.04244, docs/references.md) is that E-PUR's 16-bit multipliers are made reconfigurable so
that the low-precision steps run several narrow MACs per multiplier per cycle [recalled, not
verified: the body of the paper was not available; the abstract says only that weights and inputs
are linearly quantised to fewer bits]. docs/cost_model.md, "MAC time".
"""

from __future__ import annotations

import math

__all__ = ["MAC_RULES", "lane_cycles", "energy_widths"]

MAC_RULES = ("bit_parallel", "bit_serial", "fixed")


def _split_width(w: int, base: int) -> float:
    """Lane width a ``w``-bit operand occupies on a bit-parallel lane (may exceed ``base``)."""
    if w > base:
        return math.ceil(w / base) * base
    p = base
    for d in (2, 4):
        if base % d == 0 and base // d >= w:
            p = base // d
    return p


def _check(rule: str, base: int, wb: int, ab: int) -> None:
    if rule not in MAC_RULES:
        raise ValueError(f"mac_time_rule={rule!r} unknown; choose one of {', '.join(MAC_RULES)}")
    if base <= 0 or wb <= 0 or ab <= 0:
        raise ValueError(f"MAC widths must be positive, got base={base}, wb={wb}, ab={ab}")


def lane_cycles(rule: str, base: int, wb: int, ab: int) -> float:
    """DPU lane-cycles one ``wb x ab`` MAC takes under ``rule`` on a ``base``-bit lane."""
    _check(rule, base, wb, ab)
    if rule == "bit_parallel":
        return _split_width(max(wb, ab), base) / base
    if rule == "bit_serial":
        return ab / base * math.ceil(wb / base)
    return 1.0


def energy_widths(rule: str, base: int, wb: int, ab: int) -> tuple[int, int]:
    """The multiplier operand widths whose energy one ``wb x ab`` MAC costs under ``rule``."""
    _check(rule, base, wb, ab)
    if rule == "bit_parallel":
        p = int(_split_width(max(wb, ab), base))
        return p, p
    if rule == "bit_serial":
        return max(wb, base), ab
    return max(wb, base), max(ab, base)
