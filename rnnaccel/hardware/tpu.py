"""TPU-like accelerator: a weight-stationary systolic array of ``R x C`` MACs (TPU v1: 256 x 256
int8, 700 MHz), weights streamed from DRAM ("Weight Memory") through a weight FIFO, activations in
a unified buffer, 32-bit accumulators, an activation pipeline.

One step of a (layer, direction) is two GEMMs, ``x_t W_ih^T`` (K = D) and ``h_{t-1} W_hh^T``
(K = H), both with N = gates*H outputs, on ``b = active[t]`` rows:

    tiles     = ceil(N / C) * (ceil(D / R) + ceil(H / R))
    chunks    = ceil(b / acc_rows_per_pass)       (a pass streams at most acc_rows_per_pass rows)
    passes    = tiles * chunks                    (each pass loads its weight tile)
    wf        = ceil(wb / native) * ceil(ab / native)   (TPU v1: 8x16 half speed, 16x16 quarter)
    dram_t    = weight_bytes[t] * chunks
    load      = max(weight_shift_cycles * ceil(wb / native), dram_t / passes / B)
    pass time = max(rows_in_pass * wf, load)       (tile loads double-buffered behind streaming)
    step_t    = sum over passes + (R + C) fill/drain + vector_ops[t] / activation.ops_per_cycle
                + precision.reexec_macs[t] * wf_nominal / (R * C)
    cycles    = sum_t max(step_t, bnn_t, control_t)

``wb, ab`` of a step are the widest ``mac.<wb>x<ab>`` counter with a nonzero count at that step; a
step with no MACs issues no pass. ``B = dram.bandwidth / frequency``.
"""
from __future__ import annotations

import numpy as np

from ..emulator.trace import LayerTrace
from .common import Reader, charge_bnn, charge_control, charge_macs, charge_static, charge_vector_ops, gates
from .pricing import PriceBook
from .report import LayerCost, Ledger
from .schema import HwConfig, TpuArch

__all__ = ["tpu_layer", "tpu_tiles", "tpu_passes"]


def _cdiv(a, b):
    return -(-a // b)


def tpu_tiles(arch: TpuArch, cell: str, input_size: int, hidden_size: int) -> tuple[int, int]:
    """``(col_tiles, k_tiles)`` of one step's weight matrices on the array."""
    R, C = arch.array_rows.value, arch.array_cols.value
    n = gates(cell) * hidden_size
    return _cdiv(n, C), _cdiv(input_size, R) + _cdiv(hidden_size, R)


def tpu_passes(arch: TpuArch, cell: str, input_size: int, hidden_size: int, rows: int) -> int:
    """Array passes one step takes for ``rows`` running sequences (0 rows: no pass)."""
    col, k = tpu_tiles(arch, cell, input_size, hidden_size)
    return col * k * _cdiv(rows, arch.acc_rows_per_pass.value)


def tpu_layer(lt: LayerTrace, hw: HwConfig, book: PriceBook, weights_resident: bool = False
              ) -> tuple[LayerCost, list[str]]:
    """Price one (layer, direction). ``weights_resident`` is ignored: a TPU v1 holds no weights on
    chip beyond the FIFO, every pass streams its tile from DRAM."""
    a: TpuArch = hw.arch
    rd, led = Reader(lt), Ledger()
    R, C, A, nb = a.array_rows.value, a.array_cols.value, a.acc_rows_per_pass.value, a.native_bits.value
    G, H = gates(lt.cell), lt.hidden_size
    col_tiles, k_tiles = tpu_tiles(a, lt.cell, lt.input_size, H)
    tiles = col_tiles * k_tiles
    steps = lt.steps

    groups, reexec = charge_macs(led, rd, book)
    vec = charge_vector_ops(led, rd, book) / hw.activation.ops_per_cycle.value
    bnn = charge_bnn(led, rd, book) / hw.bnn.xnor_bits_per_cycle.value
    ctl = charge_control(led, rd, book) / hw.control.ops_per_cycle.value

    # ---- widths and rows of each step
    wmax, amax = np.zeros(steps), np.zeros(steps)
    for wb, ab, arr in groups:
        wmax = np.where(arr > 0, np.maximum(wmax, wb), wmax)
        amax = np.where(arr > 0, np.maximum(amax, ab), amax)
    issued = wmax > 0
    b = rd.get("active")
    bad = np.flatnonzero(issued & (b <= 0))
    if bad.size:
        raise ValueError(f"trace {lt.key}: step {int(bad[0])} has MACs but no 'active' rows; "
                         "the TPU model needs the active counter")
    wslices = np.ceil(wmax / nb)
    wf = wslices * np.ceil(amax / nb)
    chunks = np.where(issued, np.ceil(b / A), 0.0)
    passes = tiles * chunks

    # ---- time
    bpc = hw.dram.bandwidth.si / hw.chip.frequency.si
    wbytes = rd.get("weight_bytes")
    dram_t = wbytes * chunks
    per_pass_bytes = np.divide(dram_t, passes, out=np.zeros(steps), where=passes > 0)
    load = np.where(issued, np.maximum(a.weight_shift_cycles.value * wslices, per_pass_bytes / bpc), 0.0)
    full = np.where(issued, np.floor(b / A), 0.0)
    rem = np.where(issued, b - full * A, 0.0)
    gemm = tiles * (full * np.maximum(A * wf, load) + (rem > 0) * np.maximum(rem * wf, load))
    fill = np.where(issued, R + C, 0.0)
    wf_nom = _cdiv(lt.weight_bits, nb) * _cdiv(lt.act_bits, nb)
    re_cyc = reexec * wf_nom / (R * C)
    step = gemm + fill + vec + re_cyc
    busy = np.maximum.reduce([step, bnn, ctl]) if steps else np.zeros(0)
    cycles = float(busy.sum())

    # ---- energy of memories
    dram = float(dram_t.sum())
    led.charge("dram", "dram_weight_bytes", dram, book.dram())
    fifo = a.weight_fifo
    led.charge("sram", "dram_weight_bytes", dram, book.mem("tpu.weight_fifo", fifo, "write"))
    led.charge("sram", "dram_weight_bytes", dram, book.mem("tpu.weight_fifo", fifo, "read"))
    ub = a.unified_buffer
    act = rd.get("act_bytes")
    led.charge("sram", f"act_bytes*{col_tiles}coltiles", act.sum() * col_tiles, book.mem("tpu.unified_buffer", ub, "read"))
    led.charge("sram", "h_out_bytes", (b * H * lt.act_bits / 8).sum(), book.mem("tpu.unified_buffer", ub, "write"))
    acc_bytes = (np.where(issued, b, 0.0) * G * H * k_tiles * hw.arith.accumulator_bits.value / 8).sum()
    led.charge("sram", "psum_bytes", acc_bytes, book.mem("tpu.accumulators", a.accumulators, "read"))
    led.charge("sram", "psum_bytes", acc_bytes, book.mem("tpu.accumulators", a.accumulators, "write"))

    seconds = cycles / hw.chip.frequency.si
    charge_static(led, seconds, book)
    stats = {"col_tiles": col_tiles, "k_tiles": k_tiles, "passes": float(passes.sum()),
             "max_passes_per_step": float(passes.max()) if steps else 0.0,
             "gemm_cycles": float(gemm.sum()), "fill_drain_cycles": float(fill.sum()),
             "vector_cycles": float(vec.sum()), "reexec_cycles": float(re_cyc.sum()),
             "bnn_cycles": float(bnn.sum()), "control_cycles": float(ctl.sum()),
             "dram_weight_bytes": dram, "dram_cycles": dram / bpc, "weights_resident": False}
    cost = LayerCost(lt.key, lt.layer, lt.direction, lt.cell, steps, cycles, seconds, led.provenance(), stats)
    return cost, rd.unpriced()
