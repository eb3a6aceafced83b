"""Shipped checkpoints on the first 20 items of their test sets reproduce stored golden results.

Digits: emulated hypotheses, WER/CER, saturations and trace totals must match exactly (integer
datapath); the float run's hypotheses and WER too. Translator: greedy float and emulated
translations and BLEU. Regenerate deliberately with
``.venv/bin/python tests/models/test_models_golden.py`` (after shipping a new checkpoint).
"""
import json
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
CKPT = ROOT / "checkpoints" / "digits_blstm.pt"
GOLDEN = Path(__file__).parent / "golden" / "digits_blstm_test20.json"
TRANSLATOR = ROOT / "checkpoints" / "translation" / "translator.pt"
GOLDEN_TRANSLATOR = Path(__file__).parent / "golden" / "translator_test20.json"
N = 20


def compute() -> dict:
    from rnnaccel.apps.data import checkpoint_data, load_split
    from rnnaccel.apps.evaluate import cost_summary, saturations, score
    from rnnaccel.emulator import Trace
    from rnnaccel.models import load_model

    model, vocab, ck = load_model(CKPT)
    data = checkpoint_data(ck, num_test=N, cache_dir=None)
    ds = load_split(data, "test")
    out = {"checkpoint": CKPT.name, "utterances": N, "references": ds.transcripts}
    f = score(model, ds, vocab, "float", batch_size=10)
    out["float"] = {k: f[k] for k in ("wer", "cer", "hypotheses")}
    trace = Trace()
    e = score(model, ds, vocab, "emulate", batch_size=10, trace=trace)
    out["emulate"] = {**{k: e[k] for k in ("wer", "cer", "hypotheses")},
                      "saturations": saturations(model, trace), "trace_totals": trace.totals()}
    out["cost_epur"] = cost_summary(trace, "epur")
    return out


def compute_translator() -> dict:
    import sacrebleu

    from rnnaccel.datasets.multi30k import Multi30k
    from rnnaccel.emulator import Trace
    from rnnaccel.models.beam_seq2seq import translate
    from rnnaccel.models.translation_ckpt import load_translator

    model, sv, tv, _ = load_translator(TRANSLATOR)
    pairs = Multi30k("test_2016_flickr", max_pairs=N).pairs
    srcs, refs = [p.src for p in pairs], [p.tgt for p in pairs]
    out = {"checkpoint": TRANSLATOR.name, "sentences": N, "references": refs}
    for mode in ("float", "emulate"):
        model.set_mode(mode)
        trace = Trace() if mode == "emulate" else None
        hyps = translate(model, sv, tv, srcs, beam=1, batch_size=10, trace=trace)
        out[mode] = {"bleu": sacrebleu.corpus_bleu(hyps, [refs]).score, "hypotheses": hyps}
        if trace is not None:
            out[mode]["trace_totals"] = trace.totals()
    return out


def _available() -> bool:
    try:
        from rnnaccel.datasets import default_data_root
        return (default_data_root() / "fsdd" / "recordings").is_dir() and CKPT.is_file()
    except Exception:
        return False


@pytest.mark.skipif(not _available(), reason="needs the FSDD data and checkpoints/digits_blstm.pt")
def test_golden_20_utterances():
    want = json.loads(GOLDEN.read_text())
    got = json.loads(json.dumps(compute()))
    assert got["references"] == want["references"]
    assert got["emulate"]["hypotheses"] == want["emulate"]["hypotheses"]
    assert got["emulate"] == want["emulate"]
    assert got["float"] == want["float"]
    for k in ("cycles", "seconds", "total_j"):
        assert got["cost_epur"][k] == pytest.approx(want["cost_epur"][k], rel=1e-12)


def _have_multi30k() -> bool:
    try:
        from rnnaccel.datasets import default_data_root
        return (default_data_root() / "multi30k").is_dir() and TRANSLATOR.is_file()
    except Exception:
        return False


@pytest.mark.skipif(not _have_multi30k(), reason="needs the Multi30k data and the translator checkpoint")
def test_translator_golden_20_sentences():
    want = json.loads(GOLDEN_TRANSLATOR.read_text())
    got = json.loads(json.dumps(compute_translator()))
    assert got["references"] == want["references"]
    assert got["emulate"] == want["emulate"]
    assert got["float"] == want["float"]


if __name__ == "__main__":
    for path, fn in ((GOLDEN, compute), (GOLDEN_TRANSLATOR, compute_translator)):
        path.write_text(json.dumps(fn(), indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}", file=sys.stderr)
