"""MAC timing and energy rules by operand width (rnnaccel.hardware.mac), hand-computed."""

import pytest

from rnnaccel.hardware.mac import MAC_RULES, energy_widths, lane_cycles


@pytest.mark.parametrize(
    "wb,ab,cycles,widths",
    [
        (16, 16, 1.0, (16, 16)),
        (8, 8, 0.5, (8, 8)),  # a 16-bit lane splits into 2 x 8 bit
        (4, 4, 0.25, (4, 4)),  # ... or 4 x 4 bit
        (6, 6, 0.5, (8, 8)),  # 6 bits take an 8-bit slot
        (8, 16, 1.0, (16, 16)),  # the wider operand sets the split
        (4, 8, 0.5, (8, 8)),
        (32, 16, 2.0, (32, 32)),  # wider than the lane: two passes
    ],
)
def test_bit_parallel(wb, ab, cycles, widths):
    assert lane_cycles("bit_parallel", 16, wb, ab) == cycles
    assert energy_widths("bit_parallel", 16, wb, ab) == widths


@pytest.mark.parametrize(
    "wb,ab,cycles,widths",
    [
        (16, 16, 1.0, (16, 16)),
        (16, 8, 0.5, (16, 8)),  # activation bits are serial: time follows ab
        (8, 16, 1.0, (16, 16)),  # a narrow weight buys nothing: weights sit full width in parallel
        (4, 4, 0.25, (16, 4)),
        (32, 8, 1.0, (32, 8)),  # a weight wider than the lane: two lanes' worth of passes
    ],
)
def test_bit_serial(wb, ab, cycles, widths):
    assert lane_cycles("bit_serial", 16, wb, ab) == cycles
    assert energy_widths("bit_serial", 16, wb, ab) == widths


@pytest.mark.parametrize("wb,ab", [(16, 16), (8, 8), (4, 16)])
def test_fixed_never_changes(wb, ab):
    assert lane_cycles("fixed", 16, wb, ab) == 1.0
    assert energy_widths("fixed", 16, wb, ab) == (16, 16)


def test_unknown_rule_and_bad_widths_refused():
    with pytest.raises(ValueError, match="choose one of bit_parallel, bit_serial, fixed"):
        lane_cycles("weight_serial", 16, 8, 8)
    with pytest.raises(ValueError, match="positive"):
        energy_widths("bit_parallel", 16, 0, 8)
    assert MAC_RULES == ("bit_parallel", "bit_serial", "fixed")
