"""The operating point (rnnaccel.hardware.operating + the E-PUR weight rules): sequences at once,
weight residency, the MWL schedule, capacities, and the evaluator's batch size changing nothing."""

import math

import pytest
import torch

from rnnaccel.emulator import LSTM
from rnnaccel.emulator.trace import Trace
from rnnaccel.hardware import estimate, load_hw
from rnnaccel.hardware.operating import CapacityError, merge_runs


def _hw(**epur):
    """The E-PUR table with operating-point / capacity fields replaced (values or {"value": ..})."""
    d = load_hw("epur").to_dict()
    for k, v in epur.items():
        sec, _, leaf = k.partition("__")
        node = d["epur"][sec]
        if leaf:
            node[leaf]["value"] = v
        elif isinstance(node, dict):
            node["value"] = v
        else:
            d["epur"][sec] = v
    return load_hw(d)


def _dense(make_lt, D, H, T, n, layer=0, wbytes=None):
    """A dense LSTM layer trace of ``n`` sequences all running ``T`` steps (16-bit)."""
    wb = wbytes if wbytes is not None else (4 * H * (D + H) * 16 + 4 * H * 16) // 8
    return make_lt(
        "lstm",
        D,
        H,
        T,
        layer=layer,
        active=n,
        mac__16x16=n * 4 * H * (D + H),
        weight_bytes=wb,
        seq_weight_bytes=n * wb,
        act_bytes=n * (D + H) * 2,
        act__sigmoid=n * 3 * H,
        act__tanh=n * 2 * H,
        eltwise__mul=n * 3 * H,
        eltwise__add=n * 5 * H,
    )


def test_network_residency_fetches_each_weight_once(make_lt, make_trace):
    lt = _dense(make_lt, 64, 64, 10, 7)
    wb = lt.get("weight_bytes")[0]
    rep = estimate(make_trace(lt), _hw(sequences_at_once=1, weight_residency="auto"))
    s = rep.per_layer[0].stats
    assert s["residency"] == "network" and s["dram_weight_bytes"] == wb
    assert s["weight_buffer_reads"] == 7 * 10 * wb  # one sequence at a time: each reads every row each step


def test_sequences_at_once_shares_weight_reads(make_lt, make_trace):
    lt = _dense(make_lt, 64, 64, 10, 7)
    wb = lt.get("weight_bytes")[0]
    one = estimate(make_trace(lt), _hw(sequences_at_once=1)).per_layer[0].stats
    three = estimate(make_trace(lt), _hw(sequences_at_once=3)).per_layer[0].stats
    assert one["weight_buffer_reads"] == 7 * 10 * wb
    assert three["weight_buffer_reads"] == math.ceil(7 / 3) * 10 * wb  # 3 hardware batches share each read


def test_layer_residency_refetches_per_hardware_batch(make_lt, make_trace):
    """Two layers that fit one at a time but not together: each layer is fetched once per batch."""
    cap = 4 * load_hw("epur").arch.weight_buffer.capacity.si
    H = 256
    D = int(cap * 0.6 * 8 / (4 * H * 16)) - H  # one layer ~0.6 of the buffers
    l0, l1 = _dense(make_lt, D, H, 3, 5, layer=0), _dense(make_lt, D, H, 3, 5, layer=1)
    rep = estimate(make_trace(l0, l1), _hw(sequences_at_once=2, weight_residency="auto"))
    for lc, lt in zip(rep.per_layer, (l0, l1)):
        assert lc.stats["residency"] == "layer"
        assert lc.stats["dram_weight_bytes"] == math.ceil(5 / 2) * lt.get("weight_bytes")[0]
    with pytest.raises(CapacityError, match="weight_residency=network: the network's weights"):
        estimate(make_trace(l0, l1), _hw(weight_residency="network"))


def test_streamed_layer_follows_the_mwl_schedule(make_lt, make_trace):
    cap = 4 * load_hw("epur").arch.weight_buffer.capacity.si
    D = H = 1024  # 4*1024*2048*2 B = 16 MiB: does not fit 4 x 2 MiB
    lt = _dense(make_lt, D, H, 6, 2)
    wb = lt.get("weight_bytes")[0]
    assert wb > cap
    for mwl in (1, 4):
        rep = estimate(make_trace(lt), _hw(sequences_at_once=1, mwl_steps=mwl))
        s = rep.per_layer[0].stats
        assert s["residency"] == "stream"
        assert s["dram_weight_bytes"] == pytest.approx(2 * wb * (6 * H + math.ceil(6 / mwl) * D) / (D + H))
        assert any("streamed from DRAM" in w for w in rep.warnings)
    with pytest.raises(CapacityError, match="weight_residency=layer: a layer's weights"):
        estimate(make_trace(lt), _hw(weight_residency="layer"))


def test_memo_buffer_capacity_refused_with_the_numbers(make_lt, make_trace):
    H = 4096  # 4 x 4096 gate neurons x 32 bit = 64 KiB > the 32 KiB memo buffer
    lt = make_lt("lstm", 8, H, 2, active=1, memo__computed=4 * H, mac__16x16=1)
    with pytest.raises(CapacityError, match=r"memo buffer too small: 16384 entries .* holds 8192"):
        estimate(make_trace(lt), "epur")


def test_intermediate_memory_spill_is_charged_and_reported(make_lt, make_trace):
    lt = _dense(make_lt, 64, 64, 50, 1)
    fits = estimate(make_trace(lt), _hw()).per_layer[0]
    tiny = estimate(make_trace(lt), _hw(intermediate_memory__capacity=1e-4))  # MiB: ~100 B
    s = tiny.per_layer[0].stats
    assert fits.stats["spill_bytes"] == 0 and s["spill_bytes"] > 0
    assert tiny.energy_j["dram"] > fits.energy_j["dram"]
    assert any("spilled to DRAM" in w for w in tiny.warnings)


def test_evaluator_batch_size_changes_no_figure():
    """The same sequences evaluated in one batch, in batches of 2 and one at a time: every figure equal."""
    torch.manual_seed(0)
    m = LSTM(12, 16, num_layers=2, bidirectional=True, batch_first=True, mode="emulate")
    x = torch.randn(5, 9, 12)
    lengths = torch.tensor([9, 7, 7, 4, 2])
    reports = []
    for bs in (5, 2, 1):
        tr = Trace()
        for i in range(0, 5, bs):
            m(x[i : i + bs], lengths=lengths[i : i + bs], trace=tr)
        for hw in ("epur", "tpu"):
            reports.append((bs, hw, estimate(tr, hw)))
    for hw in ("epur", "tpu"):
        reps = [r for _, h, r in reports if h == hw]
        for r in reps[1:]:
            assert r.cycles == pytest.approx(reps[0].cycles, rel=1e-12)
            for c, j in reps[0].energy_j.items():
                assert r.energy_j[c] == pytest.approx(j, rel=1e-12), (hw, c)


def test_merge_runs_adds_batches_step_by_step(make_lt, make_trace):
    a, b = make_lt(steps=3, active=[2, 2, 1], mac__16x16=[4, 4, 2]), make_lt(steps=2, active=1, mac__16x16=2)
    (m,) = merge_runs(make_trace(a, b))
    assert m.steps == 3 and m.get("active").tolist() == [3, 3, 1] and m.get("mac.16x16").tolist() == [6, 6, 2]
