"""Bad input gets a clear ValueError naming the culprit."""

import pytest
import torch

from rnnaccel.emulator import GRU, LSTM, DatapathConfig, Fmt


@pytest.fixture(params=["float", "fakequant", "emulate"])
def model(request):
    return LSTM(4, 6, num_layers=2, batch_first=True, mode=request.param)


def test_wrong_feature_size(model):
    with pytest.raises(ValueError, match=r"expects input \(batch, time, 4\)"):
        model(torch.randn(2, 3, 5))


def test_wrong_rank(model):
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        model(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 1D"):
        model(torch.randn(4))


def test_lengths_longer_than_tensor(model):
    with pytest.raises(ValueError, match="exceeds the input's time dimension 3"):
        model(torch.randn(2, 3, 4), lengths=torch.tensor([3, 5]))


def test_lengths_shape_and_values(model):
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        model(torch.randn(2, 3, 4), lengths=torch.tensor([3]))
    with pytest.raises(ValueError, match="lengths must be >= 1"):
        model(torch.randn(2, 3, 4), lengths=torch.tensor([3, 0]))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_inf_input(model, bad):
    x = torch.randn(2, 3, 4)
    x[1, 1, 2] = bad
    with pytest.raises(ValueError, match="NaN/inf"):
        model(x)


def test_nan_in_padding_is_ignored():
    torch.manual_seed(0)
    m = GRU(4, 6, batch_first=True, mode="emulate")  # (float / fakequant refuse any NaN in the tensor)
    x = torch.randn(2, 3, 4)
    clean, _ = m(x, lengths=torch.tensor([3, 2]))
    x[1, 2] = float("nan")
    y, h = m(x, lengths=torch.tensor([3, 2]))
    assert torch.isfinite(y).all() and torch.isfinite(h).all()
    assert torch.equal(y, clean) and y[1, 2].abs().sum() == 0  # padding stays zero, nothing else moves
    alone, _ = m(x[1:, :2], lengths=torch.tensor([2]))
    assert torch.equal(y[1, :2], alone[0])


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"weight": (0, 0)}, "datapath.weight"),
        ({"cell": (40, 3)}, "datapath.cell"),
        ({"act": (8, 9)}, "datapath.act"),
        ({"rounding": "banker"}, "datapath.rounding"),
        ({"acc_bits": 70}, "acc_bits"),
        ({"act_index_bits": 0}, "act_index_bits"),
        ({"bias": (32, 32), "weight": (8, 2), "input": (8, 2), "hidden": (8, 2)}, "bias.frac"),
    ],
)
def test_impossible_configs(kw, needle):
    with pytest.raises(ValueError, match=needle):
        DatapathConfig(**kw)


def test_unknown_config_key():
    with pytest.raises(ValueError, match="unknown key"):
        DatapathConfig.from_dict({"weigth": {"bits": 8, "frac": 4}})


def test_float64_bound_enforced():
    cfg = DatapathConfig(weight=Fmt(32, 16), input=Fmt(32, 16), hidden=Fmt(16, 15), bias=Fmt(16, 8), acc_bits=53)
    m = LSTM(4, 6, mode="emulate", datapath=cfg)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        m(torch.randn(1, 2, 4))


def test_bad_mode_and_sizes():
    with pytest.raises(ValueError, match="mode 'int8' unknown"):
        LSTM(4, 6, mode="int8")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        GRU(4, 0)
    with pytest.raises(ValueError, match="per-layer configs"):
        LSTM(4, 6, num_layers=2, datapath=[DatapathConfig()])


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_lengths_passed_where_hx_goes_names_the_keyword(cls):
    m = cls(3, 4, batch_first=True)
    x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 3])
    with pytest.raises(ValueError, match=r"lengths=lengths"):
        m(x, lengths)
    out, _ = m(x, lengths=lengths)  # the keyword works
    assert out.shape == (2, 5, 4) and bool((out[1, 3:] == 0).all())
