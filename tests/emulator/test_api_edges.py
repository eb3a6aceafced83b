"""API edges that used to compute silently or raise deep inside: a batch of size 0, time-first
torch modules, NaN/Inf weights and a golden case of zero steps or sequences."""

import subprocess
import sys

import pytest
import torch

from rnnaccel.emulator import GRU, LSTM
from rnnaccel.errors import RnnaccelError

MODES = ("float", "fakequant", "emulate")


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lengths", [None, torch.zeros(0, dtype=torch.long)])
def test_a_batch_of_size_zero_gives_empty_outputs(cls, mode, lengths):
    m = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True, mode=mode)
    out, state = m(torch.zeros(0, 5, 3), lengths=lengths)
    h_n = state[0] if cls is LSTM else state
    assert out.shape == (0, 5, 8) and h_n.shape == (4, 0, 4)
    if cls is LSTM:
        assert state[1].shape == (4, 0, 4)


@pytest.mark.parametrize("torch_cls, cls", [(torch.nn.LSTM, LSTM), (torch.nn.GRU, GRU)])
@pytest.mark.parametrize("mode", MODES)
def test_from_torch_honours_batch_first_false(torch_cls, cls, mode):
    torch.manual_seed(0)
    tm = torch_cls(3, 5, num_layers=2, bidirectional=True)  # batch_first=False: (time, batch, features)
    ours = cls.from_torch(tm, mode=mode)
    assert ours.batch_first is False
    x = torch.randn(7, 2, 3)
    lengths = torch.tensor([7, 4])
    out, state = ours(x, lengths=lengths)
    ref, ref_state = (
        cls.from_torch(torch_cls(3, 5, num_layers=2, bidirectional=True, batch_first=True), mode=mode),
        None,
    )
    ref.load_state_dict(ours.state_dict())
    ref_out, ref_state = ref(x.transpose(0, 1), lengths=lengths)
    assert out.shape == (7, 2, 10) and torch.equal(out, ref_out.transpose(0, 1))
    h, rh = (state[0], ref_state[0]) if cls is LSTM else (state, ref_state)
    assert torch.equal(h, rh)
    if mode == "float":  # and equals torch on its own layout
        with torch.no_grad():
            torch_out, _ = tm(x)
        assert torch.allclose(out[:, 0], torch_out[:, 0], atol=1e-6)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_from_torch_refuses_nan_or_inf_weights_naming_the_parameter(bad):
    tm = torch.nn.LSTM(3, 4, num_layers=2)
    with torch.no_grad():
        tm.weight_hh_l1[2, 1] = bad
    with pytest.raises(RnnaccelError, match="parameter weight_hh_l1 holds NaN or infinite values"):
        LSTM.from_torch(tm)


@pytest.mark.parametrize("arg", ["--steps", "--batch"])
def test_golden_cli_refuses_zero_steps_or_sequences(tmp_path, arg):
    out = tmp_path / "g.npz"
    p = subprocess.run(
        [sys.executable, "-m", "rnnaccel.emulator.golden", arg, "0", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and f"argument {arg}: 0 must be >= 1" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists()
