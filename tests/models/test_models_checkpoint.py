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


def test_float16_storage_round_trip_and_size(tmp_path):
    from rnnaccel.models import round_to_storage

    torch.manual_seed(1)
    m = SpeechRecognizer(SpeechModelConfig(n_feats=5, hidden_size=32, num_layers=2))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    round_to_storage(m, "float16")
    changed = sum(not torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert changed > 0  # random float32 weights are not all float16 numbers
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k].half().float())
    p16 = save_checkpoint(tmp_path / "h.pt", m, WordVocab(), storage="float16")
    p32 = save_checkpoint(tmp_path / "f.pt", m, WordVocab())
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    m2, _, ck = load_model(p16)
    assert ck["storage"] == "float16" and load_checkpoint(p32)["storage"] == "float32"
    for k, v in m.state_dict().items():  # loaded back as float32, exactly the rounded model
        assert m2.state_dict()[k].dtype == torch.float32 and torch.equal(m2.state_dict()[k], v)
    with pytest.raises(ValueError, match="storage='int4' unknown"):
        save_checkpoint(tmp_path / "x.pt", m, WordVocab(), storage="int4")
    with torch.no_grad():
        m.head.bias[0] = 1e6  # beyond float16
    with pytest.raises(ValueError, match="head.bias: values beyond the float16 range"):
        round_to_storage(m, "float16")


def test_tied_tensors_are_stored_once():
    from rnnaccel.models.checkpoint import stored_state_dict

    lin = torch.nn.Linear(4, 6)
    emb = torch.nn.Embedding(6, 4)
    emb.weight = lin.weight
    model = torch.nn.ModuleDict({"emb": emb, "out": lin})
    sd = stored_state_dict(model, "float16")
    assert sd["emb.weight"] is sd["out.weight"] and sd["out.weight"].dtype == torch.float16
    assert sd["out.bias"] is not sd["out.weight"]
