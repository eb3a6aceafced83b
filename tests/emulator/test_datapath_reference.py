"""Fast path == the plain-Python-int reference, on many random small configs (hypothesis)."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rnnaccel.emulator import GRU, LSTM, RNN, DatapathConfig, Fmt, Rounding

from . import reference as ref

MODES = [r.value for r in Rounding]


@st.composite
def configs(draw):
    def fmt(lo_bits, hi_bits, frac_lo, frac_hi):
        bits = draw(st.integers(lo_bits, hi_bits))
        return Fmt(bits, draw(st.integers(min(frac_lo, bits), min(frac_hi, bits))))

    kw = dict(
        weight=fmt(3, 16, 1, 13),
        bias=fmt(3, 16, 0, 12),
        input=fmt(3, 16, 1, 12),
        hidden=fmt(3, 16, 2, 15),
        cell=fmt(3, 16, 1, 12),
        preact=fmt(3, 16, 1, 12),
        act=fmt(3, 16, 2, 15),
        acc_bits=draw(st.sampled_from([12, 16, 24, 40])),
        rounding=draw(st.sampled_from(MODES)),
        act_index_bits=draw(st.integers(1, 6)),
        act_interp=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31)),
    )
    try:
        return DatapathConfig(**kw)
    except ValueError:
        assume(False)


def _ref_cfg(cfg: DatapathConfig) -> dict:
    return {
        "fmt": {
            k: (getattr(cfg, k).bits, getattr(cfg, k).frac)
            for k in ("weight", "bias", "input", "hidden", "cell", "preact", "act")
        },
        "acc_bits": cfg.acc_bits,
        "rounding": cfg.rounding.value,
        "act_index_bits": cfg.act_index_bits,
        "act_interp": cfg.act_interp,
        "seed": cfg.seed,
    }


def _ints(t: torch.Tensor):
    return [[int(v) for v in row] for row in t.tolist()]


def _quantize_params(cell, m, rc, site_base):
    """The reference's own quantization of the module's float parameters (PyTorch row order)."""
    w_ih, w_hh, b_ih, b_hh = (p.detach().double().tolist() for p in m.params(0, 0))
    F, mode, seed = rc["fmt"], rc["rounding"], rc["seed"]
    site = site_base + 9
    q = lambda M: [[ref.quantize_real(v, F["weight"], mode, seed, site, j) for j, v in enumerate(row)] for row in M]
    H = len(w_hh[0])
    if cell == "lstm":
        bx, bh = [a + b for a, b in zip(b_ih, b_hh)], [0.0] * len(b_ih)
    else:
        bx = [a + b for a, b in zip(b_ih[: 2 * H], b_hh[: 2 * H])] + b_ih[2 * H :]
        bh = [0.0] * (2 * H) + b_hh[2 * H :]
    qb = lambda v: [ref.quantize_real(x, F["bias"], mode, seed, site, j) for j, x in enumerate(v)]
    return q(w_ih), q(w_hh), qb(bx), qb(bh)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(
    cfg=configs(),
    cell=st.sampled_from(["lstm", "gru"]),
    D=st.integers(1, 4),
    H=st.integers(1, 4),
    T=st.integers(1, 5),
    B=st.integers(1, 3),
    wscale=st.sampled_from([0.5, 2.0, 8.0]),
    xscale=st.sampled_from([1.0, 4.0, 40.0]),
    seed=st.integers(0, 10_000),
)
def test_fast_path_equals_reference(cfg, cell, D, H, T, B, wscale, xscale, seed):
    g = torch.Generator().manual_seed(seed)
    m = (LSTM if cell == "lstm" else GRU)(D, H, mode="emulate", datapath=cfg)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * wscale)
    x = (torch.rand(B, T, D, generator=g) * 2 - 1) * xscale
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    res = m.emulate(x, lengths, record_internals=True)
    rc = _ref_cfg(cfg)
    W_ih, W_hh, bx, bh = _quantize_params(cell, m, rc, 0)
    want_sat = {}
    for b in range(B):
        L = int(lengths[b])
        xs = [
            [
                ref.quantize_real(float(v), rc["fmt"]["input"], rc["rounding"], rc["seed"], 10, j, want_sat, "input")
                for j, v in enumerate(x[b, t].double().tolist())
            ]
            for t in range(L)
        ]
        if cell == "lstm":
            steps, cnt = ref.lstm_sequence(W_ih, W_hh, bx, xs, rc)
        else:
            steps, cnt = ref.gru_sequence(W_ih, W_hh, bx, bh, xs, rc)
        for k, v in cnt.items():
            want_sat[k] = want_sat.get(k, 0) + v
        got_h = _ints(res.internals[(0, 0)]["h"][b, :L])
        got_g = _ints(res.internals[(0, 0)]["gates"][b, :L])
        want_h = [s[0] for s in steps]
        want_g = [s[2] for s in steps]
        diff_h = sum(a != w for ra, rw in zip(got_h, want_h) for a, w in zip(ra, rw))
        diff_g = sum(a != w for ra, rw in zip(got_g, want_g) for a, w in zip(ra, rw))
        assert diff_h == 0, f"{diff_h} hidden elements differ (seq {b}, {cfg})"
        assert diff_g == 0, f"{diff_g} gate activations differ (seq {b}, {cfg})"
        if cell == "lstm":
            got_c = _ints(res.internals[(0, 0)]["cells"][b, :L])
            diff_c = sum(a != w for ra, rw in zip(got_c, [s[1] for s in steps]) for a, w in zip(ra, rw))
            assert diff_c == 0, f"{diff_c} cell elements differ (seq {b})"
            assert [int(v) for v in res.c_n[0, b]] == steps[-1][1]
        assert [int(v) for v in res.h_n[0, b]] == steps[-1][0]
        assert (res.output[b, L:] == 0).all()
    for k in ("input", "acc", "preact", "cell", "hidden"):
        assert res.saturations[k] == want_sat.get(k, 0), (
            f"saturation count {k}: {res.saturations[k]} vs {want_sat.get(k, 0)}"
        )
    assert want_sat.get("act", 0) == 0, (
        "the activation unit saturated in the reference: the no-saturation proof is wrong"
    )


def test_saturation_is_exercised():
    """The random configs above must actually saturate: check one deliberately hot case."""
    seen = set()
    for acc_bits in (10, 16):  # a narrow accumulator saturates first, a wide one leaves it to preact
        cfg = DatapathConfig(
            weight=Fmt(6, 3),
            input=Fmt(6, 3),
            hidden=Fmt(6, 5),
            cell=Fmt(4, 2),
            preact=Fmt(6, 2),
            act=Fmt(6, 5),
            bias=Fmt(6, 3),
            acc_bits=acc_bits,
            act_index_bits=3,
        )
        m = LSTM(3, 4, mode="emulate", datapath=cfg)
        torch.manual_seed(0)
        with torch.no_grad():
            for p in m.parameters():
                p.uniform_(-6, 6)
        res = m.emulate(torch.randn(2, 5, 3) * 30)
        seen |= {k for k, v in res.saturations.items() if v > 0}
    assert {"input", "acc", "preact", "cell"} <= seen, seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(
    cfg=configs(),
    kind=st.sampled_from(["rnn_tanh", "rnn_relu", "lstm_proj"]),
    D=st.integers(1, 4),
    H=st.integers(2, 5),
    T=st.integers(1, 5),
    B=st.integers(1, 3),
    wscale=st.sampled_from([0.5, 2.0, 8.0]),
    xscale=st.sampled_from([1.0, 4.0, 40.0]),
    init=st.booleans(),
    seed=st.integers(0, 10_000),
)
def test_rnn_and_projection_equal_reference(cfg, kind, D, H, T, B, wscale, xscale, init, seed):
    """Elman RNN cells (tanh, relu) and the LSTM projection (docs/datapath.md §5a, §6a), with or
    without a real initial state, bit for bit against the plain-int reference; saturations per class."""
    g = torch.Generator().manual_seed(seed)
    P = max(1, H // 2) if kind == "lstm_proj" else 0
    m = (
        LSTM(D, H, proj_size=P, mode="emulate", datapath=cfg)
        if P
        else RNN(D, H, nonlinearity=kind[4:], mode="emulate", datapath=cfg)
    )
    with torch.no_grad():
        for p in m.parameters():
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * wscale)
    x = (torch.rand(B, T, D, generator=g) * 2 - 1) * xscale
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    R = P or H
    h0 = (torch.rand(1, B, R, generator=g) * 2 - 1) * 1.5 if init else None
    c0 = (torch.rand(1, B, H, generator=g) * 2 - 1) * 4 if init and P else None
    res = m.emulate(x, lengths, (h0, c0) if P else h0, record_internals=True)
    rc = _ref_cfg(cfg)
    F, mode, rseed = rc["fmt"], rc["rounding"], rc["seed"]
    w_ih, w_hh, b_ih, b_hh = (p.detach().double().tolist() for p in m.params(0, 0))
    w_hr = m.proj_weight(0, 0).detach().double().tolist() if P else None
    qp = ref.quantize_params(m.cell, w_ih, w_hh, b_ih, b_hh, rc, 9, w_hr)
    want_sat = {}
    for b in range(B):
        L = int(lengths[b])
        xs = [
            [
                ref.quantize_real(float(v), F["input"], mode, rseed, 10, j, want_sat, "input")
                for j, v in enumerate(x[b, t].double().tolist())
            ]
            for t in range(L)
        ]
        qh0 = (
            [
                ref.quantize_real(float(v), F["hidden"], mode, rseed, 11, j, want_sat, "hidden")
                for j, v in enumerate(h0[0, b].tolist())
            ]
            if init
            else None
        )
        qc0 = (
            [
                ref.quantize_real(float(v), F["cell"], mode, rseed, 12, j, want_sat, "cell")
                for j, v in enumerate(c0[0, b].tolist())
            ]
            if c0 is not None
            else None
        )
        if P:
            steps, cnt = ref.lstm_sequence(qp[0], qp[1], qp[2], xs, rc, 0, qh0, qc0, qp[4])
        else:
            steps, cnt = ref.rnn_sequence(qp[0], qp[1], qp[2], xs, rc, kind[4:], 0, qh0)
        for k, v in cnt.items():
            want_sat[k] = want_sat.get(k, 0) + v
        assert _ints(res.internals[(0, 0)]["h"][b, :L]) == [s[0] for s in steps], f"h differs (seq {b})"
        if not P:
            assert _ints(res.internals[(0, 0)]["gates"][b, :L]) == [s[2] for s in steps], (
                f"activations differ (seq {b})"
            )
        else:
            assert _ints(res.internals[(0, 0)]["cells"][b, :L]) == [s[1] for s in steps], f"c differs (seq {b})"
            assert [int(v) for v in res.c_n[0, b]] == steps[-1][1]
        assert [int(v) for v in res.h_n[0, b]] == steps[-1][0]
    for k in ("input", "acc", "preact", "cell", "hidden") + (("proj",) if P else ()):
        assert res.saturations[k] == want_sat.get(k, 0), (
            f"saturation count {k}: {res.saturations[k]} vs {want_sat.get(k, 0)}"
        )
    assert want_sat.get("act", 0) == 0
