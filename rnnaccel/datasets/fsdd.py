"""Connected digits from the Free Spoken Digit Dataset (FSDD, CC BY-SA 4.0).

FSDD holds isolated digits: ``fsdd/recordings/{digit}_{speaker}_{index}.wav``, 8 kHz mono, six
speakers, 50 recordings (index 0-49) of each digit per speaker. A TIDIGITS-style continuous task is
built by joining 1-7 recordings of ONE speaker with short random pauses; the transcript is the
digit words ("three one four"), scored by WER.

Splits (``scheme``):

- ``"speaker"`` (speaker-disjoint, what the apps use by default: ``data.scheme=speaker``): every
  recording of ``test_speaker`` is test; the other five speakers give validation (their indices 5-9,
  a held-out slice of the training speakers: tuning never hears the test speaker) and train (their
  indices 0-4 and 10-49). ``test_speaker`` is a name or a fold number ``0``-``5`` (the leave-one-
  speaker-out fold ``k`` holds out ``SPEAKERS[k]``); the default is fold 4, ``"theo"``.
- ``"index"`` (index-disjoint, **in-domain**: all six speakers in every split; this class's default
  for backward compatibility): recording indices 0-4 are test (the dataset's customary split), 5-9
  validation, 10-49 train. Its scores say nothing about voices never heard.

Utterance ``i`` of a split is drawn from its own generator seeded by ``(seed, split, i)``, so it does
not depend on how many utterances are requested, nor on which were read before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .audio import SpeechItem, load_audio
from .paths import DataError, corpus_dir
from .text import DIGIT_WORDS

SAMPLE_RATE = 8000
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
SPLITS = ("train", "val", "test")
SCHEMES = ("index", "speaker")
DEFAULT_TEST_SPEAKER = "theo"  # fold 4 of the leave-one-speaker-out folds over SPEAKERS
TEST_INDICES = range(0, 5)
VAL_INDICES = range(5, 10)
DEFAULT_NUM_UTTERANCES = {"train": 6000, "val": 500, "test": 500}
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


@dataclass(frozen=True)
class Recording:
    """One FSDD file: ``{digit}_{speaker}_{index}.wav``."""

    digit: int
    speaker: str
    index: int
    path: Path


@dataclass(frozen=True)
class UtterancePlan:
    """How utterance ``i`` is assembled (no audio is read to make it).

    Attributes:
        speaker: the one speaker of every recording.
        recordings: the digits in spoken order.
        gaps: silence in samples, ``len(recordings) + 1`` entries: before the first digit, between
            consecutive digits, after the last.
        noise_seed: seed of the white noise added when ``noise_snr_db`` is set.
    """

    speaker: str
    recordings: tuple[Recording, ...]
    gaps: tuple[int, ...]
    noise_seed: int

    @property
    def digits(self) -> tuple[int, ...]:
        return tuple(r.digit for r in self.recordings)

    @property
    def transcript(self) -> str:
        return " ".join(DIGIT_WORDS[d] for d in self.digits)


def list_recordings(root: str | os.PathLike | None = None) -> list[Recording]:
    """Every recording under ``<root>/fsdd/recordings``, sorted by (speaker, digit, index).

    Raises:
        FileNotFoundError: the directory is missing or holds no ``*.wav`` named as FSDD names them.
    """
    directory = corpus_dir(root, "fsdd", "recordings")
    recs = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match:
            digit, speaker, index = match.groups()
            recs.append(Recording(int(digit), speaker.lower(), int(index), path))
    if not recs:
        raise FileNotFoundError(f"no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav) in {directory}")
    return sorted(recs, key=lambda r: (r.speaker, r.digit, r.index))


def resolve_test_speaker(test_speaker: str | int) -> str:
    """The held-out speaker named by ``test_speaker``: a speaker of :data:`SPEAKERS` or a fold
    number ``0``-``5`` (fold ``k`` holds out ``SPEAKERS[k]``).

    Raises:
        ValueError: neither (the message lists both forms).
    """
    text = str(test_speaker).strip().lower()
    if text.isdigit() and int(text) < len(SPEAKERS):
        return SPEAKERS[int(text)]
    if text in SPEAKERS:
        return text
    folds = ", ".join(f"{k}={name}" for k, name in enumerate(SPEAKERS))
    raise ValueError(f"test speaker {test_speaker!r} unknown; give a speaker or a fold number ({folds})")


def split_recordings(
    recordings: list[Recording], split: str, scheme: str = "index", test_speaker: str | int = DEFAULT_TEST_SPEAKER
) -> list[Recording]:
    """The recordings a split may draw from (see the module docstring for the rules)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if scheme == "index":
        if split == "test":
            return [r for r in recordings if r.index in TEST_INDICES]
        if split == "val":
            return [r for r in recordings if r.index in VAL_INDICES]
        held = set(TEST_INDICES) | set(VAL_INDICES)
        return [r for r in recordings if r.index not in held]
    held_out = resolve_test_speaker(test_speaker)
    if held_out not in {r.speaker for r in recordings}:
        raise ValueError(f"test speaker {held_out!r} has no recordings")
    if split == "test":
        return [r for r in recordings if r.speaker == held_out]
    others = [r for r in recordings if r.speaker != held_out]
    if split == "val":
        return [r for r in others if r.index in VAL_INDICES]
    return [r for r in others if r.index not in VAL_INDICES]


class ConnectedDigits(Dataset[SpeechItem]):
    """Connected-digit utterances of one FSDD speaker each.

    Items are :class:`SpeechItem` with ``waveform`` ``(samples,)`` float32 at 8 kHz, ``transcript``
    the digit words, ``speaker`` the FSDD speaker and ``utt_id`` ``"fsdd-<split>-<i>"``.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        root: data root holding ``fsdd/recordings`` (default: :func:`default_data_root`).
        num_utterances: utterances in this split (default: train 6000, val 500, test 500).
        scheme: ``"index"`` (index-disjoint, in-domain; this class's default) or ``"speaker"``
            (speaker-disjoint; the apps' default).
        test_speaker: the held-out speaker of the ``"speaker"`` scheme: a name or a fold number.
        recordings: draw from these instead of FSDD's split (e.g. synthesized digits,
            :mod:`rnnaccel.datasets.synth_digits`); ``split`` then only names and seeds the items.
        speaker_weights: speaker -> relative weight of drawing that speaker (default: equal).
        name: prefix of ``utt_id`` (``"<name>-<split>-<i>"``).
        min_digits, max_digits: digits per utterance, drawn uniformly in this closed range.
        pause_min_s, pause_max_s: pause between digits, uniform in seconds.
        edge_max_s: leading and trailing silence, each uniform in ``[0, edge_max_s]`` seconds.
        noise_snr_db: if set, add white Gaussian noise at this SNR (relative to the mean power of
            the joined recordings, pauses excluded) over the whole utterance.
        seed: base seed; the same seed gives bit-identical utterances.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        root: str | os.PathLike | None = None,
        num_utterances: int | None = None,
        scheme: str = "index",
        test_speaker: str | int = DEFAULT_TEST_SPEAKER,
        recordings: list[Recording] | None = None,
        speaker_weights: dict[str, float] | None = None,
        name: str = "fsdd",
        min_digits: int = 1,
        max_digits: int = 7,
        pause_min_s: float = 0.05,
        pause_max_s: float = 0.30,
        edge_max_s: float = 0.10,
        noise_snr_db: float | None = None,
        seed: int = 0,
    ) -> None:
        if not 1 <= min_digits <= max_digits:
            raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
        if not 0 <= pause_min_s <= pause_max_s or edge_max_s < 0:
            raise ValueError("pauses must satisfy 0 <= pause_min_s <= pause_max_s, edge_max_s >= 0")
        if recordings is None:
            pool = split_recordings(list_recordings(root), split, scheme, test_speaker)
        else:
            pool = list(recordings)
            if split not in SPLITS:
                raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.split, self.scheme, self.seed, self.name = split, scheme, seed, name
        self.num_utterances = DEFAULT_NUM_UTTERANCES[split] if num_utterances is None else num_utterances
        self.min_digits, self.max_digits = min_digits, max_digits
        self.pause_s = (pause_min_s, pause_max_s)
        self.edge_max_s = edge_max_s
        self.noise_snr_db = noise_snr_db
        # speaker -> digit -> recordings sorted by index
        self.pool: dict[str, dict[int, list[Recording]]] = {}
        for rec in pool:
            self.pool.setdefault(rec.speaker, {}).setdefault(rec.digit, []).append(rec)
        for speaker, by_digit in self.pool.items():
            missing = sorted(set(range(10)) - set(by_digit))
            if missing:
                raise DataError(f"FSDD speaker {speaker!r} has no {split} recordings of digits {missing}")
        self.speakers = tuple(sorted(self.pool))
        self._speaker_p = _speaker_probabilities(self.speakers, speaker_weights)
        self._cache: dict[Path, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.num_utterances

    def plan(self, i: int) -> UtterancePlan:
        """The recordings and pauses of utterance ``i`` (cheap: reads no audio)."""
        if not 0 <= i < self.num_utterances:
            raise IndexError(f"utterance {i} out of range [0, {self.num_utterances})")
        rng = np.random.default_rng([self.seed, _SPLIT_CODE[self.split], i])
        if self._speaker_p is None:
            speaker = self.speakers[rng.integers(len(self.speakers))]
        else:
            speaker = self.speakers[int(np.searchsorted(self._speaker_p, rng.random(), side="right"))]
        n = int(rng.integers(self.min_digits, self.max_digits + 1))
        recs = []
        for digit in rng.integers(0, 10, size=n):
            choices = self.pool[speaker][int(digit)]
            recs.append(choices[rng.integers(len(choices))])
        pauses = rng.uniform(*self.pause_s, size=n - 1)
        edges = rng.uniform(0.0, self.edge_max_s, size=2)
        gaps_s = [edges[0], *pauses, edges[1]]
        gaps = tuple(int(round(g * SAMPLE_RATE)) for g in gaps_s)
        return UtterancePlan(speaker, tuple(recs), gaps, int(rng.integers(2**31)))

    def _audio(self, rec: Recording) -> torch.Tensor:
        if rec.path not in self._cache:
            wave, sr = load_audio(rec.path)
            if sr != SAMPLE_RATE:
                raise DataError(f"{rec.path}: sample rate {sr} Hz, expected {SAMPLE_RATE} Hz")
            self._cache[rec.path] = wave
        return self._cache[rec.path]

    def __getitem__(self, i: int) -> SpeechItem:
        plan = self.plan(i)
        parts = [torch.zeros(plan.gaps[0])]
        for rec, gap in zip(plan.recordings, plan.gaps[1:]):
            parts += [self._audio(rec), torch.zeros(gap)]
        wave = torch.cat(parts)  # (samples,)
        if self.noise_snr_db is not None:
            speech = torch.cat([self._audio(r) for r in plan.recordings])
            power = float(speech.double().pow(2).mean())
            scale = (power / 10.0 ** (self.noise_snr_db / 10.0)) ** 0.5
            noise = np.random.default_rng(plan.noise_seed).standard_normal(wave.numel())
            wave = wave + torch.from_numpy((noise * scale).astype(np.float32))
        return SpeechItem(wave, SAMPLE_RATE, plan.transcript, plan.speaker, f"{self.name}-{self.split}-{i:05d}")


def _speaker_probabilities(speakers: tuple[str, ...], weights: dict[str, float] | None) -> np.ndarray | None:
    """Cumulative drawing probabilities of ``speakers`` (None: equal, drawn as before)."""
    if weights is None:
        return None
    w = np.array([float(weights.get(s, 1.0)) for s in speakers])
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("speaker weights must be >= 0 and not all 0")
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    return cum[:-1]
