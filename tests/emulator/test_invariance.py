"""Named invariants: batch consistency, padding consistency, thread-count consistency."""

import pytest
import torch

from rnnaccel.emulator import GRU, LSTM, DatapathConfig, Rounding


def _model(cell, rounding="nearest_even"):
    torch.manual_seed(3)
    cls = LSTM if cell == "lstm" else GRU
    return cls(
        5, 12, num_layers=2, bidirectional=True, mode="emulate", datapath=DatapathConfig(rounding=Rounding(rounding))
    )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("rounding", ["nearest_even", "stochastic"])
def test_batch_and_padding_consistency(cell, rounding):
    m = _model(cell, rounding)
    g = torch.Generator().manual_seed(0)
    seq = torch.randn(1, 6, 5, generator=g)
    alone = m.emulate(seq)
    # padded into a longer batch, at position 1, with random neighbours and garbage padding
    for neighbours in range(2):
        batch = torch.randn(3, 11, 5, generator=g) * 3
        batch[1, :6] = seq[0]
        batch[1, 6:] = 1e3  # padding is never read
        lengths = torch.tensor([11, 6, 2 + neighbours * 7])
        r = m.emulate(batch, lengths)
        assert torch.equal(r.output[1, :6], alone.output[0])
        assert (r.output[1, 6:] == 0).all()
        assert torch.equal(r.h_n[:, 1], alone.h_n[:, 0])
        if cell == "lstm":
            assert torch.equal(r.c_n[:, 1], alone.c_n[:, 0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_thread_count_consistency(cell):
    m = _model(cell)
    x = torch.randn(4, 8, 5)
    lengths = torch.tensor([8, 5, 8, 2])
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = m.emulate(x, lengths)
        torch.set_num_threads(2)
        b = m.emulate(x, lengths)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(a.output, b.output) and torch.equal(a.h_n, b.h_n)


def test_run_to_run_determinism():
    m = _model("lstm", "stochastic")
    x = torch.randn(2, 5, 5)
    assert torch.equal(m.emulate(x).output, m.emulate(x).output)
