"""Synthesized spoken digits from every text-to-speech voice available, as extra training speakers.

Each voice says each digit word several times (``renditions``, at speaking rates drawn per
rendition); the tokens are trimmed of leading/trailing silence, resampled to FSDD's 8 kHz and
stored as ``<dir>/<digit>_<voice key>_<k>.wav``. :func:`synth_digit_recordings` lists them as
:class:`~rnnaccel.datasets.fsdd.Recording` s whose speaker is the voice id, so the same
connected-digit assembly as FSDD's (:class:`~rnnaccel.datasets.fsdd.ConnectedDigits`) builds
utterances from them. They only ever join the **training** split (see ``rnnaccel.apps.data``).

Voices: every espeak-ng accent x variant of :mod:`rnnaccel.datasets.synth_voices` (formant voices,
all of them: the digits test set is human speech, not these voices) and every installed flite and
festival voice (``make tts-voices``). The natural-sounding flite/festival voices are few but far
closer to human speech (a stock recognizer's WER ~0.25 on them versus 0.80 on espeak-ng,
/work/shared/data.md), so :func:`speaker_weights` gives them a fixed share of the synthetic
utterances (``natural_share``, default 0.5) instead of their head count's.

Deterministic: rendition ``k`` of (voice, digit) uses a rate drawn from ``(seed, voice, digit, k)``.
Generation is cached under a key of the voices, engine versions and settings (about 1-2 min).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from .fsdd import SAMPLE_RATE, Recording
from .synth_signal import resample
from .synth_voices import DEBIAN_VOICES, SPLITS, espeak_voices
from .text import DIGIT_WORDS
from .tts_debian import festival_synth, festival_voices, flite_synth, flite_voices, version
from .tts_espeak import Espeak

GENERATOR = "rnnaccel.datasets.synth_digits/1"
NATURAL_ENGINES = ("flite", "festival")
RATE_RANGE = (0.8, 1.25)  # duration stretch / inverse espeak rate factor, uniform (a guess: +-25 %)
TRIM_DB = 35.0  # token edges below peak - TRIM_DB (20 ms frames) are cut


def available_voices() -> list[str]:
    """Voice ids ``engine:name`` of every voice that can speak here, in a fixed order."""
    voices = [v.id for split in SPLITS for v in espeak_voices(split)]
    installed = {"flite": flite_voices(), "festival": festival_voices()}
    for split in SPLITS:
        for vid in DEBIAN_VOICES[split]:
            engine, name = vid.split(":", 1)
            if name in installed[engine]:
                voices.append(vid)
    return voices


def is_natural(voice_id: str) -> bool:
    return voice_id.split(":", 1)[0] in NATURAL_ENGINES


def speaker_weights(voices: list[str], natural_share: float) -> dict[str, float]:
    """Per-voice drawing weights giving the natural voices ``natural_share`` of the draws (their
    head-count share when either group is empty)."""
    if not 0.0 <= natural_share <= 1.0:
        raise ValueError(f"natural_share={natural_share}: a fraction in [0, 1]")
    natural = [v for v in voices if is_natural(v)]
    formant = [v for v in voices if not is_natural(v)]
    if not natural or not formant:
        return {v: 1.0 for v in voices}
    return {
        **{v: natural_share / len(natural) for v in natural},
        **{v: (1.0 - natural_share) / len(formant) for v in formant},
    }


def voice_key(voice_id: str) -> str:
    """A file-name-safe, letters-only key of a voice id (FSDD's ``{digit}_{speaker}_{index}``)."""
    digest = hashlib.sha1(voice_id.encode()).hexdigest()[:10]
    letters = "".join(chr(ord("a") + int(c, 16)) for c in digest)
    return f"{voice_id.split(':', 1)[0]}{letters}"


def _rate(seed: int, voice_id: str, digit: int, k: int) -> float:
    h = int.from_bytes(hashlib.sha1(f"{seed}|{voice_id}|{digit}|{k}".encode()).digest()[:8], "little")
    return float(np.random.default_rng(h).uniform(*RATE_RANGE))


def trim(x: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading/trailing 20 ms frames quieter than the loudest frame minus :data:`TRIM_DB`."""
    frame = max(1, rate // 50)
    n = len(x) // frame
    if n == 0:
        return x
    energy = (x[: n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1)
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-TRIM_DB / 10))
    return x[loud[0] * frame : (loud[-1] + 1) * frame]


def _requests(voices: list[str], renditions: int, seed: int) -> list[tuple[str, int, int, float]]:
    return [
        (v, d, k, _rate(seed, v, d, k))
        for v in voices
        for d in range(10)
        for k in range(renditions if is_natural(v) else 1)
    ]


def _synthesize(reqs: list[tuple[str, int, int, float]]) -> list[tuple[np.ndarray, int]]:
    out: list[tuple[np.ndarray, int] | None] = [None] * len(reqs)
    by_engine: dict[str, list[int]] = {}
    for i, (v, *_rest) in enumerate(reqs):
        by_engine.setdefault(v.split(":", 1)[0], []).append(i)
    if "espeak" in by_engine:
        with Espeak() as es:
            for i in by_engine["espeak"]:
                v, d, k, r = reqs[i]
                out[i] = es.synth(DIGIT_WORDS[d], v.split(":", 1)[1], rate=int(175 / r), seed=k)
    for engine, synth in (("flite", flite_synth), ("festival", festival_synth)):
        idx = by_engine.get(engine, [])
        if idx:
            got = synth([(DIGIT_WORDS[reqs[i][1]], reqs[i][0].split(":", 1)[1], reqs[i][3]) for i in idx])
            for i, res in zip(idx, got):
                out[i] = res
    return out  # type: ignore[return-value]


def _key(voices: list[str], renditions: int, seed: int) -> str:
    src = {
        "generator": GENERATOR,
        "voices": voices,
        "renditions": renditions,
        "seed": seed,
        "versions": {p: version(p) for p in ("flite", "festival")},
    }
    return hashlib.sha1(json.dumps(src, sort_keys=True).encode()).hexdigest()[:16]


def generate_digit_tokens(cache_dir: str | os.PathLike, renditions: int = 6, seed: int = 0) -> Path:
    """Synthesize (or find cached) the tokens of every available voice; returns their directory."""
    voices = available_voices()
    if not any(is_natural(v) for v in voices):
        print("synth digits: no flite/festival voice installed, espeak-ng only (make tts-voices)", file=sys.stderr)
    out = Path(cache_dir) / f"tts_digits-{_key(voices, renditions, seed)}"
    if (out / "manifest.json").is_file():
        return out
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    reqs = _requests(voices, renditions, seed)
    rows = []
    for (v, d, k, r), (pcm, rate) in zip(reqs, _synthesize(reqs)):
        x = trim(pcm.astype(np.float64) / 32768.0, rate)
        x = resample(x, rate, SAMPLE_RATE)
        x = x / max(np.abs(x).max(), 1e-9) * 0.5  # FSDD-like level, no clipping
        name = f"{d}_{voice_key(v)}_{k}.wav"
        sf.write(tmp / name, x.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
        rows.append({"file": name, "voice": v, "digit": d, "rendition": k, "rate": round(r, 4)})
    (tmp / "manifest.json").write_text(json.dumps({"voices": voices, "tokens": rows}, indent=1))
    if out.exists():  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        os.replace(tmp, out)
    return out


def synth_digit_recordings(directory: str | os.PathLike) -> list[Recording]:
    """The tokens of a generated directory as recordings (speaker: the voice id)."""
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    return [
        Recording(row["digit"], row["voice"], row["rendition"], directory / row["file"]) for row in manifest["tokens"]
    ]
