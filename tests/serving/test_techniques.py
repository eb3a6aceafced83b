"""Techniques inside the serving simulator: chunk counts from an evaluation trace with memoization
(and precision) on are priced by the same per-layer function as dense chunks."""

import numpy as np
import pytest
import torch

from rnnaccel.emulator import LSTM, Trace
from rnnaccel.emulator.memo import MemoConfig, memo_factory
from rnnaccel.emulator.precision import PrecisionConfig, precision_factory
from rnnaccel.hardware import dense_layer_trace
from rnnaccel.serving import (
    BatchingConfig,
    ChunkCoster,
    NetworkConfig,
    PolicyConfig,
    Requests,
    WorkloadConfig,
    simulate,
)
from rnnaccel.serving.costs import profile_trace
from rnnaccel.serving.techniques import TechniqueProfile

NET = NetworkConfig(cell="lstm", num_layers=2, input_size=16, hidden_size=64)


def _trace(units) -> Trace:
    torch.manual_seed(0)
    m = LSTM(16, 64, num_layers=2, mode="emulate", batch_first=True)
    x = torch.randn(4, 30, 16).cumsum(1) * 0.1  # slowly varying inputs: memoization finds reuse
    m.units = units
    tr = Trace()
    m(x, lengths=torch.tensor([30, 25, 20, 30]), trace=tr)
    return tr


@pytest.fixture(scope="module")
def traces():
    memo = lambda th: [memo_factory(MemoConfig(predictor="bnn", theta=th))]
    return {"dense": _trace([]), "theta0": _trace(memo(0.0)), "theta03": _trace(memo(0.3))}


def _costers(tr, platform):
    return ChunkCoster(platform, NET, techniques=TechniqueProfile.from_trace(tr)), ChunkCoster(platform, NET)


@pytest.mark.parametrize("platform", ["epur", "tpu"])
def test_chunk_costs_with_reuse_are_lower(traces, platform):
    prof = TechniqueProfile.from_trace(traces["theta03"])
    assert prof.summary()["reuse_fraction"] > 0.2
    tech, dense = _costers(traces["theta03"], platform)
    s_t, e_t = tech.network_chunk(8, 16)
    s_d, e_d = dense.network_chunk(8, 16)
    assert e_t.sum() < e_d.sum()
    assert s_t <= s_d * (1 + 1e-12)
    if platform == "epur":  # one sequence's rows at a time: skipped rows are skipped cycles
        assert s_t < 0.7 * s_d


def test_dense_trace_gives_the_dense_chunk(traces):
    prof = TechniqueProfile.from_trace(traces["dense"])
    for layer, d_in in enumerate(NET.layer_inputs()):
        a, b = prof.chunk_trace(layer, 0, np.full(16, 8)), dense_layer_trace("lstm", d_in, 64, 8, 16)
        for k in set(b.counters) | {"seq_weight_bytes"}:
            np.testing.assert_array_equal(a.get(k), b.get(k), err_msg=k)
        # lanes that finish inside the chunk: the dense trace of the same per-step rows
        active = [8] * 5 + [5] * 7 + [2] * 4
        a, b = prof.chunk_trace(layer, 0, active), profile_trace("lstm", d_in, 64, active)
        for k in set(b.counters) | {"seq_weight_bytes"}:
            np.testing.assert_array_equal(a.get(k), b.get(k), err_msg=k)


@pytest.mark.parametrize("platform", ["epur", "tpu"])
def test_threshold_zero_costs_the_dense_chunk_plus_the_predictor(traces, platform):
    tech, dense = _costers(traces["theta0"], platform)
    assert TechniqueProfile.from_trace(traces["theta0"]).summary()["reuse_fraction"] == 0.0
    s_t, e_t = tech.network_chunk(8, 16)
    s_d, e_d = dense.network_chunk(8, 16)
    assert s_t == pytest.approx(s_d, rel=1e-12)
    # every component but the predictor's and the static energy of its time is the dense one
    comps = dict(zip(("dram", "sram", "compute", "activation", "bnn", "control", "static"), range(7)))
    for c in ("dram", "compute", "activation"):
        assert e_t[comps[c]] == pytest.approx(e_d[comps[c]], rel=1e-12), c
    assert e_t[comps["bnn"]] > 0 == e_d[comps["bnn"]]  # the predictor ran and is charged


def test_precision_lowers_the_width_the_chunk_is_charged_at():
    prec = [precision_factory(PrecisionConfig(mode="static", ladder=[16, 8], bits=8))]
    prof = TechniqueProfile.from_trace(_trace(prec))
    assert prof.summary()["mean_weight_bits"] == 8.0
    tech = ChunkCoster("epur", NET, techniques=prof)
    assert tech.network_chunk(4, 16)[1].sum() < ChunkCoster("epur", NET).network_chunk(4, 16)[1].sum()


def test_simulate_reads_the_trace_file_and_refuses_another_network(traces, tmp_path):
    p = tmp_path / "memo.npz"
    traces["theta03"].save_npz(p)
    pol = PolicyConfig(name="ebatch", max_batch=4, steps_min=8, steps_max=16, adaptive=False)
    cfg = BatchingConfig("epur", NET, WorkloadConfig(), pol, techniques=str(p))
    req = Requests(np.zeros(6), [10, 20, 5, 16, 9, 30])
    with_t, without = simulate(cfg, requests=req), simulate(cfg.with_(techniques=None), requests=req)
    with_t.check()
    assert with_t.energy_j.sum() < without.energy_j.sum()
    other = cfg.with_(network={"hidden_size": 32})
    with pytest.raises(ValueError, match="the trace's layer 0 direction 0 is lstm 16->64"):
        simulate(other, requests=req)
    with pytest.raises(ValueError, match="not found"):
        simulate(cfg.with_(techniques=str(tmp_path / "none.npz")), requests=req)
