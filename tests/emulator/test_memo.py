"""Memoization unit: off-equivalence, counters, thresholds, sequence isolation, configuration."""

import numpy as np
import pytest
import torch

from rnnaccel.emulator import GRU, LSTM, Trace
from rnnaccel.emulator.datapath import GATES
from rnnaccel.emulator.memo import MemoConfig, available_memo, load_memo, memo_factory, memo_stats

PREDICTORS = ("bnn", "oracle", "delta")


def model(cls, layers=2, bidir=True, seed=0, D=5, H=8):
    torch.manual_seed(seed)
    return cls(D, H, num_layers=layers, bidirectional=bidir, mode="emulate")


def batch(seed=1, B=4, T=14, D=5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, D, generator=g).cumsum(1) * 0.3  # slowly varying inputs
    return x, torch.tensor([T, 5, 11, 8][:B])


def run(m, x, L, units=()):
    m.units = list(units)
    tr = Trace()
    r = m.emulate(x, L, trace=tr)
    return r, tr


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("pred", PREDICTORS)
@pytest.mark.parametrize("opts", [{}, {"rule": "absolute", "accumulate": True, "cache": "preact"}])
def test_theta_zero_is_bit_identical_to_off(cls, pred, opts):
    m, (x, L) = model(cls), batch()
    off, _ = run(m, x, L)
    r, tr = run(m, x, L, [memo_factory(MemoConfig(predictor=pred, theta=0.0, **opts))])
    assert torch.equal(r.output, off.output) and torch.equal(r.h_n, off.h_n)
    if cls is LSTM:
        assert torch.equal(r.c_n, off.c_n)
    assert tr.total("memo.reused") == 0 and tr.total("memo.computed") > 0
    # a positive theta really changes something on the same input (the test is not vacuous)
    r2, tr2 = run(m, x, L, [memo_factory(MemoConfig(predictor=pred, theta=2.0, **opts))])
    assert tr2.total("memo.reused") > 0 and not torch.equal(r2.output, off.output)


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("pred", PREDICTORS)
def test_counters_are_consistent(cls, pred):
    m, (x, L) = model(cls), batch()
    _, base = run(m, x, L)
    _, tr = run(m, x, L, [memo_factory(pred, theta=0.3)])
    H, G = 8, GATES[m.cell]
    GH = G * H
    for lt, bt in zip(tr, base):
        n = lt.get("active")
        comp, reu = lt.get("memo.computed"), lt.get("memo.reused")
        assert np.array_equal(comp + reu, n * GH)
        assert np.array_equal(comp[:1], n[:1] * GH)  # the first step always computes
        N = lt.input_size + H
        skip = lt.get("memo.weight_bytes_skipped")
        assert np.array_equal(lt.get("weight_bytes") + skip, bt.get("weight_bytes"))
        assert np.all(skip % (N * 16 // 8) == 0) and np.all(skip <= GH * N * 2)
        macs = lambda t: sum(t.get(k) for k in t.counters if k.startswith("mac."))
        assert np.array_equal(macs(bt) - macs(lt), reu * N)
        acts = lambda t: t.get("act.sigmoid") + t.get("act.tanh")
        assert np.array_equal(acts(bt) - acts(lt), reu)  # output caching skips the activation
        writes = lt.get("memo.buffer_writes")
        assert np.array_equal(writes, comp)
        if pred == "bnn":
            assert np.array_equal(lt.get("memo.bnn_xnor"), n * GH * N)
            assert np.array_equal(lt.get("memo.bnn_popcount"), n * GH)
            assert np.array_equal(lt.get("memo.bnn_bits_read"), (n > 0) * GH * N)
            assert lt.get("memo.buffer_reads")[0] == 0 and np.array_equal(lt.get("memo.buffer_reads")[1:], n[1:] * GH)
        else:
            assert lt.total("memo.bnn_xnor") == 0
    s = memo_stats(tr)["total"]
    assert 0 < s["reuse_fraction"] < 1
    assert s["macs_skipped"] == sum(lt.total("memo.reused") * (lt.input_size + lt.hidden_size) for lt in tr)
    assert s["weight_bytes_skipped"] == tr.total("memo.weight_bytes_skipped")


def test_weight_row_skipped_only_when_every_active_row_reuses():
    m, (x, L) = model(LSTM, layers=1, bidir=False), batch()
    f = memo_factory("bnn", theta=0.5, record=True)
    _, tr = run(m, x, L, [f])
    u = f.units[(0, 0)]
    n = tr.layers[0].get("active")
    rows = np.array([int(u.rec["reuse"][t, : n[t]].all(0).sum()) for t in range(len(n))])
    assert rows.sum() > 0
    assert np.array_equal(tr.layers[0].get("memo.weight_bytes_skipped"), rows * (5 + 8) * 16 // 8)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_sequences_are_isolated_in_a_batch(cls):
    m, (x, L) = model(cls), batch()
    units = lambda: [memo_factory("bnn", theta=0.4)]
    r, tr = run(m, x, L, units())
    alone_computed = 0
    for b in range(x.shape[0]):
        ra, ta = run(m, x[b : b + 1, : int(L[b])], L[b : b + 1], units())
        assert torch.equal(ra.output[0], r.output[b, : int(L[b])])
        assert torch.equal(ra.h_n[:, 0], r.h_n[:, b])
        alone_computed += ta.total("memo.computed")
    assert alone_computed == tr.total("memo.computed")
    # different neighbours and a different position in the batch change nothing for sequence 0
    x2 = torch.cat([torch.randn(2, x.shape[1], 5), x[:1]])
    r2, _ = run(m, x2, torch.tensor([3, 14, int(L[0])]), units())
    assert torch.equal(r2.output[2], r.output[0])


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("pred", PREDICTORS)
def test_reused_fraction_grows_with_theta(cls, pred):
    """On a fixed input. Exactly monotone: the first step that may reuse (step 1 of layer 0's forward
    direction, whose state does not depend on theta). Over the whole run it is not a theorem: a
    reuse changes later states and keeps an older b_m (e.g. bnn/LSTM here: 0.4013 reused at
    theta=0.15, 0.3995 at 0.2), so the run fraction is checked to within 1 point, and strictly
    increasing over a coarse grid."""
    m, (x, L) = model(cls), batch()
    thetas = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 4.0)
    trs = [run(m, x, L, [memo_factory(pred, theta=th)])[1] for th in thetas]
    first = [tr.layers[0].get("memo.reused")[1] for tr in trs]
    assert all(a <= b for a, b in zip(first, first[1:])) and first[-1] > 0
    fr = [memo_stats(tr)["total"]["reuse_fraction"] for tr in trs]
    assert fr[0] == 0 and all(b >= a - 0.01 for a, b in zip(fr, fr[1:]))
    coarse = [fr[thetas.index(t)] for t in (0.0, 0.1, 0.5, 4.0)]
    assert all(a < b for a, b in zip(coarse, coarse[1:]))


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_huge_theta_reuses_everything_but_the_first_step_and_cap(cls):
    m, (x, L) = model(cls, layers=1, bidir=False), batch()
    GH = GATES[m.cell] * 8
    _, tr = run(m, x, L, [memo_factory("bnn", theta=1e5)])
    n = tr.layers[0].get("active")
    assert np.array_equal(tr.layers[0].get("memo.computed"), np.r_[n[0] * GH, np.zeros(len(n) - 1, int)])
    _, tr = run(m, x, L, [memo_factory("bnn", theta=1e5, max_reuse=2)])
    comp = tr.layers[0].get("memo.computed")
    assert np.array_equal(comp, np.where(np.arange(len(n)) % 3 == 0, n * GH, 0))


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_bnn_floor_below_two_over_n_reuses_only_unchanged_bnn_outputs(cls):
    """The BNN output of an N-input neuron moves in steps of 2 and |b_m| <= N, so every theta below
    2 / N reuses exactly the neurons whose b did not change (the least reuse short of off; why the
    BYO seq2seq loses accuracy at theta = 0.01, docs/byo.md): the decisions and outputs do not
    depend on theta there, and a theta above it reuses more."""
    m, (x, L) = model(cls, layers=1, bidir=False), batch()
    N = 5 + 8
    f = memo_factory("bnn", theta=0.001, record=True)
    low, tr_low = run(m, x, L, [f])
    rec, n = f.units[(0, 0)].rec, tr_low.layers[0].get("active")
    for t in range(1, len(n)):  # a reused neuron's b equals the one it had at the previous step
        r, sig = rec["reuse"][t, : n[t]], rec["sig"][t - 1 : t + 1, : n[t]]
        assert torch.equal(sig[1][r], sig[0][r])
    high, tr_high = run(m, x, L, [memo_factory("bnn", theta=0.99 * 2 / N)])
    assert torch.equal(low.output, high.output) and tr_low.total("memo.reused") == tr_high.total("memo.reused") > 0
    _, tr_more = run(m, x, L, [memo_factory("bnn", theta=0.5)])
    assert tr_more.total("memo.reused") > tr_low.total("memo.reused")


def test_per_layer_and_per_gate_thresholds():
    m, (x, L) = model(LSTM), batch()
    _, tr = run(m, x, L, [memo_factory("bnn", theta=0.0, per_layer=[None, 1e5])])
    assert [lt.total("memo.reused") > 0 for lt in tr] == [False, False, True, True]
    f = memo_factory("bnn", theta=1e5, per_layer=[{"f": 0.0}], record=True)
    run(m, x, L, [f])
    H = 8
    reuse = f.units[(0, 0)].rec["reuse"]  # datapath order i, f, o, g
    assert not reuse[..., H : 2 * H].any() and reuse[..., :H].any() and reuse[..., 3 * H :].any()
    assert f.units[(1, 0)].rec["reuse"][..., H : 2 * H].any()
    _, tr = run(m, x, L, [memo_factory("bnn", theta=1e5, layers=[1])])
    assert "memo.computed" not in tr.layers[0].counters and tr.layers[2].total("memo.reused") > 0
    with pytest.raises(ValueError, match="do not exist in a GRU"):
        run(model(GRU), x, L, [memo_factory("bnn", per_layer=[{"f": 0.1}])])


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "0.1", 1e30])
def test_bad_thresholds_are_rejected(bad):
    for kw in ({"theta": bad}, {"per_layer": [bad]}, {"per_layer": [{"i": bad}]}):
        with pytest.raises(ValueError) as e:
            MemoConfig(predictor="bnn", **kw)
        msg = str(e.value)
        assert "\n" not in msg and "threshold" in msg and "memo." in msg


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"predictor": "bnnx"}, "memo.predictor"),
        ({"rule": "rel"}, "memo.rule"),
        ({"cache": "z"}, "memo.cache"),
        ({"max_reuse": -1}, "memo.max_reuse"),
        ({"sign_zero": 0}, "memo.sign_zero"),
        ({"theta_frac_bits": 40}, "memo.theta_frac_bits"),
        ({"layers": [-1]}, "memo.layers"),
        ({"per_layer": [{"q": 0.1}]}, "gate 'q' unknown"),
        ({"accumulate": "yes"}, "memo.accumulate"),
    ],
)
def test_bad_options_are_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        MemoConfig(**kw)
    with pytest.raises(ValueError, match="unknown key"):
        MemoConfig.from_dict({"thetaa": 1})


def test_packaged_configs_load_as_hydra_group():
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from rnnaccel.emulator.memo import MemoConfig as MC

    assert available_memo() == ["bnn", "delta", "off", "oracle"]
    assert load_memo("off").predictor == "off" and load_memo("bnn").predictor == "bnn"
    with initialize_config_module(config_module="rnnaccel.conf", version_base=None):
        for name in available_memo():
            cfg = compose(overrides=[f"+memo={name}"])
            c = load_memo(cfg.memo)
            assert c == load_memo(name) and c.predictor == name
            merged = OmegaConf.merge(OmegaConf.structured(MC), cfg.memo)  # the dataclass is the schema
            assert OmegaConf.to_object(merged) == c
    with pytest.raises(ValueError, match="unknown; packaged"):
        load_memo("nope")


def test_per_layer_settings_longer_than_the_model_are_refused_where_attached():
    """memo.per_layer / memo.layers / precision.layers naming layers a module lacks: one line with
    the lengths, from a session and from check_units (the evaluate app's path), never ignored."""
    from rnnaccel.emulator.precision import PrecisionConfig, precision_factory
    from rnnaccel.emulator.session import check_units, session
    from rnnaccel.errors import RnnaccelError

    one = model(LSTM, layers=1)
    too_long = MemoConfig(predictor="bnn", per_layer=[0.1, 0.2])
    with pytest.raises(RnnaccelError, match=r"memo.per_layer has 2 entries but module 'LSTM' has 1 recurrent layer"):
        session(one, memo=too_long)
    with pytest.raises(RnnaccelError, match=r"memo.layers=\[0, 3\] names layer\(s\) \[3\]"):
        check_units([memo_factory(MemoConfig(predictor="bnn", layers=[0, 3]))], model(LSTM), "stack")
    prec = PrecisionConfig(mode="dynamic", layers=[{"tau": 0.1}, {"tau": 0.2}])
    with pytest.raises(RnnaccelError, match="precision.layers has 2 entries but module 'rnn' has 1"):
        check_units([precision_factory(prec)], one, "rnn")
    # as many entries as layers (or fewer) is accepted and runs
    check_units([memo_factory(too_long)], model(LSTM, layers=2), "stack")
    with session(one, memo=MemoConfig(predictor="bnn", per_layer=[0.1])):
        pass
