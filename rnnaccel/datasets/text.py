"""Character and word vocabularies for CTC.

Index 0 is always the CTC blank (``"<blank>"``); real tokens start at 1. ``encode`` maps a
transcript to token ids, ``decode`` maps ids back (blanks dropped), and ``ctc_collapse`` turns a
frame-level greedy path into a label sequence (merge repeats, then drop blanks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

BLANK = "<blank>"
BLANK_ID = 0
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ENGLISH_CHARS = " 'abcdefghijklmnopqrstuvwxyz"


def ctc_collapse(ids: Iterable[int], blank: int = BLANK_ID) -> list[int]:
    """Greedy CTC path -> labels: merge runs of equal ids, then remove blanks."""
    out: list[int] = []
    prev = None
    for i in ids:
        i = int(i)
        if i != prev and i != blank:
            out.append(i)
        prev = i
    return out


class Vocab:
    """Token inventory with the CTC blank at 0.

    Args:
        tokens: the real tokens (no blank), in id order starting at 1; must be unique.
        separator: string joining decoded tokens ("" for characters, " " for words).
        lowercase: lowercase text before encoding.
    """

    def __init__(self, tokens: Sequence[str], separator: str, lowercase: bool = True) -> None:
        if len(set(tokens)) != len(tokens) or BLANK in tokens:
            raise ValueError(f"tokens must be unique and exclude {BLANK!r}: {list(tokens)!r}")
        self.tokens: tuple[str, ...] = (BLANK, *tokens)
        self.separator = separator
        self.lowercase = lowercase
        self._index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        """Number of classes including the blank (the CTC output size)."""
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} classes incl. blank)"

    def split(self, text: str) -> list[str]:
        raise NotImplementedError

    def encode(self, text: str) -> Tensor:
        """Transcript -> ``(length,)`` int64 ids in ``[1, len(self))``.

        Raises:
            ValueError: a token is not in the vocabulary (names the token and the text).
        """
        if self.lowercase:
            text = text.lower()
        ids = []
        for token in self.split(text):
            if token not in self._index or token == BLANK:
                raise ValueError(f"token {token!r} not in {self!r}; text: {text!r}")
            ids.append(self._index[token])
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; blanks are skipped (repeats are kept: see :meth:`decode_ctc`)."""
        return self.separator.join(self.tokens[int(i)] for i in ids if int(i) != BLANK_ID)

    def decode_ctc(self, path: Iterable[int]) -> str:
        """Frame-level greedy path ``(frames,)`` -> text (merge repeats, drop blanks)."""
        return self.decode(ctc_collapse(path))


class CharVocab(Vocab):
    """Characters of ``alphabet`` (default: space, apostrophe, a-z). Runs of whitespace in the input
    become one space and the text is stripped, so ``decode(encode(t))`` returns the normalized text.
    """

    def __init__(self, alphabet: str = ENGLISH_CHARS, lowercase: bool = True) -> None:
        super().__init__(list(alphabet), separator="", lowercase=lowercase)

    def split(self, text: str) -> list[str]:
        return list(" ".join(text.split()))


class WordVocab(Vocab):
    """Whole words separated by whitespace (default: the ten digit words)."""

    def __init__(self, words: Sequence[str] = DIGIT_WORDS, lowercase: bool = True) -> None:
        super().__init__(list(words), separator=" ", lowercase=lowercase)

    def split(self, text: str) -> list[str]:
        return text.split()

    @classmethod
    def from_texts(cls, texts: Iterable[str], lowercase: bool = True) -> WordVocab:
        """Vocabulary of every word in ``texts``, sorted (ids do not depend on text order)."""
        words = {w for t in texts for w in (t.lower() if lowercase else t).split()}
        return cls(sorted(words), lowercase=lowercase)
