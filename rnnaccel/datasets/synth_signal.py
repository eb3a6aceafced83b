"""Text and signal helpers of the synthesized corpus; the signal part in NumPy only
(bit-reproducible: no threads, no BLAS in any sum).

- :func:`sentence_pools`, :func:`speakable`, :func:`normalize_transcript`: which Multi30k sentences
  are spoken, and their transcripts;
- :func:`resample`: Hann-windowed sinc resampling (the kernel torchaudio's default uses);
- :func:`white_noise`, :func:`pink_noise`, :func:`mix_at_snr`, :func:`to_int16`.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata

import numpy as np

from .parallel_text import find_text_file, read_lines
from .paths import corpus_dir

SENTENCE_SOURCE = {"train": "train", "val": "val", "test": "test_2016_flickr"}  # Multi30k splits
# Characters a sentence may hold: letters, space and punctuation that is not spoken. Sentences
# with digits or symbols (& # % $ = `) would be spoken as words the transcript cannot show.
_ALLOWED = re.compile(r"^[A-Za-z '\-.,;:!?\"()]+$")
_ACRONYM = re.compile(r"\b[A-Z]{2,}\b")  # "ATV", "USA": spelled out letter by letter
_NOT_LETTER = re.compile(r"[^a-z']+")
_EDGE_APOSTROPHE = re.compile(r"(?<![a-z])'|'(?![a-z])")


def speakable(sentence: str) -> bool:
    """True when the spoken words match :func:`normalize_transcript` (no digits, symbols or
    acronyms) and at least one letter remains."""
    sentence = unicodedata.normalize("NFKD", sentence)
    return bool(_ALLOWED.match(sentence)) and not _ACRONYM.search(sentence) and bool(normalize_transcript(sentence))


def normalize_transcript(sentence: str) -> str:
    """Lowercase letters, apostrophes inside words, single spaces: ``"A man's T-shirt."`` ->
    ``"a man's t shirt"``."""
    text = unicodedata.normalize("NFKD", sentence).encode("ascii", "ignore").decode().lower()
    text = _EDGE_APOSTROPHE.sub(" ", _NOT_LETTER.sub(" ", text))
    return " ".join(text.split())


def tts_text(sentence: str) -> str:
    """The text given to the engines: the sentence without double quotes (never spoken)."""
    return " ".join(sentence.replace('"', " ").split())


def sentence_pools(root: str | os.PathLike | None) -> dict[str, list[str]]:
    """Speakable, de-duplicated Multi30k English sentences per split; no normalized sentence of
    val or test appears in train, nor a test one in val."""
    directory = corpus_dir(root, "multi30k")
    pools: dict[str, list[str]] = {}
    taken: set[str] = set()
    for split in ("test", "val", "train"):
        seen: dict[str, str] = {}
        for line in read_lines(find_text_file(directory / SENTENCE_SOURCE[split], "en"), allow_empty=True):
            norm = normalize_transcript(line)
            if speakable(line) and norm not in taken and norm not in seen:
                seen[norm] = line
        pools[split] = list(seen.values())
        taken |= set(seen)
    return pools


def _kernel(up: int, down: int, orig_rate: int, new_rate: int, width: int, rolloff: float) -> tuple[np.ndarray, int]:
    cutoff = rolloff * min(orig_rate, new_rate) / 2.0  # Hz
    half = width * orig_rate / (2.0 * cutoff)  # window half-width, input samples
    reach = math.ceil(half)
    taps = np.arange(-reach, reach + 2)  # offsets from floor(t)
    delta = np.arange(up)[:, None] / up - taps[None, :]  # t - k for each output phase
    window = np.where(np.abs(delta) <= half, np.cos(np.pi * delta / (2.0 * half)) ** 2, 0.0)
    gain = 2.0 * cutoff / orig_rate
    return gain * np.sinc(gain * delta) * window, reach


def resample(x: np.ndarray, orig_rate: int, new_rate: int, width: int = 6, rolloff: float = 0.99) -> np.ndarray:
    """Band-limited resampling of ``(samples,)`` float64 by a Hann-windowed sinc of ``width``
    zero crossings, cut off at ``rolloff`` x the lower Nyquist frequency.

    Output sample ``n`` sits at input time ``n * orig_rate / new_rate``; the output has
    ``ceil(samples * new_rate / orig_rate)`` samples.
    """
    if orig_rate == new_rate:
        return np.asarray(x, dtype=np.float64).copy()
    g = math.gcd(orig_rate, new_rate)
    up, down = new_rate // g, orig_rate // g
    kernel, reach = _kernel(up, down, orig_rate, new_rate, width, rolloff)
    n_out = -(-len(x) * up // down)
    n = np.arange(n_out, dtype=np.int64)
    base, phase = (n * down) // up, (n * down) % up
    padded = np.pad(np.asarray(x, dtype=np.float64), (reach, reach + 2))
    idx = base[:, None] + np.arange(kernel.shape[1])[None, :]
    out = np.empty(n_out)
    step = 65536  # bound the (rows, taps) gather
    for s in range(0, n_out, step):
        rows = slice(s, s + step)
        out[rows] = (padded[idx[rows]] * kernel[phase[rows]]).sum(axis=1)
    return out


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` unit-variance Gaussian white noise."""
    return rng.standard_normal(n)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` unit-variance 1/f noise (white noise shaped by 1/sqrt(f) in the frequency domain,
    DC removed)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    spectrum /= np.sqrt(f)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    std = noise.std()
    return noise / std if std > 0 else noise


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech + a * noise`` with ``a`` such that mean(speech^2) / mean((a*noise)^2) = SNR."""
    p_speech, p_noise = float(np.mean(speech**2)), float(np.mean(noise**2))
    if p_speech == 0.0 or p_noise == 0.0:
        return speech.copy()
    return speech + noise * math.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))


def to_int16(x: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """Scale so the peak sits at ``peak_dbfs`` (< 0) and quantize to int16 (round half to even)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    scale = 10.0 ** (peak_dbfs / 20.0) * 32767.0 / peak if peak > 0 else 0.0
    return np.clip(np.rint(x * scale), -32768, 32767).astype(np.int16)
