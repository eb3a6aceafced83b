"""Sensitivity of headline figures to every price that is an assumption (a tornado).

Every number of a price table that CACTI did not compute and nobody measured carries a range
(``low``/``high`` beside ``value``; :meth:`HwConfig.uncertain`). A *headline* is any function of a
price table to one number — e.g. the energy saving of memoization on a trace pair
(:func:`trace_headline`). :func:`tornado` moves each uncertain price alone to its low and to its
high end, everything else at its value, and records how far each headline moves. A headline whose
sign differs between any end and its nominal value is *flipped*: that conclusion does not survive
the uncertainty of that price, and the report says so.

>>> rows = tornado({"memo energy saving": trace_headline(base, memo, "energy_saving")}, "epur")  # doctest: +SKIP
>>> print(format_tornado(rows))                                                                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Mapping

from ..emulator.trace import Trace
from .estimate import estimate
from .report import compare
from .schema import HwConfig, load_hw

__all__ = ["TornadoRow", "tornado", "trace_headline", "format_tornado", "flipped"]

Headline = Callable[[HwConfig], float]


@dataclass(frozen=True)
class TornadoRow:
    headline: str
    param: str  # dotted path of the price, e.g. "dram.energy"
    unit: str
    value: float
    low: float
    high: float
    nominal: float  # the headline with every price at its value
    at_low: float  # the headline with this price at its low end
    at_high: float

    @property
    def swing(self) -> float:
        return abs(self.at_high - self.at_low)

    @property
    def flips(self) -> bool:
        """The headline's sign at either end differs from its nominal sign."""
        s = _sign(self.nominal)
        return _sign(self.at_low) != s or _sign(self.at_high) != s


def _sign(x: float, eps: float = 1e-12) -> int:
    return 0 if abs(x) <= eps else (1 if x > 0 else -1)


def trace_headline(base: Trace, tech: Trace, metric: str = "energy_saving") -> Headline:
    """``compare(estimate(base, hw), estimate(tech, hw))[metric]`` as a function of the table
    (``metric``: ``energy_saving``, ``speedup`` or ``energy_ratio``)."""
    if metric not in ("energy_saving", "speedup", "energy_ratio"):
        raise ValueError(f"metric={metric!r} unknown; choose energy_saving, speedup or energy_ratio")
    return lambda hw: float(compare(estimate(base, hw), estimate(tech, hw))[metric])


def tornado(headlines: Mapping[str, Headline], hw) -> list[TornadoRow]:
    """One row per (headline, uncertain price), largest swing first within each headline."""
    hw = load_hw(hw)
    params = hw.uncertain()
    if not params:
        raise ValueError(f"{hw.name}: no price carries a range (low/high); nothing to vary")
    rows = []
    for name, f in headlines.items():
        nominal = f(hw)
        mine = []
        for p in params:
            lo, hi = f(hw.with_value(p.name, p.low)), f(hw.with_value(p.name, p.high))
            mine.append(TornadoRow(name, p.name, p.unit, p.value, p.low, p.high, nominal, lo, hi))
        rows += sorted(mine, key=lambda r: -r.swing)
    return rows


def flipped(rows: list[TornadoRow]) -> list[TornadoRow]:
    return [r for r in rows if r.flips]


def format_tornado(rows: list[TornadoRow], top: int | None = None) -> str:
    """A Markdown table per headline: the price, its range, the headline at each end; flips marked."""
    out, by = [], {}
    for r in rows:
        by.setdefault(r.headline, []).append(r)
    for name, rs in by.items():
        out += [
            f"#### {name}: nominal {rs[0].nominal:.4g}",
            "",
            "| price | value [low, high] | headline at low | at high | swing | sign |",
            "|---|---|---|---|---|---|",
        ]
        for r in rs[:top]:
            flag = "**FLIPS**" if r.flips else ""
            out.append(
                f"| `{r.param}` | {r.value:g} [{r.low:g}, {r.high:g}] {r.unit} | {r.at_low:.4g} | "
                f"{r.at_high:.4g} | {r.swing:.3g} | {flag} |"
            )
        flips = [r.param for r in rs if r.flips]
        out += [
            "",
            f"Conclusion flips sign inside the ranges of: {', '.join(flips)}."
            if flips
            else "No price flips the sign of this headline inside its range.",
            "",
        ]
    return "\n".join(out)


def rows_to_dicts(rows: list[TornadoRow]) -> list[dict]:
    return [asdict(r) | {"swing": r.swing, "flips": r.flips} for r in rows]


__all__ += ["rows_to_dicts"]
