"""E-PUR-like accelerator: one computation unit (CU) per gate, each a dot-product unit (DPU) of
``dpu_lanes`` multipliers, a weight buffer and an input buffer; multi-functional units (MU) for
activations and element-wise ops; a shared intermediate memory; DRAM. Layers run one after the
other, each over the whole sequence (the MWL schedule: the input-to-hidden products of many steps
are computed while a weight row is resident, the recurrent part step by step).

Timing of step ``t`` of a (layer, direction), with ``U = min(computation_units, gates)`` CUs busy:

    dpu_t  = sum_w mac_w[t] * cpm(wb, ab) / (U * dpu_lanes)        cpm: the MAC time rule
    mu_t   = (act.* + eltwise.*)[t] / activation.ops_per_cycle
    bnn_t  = memo.bnn_xnor[t] / bnn.xnor_bits_per_cycle
    ctl_t  = (precision.compares + precision.counter_ops)[t] / control.ops_per_cycle
    busy_t = max(dpu_t, mu_t, bnn_t, ctl_t)                        (the units run concurrently)

Weights (the DRAM rule): ``footprint = max_t(weight_bytes + memo.weight_bytes_skipped)``. If it
fits the ``U`` weight buffers, every weight byte is fetched from DRAM at most once per layer run:
``dram = min(sum_t weight_bytes, footprint)`` (0 when ``weights_resident``), overlapped with the
whole layer: ``cycles = max(sum_t busy_t, dram / B)``. Otherwise weights stream from DRAM every
step: ``dram_t = weight_bytes[t]`` and ``cycles = sum_t max(busy_t, dram_t / B)``;
``B = dram.bandwidth / frequency`` bytes per cycle.
"""
from __future__ import annotations

import numpy as np

from ..emulator.trace import LayerTrace
from .common import Reader, charge_bnn, charge_control, charge_macs, charge_static, charge_vector_ops, gates
from .pricing import PriceBook
from .report import LayerCost, Ledger
from .schema import EpurArch, HwConfig

__all__ = ["epur_layer", "cycles_per_mac"]


def cycles_per_mac(arch: EpurArch, wb: int, ab: int) -> float:
    """DPU lane-cycles per MAC: ``weight_serial``: wb/base (bit-serial over the weight, Stripes-like);
    ``fused``: wb*ab/base^2 (Bit Fusion-like bricks); ``fixed``: 1 (width never changes time)."""
    base = arch.base_width_bits.value
    if arch.mac_time_rule == "weight_serial":
        return wb / base
    if arch.mac_time_rule == "fused":
        return wb * ab / (base * base)
    return 1.0


def epur_layer(lt: LayerTrace, hw: HwConfig, book: PriceBook, weights_resident: bool = False
               ) -> tuple[LayerCost, list[str]]:
    """Price one (layer, direction). Returns the cost and the counters no rule used."""
    a: EpurArch = hw.arch
    rd, led = Reader(lt), Ledger()
    G, H = gates(lt.cell), lt.hidden_size
    cus = min(a.computation_units.value, G)
    zeros = np.zeros(lt.steps)

    # ---- compute units: DPU, MU, BNN, controller (energy booked by the shared rules)
    groups, reexec = charge_macs(led, rd, book)
    groups = groups + [(lt.weight_bits, lt.act_bits, reexec)]  # re-executed at the nominal widths
    dpu = sum((arr * cycles_per_mac(a, wb, ab) for wb, ab, arr in groups), zeros) / (cus * a.dpu_lanes.value)
    mu = charge_vector_ops(led, rd, book) / hw.activation.ops_per_cycle.value
    bnn = charge_bnn(led, rd, book) / hw.bnn.xnor_bits_per_cycle.value
    ctl = charge_control(led, rd, book) / hw.control.ops_per_cycle.value
    busy = np.maximum.reduce([dpu, mu, bnn, ctl]) if lt.steps else zeros

    # ---- weights: DRAM rule and time
    bpc = hw.dram.bandwidth.si / hw.chip.frequency.si  # DRAM bytes per cycle
    wbytes = rd.get("weight_bytes")
    full = wbytes + rd.get("memo.weight_bytes_skipped")
    footprint = float(full.max()) if lt.steps else 0.0
    capacity = cus * a.weight_buffer.capacity.si
    fits = footprint <= capacity
    if fits:
        dram = 0.0 if weights_resident else float(min(wbytes.sum(), footprint))
        cycles = max(float(busy.sum()), dram / bpc)
    else:
        dram = float(wbytes.sum())
        cycles = float(np.maximum(busy, wbytes / bpc).sum())
    led.charge("dram", "dram_weight_bytes", dram, book.dram())

    # ---- SRAM traffic by buffer
    led.charge("sram", "weight_bytes", wbytes.sum(), book.mem("epur.weight_buffer", a.weight_buffer, "read"))
    led.charge("sram", "dram_weight_bytes", dram, book.mem("epur.weight_buffer", a.weight_buffer, "write"))
    operands = sum((arr * ab / 8 for _, ab, arr in groups), zeros)  # one activation operand per MAC
    led.charge("sram", "mac_operand_bytes", operands.sum(), book.mem("epur.input_buffer", a.input_buffer, "read"))
    act = rd.get("act_bytes")
    led.charge("sram", f"act_bytes*{cus}cu", act.sum() * cus, book.mem("epur.input_buffer", a.input_buffer, "write"))
    active = rd.get("active")
    neurons = rd.get("memo.computed") if "memo.computed" in lt.counters else G * H * active
    psum = neurons * a.partial_sum_bits.value / 8  # MWL partial sums: written, then read back
    out = active * H * lt.act_bits / 8  # h_t of every running sequence
    im = a.intermediate_memory
    led.charge("sram", "act_bytes", act.sum(), book.mem("epur.intermediate_memory", im, "read"))
    led.charge("sram", "psum_bytes", psum.sum(), book.mem("epur.intermediate_memory", im, "read"))
    led.charge("sram", "psum_bytes", psum.sum(), book.mem("epur.intermediate_memory", im, "write"))
    led.charge("sram", "h_out_bytes", out.sum(), book.mem("epur.intermediate_memory", im, "write"))

    seconds = cycles / hw.chip.frequency.si
    charge_static(led, seconds, book)
    stats = {"compute_units_used": cus, "dpu_cycles": float(dpu.sum()), "mu_cycles": float(mu.sum()),
             "bnn_cycles": float(bnn.sum()), "control_cycles": float(ctl.sum()),
             "busy_cycles": float(busy.sum()), "dram_cycles": dram / bpc, "dram_weight_bytes": dram,
             "weight_footprint_bytes": footprint, "weight_buffer_bytes": capacity,
             "weights_fit": bool(fits), "weights_resident": bool(weights_resident and fits)}
    cost = LayerCost(lt.key, lt.layer, lt.direction, lt.cell, lt.steps, cycles, seconds, led.provenance(), stats)
    return cost, rd.unpriced()
