"""Float, fake-quant and emulate modes share one module; per-layer formats compose exactly."""

import torch

from rnnaccel.emulator import LSTM, DatapathConfig, Fmt
from rnnaccel.emulator.emulate import emulate_stack
from rnnaccel.emulator.formats import round_shift, saturate


def test_fakequant_tracks_emulation_and_trains():
    torch.manual_seed(0)
    m = LSTM(4, 16, num_layers=2, mode="fakequant")
    x = torch.randn(3, 10, 4)
    fq, _ = m(x)
    m.mode = "emulate"
    em, _ = m(x)
    m.mode = "float"
    fl, _ = m(x)
    # both quantized paths stay within a few 16-bit LSBs of each other and of float
    assert (fq - em).abs().max() < 5e-3 and (fl - em).abs().max() < 5e-3
    m.mode = "fakequant"
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    target = torch.randn(3, 10, 16) * 0.3
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = ((m(x)[0] - target) ** 2).mean()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.7 * first


def test_emulation_cache_follows_parameter_updates():
    m = LSTM(2, 3, batch_first=True, mode="emulate")
    x = torch.randn(1, 3, 2)  # 3 steps: the recurrent weights matter
    a = m(x)[0]
    with torch.no_grad():
        m.weight_hh_l0.mul_(-1)
    assert not torch.equal(a, m(x)[0])


def test_per_layer_formats_requantize_between_layers():
    """A per-layer list with a narrower layer-1 input format == layer 0, an explicit requantization
    (round half to even + saturation), then layer 1 fed integers."""
    torch.manual_seed(2)
    c0 = DatapathConfig(hidden=Fmt(16, 15))
    c1 = DatapathConfig(input=Fmt(8, 4), hidden=Fmt(12, 10))
    m = LSTM(3, 5, num_layers=2, mode="emulate", datapath=[c0, c1])
    x = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 4])
    full = m.emulate(x, lengths)
    w, _ = m.int_weights()
    l0 = emulate_stack("lstm", [w[0]], [c0], x, lengths)
    q, _ = saturate(round_shift(l0.output, 15 - 4), Fmt(8, 4))
    l1 = emulate_stack("lstm", [w[1]], [c1], q, lengths, x_is_int=True)
    assert torch.equal(full.output, l1.output)
