"""How technique units plug into the datapath.

A technique (memoization, dynamic precision, ...) is a :class:`StepUnit`: an object the datapath
asks, at fixed points of every time step of one (layer, direction), to change what is computed.
Off, a technique is simply absent from the list and the datapath runs its plain path: no bit and
no count changes. Units are built per (layer, direction) by factories the module holds
(``RecurrentStack.units``), so their state (memo buffers, controller history) never leaks between
layers, directions or calls.

The points, in step order (``n`` = rows still running, a prefix of the length-sorted batch):

1. ``gate_acc(t, n, hp)`` -> ``(ax, ah)`` or ``None``: the exact dot products of the gates before
   saturation, at the accumulator fraction: ``ax`` (n, G*H) the input part including ``b_x``,
   ``ah`` (n, G*H) the recurrent part including ``b_h``. ``None`` keeps the datapath's own. Every
   unit is called (a unit may only look at ``hp``); the first value returned is used.
2. ``gate_out(t, n, cols, z, a, act)`` -> activations: called with the pre-activations ``z`` and
   activation outputs ``a`` of the gate columns ``cols`` (a slice of the datapath gate order; the
   LSTM calls it once for all four gates, the GRU once for ``[r, z]`` and once for ``n``);
   ``act(z)`` re-evaluates the activation unit. Returns the activations the datapath continues
   with. Units are chained in list order.
3. ``observe(t, n, h_prev, h_new, c_prev, c_new)``: the step's states (LSTM ``c``; None for GRU).
4. ``counters()`` -> ``{name: (T,) int64 array}`` after the last step: the technique's *own*
   counters (``<prefix>.*``: predictor work, buffer accesses, controller operations), never
   negative. A unit does not correct the datapath's counts: it states facts into ``ctx.facts``
   (a :class:`~rnnaccel.emulator.facts.DirectionFacts`: neurons not computed, the widths each
   sequence ran at, activations skipped) and :func:`~rnnaccel.emulator.facts.layer_counters`
   derives ``mac.*``, ``weight_bytes`` and the other base counters from the facts of every unit
   at once. Units never read each other's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .config import DatapathConfig
from .facts import DirectionFacts

__all__ = ["DirectionContext", "StepUnit", "UnitFactory"]


@dataclass
class DirectionContext:
    """What a unit may know about the direction it serves (set before the first step)."""

    cell: str  # "lstm" | "gru"
    layer: int
    direction: int
    cfg: DatapathConfig
    weights: "object"  # datapath.IntWeights (datapath gate order)
    x: torch.Tensor  # (T, B, D) input-format ints, length-sorted rows
    batch_sizes: list[int]
    hidden_size: int
    site_base: int
    gemm: str  # exact-GEMM backend name
    #: the direction's facts; units report what they changed into it (never base counters)
    facts: DirectionFacts | None = None
    #: (B,) the caller's batch row of each length-sorted row (None: the same order); state that
    #: lives across calls (:class:`Carry`) is kept in the caller's order and follows it
    rows: torch.Tensor | None = None


class StepUnit:
    """Base class: every hook is a no-op. Subclasses override what they need."""

    def begin(self, ctx: DirectionContext) -> None:
        self.ctx = ctx

    def gate_acc(self, t: int, n: int, hp: torch.Tensor):
        return None

    def gate_out(
        self, t: int, n: int, cols: slice, z: torch.Tensor, a: torch.Tensor, act: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        return a

    def observe(
        self,
        t: int,
        n: int,
        h_prev: torch.Tensor,
        h_new: torch.Tensor,
        c_prev: torch.Tensor | None,
        c_new: torch.Tensor | None,
    ) -> None:
        pass

    def counters(self) -> dict[str, np.ndarray]:
        return {}


#: Builds the unit of one (layer, direction), or returns None when the technique is off there.
UnitFactory = Callable[[int, int, DatapathConfig], "StepUnit | None"]
