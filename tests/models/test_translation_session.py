"""The translator's decoding runs in a technique session: memoization and dynamic precision act on
the encoder and on the decoder (one call per token), beam search reindexes their state, and the
trace keeps both stacks apart."""

import pytest
import torch

from rnnaccel.emulator import Trace
from rnnaccel.emulator.memo import MemoConfig, memo_factory, memo_stats
from rnnaccel.emulator.precision import PrecisionConfig, precision_factory, precision_stats
from rnnaccel.emulator.session import session
from rnnaccel.models.beam_seq2seq import beam_search, greedy_search
from rnnaccel.models.translation import Translator, TranslatorConfig

PREC = PrecisionConfig(mode="dynamic", ladder=[16, 8, 4], tau=0.01, thresholds=[0.5, 0.1])


def _model():
    torch.manual_seed(0)
    m = Translator(TranslatorConfig(src_vocab=40, tgt_vocab=30, emb_size=16, enc_hidden=12, dec_hidden=16, dropout=0))
    m.eval().set_mode("emulate")
    return m


def _src():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, 40, (3, 7), generator=g)
    src_len = torch.tensor([7, 5, 6])
    src[1, 5:] = 0
    src[2, 6:] = 0
    return src, src_len


def _search(model, beam, **kw):
    src, src_len = _src()
    if beam == 1:
        return greedy_search(model, src, src_len, max_len=6, **kw)
    return beam_search(model, src, src_len, beam=beam, max_len=6, **kw)


@pytest.mark.parametrize("beam", [1, 3])
def test_threshold_zero_decodes_as_plain_emulation(beam):
    model = _model()
    plain = _search(model, beam)
    tr = Trace()
    with session(model, memo=MemoConfig(predictor="bnn", theta=0.0), trace=tr) as s:
        got = _search(model, beam, session=s)
    assert got == plain
    assert memo_stats(tr)["total"]["reused"] == 0 and memo_stats(tr)["modules"]["decoder"]["computed"] > 0


@pytest.mark.parametrize("beam", [1, 3])
def test_techniques_act_on_encoder_and_decoder(beam):
    model = _model()
    for st in (model.encoder, model.decoder):  # as the evaluate app sets them
        st.units = [memo_factory(MemoConfig(predictor="bnn", theta=0.5)), precision_factory(PREC)]
    tr = Trace()
    _search(model, beam, trace=tr)
    assert model.decoder.units[0].carries is None  # the search's session closed
    st = memo_stats(tr)["modules"]
    assert st["encoder"]["reused"] > 0 and st["decoder"]["reused"] > 0
    ps = precision_stats(tr)
    assert ps["decoder"].get(16, 0.0) < 1.0  # the decoder's later tokens narrowed: history carried
    dec = tr.select("decoder").layers
    assert [lt.key for lt in tr.select("encoder")] == ["encoder:L0.d0", "encoder:L0.d1"]
    assert len(dec) == 1 and dec[0].key == "decoder:L0.d0" and dec[0].steps > 1  # one trace of T tokens
    assert int(dec[0].get("active")[0]) == 3 * beam


def test_caller_session_and_trace_are_exclusive():
    model = _model()
    with session(model, trace=Trace()) as s:
        with pytest.raises(ValueError, match="pass the trace to the session"):
            _search(model, 1, trace=Trace(), session=s)


def test_encoder_and_decoder_priced_apart():
    from rnnaccel.hardware.estimate import estimate

    model = _model()
    tr = Trace()
    _search(model, 1, trace=tr)
    rep = estimate(tr, "epur")
    keys = [lc.key for lc in rep.per_layer]
    assert sorted(keys) == ["decoder:L0.d0", "encoder:L0.d0", "encoder:L0.d1"]
    dec = next(lc for lc in rep.per_layer if lc.key == "decoder:L0.d0")
    assert dec.steps == tr.select("decoder").layers[0].steps and dec.total_j > 0
