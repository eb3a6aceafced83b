"""Elman RNN cells and LSTM projections on both accelerators: traces the emulator records are priced
with no counter left over, by the written rules (one gate; a ReLU's comparison; the projection's
third GEMM after the cell update, its weights in the footprint and the traffic), and the price
books are cached by table content."""

import dataclasses

import numpy as np
import pytest
import torch

from rnnaccel.emulator import LSTM, RNN
from rnnaccel.emulator.trace import Trace
from rnnaccel.errors import RnnaccelError
from rnnaccel.hardware import estimate, layer_chunk_cost, load_hw, price_book
from rnnaccel.hardware.epur import cycles_per_mac
from rnnaccel.hardware.estimate import dense_layer_trace
from rnnaccel.hardware.operating import weight_footprints
from rnnaccel.hardware.pricing import PriceBook
from rnnaccel.hardware.tpu import ws_gemm_cycles

MODULES = {
    "rnn_tanh": lambda D, H: RNN(D, H, batch_first=True, mode="emulate"),
    "rnn_relu": lambda D, H: RNN(D, H, nonlinearity="relu", batch_first=True, mode="emulate"),
    "lstm_proj": lambda D, H: LSTM(D, H, proj_size=3, batch_first=True, mode="emulate"),
}


def _trace(name, D=6, H=5, B=3, T=4, seed=0):
    torch.manual_seed(seed)
    tr = Trace()
    MODULES[name](D, H)(torch.randn(B, T, D), trace=tr)
    return tr


@pytest.mark.parametrize("kind", ["epur", "tpu"])
@pytest.mark.parametrize("name", list(MODULES))
def test_emulator_traces_are_priced(kind, name):
    tr = _trace(name)
    rep = estimate(tr, kind)
    assert rep.unpriced == [] and rep.cycles > 0 and rep.total_j > 0
    prov = {e["count"]: e for e in rep.per_layer[0].provenance["activation"]}
    if name == "rnn_relu":  # max(0, z): a comparison per unit, no activation-table lookup
        lt = tr.layers[0]
        assert "act.tanh" not in prov and prov["eltwise.max"]["count_value"] == lt.total("eltwise.max") > 0
        assert prov["eltwise.max"]["price_value"] == price_book(load_hw(kind)).add_j(lt.act_bits)
    else:
        assert "eltwise.max" not in prov and prov["act.tanh"]["count_value"] > 0


def test_relu_costs_less_activation_energy_than_tanh():
    """Same shape, same MAC count: the comparator is cheaper than a table lookup + multiply-add."""
    tanh = layer_chunk_cost("epur", "rnn_tanh", 16, 32, 4, 5)
    relu = layer_chunk_cost("epur", "rnn_relu", 16, 32, 4, 5)
    assert relu.energy_j["activation"] < tanh.energy_j["activation"]
    assert relu.energy_j["compute"] == tanh.energy_j["compute"]


def test_rnn_keeps_one_computation_unit_busy():
    """E-PUR maps one gate per CU: an Elman RNN uses one CU's DPU (and weight buffer)."""
    hw = load_hw("epur")
    D, H, B, T = 64, 64, 2, 3
    c = layer_chunk_cost(hw, "rnn_tanh", D, H, B, T)
    assert c.stats["compute_units_used"] == 1
    assert c.stats["weight_buffer_bytes"] == hw.arch.weight_buffer.capacity.si
    lanes = hw.arch.dpu_lanes.value
    assert c.stats["dpu_cycles"] == pytest.approx(T * B * H * (D + H) * cycles_per_mac(hw.arch, 16, 16) / lanes)


def test_epur_projection_runs_after_the_cell_update():
    """MU-bound shape: the projection's DPU time adds to the step instead of hiding under the MU."""
    hw = load_hw("epur")
    D, H, P, B, T = 8, 32, 8, 2, 3
    lt = dense_layer_trace("lstm", D, H, B, T, proj_size=P)
    c = estimate(Trace([lt]), hw).per_layer[0]
    U, lanes = 4, hw.arch.dpu_lanes.value
    prj = P * H * B / (U * lanes)
    dpu = (4 * H * (D + P) + P * H) * B / (U * lanes)
    mu = (lt.get("act.sigmoid") + lt.get("act.tanh") + lt.get("eltwise.mul") + lt.get("eltwise.add"))[0] / 4
    assert mu > dpu  # the case where overlap would hide the projection
    assert c.stats["projection_dpu_cycles"] == pytest.approx(T * prj)
    assert c.stats["busy_cycles"] == pytest.approx(T * (max(dpu - prj, mu) + prj))
    assert c.stats["busy_cycles"] > T * max(dpu, mu)


def test_tpu_projection_is_a_third_gemm():
    hw = load_hw("tpu")
    a = hw.arch
    D, H, P, B, T = 300, 512, 200, 4, 3
    c = layer_chunk_cost(hw, "lstm", D, H, B, T, proj_size=P)
    R, C, A, shift = a.array_rows.value, a.array_cols.value, a.acc_rows_per_pass.value, a.weight_shift_cycles.value
    bpc = hw.dram.bandwidth.si / hw.chip.frequency.si
    # the step's weight read (once for its B rows: one row block), W_hr's share of it (biases spread
    # over the matrices by size, as the W_ih : W_hh split does)
    weights = 4 * H * (D + P) + P * H
    hr_bytes = _weight_bytes(4, D, H, P) * P * H / weights
    per_step = max(float(ws_gemm_cycles(B, P, H, R, C, shift, A, wf=4, wslices=2)), hr_bytes / bpc)
    assert c.stats["hr_cycles"] == pytest.approx(T * per_step)
    assert c.stats["dram_weight_hr_bytes"] == pytest.approx(T * hr_bytes)
    plain = layer_chunk_cost(hw, "lstm", D, H, B, T)
    assert "hr_cycles" not in plain.stats  # reports of unprojected layers keep their keys


def _weight_bytes(G, D, H, P, bits=16, bias_bits=16):
    R = P or H
    return (G * H * (D + R) + P * H) * bits // 8 + G * H * bias_bits // 8


@pytest.mark.parametrize("P, smaller", [(64, True), (200, True), (240, False)])
def test_projection_weight_traffic(P, smaller):
    """W_hh shrinks from 4H x H to 4H x P, W_hr adds P x H: less traffic only while 4(H - P) > P."""
    D, H, B, T = 256, 256, 2, 6
    assert (4 * (H - P) > P) == smaller
    lt = dense_layer_trace("lstm", D, H, B, T, proj_size=P)
    assert weight_footprints(Trace([lt]))[next(iter(weight_footprints(Trace([lt]))))] == _weight_bytes(4, D, H, P)
    stream = load_hw("epur").to_dict()
    stream["epur"]["weight_residency"] = "stream"
    for hw in (load_hw(stream), load_hw("tpu")):
        proj, full = (
            estimate(Trace([dense_layer_trace("lstm", D, H, B, T, proj_size=p)]), hw).per_layer[0] for p in (P, 0)
        )
        assert (proj.stats["dram_weight_bytes"] < full.stats["dram_weight_bytes"]) == smaller, hw.kind
        assert (proj.energy_j["dram"] < full.energy_j["dram"]) == smaller, hw.kind
        if hw.kind == "epur":
            assert proj.stats["weight_buffer_reads"] == T * B * _weight_bytes(4, D, H, P)


def test_projection_size_is_read_from_the_facts():
    lt = _trace("lstm_proj").layers[0]
    bad = dataclasses.replace(lt, counters=dict(lt.counters))
    bad.counters["proj.mac"] = bad.counters["proj.mac"] + np.arange(bad.steps)
    with pytest.raises(RnnaccelError, match="proj.mac is not active"):
        estimate(Trace([bad]), "epur")
    with pytest.raises(ValueError, match="proj_size=3 needs an lstm cell"):
        layer_chunk_cost("epur", "gru", 4, 4, 1, 1, proj_size=3)


def test_price_books_are_cached_by_content():
    hw = load_hw("epur")
    book = price_book(hw)
    assert price_book(load_hw("epur")) is book  # an equal table (another object) shares the book
    assert book.mac(16, 16) is book.mac(16, 16)
    fresh = PriceBook(hw)
    for rate in ("static", "dram", "xnor_bit", "compare"):
        assert getattr(book, rate)() == getattr(fresh, rate)()
    assert book.act(8) == fresh.act(8) and book.popcount(40) == fresh.popcount(40)
    # an edited copy gets its own book and its own prices
    hot = hw.with_value("dram.energy", hw.dram.energy.value * 2)
    assert price_book(hot) is not book
    assert price_book(hot).dram().joules == pytest.approx(2 * book.dram().joules)
    with pytest.raises(dataclasses.FrozenInstanceError):  # tables cannot change under a cached book
        hw.dram = hot.dram
