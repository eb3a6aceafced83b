"""Real initial states (``hx``) enter by the layer's rounding mode and their clamps are counted."""

import math

import pytest
import torch

from rnnaccel.emulator import GRU, LSTM, DatapathConfig, Rounding, Trace
from rnnaccel.emulator.datapath import SITE_C0, SITE_H0
from rnnaccel.emulator.emulate import emulate_stack
from rnnaccel.emulator.formats import dither

CELLS = {"lstm": LSTM, "gru": GRU}
H = 6


def rounded(v: float, frac: int, mode: Rounding, lo: int, hi: int, seed=0, site=0, idx=0) -> int:
    """Plain-Python restatement of docs/datapath.md §2 for one real value (no shared code path)."""
    s = v * 2**frac
    if mode == Rounding.FLOOR:
        q = math.floor(s)
    elif mode == Rounding.NEAREST_AWAY:
        q = int(math.copysign(math.floor(abs(s) + 0.5), s))
    elif mode == Rounding.NEAREST_EVEN:
        q = round(s)
    else:
        return None  # stochastic: compared against the emulator's own dither below
    return min(max(q, lo), hi)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("mode", [Rounding.FLOOR, Rounding.NEAREST_AWAY, Rounding.NEAREST_EVEN, Rounding.STOCHASTIC])
def test_hx_follows_the_rounding_mode(cell, mode):
    torch.manual_seed(0)
    dp = DatapathConfig(rounding=mode, seed=5)
    m = CELLS[cell](3, H, num_layers=2, bidirectional=True, mode="emulate", datapath=dp)
    B, K = 3, 4
    x, lengths = torch.randn(B, 4, 3), torch.tensor([4, 2, 3])
    # off-grid values (a third of an LSB apart) so the modes disagree
    h = (
        torch.randint(-200, 200, (K, B, H)) + torch.tensor([0.25, 0.5, 0.75])[torch.randint(0, 3, (K, B, H))]
    ) * 2.0**-dp.hidden.frac
    c = (torch.randint(-200, 200, (K, B, H)) + 0.5) * 2.0**-dp.cell.frac
    hx = (h, c) if cell == "lstm" else h
    got = m.emulate(x, lengths, hx, record_internals=True)

    def ints(v, fmt, site_off):
        out = torch.empty_like(v, dtype=torch.float64)
        for k in range(K):
            site = (k // 2 * 2 + k % 2) * 32 + site_off
            for b in range(B):
                for j in range(H):
                    q = rounded(float(v[k, b, j]), fmt.frac, mode, fmt.qmin, fmt.qmax)
                    if q is None:  # floor(v·2^(f+S) + dither) >> S, S = the documented sub-LSB bits
                        from rnnaccel.emulator.formats import STOCHASTIC_SUBBITS as S

                        r = math.floor(float(v[k, b, j]) * 2 ** (fmt.frac + S))
                        d = int(
                            dither(torch.tensor([[float(r)] * (j + 1)], dtype=torch.float64), S, dp.seed, site, 0)[0, j]
                        )
                        q = min(max((r + d) >> S, fmt.qmin), fmt.qmax)
                    out[k, b, j] = q
        return out

    h0 = ints(h, dp.hidden, SITE_H0)
    c0 = ints(c, dp.cell, SITE_C0) if cell == "lstm" else None
    if mode != Rounding.NEAREST_EVEN:  # the test can fail: half-to-even gives other integers
        even = torch.round(h * 2.0**dp.hidden.frac)
        assert not torch.equal(even, h0)
    weights, _ = m.int_weights()
    want = emulate_stack(cell, weights, m.datapath, x, lengths, h0, c0, record_internals=True)
    assert torch.equal(got.output, want.output) and torch.equal(got.h_n, want.h_n)
    if cell == "lstm":
        assert torch.equal(got.c_n, want.c_n)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_hx_clamps_are_counted(cell):
    torch.manual_seed(1)
    dp = DatapathConfig()
    m = CELLS[cell](3, H, num_layers=1, bidirectional=True, mode="emulate", datapath=dp)
    B = 2
    x, lengths = torch.randn(B, 5, 3), torch.tensor([5, 3])
    big_h = dp.hidden.qmax * 2.0**-dp.hidden.frac * 3
    h = torch.zeros(2, B, H)
    h[0, 0, :2], h[1, 1, 3] = big_h, -big_h  # 3 values beyond the hidden format
    c = torch.zeros(2, B, H)
    c[1, 0, 0] = dp.cell.qmax * 2.0**-dp.cell.frac * 4  # 1 beyond the cell format
    hx = (h, c) if cell == "lstm" else h
    plain = m.emulate(x, lengths)
    tr = Trace()
    got = m.emulate(x, lengths, hx, trace=tr)
    n_c = 1 if cell == "lstm" else 0
    assert got.saturations["hidden"] - plain.saturations["hidden"] >= 3
    assert got.saturations["cell"] - plain.saturations["cell"] >= n_c
    first = {d: lt.get("sat.hidden")[0] for d, lt in enumerate(tr)}
    assert first[0] >= 2 and first[1] >= 1  # counted where the state enters: the first step
    assert tr.total("sat.hidden") == got.saturations["hidden"]
    assert tr.total("sat.cell") == got.saturations["cell"]
