"""fake_quant (the ``fakequant`` mode's rounding): half to even onto the format's grid, saturating at
its ends, the same grid point the integer datapath's ``quantize`` picks; gradient passes straight through."""

import pytest
import torch

from rnnaccel.emulator import Fmt, dequantize, fake_quant, quantize

Q8_2 = Fmt(8, 2)  # step 0.25, range [-32, 31.75]


@pytest.mark.parametrize(
    "x,want",
    [
        (0.125, 0.0),
        (0.375, 0.5),
        (0.625, 0.5),
        (0.875, 1.0),  # ties (k + 1/2 steps) go to the even step
        (-0.125, 0.0),
        (-0.375, -0.5),
        (-0.625, -0.5),
        (0.1, 0.0),
        (0.13, 0.25),
        (-0.13, -0.25),  # not ties: nearest
        (31.75, 31.75),
        (31.875, 31.75),
        (40.0, 31.75),
        (-32.0, -32.0),
        (-32.2, -32.0),
        (-1e9, -32.0),  # saturate
    ],
)
def test_rounding_and_saturation_points(x, want):
    assert fake_quant(torch.tensor([x], dtype=torch.float64), Q8_2).item() == want


@pytest.mark.parametrize("fmt", [Q8_2, Fmt(16, 12), Fmt(4, 0)])
def test_fake_quant_is_quantize_then_dequantize(fmt):
    g = torch.Generator().manual_seed(0)
    steps = torch.randint(-(2**fmt.bits), 2**fmt.bits, (2000,), generator=g).to(torch.float64)
    x = (
        torch.cat([steps * 0.5, steps * 0.5 + torch.rand(2000, generator=g, dtype=torch.float64) * 0.49])
        * 2.0**-fmt.frac
    )
    q, _ = quantize(x, fmt)
    assert torch.equal(fake_quant(x, fmt), dequantize(q, fmt, torch.float64))


def test_gradient_is_straight_through():
    x = torch.tensor([0.1, 0.375, 50.0, -50.0], requires_grad=True)
    fake_quant(x, Q8_2).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 1.0]
