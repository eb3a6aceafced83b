"""TPU-like accelerator: a weight-stationary systolic array of ``R x C`` MACs (TPU v1: 256 x 256
int8, 700 MHz), weights streamed from DRAM ("Weight Memory") through a weight FIFO, activations in
a unified buffer, 32-bit accumulators, an activation pipeline.

A (layer, direction) of ``T`` steps runs two kinds of GEMM with ``N = gates*H`` outputs (and a third
with a projection):

* the **input projection** ``x_t W_ih^T`` (``K = D``), batched over a chunk of
  ``S = projection_chunk_steps`` steps: one GEMM of ``M = sum of the chunk's rows`` per chunk, so
  each ``W_ih`` tile is loaded once per chunk (as a serving system batches it over time);
* the **recurrence** ``h_{t-1} W_hh^T`` (``K = R``: ``H``, or ``P`` for a projected LSTM), one GEMM
  per step on ``b = active[t]`` rows (step t+1 needs h_t);
* an LSTM with ``proj_size = P`` adds the **output projection** ``m_t W_hr^T`` (``N = P``,
  ``K = H``), one GEMM per step after the cell update (it needs ``m_t``; the next step needs its
  output). An Elman RNN is the one-gate case (``N = H``).

Each GEMM follows SCALE-Sim 3's weight-stationary closed form (checked by
:mod:`rnnaccel.hardware.scalesim_check`; SCALE-Sim reports one cycle less per GEMM)::

    folds   = ceil(K / R) * ceil(N / C)
    blocks  = ceil(M / acc_rows_per_pass)          (accumulators hold that many rows per fold)
    compute = folds * (blocks * (weight_shift_cycles*wslices + R + C - 2) + M * wf)
    dram    = W bytes * blocks / B                   (B = DRAM bytes per cycle; FIFO prefetches)
    gemm    = max(compute, dram)

    step_t  = [projection GEMM of the chunk, at its first step] + recurrent GEMM_t [+ W_hr GEMM_t]
              + vector_ops[t] / activation.ops_per_cycle + reexec_macs[t] * wf_nominal / (R * C)
    cycles  = sum_t max(step_t, bnn_t, control_t)

``wf = ceil(wb/native) * ceil(ab/native)`` (TPU v1: 8x16 half speed, 16x16 quarter speed) and
``wslices = ceil(wb/native)`` come from the widest ``mac.<wb>x<ab>`` counter of the step (of the
chunk, for the projection). A step reads each weight row once for all its rows
(``seq_weight_bytes / active``, so the evaluator's batching changes nothing), split into
``W_ih : W_hh : W_hr`` as ``G*H*D : G*H*R : P*H`` (``D : H`` without a projection). With ``S > 1``
the projection runs before memoization decides a step, so it is dense (the whole ``W_ih`` and the
reused neurons' MACs are charged) and its 32-bit sums are parked in the unified buffer until their
step (what does not fit spills to DRAM).
"""

from __future__ import annotations

import numpy as np

from ..emulator.trace import LayerTrace
from .common import (
    Reader,
    charge_bnn,
    charge_control,
    charge_macs,
    charge_static,
    charge_vector_ops,
    gates,
    layer_shape,
)
from .operating import seq_weight_bytes
from .pricing import PriceBook
from .report import LayerCost, Ledger
from .schema import HwConfig, TpuArch

__all__ = ["projection_chunk_steps", "tpu_layer", "tpu_passes", "tpu_tiles", "hr_tiles", "ws_gemm_cycles"]


def _cdiv(a, b):
    return -(-a // b)


def projection_chunk_steps(arch: TpuArch) -> int:
    """Time steps whose input projection is batched into one GEMM (``tpu.projection_chunk_steps``;
    the schema guarantees an int >= 1)."""
    return int(arch.projection_chunk_steps.value)


def ws_gemm_cycles(rows, n: int, k: int, R: int, C: int, shift: int, acc_rows: int, wf=1, wslices=1):
    """Compute cycles of a weight-stationary GEMM of ``rows x k`` by ``k x n`` on an ``R x C``
    array (SCALE-Sim 3's form, plus one; ``rows``, ``wf``, ``wslices`` may be arrays; 0 rows:
    0 cycles). Each of the ``blocks`` row blocks runs every fold: shift its weights in
    (``shift*wslices``), stream its rows (``wf`` cycles each), fill and drain (``R + C - 2``)."""
    folds = _cdiv(k, R) * _cdiv(n, C)
    rows = np.asarray(rows, dtype=np.float64)
    blocks = np.ceil(rows / acc_rows)
    return folds * (blocks * (shift * np.asarray(wslices) + R + C - 2) + rows * np.asarray(wf))


def tpu_tiles(arch: TpuArch, cell: str, input_size: int, hidden_size: int, proj_size: int = 0) -> tuple[int, int]:
    """``(col_tiles, k_tiles)`` of one step's gate weight matrices on the array (``k_tiles`` counts
    the input projection's ``ceil(D/R)`` and the recurrence's ``ceil(H/R)``, ``ceil(P/R)`` for an
    LSTM with ``proj_size = P``; its ``W_hr`` tiles: :func:`hr_tiles`)."""
    R, C = arch.array_rows.value, arch.array_cols.value
    n = gates(cell) * hidden_size
    return _cdiv(n, C), _cdiv(input_size, R) + _cdiv(proj_size or hidden_size, R)


def hr_tiles(arch: TpuArch, hidden_size: int, proj_size: int) -> int:
    """Weight tiles of an LSTM projection ``W_hr`` (P x H): ``ceil(P/C) * ceil(H/R)``; 0 without one."""
    if not proj_size:
        return 0
    return _cdiv(proj_size, arch.array_cols.value) * _cdiv(hidden_size, arch.array_rows.value)


def tpu_passes(arch: TpuArch, cell: str, input_size: int, hidden_size: int, rows: int, proj_size: int = 0) -> int:
    """Weight-tile loads of one step run alone (projection not batched over time) for ``rows``
    running sequences (0 rows: none)."""
    col, k = tpu_tiles(arch, cell, input_size, hidden_size, proj_size)
    return (col * k + hr_tiles(arch, hidden_size, proj_size)) * _cdiv(rows, arch.acc_rows_per_pass.value)


def _per_chunk(values: np.ndarray, chunk: np.ndarray, n: int, how: str) -> np.ndarray:
    out = np.zeros(n)
    (np.add if how == "sum" else np.maximum).at(out, chunk, values)
    return out


def tpu_layer(
    lt: LayerTrace, hw: HwConfig, book: PriceBook, weights_resident: bool = False
) -> tuple[LayerCost, list[str]]:
    """Price one (layer, direction). ``weights_resident`` is ignored: a TPU v1 holds no weights on
    chip beyond the FIFO, every tile load streams from DRAM."""
    return tpu_layer_chunked(lt, hw, book, projection_chunk_steps(hw.arch))


def tpu_layer_chunked(lt: LayerTrace, hw: HwConfig, book: PriceBook, chunk_steps: int) -> tuple[LayerCost, list[str]]:
    """:func:`tpu_layer` with the input projection batched over ``chunk_steps`` steps."""
    if isinstance(chunk_steps, bool) or not isinstance(chunk_steps, int) or chunk_steps < 1:
        raise ValueError(f"projection chunk must be an int >= 1 steps, got {chunk_steps!r}")
    a: TpuArch = hw.arch
    rd, led = Reader(lt), Ledger()
    R, C, A, nb = a.array_rows.value, a.array_cols.value, a.acc_rows_per_pass.value, a.native_bits.value
    shift, S = a.weight_shift_cycles.value, chunk_steps
    shape = layer_shape(rd)
    D, H, Rh, P, steps = shape.D, shape.H, shape.R, shape.P, lt.steps
    N = shape.G * H
    col_tiles, k_tiles = tpu_tiles(a, lt.cell, D, H, P)
    hr_col = _cdiv(P, C)
    gemm = lambda rows, k, wf, ws: ws_gemm_cycles(rows, N, k, R, C, shift, A, wf, ws)

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
        raise ValueError(
            f"trace {lt.key}: step {int(bad[0])} has MACs but no 'active' rows; the TPU model needs the active counter"
        )
    wmax = np.where(issued, wmax, lt.weight_bits)  # a dense projection of a skipped step: nominal
    amax = np.where(issued, amax, lt.act_bits)
    wslices = np.ceil(wmax / nb)
    wf = wslices * np.ceil(amax / nb)
    bpc = hw.dram.bandwidth.si / hw.chip.frequency.si
    acc_b = hw.arith.accumulator_bits.value / 8

    # ---- weight bytes of a step: every active row runs in one GEMM, which reads each weight row once
    #      (the mean sequence's read, batch-independent); W_ih : W_hh : W_hr by their sizes. A batched
    #      projection cannot skip memoized neurons: it reads the whole W_ih (bias left out, < 1 %).
    rd.get("weight_bytes")
    rd.used.add("seq_weight_bytes")
    read = np.divide(seq_weight_bytes(lt), b, out=np.zeros(steps), where=b > 0)
    dense = S > 1
    ih_share, hr_share = shape.ih_share, shape.hr_share
    ih_bytes = (np.maximum(read, shape.weights * wmax / 8) if dense else read) * ih_share
    hh_bytes = read * (1 - ih_share - hr_share)
    hr_bytes = read * hr_share

    # ---- input projection, one GEMM per chunk of S steps
    proj_on = (b > 0) if dense else issued
    chunk = np.arange(steps) // S
    nch = int(chunk[-1]) + 1 if steps else 0
    on = np.flatnonzero(proj_on)
    M = _per_chunk(b[on], chunk[on], nch, "sum")
    wf_c, ws_c = _per_chunk(wf[on], chunk[on], nch, "max"), _per_chunk(wslices[on], chunk[on], nch, "max")
    ih_c = _per_chunk(ih_bytes[on], chunk[on], nch, "max")
    blocks_c = np.ceil(M / A)
    proj_dram = ih_c * blocks_c
    park = M * N * acc_b if dense else np.zeros(nch)  # 32-bit sums wait in the unified buffer
    spill = np.maximum(park - a.unified_buffer.capacity.si, 0.0) if dense else np.zeros(nch)
    proj_compute = gemm(M, D, wf_c, ws_c)
    proj = np.maximum(proj_compute, (proj_dram + 2 * spill) / bpc)
    proj_step = np.zeros(steps)
    proj_step[np.arange(nch) * S] = proj

    # ---- recurrence, one GEMM per step
    rows = np.where(issued, b, 0.0)
    rec_dram = hh_bytes * np.ceil(rows / A)
    rec_compute = gemm(rows, Rh, wf, wslices)
    rec = np.maximum(rec_compute, rec_dram / bpc)

    # ---- an LSTM's output projection m_t W_hr^T (N = P, K = H), one GEMM per step after the cell update
    hr_dram = hr_bytes * np.ceil(rows / A)
    hr_compute = ws_gemm_cycles(rows, P, H, R, C, shift, A, wf, wslices) if P else np.zeros(steps)
    hr = np.maximum(hr_compute, hr_dram / bpc)

    # ---- time
    wf_nom = _cdiv(lt.weight_bits, nb) * _cdiv(lt.act_bits, nb)
    re_cyc = reexec * wf_nom / (R * C)
    step = proj_step + rec + hr + vec + re_cyc
    busy = np.maximum.reduce([step, bnn, ctl]) if steps else np.zeros(0)
    cycles = float(busy.sum())

    # ---- energy: MACs a dense projection computes that memoization had skipped
    if dense:
        led.charge(
            "compute",
            "memo.reused*D",
            (rd.get("memo.reused") * D)[proj_on].sum(),
            book.mac(lt.weight_bits, lt.act_bits),
        )

    # ---- energy of memories
    dram = float(proj_dram.sum() + rec_dram.sum() + hr_dram.sum())
    led.charge("dram", "dram_weight_bytes", dram, book.dram())
    led.charge("dram", "ub_spill_bytes", 2 * spill.sum(), book.dram())
    fifo = a.weight_fifo
    led.charge("sram", "dram_weight_bytes", dram, book.mem("tpu.weight_fifo", fifo, "write"))
    led.charge("sram", "dram_weight_bytes", dram, book.mem("tpu.weight_fifo", fifo, "read"))
    ub = a.unified_buffer
    act = rd.get("act_bytes")
    m_bytes = b * H * lt.act_bits / 8 if P else np.zeros(steps)  # a projection's operand m_t
    led.charge(
        "sram",
        f"act_bytes*{col_tiles}coltiles",
        (act - m_bytes).sum() * col_tiles,
        book.mem("tpu.unified_buffer", ub, "read"),
    )
    led.charge(
        "sram",
        f"proj_operand_bytes*{hr_col}coltiles",
        m_bytes.sum() * hr_col,
        book.mem("tpu.unified_buffer", ub, "read"),
    )
    led.charge(
        "sram", "h_out_bytes", (b * shape.outputs * lt.act_bits / 8).sum(), book.mem("tpu.unified_buffer", ub, "write")
    )
    parked = float((park - spill).sum())
    led.charge("sram", "projection_park_bytes", parked, book.mem("tpu.unified_buffer", ub, "write"))
    led.charge("sram", "projection_park_bytes", parked, book.mem("tpu.unified_buffer", ub, "read"))
    psum = ((M.sum() * _cdiv(D, R) + rows.sum() * _cdiv(Rh, R)) * N + rows.sum() * _cdiv(H, R) * P) * acc_b
    led.charge("sram", "psum_bytes", psum, book.mem("tpu.accumulators", a.accumulators, "read"))
    led.charge("sram", "psum_bytes", psum, book.mem("tpu.accumulators", a.accumulators, "write"))

    seconds = cycles / hw.chip.frequency.si
    charge_static(led, seconds, book)
    folds_ih, folds_hh = _cdiv(D, R) * col_tiles, _cdiv(Rh, R) * col_tiles + hr_tiles(a, H, P)
    loads = folds_ih * blocks_c.sum() + folds_hh * np.ceil(rows / A).sum()
    fill = (R + C - 2) * loads
    stats = {
        "col_tiles": col_tiles,
        "k_tiles": k_tiles,
        "projection_chunk_steps": S,
        "passes": float(loads),
        "projection_gemms": int(np.count_nonzero(M)),
        "projection_cycles": float(proj.sum()),
        "recurrent_cycles": float(rec.sum()),
        "gemm_cycles": float(proj.sum() + rec.sum() + hr.sum()),
        "compute_cycles": float(proj_compute.sum() + rec_compute.sum() + hr_compute.sum()),
        "fill_drain_cycles": float(fill),
        "vector_cycles": float(vec.sum()),
        "reexec_cycles": float(re_cyc.sum()),
        "bnn_cycles": float(bnn.sum()),
        "control_cycles": float(ctl.sum()),
        "dram_weight_bytes": dram,
        "dram_weight_ih_bytes": float(proj_dram.sum()),
        "dram_weight_hh_bytes": float(rec_dram.sum()),
        "dram_cycles": (dram + 2 * float(spill.sum())) / bpc,
        "projection_park_bytes_max": float(park.max()) if nch else 0.0,
        "ub_spill_bytes": float(2 * spill.sum()),
        "weights_resident": False,
    }
    if P:  # reports of layers without a projection keep their keys
        stats.update({"hr_cycles": float(hr.sum()), "dram_weight_hr_bytes": float(hr_dram.sum())})
    cost = LayerCost(lt.key, lt.layer, lt.direction, lt.cell, steps, cycles, seconds, led.provenance(), stats)
    return cost, rd.unpriced()
