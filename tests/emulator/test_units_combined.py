"""Memoization and dynamic precision act on the same layers at once, in either order."""

import pytest
import torch

from rnnaccel.emulator import LSTM, Trace
from rnnaccel.emulator.memo import MemoConfig, memo_factory
from rnnaccel.emulator.precision import PrecisionConfig, precision_factory


@pytest.mark.parametrize("memo_first", [True, False])
def test_memo_and_precision_combine(memo_first):
    torch.manual_seed(0)
    m = LSTM(4, 8, num_layers=2, mode="emulate")
    x, lengths = torch.randn(3, 12, 4), torch.tensor([12, 7, 9])
    memo = memo_factory(MemoConfig(predictor="bnn", theta=0.3))
    prec = precision_factory(PrecisionConfig(mode="static", ladder=[16, 8], bits=8))
    m.units = [memo, prec] if memo_first else [prec, memo]
    tr = Trace()
    both = m.emulate(x, lengths, trace=tr).output
    t = tr.totals()
    assert t["memo.reused"] > 0 and t["memo.computed"] > 0
    assert t.get("mac.16x16", 0) == 0 and t["mac.8x8"] > 0  # every MAC at the static 8-bit width
    for lt in tr:  # the MACs left are exactly those of the neurons memoization computed
        macs = sum(v for k, v in lt.counters.items() if k.startswith("mac."))
        assert (macs == lt.get("memo.computed") * (lt.input_size + lt.hidden_size)).all()
        assert all((v >= 0).all() for k, v in lt.counters.items() if not k.startswith("sat."))
        # weight rows read at 8 bits, bias at its own width, rows every sequence reused not read;
        # the skipped bytes are counted at the 8 bits the rows would have been read at
        N, GH = lt.input_size + lt.hidden_size, 4 * lt.hidden_size
        skipped = lt.get("memo.weight_bytes_skipped")
        assert (skipped * 8 % (N * 8) == 0).all()
        rows = GH - skipped * 8 // (N * 8)
        assert (lt.get("weight_bytes") == (rows * N * 8 + GH * 16 + 7) // 8).all()
        assert (lt.get("weight_bytes") + skipped == (GH * N * 8 + GH * 16 + 7) // 8).all()
    m.units = [prec]
    only_prec = m.emulate(x, lengths).output
    assert not torch.equal(both, only_prec)  # memoization changed something on top of precision
    m.units = [memo, prec] if not memo_first else [prec, memo]
    assert torch.equal(m.emulate(x, lengths).output, both)  # order does not matter
