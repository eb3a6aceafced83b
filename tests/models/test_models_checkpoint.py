"""Checkpoints round-trip (weights_only) and fail with one line naming the file."""

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnaccel.errors import RnnaccelError
from rnnaccel.models.checkpoint import add_digest, content_digest, read_checkpoint

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


def _tiny(tmp_path, name="t.pt"):
    m = SpeechRecognizer(SpeechModelConfig(n_feats=5, hidden_size=8, num_layers=1))
    return save_checkpoint(tmp_path / name, m, WordVocab())


class Foreign:
    """A class of another program: a pickled instance is not plain data."""


def _broken(tmp_path, kind):
    p = tmp_path / f"{kind}.pt"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "random":
        p.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    elif kind == "truncated":
        good = _tiny(tmp_path, "good.pt").read_bytes()
        p.write_bytes(good[: len(good) // 2])
    elif kind == "state_dict":  # a plain torch state dict, not an rnnaccel checkpoint
        torch.save(torch.nn.LSTM(3, 4).state_dict(), p)
    elif kind == "pickled_object":
        torch.save({"model": Foreign()}, p)
    elif kind == "other_format":
        torch.save({"format": "something else"}, p)
    return p


@pytest.mark.parametrize(
    "kind, says",
    [
        ("missing", "no such file"),
        ("empty", "empty file"),
        ("random", "not a PyTorch checkpoint"),
        ("truncated", "truncated or damaged torch archive"),
        ("state_dict", "not an rnnaccel checkpoint"),
        ("pickled_object", "holds Python objects"),
        ("other_format", "not an rnnaccel checkpoint"),
    ],
)
def test_broken_files_are_one_line_naming_the_cause(tmp_path, kind, says):
    p = tmp_path / "nope.pt" if kind == "missing" else _broken(tmp_path, kind)
    with pytest.raises(RnnaccelError) as e:
        load_checkpoint(p)
    msg = str(e.value)
    assert f"checkpoint {p}: {says}" in msg and "\n" not in msg and len(msg) < 400, msg


def _flip_tensor_byte(path):
    """Flip one byte inside the first tensor record of a torch zip archive (CRCs are not checked)."""
    data = bytearray(path.read_bytes())
    info = next(i for i in zipfile.ZipFile(path).infolist() if "/data/" in i.filename)
    h = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[h + 26 : h + 30])
    data[h + 30 + name_len + extra_len + 1] ^= 0x40
    path.write_bytes(bytes(data))


def test_digest_is_stored_and_a_flipped_byte_is_refused(tmp_path):
    p = _tiny(tmp_path)
    ck = load_checkpoint(p)
    assert ck["digest"] == content_digest(ck) and len(ck["digest"]) == 64
    _flip_tensor_byte(p)
    with pytest.raises(RnnaccelError, match="content does not match its digest"):
        load_model(p)


def test_old_checkpoint_without_digest_loads_with_a_note_and_add_digest_is_lossless(tmp_path, caplog):
    p = _tiny(tmp_path)
    ck = torch.load(p, weights_only=True)
    del ck["digest"]
    torch.save(ck, p)  # as written before digests existed
    with caplog.at_level("WARNING", logger="rnnaccel.checkpoint"):
        m1, _, _ = load_model(p)
    assert "not verified" in caplog.text
    digest = add_digest(p)
    m2, _, ck2 = load_model(p)
    assert ck2["digest"] == digest
    for k, v in m1.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])


def test_shipped_checkpoints_carry_a_verified_digest():
    root = Path(__file__).resolve().parents[2] / "checkpoints"
    for p in sorted(root.rglob("*.pt")):
        ck = read_checkpoint(p)
        assert ck.get("digest") == content_digest(ck), p


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
