"""Sentence-level movie-review sentiment: the VADER movie-review snippets, shipped in the package.

The file ``rnnaccel/datasets/data/vader/movieReviewSnippets_GroundTruth.txt`` comes unchanged from
the ``vaderSentiment==3.3.2`` source distribution (MIT; how it was extracted is in the
``README.md`` beside it). Each line is ``ID<TAB>MEAN-RATING<TAB>TEXT``: 10,605 snippets rated on
[-4, 4] by at least 20 people. The label is ``1`` (positive) when the rating is ``> 0``, else
``0`` (5,242 positive; 5,326 negative and 37 neutral snippets make the 5,363 of class 0).

Pipeline::

    data = load_sentiment(seed=0)              # stratified 80/10/10 split + vocab from train
    loader = DataLoader(data.train, batch_size=64, collate_fn=collate_sentiment)
    batch = next(iter(loader))                 # tokens (B, T) int64, lengths (B,), labels (B,)

Tokens: lowercase words (letters/digits with inner apostrophes, e.g. ``doesn't``) plus ``!`` and
``?``. Vocabulary: ``<pad>`` = 0, ``<unk>`` = 1, then the training-split words seen at least
``min_count`` times, most frequent first (ties alphabetical), at most ``max_size`` in all.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .paths import DataError

__all__ = [
    "SNIPPETS_FILE",
    "SNIPPETS_SHA256",
    "PAD",
    "UNK",
    "PAD_ID",
    "UNK_ID",
    "Snippet",
    "read_snippets",
    "tokenize",
    "SentimentVocab",
    "split_snippets",
    "SentimentDataset",
    "SentimentBatch",
    "collate_sentiment",
    "SentimentData",
    "load_sentiment",
]

SNIPPETS_FILE = Path(__file__).resolve().parent / "data" / "vader" / "movieReviewSnippets_GroundTruth.txt"
SNIPPETS_SHA256 = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"
PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
SPLITS = ("train", "val", "test")
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[!?]")


@dataclass(frozen=True)
class Snippet:
    """One rated snippet: ``id`` (line ID), ``score`` (mean rating in [-4, 4]), ``text``."""

    id: int
    score: float
    text: str

    @property
    def label(self) -> int:
        """1 if the mean rating is positive, else 0."""
        return int(self.score > 0)


def read_snippets(path: str | Path | None = None) -> list[Snippet]:
    """Read and validate ``ID<TAB>SCORE<TAB>TEXT`` lines (default: the shipped file).

    Raises:
        FileNotFoundError: the file is missing (message names it).
        DataError: not UTF-8, an empty line, a line without three fields, a non-integer or
            duplicate ID, a non-finite score or one outside [-4, 4], or no snippets at all; the
            message names the file and line.
    """
    path = Path(path) if path is not None else SNIPPETS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"sentiment snippets file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    out: list[Snippet] = []
    seen: set[int] = set()
    for n, line in enumerate(text.splitlines(), 1):
        where = f"{path}:{n}"
        if not line.strip():
            raise DataError(f"{where}: empty line")
        parts = line.split("\t")
        if len(parts) != 3:
            raise DataError(f"{where}: expected ID<TAB>SCORE<TAB>TEXT, got {len(parts)} field(s)")
        sid, score, snippet = parts
        try:
            i, s = int(sid), float(score)
        except ValueError:
            raise DataError(f"{where}: bad ID {sid!r} or score {score!r}") from None
        if not math.isfinite(s) or abs(s) > 4:
            raise DataError(f"{where}: score {score!r} is not a finite rating in [-4, 4]")
        if i in seen:
            raise DataError(f"{where}: duplicate ID {i}")
        if not snippet.strip():
            raise DataError(f"{where}: empty text")
        seen.add(i)
        out.append(Snippet(i, s, snippet.strip()))
    if not out:
        raise DataError(f"{path}: no snippets")
    return out


def tokenize(text: str) -> list[str]:
    """Lowercase word-level tokens: ``"It's GREAT!"`` -> ``["it's", "great", "!"]``."""
    return _TOKEN.findall(text.lower())


class SentimentVocab:
    """Word <-> id map with ``<pad>`` = 0 and ``<unk>`` = 1.

    Args:
        tokens: the full token list in id order, starting with ``<pad>``, ``<unk>`` (this is what a
            checkpoint stores); must be unique.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK] or len(set(tokens)) != len(tokens):
            raise ValueError(f"vocab tokens must be unique and start with {PAD!r}, {UNK!r}")
        self.tokens: list[str] = tokens
        self._index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 2, max_size: int | None = None) -> "SentimentVocab":
        """Words of ``texts`` seen ``>= min_count`` times, most frequent first (ties alphabetical),
        truncated so that the vocab (with ``<pad>``/``<unk>``) has at most ``max_size`` entries."""
        counts = Counter(t for text in texts for t in tokenize(text))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max(0, max_size - 2)]
        return cls([PAD, UNK, *words])

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"SentimentVocab({len(self)} tokens)"

    def encode(self, text: str) -> Tensor:
        """Text -> ``(length,)`` int64 ids; unknown words -> ``<unk>``; a text without any token
        gives ``[<unk>]`` so every sequence has length >= 1."""
        ids = [self._index.get(t, UNK_ID) for t in tokenize(text)] or [UNK_ID]
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return " ".join(self.tokens[int(i)] for i in ids if int(i) != PAD_ID)


def split_snippets(
    snippets: Sequence[Snippet], seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, list[Snippet]]:
    """Deterministic stratified split into ``{"train", "val", "test"}``.

    Per label, snippets are sorted by ID, shuffled with ``random.Random(seed)``, and cut at
    ``round(n * fractions[0])`` and ``round(n * (fractions[0] + fractions[1]))``. Each split is
    then put in ID order and shuffled by the same generator: the file lists the snippets grouped
    by rating, so in ID order the first N items of a split (``eval.limit=N``) would be nearly one
    class (the first 200 of val: 96.5 % positive); shuffled, any prefix has both classes in about
    the split's proportion. The same snippets and seed give the same split and order on every
    platform.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    rng = random.Random(seed)
    parts: dict[str, list[Snippet]] = {s: [] for s in SPLITS}
    for label in (0, 1):
        group = sorted((s for s in snippets if s.label == label), key=lambda s: s.id)
        rng.shuffle(group)
        n = len(group)
        a, b = round(n * fractions[0]), round(n * (fractions[0] + fractions[1]))
        for name, chunk in zip(SPLITS, (group[:a], group[a:b], group[b:])):
            parts[name].extend(chunk)
    ordered = {k: sorted(v, key=lambda s: s.id) for k, v in parts.items()}
    for k in SPLITS:
        rng.shuffle(ordered[k])
    return ordered


class SentimentDataset(torch.utils.data.Dataset):
    """Snippets encoded with a vocab; item ``i`` is ``(ids (length,) int64, label int)``."""

    def __init__(self, snippets: Sequence[Snippet], vocab: SentimentVocab) -> None:
        self.snippets = list(snippets)
        self.vocab = vocab
        self._ids = [vocab.encode(s.text) for s in self.snippets]

    def __len__(self) -> int:
        return len(self.snippets)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        return self._ids[i], self.snippets[i].label

    @property
    def labels(self) -> Tensor:
        """``(N,)`` int64 labels."""
        return torch.tensor([s.label for s in self.snippets], dtype=torch.int64)


@dataclass
class SentimentBatch:
    """``tokens`` (B, T) int64 padded with ``PAD_ID``; ``lengths`` (B,) int64 >= 1; ``labels`` (B,)."""

    tokens: Tensor
    lengths: Tensor
    labels: Tensor


def collate_sentiment(items: Sequence[tuple[Tensor, int]]) -> SentimentBatch:
    """Pad a list of ``(ids, label)`` to a :class:`SentimentBatch` (order kept)."""
    if not items:
        raise ValueError("collate_sentiment: empty batch")
    lengths = torch.tensor([len(ids) for ids, _ in items], dtype=torch.int64)
    tokens = torch.full((len(items), int(lengths.max())), PAD_ID, dtype=torch.int64)
    for b, (ids, _) in enumerate(items):
        tokens[b, : len(ids)] = ids
    labels = torch.tensor([int(y) for _, y in items], dtype=torch.int64)
    return SentimentBatch(tokens, lengths, labels)


@dataclass
class SentimentData:
    """The three encoded splits and the vocab they share."""

    train: SentimentDataset
    val: SentimentDataset
    test: SentimentDataset
    vocab: SentimentVocab


def load_sentiment(
    path: str | Path | None = None,
    seed: int = 0,
    min_count: int = 2,
    max_vocab: int | None = None,
    vocab: SentimentVocab | Sequence[str] | None = None,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> SentimentData:
    """Read, split (:func:`split_snippets`) and encode the snippets.

    The vocab is built from the training split (``min_count``, ``max_vocab``) unless ``vocab``
    (a :class:`SentimentVocab` or its token list, e.g. from a checkpoint) is given.
    """
    parts = split_snippets(read_snippets(path), seed, fractions)
    if vocab is None:
        vocab = SentimentVocab.build((s.text for s in parts["train"]), min_count, max_vocab)
    elif not isinstance(vocab, SentimentVocab):
        vocab = SentimentVocab(vocab)
    return SentimentData(*(SentimentDataset(parts[k], vocab) for k in SPLITS), vocab)
