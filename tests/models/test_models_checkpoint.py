"""Checkpoints round-trip (weights_only) and fail with one line naming the file."""
import pytest
import torch


from rnnaccel.datasets import WordVocab
from rnnaccel.emulator import DatapathConfig
from rnnaccel.models import SpeechModelConfig, SpeechRecognizer, load_checkpoint, load_model, save_checkpoint


def test_round_trip(tmp_path):
    torch.manual_seed(0)
    m = SpeechRecognizer(SpeechModelConfig(n_feats=5, hidden_size=8, num_layers=2, cell="gru"))
    dp = [DatapathConfig(), DatapathConfig(weight="Q16.14", cell="Q16.13", rounding="floor")]
    p = save_checkpoint(tmp_path / "m.pt", m, WordVocab(), {"wer": 0.25}, dp, {"note": "x"})
    m2, vocab, ck = load_model(p)
    assert ck["metrics"] == {"wer": 0.25} and ck["extra"] == {"note": "x"}
    assert vocab.tokens == WordVocab().tokens and m2.config == m.config
    assert m2.datapath == dp
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])
    x = torch.randn(2, 9, 5)
    assert torch.equal(m.eval()(x, torch.tensor([9, 5]))[0], m2(x, torch.tensor([9, 5]))[0])


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(ValueError, match=r"nope\.pt: no such file"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError) as e:
        load_checkpoint(bad)
    assert "bad.pt" in str(e.value) and "\n" not in str(e.value)
    m = SpeechRecognizer(SpeechModelConfig(n_feats=5, hidden_size=8, num_layers=1))
    p = save_checkpoint(tmp_path / "t.pt", m, WordVocab())
    p.write_bytes(p.read_bytes()[:200])  # truncated
    with pytest.raises(ValueError, match="t.pt: unreadable"):
        load_checkpoint(p)
    torch.save({"format": "something else"}, tmp_path / "f.pt")
    with pytest.raises(ValueError, match="f.pt: not an"):
        load_checkpoint(tmp_path / "f.pt")
