"""Waveform augmentation on the fly: speed, vocal-tract length, noise, reverberation, telephone band.

Every op is drawn with its own probability (``AugmentConfig.*_p``; 0 turns it off) from one
:class:`numpy.random.Generator` seeded by ``(seed, epoch, index)``, so utterance ``index`` of epoch
``epoch`` is the same whatever the batch order, the worker count or where a run resumed. Used on the
training split only; evaluation never augments. Order: speed -> vocal-tract length -> reverberation
-> telephone band -> additive noise (noise last, so its SNR is the one drawn).

Length semantics: speed perturbation changes the length (``samples / factor``, as a faster speaker
would); every other op returns exactly as many samples as it was given.

Ranges (sources):
- speed 0.9 / 1.0 / 1.1: Ko et al., "Audio augmentation for speech recognition", Interspeech 2015
  (Kaldi's 3-way speed perturbation).
- vocal-tract length warp factor 0.9-1.1: Jaitly & Hinton, "Vocal Tract Length Perturbation (VTLP)
  improves speech recognition", ICML WDLASL 2013 (their range). Wider, 0.8-1.2 (the speaker-disjoint
  digits recipe in docs/models.md): the span of per-speaker VTLN warp factors (Kaldi's
  ``steps/train_lvtln.sh`` searches 0.85-1.25).
- noise SNR 5-30 dB, uniform: the span of the noisy-speech benchmarks (Aurora-2 0-20 dB, CHiME
  roughly 0-15 dB, quiet rooms 30 dB+); white or pink at random.
- RT60 0.1-0.6 s: small rooms to offices (Ko et al. 2017, "A study on data augmentation of
  reverberant speech", simulated rooms 0.2-0.8 s); the impulse response is exponentially decaying
  Gaussian noise, the decay 60 dB over RT60, with a direct-path impulse.
- telephone band: 8 kHz (narrow band) and a 300-3400 Hz band-pass (ITU-T G.712), then G.711
  mu-law companding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import numpy as np
import torch
import torchaudio.functional as AF
from torch import Tensor

TELEPHONE_RATE = 8000
VTLP_METHODS = ("magnitude", "vocoder")
TELEPHONE_BAND_HZ = (300.0, 3400.0)


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the waveform augmentations (all off by default).

    Attributes:
        speed_p: chance of speed perturbation; the factor is drawn from ``speeds``.
        vtlp_p: chance of a vocal-tract-length warp, factor uniform in ``vtlp_range``.
        vtlp_method: ``"magnitude"`` (:func:`vtlp_magnitude`: STFT magnitudes moved, each bin's
            phase kept: a partial warp plus phase distortion; the recipe of every shipped digits
            model) or ``"vocoder"`` (:func:`vtlp`: a clean warp of every frequency).
        reverb_p: chance of reverberation, RT60 uniform in ``rt60_s`` seconds.
        telephone_p: chance of the telephone channel (8 kHz, 300-3400 Hz, mu-law).
        noise_p: chance of additive white or pink noise, SNR uniform in ``snr_db``.
    """

    speed_p: float = 0.0
    speeds: List[float] = field(default_factory=lambda: [0.9, 1.0, 1.1])
    vtlp_p: float = 0.0
    vtlp_range: List[float] = field(default_factory=lambda: [0.9, 1.1])
    vtlp_method: str = "magnitude"
    reverb_p: float = 0.0
    rt60_s: List[float] = field(default_factory=lambda: [0.1, 0.6])
    telephone_p: float = 0.0
    noise_p: float = 0.0
    snr_db: List[float] = field(default_factory=lambda: [5.0, 30.0])

    @property
    def active(self) -> bool:
        return any(p > 0 for p in (self.speed_p, self.vtlp_p, self.reverb_p, self.telephone_p, self.noise_p))

    def check(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        for name in ("speed_p", "vtlp_p", "reverb_p", "telephone_p", "noise_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"data.augment.{name}={getattr(self, name)}: a probability in [0, 1]")
        if self.vtlp_method not in VTLP_METHODS:
            raise ValueError(f"data.augment.vtlp_method={self.vtlp_method!r}: choose one of {', '.join(VTLP_METHODS)}")
        if not self.speeds or any(not 0.5 <= s <= 2.0 for s in self.speeds):
            raise ValueError(f"data.augment.speeds={list(self.speeds)}: factors in [0.5, 2]")
        for name, lo in (("vtlp_range", 0.5), ("rt60_s", 0.0), ("snr_db", -20.0)):
            pair = list(getattr(self, name))
            if len(pair) != 2 or not lo <= pair[0] <= pair[1]:
                raise ValueError(f"data.augment.{name}={pair}: [low, high] with {lo} <= low <= high")


def speed_perturb(wave: Tensor, factor: float) -> Tensor:
    """Play ``factor`` times faster (tempo and pitch together): ``round(n / factor)`` samples.
    Resampled with a small rational ratio (``factor`` to 2 decimals) so the kernel stays short."""
    num = int(round(factor * 100))
    if num == 100:
        return wave
    g = np.gcd(num, 100)
    return AF.resample(wave, num // g, 100 // g)


def vtlp_n_fft(sample_rate: int) -> int:
    """The phase vocoder's frame for :func:`vtlp`: the power of two nearest 32 ms (256 at 8 kHz)."""
    return 1 << max(4, round(np.log2(0.032 * sample_rate)))


def vtlp(wave: Tensor, alpha: float, n_fft: int = 256) -> Tensor:
    """Vocal-tract-length perturbation: every frequency times ``alpha`` (> 1: formants and harmonics
    move up, a shorter tract), same duration and length, same RMS.

    Resample by ``alpha`` (to 2 decimals, as :func:`speed_perturb`: it scales the whole spectrum and
    the duration by ``1/alpha``), then a phase-vocoder time stretch back to the length (torchaudio's
    ``pitch_shift`` construction). The phase vocoder keeps each bin's phase advance consistent
    with its moved frequency, so the output's short-time spectrum is the input's with its
    frequency axis scaled: spectral envelope (formants) and pitch together, as Jaitly & Hinton's
    filterbank warp, up to the phase vocoder's smearing: on FSDD recordings the spectral centroid
    moves 0.77 / 0.86 / 1.08 / 1.18 times for alpha 0.8 / 0.9 / 1.1 / 1.2 (exact resampling: 0.80 /
    0.90 / 1.09 / 1.17). ``alpha > 1`` drops what lands above Nyquist; ``alpha < 1`` leaves the top
    ``1 - alpha`` of the band empty. ``n_fft``: the vocoder's frame (:func:`vtlp_n_fft`)."""
    if round(alpha * 100) == 100:
        return wave
    n = wave.numel()
    shifted = speed_perturb(wave, alpha)  # frequencies x alpha, duration / alpha
    hop = n_fft // 4
    window = torch.hann_window(n_fft)
    spec = torch.stft(shifted, n_fft, hop, window=window, return_complex=True)
    advance = torch.linspace(0, torch.pi * hop, spec.shape[0]).unsqueeze(1)
    rate = shifted.numel() / n  # < 1 stretches back out to n samples
    out = torch.istft(AF.phase_vocoder(spec, rate, advance), n_fft, hop, window=window, length=n)
    return out * (_rms(wave) / max(_rms(out), 1e-12))


def vtlp_magnitude(wave: Tensor, alpha: float, n_fft: int = 256) -> Tensor:
    """The first VTLP op (``vtlp_method=magnitude``): scale the frequency axis of the short-time
    *magnitudes* by ``alpha`` and keep each bin's own phase; same length.

    What it does to speech (measured on FSDD, 8 kHz): a pure tone lands at ``alpha`` times its
    frequency, but the kept phases no longer match the moved magnitudes, so the overlap-add keeps
    only 22-63 % of the energy and the spectral centroid does not follow ``alpha``: a partial warp
    plus a broadband phase distortion, not the clean warp of :func:`vtlp`. Kept under its own name
    because the shipped digits models were trained with it and because, as an augmentation, it
    beat the clean warp on the two hardest held-out speakers (docs/models.md)."""
    if alpha == 1.0:
        return wave
    window = torch.hann_window(n_fft)
    hop = n_fft // 4
    spec = torch.stft(wave, n_fft, hop, window=window, return_complex=True)  # (bins, frames)
    bins = spec.shape[0]
    src = (torch.arange(bins, dtype=torch.float32) / alpha).clamp(max=bins - 1)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=bins - 1)
    w = (src - lo).unsqueeze(1)
    mag = spec.abs()
    warped = mag[lo] * (1 - w) + mag[hi] * w
    return torch.istft(torch.polar(warped, spec.angle()), n_fft, hop, window=window, length=wave.numel())


def room_impulse_response(rt60_s: float, sample_rate: int, rng: np.random.Generator) -> Tensor:
    """A synthetic room: a direct-path impulse then Gaussian noise decaying 60 dB over ``rt60_s``
    (length ``rt60_s``), unit energy."""
    n = max(2, int(rt60_s * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60_s)  # -60 dB at t = rt60
    tail[0] = 0.0
    ir = np.concatenate([[1.0], 0.3 * tail[1:]])
    ir /= np.sqrt((ir**2).sum())
    return torch.from_numpy(ir.astype(np.float32))


def reverberate(wave: Tensor, ir: Tensor) -> Tensor:
    """Convolve with ``ir``, keep the first ``len(wave)`` samples, restore the input's RMS."""
    out = AF.fftconvolve(wave, ir)[: wave.numel()]
    return out * (_rms(wave) / max(_rms(out), 1e-12))


def telephone(wave: Tensor, sample_rate: int) -> Tensor:
    """Narrow-band telephone channel: to 8 kHz, 300-3400 Hz band-pass, mu-law, back to
    ``sample_rate``; same length."""
    x = wave if sample_rate == TELEPHONE_RATE else AF.resample(wave, sample_rate, TELEPHONE_RATE)
    x = AF.highpass_biquad(x, TELEPHONE_RATE, TELEPHONE_BAND_HZ[0])
    x = AF.lowpass_biquad(x, TELEPHONE_RATE, TELEPHONE_BAND_HZ[1])
    peak = max(float(x.abs().max()), 1e-12)
    x = AF.mu_law_decoding(AF.mu_law_encoding(x / peak, 256), 256) * peak
    if sample_rate != TELEPHONE_RATE:
        x = AF.resample(x, TELEPHONE_RATE, sample_rate)
    return _fit(x, wave.numel())


def add_noise(wave: Tensor, snr_db: float, rng: np.random.Generator) -> Tensor:
    """Add white or pink Gaussian noise (even odds) at ``snr_db`` relative to the waveform's power
    over its non-silent samples (pauses excluded, as for the digits' noise option)."""
    n = wave.numel()
    noise = rng.standard_normal(n)
    if rng.random() < 0.5:  # pink: 1/f power by shaping the spectrum
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1.0))
        noise = np.fft.irfft(spectrum, n)
    speech = wave[wave.abs() > 1e-4]
    power = float(speech.double().pow(2).mean()) if speech.numel() else 0.0
    scale = np.sqrt(power / 10.0 ** (snr_db / 10.0) / max(float((noise**2).mean()), 1e-20))
    return wave + torch.from_numpy((noise * scale).astype(np.float32))


class Augmenter:
    """Applies an :class:`AugmentConfig` to ``(samples,)`` waveforms, seeded per call."""

    def __init__(self, config: AugmentConfig) -> None:
        config.check()
        self.config = config

    def __call__(self, wave: Tensor, sample_rate: int, seed: tuple[int, ...] | int) -> tuple[Tensor, list[str]]:
        """``wave`` -> (augmented copy, names of the ops applied); the same ``seed`` gives the
        same result. ``seed``: e.g. ``(run seed, epoch, index)``."""
        c = self.config
        rng = np.random.default_rng(list(seed) if isinstance(seed, tuple) else seed)
        draws = rng.random(5)  # one draw per op, whatever is enabled: ops stay independent
        x, applied = wave.float(), []
        if draws[0] < c.speed_p:
            factor = float(c.speeds[int(rng.integers(len(c.speeds)))])
            x, applied = speed_perturb(x, factor), applied + [f"speed{factor:g}"]
        if draws[1] < c.vtlp_p:
            alpha = float(rng.uniform(*c.vtlp_range))
            if c.vtlp_method == "vocoder":
                x = vtlp(x, alpha, vtlp_n_fft(sample_rate))
            else:
                x = vtlp_magnitude(x, alpha)
            applied.append(f"vtlp{alpha:.2f}")
        if draws[2] < c.reverb_p:
            rt60 = float(rng.uniform(*c.rt60_s))
            x = reverberate(x, room_impulse_response(rt60, sample_rate, rng))
            applied.append(f"reverb{rt60:.2f}s")
        if draws[3] < c.telephone_p:
            x, applied = telephone(x, sample_rate), applied + ["telephone"]
        if draws[4] < c.noise_p:
            snr = float(rng.uniform(*c.snr_db))
            x, applied = add_noise(x, snr, rng), applied + [f"noise{snr:.0f}dB"]
        return x.contiguous(), applied


def _rms(x: Tensor) -> float:
    return float(x.double().pow(2).mean().sqrt())


def _fit(x: Tensor, n: int) -> Tensor:
    """Trim or zero-pad to ``n`` samples."""
    if x.numel() >= n:
        return x[:n]
    return torch.nn.functional.pad(x, (0, n - x.numel()))
