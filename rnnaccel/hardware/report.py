"""Cost results: per-layer and whole-run time and energy, with the provenance of every joule.

Energy is broken down into the components of :data:`COMPONENTS`. For each component the report
keeps a provenance list of entries ``{count, count_value, price, price_value, per, joules, source}``:
``joules == count_value * price_value`` for every entry, and the entries of a component sum to
its energy. Counts named like trace counters (``mac.16x16``, ``weight_bytes``) are trace totals;
other count names are derived counts whose formulas docs/cost_model.md lists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .pricing import Rate

__all__ = ["COMPONENTS", "Ledger", "LayerCost", "CostReport", "compare"]

#: energy components, in the order reports and plots list them
COMPONENTS = ("dram", "sram", "compute", "activation", "bnn", "control", "static")


class Ledger:
    """Collects (component, count, rate) charges; charges with the same count and rate merge."""

    def __init__(self):
        self._e: dict[tuple[str, str, str], list] = {}

    def charge(self, component: str, count_name: str, count: float, rate: Rate) -> float:
        if component not in COMPONENTS:
            raise ValueError(f"unknown energy component {component!r}")
        count = float(count)
        if count < 0:
            raise ValueError(f"negative count {count_name}={count}")
        key = (component, count_name, rate.name)
        if key in self._e:
            self._e[key][0] += count
        else:
            self._e[key] = [count, rate]
        return count * rate.joules

    def provenance(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {c: [] for c in COMPONENTS}
        for (comp, cname, _), (count, rate) in self._e.items():
            if count == 0:
                continue
            out[comp].append(
                {
                    "count": cname,
                    "count_value": _num(count),
                    "price": rate.name,
                    "price_value": rate.joules,
                    "per": rate.per,
                    "joules": count * rate.joules,
                    "source": rate.source,
                }
            )
        return out


def _num(x: float):
    return int(x) if float(x).is_integer() else float(x)


def energy_of(prov: dict[str, list[dict]]) -> dict[str, float]:
    return {c: float(sum(e["joules"] for e in prov.get(c, []))) for c in COMPONENTS}


def merge_provenance(provs) -> dict[str, list[dict]]:
    out: dict[str, dict[tuple[str, str], dict]] = {c: {} for c in COMPONENTS}
    for prov in provs:
        for comp, entries in prov.items():
            for e in entries:
                k = (e["count"], e["price"])
                if k in out[comp]:
                    m = out[comp][k]
                    m["count_value"] = _num(m["count_value"] + e["count_value"])
                    m["joules"] = m["count_value"] * m["price_value"]
                else:
                    out[comp][k] = dict(e)
    return {c: list(v.values()) for c, v in out.items()}


@dataclass
class LayerCost:
    """Time and energy of one (layer, direction) run (or of one analytic layer chunk)."""

    key: str
    layer: int
    direction: int
    cell: str
    steps: int
    cycles: float
    seconds: float
    provenance: dict[str, list[dict]]
    stats: dict = field(default_factory=dict)  # model internals: DRAM bytes, passes, fit, ...

    @property
    def energy_j(self) -> dict[str, float]:
        return energy_of(self.provenance)

    @property
    def total_j(self) -> float:
        return sum(self.energy_j.values())

    def to_dict(self) -> dict:
        return {
            "key": self.key,
            "layer": self.layer,
            "direction": self.direction,
            "cell": self.cell,
            "steps": self.steps,
            "cycles": self.cycles,
            "seconds": self.seconds,
            "energy_j": self.energy_j,
            "total_j": self.total_j,
            "stats": self.stats,
            "provenance": self.provenance,
        }


@dataclass
class CostReport:
    """Whole-run cost of one trace on one accelerator: layers run one after the other."""

    hw_name: str
    kind: str
    per_layer: list[LayerCost]
    unpriced: list[str] = field(default_factory=list)  # trace counters no rule consumed
    operating: dict = field(default_factory=dict)  # the operating point priced (hardware.operating)

    @property
    def warnings(self) -> list[str]:
        """Capacity events the run was charged for (spills to DRAM), one line each."""
        out = []
        for lc in self.per_layer:
            if lc.stats.get("spill_bytes"):
                out.append(
                    f"{lc.key}: intermediate working set {lc.stats['intermediate_working_set_bytes']:.4g} B "
                    f"exceeds the intermediate memory ({lc.stats['intermediate_memory_bytes']:.4g} B); "
                    f"{lc.stats['spill_bytes']:.4g} B spilled to DRAM"
                )
            if lc.stats.get("residency") == "stream":
                out.append(
                    f"{lc.key}: weights ({lc.stats['weight_footprint_bytes']:.4g} B) do not fit the weight "
                    f"buffers ({lc.stats['weight_buffer_bytes']:.4g} B): streamed from DRAM every step"
                )
            if lc.stats.get("memo_skip_assumed_shared"):
                out.append(
                    f"{lc.key}: sequences_at_once > 1 with memoization: a hardware batch is assumed to skip "
                    "the rows its sequences skip on average (an upper bound on the weight saving)"
                )
        return out

    @property
    def cycles(self) -> float:
        return float(sum(lc.cycles for lc in self.per_layer))

    @property
    def seconds(self) -> float:
        return float(sum(lc.seconds for lc in self.per_layer))

    @property
    def provenance(self) -> dict[str, list[dict]]:
        return merge_provenance(lc.provenance for lc in self.per_layer)

    @property
    def energy_j(self) -> dict[str, float]:
        return {c: float(sum(lc.energy_j[c] for lc in self.per_layer)) for c in COMPONENTS}

    @property
    def total_j(self) -> float:
        return sum(self.energy_j.values())

    def to_dict(self) -> dict:
        return {
            "format": "rnnaccel.cost/1",
            "hw": self.hw_name,
            "kind": self.kind,
            "cycles": self.cycles,
            "seconds": self.seconds,
            "energy_j": self.energy_j,
            "total_j": self.total_j,
            "unpriced": list(self.unpriced),
            "operating": dict(self.operating),
            "warnings": self.warnings,
            "per_layer": [lc.to_dict() for lc in self.per_layer],
            "provenance": self.provenance,
        }

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    def summary(self) -> str:
        """A short human-readable table: time, then energy per component."""
        lines = [f"{self.hw_name}: {self.cycles:.6g} cycles, {self.seconds * 1e3:.6g} ms, {self.total_j * 1e6:.6g} uJ"]
        tot = self.total_j or 1.0
        for c, j in self.energy_j.items():
            lines.append(f"  {c:<10} {j * 1e6:14.6g} uJ  {100 * j / tot:5.1f} %")
        if self.unpriced:
            lines.append(f"  unpriced counters: {', '.join(self.unpriced)}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def compare(base: CostReport, tech: CostReport) -> dict:
    """Speedup and energy saving of ``tech`` over ``base``.

    ``speedup = base.seconds / tech.seconds``; ``energy_saving = 1 - tech.total_j / base.total_j``;
    ``energy_ratio = base.total_j / tech.total_j``; per component the joules saved (base - tech).
    """
    if tech.seconds <= 0 or base.total_j <= 0 or tech.total_j <= 0:
        raise ValueError("compare: both reports need positive time and energy")
    eb, et = base.energy_j, tech.energy_j
    return {
        "speedup": base.seconds / tech.seconds,
        "energy_saving": 1.0 - tech.total_j / base.total_j,
        "energy_ratio": base.total_j / tech.total_j,
        "saved_j": {c: eb[c] - et[c] for c in COMPONENTS},
    }
