"""Waveform augmentation: deterministic per seed, changes the waveform, keeps length semantics."""

import re

import numpy as np
import pytest
import torch

from rnnaccel.datasets.augment import (
    AugmentConfig,
    Augmenter,
    add_noise,
    reverberate,
    room_impulse_response,
    speed_perturb,
    telephone,
    vtlp,
    vtlp_magnitude,
)

SR = 8000


@pytest.fixture(scope="module")
def wave():
    """Two harmonic 'vowels' with a pause between: speech-like enough for every op."""
    t = torch.arange(int(0.6 * SR)) / SR
    vowel = sum(torch.sin(2 * torch.pi * f * t) / k for k, f in enumerate((140, 280, 700, 1200, 2400), 1))
    return torch.cat([0.3 * vowel, torch.zeros(SR // 5), 0.2 * vowel]).float()


ALL_ON = AugmentConfig(speed_p=1.0, vtlp_p=1.0, reverb_p=1.0, telephone_p=1.0, noise_p=1.0)


def test_same_seed_same_waveform_other_seed_other(wave):
    aug = Augmenter(ALL_ON)
    a, ops_a = aug(wave, SR, (0, 3, 17))
    b, ops_b = aug(wave, SR, (0, 3, 17))
    c, _ = aug(wave, SR, (0, 4, 17))
    assert torch.equal(a, b) and ops_a == ops_b
    assert a.numel() != c.numel() or not torch.equal(a, c)
    assert [re.match("[a-z]+", op).group() for op in ops_a] == ["speed", "vtlp", "reverb", "telephone", "noise"]


def test_off_by_default_and_at_probability_zero(wave):
    out, ops = Augmenter(AugmentConfig())(wave, SR, 5)
    assert ops == [] and torch.equal(out, wave)
    assert not AugmentConfig().active and ALL_ON.active


@pytest.mark.parametrize(
    "op",
    [
        lambda w: vtlp(w, 1.08),
        lambda w: vtlp_magnitude(w, 1.08),
        lambda w: reverberate(w, room_impulse_response(0.4, SR, np.random.default_rng(0))),
        lambda w: telephone(w, SR),
        lambda w: telephone(w, 16000),
        lambda w: add_noise(w, 10.0, np.random.default_rng(1)),
    ],
    ids=["vtlp", "vtlp_magnitude", "reverb", "telephone8k", "telephone16k", "noise"],
)
def test_ops_change_the_waveform_and_keep_its_length(wave, op):
    out = op(wave)
    assert out.shape == wave.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out - wave).abs().max() > 1e-3


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_changes_length_by_the_factor(wave, factor):
    out = speed_perturb(wave, factor)
    assert abs(out.numel() - wave.numel() / factor) <= 2
    assert speed_perturb(wave, 1.0) is wave


def test_noise_is_at_the_drawn_snr(wave):
    noisy = add_noise(wave, 12.0, np.random.default_rng(3))
    speech = wave[wave.abs() > 1e-4].double()
    snr = 10 * np.log10(float(speech.pow(2).mean() / (noisy - wave).double().pow(2).mean()))
    assert abs(snr - 12.0) < 0.5


def test_telephone_removes_what_is_outside_the_band():
    t = torch.arange(SR) / SR
    low = torch.sin(2 * torch.pi * 60 * t).float()  # mains hum, below 300 Hz
    out = telephone(low, SR)
    assert float(out[SR // 4 :].pow(2).mean()) < 0.05 * float(low.pow(2).mean())


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="data.augment.noise_p"):
        Augmenter(AugmentConfig(noise_p=1.5))
    with pytest.raises(ValueError, match="data.augment.snr_db"):
        Augmenter(AugmentConfig(snr_db=[30.0, 5.0]))
    with pytest.raises(ValueError, match="data.augment.vtlp_method='clean': choose one of magnitude, vocoder"):
        Augmenter(AugmentConfig(vtlp_method="clean"))


def _peak_hz(w: torch.Tensor) -> float:
    trimmed = w.double()[400:-400]  # away from the STFT's edge frames
    return float(torch.fft.rfftfreq(trimmed.numel(), 1 / SR)[torch.fft.rfft(trimmed).abs().argmax()])


@pytest.mark.parametrize("method", [vtlp, vtlp_magnitude], ids=["vocoder", "magnitude"])
@pytest.mark.parametrize("tone_hz", [1000.0, 2000.0])
@pytest.mark.parametrize("alpha", [0.8, 0.9, 1.1, 1.2])
def test_vtlp_moves_a_partial_by_the_warp_factor(method, tone_hz, alpha):
    """Over the whole range the speaker-disjoint digits recipe draws from (0.8-1.2), a formant-range
    partial lands at ``alpha`` times its frequency (within about one STFT bin)."""
    t = torch.arange(SR) / SR
    tone = 0.3 * torch.sin(2 * torch.pi * tone_hz * t).float()
    assert _peak_hz(method(tone, alpha)) / tone_hz == pytest.approx(alpha, rel=0.03)


def _centroid_hz(w: torch.Tensor) -> float:
    power = torch.stft(w, 256, 64, window=torch.hann_window(256), return_complex=True).abs() ** 2
    return float((power * torch.linspace(0, SR / 2, power.shape[0]).unsqueeze(1)).sum() / power.sum())


@pytest.mark.parametrize("alpha", [0.8, 0.9, 1.1, 1.2])
def test_vtlp_scales_a_voiced_spectrum_not_only_a_tone(alpha):
    """A voiced sound (130 Hz glottal pulses, -6 dB/octave, two formant resonators): the warp moves
    the whole short-time spectrum as far as resampling by ``alpha`` does (the exact frequency
    scaler, which also changes the length), keeping length and energy."""
    voiced = _voiced()
    out = vtlp(voiced, alpha)
    assert out.shape == voiced.shape
    assert float(out.pow(2).mean().sqrt()) == pytest.approx(float(voiced.pow(2).mean().sqrt()), rel=1e-4)
    exact = _centroid_hz(speed_perturb(voiced, alpha)) / _centroid_hz(voiced)
    assert _centroid_hz(out) / _centroid_hz(voiced) == pytest.approx(exact, rel=0.06)


@pytest.mark.parametrize("alpha", [0.8, 0.9, 1.1, 1.2])
def test_vtlp_magnitude_is_a_distortion_as_documented(alpha):
    """``vtlp_method=magnitude`` (the shipped models' op) is what its docstring says: on the same
    voiced sound it loses energy (the kept phases do not match the moved magnitudes)."""
    voiced = _voiced()
    out = vtlp_magnitude(voiced, alpha)
    assert out.shape == voiced.shape
    assert float(out.pow(2).mean().sqrt()) < 0.9 * float(voiced.pow(2).mean().sqrt())


def test_the_augmenter_applies_the_chosen_vtlp_method(wave):
    on = dict(vtlp_p=1.0, vtlp_range=[1.15, 1.15])
    mag, _ = Augmenter(AugmentConfig(**on))(wave, SR, 0)
    voc, _ = Augmenter(AugmentConfig(**on, vtlp_method="vocoder"))(wave, SR, 0)
    assert torch.equal(mag, vtlp_magnitude(wave, 1.15))
    assert torch.equal(voc, vtlp(wave, 1.15))


def _voiced() -> torch.Tensor:
    """One second of a voiced sound: 130 Hz glottal pulses, -6 dB/octave, two formant resonators."""
    import torchaudio.functional as AF

    pulses = torch.zeros(SR)
    pulses[:: SR // 130] = 1.0
    voiced = AF.lfilter(pulses, torch.tensor([1.0, -1.9, 0.9025]), torch.tensor([1.0, -1.0, 0.0]), clamp=False)
    for f, bw in ((500.0, 80.0), (1500.0, 120.0)):  # a two-pole resonator per formant
        r = float(np.exp(-np.pi * bw / SR))
        a = torch.tensor([1.0, -2 * r * float(np.cos(2 * np.pi * f / SR)), r * r])
        voiced = AF.lfilter(voiced, a, torch.tensor([1.0, 0.0, 0.0]), clamp=False)
    return (0.3 * voiced / voiced.abs().max()).float()
