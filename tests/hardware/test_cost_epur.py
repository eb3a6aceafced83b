"""E-PUR model: a hand-computed tiny case, width scaling, the DRAM rule, memoization savings and
the skip-everything case."""

import copy
import math

import pytest

from rnnaccel.hardware import compare, estimate, load_hw
from rnnaccel.hardware.estimate import dense_layer_trace, layer_chunk_cost
from rnnaccel.hardware.pricing import PriceBook
from rnnaccel.emulator.trace import Trace

J = {"pJ": 1e-12, "nJ": 1e-9}


def test_hand_computed_tiny_lstm(make_lt, make_trace, raw_yaml):
    """LSTM D=2, H=1, 2 steps, batch 1, 16-bit: every joule recomputed from the raw YAML."""
    y = raw_yaml("epur")
    lt = make_lt(
        "lstm",
        D=2,
        H=1,
        steps=2,
        active=1,
        mac__16x16=12,
        weight_bytes=32,
        act_bytes=6,
        act__sigmoid=3,
        act__tanh=2,
        eltwise__mul=3,
        eltwise__add=5,
    )
    rep = estimate(make_trace(lt), "epur")

    book = PriceBook(load_hw("epur"))  # node scaling and static power have their own tests

    def e(p):  # a YAML energy in joules, scaled from its node to the chip node
        s = 1.0 if p["node_nm"] is None else book.energy_factor(p["node_nm"])
        return p["value"] * J[p["unit"]] * s

    a = y["arith"]
    mul16 = e(a["int_mult"]) * 16 * 16 / 32**2
    add = lambda n: e(a["int_add"]) * n / 32  # noqa: E731
    mac = mul16 + add(a["accumulator_bits"]["value"])
    seg = y["activation"]["segment_table"]["read"]
    act = e(seg) * 32 / seg["bits"] + mul16 + add(16)
    ep = y["epur"]
    per_b = lambda mem, op: e(ep[mem][op]) / (ep[mem][op]["bits"] / 8)  # noqa: E731  (access -> per byte)
    dram = 32 * e(y["dram"]["energy"]) / (y["dram"]["energy"]["bits"] / 8)  # fits: footprint fetched once
    sram = (
        64 * per_b("weight_buffer", "read")
        + 32 * per_b("weight_buffer", "write")
        + 2 * 12 * 2 * per_b("input_buffer", "read")  # one 2-byte operand per MAC
        + 2 * 6 * 4 * per_b("input_buffer", "write")  # act_bytes broadcast to 4 CUs
        + (2 * 6 + 2 * 4 * 4) * per_b("intermediate_memory", "read")  # operands + 4 psums x 4 B
        + (2 * 4 * 4 + 2 * 2) * per_b("intermediate_memory", "write")
    )  # psums + h_t (2 B)
    # time: DPU 12 MACs / 64 lanes = 0.1875 cycles; MU 13 ops / 4 per cycle = 3.25 cycles per step
    cycles = 2 * 13 / y["activation"]["ops_per_cycle"]["value"]
    seconds = cycles / (y["chip"]["frequency"]["value"] * 1e6)
    expected = {
        "dram": dram,
        "sram": sram,
        "compute": 24 * mac,
        "activation": 10 * act + 6 * mul16 + 10 * add(16),
        "bnn": 0.0,
        "control": 0.0,
        "static": book.static().joules * seconds,
    }
    assert rep.cycles == pytest.approx(cycles, rel=1e-12)
    assert rep.seconds == pytest.approx(seconds, rel=1e-12)
    for comp, v in expected.items():
        assert rep.energy_j[comp] == pytest.approx(v, rel=1e-12, abs=1e-30), comp
    assert rep.per_layer[0].stats["weights_fit"] and rep.unpriced == []
    # provenance: every entry is count x price, and entries add up to the component
    for comp, entries in rep.provenance.items():
        for ent in entries:
            assert ent["joules"] == pytest.approx(ent["count_value"] * ent["price_value"], rel=1e-12)
        assert sum(x["joules"] for x in entries) == pytest.approx(rep.energy_j[comp], rel=1e-12)
    names = {x["count"] for x in rep.provenance["compute"]}
    assert names == {"mac.16x16"}


def _hw_with(rule=None, **arch):
    d = load_hw("epur").to_dict()
    if rule:
        d["epur"]["mac_time_rule"] = rule
    for k, v in arch.items():
        d["epur"][k]["value"] = v
    return load_hw(d)


@pytest.mark.parametrize(
    "rule,time_ratio,mult_widths",
    [
        ("bit_parallel", 0.5, {"8x8": (8, 8), "8x16": (16, 16)}),
        ("bit_serial", 0.5, {"8x8": (16, 8), "8x16": (16, 16)}),
        ("fixed", 1.0, {"8x8": (16, 16), "8x16": (16, 16)}),
    ],
)
def test_halving_width_cuts_mac_time_and_energy(rule, time_ratio, mult_widths, make_lt, make_trace):
    hw = _hw_with(rule)
    M = 64 * 1000
    wide = estimate(make_trace(make_lt(steps=3, mac__16x16=M)), hw)
    narrow = estimate(make_trace(make_lt(steps=3, wb=8, ab=8, mac__8x8=M)), hw)
    assert narrow.per_layer[0].stats["dpu_cycles"] == pytest.approx(time_ratio * wide.per_layer[0].stats["dpu_cycles"])
    assert wide.cycles == pytest.approx(3 * M / 64)  # 16-bit MACs take one lane-cycle in every rule
    # energy per MAC: the multiplier the rule switches (widths a x b) scales with a*b, the accumulator adder does not
    m, a = hw.arith.int_mult, hw.arith.int_add
    acc = hw.arith.accumulator_bits.value
    mac = lambda x, y: m.joules * x * y / m.bits**2 + a.joules * acc / a.bits  # noqa: E731
    assert narrow.energy_j["compute"] / wide.energy_j["compute"] == pytest.approx(
        mac(*mult_widths["8x8"]) / mac(16, 16)
    )
    half = estimate(make_trace(make_lt(steps=3, wb=8, mac__8x16=M)), hw)  # only the weight halved
    assert half.energy_j["compute"] / wide.energy_j["compute"] == pytest.approx(mac(*mult_widths["8x16"]) / mac(16, 16))


def test_dram_rule_fit_vs_stream():
    hw = load_hw("epur")
    cap = hw.arch.weight_buffer.capacity.si * 4
    small = dense_layer_trace("lstm", 256, 256, 1, 10)  # 4*256*512*2 B = 1 MiB: fits
    big = dense_layer_trace("lstm", 1024, 1024, 1, 10)  # 16 MiB: does not fit 4 x 2 MiB
    rs, rb = estimate(Trace([small]), hw), estimate(Trace([big]), hw)
    fs, fb = rs.per_layer[0].stats, rb.per_layer[0].stats
    assert fs["weights_fit"] and fs["weight_footprint_bytes"] <= cap
    assert fs["dram_weight_bytes"] == small.get("weight_bytes")[0]  # fetched once
    assert not fb["weights_fit"]
    mwl = hw.arch.mwl_steps.value  # streamed: recurrent rows every step, input rows once per mwl_steps steps
    assert fb["residency"] == "stream"
    step = big.get("weight_bytes")[0]
    assert fb["dram_weight_bytes"] == pytest.approx(step * (10 * 1024 + math.ceil(10 / mwl) * 1024) / 2048)
    # a bidirectional layer is two LayerTraces: each direction loads its own weights
    rev = dense_layer_trace("lstm", 256, 256, 1, 10, direction=1)
    both = estimate(Trace([small, rev]), hw)
    assert both.energy_j["dram"] == pytest.approx(2 * rs.energy_j["dram"])


def test_streamed_chunk_reads_input_weights_once_per_mwl_window():
    """A serving chunk of T steps on a layer that does not fit fetches W_hh every step and W_ih
    ceil(T / mwl_steps) times (MWL over the chunk); a one-step chunk (cellular batching) every step."""
    hw = load_hw("epur")
    mwl = hw.arch.mwl_steps.value
    D = H = 1024  # 16 MiB: streams
    one = layer_chunk_cost(hw, "lstm", D, H, 4, 1)
    assert one.stats["residency"] == "stream"
    row = one.stats["dram_weight_bytes"]  # W_ih + W_hh, once
    for T in (1, 7, mwl, mwl + 3):
        c = layer_chunk_cost(hw, "lstm", D, H, 4, T)
        ih_fetches = math.ceil(T / mwl)
        assert c.stats["dram_weight_bytes"] == pytest.approx(row * (T * H + ih_fetches * D) / (D + H))
        assert c.stats["mwl_steps"] == mwl
    cellular = sum(layer_chunk_cost(hw, "lstm", D, H, 4, 1).stats["dram_weight_bytes"] for _ in range(7))
    assert layer_chunk_cost(hw, "lstm", D, H, 4, 7).stats["dram_weight_bytes"] < 0.6 * cellular
    fits = layer_chunk_cost(hw, "lstm", 256, 256, 4, 7)  # a layer that fits: fetched once, no window
    assert fits.stats["residency"] == "layer" and fits.stats["mwl_steps"] == 1


def test_memoization_savings_show_through_trace(make_lt, make_trace):
    """Fewer weight_bytes and MACs (skipped rows) cost less SRAM/compute and less time; the BNN
    shows up as its own component."""
    D, H, T = 64, 64, 8
    G, N = 4, 128
    full_w = G * H * N * 2
    base = make_lt(
        "lstm",
        D,
        H,
        T,
        active=1,
        mac__16x16=G * H * N,
        weight_bytes=full_w,
        act_bytes=N * 2,
        act__sigmoid=3 * H,
        act__tanh=2 * H,
        eltwise__mul=3 * H,
        eltwise__add=5 * H,
    )
    skip = full_w // 4  # a quarter of the rows reused at every step
    memo = make_lt(
        "lstm",
        D,
        H,
        T,
        active=1,
        mac__16x16=G * H * N * 3 // 4,
        weight_bytes=full_w - skip,
        memo__weight_bytes_skipped=skip,
        memo__computed=G * H * 3 // 4,
        memo__reused=G * H // 4,
        act_bytes=N * 2,
        act__sigmoid=3 * H,
        act__tanh=2 * H,
        eltwise__mul=3 * H,
        eltwise__add=5 * H,
        memo__bnn_xnor=G * H * N,
        memo__bnn_popcount=G * H,
        memo__bnn_bits_read=G * H * N,
        memo__buffer_reads=G * H,
        memo__buffer_writes=G * H * 3 // 4,
    )
    hw = _hw_with(None)
    rb, rm = estimate(make_trace(base), hw), estimate(make_trace(memo), hw)
    assert rm.energy_j["sram"] < rb.energy_j["sram"] and rm.energy_j["compute"] < rb.energy_j["compute"]
    assert rm.energy_j["bnn"] > 0 == rb.energy_j["bnn"]
    assert rm.per_layer[0].stats["weight_footprint_bytes"] == full_w  # skipped bytes count in the footprint
    c = compare(rb, rm)
    assert c["speedup"] > 1.0 and c["energy_saving"] > 0.0
    assert c["saved_j"]["compute"] == pytest.approx(rb.energy_j["compute"] / 4)


@pytest.mark.parametrize("hw", ["epur", "tpu"])
def test_skipping_every_neuron_leaves_bnn_control_static(hw, make_lt, make_trace):
    lt = make_lt(
        "lstm",
        32,
        32,
        5,
        memo__weight_bytes_skipped=4 * 32 * 64 * 2,
        memo__reused=128,
        memo__computed=0,
        memo__bnn_xnor=128 * 64,
        memo__bnn_popcount=128,
        memo__bnn_bits_read=128 * 64,
        memo__buffer_reads=128,
        precision__compares=32,
        precision__counter_ops=32,
        precision__bits=8,
    )
    rep = estimate(make_trace(lt), hw)
    e = rep.energy_j
    assert e["compute"] == e["activation"] == 0.0
    assert e["bnn"] > 0 and e["control"] > 0 and e["static"] > 0 and rep.cycles > 0
    assert rep.unpriced == []
    if hw == "epur":  # resident weights are preloaded once, never read: no weight-buffer read is charged
        s = rep.per_layer[0].stats
        assert (
            s["weight_buffer_reads"] == 0 and s["dram_weight_bytes"] == s["weight_footprint_bytes"] == 4 * 32 * 64 * 2
        )


def test_weights_resident_and_reexec(make_lt, make_trace):
    from rnnaccel.hardware import layer_chunk_cost

    cold = layer_chunk_cost("epur", "gru", 128, 128, 4, 20)
    warm = layer_chunk_cost("epur", "gru", 128, 128, 4, 20, weights_resident=True)
    assert warm.energy_j["dram"] == 0 < cold.energy_j["dram"] and warm.cycles <= cold.cycles
    assert cold.stats["compute_units_used"] == 3  # a GRU keeps one CU per gate busy
    # precision.reexec_macs: extra MACs at the nominal width, extra DPU time
    a = estimate(make_trace(make_lt(steps=2, mac__8x8=6400)), "epur")
    b = estimate(make_trace(make_lt(steps=2, mac__8x8=6400, precision__reexec_macs=640)), "epur")
    assert b.energy_j["compute"] > a.energy_j["compute"] and b.cycles > a.cycles


def test_unknown_counter_is_reported_not_priced(make_lt, make_trace):
    rep = estimate(make_trace(make_lt(mac__16x16=10, frobs=3, sat__acc=2)), "epur")
    assert rep.unpriced == ["frobs"]


def test_unknown_cell_rejected(make_lt, make_trace):
    with pytest.raises(ValueError, match="a trace of 'rnn' layers cannot be priced"):
        estimate(make_trace(make_lt("rnn", mac__16x16=1)), "epur")


def test_config_is_not_mutated():
    hw = load_hw("epur")
    before = copy.deepcopy(hw.to_dict())
    estimate(Trace([dense_layer_trace("lstm", 8, 8, 2, 3)]), hw)
    assert hw.to_dict() == before
