"""Rounding, saturation and quantization primitives against the plain-int reference."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnaccel.emulator import Fmt, Rounding, quantize
from rnnaccel.emulator.formats import round_shift, saturate

from . import reference as ref

MODES = [r.value for r in Rounding]


@settings(max_examples=200, deadline=None)
@given(
    vals=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20),
    s=st.integers(-3, 20),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**32),
    step=st.integers(0, 100),
)
def test_round_shift_matches_reference(vals, s, mode, seed, step):
    v = torch.tensor(vals, dtype=torch.float64)
    got = round_shift(v, s, Rounding(mode), seed=seed, site=3, step=step)
    want = [ref.rshift(x, s, mode, seed, 3, step, j) for j, x in enumerate(vals)]
    assert [int(g) for g in got] == want


@pytest.mark.parametrize(
    "mode,expected",
    [
        ("nearest_even", [-2, -2, -0, 0, 2, 2]),
        ("nearest_away", [-3, -2, -1, 1, 2, 3]),
        ("floor", [-3, -2, -1, 0, 1, 2]),
    ],
)
def test_ties(mode, expected):
    # -2.5, -1.5, -0.5, 0.5, 1.5, 2.5 in units of the output LSB
    v = torch.tensor([-5.0, -3.0, -1.0, 1.0, 3.0, 5.0], dtype=torch.float64)
    assert [int(x) for x in round_shift(v, 1, Rounding(mode))] == expected


def test_stochastic_rounding_is_unbiased_and_seeded():
    v = torch.full((4000,), 3.0, dtype=torch.float64)  # 0.75 LSB after a 2-bit shift
    a = round_shift(torch.arange(4000, dtype=torch.float64) * 4 + 3, 2, Rounding.STOCHASTIC, seed=1)
    frac_up = float((a - torch.arange(4000)).mean())
    assert abs(frac_up - 0.75) < 0.05
    b = round_shift(v, 2, Rounding.STOCHASTIC, seed=1)
    c = round_shift(v, 2, Rounding.STOCHASTIC, seed=2)
    assert torch.equal(b, round_shift(v, 2, Rounding.STOCHASTIC, seed=1))
    assert not torch.equal(b, c)


@settings(max_examples=200, deadline=None)
@given(
    xs=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=16),
    bits=st.integers(2, 20),
    fr=st.integers(0, 20),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 1000),
)
def test_quantize_matches_reference(xs, bits, fr, mode, seed):
    fmt = Fmt(bits, min(fr, bits))
    q, n = quantize(torch.tensor(xs, dtype=torch.float64), fmt, Rounding(mode), seed=seed, site=5)
    cnt = {}
    want = [ref.quantize_real(x, (fmt.bits, fmt.frac), mode, seed, 5, j, cnt, "s") for j, x in enumerate(xs)]
    assert [int(v) for v in q] == want
    assert int(n) == cnt.get("s", 0)


def test_quantize_tie_just_below_half():
    # the largest double below 0.5 must round down in every nearest mode (a float "+0.5" would not)
    x = torch.tensor([math.nextafter(0.5, 0.0)], dtype=torch.float64)
    for mode in (Rounding.NEAREST_EVEN, Rounding.NEAREST_AWAY):
        assert int(quantize(x, Fmt(8, 0), mode)[0]) == 0


def test_saturate_counts():
    v, n = saturate(torch.tensor([-200.0, -128.0, 0.0, 127.0, 128.0, 1e6], dtype=torch.float64), Fmt(8, 0))
    assert v.tolist() == [-128, -128, 0, 127, 127, 127] and int(n) == 3


@pytest.mark.parametrize(
    "bits,frac,needle", [(0, 0, "bits=0"), (1, 0, "bits=1"), (33, 4, "bits=33"), (8, 9, "frac=9"), (8, -1, "frac=-1")]
)
def test_impossible_formats(bits, frac, needle):
    with pytest.raises(ValueError, match=needle):
        Fmt(bits, frac)


def test_parse():
    assert Fmt.parse("Q16.12") == Fmt(16, 12) == Fmt.parse((16, 12)) == Fmt.parse({"bits": 16, "frac": 12})
    with pytest.raises(ValueError, match="cannot parse"):
        Fmt.parse("16.12")


def test_nan_quantize_rejected():
    with pytest.raises(ValueError, match="NaN/inf"):
        quantize(torch.tensor([1.0, float("nan")]), Fmt(16, 8))
