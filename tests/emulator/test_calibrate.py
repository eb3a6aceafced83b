"""rnnaccel.calibrate on converted models: ranges per module and class (initial states and step-by-step
calls included), error-minimising formats, activation-table resolution, overrides, refusals."""

import json

import pytest
import torch
from torch import nn

from rnnaccel.emulator import LSTM, DatapathConfig, Fmt
from rnnaccel.emulator.calibrate import TABLE_BUDGET_LSB, calibrate, table_error, table_index_bits
from rnnaccel.emulator.convert import convert, set_mode
from rnnaccel.errors import RnnaccelError

TOL = TABLE_BUDGET_LSB + 1 / 16


def _peaky_lstm() -> LSTM:
    """One LSTM layer whose cell integrates its input (i, f ~ 1, g = tanh(3x)): ordinary sequences
    keep |c| below ~8, a rare constant one drives it past 50."""
    H = 4
    m = LSTM(1, H, batch_first=True)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.weight_ih_l0[2 * H : 3 * H] = 3.0
        m.bias_ih_l0[0:H] = 4.0
        m.bias_ih_l0[H : 2 * H] = 6.0
        m.weight_ih_l0[3 * H :] = 0.5
        m.weight_hh_l0.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
    return m.eval()


def _peaky_batches():
    g = torch.Generator().manual_seed(1)
    return [torch.randn(8, 30, 1, generator=g) * 0.5 for _ in range(3)] + [torch.full((1, 60, 1), 2.0)]


def test_saturating_rare_peaks_beats_covering_them():
    m = _peaky_lstm()
    r = calibrate(m, _peaky_batches(), measure="fakequant")
    mod = r.modules[0]
    layer = mod.layers[0]
    cover = Fmt(16, 9)  # covers the observed ~55
    assert layer.observed_max["cell"] > 50
    assert layer.formats["cell"].frac > cover.frac  # narrower than covering: the peaks saturate
    assert layer.saturation_rate["cell"] > 0 and layer.headroom_bits("cell") < 0
    assert mod.rms_error < 0.5 * mod.rms_error_cover
    assert m.datapath[0].cell == layer.formats["cell"]  # applied
    # the bit-exact datapath agrees: the chosen cell format beats the covering one
    x = torch.cat(_peaky_batches()[:3])
    m.mode = "float"
    want, _ = m(x)
    m.mode = "emulate"
    chosen = (m(x)[0] - want).pow(2).mean()
    m.datapath = m.datapath[0].replace(cell=cover)
    covering = (m(x)[0] - want).pow(2).mean()
    assert chosen < covering


class Seq2Seq(nn.Module):
    """Encoder GRU + a decoder LSTMCell run one token at a time from the encoder's state."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.enc = nn.GRU(5, 6, batch_first=True)
        self.dec = nn.LSTMCell(6, 6)
        self.out = nn.Linear(6, 6)


def _decode(model, batch, c0_scale=3.0, steps=5):
    src = batch
    _, h = model.enc(src)
    h = h[0]
    c = torch.full_like(h, c0_scale)  # a non-zero initial cell state, beyond what the loop reaches
    y = torch.zeros_like(h)
    outs = []
    for _ in range(steps):
        h, c = model.dec(y, (h, c))
        y = torch.tanh(model.out(h))
        outs.append(y)
    return torch.stack(outs, 1)


def test_decoder_called_step_by_step_with_an_initial_state():
    m, report = convert(Seq2Seq().eval())
    assert {c.name for c in report} == {"enc", "dec"}
    g = torch.Generator().manual_seed(4)
    batches = [torch.randn(3, 7, 5, generator=g) for _ in range(2)]
    with torch.no_grad():
        want = [_decode(m, b) for b in batches]
    r = calibrate(m, batches, forward=_decode)
    dec = r.module("dec")
    assert dec.calls == 2 * 5 and r.module("enc").calls == 2  # every step accumulates into one module
    assert dec.layers[0].observed_max["cell"] >= 3.0  # c_0 was recorded
    zero = calibrate(m, batches, forward=lambda mm, b: _decode(mm, b, c0_scale=0.0), apply=False)
    assert zero.module("dec").layers[0].observed_max["cell"] < 3.0
    set_mode(m, "emulate")
    with torch.no_grad():
        got = [_decode(m, b) for b in batches]
    err = max(float((a - b).abs().max()) for a, b in zip(got, want))
    assert err < 2e-3
    d = json.loads(json.dumps(r.to_dict()))
    assert [x["name"] for x in d["modules"]] == ["enc", "dec"] and "dec" in str(r)


def test_table_resolution_follows_the_act_format():
    m16, m8 = _peaky_lstm(), _peaky_lstm()
    b = _peaky_batches()[:2]
    r16 = calibrate(m16, b, bits=16, search=False)
    r8 = calibrate(m8, b, bits=8, search=False)
    l16, l8 = r16.modules[0].layers[0], r8.modules[0].layers[0]
    assert l16.formats["act"] == Fmt(16, 15) and l8.formats["act"] == Fmt(8, 7)
    assert l16.act_index_bits > l8.act_index_bits
    for r in (l16, l8):
        assert r.table_error_lsb <= TOL
    # the rule itself: finer act -> more segments; one segment bit fewer breaks the budget
    cfg = DatapathConfig()
    fine, coarse = table_index_bits(cfg, "gru"), table_index_bits(cfg.replace(act="Q16.11"), "gru")
    assert fine[0] > coarse[0]
    assert table_error(cfg, "gru", fine[0] - 1) > TOL


def test_overrides_fix_formats_and_bad_ones_are_refused():
    m = nn.ModuleDict({"a": nn.LSTM(3, 4, batch_first=True)})
    m, _ = convert(m)
    b = [torch.randn(2, 5, 3)]
    fwd = lambda mm, x: mm["a"](x)
    r = calibrate(m, b, forward=fwd, overrides={"a": {"cell": "Q16.8", "preact": {"bits": 16, "frac": 9}}})
    assert m["a"].datapath[0].cell == Fmt(16, 8) and r.configs("a")[0].preact == Fmt(16, 9)
    with pytest.raises(RnnaccelError, match="not in the model"):
        calibrate(m, b, forward=fwd, overrides={"b": {"cell": "Q16.8"}})
    with pytest.raises(RnnaccelError, match="class 'cells'"):
        calibrate(m, b, forward=fwd, overrides={"a": {"cells": "Q16.8"}})


def test_refusals_name_the_problem():
    m, _ = convert(nn.ModuleDict({"a": nn.GRU(3, 4), "b": nn.GRU(4, 4)}))
    with pytest.raises(RnnaccelError, match="b were never called"):
        calibrate(m, [torch.randn(5, 2, 3)], forward=lambda mm, x: mm["a"](x))
    with pytest.raises(RnnaccelError, match="no batches"):
        calibrate(m, [], forward=lambda mm, x: mm["a"](x))
    with pytest.raises(RnnaccelError, match="convert"):
        calibrate(nn.Linear(2, 2), [torch.randn(2)])
    with pytest.raises(RnnaccelError, match="measure"):
        calibrate(m, [torch.randn(5, 2, 3)], measure="exact")


def test_deterministic_and_modes_restored():
    runs = []
    for _ in range(2):
        m = _peaky_lstm()
        m.mode = "emulate"
        r = calibrate(m, _peaky_batches()[:2], measure="fakequant")
        assert m.mode == "emulate" and not m.training
        runs.append(r.to_dict())
    assert runs[0] == runs[1]


def test_decoder_steps_measured_as_one_batch_give_the_same_error():
    from rnnaccel.emulator.calibrate import _merge, _rms_error, observe

    m, _ = convert(Seq2Seq().eval())
    g = torch.Generator().manual_seed(5)
    obs = observe(m, [torch.randn(2, 4, 5, generator=g) for _ in range(2)], forward=_decode)
    calls = obs.calls["dec"]
    merged = _merge(m.dec, calls)
    assert len(calls) == 10 and len(merged) == 1 and merged[0].args[0].shape == (20, 6)
    cfg = [DatapathConfig(preact="Q16.13")]
    for mode in ("emulate", "fakequant"):
        assert _rms_error(m.dec, cfg, merged, mode) == pytest.approx(_rms_error(m.dec, cfg, calls, mode), rel=1e-12)
    enc = obs.calls["enc"]  # batch-first stacks with lengths=None merge along dim 0
    assert _merge(m.enc, enc)[0].args[0].shape == (4, 4, 5)


def test_observer_hook_sees_every_class_per_layer_and_direction():
    """The float recurrence shows each stored tensor to ``module.observer``: per (layer, direction)
    the input and the initial state, then every rounding point; emulate mode calls nothing, and
    calibrate puts back the observer it found."""
    torch.manual_seed(0)
    m = LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    seen: dict = {}
    m.observer = lambda mod, layer, d, cls, t: seen.setdefault((layer, d), []).append((cls, tuple(t.shape)))
    x = torch.randn(2, 5, 3)
    c0 = torch.full((4, 2, 4), 0.5)
    m(x, (torch.zeros(4, 2, 4), c0))
    assert sorted(seen) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for (layer, _), calls in seen.items():
        assert calls[:3] == [("input", (5, 2, 3 if layer == 0 else 8)), ("hidden", (2, 4)), ("cell", (2, 4))]
        classes = [c for c, _ in calls]
        assert classes.count("preact") == 5 and classes.count("cell") == 1 + 5 and classes.count("act") == 5 * 5
        assert {"weight", "bias", "hidden"} <= set(classes)
    mine = m.observer
    seen.clear()
    m.mode = "emulate"
    m(x)
    assert seen == {}
    m.mode = "float"
    calibrate(m, [x], search=False, measure=None, keep_calls=False)
    assert m.observer is mine
