"""One config for a stack: layers after the first read the previous hidden format, so their
accumulator frac is weight.frac + hidden.frac (docs/datapath.md §1); a refusal says so."""

import pytest

from rnnaccel.emulator import GRU, LSTM, DatapathConfig, Fmt, per_layer_configs

# valid for one layer (F_acc = 4 + max(6, 2) = 10 >= bias.frac 8), not above it (F_acc = 4 + 2 = 6)
NARROW_HIDDEN = DatapathConfig(weight=Fmt(8, 4), input=Fmt(8, 6), hidden=Fmt(8, 2), bias=Fmt(8, 8), preact=Fmt(8, 4))


def test_upper_layers_read_the_hidden_format():
    cfgs = per_layer_configs(DatapathConfig(), 3)
    assert [c.input for c in cfgs] == [Fmt(16, 12), Fmt(16, 15), Fmt(16, 15)]
    assert [c.acc_frac for c in cfgs] == [12 + 15] * 3


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_stack_refusal_names_the_hidden_format_not_input(cls):
    cls(3, 4, num_layers=1, datapath=NARROW_HIDDEN)  # one layer: accepted
    with pytest.raises(ValueError) as e:
        cls(3, 4, num_layers=2, datapath=NARROW_HIDDEN)
    msg = str(e.value)
    assert "hidden format Q8.2" in msg and "weight.frac + hidden.frac = 6" in msg and "bias.frac=8" in msg
    assert "input.frac" not in msg and "\n" not in msg


def test_stack_refusal_for_preact():
    cfg = NARROW_HIDDEN.replace(bias=Fmt(8, 4), preact=Fmt(8, 7))
    with pytest.raises(ValueError, match=r"preact\.frac=7; lower preact\.frac to <= 6"):
        per_layer_configs(cfg, 2)


def test_per_layer_list_avoids_the_refusal():
    upper = NARROW_HIDDEN.replace(input=Fmt(8, 6))  # layer 1 requantizes into Q8.6: F_acc 10 again
    m = LSTM(3, 4, num_layers=2, datapath=[NARROW_HIDDEN, upper])
    assert [c.acc_frac for c in m.datapath] == [10, 10]
