"""rnnaccel.convert: every recurrent module of a nested model is replaced (or listed with a reason),
weights kept; set_mode switches them all."""

import pytest
import torch
from torch import nn

import rnnaccel
from rnnaccel.emulator import GRU, LSTM, DatapathConfig, LSTMCell
from rnnaccel.emulator.convert import convert, recurrent_modules, set_mode
from rnnaccel.errors import RnnaccelError


class MyCell(nn.Module):
    """A hand-written recurrent cell: not convertible."""

    def __init__(self, n):
        super().__init__()
        self.lin = nn.Linear(2 * n, n)

    def forward(self, x, h):
        return torch.tanh(self.lin(torch.cat([x, h], -1)))


class WeightDropLSTM(nn.LSTM):
    """A subclass of a supported type: its forward may differ, so it is refused."""


class EncoderRNN(nn.Module):
    """A wrapper whose name says RNN: a container, its GRU is converted."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(6, 8, batch_first=True)

    def forward(self, x):
        return self.gru(x)[0]


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = EncoderRNN()
        self.stack = nn.ModuleList([nn.LSTM(8, 8, num_layers=2), nn.Linear(8, 8)])
        self.seq = nn.Sequential(nn.GRU(8, 5, bidirectional=True))
        self.heads = nn.ModuleDict({"dec": nn.LSTMCell(10, 7), "custom": MyCell(7)})
        self.shared = self.stack[0]  # the same module under two names

    def forward(self, x):  # x (B, T, 6)
        y = self.enc(x)  # (B, T, 8)
        y, _ = self.stack[0](y.transpose(0, 1))  # time-first
        y = self.stack[1](y)
        y, _ = self.seq[0](y)  # (T, B, 10)
        h = c = torch.zeros(x.shape[0], 7)
        outs = []
        for t in range(y.shape[0]):
            h, c = self.heads["dec"](y[t], (h, c))
            outs.append(self.heads["custom"](h, h))
        return torch.stack(outs)


def _model():
    torch.manual_seed(0)
    return Nested().eval()


def test_nested_model_every_module_reported_with_qualified_names():
    m, report = convert(_model())
    names = {c.name: c for c in report.converted}
    assert set(names) == {"enc.gru", "stack.0", "seq.0", "heads.dec"}
    assert names["stack.0"].options["num_layers"] == 2 and names["seq.0"].options["bidirectional"]
    assert names["enc.gru"].emulator_type == "rnnaccel.emulator.GRU"
    assert [n.name for n in report.not_converted] == ["heads.custom"]
    assert "custom" in report.not_converted[0].reason
    assert m.shared is m.stack[0] and isinstance(m.shared, LSTM)  # shared stays shared, converted once
    assert {n for n, _ in recurrent_modules(m)} == {"enc.gru", "stack.0", "seq.0", "heads.dec"}
    text, d = str(report), report.to_dict()
    assert "heads.custom" in text and "NOT converted" in text and "stack.0" in text
    assert [c["name"] for c in d["converted"]] == [c.name for c in report]


def test_float_mode_equals_the_torch_model():
    torch.manual_seed(1)
    x = torch.randn(3, 5, 6)
    model = _model()
    want = model(x)
    m, _ = convert(model)
    got = m(x)
    assert (got - want).abs().max() <= 1e-6
    assert isinstance(model.stack[0], nn.LSTM)  # inplace=False left the original alone


def test_inplace_and_top_level_module():
    model = _model()
    same, _ = convert(model, inplace=True)
    assert same is model and isinstance(model.enc.gru, GRU)
    g, report = convert(nn.GRU(3, 4, batch_first=True))
    assert isinstance(g, GRU) and g.batch_first and report[0].name == ""


def test_subclass_of_a_supported_type_is_refused_not_skipped():
    model = nn.Sequential(WeightDropLSTM(3, 4), nn.LSTM(3, 4))
    m, report = convert(model)
    assert [c.name for c in report] == ["1"]
    assert [(n.name, "subclasses torch.nn.RNNBase" in n.reason) for n in report.not_converted] == [("0", True)]
    with pytest.raises(RnnaccelError, match="strict=True"):
        convert(model, strict=True)


def test_emulate_mode_bit_identical_to_layers_built_directly():
    torch.manual_seed(2)
    lstm = nn.LSTM(6, 12, num_layers=2, batch_first=True)
    cell = nn.GRUCell(12, 9)
    model = nn.ModuleDict({"lstm": lstm, "cell": cell})
    dp = DatapathConfig(cell="Q16.12")
    m, _ = convert(model, mode="emulate", datapath=dp)
    direct = LSTM(6, 12, num_layers=2, batch_first=True, mode="emulate", datapath=dp)
    direct.load_state_dict(lstm.state_dict())
    x = torch.randn(4, 7, 6)
    y, (h, c) = m["lstm"](x)
    y2, (h2, c2) = direct(x)
    assert torch.equal(y, y2) and torch.equal(h, h2) and torch.equal(c, c2)
    from rnnaccel.emulator import GRUCell

    dcell = GRUCell(12, 9, mode="emulate", datapath=dp)
    dcell.load_state_dict(cell.state_dict())
    h0 = torch.rand(4, 9) * 0.5
    assert torch.equal(m["cell"](y[:, -1], h0), dcell(y[:, -1], h0))


def test_per_module_datapath_and_set_mode():
    model = nn.ModuleDict({"a": nn.LSTM(3, 4), "b": nn.GRU(4, 4)})
    m, _ = convert(model, datapath={"b": DatapathConfig(preact="Q16.10")})
    assert m["b"].datapath[0].preact.frac == 10 and m["a"].datapath[0].preact.frac == 12
    assert set_mode(m, "emulate") is m
    assert {mod.mode for _, mod in recurrent_modules(m)} == {"emulate"}
    with pytest.raises(RnnaccelError, match="mode"):
        set_mode(m, "int")
    with pytest.raises(RnnaccelError, match="convert"):
        set_mode(nn.Linear(2, 2), "emulate")
    with pytest.raises(RnnaccelError, match="mode"):
        convert(model, mode="emulated")


def test_top_level_exports_are_lazy_and_the_same_functions():
    assert rnnaccel.convert is convert and rnnaccel.set_mode is set_mode
    from rnnaccel.emulator import calibrate as emu_calibrate
    from rnnaccel.emulator.calibrate import calibrate

    assert rnnaccel.calibrate is calibrate is emu_calibrate
    assert isinstance(LSTMCell.from_torch(nn.LSTMCell(2, 3)), LSTMCell)
