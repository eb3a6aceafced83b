"""E-PUR-like accelerator: one computation unit (CU) per gate, each a dot-product unit (DPU) of
``dpu_lanes`` multipliers, a weight buffer and an input buffer; multi-functional units (MU) for
activations and element-wise ops; a shared intermediate memory; DRAM. Layers run one after the
other, each over the whole sequence (the MWL schedule: the input-to-hidden products of many steps
are computed while a weight row is resident, the recurrent part step by step).

Timing of step ``t`` of a (layer, direction), with ``U = min(computation_units, gates)`` CUs busy:

    dpu_t  = sum_w mac_w[t] * lane_cycles(rule, wb, ab) / (U * dpu_lanes)   (rule: rnnaccel.hardware.mac)
    mu_t   = (act.* + eltwise.*)[t] / activation.ops_per_cycle
    bnn_t  = memo.bnn_xnor[t] / bnn.xnor_bits_per_cycle
    ctl_t  = (precision.compares + precision.counter_ops)[t] / control.ops_per_cycle
    busy_t = max(dpu_t - prj_t, mu_t, bnn_t, ctl_t) + prj_t         (the units run concurrently)

An Elman RNN has one gate (``U = 1``: one CU, the gate-per-CU mapping). An LSTM projection
(``P x H`` weights, ``proj.mac`` MACs) runs on the DPUs after the cell update and before the next
step's gates (it needs all of ``m_t = o * tanh(c_t)``, the next step needs its output), so its time
``prj_t = proj.mac[t] * lane_cycles(widest MAC width of the step) / (U * dpu_lanes)`` does not overlap
the MU; its MACs are inside ``mac.*`` (energy counted once).

Weights follow a :class:`~.operating.WeightPlan` (the operating point, :mod:`.operating`): with
``S = sequences_at_once`` and ``n_t = ceil(active[t] / S)`` hardware batches running at step t,
the weight buffers are read ``reads_t = seq_weight_bytes[t]`` bytes (S = 1: each sequence reads the
rows it computes) or ``n_t * seq_weight_bytes[t] / active[t]`` (S > 1: a batch reads a row once for
its S sequences). DRAM: ``network`` residency fetches the layer's footprint once, ``layer`` once per
hardware batch — both overlapped with compute, ``cycles = max(sum_t busy_t, dram / B)``; ``stream``
fetches the recurrent (and projection) rows ``reads_t * (1 - ih)`` every step (``ih``: the share of
the weights in ``W_ih``, :class:`~.common.Shape`, ``D / (D + H)`` without a projection) and the
input-to-hidden rows once per window of ``mwl_steps`` steps (MWL; :func:`mwl_stream_bytes`: ``ceil(steps / mwl_steps)``
fetches of a dense run, each spread over its window) and ``cycles = sum_t max(busy_t, dram_t / B)``;
``B = dram.bandwidth / frequency`` bytes per cycle. Without a plan (an analytic serving chunk) the
chunk's rows run together and the layer is fetched once if it fits (not at all when
``weights_resident``), streamed otherwise by the same MWL rule over the chunk's steps (a one-step
chunk, cellular batching, gets no input-weight reuse).

The intermediate memory holds, per sequence in flight, the layer's outputs over the sequence and
the MWL partial sums of ``mwl_steps`` steps; the part of that working set beyond its capacity
spills: that fraction of the intermediate-memory traffic goes to DRAM (``spill_bytes`` in the
stats, a warning in the report).
"""

from __future__ import annotations

import numpy as np

from ..emulator.trace import LayerTrace
from .common import (
    Reader,
    Shape,
    charge_bnn,
    charge_control,
    charge_macs,
    charge_static,
    charge_vector_ops,
    gates,
    layer_shape,
)
from .mac import energy_widths, lane_cycles
from .operating import WeightPlan, seq_weight_bytes
from .pricing import PriceBook
from .report import LayerCost, Ledger
from .schema import EpurArch, HwConfig

__all__ = ["epur_layer", "cycles_per_mac", "weight_capacity", "mwl_stream_bytes"]


def cycles_per_mac(arch: EpurArch, wb: int, ab: int) -> float:
    """DPU lane-cycles per ``wb x ab`` MAC under the table's ``mac_time_rule`` (:mod:`.mac`)."""
    return lane_cycles(arch.mac_time_rule, arch.base_width_bits.value, wb, ab)


def weight_capacity(hw: HwConfig, cell: str) -> float:
    """Weight-buffer bytes a layer of ``cell`` can use (one buffer per busy computation unit)."""
    a: EpurArch = hw.arch
    return min(a.computation_units.value, gates(cell)) * a.weight_buffer.capacity.si


def mwl_stream_bytes(reads: np.ndarray, shape: Shape, mwl: int) -> np.ndarray:
    """DRAM bytes per step of a streamed layer under the MWL schedule. ``reads[t]``: weight bytes
    the step reads, ``shape.ih_share`` of them input-to-hidden rows (``D / (D + H)`` for a layer
    without projection), ``shape.step_share`` recurrent and projection rows. Recurrent (and projection) rows
    stream every step; input-to-hidden rows once per window of ``mwl`` steps (the window's largest
    read: the rows any of its steps needs), that fetch spread over the window's steps. A run of
    ``n`` dense steps fetches them ``ceil(n / mwl)`` times; ``mwl = 1``: every step."""
    n = len(reads)
    if n == 0:
        return np.zeros(0)
    inp = reads * shape.ih_share
    windows = -(-n // mwl)
    padded = np.zeros(windows * mwl)
    padded[:n] = inp
    fetch = padded.reshape(windows, mwl).max(axis=1)
    span = np.minimum(mwl, n - mwl * np.arange(windows))
    return reads * shape.step_share + np.repeat(fetch / span, span)


def _projection_cycles(rd: Reader, a: EpurArch, groups, cus: int) -> np.ndarray:
    """DPU cycles per step of an LSTM projection's ``proj.mac`` MACs, at the widest MAC width of the
    step (its weight x hidden widths when the input and hidden formats are as wide; an upper bound
    otherwise); zeros without a projection."""
    steps = rd.lt.steps
    if "proj.mac" not in rd.lt.counters:
        return np.zeros(steps)
    cpm = np.zeros(steps)
    for wb, ab, arr in groups:
        cpm = np.where(arr > 0, np.maximum(cpm, cycles_per_mac(a, wb, ab)), cpm)
    return rd.get("proj.mac") * cpm / (cus * a.dpu_lanes.value)


def _operating(a: EpurArch, name: str, default):
    p = getattr(a, name, None)
    return default if p is None else p.value


def epur_layer(
    lt: LayerTrace, hw: HwConfig, book: PriceBook, weights_resident: bool = False, plan: WeightPlan | None = None
) -> tuple[LayerCost, list[str]]:
    """Price one (layer, direction). Returns the cost and the counters no rule used."""
    a: EpurArch = hw.arch
    rd, led = Reader(lt), Ledger()
    shape = layer_shape(rd)
    G, H, R = shape.G, shape.H, shape.R
    cus = min(a.computation_units.value, G)
    zeros = np.zeros(lt.steps)
    rule, base = a.mac_time_rule, a.base_width_bits.value

    # ---- compute units: DPU, MU, BNN, controller (energy booked by the shared rules)
    groups, reexec = charge_macs(led, rd, book, widths=lambda wb, ab: energy_widths(rule, base, wb, ab))
    groups = groups + [(lt.weight_bits, lt.act_bits, reexec)]  # re-executed at the nominal widths
    dpu = sum((arr * cycles_per_mac(a, wb, ab) for wb, ab, arr in groups), zeros) / (cus * a.dpu_lanes.value)
    mu = charge_vector_ops(led, rd, book) / hw.activation.ops_per_cycle.value
    bnn = charge_bnn(led, rd, book) / hw.bnn.xnor_bits_per_cycle.value
    ctl = charge_control(led, rd, book) / hw.control.ops_per_cycle.value
    prj = _projection_cycles(rd, a, groups, cus)
    busy = (np.maximum.reduce([dpu - prj, mu, bnn, ctl]) + prj) if lt.steps else zeros

    # ---- weights: buffer reads, DRAM fetches and time under the operating point
    bpc = hw.dram.bandwidth.si / hw.chip.frequency.si  # DRAM bytes per cycle
    active = rd.get("active")
    rd.get("weight_bytes"), rd.get("memo.weight_bytes_skipped")  # read: replaced by the per-sequence fact
    rd.used.add("seq_weight_bytes")
    capacity = weight_capacity(hw, lt.cell)
    if plan is None:  # an analytic chunk: its rows run together, fetched once if they fit
        reads = rd.get("weight_bytes")
        footprint = float((reads + rd.get("memo.weight_bytes_skipped")).max()) if lt.steps else 0.0
        mode = ("resident" if weights_resident else "layer") if footprint <= capacity else "stream"
        # a streamed chunk runs its layer over all its steps: the table's MWL window, as for a trace
        S, loads = int(active.max()) if lt.steps else 1, 1
        mwl = _operating(a, "mwl_steps", 1) if mode == "stream" else 1
    else:
        seq = seq_weight_bytes(lt)
        S, loads, mwl, footprint, mode = (
            plan.sequences_at_once,
            plan.hw_batches,
            plan.mwl_steps,
            plan.footprint,
            plan.residency,
        )
        if S == 1:
            reads = seq
        else:
            reads = plan.batches_per_step(active) * np.divide(seq, active, out=np.zeros(lt.steps), where=active > 0)
    if mode == "stream":
        dram_t = mwl_stream_bytes(reads, shape, mwl)
        dram = float(dram_t.sum())
        cycles = float(np.maximum(busy, dram_t / bpc).sum())
    else:
        dram = {"resident": 0.0, "network": footprint, "layer": footprint * loads}[mode]
        if plan is None and mode == "layer":
            dram = float(min(reads.sum(), footprint))
        cycles = max(float(busy.sum()), dram / bpc)

    # ---- SRAM traffic by buffer; intermediate-memory working set and its spill
    led.charge("sram", "weight_buffer_reads", reads.sum(), book.mem("epur.weight_buffer", a.weight_buffer, "read"))
    led.charge("sram", "dram_weight_bytes", dram, book.mem("epur.weight_buffer", a.weight_buffer, "write"))
    operands = sum((arr * ab / 8 for _, ab, arr in groups), zeros)  # one activation operand per MAC
    led.charge("sram", "mac_operand_bytes", operands.sum(), book.mem("epur.input_buffer", a.input_buffer, "read"))
    act = rd.get("act_bytes")
    led.charge("sram", f"act_bytes*{cus}cu", act.sum() * cus, book.mem("epur.input_buffer", a.input_buffer, "write"))
    neurons = rd.get("memo.computed") if "memo.computed" in lt.counters else G * H * active
    psum = neurons * a.partial_sum_bits.value / 8  # MWL partial sums: written, then read back
    out = active * shape.outputs * lt.act_bits / 8  # h_t (and a projection's m_t) of every running sequence
    im = a.intermediate_memory
    working = min(S, int(active.max()) if lt.steps else 0) * (
        lt.steps * R * lt.act_bits / 8 + min(mwl, max(lt.steps, 1)) * G * H * a.partial_sum_bits.value / 8
    )
    spill_frac = max(0.0, 1.0 - im.capacity.si / working) if working > 0 else 0.0
    keep = 1.0 - spill_frac
    im_traffic = act.sum() + 2 * psum.sum() + out.sum()
    led.charge("sram", "act_bytes", act.sum() * keep, book.mem("epur.intermediate_memory", im, "read"))
    led.charge("sram", "psum_bytes", psum.sum() * keep, book.mem("epur.intermediate_memory", im, "read"))
    led.charge("sram", "psum_bytes", psum.sum() * keep, book.mem("epur.intermediate_memory", im, "write"))
    led.charge("sram", "h_out_bytes", out.sum() * keep, book.mem("epur.intermediate_memory", im, "write"))
    spill = float(im_traffic * spill_frac)
    led.charge("dram", "dram_weight_bytes", dram, book.dram())
    led.charge("dram", "spill_bytes", spill, book.dram())
    if spill:
        cycles = max(cycles, (dram + spill) / bpc)

    seconds = cycles / hw.chip.frequency.si
    charge_static(led, seconds, book)
    stats = {
        "compute_units_used": cus,
        "dpu_cycles": float(dpu.sum()),
        "mu_cycles": float(mu.sum()),
        "bnn_cycles": float(bnn.sum()),
        "control_cycles": float(ctl.sum()),
        "busy_cycles": float(busy.sum()),
        "dram_cycles": (dram + spill) / bpc,
        "dram_weight_bytes": dram,
        "weight_buffer_reads": float(reads.sum()),
        "weight_footprint_bytes": footprint,
        "weight_buffer_bytes": capacity,
        "weights_fit": bool(footprint <= capacity),
        "residency": mode,
        "weights_resident": mode == "resident",
        "sequences_at_once": S,
        "weight_loads": loads,
        "mwl_steps": mwl,
        "intermediate_working_set_bytes": float(working),
        "intermediate_memory_bytes": im.capacity.si,
        "spill_bytes": spill,
        "memo_skip_assumed_shared": bool(plan is not None and S > 1 and "memo.computed" in lt.counters),
    }
    if shape.P:  # reports of layers without a projection keep their keys
        stats["projection_dpu_cycles"] = float(prj.sum())
    cost = LayerCost(lt.key, lt.layer, lt.direction, lt.cell, lt.steps, cycles, seconds, led.provenance(), stats)
    return cost, rd.unpriced()
