"""The memoization unit against a slow plain-Python reference (packed-bit XNOR/popcount, Fractions).

The reference restates docs/memoization.md with Python ints and exact rationals, one row, one
neuron and one step at a time, from the values the unit recorded (its inputs ``x``, ``h_{t-1}`` and
the true gate values), and checks the BNN outputs, every reuse decision and the gate values the
datapath continued with.
"""

import random
import zlib
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnaccel.emulator import GRU, LSTM
from rnnaccel.emulator.datapath import GATES, lstm_row_order
from rnnaccel.emulator.memo import MemoConfig, decide, memo_factory


def bits(vals, sign_zero):
    """A vector of ints -> packed sign bits (bit i = 1 for +1)."""
    return sum(1 << i for i, v in enumerate(vals) if v > 0 or (v == 0 and sign_zero == 1))


def ref_bnn(u, t, row, j):
    x = [int(v) for v in u.ctx.x[t, row]]
    h = [int(v) for v in u.rec["hp"][t, row]]
    w = [int(v) for v in u.ctx.weights.w_ih[j]] + [int(v) for v in u.ctx.weights.w_hh[j]]
    N, sz = len(x) + len(h), u.cfg.sign_zero
    p = bin(~(bits(w, sz) ^ bits(x + h, sz)) & ((1 << N) - 1)).count("1")
    return 2 * p - N


def ref_signal(u, t, row, j):
    """(signal, reference vector or None): BNN int, true cached int, or the delta input vector."""
    if u.kind == "bnn":
        return ref_bnn(u, t, row, j)
    if u.kind == "oracle":
        return int(u.rec["a" if u.cfg.cache == "output" else "z"][t, row, j])
    x = [int(v) * u.sx for v in u.ctx.x[t, row]]
    return x + [int(v) * u.sh for v in u.rec["hp"][t, row]]


def ref_change(u, s, sm):
    if u.kind == "delta":
        ch, den = max(abs(a - b) for a, b in zip(s, sm)), max(max(abs(b) for b in sm), 1)
    else:
        ch, den = abs(s - sm), max(abs(sm), 1)
    return Fraction(ch, den) if u.cfg.rule == "relative" else Fraction(ch, 2**u.frac)


def ref_decisions(u, cell, layer):
    """(T, B, G*H) reuse decisions of one recorded unit, by plain loops."""
    cfg, H = u.cfg, u.H
    k = cfg.theta_frac_bits
    thetas = [Fraction(cfg.theta_q(th), 2**k) for th in cfg.gate_thetas(layer, cell)]
    bs, T, B = u.ctx.batch_sizes, len(u.ctx.batch_sizes), u.ctx.x.shape[1]
    out = torch.zeros(T, B, u.GH, dtype=torch.bool)
    for row in range(B):
        steps = sum(1 for n in bs if n > row)
        for j in range(u.GH):
            th, valid, sm, eps, cnt = thetas[j // H], False, None, Fraction(0), 0
            for t in range(steps):
                s = ref_signal(u, t, row, j)
                reuse = False
                if valid and th > 0 and (cfg.max_reuse is None or cnt < cfg.max_reuse):
                    d = ref_change(u, s, sm)
                    tot = eps + d if cfg.accumulate else d
                    reuse = tot <= th
                if reuse:
                    cnt, eps = cnt + 1, tot
                else:
                    sm, eps, cnt, valid = s, Fraction(0), 0, True
                out[t, row, j] = reuse
    return out


def cases(n=10, seed=7):
    rnd = random.Random(seed)
    for i in range(n):
        cell = (LSTM, GRU)[i % 2]
        pred = ("bnn", "oracle", "delta")[(i // 2) % 3] if i < 6 else rnd.choice(["bnn", "oracle", "delta"])
        rule = rnd.choice(["relative", "absolute"])
        big = {"bnn": 3.0, "oracle": 0.5, "delta": 1.0}[pred]
        th = lambda big=big, rule=rule, pred=pred: (
            rnd.choice([0.0, 0.05, 0.3, 1.0])
            * (big if rule == "relative" else big * 2)
            * (1 if pred != "bnn" or rule == "relative" else 4)
        )
        names = ("i", "f", "g", "o") if cell is LSTM else ("r", "z", "n")
        per_gate = {g: th() for g in names if rnd.random() < 0.5}
        yield pytest.param(
            cell,
            dict(
                predictor=pred,
                theta=th() or 0.3,
                rule=rule,
                accumulate=rnd.random() < 0.4,
                max_reuse=rnd.choice([None, None, 0, 1, 3]),
                cache=rnd.choice(["output", "preact"]),
                sign_zero=rnd.choice([1, -1]),
                theta_frac_bits=rnd.choice([4, 16]),
                per_layer=[per_gate or None, rnd.choice([None, th()])],
            ),
            id=f"{cell.__name__}-{pred}-{i}",
        )


@pytest.mark.parametrize("cls, kw", list(cases()))
def test_decisions_and_outputs_match_the_slow_reference(cls, kw):
    torch.manual_seed(zlib.crc32(str(kw).encode()) % 1000)
    m = cls(4, 5, num_layers=2, bidirectional=True, mode="emulate")
    x = torch.randn(3, 10, 4).cumsum(1) * 0.3
    x[1, 2] = 0.0  # zero inputs exercise sign(0)
    lengths = torch.tensor([10, 7, 4])  # sorted: the recorded rows are the caller's rows
    f = memo_factory(MemoConfig(**kw), record=True)
    m.units = [f]
    r = m.emulate(x, lengths, record_internals=True)
    cell, H = m.cell, 5
    total = 0
    for (layer, d), u in f.units.items():
        ref = ref_decisions(u, cell, layer)
        assert torch.equal(u.rec["reuse"], ref), (layer, d)
        total += int(ref.sum())
        if u.kind == "bnn":  # the BNN integers themselves, on active rows
            for t, n in enumerate(u.ctx.batch_sizes):
                for row in range(n):
                    assert [ref_bnn(u, t, row, j) for j in range(u.GH)] == u.rec["sig"][t, row].tolist()
    # the gate values the datapath continued with: the cached value where reused, else the true one
    u = f.units[(0, 0)]
    perm = lstm_row_order(H) if cell == "lstm" else torch.arange(GATES[cell] * H)
    used = r.internals[(0, 0)]["gates"][..., perm].transpose(0, 1)  # (T, B, GH) datapath order
    for row in range(3):
        for j in range(u.GH):
            last = None
            for t in range(int(lengths[row])):
                if u.rec["reuse"][t, row, j]:
                    assert used[t, row, j] == last
                else:
                    last = u.rec["a"][t, row, j]
                    assert used[t, row, j] == last
    REUSED.append(total)


REUSED: list[int] = []


def test_the_reference_cases_reuse():
    """The cases above are not vacuous: most of them reuse (runs after them in file order)."""
    if REUSED:
        assert sum(t > 0 for t in REUSED) >= 0.7 * len(REUSED)


ints = st.integers(-5000, 5000)


@settings(max_examples=200, deadline=None)
@given(
    s=st.lists(st.tuples(ints, ints, st.integers(0, 3000), st.integers(0, 4)), min_size=1, max_size=20),
    th=st.floats(0, 50),
    k=st.integers(0, 20),
    acc=st.booleans(),
    rel=st.booleans(),
    cap=st.one_of(st.none(), st.integers(0, 3)),
)
def test_integer_test_equals_exact_rational_test_and_is_monotone_in_theta(s, th, k, acc, rel, cap):
    """One step of ``decide`` == |s - s_m| (+ err) <= theta_q/2^k * denom in Fractions; more theta never
    reuses less from the same state."""
    sig, sm, err, cnt = (torch.tensor(c, dtype=torch.int64) for c in zip(*s))
    change = (sig - sm).abs()
    denom = sm.abs().clamp(min=1) if rel else torch.full_like(sm, 2**3)
    valid = torch.ones_like(sig, dtype=torch.bool)
    cfg = MemoConfig(predictor="bnn", theta=th, theta_frac_bits=k)
    tq = cfg.theta_q(th)
    ok, e = decide(change, err, denom, valid, cnt, torch.tensor(tq), k, acc, cap)
    for i, (a, b, ee, c) in enumerate(s):
        tot = abs(a - b) + (ee if acc else 0)
        want = tq > 0 and Fraction(tot) <= Fraction(tq, 2**k) * int(denom[i]) and (cap is None or c < cap)
        assert bool(ok[i]) == want and int(e[i]) == tot
    ok2, _ = decide(change, err, denom, valid, cnt, torch.tensor(cfg.theta_q(th * 1.5 + 0.01)), k, acc, cap)
    assert bool((ok2 | ~ok).all())
