"""Synthesized digit voices: weights, file keys, trimming, and a two-voice generation end to end."""

import numpy as np
import pytest
import soundfile as sf

from rnnaccel.datasets import ConnectedDigits
from rnnaccel.datasets import synth_digits as sd


def test_natural_voices_get_their_share_whatever_their_count():
    voices = [f"espeak:en+v{k}" for k in range(30)] + ["flite:slt", "festival:kal_diphone"]
    w = sd.speaker_weights(voices, 0.5)
    natural = sum(v for k, v in w.items() if sd.is_natural(k))
    assert natural == pytest.approx(0.5) and sum(w.values()) == pytest.approx(1.0)
    assert sd.speaker_weights(voices[:3], 0.5) == {v: 1.0 for v in voices[:3]}  # one group: head count
    with pytest.raises(ValueError, match="natural_share"):
        sd.speaker_weights(voices, 1.5)


def test_voice_keys_are_fsdd_style_names_and_distinct():
    ids = ["espeak:en-US+m1", "espeak:en-US+m2", "flite:kal", "festival:kal_diphone"]
    keys = [sd.voice_key(v) for v in ids]
    assert len(set(keys)) == len(keys) and all(k.isalpha() for k in keys)


def test_trim_cuts_silent_edges_only():
    rate = 8000
    tone = np.sin(np.arange(rate // 2) * 0.3)
    x = np.concatenate([np.zeros(rate // 4), tone, np.zeros(rate // 4)])
    y = sd.trim(x, rate)
    assert len(tone) <= len(y) <= len(tone) + 2 * rate // 50
    assert np.abs(y).max() == pytest.approx(np.abs(tone).max())


def test_two_voices_generate_cached_tokens_and_utterances(tmp_path, monkeypatch):
    voices = ["espeak:en-US+m1"] + (["flite:slt"] if "slt" in sd.flite_voices() else [])
    monkeypatch.setattr(sd, "available_voices", lambda: voices)
    out = sd.generate_digit_tokens(tmp_path, renditions=2)
    assert sd.generate_digit_tokens(tmp_path, renditions=2) == out  # cached
    recs = sd.synth_digit_recordings(out)
    assert len(recs) == 10 * (1 + 2 * (len(voices) - 1))
    for r in recs[:3]:
        x, rate = sf.read(r.path)
        assert rate == 8000 and 0.05 < len(x) / rate < 1.5
    ds = ConnectedDigits("train", num_utterances=6, recordings=recs, name="tts", seed=1)
    item = ds[0]
    assert item.utt_id == "tts-train-00000" and item.speaker in voices and item.waveform.abs().max() > 0.1
