"""The trace: counts match the layer's arithmetic, totals match saturations, serialization round-trips."""

import numpy as np
import pytest
import torch

from rnnaccel.emulator import GRU, LSTM, DatapathConfig, Fmt, Trace


@pytest.mark.parametrize("cell,G", [("lstm", 4), ("gru", 3)])
def test_counts_by_hand(cell, G):
    D, H = 5, 7
    m = (LSTM if cell == "lstm" else GRU)(D, H, bidirectional=True, batch_first=True, mode="emulate")
    tr = Trace()
    lengths = torch.tensor([4, 2, 3])
    m(torch.randn(3, 4, D), lengths=lengths, trace=tr)
    assert len(tr) == 2 and [lt.direction for lt in tr] == [0, 1]
    lt = tr.layers[0]
    assert lt.counters["active"].tolist() == [3, 3, 2, 1]
    assert lt.counters["mac.16x16"].tolist() == [n * G * H * (D + H) for n in (3, 3, 2, 1)]
    n_bias = G * H + (H if cell == "gru" else 0)
    assert lt.counters["weight_bytes"].tolist() == [2 * G * H * (D + H) + 2 * n_bias] * 4
    assert lt.counters["act_bytes"].tolist() == [n * 2 * (D + H) for n in (3, 3, 2, 1)]
    sig, tanh = (3, 2) if cell == "lstm" else (2, 1)
    assert lt.total("act.sigmoid") == 9 * sig * H and lt.total("act.tanh") == 9 * tanh * H
    # the reverse direction does exactly the same work
    assert tr.layers[1].total("mac.16x16") == lt.total("mac.16x16")


def test_mixed_widths_have_separate_mac_counters():
    cfg = DatapathConfig(weight=Fmt(8, 6), input=Fmt(12, 8), hidden=Fmt(16, 15))
    tr = Trace()
    LSTM(3, 4, mode="emulate", datapath=cfg)(torch.randn(1, 2, 3), trace=tr)
    assert tr.total("mac.8x12") == 2 * 4 * 4 * 3 and tr.total("mac.8x16") == 2 * 4 * 4 * 4


def test_saturation_totals_match_trace():
    cfg = DatapathConfig(cell=Fmt(6, 4), input=Fmt(8, 6), hidden=Fmt(8, 7), act_index_bits=5)
    m = LSTM(3, 6, num_layers=2, mode="emulate", datapath=cfg)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(8)
    tr = Trace()
    r = m.emulate(torch.randn(2, 9, 3) * 10, trace=tr)
    assert r.saturations["cell"] > 0 and r.saturations["input"] > 0
    for k, v in r.saturations.items():
        assert tr.total(f"sat.{k}") == v, k


def test_trace_off_records_nothing_and_changes_no_bit():
    m = GRU(3, 5, mode="emulate")
    x = torch.randn(2, 4, 3)
    tr = Trace()
    a = m.emulate(x, trace=tr).output
    b = m.emulate(x).output
    assert torch.equal(a, b) and len(tr) == 1


def test_serialization_round_trip(tmp_path):
    tr = Trace()
    LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, mode="emulate")(
        torch.randn(2, 5, 3), lengths=torch.tensor([5, 3]), trace=tr
    )
    for back in (Trace.from_json(tr.to_json()), Trace.from_dict(tr.to_dict())):
        assert back.totals() == tr.totals()
        assert [lt.meta() for lt in back] == [lt.meta() for lt in tr]
    tr.save_npz(tmp_path / "t.npz")
    back = Trace.load_npz(tmp_path / "t.npz")
    for a, b in zip(tr, back):
        assert a.meta() == b.meta() and a.counters.keys() == b.counters.keys()
        assert all(np.array_equal(a.counters[k], b.counters[k]) for k in a.counters)
    with pytest.raises(ValueError, match="not an rnnaccel trace"):
        Trace.from_dict({"layers": []})


def test_module_names_round_trip_and_append_steps(tmp_path):
    from rnnaccel.emulator.trace import LayerTrace, Trace

    a = LayerTrace(0, 0, "lstm", 4, 3, 2, 16, 16, {"active": np.array([2, 2])}, module="decoder")
    b = LayerTrace(0, 0, "lstm", 4, 3, 1, 16, 16, {"active": np.array([1]), "memo.reused": np.array([5])}, "decoder")
    a.append_steps(b)
    assert a.key == "decoder:L0.d0" and a.steps == 3
    assert a.get("active").tolist() == [2, 2, 1] and a.get("memo.reused").tolist() == [0, 0, 5]
    with pytest.raises(ValueError, match="does not continue"):
        a.append_steps(LayerTrace(0, 0, "lstm", 4, 3, 1, 16, 16, {}, module="encoder"))
    tr = Trace([a, LayerTrace(0, 1, "lstm", 4, 3, 1, 16, 16, {"active": np.array([1])})])
    tr.save_npz(tmp_path / "t.npz")
    for back in (Trace.from_json(tr.to_json()), Trace.load_npz(tmp_path / "t.npz")):
        assert [lt.key for lt in back] == ["decoder:L0.d0", "L0.d1"] and back.modules() == ["decoder", ""]
