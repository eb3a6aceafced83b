"""Generate the synthesized-speech corpus: Multi30k English sentences spoken by many voices.

Layout of a corpus directory: ``config.json`` (the arguments, versions and cache key),
``manifest.jsonl`` (one JSON object per utterance, written last), ``audio/<split>/<utt_id>.flac``
(16 kHz mono int16) and ``stats.json`` (timings). Utterance ``i`` of split ``s`` is planned by a
NumPy ``default_rng([seed, code(s), 1, i])`` and speaks sentence ``perm[i % n]`` of its split's
pool, ``perm`` drawn from ``default_rng([seed, code(s), 0])``: every file depends only on its own
plan, so a run that was stopped resumes where it stopped and the bytes come out the same.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from .. import __version__
from . import synth_signal as sig
from . import tts_debian
from .synth_voices import ENGINES, SPLITS, Voice, voices_for
from .tts_espeak import Espeak

GENERATOR = "rnnaccel.datasets.synth/1"
SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
CHUNK = 32


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines the corpus (all of it enters the cache key).

    Attributes:
        seed: base seed.
        hours: train audio to generate (stops at the first utterance that reaches it).
        train_utterances: if set, exactly this many train utterances (``hours`` is ignored).
        val_utterances, test_utterances: utterances in val / test (``None``: every sentence of
            the split's pool once; beyond the pool, sentences repeat with other voices).
        engines: engines to use; ``None`` = espeak plus flite / festival when installed.
        engine_weights: relative chance of each engine per utterance (among those with voices).
        voices: keep only these voice ids (``"espeak:en-US+m1"``; each keeps its own split).
        rate_wpm: speaking rate range in words per minute (espeak-ng default 175); flite and
            festival get a duration stretch of ``175 / rate``.
        pitch: espeak-ng pitch range (0-99, 50 = the voice's own); not applied to flite/festival.
        noise_prob: chance that an utterance gets noise.
        noise_types: noise colours drawn from (``"white"``, ``"pink"``).
        snr_db: SNR range of the added noise (relative to the mean power of the utterance).
        peak_dbfs: range of the final peak level.
        sample_rate: output rate (every voice is resampled to it).
        audio_format: ``"flac"`` or ``"wav"``.
    """

    seed: int = 0
    hours: float = 4.0
    train_utterances: int | None = None
    val_utterances: int = 500
    test_utterances: int | None = None
    engines: tuple[str, ...] | None = None
    engine_weights: dict[str, float] = field(default_factory=lambda: {"espeak": 0.7, "flite": 0.15, "festival": 0.15})
    voices: tuple[str, ...] | None = None
    rate_wpm: tuple[int, int] = (130, 210)
    pitch: tuple[int, int] = (30, 70)
    noise_prob: float = 0.5
    noise_types: tuple[str, ...] = ("white", "pink")
    snr_db: tuple[float, float] = (5.0, 30.0)
    peak_dbfs: tuple[float, float] = (-18.0, -2.0)
    sample_rate: int = 16000
    audio_format: str = "flac"

    def __post_init__(self) -> None:
        if self.engines is not None and not set(self.engines) <= set(ENGINES):
            raise ValueError(f"engines must be among {ENGINES}, got {self.engines}")
        if self.audio_format not in ("flac", "wav"):
            raise ValueError(f"audio_format must be 'flac' or 'wav', got {self.audio_format!r}")
        if not set(self.noise_types) <= {"white", "pink"} or not self.noise_types:
            raise ValueError(f"noise_types must be among ('white', 'pink'), got {self.noise_types}")
        for name in ("rate_wpm", "pitch", "snr_db", "peak_dbfs"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name}: need min <= max, got {lo} > {hi}")
        if not (80 <= self.rate_wpm[0] and self.rate_wpm[1] <= 450 and 0 <= self.pitch[0] and self.pitch[1] <= 99):
            raise ValueError("rate_wpm must lie in [80, 450] and pitch in [0, 99]")
        if self.peak_dbfs[1] > 0 or not 0 <= self.noise_prob <= 1:
            raise ValueError("peak_dbfs must be <= 0 and noise_prob in [0, 1]")


def resolve_engines(config: SynthConfig) -> tuple[tuple[str, ...], dict[str, list[str]], dict[str, str]]:
    """``(engines, installed voices per Debian engine, versions)`` for this machine."""
    installed = {"flite": tts_debian.flite_voices(), "festival": tts_debian.festival_voices()}
    wanted = config.engines or ("espeak", *[e for e in ("flite", "festival") if installed[e]])
    for engine in wanted:
        if engine != "espeak" and not installed[engine]:
            raise RuntimeError(
                f"engine {engine!r} requested but not installed (apt-get install "
                f"flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k)"
            )
    versions = {e: tts_debian.version(e) for e in wanted if e != "espeak"}
    return tuple(wanted), installed, versions


@dataclass(frozen=True)
class Plan:
    """How utterance ``index`` of ``split`` is made (cheap: no audio)."""

    split: str
    index: int
    sentence: str
    voice: Voice
    rate: int
    pitch: int
    tts_seed: int
    noise: str | None
    snr_db: float | None
    noise_seed: int
    peak_dbfs: float

    @property
    def utt_id(self) -> str:
        return f"synth-{self.split}-{self.index:06d}"


def plan(
    config: SynthConfig, split: str, index: int, pool: list[str], perm: np.ndarray, voices: dict[str, list[Voice]]
) -> Plan:
    """Plan of utterance ``index``: ``voices`` maps engine -> the split's voices (non-empty)."""
    rng = np.random.default_rng([config.seed, SPLIT_CODE[split], 1, index])
    engines = sorted(voices)
    weights = np.array([config.engine_weights.get(e, 0.0) for e in engines], dtype=np.float64)
    if weights.sum() <= 0:
        weights = np.ones(len(engines))
    engine = engines[int(rng.choice(len(engines), p=weights / weights.sum()))]
    voice = voices[engine][int(rng.integers(len(voices[engine])))]
    rate = int(rng.integers(config.rate_wpm[0], config.rate_wpm[1] + 1))
    pitch = int(rng.integers(config.pitch[0], config.pitch[1] + 1))
    tts_seed = int(rng.integers(2**31))
    noisy = bool(rng.random() < config.noise_prob)
    noise = config.noise_types[int(rng.integers(len(config.noise_types)))]
    snr = round(float(rng.uniform(*config.snr_db)), 2)
    noise_seed = int(rng.integers(2**31))
    peak = round(float(rng.uniform(*config.peak_dbfs)), 2)
    return Plan(
        split,
        index,
        pool[int(perm[index % len(pool)])],
        voice,
        rate,
        pitch if voice.engine == "espeak" else 50,
        tts_seed,
        noise if noisy else None,
        snr if noisy else None,
        noise_seed,
        peak,
    )


def _synthesize(plans: list[Plan], espeak: Espeak | None) -> list[tuple[np.ndarray, int]]:
    out: list[tuple[np.ndarray, int] | None] = [None] * len(plans)
    for engine, fn in (("flite", tts_debian.flite_synth), ("festival", tts_debian.festival_synth)):
        ks = [k for k, p in enumerate(plans) if p.voice.engine == engine]
        if ks:
            reqs = [(sig.tts_text(plans[k].sentence), plans[k].voice.name, 175.0 / plans[k].rate) for k in ks]
            for k, res in zip(ks, fn(reqs), strict=True):
                out[k] = res
    for k, p in enumerate(plans):
        if p.voice.engine == "espeak":
            out[k] = espeak.synth(sig.tts_text(p.sentence), p.voice.name, p.rate, p.pitch, p.tts_seed)
    return out  # type: ignore[return-value]


def render(p: Plan, pcm: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """Engine output -> resampled, noise-mixed, level-set int16 ``(samples,)``."""
    x = sig.resample(pcm.astype(np.float64) / 32768.0, rate, sample_rate)
    if p.noise is not None:
        make = sig.white_noise if p.noise == "white" else sig.pink_noise
        x = sig.mix_at_snr(x, make(x.size, np.random.default_rng(p.noise_seed)), p.snr_db)
    return sig.to_int16(x, p.peak_dbfs)


def cache_key(config: SynthConfig, engines, installed, versions, espeak_version, pools) -> dict:
    """The dict whose SHA-256 names a corpus (arguments, versions, voices, source sentences)."""
    voices = {s: [v.id for v in voices_for(s, engines, installed, config.voices)] for s in SPLITS}
    text = hashlib.sha256(json.dumps(pools, sort_keys=True).encode()).hexdigest()
    return {
        "generator": GENERATOR,
        "rnnaccel": __version__,
        "config": asdict(config),
        "engines": list(engines),
        "versions": {"espeak-ng": espeak_version, **versions},
        "voices": voices,
        "sentences_sha256": text,
    }


def _prepare_dir(out: Path, key: str) -> dict[str, dict]:
    """Make ``out`` ready for corpus ``key``; return records of a stopped run to resume."""
    cfg_path = out / "config.json"
    if out.exists() and any(out.iterdir()) and not cfg_path.is_file():
        raise FileExistsError(
            f"{out} is not empty and holds no config.json: not a synthesized corpus, refusing to write there"
        )
    old = json.loads(cfg_path.read_text()) if cfg_path.is_file() else None
    partial = out / "manifest.partial.jsonl"
    if old is not None and old.get("key") != key:
        print(f"[synth] {out}: arguments changed, replacing corpus {old.get('key', '?')[:12]}", file=sys.stderr)
        shutil.rmtree(out / "audio", ignore_errors=True)
        for name in ("manifest.jsonl", "manifest.partial.jsonl", "stats.json", "config.json"):
            (out / name).unlink(missing_ok=True)
    done: dict[str, dict] = {}
    if partial.is_file():
        for line in partial.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the interruption
            if (out / rec["path"]).is_file():
                done[rec["utt_id"]] = rec
        partial.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in done.values()))
    out.mkdir(parents=True, exist_ok=True)
    return done


def generate_corpus(
    out: str | os.PathLike,
    config: SynthConfig = SynthConfig(),
    *,
    data_root: str | os.PathLike | None = None,
    log: bool = True,
) -> Path:
    """Generate (or resume, or find up to date) the corpus of ``config`` in ``out``.

    Returns the manifest path. Re-running with the same arguments (and versions, voices and
    sentences) does nothing; other arguments replace the corpus in ``out``.
    """
    out = Path(out).expanduser()
    pools = sig.sentence_pools(data_root)
    engines, installed, versions = resolve_engines(config)
    with Espeak() as espeak:
        meta = cache_key(config, engines, installed, versions, espeak.version, pools)
        key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()
        manifest = out / "manifest.jsonl"
        cfg_path = out / "config.json"
        if manifest.is_file() and cfg_path.is_file() and json.loads(cfg_path.read_text()).get("key") == key:
            if log:
                print(f"[synth] {out} is up to date (key {key[:12]})", file=sys.stderr)
            return manifest
        done = _prepare_dir(out, key)
        cfg_path.write_text(json.dumps({"key": key, **meta}, indent=1, sort_keys=True) + "\n")
        t0, stats = time.perf_counter(), {}
        with open(out / "manifest.partial.jsonl", "a", encoding="utf-8") as partial:
            for split in ("test", "val", "train"):
                stats[split] = _generate_split(
                    out, config, split, pools[split], engines, installed, espeak, done, partial, log
                )
        wall = time.perf_counter() - t0
    records = [json.loads(line) for line in (out / "manifest.partial.jsonl").read_text().splitlines()]
    order = {s: k for k, s in enumerate(("train", "val", "test"))}
    records = sorted({r["utt_id"]: r for r in records}.values(), key=lambda r: (order[r["split"]], r["utt_id"]))
    tmp = out / "manifest.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, manifest)
    (out / "manifest.partial.jsonl").unlink()
    stats["wall_s"] = round(wall, 1)
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    if log:
        hours = sum(s["hours"] for s in stats.values() if isinstance(s, dict))
        print(f"[synth] {out}: {len(records)} utterances, {hours:.2f} h in {wall:.0f} s", file=sys.stderr)
    return manifest


def _generate_split(out, config, split, pool, engines, installed, espeak, done, partial, log) -> dict:
    all_voices = voices_for(split, engines, installed, config.voices)
    by_engine: dict[str, list[Voice]] = {}
    for v in all_voices:
        by_engine.setdefault(v.engine, []).append(v)
    target = {"train": config.train_utterances, "val": config.val_utterances, "test": config.test_utterances}[split]
    if split != "train" and target is None:
        target = len(pool)
    if not by_engine or target == 0:
        return {"utterances": 0, "hours": 0.0, "wall_s": 0.0}
    if not pool:
        raise ValueError(f"no speakable Multi30k sentence for the {split} split ({sig.SENTENCE_SOURCE[split]}.en)")
    perm = np.random.default_rng([config.seed, SPLIT_CODE[split], 0]).permutation(len(pool))
    (out / "audio" / split).mkdir(parents=True, exist_ok=True)
    seconds, n, t0, last = 0.0, 0, time.perf_counter(), time.perf_counter()
    limit = math.inf if target is not None else config.hours * 3600.0
    while (n < target) if target is not None else (seconds < limit):
        count = CHUNK if target is None else min(CHUNK, target - n)
        plans = [plan(config, split, n + k, pool, perm, by_engine) for k in range(count)]
        todo = [p for p in plans if p.utt_id not in done]
        audio = dict(zip([p.utt_id for p in todo], _synthesize(todo, espeak), strict=True))
        for p in plans:
            if seconds >= limit:
                break
            rec = done.get(p.utt_id) or _write(out, config, p, *audio[p.utt_id], partial)
            seconds += rec["duration_s"]
            n += 1
        if log and time.perf_counter() - last > 30:
            last = time.perf_counter()
            print(f"[synth] {split}: {n} utterances, {seconds / 3600:.2f} h, {last - t0:.0f} s", file=sys.stderr)
    return {"utterances": n, "hours": round(seconds / 3600, 4), "wall_s": round(time.perf_counter() - t0, 1)}


def _write(out: Path, config: SynthConfig, p: Plan, pcm: np.ndarray, rate: int, partial) -> dict:
    samples = render(p, pcm, rate, config.sample_rate)
    rel = Path("audio") / p.split / f"{p.utt_id}.{config.audio_format}"
    tmp = out / rel.with_name(rel.name + ".part")
    sf.write(str(tmp), samples, config.sample_rate, format=config.audio_format.upper(), subtype="PCM_16")
    os.replace(tmp, out / rel)
    rec = {
        "utt_id": p.utt_id,
        "path": rel.as_posix(),
        "split": p.split,
        "transcript": sig.normalize_transcript(p.sentence),
        "text": p.sentence,
        "voice": p.voice.id,
        "speaker": p.voice.speaker,
        "engine": p.voice.engine,
        "rate": p.rate,
        "pitch": p.pitch if p.voice.engine == "espeak" else None,
        "noise": p.noise,
        "snr_db": p.snr_db,
        "peak_dbfs": p.peak_dbfs,
        "sample_rate": config.sample_rate,
        "num_samples": int(samples.size),
        "duration_s": round(samples.size / config.sample_rate, 4),
    }
    partial.write(json.dumps(rec, sort_keys=True) + "\n")
    partial.flush()
    return rec
