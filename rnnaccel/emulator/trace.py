"""The operation trace: action counts per layer, direction and time step.

One data structure is shared by the emulator (which writes it), the cost model and every report
(which read it). It holds *counts only* — no prices, no energies.

Layout
------
A :class:`Trace` is a list of :class:`LayerTrace`, one per (layer, direction) that ran. Each
``LayerTrace`` has static facts (cell type, sizes, the operand widths) and ``counters``: a dict
mapping a counter name to an ``int64`` numpy array of shape ``(steps,)`` — the count at each
processing step of that direction (step ``s`` of a reverse direction is the ``s``-th step that
direction computed). Arrays of one LayerTrace all have the same length.

Counter names (all counts are for the whole batch at that step):

=========================  ====================================================================
``active``                 sequences still running at this step (batch rows computed)
``mac.<wb>x<ab>``          multiply-accumulates with a ``wb``-bit weight and an ``ab``-bit
                           activation operand (e.g. ``mac.16x16``)
``weight_bytes``           weight bytes the datapath read this step (each weight row once per
                           step, shared by the batch: a row is read when any running sequence
                           computes its neuron, at the widest width any of them uses — or once
                           per width with ``precision.weight_read=each``), biases included
``seq_weight_bytes``       the sum over the running sequences of the weight bytes that
                           sequence's step would read if it ran alone: the rows it computes, at
                           the widths it uses, biases included. Independent of how sequences are
                           batched (``active * dense bytes`` without techniques); for a
                           one-sequence-at-a-time accelerator (E-PUR as in the papers)
``act_bytes``              activation bytes read as GEMM operands (x_t and h_{t-1}, per sequence)
``act.sigmoid``            sigmoid evaluations of the activation unit
``act.tanh``               tanh evaluations of the activation unit
``eltwise.mul``            element-wise multiplications (cell/hidden update, GRU gating)
``eltwise.add``            element-wise additions/subtractions (incl. bias adds)
``eltwise.max``            element-wise comparisons (the ReLU RNN's ``max(0, z)``)
``proj.mac``               the MACs of an LSTM projection ``h = W_hr m`` (``P * H`` per running
                           sequence; they are inside ``mac.*`` too, named so that a cost model
                           without a rule for projections can refuse the trace)
``sat.<class>``            saturations at a narrowing step into tensor class ``<class>``
                           (``input``, ``acc``, ``preact``, ``cell``, ``hidden``, ``act``)
``sat.proj``               saturations narrowing a projection's output into the hidden format
=========================  ====================================================================

Every counter above the second table is derived in one place from the facts the datapath and the
technique units report (:mod:`rnnaccel.emulator.facts`); no counter is ever negative
(``make_layer_trace`` refuses one). Techniques add their own counters with a dotted prefix; a counter
that a run does not produce is simply absent. Reserved names (written by the memoization and precision
units as they land):

=============================  ================================================================
``memo.computed``              gate neurons really computed (per sequence, summed over batch)
``memo.reused``                gate neurons whose cached output was reused
``memo.weight_bytes_skipped``  weight bytes not fetched because every sequence reused the row,
                               at the width the step reads its rows (``weight_bytes`` plus this
                               is what the same step reads with every row)
``memo.bnn_xnor``              XNOR bit operations of the binarized predictor
``memo.bnn_popcount``          popcount operations (one per predicted neuron)
``memo.bnn_bits_read``         sign-weight bits read by the predictor
``memo.buffer_reads``          memo-buffer entry reads
``memo.buffer_writes``         memo-buffer entry writes
``precision.bits``             weight/input width chosen for this step (a value, not a count)
``precision.compares``         comparator operations of the precision controller
``precision.counter_ops``      counter/accumulator updates of the precision controller
``precision.reexec_macs``      MACs spent re-executing a step at high precision
=============================  ================================================================

The MACs of a run at several widths appear under several ``mac.<wb>x<ab>`` names. Missing counters read as zero through
:meth:`LayerTrace.get`.

Modules: a LayerTrace names the module it belongs to (``module``: its qualified name in the model,
e.g. ``"decoder"``; ``""`` when recorded without a session, and in traces written before the field
existed). Its :attr:`LayerTrace.key` then reads ``"decoder:L0.d0"``, so an encoder and a decoder
recorded into one trace keep apart in every statistic and in the cost model. Inside a session
(:mod:`rnnaccel.emulator.session`) consecutive calls of one module append their steps to one
LayerTrace (:meth:`LayerTrace.append_steps`): a decoder called once per token is one trace of
``T = tokens`` steps, like the same decoder run over the whole sequence, not ``T`` one-step traces.

Recording is off unless a ``Trace`` is passed to the layer's ``forward``; saturation *totals* are
always kept on the layer result regardless, so no saturation is ever silent.

Serialization: :meth:`Trace.to_json`/:meth:`Trace.from_json` and :meth:`Trace.save_npz`/
:meth:`Trace.load_npz` round-trip exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["LayerTrace", "Trace"]


@dataclass
class LayerTrace:
    """Counts of one (layer, direction) of one run. ``counters[name]`` has shape ``(steps,)``."""

    layer: int
    direction: int  # 0 forward, 1 reverse
    cell: str  # "lstm" or "gru"
    input_size: int
    hidden_size: int
    steps: int
    weight_bits: int
    act_bits: int
    counters: dict[str, np.ndarray] = field(default_factory=dict)
    module: str = ""  # qualified name of the module in its model ("" without a session)

    def get(self, name: str) -> np.ndarray:
        """Counter ``name`` per step, zeros when the run did not produce it."""
        if name in self.counters:
            return self.counters[name]
        return np.zeros(self.steps, dtype=np.int64)

    def add(self, name: str, per_step) -> None:
        """Add ``per_step`` (shape ``(steps,)``) into counter ``name``."""
        arr = np.asarray(per_step, dtype=np.int64)
        if arr.shape != (self.steps,):
            raise ValueError(f"counter {name!r}: expected shape ({self.steps},), got {arr.shape}")
        if name in self.counters:
            self.counters[name] = self.counters[name] + arr
        else:
            self.counters[name] = arr.copy()

    def total(self, name: str) -> int:
        return int(self.get(name).sum())

    @property
    def key(self) -> str:
        """``L<layer>.d<direction>``, prefixed ``<module>:`` when the module is named."""
        base = f"L{self.layer}.d{self.direction}"
        return f"{self.module}:{base}" if self.module else base

    def same_shape(self, other: "LayerTrace") -> bool:
        """Same module, layer, direction, cell, sizes and widths (the steps may differ)."""
        a, b = self.meta(), other.meta()
        a.pop("steps"), b.pop("steps")
        return a == b

    def append_steps(self, other: "LayerTrace") -> None:
        """Continue this trace with the steps of ``other`` (a later call of the same module and
        direction, same shape): every counter is concatenated (a counter one side lacks counts 0)."""
        if not self.same_shape(other):
            raise ValueError(f"append_steps: {other.key} {other.meta()} does not continue {self.key} {self.meta()}")
        names = list(self.counters) + [k for k in other.counters if k not in self.counters]
        self.counters = {k: np.concatenate([self.get(k), other.get(k)]) for k in names}
        self.steps += other.steps

    def meta(self) -> dict:
        """The static facts (``module`` only when named, so unnamed traces read as before)."""
        return ({"module": self.module} if self.module else {}) | {
            "layer": self.layer,
            "direction": self.direction,
            "cell": self.cell,
            "input_size": self.input_size,
            "hidden_size": self.hidden_size,
            "steps": self.steps,
            "weight_bits": self.weight_bits,
            "act_bits": self.act_bits,
        }


@dataclass
class Trace:
    """All LayerTraces of one run, in execution order (layer-major, forward before reverse)."""

    layers: list[LayerTrace] = field(default_factory=list)

    def __iter__(self) -> Iterator[LayerTrace]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def append(self, lt: LayerTrace) -> None:
        self.layers.append(lt)

    def extend(self, other: "Trace") -> None:
        """Append another run's layers (e.g. a second batch) — layers are kept separate."""
        self.layers.extend(other.layers)

    def total(self, name: str) -> int:
        """Sum of counter ``name`` over every layer, direction and step."""
        return sum(lt.total(name) for lt in self.layers)

    def totals(self) -> dict[str, int]:
        """Every counter summed over the whole run."""
        out: dict[str, int] = {}
        for lt in self.layers:
            for k, v in lt.counters.items():
                out[k] = out.get(k, 0) + int(v.sum())
        return dict(sorted(out.items()))

    def counter_names(self) -> list[str]:
        return sorted({k for lt in self.layers for k in lt.counters})

    def modules(self) -> list[str]:
        """The module names present, in order of first appearance (``""``: unnamed)."""
        return list(dict.fromkeys(lt.module for lt in self.layers))

    def select(self, module: str) -> "Trace":
        """The LayerTraces of one module (the same objects)."""
        return Trace([lt for lt in self.layers if lt.module == module])

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict:
        return {
            "format": "rnnaccel.trace/1",
            "layers": [
                {**lt.meta(), "counters": {k: v.tolist() for k, v in lt.counters.items()}} for lt in self.layers
            ],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Trace":
        if d.get("format") != "rnnaccel.trace/1":
            raise ValueError(f"not an rnnaccel trace (format={d.get('format')!r})")
        layers = []
        for e in d["layers"]:
            counters = {k: np.asarray(v, dtype=np.int64) for k, v in e["counters"].items()}
            meta = {k: e[k] for k in e if k != "counters"}
            layers.append(LayerTrace(**meta, counters=counters))
        return cls(layers)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict())
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_json(cls, src: str | Path) -> "Trace":
        p = Path(src) if not str(src).lstrip().startswith("{") else None
        text = p.read_text() if p is not None else str(src)
        return cls.from_dict(json.loads(text))

    def save_npz(self, path: str | Path) -> None:
        arrays: dict[str, np.ndarray] = {}
        metas = []
        for i, lt in enumerate(self.layers):
            metas.append(lt.meta())
            for k, v in lt.counters.items():
                arrays[f"{i}/{k}"] = v
        arrays["__meta__"] = np.frombuffer(
            json.dumps({"format": "rnnaccel.trace/1", "layers": metas}).encode(), dtype=np.uint8
        )
        np.savez_compressed(path, **arrays)

    @classmethod
    def load_npz(cls, path: str | Path) -> "Trace":
        with np.load(path) as z:
            meta = json.loads(bytes(z["__meta__"]).decode())
            if meta.get("format") != "rnnaccel.trace/1":
                raise ValueError(f"{path}: not an rnnaccel trace NPZ")
            layers = [LayerTrace(**m) for m in meta["layers"]]
            for key in z.files:
                if key == "__meta__":
                    continue
                i, name = key.split("/", 1)
                layers[int(i)].counters[name] = z[key].astype(np.int64)
        return cls(layers)
