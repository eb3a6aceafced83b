"""Statistics of a run with the precision unit, read from its :class:`~rnnaccel.emulator.Trace`."""

from __future__ import annotations

import re

import numpy as np

from ..trace import Trace

__all__ = ["precision_stats", "fraction_at_lowest", "format_stats"]

_STEPS_AT = re.compile(r"^precision\.steps_at_(\d+)$")


def _widths(lt) -> dict[int, np.ndarray]:
    return {int(m.group(1)): v for k, v in lt.counters.items() if (m := _STEPS_AT.match(k))}


def precision_stats(trace: Trace) -> dict[str, dict[int, float]]:
    """Fraction of (row x step) work kept at each width.

    Keys: every LayerTrace (``"L0.d1"``), every layer over its directions (``"L0"``) and the whole
    run (``"all"``); values ``{width: fraction}`` (fractions of a key sum to 1). A named module's
    keys carry its name (``"decoder:L0.d0"``, ``"decoder:L0"``) and the module has its own key
    (``"decoder"``). LayerTraces run without the unit are skipped; an empty dict when none ran
    with it.
    """
    counts: dict[str, dict[int, int]] = {}
    level: dict[str, int] = {}  # 0 direction, 1 layer, 2 module, 3 all: the listing order
    for lt in trace:
        w = _widths(lt)
        if not w:
            continue
        pre = f"{lt.module}:" if lt.module else ""
        keys = [(lt.key, 0), (f"{pre}L{lt.layer}", 1)] + ([(lt.module, 2)] if lt.module else []) + [("all", 3)]
        for key, lvl in keys:
            level[key] = lvl
            c = counts.setdefault(key, {})
            for b, v in w.items():
                c[b] = c.get(b, 0) + int(v.sum())
    out = {}
    order = sorted(counts, key=lambda k: (level[k], k))
    for key in order:
        c = counts[key]
        tot = sum(c.values())
        out[key] = {b: (v / tot if tot else 0.0) for b, v in sorted(c.items(), reverse=True)}
    return out


def fraction_at_lowest(trace: Trace, key: str = "all") -> float:
    """Share of (row x step) work at the narrowest width present in ``key`` (0.0 without the unit)."""
    s = precision_stats(trace).get(key)
    return s[min(s)] if s else 0.0


def format_stats(stats: dict[str, dict[int, float]]) -> str:
    """A small text table: one line per key, ``width: percent`` columns."""
    lines = []
    for key, s in stats.items():
        lines.append(f"{key:8s} " + "  ".join(f"{b:2d}b {100 * f:5.1f}%" for b, f in s.items()))
    return "\n".join(lines)
