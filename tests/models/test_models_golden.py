"""Shipped checkpoints on the first 20 items of their test sets reproduce stored golden results.

Speech (digits; synthesized speech on a shipped 20-utterance slice of its held-out test voices):
emulated hypotheses, WER/CER, saturations and trace totals must match exactly (integer datapath);
the float run's hypotheses and WER too. Translator: greedy float and emulated translations and BLEU.
Regenerate deliberately with ``.venv/bin/python tests/models/test_models_golden.py`` (after shipping
a new checkpoint; the synth slice is copied from the generated corpus then).
"""

import json
import shutil
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = Path(__file__).parent / "golden"
TRANSLATOR = ROOT / "checkpoints" / "translation" / "translator.pt"
N = 20
#: name -> (checkpoint, data overrides); the golden file is golden/<name>.json
SPEECH = {
    "digits_blstm_test20": (ROOT / "checkpoints" / "digits_blstm.pt", {}),
    "digits_blstm_heldout_test20": (ROOT / "checkpoints" / "digits_blstm_heldout.pt", {}),
    "digits_bgru_heldout_test20": (ROOT / "checkpoints" / "digits_bgru_heldout.pt", {}),
    "synth_blstm_test20": (ROOT / "checkpoints" / "synth_blstm.pt", {"root": str(GOLDEN_DIR / "synth_test20")}),
}


def compute_speech(name: str) -> dict:
    from rnnaccel.apps.data import checkpoint_data, load_split
    from rnnaccel.apps.evaluate import cost_summary, saturations, score
    from rnnaccel.emulator import Trace
    from rnnaccel.models import load_model

    ckpt, overrides = SPEECH[name]
    model, vocab, ck = load_model(ckpt)
    data = checkpoint_data(ck, num_test=N, cache_dir=None, **overrides)
    ds = load_split(data, "test")
    out = {"checkpoint": ckpt.name, "utterances": N, "references": ds.transcripts}
    f = score(model, ds, vocab, "float", batch_size=10)
    out["float"] = {k: f[k] for k in ("wer", "cer", "hypotheses")}
    trace = Trace()
    e = score(model, ds, vocab, "emulate", batch_size=10, trace=trace)
    out["emulate"] = {
        **{k: e[k] for k in ("wer", "cer", "hypotheses")},
        "saturations": saturations(model, trace),
        "trace_totals": trace.totals(),
    }
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


def copy_synth_slice(out: Path, n: int = N) -> None:
    """The first ``n`` test utterances of the generated corpus (audio + manifest lines) -> ``out``."""
    from rnnaccel.datasets.synth import SynthSpeech

    src = SynthSpeech("test")
    shutil.rmtree(out, ignore_errors=True)
    lines = []
    for rec in src.records[:n]:
        (out / rec["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.root / rec["path"], out / rec["path"])
        lines.append(json.dumps(rec, sort_keys=True))
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def _have(path: Path) -> bool:
    try:
        from rnnaccel.datasets import default_data_root

        return path.is_file() and default_data_root().is_dir()
    except Exception:
        return False


@pytest.mark.parametrize("name", sorted(SPEECH))
def test_speech_golden_20_utterances(name):
    if not _have(SPEECH[name][0]):
        pytest.skip(f"needs the shared data and {SPEECH[name][0].name}")
    want = json.loads((GOLDEN_DIR / f"{name}.json").read_text())
    got = json.loads(json.dumps(compute_speech(name)))
    assert got["references"] == want["references"]
    assert got["emulate"]["hypotheses"] == want["emulate"]["hypotheses"]
    assert got["emulate"] == want["emulate"]
    assert got["float"] == want["float"]
    for k in ("cycles", "seconds", "total_j"):
        assert got["cost_epur"][k] == pytest.approx(want["cost_epur"][k], rel=1e-12)


@pytest.mark.skipif(not _have(TRANSLATOR), reason="needs the Multi30k data and the translator checkpoint")
def test_translator_golden_20_sentences():
    want = json.loads((GOLDEN_DIR / "translator_test20.json").read_text())
    got = json.loads(json.dumps(compute_translator()))
    assert got["references"] == want["references"]
    assert got["emulate"] == want["emulate"]
    assert got["float"] == want["float"]


if __name__ == "__main__":
    if "--copy-synth-slice" in sys.argv:
        copy_synth_slice(GOLDEN_DIR / "synth_test20")
    goldens = {name: (lambda n=name: compute_speech(n)) for name, (ck, _) in SPEECH.items() if ck.is_file()}
    goldens["translator_test20"] = compute_translator
    for name, fn in goldens.items():
        path = GOLDEN_DIR / f"{name}.json"
        path.write_text(json.dumps(fn(), indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}", file=sys.stderr)
