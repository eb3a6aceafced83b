"""Pricing rules shared by every accelerator: MAC counters, the activation unit (multi-functional
unit), the BNN predictor with its memoization buffer, the precision controller and static power.

Each ``charge_*`` function books energy into a :class:`~.report.Ledger` and returns the per-step
work its unit does, from which the accelerator model derives that unit's cycles.
"""

from __future__ import annotations

import re

import numpy as np

from ..emulator.gates import GATES
from ..errors import RnnaccelError
from ..emulator.trace import LayerTrace
from .pricing import PriceBook
from .report import Ledger

__all__ = [
    "GATES",
    "Reader",
    "gates",
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


#: cells the cost model prices (the emulator also runs Elman RNN cells: not priced, refused here)
PRICED_CELLS = ("lstm", "gru")


def gates(cell: str) -> int:
    if cell not in PRICED_CELLS:
        raise RnnaccelError(
            f"the cost model prices LSTM and GRU layers only; a trace of {cell!r} layers cannot be priced "
            f"(run it for accuracy and counts, or price an LSTM/GRU model)"
        )
    return GATES[cell]


class Reader:
    """Reads counters of one LayerTrace as float64 arrays and remembers which ones were used."""

    def __init__(self, lt: LayerTrace):
        if "proj.mac" in lt.counters:  # an LSTM with proj_size: its third GEMM has no pricing rule
            raise RnnaccelError(
                f"the cost model does not price LSTM projections (proj_size): {lt.key} has a projection GEMM; "
                f"price a model without proj_size"
            )
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
    element-wise ``eltwise.mul``/``eltwise.add`` at the layer's ``act_bits``. Returns ops per step."""
    lt, bits = rd.lt, rd.lt.act_bits
    ops = np.zeros(lt.steps)
    for name in sorted(lt.counters):
        if name.startswith("act.") and name != "act_bytes":
            a = rd.get(name)
            led.charge("activation", name, a.sum(), book.act(bits))
            ops += a
    for name, rate in (("eltwise.mul", book.elt_mul(bits)), ("eltwise.add", book.elt_add(bits))):
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
