"""Float mode equals torch.nn.LSTM / torch.nn.GRU with the same weights (<= 1e-6)."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnaccel.emulator import GRU, LSTM


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers,bidir", [(1, False), (2, True), (3, False)])
def test_float_equals_torch(cell, layers, bidir):
    torch.manual_seed(layers * 10 + bidir)
    tcls, ours = (torch.nn.LSTM, LSTM) if cell == "lstm" else (torch.nn.GRU, GRU)
    ref = tcls(6, 10, num_layers=layers, bidirectional=bidir, batch_first=True)
    m = ours.from_torch(ref)
    x = torch.randn(4, 9, 6)
    lengths = torch.tensor([9, 3, 7, 1])
    po, hr = ref(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    want, _ = pad_packed_sequence(po, batch_first=True, total_length=9)
    got, hg = m(x, lengths=lengths)
    assert (got - want).abs().max() <= 1e-6
    if cell == "lstm":
        assert (hg[0] - hr[0]).abs().max() <= 1e-6 and (hg[1] - hr[1]).abs().max() <= 1e-6
    else:
        assert (hg - hr).abs().max() <= 1e-6


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_initial_state_and_gradients(cell):
    torch.manual_seed(1)
    tcls, ours = (torch.nn.LSTM, LSTM) if cell == "lstm" else (torch.nn.GRU, GRU)
    ref = tcls(3, 5, num_layers=2, batch_first=True)
    m = ours.from_torch(ref)
    x = torch.randn(2, 4, 3)
    h0 = torch.randn(2, 2, 5)
    hx = (h0, torch.randn(2, 2, 5)) if cell == "lstm" else h0
    want, _ = ref(x, hx)
    got, _ = m(x, hx=hx)
    assert (got - want).abs().max() <= 1e-6
    got.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_state_dict_names_match_torch():
    ref = torch.nn.LSTM(4, 8, num_layers=2, bidirectional=True)
    m = LSTM(4, 8, num_layers=2, bidirectional=True)
    assert set(m.state_dict()) == set(ref.state_dict())
    m.load_state_dict(ref.state_dict())
