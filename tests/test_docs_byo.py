"""docs/byo.md cannot rot: its walk-through (examples/byo_walkthrough.py) runs, its claims hold and
the numbers the doc quotes are the ones the script prints."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("torchaudio", reason="the walk-through builds torchaudio's Tacotron2")


@pytest.fixture(scope="module")
def result():
    spec = importlib.util.spec_from_file_location("byo_walkthrough", ROOT / "examples" / "byo_walkthrough.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main()


def test_tacotron2_converts_calibrates_and_runs_in_a_session(result):
    a = result["tacotron2"]
    assert a["converted"] == ["encoder.lstm", "decoder.attention_rnn", "decoder.decoder_rnn"]
    assert a["not_converted"] == []
    assert a["emulate_rms_error"] < 1e-3 * a["mel_rms"]  # 16-bit emulation: under 0.1 % of the signal
    tech = a["techniques (score: mel RMS error vs float)"]
    assert tech["dense"]["score"] == round(a["emulate_rms_error"], 6)  # a plain session is plain emulation
    assert all(tech["memo"]["reuse"][m] > 0 for m in a["converted"])  # the decoder cells reuse across calls
    for name in ("memo", "precision", "both"):
        assert 0 < tech[name]["energy_saving"]["total"] < 1


def test_trained_reverser_keeps_its_accuracy_at_16_bits(result):
    b = result["reverser"]
    assert b["converted"] == ["encoder", "decoder"]
    assert b["accuracy"]["float"] > 0.5 and b["accuracy"]["emulate16"] == pytest.approx(
        b["accuracy"]["float"], abs=0.01
    )
    tech = b["techniques (score: sequence accuracy)"]
    assert tech["dense"]["score"] == b["accuracy"]["emulate16"]
    assert tech["memo"]["reuse"]["decoder"] > 0


def test_memo_loss_on_the_reverser_is_the_bnn_predictor_not_the_reuse(result):
    """docs/byo.md's diagnosis: the oracle reuses at least as much as the BNN and keeps the accuracy,
    the BNN loses it on each module alone (no encoder -> decoder leak explains the loss)."""
    b = result["reverser"]
    memo = b["techniques (score: sequence accuracy)"]["memo"]
    diag = b["memo diagnosis (score: sequence accuracy)"]
    oracle, emulated = diag["oracle, both"], b["accuracy"]["emulate16"]
    assert all(oracle["reuse"][m] >= memo["reuse"][m] for m in ("encoder", "decoder"))
    assert oracle["score"] >= emulated - 0.05 > memo["score"]
    for only in ("encoder", "decoder"):
        case = diag[f"bnn, {only} only"]
        assert case["reuse"][only] > 0 and case["score"] < emulated - 0.05
        assert all(v == 0 for m, v in case["reuse"].items() if m != only)


def test_the_doc_quotes_the_printed_numbers(result):
    doc = (ROOT / "docs" / "byo.md").read_text()
    a, b = result["tacotron2"], result["reverser"]
    ta, tb = a["techniques (score: mel RMS error vs float)"], b["techniques (score: sequence accuracy)"]
    quoted = [
        f"{a['emulate_rms_error']:.2e}",
        f"{ta['both']['energy_saving']['total']:.1%}",
        f"{ta['memo']['reuse']['decoder.decoder_rnn']:.1%}",
        f"{b['accuracy']['float']:.3f}",
        f"{tb['memo']['score']:.3f}",
        f"{tb['precision']['energy_saving']['total']:.1%}",
        *(f"{case['score']:.3f}" for case in b["memo diagnosis (score: sequence accuracy)"].values()),
    ]
    missing = [q for q in quoted if not re.search(re.escape(q), doc)]
    assert not missing, f"docs/byo.md does not quote {missing}: rerun examples/byo_walkthrough.py and update it"
