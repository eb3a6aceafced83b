"""The precision unit: configs, bit-exactness at the stored width, settling, batch invariance, counts."""

import numpy as np
import pytest
import torch

from rnnaccel.emulator import GRU, LSTM, DatapathConfig, Fmt, Rounding, Trace
from rnnaccel.emulator.datapath import GATES
from rnnaccel.emulator.precision import (
    PrecisionConfig,
    PrecisionUnit,
    available_precision,
    fraction_at_lowest,
    load_precision,
    precision_factory,
    precision_stats,
    register_configs,
)

CELLS = {"lstm": LSTM, "gru": GRU}
# weights calibrated to the format's range, so narrow widths keep meaningful MSBs
CAL = DatapathConfig(weight=Fmt(16, 15), input=Fmt(16, 13))


def _model(cell, dp=CAL, layers=2, bidir=True, seed=0, D=5, H=12):
    torch.manual_seed(seed)
    return CELLS[cell](D, H, num_layers=layers, bidirectional=bidir, mode="emulate", datapath=dp)


# ---------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(ladder=[8, 16, 4]), "strictly decreasing"),
        (dict(ladder=[16, 16]), "strictly decreasing"),
        (dict(ladder=[16, 8, 1]), "below 2 bits"),
        (dict(ladder=[]), "non-empty list"),
        (dict(ladder=[16.0, 8]), "non-empty list of ints"),
        (dict(mode="sometimes"), "precision.mode"),
        (dict(metric="median"), "precision.metric"),
        (dict(mode="dynamic", thresholds=[0.1]), "len(ladder) - 1"),
        (dict(mode="dynamic", thresholds=[0.1, 0.2]), "non-increasing"),
        (dict(mode="dynamic", thresholds=[1.5, 0.2]), "[0, 1]"),
        (dict(tau=-1.0), "precision.tau"),
        (dict(history=0), "precision.history"),
        (dict(bits=1, mode="static"), "precision.bits"),
        (dict(layers=[{"tau": 0.1, "phi": 2}]), "unknown key"),
    ],
)
def test_invalid_configs_are_one_line_errors(kw, msg):
    with pytest.raises(ValueError, match=None) as e:
        PrecisionConfig(**kw)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_ladder_wider_than_stored_weights_is_refused():
    m = _model("lstm", DatapathConfig(weight=Fmt(8, 7)), layers=1, bidir=False)
    for pc, what in (
        (PrecisionConfig(mode="dynamic", ladder=[16, 8, 4]), "precision.ladder=[16, 8, 4]"),
        (PrecisionConfig(mode="static", bits=12), "precision.bits=12"),
    ):
        m.units = [precision_factory(pc)]
        with pytest.raises(ValueError) as e:
            m.emulate(torch.randn(1, 3, 5))
        assert what in str(e.value) and "wider than the stored weights" in str(e.value)
        assert "\n" not in str(e.value)


def test_packaged_configs_load_and_compose_with_hydra():
    names = available_precision()
    assert {"off", "static16", "static8", "static4", "dynamic", "reexec"} <= set(names)
    for n in names:
        assert isinstance(load_precision(n), PrecisionConfig)
    assert load_precision("static8").widths == [8]
    with pytest.raises(ValueError, match="unknown"):
        load_precision("nope")
    with pytest.raises(ValueError, match="precision"):
        load_precision({"ladder": "sixteen"})
    from hydra import compose, initialize_config_module

    register_configs()
    with initialize_config_module(config_module="rnnaccel.conf", version_base=None):
        cfg = compose(overrides=["+precision=dynamic", "precision.thresholds=[0.3,0.1]"])
    pc = load_precision(cfg.precision)
    assert pc.mode == "dynamic" and pc.thresholds == [0.3, 0.1]
    pc = PrecisionConfig(mode="dynamic", layers=[{"tau": 0.5}, {"thresholds": [0.9, 0.8]}])
    assert pc.layer_rule(0) == (0.5, [0.2, 0.05]) and pc.layer_rule(1) == (0.05, [0.9, 0.8])
    assert pc.layer_rule(5) == (0.05, [0.2, 0.05])
    assert [c.widths for c in pc.static_baselines()] == [[16], [8], [4]]


# ---------------------------------------------------------------------------- bit-exactness
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("rounding", ["nearest_even", "stochastic"])
def test_one_width_ladder_at_stored_width_is_the_static_datapath(cell, rounding):
    m = _model(cell, CAL.replace(rounding=Rounding(rounding)))
    x, lengths = torch.randn(3, 7, 5), torch.tensor([4, 7, 2])
    base_tr = Trace()
    plain = m.emulate(x, lengths, trace=base_tr)
    for pc in (
        PrecisionConfig(mode="dynamic", ladder=[16], thresholds=[]),
        PrecisionConfig(mode="static", bits=16),
        PrecisionConfig(mode="reexec", ladder=[16], thresholds=[]),
    ):
        m.units = [precision_factory(pc)]
        tr = Trace()
        r = m.emulate(x, lengths, trace=tr)
        assert torch.equal(r.output, plain.output) and torch.equal(r.h_n, plain.h_n)
        if cell == "lstm":
            assert torch.equal(r.c_n, plain.c_n)
        assert r.saturations == plain.saturations
        for lt, bt in zip(tr, base_tr):
            for k, v in bt.counters.items():
                assert np.array_equal(lt.counters[k], v), k
            extra = set(lt.counters) - set(bt.counters)
            assert all(k.startswith("precision.") or k == "sat.precision" for k in extra)
            assert np.array_equal(lt.counters["precision.steps_at_16"], bt.counters["active"])
            assert set(lt.counters["precision.bits"].tolist()) == {16}
    m.units = [precision_factory("off")]
    assert torch.equal(m.emulate(x, lengths).output, plain.output)


# ---------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("metric", ["fraction", "max", "mean"])
def test_constant_input_settles_to_the_lowest_width(cell, metric):
    m = _model(cell, layers=2, bidir=False, D=4, H=16)
    thr = {"fraction": [0.2, 0.05], "max": [0.2, 0.05], "mean": [0.05, 0.02]}[metric]
    fac = precision_factory(PrecisionConfig(mode="dynamic", ladder=[16, 8, 6], metric=metric, thresholds=thr))
    m.units = [fac]
    x = torch.randn(1, 1, 4).expand(2, 40, 4).clone()
    tr = Trace()
    m.emulate(x, trace=tr)
    for u in fac.units.values():
        assert u.bits_rows[0, 0] == 16  # the first step runs at the widest width
        assert (u.bits_rows[-15:] == 6).all()
    assert fraction_at_lowest(tr) > 0.5
    assert tr.total("precision.steps_at_6") == int(sum(u.final[:, 2].sum() for u in fac.units.values()))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize(
    "mode, rounding", [("dynamic", "stochastic"), ("reexec", "nearest_even"), ("dynamic", "floor")]
)
def test_batch_invariance_with_the_unit_on(cell, mode, rounding):
    m = _model(cell, CAL.replace(rounding=Rounding(rounding)))
    fac = precision_factory(PrecisionConfig(mode=mode, ladder=[16, 8, 4], tau=0.1, thresholds=[0.4, 0.1]))
    m.units = [fac]
    g = torch.Generator().manual_seed(1)
    seq = torch.randn(1, 9, 5, generator=g)
    alone = m.emulate(seq)
    bits_alone = {k: u.bits_rows[:, 0].copy() for k, u in fac.units.items()}
    assert any(len(set(b.tolist())) > 1 for b in bits_alone.values())  # the widths do change
    batch = torch.randn(4, 12, 5, generator=g) * 2
    batch[2, :9] = seq[0]
    batch[2, 9:] = 1e3  # padding is never read
    r = m.emulate(batch, torch.tensor([12, 3, 9, 10]))
    assert torch.equal(r.output[2, :9], alone.output[0]) and torch.equal(r.h_n[:, 2], alone.h_n[:, 0])
    for k, u in fac.units.items():  # rows sorted by length: [12, 10, 9, 3] -> our row is 2
        assert np.array_equal(u.bits_rows[:9, 2], bits_alone[k])
    assert any(len(set(u.bits_rows[3].tolist()) - {0}) > 1 for u in fac.units.values())  # mixed widths in a step


# ---------------------------------------------------------------------------- counts
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("mode", ["dynamic", "reexec", "static"])
def test_trace_counts_are_consistent(cell, mode):
    m = _model(cell)
    pc = PrecisionConfig(
        mode=mode, ladder=[16, 8, 4], bits=8 if mode == "static" else None, tau=0.1, thresholds=[0.4, 0.1]
    )
    fac = precision_factory(pc)
    x, lengths = torch.randn(4, 10, 5), torch.tensor([10, 3, 7, 10])
    base = Trace()
    m.emulate(x, lengths, trace=base)
    m.units = [fac]
    tr = Trace()
    m.emulate(x, lengths, trace=tr)
    G, H, bb = GATES[cell], 12, CAL.bias.bits
    for lt, bt in zip(tr, base):
        D = lt.input_size
        macs = sum(v for k, v in lt.counters.items() if k.startswith("mac."))
        base_macs = sum(v for k, v in bt.counters.items() if k.startswith("mac."))
        assert np.array_equal(macs, base_macs)  # re-executed MACs are not in mac.*
        assert all((v >= 0).all() for k, v in lt.counters.items() if k.startswith("mac."))
        u = fac.units[(lt.layer, lt.direction)]
        steps = sum(lt.get(f"precision.steps_at_{b}") for b in pc.widths)
        assert np.array_equal(steps, lt.get("active"))
        # MACs per width from the rows that computed at it
        for k, b in enumerate(pc.widths):
            assert lt.total(f"mac.{b}x{b}") == int(u.attempt[:, k].sum()) * G * H * (D + H)
        nbias = G * H + (H if cell == "gru" else 0)
        used = u.attempt > 0
        used[:, 0] |= u.redo > 0
        wbits = (used * np.asarray(pc.widths)).max(1) * G * H * (D + H) + nbias * bb
        assert np.array_equal(lt.get("weight_bytes"), (wbits + 7) // 8)
        assert (lt.get("weight_bytes") <= bt.get("weight_bytes")).all()
        assert np.array_equal(lt.get("precision.reexec_macs"), u.redo * G * H * (D + H))
        finals = np.asarray(pc.widths)[np.argmax(u.final > 0, axis=1)]
        assert np.array_equal(lt.get("precision.bits"), finals)
        if mode == "static":
            assert lt.total("precision.compares") == 0 and set(lt.get("precision.bits").tolist()) == {8}
        else:
            assert (lt.get("precision.compares") > 0).all() and (lt.get("precision.counter_ops") > 0).all()
    st = precision_stats(tr)
    assert set(st) == {"L0.d0", "L0.d1", "L1.d0", "L1.d1", "L0", "L1", "all"}
    assert all(abs(sum(v.values()) - 1) < 1e-12 for v in st.values())
    if mode == "reexec":
        assert tr.total("precision.reexec_macs") > 0
    if mode == "dynamic":  # weight_read="each": one read per width used at a step
        m.units = [fac_each := precision_factory(PrecisionConfig(**{**pc.to_dict(), "weight_read": "each"}))]
        tr_each = Trace()
        m.emulate(x, lengths, trace=tr_each)
        for lt in tr_each:
            u = fac_each.units[(lt.layer, lt.direction)]
            wbits = ((u.attempt > 0) * np.asarray(pc.widths)).sum(1) * G * H * (lt.input_size + H) + nbias * bb
            assert np.array_equal(lt.get("weight_bytes"), (wbits + 7) // 8)
        assert tr_each.total("weight_bytes") > tr.total("weight_bytes")  # some step mixed widths


def test_reexec_trial_equals_the_datapath_and_redoes_large_changes():
    m = _model("lstm")
    pc = PrecisionConfig(mode="reexec", ladder=[16, 8, 4], tau=0.1, thresholds=[0.4, 0.1])
    seen, units = {}, {}

    class Rec(PrecisionUnit):
        record_trials = True

        def observe(self, t, n, h_prev, h_new, c_prev, c_new):
            seen.setdefault(id(self), {})[t] = c_new.clone()
            super().observe(t, n, h_prev, h_new, c_prev, c_new)

    m.units = [lambda layer, d, cfg: units.setdefault((layer, d), Rec(pc, layer, d, cfg))]
    m.emulate(torch.randn(3, 10, 5), torch.tensor([10, 8, 5]))
    redone = 0
    for u in units.values():
        assert u.trials
        for t, low, trial, redo in u.trials:
            keep = ~np.isin(low, redo)
            assert torch.equal(trial[torch.from_numpy(keep)], seen[id(u)][t][torch.from_numpy(low[keep])])
            assert (u.bits_rows[t, redo] == 16).all()
            redone += len(redo)
    assert redone > 0
