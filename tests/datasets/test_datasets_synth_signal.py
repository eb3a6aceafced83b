"""Synthesized speech helpers: voice tables hold whole voices out, text normalization, resampling,
noise, and reproducible espeak-ng synthesis."""

import numpy as np
import pytest
import torch
import torchaudio

from rnnaccel.datasets.synth_signal import (
    mix_at_snr,
    normalize_transcript,
    pink_noise,
    resample,
    speakable,
    to_int16,
    white_noise,
)
from rnnaccel.datasets.synth_voices import (
    DEBIAN_VOICES,
    ESPEAK_ACCENTS,
    ESPEAK_VARIANTS,
    SPLITS,
    check_disjoint,
    espeak_voices,
    split_of_voice,
    voices_for,
)
from rnnaccel.datasets.tts_espeak import Espeak, TTSError, english_voices, variants


def test_voice_tables_are_disjoint_and_exist():
    check_disjoint()
    assert set(english_voices()) == {a for s in SPLITS for a in ESPEAK_ACCENTS[s]}
    assert {v for s in SPLITS for v in ESPEAK_VARIANTS[s]} - {""} <= set(variants())
    ids = [
        {
            v.id
            for v in voices_for(
                s,
                ("espeak", "flite", "festival"),
                {
                    "flite": ["kal", "kal16", "awb", "rms", "slt"],
                    "festival": ["cmu_us_slt_arctic_hts", "kal_diphone", "ked_diphone"],
                },
            )
        }
        for s in SPLITS
    ]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert len(ids[0]) == 5 * 61 + 5 and len(ids[1]) == 6 + 1 and len(ids[2]) == 20 + 2
    test_accents = {v.name.split("+")[0] for v in espeak_voices("test")}
    assert test_accents == {"en-GB-scotland", "en-US-nyc"}
    assert split_of_voice("espeak:en-GB-scotland+croak") == "test"
    assert split_of_voice("flite:slt") == "train" and "flite:rms" in DEBIAN_VOICES["test"]
    with pytest.raises(ValueError, match="en-GB-scotland\\+m1"):
        split_of_voice("espeak:en-GB-scotland+m1")  # test accent, train variant: in no split


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A man's T-shirt.", "a man's t shirt"),
        ("'Hello,' said the boys' dog!", "hello said the boys dog"),
        ("He says \"rock 'n' roll\" (loudly)", "he says rock n roll loudly"),
    ],
)
def test_normalize_transcript(text, expected):
    assert normalize_transcript(text) == expected and speakable(text)


@pytest.mark.parametrize("text", ["Two men and 3 dogs.", "A USA flag.", "Salt & pepper.", "...", ""])
def test_unspeakable_sentences(text):
    assert not speakable(text)


@pytest.mark.parametrize("orig, new", [(22050, 16000), (32000, 16000), (8000, 16000)])
def test_resample_matches_torchaudio(orig, new):
    x = np.random.default_rng(0).standard_normal(5000)
    ours = resample(x, orig, new)
    ref = torchaudio.functional.resample(torch.from_numpy(x), orig, new).numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_noise_and_levels():
    rng = np.random.default_rng(1)
    speech = np.sin(np.arange(16000) * 0.05)
    for make in (white_noise, pink_noise):
        noise = make(16000, np.random.default_rng(5))
        assert np.array_equal(noise, make(16000, np.random.default_rng(5)))
        assert abs(noise.std() - 1) < 0.05
        mixed = mix_at_snr(speech, noise, 10.0)
        snr = 10 * np.log10(np.mean(speech**2) / np.mean((mixed - speech) ** 2))
        assert abs(snr - 10.0) < 1e-9
    pink = pink_noise(1 << 14, rng)
    spec = np.abs(np.fft.rfft(pink)) ** 2
    assert spec[10:100].mean() > 10 * spec[-1000:].mean()  # power falls with frequency
    out = to_int16(speech, -6.0)
    assert out.dtype == np.int16 and abs(np.abs(out).max() - round(32767 * 10 ** (-6 / 20))) <= 1


def test_espeak_is_reproducible_whatever_came_before():
    text = "A girl in a red coat walks her dog."
    with Espeak() as espeak:
        assert espeak.sample_rate == 22050
        first, rate = espeak.synth(text, "en-GB-scotland+whisper", 160, 40, seed=7)
        espeak.synth("Something else entirely, spoken first.", "en-029+klatt2", 300, 90, seed=1)
        again, _ = espeak.synth(text, "en-GB-scotland+whisper", 160, 40, seed=7)
        assert first.dtype == np.int16 and 1.0 < first.size / rate < 6.0
        assert np.array_equal(first, again)
        slower, _ = espeak.synth(text, "en-GB-scotland+whisper", 120, 40, seed=7)
        assert slower.size > first.size * 1.15
        with pytest.raises(TTSError, match="no voice 'xx-none'"):
            espeak.synth(text, "xx-none")
