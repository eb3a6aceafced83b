"""SpeechRecognizer: frame stacking, mode switching, the fused float path, and learning in each mode."""

import pytest
import torch


from rnnaccel.emulator import DatapathConfig, Trace
from rnnaccel.models import SpeechModelConfig, SpeechRecognizer, stack_frames


def tiny(cell="lstm", **kw):
    torch.manual_seed(0)
    cfg = SpeechModelConfig(
        n_feats=6, vocab_size=4, stack=2, stride=2, cell=cell, hidden_size=12, num_layers=2, dropout=0.0, **kw
    )
    return SpeechRecognizer(cfg)


def test_stack_frames_values_and_lengths():
    x = torch.arange(2 * 5 * 1, dtype=torch.float32).reshape(2, 5, 1) + 1
    lengths = torch.tensor([5, 3])
    y, n = stack_frames(x, lengths, stack=3, stride=2)
    assert y.shape == (2, 3, 3) and n.tolist() == [3, 2]
    assert y[0].tolist() == [[1, 2, 3], [3, 4, 5], [5, 0, 0]]
    assert y[1].tolist() == [[6, 7, 8], [8, 0, 0], [0, 0, 0]]  # frames past length 3 read as 0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fused_float_path_equals_emulator_float(cell):
    m = tiny(cell).eval()
    x, lengths = torch.randn(3, 11, 6), torch.tensor([11, 4, 7])
    a, la = m(x, lengths)
    m.fast_float = False
    b, lb = m(x, lengths)
    assert torch.equal(la, lb) and la.tolist() == [6, 2, 4]
    assert torch.allclose(a, b, atol=1e-5)


def test_set_mode_and_datapath_reach_every_recurrent_layer():
    m = tiny()
    cfgs = [DatapathConfig(), DatapathConfig(input="Q16.15", cell="Q16.12")]
    m.set_datapath(cfgs).set_mode("emulate")
    assert m.rnn.mode == "emulate" and m.mode == "emulate"
    assert m.rnn.datapath == cfgs
    with pytest.raises(ValueError):
        m.set_mode("fast")


def test_bad_config_and_input():
    with pytest.raises(ValueError, match="model.cell"):
        SpeechModelConfig(cell="rnn")
    with pytest.raises(ValueError, match="model.hidden_size"):
        SpeechModelConfig(hidden_size=0)
    with pytest.raises(ValueError, match="expected features"):
        tiny()(torch.zeros(1, 4, 5), torch.tensor([4]))


def _overfit(mode, steps=40):
    torch.manual_seed(1)
    m = tiny()
    m.set_mode(mode)
    x, lengths = torch.randn(4, 16, 6), torch.tensor([16, 14, 12, 10])
    targets, tl = torch.tensor([[1, 2, 3], [2, 2, 0], [3, 1, 0], [1, 0, 0]]), torch.tensor([3, 2, 2, 1])
    opt = torch.optim.Adam(m.parameters(), lr=0.03)
    losses = []
    for _ in range(steps):
        loss = m.ctc_loss(x, lengths, targets, tl)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return m, losses, (x, lengths)


@pytest.mark.parametrize("mode", ["float", "fakequant"])
def test_tiny_model_overfits(mode):
    _, losses, _ = _overfit(mode)
    assert losses[-1] < 0.3 * losses[0]


def test_emulate_forward_runs_and_tracks_float():
    m, _, (x, lengths) = _overfit("float")
    m.eval()
    lp_f, _ = m(x, lengths)
    m.set_mode("emulate")
    trace = Trace()
    lp_e, n = m(x, lengths, trace=trace)
    assert lp_e.shape == lp_f.shape and n.tolist() == [8, 7, 6, 5]
    assert len(trace) == 4 and trace.total("mac.16x16") > 0  # 2 layers x 2 directions
    assert (lp_e - lp_f).abs().max() < 0.05
