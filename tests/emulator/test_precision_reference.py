"""The precision unit against slow plain-Python restatements of docs/precision.md (hypothesis).

- decisions: from the states the run produced, a per-row loop over Python ints and Fractions
  (real-unit comparisons, no integer thresholds) must pick the same width at every step;
- reduced operands: the dot products a width supplies must equal Python-int sums over
  ``sat_b(rshift(., dropped bits))`` operands, shifted back to F_acc (reference.rshift).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnaccel.emulator import GRU, LSTM, DatapathConfig, Fmt, Rounding, quantize
from rnnaccel.emulator.datapath import SITE_C0, SITE_H0
from rnnaccel.emulator.precision import PrecisionConfig, PrecisionUnit, int_thresholds, precision_factory
from rnnaccel.emulator.precision.unit import SITE_PH, SITE_PW, SITE_PX

from . import reference as ref

CELLS = {"lstm": LSTM, "gru": GRU}
# small activation formats keep the per-config table generation cheap
SMALL = dict(preact=Fmt(12, 8), cell=Fmt(12, 8), act=Fmt(12, 11), act_index_bits=6)
HIDDEN, H = Fmt(12, 11), 6
SET = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ref_widths(states, s0, frac, H, metric, tau, thresholds, widths, history):
    """Per step of one row: the width the rule of docs/precision.md §3 picks (plain Python)."""
    prev, scores, out = s0, [], []
    for t, s in enumerate(states):
        k = 0
        if t > 0:
            m = max(scores[max(0, t - history) : t])
            k = len(widths) - 1
            for i, phi in enumerate(thresholds):
                if m > Fraction(phi):
                    k = i
                    break
        out.append(widths[k])
        d = [abs(a - b) for a, b in zip(s, prev)]
        if metric == "fraction":  # real-unit comparisons: |d| * 2^-frac > tau, share of H
            score = Fraction(sum(1 for v in d if Fraction(v, 2**frac) > Fraction(tau)), H)
        elif metric == "max":
            score = Fraction(max(d), 2**frac)
        else:
            score = Fraction(sum(d), H * 2**frac)
        scores.append(score)
        prev = s
    return out


@st.composite
def cases(draw):
    cell = draw(st.sampled_from(["lstm", "gru"]))
    wb = draw(st.sampled_from([16, 12, 8]))
    pool = [b for b in (16, 12, 10, 8, 6, 4, 3, 2) if b <= wb]
    ladder = sorted(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True)), reverse=True)
    metric = draw(st.sampled_from(["fraction", "max", "mean"]))
    frac = (SMALL["cell"] if cell == "lstm" else HIDDEN).frac
    # thresholds on or near the values a score can take exercise the "> phi" boundaries
    unit = {"fraction": Fraction(1, H), "max": Fraction(1, 2**frac), "mean": Fraction(1, H * 2**frac)}[metric]
    hi = 1.0 if metric == "fraction" else 0.3
    phi = st.one_of(st.floats(0, hi), st.integers(0, int(hi / unit)).map(lambda k: float(k * unit)))
    thr = sorted((draw(phi) for _ in ladder[1:]), reverse=True)
    tau = draw(st.one_of(st.floats(0, 0.2), st.integers(0, 50).map(lambda k: k / 2**frac)))
    pc = PrecisionConfig(
        mode="dynamic", ladder=ladder, metric=metric, tau=tau, thresholds=thr, history=draw(st.integers(1, 3))
    )
    dp = DatapathConfig(
        weight=Fmt(wb, wb - 1),
        input=Fmt(12, 9),
        hidden=HIDDEN,
        rounding=draw(st.sampled_from(list(Rounding))),
        seed=draw(st.integers(0, 99)),
        **SMALL,
    )
    lengths = sorted(draw(st.lists(st.integers(1, 7), min_size=1, max_size=3)), reverse=True)
    return cell, pc, dp, lengths, draw(st.booleans()), draw(st.integers(0, 2**16))


@SET
@given(cases())
def test_decisions_match_the_plain_python_rule(case):
    cell, pc, dp, lengths, with_h0, seed = case
    torch.manual_seed(seed)
    B = len(lengths)
    m = CELLS[cell](3, H, num_layers=1, bidirectional=True, mode="emulate", datapath=dp)
    fac = precision_factory(pc)
    m.units = [fac]
    x = torch.randn(B, max(lengths), 3)
    hx = None
    if with_h0:
        h0 = torch.rand(2, B, H) - 0.5
        hx = (h0, torch.randn(2, B, H)) if cell == "lstm" else h0
    r = m.emulate(x, torch.tensor(lengths), hx=hx, record_internals=True)
    key, fmt = ("cells", dp.cell) if cell == "lstm" else ("h", dp.hidden)
    for d in range(2):
        u = fac.units[(0, d)]
        seqs = r.internals[(0, d)][key]  # (B, T, H) time order, caller order == length order here
        for b, L in enumerate(lengths):
            states = [[int(v) for v in seqs[b, t].tolist()] for t in range(L)]
            if d == 1:
                states = states[::-1]  # the reverse direction processes the sequence backwards
            s0 = [0] * H
            if with_h0:
                init = hx[1] if cell == "lstm" else hx
                site = d * 32 + (SITE_C0 if cell == "lstm" else SITE_H0)  # hx follows the layer's rounding mode
                s0 = [int(v) for v in quantize(init[d, b], fmt, dp.rounding, seed=dp.seed, site=site)[0].tolist()]
            want = ref_widths(states, s0, fmt.frac, H, pc.metric, pc.tau, pc.thresholds, pc.ladder, pc.history)
            assert u.bits_rows[:L, b].tolist() == want, (d, b)
            assert (u.bits_rows[L:, b] == 0).all()


class _Capture(PrecisionUnit):
    def begin(self, ctx):
        super().begin(ctx)
        self.seen = []

    def gate_acc(self, t, n, hp):
        ax, ah = super().gate_acc(t, n, hp)
        self.seen.append((t, hp.clone(), ax.clone(), ah.clone()))
        return ax, ah


@SET
@given(
    cell=st.sampled_from(["lstm", "gru"]),
    b=st.integers(2, 15),
    rounding=st.sampled_from([r.value for r in Rounding]),
    wfrac=st.integers(10, 15),
    seed=st.integers(0, 2**16),
)
def test_reduced_operands_match_python_ints(cell, b, rounding, wfrac, seed):
    torch.manual_seed(seed)
    dp = DatapathConfig(
        weight=Fmt(16, wfrac),
        input=Fmt(16 if b < 14 else 10, 12 if b < 14 else 8),
        hidden=Fmt(16, 15),
        rounding=Rounding(rounding),
        seed=seed % 7,
        **SMALL,
    )
    m = CELLS[cell](3, 4, num_layers=1, mode="emulate", datapath=dp)
    pc = PrecisionConfig(mode="static", bits=b)
    units = []
    m.units = [lambda layer, d, cfg: units.append(_Capture(pc, layer, d, cfg)) or units[-1]]
    x = torch.randn(2, 3, 3)
    m.emulate(x, torch.tensor([3, 2]))
    u = units[0]
    ctx, w = u.ctx, u.ctx.weights
    F = {k: (getattr(dp, k).bits, getattr(dp, k).frac) for k in ("weight", "input", "hidden", "bias")}
    Fa = dp.acc_frac
    sb = ctx.site_base

    def narrow(v, drop, bits, site, step, j):
        return ref.sat(ref.rshift(v, drop, rounding, dp.seed, sb + site, step, j), (bits, 0), {}, "p")

    bx, bh = min(b, F["input"][0]), min(b, F["hidden"][0])
    sw, sx, sh = F["weight"][0] - b, F["input"][0] - bx, F["hidden"][0] - bh
    Wi = [[narrow(int(v), sw, b, SITE_PW, 0, k) for k, v in enumerate(row)] for row in w.w_ih.tolist()]
    Wh = [[narrow(int(v), sw, b, SITE_PW, 0, k) for k, v in enumerate(row)] for row in w.w_hh.tolist()]
    bxs = [int(v) << (Fa - F["bias"][1]) for v in w.b_x.tolist()]
    bhs = [int(v) << (Fa - F["bias"][1]) for v in w.b_h.tolist()]
    for t, hp, ax, ah in u.seen:
        for row in range(hp.shape[0]):
            xq = [narrow(int(v), sx, bx, SITE_PX, t, k) for k, v in enumerate(ctx.x[t, row].tolist())]
            hq = [narrow(int(v), sh, bh, SITE_PH, t, k) for k, v in enumerate(hp[row].tolist())]
            want_x = [
                (ref.dot(Wr, xq) << (Fa - F["weight"][1] - F["input"][1] + sw + sx)) + bb for Wr, bb in zip(Wi, bxs)
            ]
            want_h = [
                (ref.dot(Wr, hq) << (Fa - F["weight"][1] - F["hidden"][1] + sw + sh)) + bb for Wr, bb in zip(Wh, bhs)
            ]
            assert [int(v) for v in ax[row].tolist()] == want_x
            assert [int(v) for v in ah[row].tolist()] == want_h
    assert np.array_equal(u.bits_rows[:, 0], [b, b, b])


@settings(max_examples=300, deadline=None)
@given(
    metric=st.sampled_from(["fraction", "max", "mean"]),
    frac=st.integers(0, 15),
    H=st.integers(1, 300),
    s=st.integers(0, 2**20),
    k=st.integers(-2, 2),
    exact=st.booleans(),
    phi=st.floats(0, 1),
)
def test_integer_thresholds_equal_real_unit_comparisons(metric, frac, H, s, k, exact, phi):
    """``score > q`` on the integers iff the real-unit metric exceeds ``phi``, at the boundary too."""
    real = {"fraction": Fraction(s, H), "max": Fraction(s, 2**frac), "mean": Fraction(s, H * 2**frac)}[metric]
    if metric == "fraction":
        s = min(s, H)
        real = Fraction(s, H)
    if exact:  # phi on (or one unit beside) the metric's value
        unit = {"fraction": Fraction(1, H), "max": Fraction(1, 2**frac), "mean": Fraction(1, H * 2**frac)}[metric]
        phi = float(max(Fraction(0), real + k * unit))
    if metric == "fraction":
        phi = min(phi, 1.0)
    tau_q, (q,) = int_thresholds(metric, phi, [phi], frac, H)
    assert (s > q) == (real > Fraction(phi))
    d = s % (2**16)  # one element's |delta| against tau
    assert (d > tau_q) == (Fraction(d, 2**frac) > Fraction(phi))
