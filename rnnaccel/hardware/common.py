"""Pricing rules shared by every accelerator: MAC counters, the activation unit (multi-functional
unit), the BNN predictor with its memoization buffer, the precision controller and static power.

Each ``charge_*`` function books energy into a :class:`~.report.Ledger` and returns the per-step
work its unit does, from which the accelerator model derives that unit's cycles.

:func:`layer_shape` reads a LayerTrace's weight matrices: ``G`` gates of ``H`` units (LSTM 4, GRU
3, Elman RNN 1), input ``D``, and an LSTM projection of size ``P`` (from the ``proj.mac`` fact:
``P*H`` MACs per running sequence), whose output is the recurrent state (``R = P``; ``R = H``
without one). The accelerator models split weight traffic and GEMMs by these shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..emulator.gates import GATES
from ..errors import RnnaccelError
from ..emulator.trace import LayerTrace
from .pricing import PriceBook
from .report import Ledger

__all__ = [
    "GATES",
    "PRICED_CELLS",
    "Reader",
    "Shape",
    "gates",
    "layer_shape",
    "charge_macs",
    "charge_vector_ops",
    "charge_bnn",
    "charge_control",
    "INFO_COUNTERS",
]

MAC_RE = re.compile(r"^mac\.(\d+)x(\d+)$")

#: counters that carry information but no action of their own to price (see docs/cost_model.md);
#: E-PUR reads memo.computed and memo.weight_bytes_skipped to size partial sums and the footprint
INFO_COUNTERS = ("precision.bits", "memo.reused", "memo.computed", "memo.weight_bytes_skipped", "seq_weight_bytes")
INFO_PREFIXES = ("sat.", "precision.steps_at_")  # informational counters, not priced


#: cells the cost model prices: every cell the emulator runs (LSTM, GRU, Elman RNN with tanh or relu)
PRICED_CELLS = tuple(GATES)


def gates(cell: str) -> int:
    if cell not in PRICED_CELLS:
        raise RnnaccelError(
            f"a trace of {cell!r} layers cannot be priced: the cost model prices {', '.join(PRICED_CELLS)} "
            f"layers (the cell names the emulator writes into its traces)"
        )
    return GATES[cell]


@dataclass(frozen=True)
class Shape:
    """The weight matrices of one (layer, direction): ``W_ih`` (G*H x D), ``W_hh`` (G*H x R) and,
    with a projection, ``W_hr`` (P x H); ``R = P`` when projected (the state that recurs), else ``H``."""

    G: int
    D: int
    H: int
    P: int = 0

    @property
    def R(self) -> int:
        return self.P or self.H

    @property
    def weights(self) -> int:
        """Weight elements of the three matrices (biases not included)."""
        return self.G * self.H * (self.D + self.R) + self.P * self.H

    @property
    def ih_share(self) -> float:
        """Fraction of the weights in ``W_ih`` (the rows MWL / a batched input GEMM reuse over steps):
        ``D / (D + H)`` without a projection."""
        if not self.P:
            return self.D / (self.D + self.H)
        return self.G * self.H * self.D / self.weights

    @property
    def step_share(self) -> float:
        """Fraction of the weights every step needs anew: ``W_hh`` and ``W_hr`` (``H / (D + H)``
        without a projection)."""
        if not self.P:
            return self.H / (self.D + self.H)
        return 1.0 - self.ih_share

    @property
    def hr_share(self) -> float:
        """Fraction of the weights in the projection ``W_hr``."""
        return self.P * self.H / self.weights

    @property
    def outputs(self) -> int:
        """Values a running sequence writes per step: the output ``h`` (R), plus the unprojected ``m``
        (H) that the projection GEMM reads back."""
        return self.R + (self.H if self.P else 0)


def layer_shape(rd: "Reader") -> Shape:
    """The :class:`Shape` of ``rd``'s layer; the projection size from the ``proj.mac`` fact
    (``active * P * H`` per step), refused when the steps disagree."""
    lt = rd.lt
    G = gates(lt.cell)
    if "proj.mac" not in lt.counters:
        return Shape(G, lt.input_size, lt.hidden_size)
    if lt.cell != "lstm":
        raise RnnaccelError(f"trace {lt.key}: a {lt.cell} layer has a proj.mac counter; only an LSTM projects")
    proj, rows = rd.get("proj.mac"), rd.get("active") * lt.hidden_size
    run = rows > 0
    sizes = set((proj[run] / rows[run]).tolist())
    if len(sizes) > 1 or np.any(proj[~run]) or not all(float(p).is_integer() and p > 0 for p in sizes):
        raise RnnaccelError(
            f"trace {lt.key}: proj.mac is not active * P * hidden_size at every step (P values {sorted(sizes)}); "
            f"record the trace with the emulator's datapath"
        )
    return Shape(G, lt.input_size, lt.hidden_size, int(sizes.pop()) if sizes else 0)


class Reader:
    """Reads counters of one LayerTrace as float64 arrays and remembers which ones were used."""

    def __init__(self, lt: LayerTrace):
        self.lt = lt
        self.used: set[str] = set()

    def get(self, name: str) -> np.ndarray:
        self.used.add(name)
        a = self.lt.get(name)
        if a.shape != (self.lt.steps,):
            raise ValueError(f"trace {self.lt.key}: counter {name!r} has shape {a.shape}, expected ({self.lt.steps},)")
        return a.astype(np.float64)

    def macs(self) -> list[tuple[str, int, int, np.ndarray]]:
        """``(name, weight_bits, act_bits, per_step)`` for every ``mac.<wb>x<ab>`` counter."""
        out = []
        for name in sorted(self.lt.counters):
            m = MAC_RE.match(name)
            if m:
                wb, ab = int(m.group(1)), int(m.group(2))
                if wb <= 0 or ab <= 0:
                    raise ValueError(f"trace {self.lt.key}: counter {name!r} has a zero width")
                out.append((name, wb, ab, self.get(name)))
        return out

    def unpriced(self) -> list[str]:
        return sorted(
            n
            for n in self.lt.counters
            if n not in self.used and n not in INFO_COUNTERS and not n.startswith(INFO_PREFIXES)
        )


def charge_macs(
    led: Ledger, rd: Reader, book: PriceBook, widths=None
) -> tuple[list[tuple[int, int, np.ndarray]], np.ndarray]:
    """Compute energy of every MAC counter plus ``precision.reexec_macs`` (priced as MACs at the
    layer's nominal widths ``weight_bits x act_bits``; the precision unit must not also add them
    to a ``mac.*`` counter). Returns the ``(wb, ab, per_step)`` groups of the ``mac.*`` counters
    and the re-executed MACs per step, for the timing models. ``widths(wb, ab)``: the multiplier
    widths whose energy a ``wb x ab`` MAC costs (the accelerator's MAC rule, :mod:`.mac`; default:
    the operand widths themselves)."""
    widths = widths or (lambda wb, ab: (wb, ab))
    groups = []
    for name, wb, ab, arr in rd.macs():
        led.charge("compute", name, arr.sum(), book.mac(*widths(wb, ab)))
        groups.append((wb, ab, arr))
    reexec = rd.get("precision.reexec_macs")
    led.charge("compute", "precision.reexec_macs", reexec.sum(), book.mac(*widths(rd.lt.weight_bits, rd.lt.act_bits)))
    return groups, reexec


def charge_vector_ops(led: Ledger, rd: Reader, book: PriceBook) -> np.ndarray:
    """Activation-unit work: every ``act.<fn>`` (one piecewise-linear evaluation each) and the
    element-wise ``eltwise.mul``/``eltwise.add``/``eltwise.max`` (a ReLU's comparison) at the
    layer's ``act_bits``. Returns ops per step."""
    lt, bits = rd.lt, rd.lt.act_bits
    ops = np.zeros(lt.steps)
    for name in sorted(lt.counters):
        if name.startswith("act.") and name != "act_bytes":
            a = rd.get(name)
            led.charge("activation", name, a.sum(), book.act(bits))
            ops += a
    for name, rate in (
        ("eltwise.mul", book.elt_mul(bits)),
        ("eltwise.add", book.elt_add(bits)),
        ("eltwise.max", book.elt_max(bits)),
    ):
        a = rd.get(name)
        led.charge("activation", name, a.sum(), rate)
        ops += a
    return ops


def charge_bnn(led: Ledger, rd: Reader, book: PriceBook) -> np.ndarray:
    """BNN predictor and memoization buffer. Returns XNOR bit-operations per step."""
    lt = rd.lt
    xnor = rd.get("memo.bnn_xnor")
    led.charge("bnn", "memo.bnn_xnor", xnor.sum(), book.xnor_bit())
    led.charge(
        "bnn", "memo.bnn_popcount", rd.get("memo.bnn_popcount").sum(), book.popcount(lt.input_size + lt.hidden_size)
    )
    led.charge("bnn", "memo.bnn_bits_read", rd.get("memo.bnn_bits_read").sum(), book.sign_bit_read())
    led.charge("bnn", "memo.buffer_reads", rd.get("memo.buffer_reads").sum(), book.memo_entry("read"))
    led.charge("bnn", "memo.buffer_writes", rd.get("memo.buffer_writes").sum(), book.memo_entry("write"))
    return xnor


def charge_control(led: Ledger, rd: Reader, book: PriceBook) -> np.ndarray:
    """Precision controller (comparators and counters). Returns its operations per step."""
    cmp_, cnt = rd.get("precision.compares"), rd.get("precision.counter_ops")
    led.charge("control", "precision.compares", cmp_.sum(), book.compare())
    led.charge("control", "precision.counter_ops", cnt.sum(), book.counter_op())
    return cmp_ + cnt


def charge_static(led: Ledger, seconds: float, book: PriceBook) -> None:
    led.charge("static", "seconds", seconds, book.static())
