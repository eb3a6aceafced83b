"""The attentional LSTM translator: training in float/fakequant, emulation, decoding, checkpoints."""

from __future__ import annotations

import pytest
import torch

from rnnaccel.datasets.subword import BOS, EOS, SubwordVocab, pad_batch, token_batches, train_sentencepiece
from rnnaccel.models.beam_seq2seq import beam_search, greedy_search, translate
from rnnaccel.models.translation import Translator, TranslatorConfig
from rnnaccel.models.translation_ckpt import calibrate_translator, load_translator, save_translator

PAIRS = [([5, 6, 7], [8, 9]), ([6, 5], [10, 11, 12]), ([7, 7, 9, 5], [13, 8]), ([9], [14, 15, 9, 10])]


def tiny(seed=0, **kw) -> Translator:
    torch.manual_seed(seed)
    cfg = dict(src_vocab=20, tgt_vocab=20, emb_size=16, enc_hidden=12, dec_hidden=16, dropout=0.0)
    cfg.update(kw)
    return Translator(TranslatorConfig(**cfg))


def batch(pairs=PAIRS):
    src, src_len = pad_batch([s for s, _ in pairs], eos=True)
    tgt_in, tgt_len = pad_batch([t for _, t in pairs], bos=True)
    tgt_out, _ = pad_batch([t for _, t in pairs], eos=True)
    return src, src_len, tgt_in, tgt_out, tgt_len


def calibrated(model):
    src, sl, ti, _, tl = batch()
    dp = calibrate_translator(model, [(src, sl, ti, tl)])
    return model.set_datapath(dp["encoder"], dp["decoder"]), dp


@pytest.mark.parametrize("mode", ["float", "fakequant"])
def test_tiny_model_overfits(mode):
    model = tiny(enc_layers=2).set_mode(mode)  # default 16-bit formats (weights Q16.12)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    b = batch()
    first = float(model.loss(*b).detach())
    for _ in range(80):
        loss = model.loss(*b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.25 * first
    assert greedy_search(model.eval(), b[0], b[1]) == [t for _, t in PAIRS]


def test_fast_float_equals_module_float_path():
    model = tiny().eval()
    b = batch()
    fast = model(b[0], b[1], b[2], b[4])
    model.fast_float = False
    slow = model(b[0], b[1], b[2], b[4])
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_emulate_forward_runs_and_tracks_float():
    model, _ = calibrated(tiny().eval())
    b = batch()
    ref = model(b[0], b[1], b[2], b[4])
    model.set_mode("emulate")
    emu = model(b[0], b[1], b[2], b[4])
    assert emu.shape == ref.shape and bool(torch.isfinite(emu).all())
    assert float((emu - ref).abs().max()) < 0.05


def test_emulated_stepwise_decoder_equals_whole_sequence():
    model, _ = calibrated(tiny().eval())
    model.set_mode("emulate")
    src, src_len, tgt_in, _, tgt_len = batch()
    memory, keys, mask = model.encode(src, src_len)
    full = torch.ones_like(tgt_len) * tgt_in.shape[1]
    whole, _ = model.decoder(model.tgt_emb(tgt_in), lengths=full)
    state, steps = None, []
    for t in range(tgt_in.shape[1]):
        out, state = model.decoder(model.tgt_emb(tgt_in[:, t : t + 1]), state, lengths=torch.ones_like(tgt_len))
        steps.append(out)
    assert torch.equal(torch.cat(steps, dim=1), whole)


@pytest.mark.parametrize("mode", ["float", "emulate"])
def test_decoding_is_deterministic(mode):
    model, _ = calibrated(tiny(seed=3).eval())
    model.set_mode(mode)
    src, src_len = batch()[:2]
    g1, g2 = greedy_search(model, src, src_len, max_len=7), greedy_search(model, src, src_len, max_len=7)
    b1, b2 = beam_search(model, src, src_len, beam=3, max_len=7), beam_search(model, src, src_len, beam=3, max_len=7)
    assert g1 == g2 and b1 == b2
    assert len(b1) == len(PAIRS) and all(len(h) <= 7 and EOS not in h and BOS not in h for h in b1)
    assert beam_search(model, src, src_len, beam=1, max_len=7) == g1


def test_beam_finds_at_least_greedy_score():
    model = tiny(seed=5).eval()
    src, src_len = batch()[:2]

    def logp(seq, b):
        m, k, msk = model.encode(src[b : b + 1], src_len[b : b + 1])
        state, total, prev = None, 0.0, BOS
        for tok in seq + [EOS]:
            lp, state = model.step(torch.tensor([prev]), state, m, k, msk)
            total += float(lp[0, tok])
            prev = tok
        return total

    g = greedy_search(model, src, src_len, max_len=6)
    bm = beam_search(model, src, src_len, beam=4, alpha=0.0, max_len=6)
    for b in range(len(PAIRS)):
        if len(g[b]) < 6 and len(bm[b]) < 6:  # both finished
            assert logp(bm[b], b) >= logp(g[b], b) - 1e-4


@pytest.fixture(scope="module")
def spm_vocab():
    words = [
        "a dog runs",
        "two men sit on a bench",
        "a woman in red walks",
        "the child plays with a ball",
        "people stand near the water",
        "a man rides a bike",
    ] * 5
    return SubwordVocab(train_sentencepiece(words, vocab_size=60, model_type="bpe"))


def test_subword_vocab_bytes_round_trip(spm_vocab):
    ids = spm_vocab.encode("a man sits")
    assert spm_vocab.decode(ids + [EOS, 7]) == "a man sits"
    again = SubwordVocab.from_tensor(spm_vocab.to_tensor())
    assert again.encode("a man sits") == ids and spm_vocab.to_tensor().dtype == torch.uint8


def test_token_batches_cover_every_example_once():
    src, tgt = [3, 9, 1, 4, 4, 12, 2], [2, 8, 3, 5, 4, 10, 1]
    bs = token_batches(src, tgt, max_tokens=20, seed=1)
    assert sorted(i for b in bs for i in b) == list(range(7))
    assert all(len(b) == 1 or max(max(src[i], tgt[i]) for i in b) * len(b) <= 20 for b in bs)


def test_checkpoint_round_trip(tmp_path, spm_vocab):
    model, dp = calibrated(tiny(src_vocab=len(spm_vocab), tgt_vocab=len(spm_vocab)).eval())
    path = save_translator(
        tmp_path / "t.pt", model, spm_vocab, spm_vocab, metrics={"bleu": 1.0}, datapath=dp, extra={"command": "x"}
    )
    raw = torch.load(path, weights_only=True)
    assert raw["metrics"] == {"bleu": 1.0} and raw["vocab"]["src"].dtype == torch.uint8
    loaded, sv, tv, ck = load_translator(path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert loaded.datapath == model.datapath and sv.model_bytes == spm_vocab.model_bytes
    assert translate(loaded, sv, tv, ["a dog sits"], beam=2) == translate(
        model, spm_vocab, spm_vocab, ["a dog sits"], beam=2
    )
    with pytest.raises(ValueError, match="no such file"):
        load_translator(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="bad.pt: not a PyTorch checkpoint"):
        load_translator(tmp_path / "bad.pt")
