"""TPU model: array passes per step for a batch, a hand-computed step, operand-width speed."""
import math

import pytest

from rnnaccel.hardware import estimate, load_hw, tpu_passes
from rnnaccel.emulator.trace import Trace

J = {"pJ": 1e-12, "nJ": 1e-9}


def _tpu(acc_rows=None):
    d = load_hw("tpu").to_dict()
    if acc_rows is not None:
        d["tpu"]["acc_rows_per_pass"]["value"] = acc_rows
    return load_hw(d)


def _step(make_lt, rows, D=256, H=256, wb=8, ab=8, steps=1):
    n = rows * 4 * H * (D + H)
    return make_lt("lstm", D, H, steps, wb, ab, active=rows, **{f"mac__{wb}x{ab}": n},
                   weight_bytes=4 * H * (D + H) * wb // 8, act_bytes=rows * (D + H) * ab // 8)


def test_passes_for_batch_sizes_issue_example(make_lt, make_trace):
    """With 256 rows per pass: batch 1 and 256 take the same passes, 257 takes twice as many."""
    hw = _tpu(acc_rows=256)
    p = {b: estimate(make_trace(_step(make_lt, b)), hw).per_layer[0].stats["passes"] for b in (1, 256, 257)}
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


def test_hand_computed_step(make_lt, make_trace, raw_yaml):
    y = raw_yaml("tpu")
    D, H, b = 300, 200, 5
    wbytes = 800 * 500 + 800
    lt = make_lt("lstm", D, H, 1, 8, 8, active=b, mac__8x8=b * 800 * 500, weight_bytes=wbytes,
                 act_bytes=b * 500, act__sigmoid=b * 600, act__tanh=b * 400, eltwise__mul=b * 600,
                 eltwise__add=b * 1000)
    rep = estimate(make_trace(lt), "tpu")
    t = y["tpu"]
    R, C = t["array_rows"]["value"], t["array_cols"]["value"]
    tiles = math.ceil(800 / C) * (math.ceil(D / R) + math.ceil(H / R))
    assert tiles == 12 and rep.per_layer[0].stats["passes"] == tiles
    bpc = y["dram"]["bandwidth"]["value"] * 1e9 / (y["chip"]["frequency"]["value"] * 1e6)
    load = max(t["weight_shift_cycles"]["value"], wbytes / tiles / bpc)
    vec = b * (600 + 400 + 600 + 1000) / y["activation"]["ops_per_cycle"]["value"]
    cycles = tiles * max(b, load) + (R + C) + vec
    seconds = cycles / (y["chip"]["frequency"]["value"] * 1e6)
    assert rep.cycles == pytest.approx(cycles, rel=1e-12)

    s = (28 / 45) ** y["chip"]["energy_node_exponent"]["value"]
    e = lambda p: p["value"] * J[p["unit"]] * s  # noqa: E731
    a = y["arith"]
    mul8 = e(a["int_mult"]) * 8 * 8 / a["int_mult"]["bits"] ** 2
    add = lambda n: e(a["int_add"]) * n / a["int_add"]["bits"]  # noqa: E731
    per_b = lambda m, op: e(t[m][op]) / 8  # noqa: E731
    acc_b = b * 800 * 3 * a["accumulator_bits"]["value"] / 8  # one partial sum per row, output, K tile
    expected = {
        "dram": wbytes * y["dram"]["energy"]["value"] * J["nJ"] / 8,
        "sram": (wbytes * (per_b("weight_fifo", "write") + per_b("weight_fifo", "read"))
                 + b * 500 * 4 * per_b("unified_buffer", "read")  # inputs re-streamed per column tile
                 + b * H * per_b("unified_buffer", "write")
                 + acc_b * (per_b("accumulators", "read") + per_b("accumulators", "write"))),
        "compute": b * 800 * 500 * (mul8 + add(32)),
        "activation": (b * 1000 * (e(y["activation"]["segment_table_read"]) * 16 / 64 + mul8 + add(8))
                       + b * 600 * mul8 + b * 1000 * add(8)),
        "bnn": 0.0, "control": 0.0,
        "static": y["chip"]["static_power"]["value"] * seconds,
    }
    for comp, v in expected.items():
        assert rep.energy_j[comp] == pytest.approx(v, rel=1e-12, abs=1e-30), comp


def test_16bit_operands_run_at_quarter_speed(make_lt, make_trace):
    hw = load_hw("tpu")
    A = hw.arch.acc_rows_per_pass.value
    r8 = estimate(make_trace(_step(make_lt, A)), hw).per_layer[0].stats
    r16 = estimate(make_trace(_step(make_lt, A, wb=16, ab=16)), hw).per_layer[0].stats
    r816 = estimate(make_trace(_step(make_lt, A, wb=8, ab=16)), hw).per_layer[0].stats
    assert r16["gemm_cycles"] == pytest.approx(4 * r8["gemm_cycles"])  # streaming-bound at A rows
    assert r816["gemm_cycles"] == pytest.approx(2 * r8["gemm_cycles"])


def test_small_batch_is_weight_bandwidth_bound(make_lt, make_trace):
    hw = load_hw("tpu")
    st = estimate(make_trace(_step(make_lt, 1, D=1024, H=1024)), hw).per_layer[0].stats
    assert st["gemm_cycles"] == pytest.approx(st["dram_cycles"])


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
