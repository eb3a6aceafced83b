"""TPU model: weight-stationary GEMM cycles, the input projection batched over a chunk of steps,
tile loads per batch, operand-width speed, hand-computed steps (counts x the PriceBook's rates)."""

import math

import numpy as np
import pytest

from rnnaccel.emulator.trace import Trace
from rnnaccel.hardware import estimate, load_hw, tpu_passes
from rnnaccel.hardware.pricing import PriceBook
from rnnaccel.hardware.tpu import (
    projection_chunk_steps,
    tpu_layer,
    tpu_layer_chunked,
    ws_gemm_cycles,
)


def _tpu(acc_rows=None, ub_bytes=None):
    d = load_hw("tpu").to_dict()
    if acc_rows is not None:
        d["tpu"]["acc_rows_per_pass"]["value"] = acc_rows
    if ub_bytes is not None:
        d["tpu"]["unified_buffer"]["capacity"].update(value=ub_bytes, unit="B")
    return load_hw(d)


def _price(lt, chunk, hw=None):
    hw = hw or load_hw("tpu")
    return tpu_layer_chunked(lt, hw, PriceBook(hw), chunk)[0]


def _arch(hw):
    a = hw.arch
    return (
        a.array_rows.value,
        a.array_cols.value,
        a.weight_shift_cycles.value,
        a.acc_rows_per_pass.value,
        hw.dram.bandwidth.si / hw.chip.frequency.si,
    )


def _step(make_lt, rows, D=256, H=256, wb=8, ab=8, steps=1):
    n = rows * 4 * H * (D + H)
    return make_lt(
        "lstm",
        D,
        H,
        steps,
        wb,
        ab,
        active=rows,
        **{f"mac__{wb}x{ab}": n},
        weight_bytes=4 * H * (D + H) * wb // 8,
        act_bytes=rows * (D + H) * ab // 8,
    )


def test_ws_gemm_cycles_hand_computed():
    # 2 K-folds x 4 N-folds; one row block: 8 * (256 shift + 256 + 256 - 2 + 5 rows)
    assert ws_gemm_cycles(5, 800, 300, 256, 256, 256, 2048) == 8 * 771
    # 5000 rows in blocks of 2048 -> 3 blocks, each shifts and fills every fold
    assert ws_gemm_cycles(5000, 800, 300, 256, 256, 256, 2048) == 8 * (3 * 766 + 5000)
    # 16-bit weights: 2 shift slices; 16x16: 4 cycles a row
    assert ws_gemm_cycles(5, 800, 300, 256, 256, 256, 2048, wf=4, wslices=2) == 8 * (512 + 510 + 20)
    assert ws_gemm_cycles(0, 800, 300, 256, 256, 256, 2048) == 0
    # non-square array: K folds over the R rows, N over the C columns
    assert ws_gemm_cycles(7, 17, 9, 8, 4, 8, 100) == 2 * 5 * (8 + 8 + 4 - 2 + 7)


def test_passes_for_batch_sizes_issue_example(make_lt):
    """With 256 rows per pass: batch 1 and 256 take the same tile loads, 257 twice as many."""
    hw = _tpu(acc_rows=256)
    p = {b: _price(_step(make_lt, b), 1, hw).stats["passes"] for b in (1, 256, 257)}
    assert p[1] == p[256] == 4 * 2  # N=1024 -> 4 column tiles; K: ceil(256/256) + ceil(256/256)
    assert p[257] == 2 * p[256]


def test_passes_default_accumulator_depth():
    hw = load_hw("tpu")
    A = hw.arch.acc_rows_per_pass.value
    one = tpu_passes(hw.arch, "lstm", 256, 256, 1)
    assert one == tpu_passes(hw.arch, "lstm", 256, 256, A) == 8
    assert tpu_passes(hw.arch, "lstm", 256, 256, A + 1) == 16
    assert tpu_passes(hw.arch, "lstm", 256, 256, 0) == 0
    assert tpu_passes(hw.arch, "gru", 300, 257, 1) == math.ceil(3 * 257 / 256) * (2 + 2)


def test_hand_computed_step(make_lt):
    """One step, projection not batched: two GEMMs, each max(compute, DRAM), plus the activation
    pipeline; energy = each count times the PriceBook's rate."""
    hw = load_hw("tpu")
    book = PriceBook(hw)
    R, C, shift, _A, bpc = _arch(hw)
    D, H, b, N = 300, 200, 5, 800
    wbytes = 800 * 500 + 800
    lt = make_lt(
        "lstm",
        D,
        H,
        1,
        8,
        8,
        active=b,
        mac__8x8=b * 800 * 500,
        weight_bytes=wbytes,
        act_bytes=b * 500,
        act__sigmoid=b * 600,
        act__tanh=b * 400,
        eltwise__mul=b * 600,
        eltwise__add=b * 1000,
    )
    cost = _price(lt, 1, hw)
    proj = max(2 * 4 * (shift + R + C - 2 + b), wbytes * 300 / 500 / bpc)  # K=300: 2 folds x 4
    rec = max(1 * 4 * (shift + R + C - 2 + b), wbytes * 200 / 500 / bpc)
    vec = b * (600 + 400 + 600 + 1000) / hw.activation.ops_per_cycle.value
    assert cost.stats["passes"] == 12
    assert cost.cycles == pytest.approx(proj + rec + vec, rel=1e-12)

    j = lambda rate: rate.joules
    t = hw.arch
    psum = b * N * (2 + 1) * hw.arith.accumulator_bits.value / 8  # one partial sum per row, output, K fold
    expected = {
        "dram": wbytes * j(book.dram()),
        "sram": (
            wbytes * (j(book.mem("w", t.weight_fifo, "write")) + j(book.mem("w", t.weight_fifo, "read")))
            + b * 500 * 4 * j(book.mem("u", t.unified_buffer, "read"))  # inputs per column tile
            + b * H * j(book.mem("u", t.unified_buffer, "write"))
            + psum * (j(book.mem("a", t.accumulators, "read")) + j(book.mem("a", t.accumulators, "write")))
        ),
        "compute": b * 800 * 500 * j(book.mac(8, 8)),
        "static": j(book.static()) * cost.seconds,
    }
    for comp, v in expected.items():
        assert cost.energy_j[comp] == pytest.approx(v, rel=1e-12, abs=1e-30), comp


def _seq(make_lt, active, D=256, H=256, **extra):
    """A dense 8-bit LSTM trace over len(active) steps."""
    n = np.asarray(active)
    wb = 4 * H * (D + H)
    return make_lt(
        "lstm",
        D,
        H,
        len(n),
        8,
        8,
        active=n,
        mac__8x8=n * 4 * H * (D + H),
        weight_bytes=np.where(n > 0, wb, 0),
        act_bytes=n * (D + H),
        **extra,
    )


def test_chunk_of_all_steps_loads_w_ih_once(make_lt):
    """Chunk 1 vs chunk T: the W_ih DRAM bytes fall by T, W_hh bytes do not move, and the
    projection becomes one GEMM of T rows (cycles by the formula)."""
    T, D, H = 8, 256, 256
    hw = load_hw("tpu")
    R, C, shift, _A, bpc = _arch(hw)
    lt = _seq(make_lt, [1] * T, D, H)
    one, all_ = _price(lt, 1, hw).stats, _price(lt, T, hw).stats
    ih = 4 * H * (D + H) * D / (D + H)
    assert one["dram_weight_ih_bytes"] == pytest.approx(T * ih)
    assert all_["dram_weight_ih_bytes"] == pytest.approx(ih)
    assert all_["dram_weight_hh_bytes"] == one["dram_weight_hh_bytes"]
    assert one["projection_gemms"] == T and all_["projection_gemms"] == 1
    folds = 1 * 4
    assert one["projection_cycles"] == pytest.approx(T * max(folds * (shift + R + C - 2 + 1), ih / bpc))
    assert all_["projection_cycles"] == pytest.approx(max(folds * (shift + R + C - 2 + T), ih / bpc))
    assert all_["projection_park_bytes_max"] == T * 4 * H * 4  # T rows x N x 32-bit sums


def test_partial_chunks_and_ragged_rows(make_lt):
    """10 steps in chunks of 4 -> GEMMs of 4, 4, 2 steps; M = the rows of each chunk's steps."""
    active = [3, 3, 2, 2, 2, 1, 1, 1, 1, 1]
    D, H = 64, 32
    hw = load_hw("tpu")
    R, C, shift, _A, bpc = _arch(hw)
    st = _price(_seq(make_lt, active, D, H), 4, hw).stats
    ih = 4 * H * (D + H) * D / (D + H)
    proj = sum(max(1 * 1 * (shift + R + C - 2 + m), ih / bpc) for m in (10, 5, 2))
    assert st["projection_gemms"] == 3
    assert st["projection_cycles"] == pytest.approx(proj)
    assert st["dram_weight_ih_bytes"] == pytest.approx(3 * ih)


def test_projection_time_lands_on_the_chunks_first_step(make_lt):
    """A chunk's projection runs before its first step: with a BNN unit slower than every later
    step, moving the projection would change the total."""
    hw = load_hw("tpu")
    lt = _seq(make_lt, [1, 1], 64, 32)
    lt.add("memo.bnn_xnor", np.array([0, 10**9]))
    cost = _price(lt, 2, hw)
    bnn = 10**9 / hw.bnn.xnor_bits_per_cycle.value
    first = cost.stats["projection_cycles"] + cost.stats["recurrent_cycles"] / 2 + cost.stats["vector_cycles"] / 2
    assert cost.cycles == pytest.approx(first + bnn)


def test_batched_projection_cannot_skip_memoized_neurons(make_lt):
    """With chunk > 1 the projection runs before memoization decides: the skipped W_ih bytes and
    the reused neurons' D MACs are charged back; with chunk 1 the trace's savings stand."""
    D, H, T = 64, 32, 4
    hw = load_hw("tpu")
    book = PriceBook(hw)
    full = 4 * H * (D + H)
    skipped = np.array([0, 48 * (D + H), 48 * (D + H), 0])  # 48 neurons skipped by every row
    reused = np.array([0, 48, 60, 0])
    lt = make_lt(
        "lstm",
        D,
        H,
        T,
        8,
        8,
        active=1,
        mac__8x8=full - reused * (D + H),
        weight_bytes=full - skipped,
        act_bytes=D + H,
        memo__weight_bytes_skipped=skipped,
        memo__reused=reused,
    )
    one, chunked = _price(lt, 1, hw), _price(lt, T, hw)
    share = D / (D + H)
    assert one.stats["dram_weight_ih_bytes"] == pytest.approx((T * full - skipped.sum()) * share)
    assert chunked.stats["dram_weight_ih_bytes"] == pytest.approx(full * share)
    assert chunked.stats["dram_weight_hh_bytes"] == one.stats["dram_weight_hh_bytes"]
    extra = chunked.energy_j["compute"] - one.energy_j["compute"]
    assert extra == pytest.approx(reused.sum() * D * book.mac(8, 8).joules, rel=1e-12)


def test_parked_sums_spill_to_dram_beyond_the_unified_buffer(make_lt):
    D, H, T = 64, 32, 4
    park = T * 4 * H * 4  # T rows x N outputs x 32-bit
    fits, small = _tpu(ub_bytes=park), _tpu(ub_bytes=park - 100)
    lt = _seq(make_lt, [1] * T, D, H)
    a, b = _price(lt, T, fits), _price(lt, T, small)
    assert a.stats["ub_spill_bytes"] == 0 and b.stats["ub_spill_bytes"] == 200  # written and read back
    rate = PriceBook(fits).dram().joules
    assert b.energy_j["dram"] - a.energy_j["dram"] == pytest.approx(200 * rate, rel=1e-12)
    assert _price(lt, 1, small).stats["ub_spill_bytes"] == 0  # chunk 1: nothing parked


def test_16bit_operands_run_at_quarter_speed(make_lt):
    """Rows stream at wf = ceil(wb/8)*ceil(ab/8) cycles; weights shift in ceil(wb/8) slices."""
    hw = load_hw("tpu")
    R, C, shift, A, _bpc = _arch(hw)
    folds = 1 * 4
    for wb, ab, wf, ws in ((8, 8, 1, 1), (16, 16, 4, 2), (8, 16, 2, 1)):
        st = _price(_step(make_lt, A, wb=wb, ab=ab), 1, hw).stats
        assert st["compute_cycles"] == 2 * folds * (ws * shift + R + C - 2 + A * wf), (wb, ab)


def test_small_batch_is_weight_bandwidth_bound(make_lt):
    st = _price(_step(make_lt, 1, D=1024, H=1024), 1).stats
    assert st["gemm_cycles"] == pytest.approx(st["dram_cycles"])
    assert st["compute_cycles"] < st["gemm_cycles"]


def test_bad_chunk_refused(make_lt):
    lt = _step(make_lt, 1)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="projection chunk"):
            _price(lt, bad)


def test_table_chunk_is_what_tpu_layer_uses(make_lt, make_trace):
    """The price table's tpu.projection_chunk_steps reaches the model (and estimate)."""
    lt = _seq(make_lt, [2, 2, 1], 64, 32)
    for S in (1, 3):
        d = load_hw("tpu").to_dict()
        d["tpu"]["projection_chunk_steps"]["value"] = S
        hw = load_hw(d)
        assert projection_chunk_steps(hw.arch) == S
        assert tpu_layer(lt, hw, PriceBook(hw))[0].stats == _price(lt, S, hw).stats
        assert estimate(make_trace(lt), hw).per_layer[0].stats["projection_gemms"] == 3 // S


def test_macs_without_active_rows_rejected(make_lt, make_trace):
    lt = make_lt("lstm", 4, 4, 2, 8, 8, mac__8x8=128, weight_bytes=128)
    with pytest.raises(ValueError, match="no 'active' rows"):
        estimate(make_trace(lt), "tpu")


def test_weights_resident_ignored_on_tpu():
    from rnnaccel.hardware import layer_chunk_cost

    a = layer_chunk_cost("tpu", "lstm", 64, 64, 8, 5)
    b = layer_chunk_cost("tpu", "lstm", 64, 64, 8, 5, weights_resident=True)
    assert a.energy_j == b.energy_j and a.cycles == b.cycles and b.stats["weights_resident"] is False


def test_empty_trace_costs_nothing():
    rep = estimate(Trace(), "tpu")
    assert rep.cycles == 0 and rep.total_j == 0
