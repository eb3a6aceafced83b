"""Simulator properties: zero-load latency, padded == E-BATCH on equal lengths, count conservation,
charging through the cost model, bidirectional packing."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnaccel.serving import (
    BatchingConfig,
    ChunkCoster,
    NetworkConfig,
    PolicyConfig,
    Requests,
    WorkloadConfig,
    simulate,
)
from rnnaccel.hardware import HwConfig, layer_chunk_cost, load_hw

NET = NetworkConfig(cell="lstm", num_layers=2, input_size=16, hidden_size=64)
PLATFORMS = ("epur", "tpu")
COSTERS = {p: ChunkCoster(p, NET) for p in PLATFORMS}  # shared: the cost cache outlives examples


def cfg(platform, name, **policy):
    pol = PolicyConfig(
        name=name,
        **{"max_batch": 4, "timeout_s": 0.0, "latency_target_s": 1e6, "steps_min": 8, "steps_max": 64, **policy},
    )
    return BatchingConfig(platform, NET, WorkloadConfig(), pol)


def run(platform, name, req, **policy):
    res = simulate(cfg(platform, name, **policy), requests=req, coster=COSTERS[platform])
    res.check()
    return res


def alone_seconds(platform, n, net=NET, warm=False):
    """Busy time of one sequence on its own, straight from the cost model: layer by layer, whole
    sequence, weights fetched (``warm``: already resident)."""
    dins = [net.input_size] + [net.hidden_size] * (net.num_layers - 1)
    hw = COSTERS[platform].hw
    return sum(layer_chunk_cost(hw, net.cell, d, net.hidden_size, 1, n, weights_resident=warm).seconds for d in dins)


def test_small_network_is_resident_on_epur_and_streams_on_tpu():
    assert COSTERS["epur"].modes == ["network", "network"]  # 2x64 LSTM: far below E-PUR's buffers
    assert COSTERS["tpu"].modes == ["stream", "stream"]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", ["none", "padded", "cellular", "ebatch"])
def test_zero_load_latency_is_single_request_latency(platform, name):
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 60, size=12)
    req = Requests(np.arange(12) * 10.0, lengths)  # far apart: never two in the system
    policy = {"timeout_s": 0.003} if name == "padded" else {}
    stream = run(platform, name, req, **policy)
    alone = run(platform, name, Requests([0.0], [lengths[0]]), **policy)
    assert stream.latency[0] == pytest.approx(alone.latency[0], rel=1e-9)  # empty buffers both times
    # every request's latency is what the cost model says for the policy; on E-PUR the whole
    # network stays resident after the first request (network residency), the TPU always streams
    warm = [platform == "epur" and i > 0 for i in range(len(lengths))]
    want = np.array([alone_seconds(platform, int(n), warm=w) for n, w in zip(lengths, warm)])
    if name in ("none", "ebatch"):  # ebatch: steps_max=64 >= every length, one chunk per request
        np.testing.assert_allclose(stream.latency, want, rtol=1e-9)
    elif name == "padded":  # a lone request waits out the timeout
        np.testing.assert_allclose(stream.latency, want + 0.003, rtol=1e-9)
    else:  # cellular: every layer step is its own chunk; weights fetched once on E-PUR
        hw = COSTERS[platform].hw
        cold = sum(layer_chunk_cost(hw, "lstm", d, 64, 1, 1).seconds for d in (16, 64))
        hot = sum(layer_chunk_cost(hw, "lstm", d, 64, 1, 1, weights_resident=True).seconds for d in (16, 64))
        first = cold + (lengths[0] - 1) * hot
        np.testing.assert_allclose(stream.latency, np.r_[first, lengths[1:] * hot], rtol=1e-9)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("n", [16, 32])
def test_equal_lengths_padded_and_ebatch_coincide(platform, n):
    rng = np.random.default_rng(n)
    arrival = np.cumsum(rng.exponential(alone_seconds(platform, n) / 3, size=60))
    req = Requests(arrival, np.full(60, n))
    pad = run(platform, "padded", req, timeout_s=0.0)
    eb = run(platform, "ebatch", req, steps_max=n, steps_min=n, adaptive=False)
    np.testing.assert_array_equal(pad.finish, eb.finish)
    np.testing.assert_array_equal(pad.energy_j, eb.energy_j)
    assert pad.summary() == {**eb.summary()}
    assert pad.summary()["mean_batch"] > 1.5  # the load really batched


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gaps=st.lists(st.sampled_from([0.0, 1e-5, 1e-4, 1e-3, 1e-2]), min_size=1, max_size=40),
    data=st.data(),
    name=st.sampled_from(["none", "padded", "cellular", "ebatch"]),
    platform=st.sampled_from(PLATFORMS),
    cap=st.integers(1, 5),
    steps=st.sampled_from([8, 16, 64]),
)
def test_no_request_lost_or_served_twice(gaps, data, name, platform, cap, steps):
    lengths = data.draw(st.lists(st.integers(1, 40), min_size=len(gaps), max_size=len(gaps)))
    req = Requests(np.cumsum(gaps), lengths)
    res = run(platform, name, req, max_batch=cap, steps_min=8, steps_max=steps, timeout_s=1e-3, latency_target_s=5e-3)
    assert res.served.tolist() == [1] * len(gaps)
    assert np.isfinite(res.finish).all() and (res.finish > res.arrival).all()
    s = res.summary()
    assert 0.0 <= s["padding_fraction"] < 1.0 and 0.0 <= s["idle_fraction"] <= 1.0
    assert 0.0 < s["utilization"] <= 1.0 + 1e-12
    assert res.busy_s <= res.makespan_s * (1 + 1e-9)


def test_cellular_refetches_per_layer_step_only_when_the_network_does_not_fit():
    # layer residency forced (the table's operating point): every layer step switches weights
    layer_only = ChunkCoster(_forced("layer"), NET)
    assert layer_only.modes == ["layer", "layer"]
    c = cfg("epur", "cellular")
    res = simulate(c, requests=Requests([0.0], [10]), coster=layer_only)
    step = [layer_chunk_cost("epur", "lstm", d, 64, 1, 1) for d in (16, 64)]
    assert res.weight_loads == 2 * 10
    assert res.energy_by_component()["dram"] == pytest.approx(10 * sum(c.energy_j["dram"] for c in step))
    eb = simulate(cfg("epur", "ebatch"), requests=Requests([0.0], [10]), coster=layer_only)
    assert eb.weight_loads == 2  # one fetch per layer for the whole chunk
    assert eb.energy_by_component()["dram"] == pytest.approx(res.energy_by_component()["dram"] / 10)
    # network residency (auto: the 2x64 LSTM fits): cellular fetches each layer once, like E-BATCH
    cel = run("epur", "cellular", Requests([0.0], [10]))
    assert cel.weight_loads == 2
    assert cel.energy_by_component()["dram"] == pytest.approx(eb.energy_by_component()["dram"])


def _forced(residency):
    """The E-PUR table with its operating point's weight residency forced."""
    d = load_hw("epur").to_dict()
    d["epur"]["weight_residency"] = residency
    return HwConfig.from_dict(d)


def test_single_layer_keeps_weights_resident_between_steps():
    net = NetworkConfig(num_layers=1, input_size=16, hidden_size=64)
    c = BatchingConfig("epur", net, WorkloadConfig(), PolicyConfig(name="cellular", max_batch=2))
    res = simulate(c, requests=Requests([0.0], [5]))
    fetch = layer_chunk_cost("epur", "lstm", 16, 64, 1, 1)
    kept = layer_chunk_cost("epur", "lstm", 16, 64, 1, 1, weights_resident=True)
    assert res.weight_loads == 1
    assert res.energy_j.sum() == pytest.approx(fetch.total_j + 4 * kept.total_j, rel=1e-12)


def test_bidirectional_ebatch_packs_whole_sequences():
    net = NetworkConfig(num_layers=2, input_size=8, hidden_size=32, bidirectional=True)
    c = BatchingConfig(
        "tpu", net, WorkloadConfig(), PolicyConfig(name="ebatch", max_batch=2, steps_min=8, steps_max=8, adaptive=False)
    )
    res = simulate(c, requests=Requests([0.0] * 5, [3, 4, 20, 5, 2]))
    res.check()
    # whole sequences only: the 20-step one takes a chunk of 20, nothing is split
    assert res.extra["steps_chunks"] == {8: res.batches}
    with pytest.raises(ValueError, match="cellular"):
        simulate(c.with_(policy={"name": "cellular"}), requests=Requests([0.0], [3]))


def test_trace_file_drives_arrivals(tmp_path):
    p = tmp_path / "trace.txt"
    p.write_text("# arrival_s length\n0.0 5\n0.5, 7\n0.25 3\n")
    c = cfg("tpu", "none").with_(workload={"arrival": "trace", "trace": str(p)})
    res = simulate(c, coster=COSTERS["tpu"])
    res.check()
    assert res.arrival.tolist() == [0.0, 0.25, 0.5] and res.length.tolist() == [5, 3, 7]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_dense_chunks_from_per_row_rates_equal_the_datapath_counts(cell):
    """The coster builds dense chunks as per-row rates x rows (fast for many chunk shapes): every
    counter equals the datapath's own step_counters for the same per-step rows, and so does the price."""
    from rnnaccel.hardware import estimate_layer
    from rnnaccel.serving.costs import active_profile, profile_trace

    net = NetworkConfig(cell=cell, num_layers=2, input_size=24, hidden_size=40, bidirectional=True)
    c = ChunkCoster("epur", net)
    for fills in (None, [16, 16, 9, 3, 1], [16] * 4):
        active = active_profile(len(fills) if fills else 5, 16, fills)
        for layer, d_in in enumerate(net.layer_inputs()):
            got, ref = c._chunk_trace(layer, 1, active), profile_trace(cell, d_in, 40, active)
            for k in set(got.counters) | set(ref.counters):
                np.testing.assert_array_equal(got.get(k), ref.get(k), err_msg=k)
            for hw in ("epur", "tpu"):
                a, b = estimate_layer(got, hw)[0], estimate_layer(ref, hw)[0]
                assert a.seconds == b.seconds and a.energy_j == b.energy_j
