"""Reports: monotone in every count, JSON-serializable, compare/plot work, the analytic layer chunk
agrees with the trace the emulator records, and the docs hold the current price tables."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnaccel.hardware import COMPONENTS, compare, estimate, layer_chunk_cost, load_hw, plot_breakdown
from rnnaccel.hardware.tables import price_table_markdown
from rnnaccel.emulator.trace import LayerTrace, Trace

COUNTERS = [
    "active",
    "mac.16x16",
    "mac.8x8",
    "weight_bytes",
    "act_bytes",
    "act.sigmoid",
    "act.tanh",
    "eltwise.mul",
    "eltwise.add",
    "memo.bnn_xnor",
    "memo.bnn_popcount",
    "memo.bnn_bits_read",
    "memo.buffer_reads",
    "memo.buffer_writes",
    "memo.computed",
    "memo.weight_bytes_skipped",
    "precision.compares",
    "precision.counter_ops",
    "precision.reexec_macs",
]
HW = {"epur": load_hw("epur"), "tpu": load_hw("tpu")}


def _random_lt(rng, cell, D, H, T, scale):
    lt = LayerTrace(0, 0, cell, D, H, T, 16, 16)
    for name in COUNTERS:
        lo = 1 if name == "active" else 0
        lt.add(name, rng.integers(lo, scale, size=T))
    return lt


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    kind=st.sampled_from(["epur", "tpu"]),
    cell=st.sampled_from(["lstm", "gru"]),
    counter=st.sampled_from(COUNTERS),
    delta=st.integers(1, 10**7),
    scale=st.sampled_from([10, 10**4, 10**7]),
)
def test_more_work_never_costs_less(seed, kind, cell, counter, delta, scale):
    rng = np.random.default_rng(seed)
    T = int(rng.integers(1, 6))
    lt = _random_lt(rng, cell, int(rng.integers(1, 600)), int(rng.integers(1, 600)), T, scale)
    more = LayerTrace(**lt.meta(), counters={k: v.copy() for k, v in lt.counters.items()})
    bump = np.zeros(T, dtype=np.int64)
    bump[int(rng.integers(0, T))] = delta
    more.add(counter, bump)
    a, b = estimate(Trace([lt]), HW[kind]), estimate(Trace([more]), HW[kind])
    assert b.cycles >= a.cycles * (1 - 1e-12)
    for c in COMPONENTS:
        assert b.energy_j[c] >= a.energy_j[c] * (1 - 1e-12), (counter, c)
    assert b.total_j >= a.total_j * (1 - 1e-12)


def test_report_is_json_serializable(tmp_path):
    rng = np.random.default_rng(0)
    tr = Trace([_random_lt(rng, "lstm", 40, 30, 4, 1000), _random_lt(rng, "gru", 30, 20, 4, 1000)])
    tr.layers[1].direction = 1
    for kind in HW:
        rep = estimate(tr, kind)
        text = rep.to_json(tmp_path / f"{kind}.json")
        back = json.loads((tmp_path / f"{kind}.json").read_text())
        assert back == json.loads(text)
        assert back["cycles"] == rep.cycles and back["energy_j"] == rep.energy_j
        assert [x["key"] for x in back["per_layer"]] == ["L0.d0", "L0.d1"]
        assert sum(back["energy_j"].values()) == pytest.approx(back["total_j"])
        # per-layer energies add up to the run, and the run's provenance to its components
        for c in COMPONENTS:
            assert sum(lc["energy_j"][c] for lc in back["per_layer"]) == pytest.approx(back["energy_j"][c])
            assert sum(e["joules"] for e in back["provenance"][c]) == pytest.approx(back["energy_j"][c])
        assert "uJ" in rep.summary()


def test_compare_speedup_and_saving():
    base = estimate(Trace([_lt_dense(8)]), "epur")
    tech = estimate(Trace([_lt_dense(8, scale=0.5)]), "epur")
    c = compare(base, tech)
    assert c["speedup"] == pytest.approx(base.seconds / tech.seconds) and c["speedup"] > 1
    assert c["energy_saving"] == pytest.approx(1 - tech.total_j / base.total_j)
    assert c["energy_ratio"] == pytest.approx(base.total_j / tech.total_j)
    assert compare(base, base)["speedup"] == 1.0 and compare(base, base)["energy_saving"] == 0.0
    with pytest.raises(ValueError):
        compare(base, estimate(Trace(), "epur"))


def _lt_dense(T, scale=1.0):
    lt = LayerTrace(0, 0, "lstm", 64, 64, T, 16, 16)
    G, N = 4, 128
    for name, v in {
        "active": 1,
        "mac.16x16": G * 64 * N * scale,
        "weight_bytes": G * 64 * N * 2 * scale,
        "act_bytes": N * 2,
        "act.sigmoid": 192,
        "act.tanh": 128,
    }.items():
        lt.add(name, np.full(T, int(v)))
    return lt


def test_plot_breakdown_writes_png(tmp_path):
    reps = {
        "base": estimate(Trace([_lt_dense(4)]), "epur"),
        "memo": estimate(Trace([_lt_dense(4, 0.7)]), "epur"),
        "tpu": estimate(Trace([_lt_dense(4)]), "tpu"),
    }
    p = plot_breakdown(reps, tmp_path / "e.png", title="energy")
    assert p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    q = plot_breakdown(reps, tmp_path / "n.svg", normalize_to="base")
    assert q.exists() and q.stat().st_size > 1000
    with pytest.raises(ValueError):
        plot_breakdown({}, tmp_path / "x.png")


@pytest.mark.parametrize("kind", ["epur", "tpu"])
@pytest.mark.parametrize("cell, proj", [("lstm", 0), ("gru", 0), ("rnn_tanh", 0), ("rnn_relu", 0), ("lstm", 3)])
def test_layer_chunk_agrees_with_emulator_trace(kind, cell, proj):
    from rnnaccel.emulator import GRU, LSTM, RNN

    D, H, B, T = 6, 5, 3, 4
    if cell.startswith("rnn"):
        m = RNN(D, H, nonlinearity=cell[4:], batch_first=True, mode="emulate")
    else:
        m = (LSTM if cell == "lstm" else GRU)(
            D, H, batch_first=True, mode="emulate", **({"proj_size": proj} if proj else {})
        )
    tr = Trace()
    m(torch.randn(B, T, D), trace=tr)
    hw = load_hw(kind)
    if kind == "epur":  # an analytic chunk runs its B rows together: the operating point with S >= B
        d = hw.to_dict()
        d["epur"]["sequences_at_once"]["value"] = B
        hw = load_hw(d)
    from_trace = estimate(tr, hw).per_layer[0]
    assert tr.layers[0].cell == cell
    chunk = layer_chunk_cost(hw, cell, D, H, B, T, proj_size=proj)
    assert chunk.cycles == pytest.approx(from_trace.cycles, rel=1e-12)
    for c in COMPONENTS:
        assert chunk.energy_j[c] == pytest.approx(from_trace.energy_j[c], rel=1e-12), c


def test_layer_chunk_rejects_bad_sizes():
    with pytest.raises(ValueError, match="hidden_size must be an int >= 1"):
        layer_chunk_cost("epur", "lstm", 4, 0, 1, 1)


def test_docs_hold_current_price_tables():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cost_model.md").read_text()
    for kind in HW:
        assert price_table_markdown(HW[kind]) in doc, f"regenerate the {kind} table: python -m rnnaccel.hardware.tables"
