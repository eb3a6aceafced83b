"""LibriSpeech layout reader on a tiny generated fixture (two speakers, FLAC via soundfile)."""

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnaccel.datasets import DataError, LibriSpeech


def _make_corpus(root, split="test-clean"):
    """Write <root>/LibriSpeech/<split>/<spk>/<chap>/<spk>-<chap>-<utt>.flac + trans.txt."""
    utterances = {
        ("84", "121123"): ["GO DO YOU HEAR", "BUT IN LESS THAN FIVE MINUTES"],
        ("174", "50561"): ["FOREGOING"],
    }
    rng = np.random.default_rng(0)
    expected = {}
    for (spk, chap), texts in utterances.items():
        d = root / "LibriSpeech" / split / spk / chap
        d.mkdir(parents=True)
        lines = []
        for k, text in enumerate(texts):
            utt = f"{spk}-{chap}-{k:04d}"
            audio = (0.1 * rng.standard_normal(1600 + 400 * k)).astype(np.float32).clip(-1, 1)
            sf.write(d / f"{utt}.flac", audio, 16000, subtype="PCM_16")
            lines.append(f"{utt} {text}\n")
            expected[utt] = (text.lower(), audio)
        (d / f"{spk}-{chap}.trans.txt").write_text("".join(lines))
    return expected


def test_items_match_fixture(tmp_path):
    expected = _make_corpus(tmp_path)
    data = LibriSpeech(tmp_path, "test-clean")
    assert len(data) == 3
    assert [data[i].utt_id for i in range(3)] == sorted(expected)
    for i in range(3):
        item = data[i]
        text, audio = expected[item.utt_id]
        assert item.transcript == text and item.sample_rate == 16000
        assert item.speaker == item.utt_id.split("-")[0]
        assert item.waveform.shape == (len(audio),) and item.waveform.dtype == torch.float32
        assert torch.allclose(item.waveform, torch.from_numpy(audio), atol=1 / 32768)


def test_missing_split_and_missing_flac_are_named(tmp_path):
    _make_corpus(tmp_path)
    with pytest.raises(FileNotFoundError, match="dev-other"):
        LibriSpeech(tmp_path, "dev-other")
    (tmp_path / "LibriSpeech/test-clean/84/121123/84-121123-0001.flac").unlink()
    data = LibriSpeech(tmp_path, "test-clean")
    with pytest.raises(FileNotFoundError, match="84-121123-0001.flac"):
        data[[e[0] for e in data.entries].index("84-121123-0001")]


def test_malformed_transcript_line_is_named(tmp_path):
    _make_corpus(tmp_path)
    trans = tmp_path / "LibriSpeech/test-clean/174/50561/174-50561.trans.txt"
    trans.write_text("174-50561-0000\n")
    with pytest.raises(DataError, match=r"174-50561\.trans\.txt:1"):
        LibriSpeech(tmp_path, "test-clean")
