"""Techniques inside the serving simulator: chunk counts scaled from an evaluation trace.

A :class:`TechniqueProfile` holds, per (layer, direction), the rate of every counter of an
evaluation trace per **sequence step** (a row computing one time step): MACs at each width,
activations, memoization's predictor work and reuse, the precision controller's work, the weight
bytes a sequence reads alone (``seq_weight_bytes``). A serving chunk of ``batch`` rows x ``steps``
steps is then a LayerTrace with ``rate x batch`` of each counter per step, priced by the same
per-layer function as a dense chunk — so memoization, dynamic precision and E-BATCH are measured
together under load.

Assumptions (stated in docs/batching.md §3):

* rates are means over every sequence step of the evaluation (per layer and direction): a lane
  holds requests at arbitrary offsets, so a chunk sees the average step, not step 0's;
* the weight bytes a chunk step reads for its ``b`` rows (a row of weights is read if any row
  computes the neuron) = ``dense x (1 - (1 - f)^b)`` with ``f`` = the fraction of the dense bytes a
  sequence reads alone: sequences decide independently (range: ``f`` if every row made the same
  choice, ``1 - (1 - f)^b`` if independent; we take the latter, the smaller saving);
* the stored weights are the dense ones (the residency footprint does not shrink).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..emulator.trace import LayerTrace, Trace
from ..hardware.operating import VALUE_COUNTERS, layer_key, merge_runs, weight_footprints

__all__ = ["TechniqueProfile", "LayerRates"]

#: counters a chunk builds itself (per step, shared by the chunk's rows)
SHARED = ("active", "weight_bytes", "memo.weight_bytes_skipped")


@dataclass(frozen=True)
class LayerRates:
    """One (layer, direction) of an evaluation: counters per sequence step."""

    cell: str
    input_size: int
    hidden_size: int
    weight_bits: int
    act_bits: int
    per_row: dict[str, float]
    values: dict[str, int]  # value counters (precision.bits): the widest seen
    step_bytes: float  # weight bytes of one step reading every row at the widest width seen
    read_fraction: float  # seq_weight_bytes per sequence step / step_bytes

    def chunk_trace(self, layer: int, direction: int, active) -> LayerTrace:
        """The chunk's LayerTrace: ``active[t]`` rows at step t, each at the per-row rates."""
        active = np.asarray(active, dtype=np.int64)
        steps = len(active)
        lt = LayerTrace(
            layer,
            direction,
            self.cell,
            self.input_size,
            self.hidden_size,
            steps,
            self.weight_bits,
            self.act_bits,
        )
        lt.add("active", active)
        for name, rate in self.per_row.items():
            lt.add(name, _spread(rate * active))
        for name, v in self.values.items():
            lt.add(name, np.where(active > 0, v, 0))
        dense = np.where(active > 0, self.step_bytes, 0.0)
        read = np.rint(dense * (1.0 - (1.0 - self.read_fraction) ** active))
        lt.add("weight_bytes", read)
        lt.add("memo.weight_bytes_skipped", dense - read)
        return lt


def _spread(per_step: np.ndarray) -> np.ndarray:
    """Integers per step whose running sum tracks that of ``per_step`` (no drift)."""
    cum = np.floor(np.cumsum(per_step) + 1e-9)
    return np.diff(np.r_[0.0, cum])


class TechniqueProfile:
    """Per-(layer, direction) counter rates of an evaluation trace (see the module docstring).

    ``TechniqueProfile.from_trace(trace, label)``; ``profile.chunk_trace(layer, d, active)``.
    """

    def __init__(self, layers: dict[tuple[int, int], LayerRates], label: str = ""):
        self.layers, self.label = layers, label

    @classmethod
    def from_trace(cls, trace: Trace, label: str = "") -> "TechniqueProfile":
        if not isinstance(trace, Trace) or not len(list(trace)):
            raise ValueError("techniques: need a non-empty evaluation Trace (eval.trace_output of rnnaccel-evaluate)")
        layers, feet = {}, weight_footprints(trace)
        for lt in merge_runs(trace):
            rows = float(lt.get("active").sum())
            if rows <= 0:
                raise ValueError(f"techniques: trace {lt.key} has no active rows")
            per_row = {n: float(a.sum()) / rows for n, a in lt.counters.items() if n not in SHARED + VALUE_COUNTERS}
            values = {n: int(lt.get(n).max()) for n in VALUE_COUNTERS if n in lt.counters}
            foot = feet[layer_key(lt)]
            per_row.setdefault("seq_weight_bytes", foot)  # a trace recorded before the fact: every row
            frac = min(1.0, per_row["seq_weight_bytes"] / foot) if foot else 1.0
            layers[(lt.layer, lt.direction)] = LayerRates(
                lt.cell, lt.input_size, lt.hidden_size, lt.weight_bits, lt.act_bits, per_row, values, foot, frac
            )
        return cls(layers, label)

    @classmethod
    def load(cls, path) -> "TechniqueProfile":
        """From a trace file: ``.npz`` (``eval.trace_output``) or ``.json``."""
        p = str(path)
        if not Path(p).is_file():
            raise ValueError(
                f"techniques: trace file {p} not found; write one with rnnaccel-evaluate eval.trace_output=<file>.npz"
            )
        trace = Trace.load_npz(p) if p.endswith(".npz") else Trace.from_json(p)
        return cls.from_trace(trace, label=p)

    def check(self, network) -> None:
        """Refuses a network whose layers the trace does not describe (one line)."""
        dirs = 2 if network.bidirectional else 1
        for layer, d_in in enumerate(network.layer_inputs()):
            for d in range(dirs):
                r = self.layers.get((layer, d))
                want = (network.cell, d_in, network.hidden_size)
                if r is None or (r.cell, r.input_size, r.hidden_size) != want:
                    got = "missing" if r is None else f"{r.cell} {r.input_size}->{r.hidden_size}"
                    raise ValueError(
                        f"techniques: the trace's layer {layer} direction {d} is {got}, the network needs "
                        f"{want[0]} {want[1]}->{want[2]}; record the trace from the network being served"
                    )

    def chunk_trace(self, layer: int, direction: int, active) -> LayerTrace:
        """``active[t]``: rows the chunk computes at step t (``np.full(steps, batch)`` for a full chunk)."""
        return self.layers[(layer, direction)].chunk_trace(layer, direction, active)

    def summary(self) -> dict:
        """Mean reuse fraction and mean MAC width over the trace's sequence steps (all layers)."""
        reused = sum(r.per_row.get("memo.reused", 0.0) for r in self.layers.values())
        computed = sum(r.per_row.get("memo.computed", 0.0) for r in self.layers.values())
        macs = {}
        for r in self.layers.values():
            for n, v in r.per_row.items():
                if n.startswith("mac."):
                    macs[n] = macs.get(n, 0.0) + v
        total = sum(macs.values())
        width = sum(int(n[4:].split("x")[0]) * v for n, v in macs.items()) / total if total else 0.0
        return {
            "reuse_fraction": reused / (reused + computed) if reused + computed else 0.0,
            "mean_weight_bits": width,
            "read_fraction": float(np.mean([r.read_fraction for r in self.layers.values()])),
        }
