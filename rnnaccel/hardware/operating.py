"""The operating point a trace is priced at: which sequences share the accelerator, where the
weights live, and what must fit on chip.

A :class:`~rnnaccel.emulator.trace.Trace` of an evaluation holds one LayerTrace per (layer,
direction) *per evaluation batch*; the evaluation's batch size is a software choice for speed and
must not change any figure. :func:`merge_runs` therefore adds the batches of each (layer,
direction) step by step into one LayerTrace ("all sequences of the run, aligned at their first
step"). Every counter it keeps is a sum of per-sequence facts except ``weight_bytes`` (rows read
once per evaluation batch), which the E-PUR model does not use for that reason: it reads
``seq_weight_bytes`` (the bytes each sequence's step reads when it runs alone).

The accelerator processes ``sequences_at_once = S`` sequences together (E-PUR and both technique
papers: S = 1). Sequences are grouped by length (the longest S together, as length-bucketed
serving does), so at step ``t`` ``ceil(active[t] / S)`` hardware batches are still running; a
hardware batch reads each weight row once per step for its S sequences.

Weight residency (``weight_residency``):

* ``network`` — the weights of every layer stay in the weight buffers for the whole run: each
  byte is fetched from DRAM once;
* ``layer`` — one layer's weights at a time (E-PUR runs a layer over the whole sequence before
  the next): every hardware batch fetches each layer's weights once;
* ``stream`` — a layer does not fit: its rows stream from DRAM every step; with E-PUR's MWL
  schedule the input-to-hidden rows are loaded once per ``mwl_steps`` steps (the input projections
  of ``mwl_steps`` steps are computed per load), the recurrent rows every step;
* ``auto`` — ``network`` if the whole network fits, else ``layer`` for each layer that fits, else
  ``stream`` for the layers that do not.

Forcing ``network`` or ``layer`` on weights that do not fit is refused with one line naming the
buffer and the numbers, and so is a memoization run whose entries exceed the memo buffer (it has no
spill path).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..emulator.trace import LayerTrace, Trace
from ..errors import RnnaccelError
from .common import gates

__all__ = [
    "merge_runs",
    "layer_key",
    "weight_footprints",
    "seq_weight_bytes",
    "WeightPlan",
    "plan_weights",
    "check_memo_buffer",
    "RESIDENCY",
    "CapacityError",
]

RESIDENCY = ("auto", "network", "layer", "stream")

#: counters that are per-step values, not counts: merging batches keeps their maximum
VALUE_COUNTERS = ("precision.bits",)


class CapacityError(RnnaccelError):
    """An operating point the hardware cannot run (a buffer too small with no spill path)."""


def layer_key(lt: LayerTrace) -> tuple:
    """What keeps LayerTraces apart: the module (encoder and decoder are priced separately), the
    (layer, direction) and the shape."""
    return (lt.module, lt.layer, lt.direction, lt.cell, lt.input_size, lt.hidden_size, lt.weight_bits, lt.act_bits)


def merge_runs(trace: Trace) -> list[LayerTrace]:
    """One LayerTrace per (layer, direction) and shape, the evaluation batches added step by step.
    LayerTraces of one key but another shape (an encoder and a decoder recorded into one trace)
    stay apart."""
    groups: dict[tuple, list[LayerTrace]] = {}
    for lt in trace:
        groups.setdefault(layer_key(lt), []).append(lt)
    out = []
    for lts in groups.values():
        first = lts[0]
        steps = max(lt.steps for lt in lts)
        m = LayerTrace(
            first.layer,
            first.direction,
            first.cell,
            first.input_size,
            first.hidden_size,
            steps,
            first.weight_bits,
            first.act_bits,
            module=first.module,
        )
        for lt in lts:
            if "seq_weight_bytes" not in lt.counters:  # a trace recorded before the fact existed
                m.add("seq_weight_bytes", np.pad(lt.get("active") * lt.get("weight_bytes"), (0, steps - lt.steps)))
            for name, arr in lt.counters.items():
                pad = np.zeros(steps, dtype=np.int64)
                pad[: lt.steps] = arr
                if name in VALUE_COUNTERS and name in m.counters:
                    m.counters[name] = np.maximum(m.counters[name], pad)
                else:
                    m.add(name, pad)
        out.append(m)
    return out


def weight_footprints(trace: Trace) -> dict[tuple, float]:
    """Bytes of each (layer, direction, shape)'s weights and biases at the widest width any step read
    them: ``max_t(weight_bytes + memo.weight_bytes_skipped)`` over every evaluation batch (a
    batch's step reads or skips every row once)."""
    out: dict[tuple, float] = {}
    for lt in trace:
        full = lt.get("weight_bytes") + lt.get("memo.weight_bytes_skipped")
        k = layer_key(lt)
        out[k] = max(out.get(k, 0.0), float(full.max()) if lt.steps else 0.0)
    return out


def seq_weight_bytes(lt: LayerTrace) -> np.ndarray:
    """Weight bytes per step summed over the sequences, each as if it ran alone (the datapath's
    ``seq_weight_bytes`` fact; :func:`merge_runs` fills it in as ``active x weight_bytes`` for a
    trace recorded before that fact existed — exact only when no technique skipped rows)."""
    if "seq_weight_bytes" in lt.counters:
        return lt.get("seq_weight_bytes").astype(np.float64)
    return (lt.get("active") * lt.get("weight_bytes")).astype(np.float64)


@dataclass(frozen=True)
class WeightPlan:
    """Where one layer's weights live and how often they are loaded, for the whole run."""

    residency: str  # "network", "layer" or "stream"
    sequences_at_once: int
    hw_batches: int  # hardware batches over the run (ceil(sequences / S))
    mwl_steps: int
    footprint: float  # bytes
    capacity: float  # weight-buffer bytes available to this layer

    def batches_per_step(self, active: np.ndarray) -> np.ndarray:
        """Hardware batches still running at each step (sequences grouped by length)."""
        return np.ceil(active / self.sequences_at_once)


def plan_weights(
    layers: list[LayerTrace], feet: list[float], residency: str, capacity: float, sequences_at_once: int, mwl_steps: int
) -> list[WeightPlan]:
    """A :class:`WeightPlan` per merged LayerTrace; refuses a forced residency that does not fit."""
    if residency not in RESIDENCY:
        raise ValueError(f"weight_residency={residency!r} unknown; choose one of {', '.join(RESIDENCY)}")
    S = int(sequences_at_once)
    if S < 1:
        raise ValueError(f"sequences_at_once must be >= 1, got {sequences_at_once!r}")
    total = float(sum(feet))
    if residency == "network" and total > capacity:
        raise CapacityError(
            f"weight_residency=network: the network's weights ({_b(total)}) do not fit the "
            f"weight buffers ({_b(capacity)}); use weight_residency=auto or a larger weight_buffer"
        )
    if residency == "layer" and max(feet, default=0) > capacity:
        raise CapacityError(
            f"weight_residency=layer: a layer's weights ({_b(max(feet))}) do not fit the weight "
            f"buffers ({_b(capacity)}); use weight_residency=auto or stream"
        )
    plans = []
    for lt, foot in zip(layers, feet):
        n_seq = int(lt.get("active")[0]) if lt.steps else 0
        if residency == "auto":
            mode = "network" if total <= capacity else ("layer" if foot <= capacity else "stream")
        else:
            mode = residency
        plans.append(WeightPlan(mode, S, math.ceil(n_seq / S), int(mwl_steps), foot, float(capacity)))
    return plans


def check_memo_buffer(layers: list[LayerTrace], sequences_at_once: int, capacity_bytes: float, entry_bits: int) -> dict:
    """Entries the memoization unit keeps (one per gate neuron of every layer and direction, per
    sequence in flight) against the memo buffer; refuses a run that needs more (no spill path)."""
    memo = [lt for lt in layers if "memo.computed" in lt.counters]
    entries = sequences_at_once * sum(gates(lt.cell) * lt.hidden_size for lt in memo)
    fit = int(capacity_bytes * 8 // entry_bits)
    if entries > fit:
        raise CapacityError(
            f"memo buffer too small: {entries} entries of {entry_bits} bit needed "
            f"({sequences_at_once} sequence(s) x {entries // max(1, sequences_at_once)} gate neurons) "
            f"but bnn.memo_buffer holds {fit} ({_b(capacity_bytes)}) and has no spill path; "
            "raise hw.bnn.memo_buffer.capacity or lower sequences_at_once"
        )
    return {"memo_entries": entries, "memo_buffer_entries": fit}


def _b(n: float) -> str:
    return f"{n / 2**20:.3g} MiB" if n >= 2**20 else f"{n / 2**10:.3g} KiB"
