"""Counting from facts: the trace's base counters recomputed independently from what each sequence
did (recorded memo decisions, precision widths), memo on a static precision never costs more,
``seq_weight_bytes`` does not depend on the batch, and no counter is ever negative."""

import numpy as np
import pytest
import torch

from rnnaccel.emulator import GRU, LSTM, Trace
from rnnaccel.emulator.config import DatapathConfig
from rnnaccel.emulator.datapath import make_layer_trace, step_counters
from rnnaccel.emulator.facts import DirectionFacts
from rnnaccel.emulator.gates import GATES
from rnnaccel.emulator.hooks import StepUnit
from rnnaccel.emulator.memo import MemoConfig, memo_factory
from rnnaccel.emulator.precision import PrecisionConfig, precision_factory

D, H = 5, 8


def model(cls, seed=0, layers=2):
    torch.manual_seed(seed)
    return cls(D, H, num_layers=layers, bidirectional=True, mode="emulate")


def batch(B=7, T=13, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, D, generator=g).cumsum(1) * 0.3  # slowly varying: memoization reuses
    lengths = torch.tensor([T, 5, 11, 8, 13, 2, 9][:B])
    return x, lengths


def run(m, x, lengths, units):
    m.units = list(units)
    tr = Trace()
    m.emulate(x, lengths, trace=tr)
    return tr


def ceil8(v):
    return (np.asarray(v, dtype=np.int64) + 7) // 8


DYNAMIC = PrecisionConfig(mode="dynamic", ladder=[16, 8, 4], metric="fraction", tau=0.02, thresholds=[0.5, 0.1])


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_counts_recomputed_from_recorded_decisions(cls):
    """mac.*, weight_bytes, seq_weight_bytes and memo.weight_bytes_skipped restated per sequence from the
    memo unit's recorded reuse mask and the precision unit's per-row widths (an independent count)."""
    m, (x, L) = model(cls), batch()
    memo = memo_factory(MemoConfig(predictor="bnn", theta=0.3), record=True)
    prec = precision_factory(DYNAMIC)
    tr = run(m, x, L, [memo, prec])
    assert tr.total("memo.reused") > 0 and len(set(tr.totals()) & {"mac.8x8", "mac.4x4"}) == 2
    G, nb = GATES[m.cell], m.datapath[0].bias.bits
    n_bias = (G * H + (H if m.cell == "gru" else 0)) * nb
    for lt in tr:
        key = (lt.layer, lt.direction)
        reuse = memo.units[key].rec["reuse"].cpu().numpy()  # (T, B, GH), length-sorted rows
        bits = prec.units[key].bits_rows  # (T, B) width each row ran at (0 = not running)
        N = lt.input_size + H
        computed = np.where(bits > 0, G * H - reuse.sum(axis=2), 0)
        macs = {}
        for b in (16, 8, 4):
            macs[f"mac.{b}x{b}"] = (np.where(bits == b, computed, 0) * N).sum(axis=1)
        for k, v in macs.items():
            assert np.array_equal(lt.get(k), v), k
        union = (bits > 0)[:, :, None] & ~reuse  # a weight row is read when any running row computes it
        rows_read = union.any(axis=1).sum(axis=1)
        widest = bits.max(axis=1)
        want = np.where(lt.get("active") > 0, ceil8(rows_read * N * widest + n_bias), 0)
        assert np.array_equal(lt.get("weight_bytes"), want)
        full = np.where(lt.get("active") > 0, ceil8(G * H * N * widest + n_bias), 0)
        assert np.array_equal(lt.get("memo.weight_bytes_skipped"), full - want)
        seq = np.where(bits > 0, ceil8(computed * N * bits + n_bias), 0).sum(axis=1)
        assert np.array_equal(lt.get("seq_weight_bytes"), seq)


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("units", ["plain", "memo", "memo+dynamic", "reexec"])
def test_seq_weight_bytes_do_not_depend_on_the_batch(cls, units):
    """Batch 1 (each sequence alone) vs 7 vs all at once: identical seq_weight_bytes totals; alone,
    seq_weight_bytes equals weight_bytes at every step."""
    m, (x, L) = model(cls, layers=1), batch()
    make = {
        "plain": lambda: [],
        "memo": lambda: [memo_factory("bnn", theta=0.3)],
        "memo+dynamic": lambda: [memo_factory("bnn", theta=0.3), precision_factory(DYNAMIC)],
        "reexec": lambda: [precision_factory(PrecisionConfig(**{**DYNAMIC.to_dict(), "mode": "reexec"}))],
    }[units]
    alone = 0
    for b in range(x.shape[0]):
        tr = run(m, x[b : b + 1], L[b : b + 1], make())
        for lt in tr:
            assert np.array_equal(lt.get("seq_weight_bytes"), lt.get("weight_bytes"))
        alone += tr.total("seq_weight_bytes")
    together = run(m, x, L, make()).total("seq_weight_bytes")
    halves = run(m, x[:3], L[:3], make()).total("seq_weight_bytes") + run(m, x[3:], L[3:], make()).total(
        "seq_weight_bytes"
    )
    assert alone == together == halves
    if units == "plain":
        assert together > run(m, x, L, make()).total("weight_bytes")  # the batch shares its row reads


def test_seq_weight_bytes_without_techniques_and_with_reuse():
    m, (x, L) = model(LSTM), batch()
    plain = run(m, x, L, [])
    for lt in plain:
        dense = step_counters("lstm", m.datapath[lt.layer], lt.input_size, H, [1])["weight_bytes"][0]
        assert np.array_equal(lt.get("seq_weight_bytes"), lt.get("active") * dense)
    memo = run(m, x, L, [memo_factory("bnn", theta=0.3)])
    assert memo.total("memo.reused") > 0
    assert memo.total("seq_weight_bytes") < plain.total("seq_weight_bytes")


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("bits", [16, 8, 4])
@pytest.mark.parametrize("pred", ["bnn", "oracle"])
def test_memo_on_static_precision_never_costs_more(cls, bits, pred):
    """issue 12 item 9: memo-skipped bytes are counted at the width the weights are read at, so
    memoization on top of a static precision never raises weight traffic or energy."""
    from rnnaccel.hardware import estimate, load_hw

    m, (x, L) = model(cls), batch()
    static = PrecisionConfig(mode="static", ladder=[16, 8, 4], bits=bits)
    alone = run(m, x, L, [precision_factory(static)])
    both = run(m, x, L, [memo_factory(pred, theta=0.3), precision_factory(static)])
    assert both.total("memo.reused") > 0
    for la, lb in zip(alone, both):  # per step: read + skipped = what the static run read
        assert np.array_equal(lb.get("weight_bytes") + lb.get("memo.weight_bytes_skipped"), la.get("weight_bytes"))
    for name in ("weight_bytes", "seq_weight_bytes"):
        assert both.total(name) <= alone.total(name)
    hw = load_hw("epur")
    ea, eb = estimate(alone, hw).energy_j, estimate(both, hw).energy_j
    assert sum(eb.values()) <= sum(ea.values())
    assert eb["dram"] <= ea["dram"] * (1 + 1e-12)


def test_facts_compose_in_either_order():
    m, (x, L) = model(GRU), batch()
    a = run(m, x, L, [memo_factory("bnn", theta=0.3), precision_factory(DYNAMIC)]).totals()
    b = run(m, x, L, [precision_factory(DYNAMIC), memo_factory("bnn", theta=0.3)]).totals()
    assert a == b


def test_a_negative_count_or_a_shadowed_base_counter_is_refused():
    cfg = DatapathConfig()
    f = DirectionFacts("lstm", cfg, D, H, [2, 1])
    sats = torch.zeros(2, 4, dtype=torch.int64)
    assert make_layer_trace(0, 0, cfg, f, sats).total("weight_bytes") > 0
    with pytest.raises(RuntimeError, match="base counter 'weight_bytes'"):
        make_layer_trace(0, 0, cfg, f, sats, {"weight_bytes": np.array([-1, -1])})
    with pytest.raises(RuntimeError, match="negative"):
        make_layer_trace(0, 0, cfg, f, sats, {"memo.reused": np.array([3, -1])})
    f.skip_activations(1, sigmoid=10 * H, tanh=0)  # more than the step evaluated: a counting bug
    with pytest.raises(RuntimeError, match="act.sigmoid"):
        make_layer_trace(0, 0, cfg, f, sats)


class _SkipFirstColumn(StepUnit):
    """A made-up technique: at every gate_out call the first gate column is "not computed". It only
    reports the fact; every base count must follow, also combined with a precision unit."""

    def gate_out(self, t, n, cols, z, a, act):
        skip = torch.zeros(a.shape, dtype=torch.bool)
        skip[:, 0] = True
        self.ctx.facts.skip_neurons(t, skip)
        return a


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_a_new_technique_only_reports_facts(cls):
    m, (x, L) = model(cls, layers=1), batch()
    static8 = PrecisionConfig(mode="static", ladder=[16, 8], bits=8)
    calls = 1 if cls is LSTM else 2  # gate_out calls per step (GRU: [r, z] then n)
    for prec in ([], [precision_factory(static8)]):
        base = run(m, x, L, prec)
        new = run(m, x, L, [lambda layer, d, cfg: _SkipFirstColumn()] + prec)
        w = 8 if prec else 16
        for lb, ln in zip(base, new):
            N, n = lb.input_size + H, lb.get("active")
            assert np.array_equal(lb.get(f"mac.{w}x{w}") - ln.get(f"mac.{w}x{w}"), calls * n * N)
            assert np.array_equal(lb.get("weight_bytes") - ln.get("weight_bytes"), (n > 0) * calls * N * w // 8)
            assert np.array_equal(ln.get("memo.weight_bytes_skipped"), (n > 0) * calls * N * w // 8)
            assert np.array_equal(lb.get("seq_weight_bytes") - ln.get("seq_weight_bytes"), n * calls * N * w // 8)
