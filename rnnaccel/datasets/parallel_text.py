"""Aligned parallel text on disk (WMT style): ``<prefix>.<src>`` and ``<prefix>.<tgt>``.

Each file holds one sentence per line, plain UTF-8 or gzip (``.gz``); line ``k`` of the source is
the translation of line ``k`` of the target. Lines are stripped of surrounding whitespace. A line
count mismatch, or an empty line where ``allow_empty`` is off, raises :class:`DataError` naming the
file (and the 1-based line number).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import NamedTuple

from torch.utils.data import Dataset

from .paths import DataError


class SentencePair(NamedTuple):
    """One aligned pair of sentences (plain strings, no tokenization)."""

    src: str
    tgt: str


def read_lines(path: str | os.PathLike, allow_empty: bool = False) -> list[str]:
    """Stripped lines of a plain or ``.gz`` UTF-8 text file.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: bad UTF-8 or gzip data, or an empty line while ``allow_empty`` is False.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline=None) as f:
            lines = [line.strip() for line in f]
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read text file {path}: {err}") from None
    if not allow_empty:
        for number, line in enumerate(lines, start=1):
            if not line:
                raise DataError(f"{path}:{number}: empty line (set allow_empty=True to keep it)")
    return lines


def find_text_file(prefix: str | os.PathLike, lang: str) -> Path:
    """``<prefix>.<lang>`` if it exists, else ``<prefix>.<lang>.gz``.

    Raises:
        FileNotFoundError: naming both candidates.
    """
    plain = Path(f"{os.fspath(prefix)}.{lang}")
    gz = Path(f"{plain}.gz")
    for path in (plain, gz):
        if path.is_file():
            return path
    raise FileNotFoundError(f"neither {plain} nor {gz} exists")


def read_parallel(
    src_path: str | os.PathLike, tgt_path: str | os.PathLike, allow_empty: bool = False
) -> list[SentencePair]:
    """Zip two aligned files into pairs.

    Raises:
        DataError: the files differ in line count (names both files and counts), or an empty line.
    """
    src = read_lines(src_path, allow_empty)
    tgt = read_lines(tgt_path, allow_empty)
    if len(src) != len(tgt):
        raise DataError(f"line count mismatch: {src_path} has {len(src)} lines, {tgt_path} has {len(tgt)}")
    return [SentencePair(s, t) for s, t in zip(src, tgt)]


def read_tsv_pairs(path: str | os.PathLike) -> list[SentencePair]:
    """Pairs of a ``src<TAB>tgt`` file (plain or ``.gz``), one per non-blank line.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: a line without exactly one tab or with an empty side (names file:line), or no pair.
    """
    pairs = []
    for number, line in enumerate(read_lines(path, allow_empty=True), start=1):
        if not line:
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != 2 or not all(parts):
            raise DataError(f"{path}:{number}: expected source<TAB>target, both non-empty")
        pairs.append(SentencePair(parts[0], parts[1]))
    if not pairs:
        raise DataError(f"{path}: no sentence pairs (empty file)")
    return pairs


class ParallelText(Dataset[SentencePair]):
    """Sentence pairs from ``<prefix>.<src>[.gz]`` and ``<prefix>.<tgt>[.gz]``.

    Args:
        prefix: path without the language suffix, e.g. ``data/wmt/newstest2014``.
        src, tgt: language suffixes, e.g. ``"en"`` and ``"de"``.
        allow_empty: keep empty lines instead of raising.
        max_pairs: keep only the first ``max_pairs`` pairs (``None`` = all).
    """

    def __init__(
        self, prefix: str | os.PathLike, src: str, tgt: str, allow_empty: bool = False, max_pairs: int | None = None
    ) -> None:
        self.src_path = find_text_file(prefix, src)
        self.tgt_path = find_text_file(prefix, tgt)
        self.src_lang, self.tgt_lang = src, tgt
        pairs = read_parallel(self.src_path, self.tgt_path, allow_empty)
        self.pairs = pairs if max_pairs is None else pairs[:max_pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> SentencePair:
        return self.pairs[i]
