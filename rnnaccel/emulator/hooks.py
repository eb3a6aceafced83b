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

A new *call* and a new *sequence* are different things. ``begin(ctx)`` starts a call: what depends
on the call's input (its length, the predictor's input part, per-step counters). What a unit knows
about each *sequence* (memo buffers, the precision history) lives in a :class:`Carry` the factory
owns per (layer, direction): fresh at every call by default, kept across calls inside a
:func:`rnnaccel.emulator.session.session`, where the per-row state follows the caller's batch rows
(``ctx.rows``), can be reset per row and reindexed (beam search).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..errors import RnnaccelError
from .config import DatapathConfig
from .facts import DirectionFacts
from .steps import StepInput, StepMap

__all__ = ["DirectionContext", "StepUnit", "UnitFactory", "Carry", "CarryError", "CarryingFactory"]


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
    #: the input steps as they arrive (a pipelined stack fills ``x`` chunk by chunk; by step ``t`` the
    #: datapath has made sure ``x[:t + 1]`` is there); None: ``x`` is complete
    steps: StepInput | None = None

    def per_step(self, fn: Callable) -> StepMap:
        """What a unit precomputes over all input steps, as ``fn(x[t0:t1], t0)`` per chunk of steps
        (the whole input at once unless the stack is pipelined): index the result by step."""
        if self.steps is None:
            self.steps = StepInput(self.x)
        return StepMap(self.steps, fn)


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


class CarryError(RnnaccelError):
    """A call that cannot continue the carried state (another batch size without a reindex)."""


def _take(v, idx: torch.Tensor):
    """Rows ``idx`` of a torch tensor or numpy array (first dimension), as a new array."""
    if isinstance(v, np.ndarray):
        return v[idx.cpu().numpy()].copy()
    return v[idx.to(v.device)].clone()


def _put(v, idx: torch.Tensor, src) -> None:
    """``v[idx] = src`` for a torch tensor or numpy array."""
    if isinstance(v, np.ndarray):
        v[idx.cpu().numpy()] = src
    else:
        v[idx.to(v.device)] = src


class Carry:
    """The per-sequence state of one (layer, direction): named arrays whose first dimension is the
    batch row (torch tensors or numpy arrays).

    ``persistent=False`` (plain emulation): every call starts from ``fresh(B)``, so nothing crosses
    a call. ``persistent=True`` (a session): a call continues the state the previous call left,
    row for row in the caller's order; a call with another batch size is refused (reindex or reset
    first). Rows a call does not run to the end (shorter sequences) keep the state they reached.

    A unit calls :meth:`take` in ``begin`` and works on the returned arrays in place (in the call's
    length-sorted row order); the carry puts them back into the caller's order when next needed.
    """

    def __init__(self, persistent: bool = False, label: str = ""):
        self.persistent, self.label = persistent, label
        self._state: dict | None = None  # the last call's arrays, in that call's row order
        self._rows: torch.Tensor | None = None  # that order (None: the caller's)
        self._fresh: Callable[[int], dict] | None = None

    @property
    def rows(self) -> int | None:
        """Batch rows the carried state has (None: nothing carried)."""
        return None if self._state is None else len(next(iter(self._state.values())))

    def take(self, ctx: DirectionContext, fresh: Callable[[int], dict]) -> dict:
        """The state a call starts from, in the call's row order: ``fresh(B)`` for a new sequence
        (first call, not persistent, after a reset), else the carried state reordered by ``ctx.rows``."""
        B = ctx.x.shape[1]
        self._fresh = fresh
        cur = self.state() if self.persistent else None
        if cur is None:
            st = fresh(B)
        elif len(next(iter(cur.values()))) != B:
            raise CarryError(
                f"session{self.label}: a call with {B} batch rows cannot continue the state of "
                f"{self.rows} rows; call s.reindex(module, index) when hypotheses are reordered or "
                f"pruned, or s.reset(module) to start new sequences"
            )
        elif ctx.rows is None:
            st = cur
        else:
            st = {k: _take(v, ctx.rows) for k, v in cur.items()}
        self._state, self._rows = st, ctx.rows
        return st

    def state(self) -> dict | None:
        """The carried arrays in the caller's row order (None: nothing carried)."""
        if self._state is None or self._rows is None:
            return self._state
        inv = torch.argsort(self._rows.cpu())
        self._state = {k: _take(v, inv) for k, v in self._state.items()}
        self._rows = None
        return self._state

    def reset(self, rows=None) -> None:
        """Start new sequences: on every row (``rows`` None) or on the caller's rows ``rows``."""
        if rows is None:
            self._state = None
        cur = self.state()
        if cur is None or self._fresh is None:
            return
        n = len(next(iter(cur.values())))
        idx = torch.as_tensor(rows, dtype=torch.int64).reshape(-1)
        if len(idx) and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise CarryError(f"session{self.label}: reset rows {idx.tolist()} outside the {n} carried rows")
        new = self._fresh(len(idx))
        for k, v in cur.items():
            _put(v, idx, new[k])

    def reindex(self, index) -> None:
        """Row ``i`` continues the sequence of row ``index[i]`` (``index_select`` on the batch rows:
        beam search reorders, duplicates and prunes hypotheses)."""
        cur = self.state()
        if cur is None:
            return
        n = len(next(iter(cur.values())))
        idx = torch.as_tensor(index, dtype=torch.int64).reshape(-1)
        if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise CarryError(
                f"session{self.label}: reindex needs row indices in [0, {n}), got "
                f"min {int(idx.min())} max {int(idx.max())}"
            )
        self._state = {k: _take(v, idx) for k, v in cur.items()}


class CarryingFactory:
    """What the memo and precision factories share: one :class:`~rnnaccel.emulator.hooks.Carry` per
    (layer, direction). Outside a session every call gets a fresh one; :meth:`open_carries` (called
    by a session) keeps them across calls until :meth:`close_carries`."""

    carries: "dict[tuple[int, int], Carry] | None" = None
    label = ""

    def carry(self, layer: int, direction: int) -> Carry:
        if self.carries is None:
            return Carry()
        key = (layer, direction)
        if key not in self.carries:
            self.carries[key] = Carry(True, f" ({self.label}layer {layer}, direction {direction})")
        return self.carries[key]

    def open_carries(self, label: str = "") -> None:
        if self.carries is not None:
            raise ValueError(
                f"{type(self).__name__} is already in a session (one factory object serves one module in one session)"
            )
        self.carries, self.label = {}, label

    def close_carries(self) -> None:
        self.carries, self.label = None, ""
