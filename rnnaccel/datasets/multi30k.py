"""Multi30k task 1 (Elliott et al., 2016): image-caption translation en -> de / fr.

Raw, untokenized sentences from ``<root>/multi30k/<split>.<lang>.gz``, one per line and aligned
across languages. Sizes: train 29,000, val 1,014, test_2016_flickr 1,000, test_2017_flickr 1,000,
test_2017_mscoco 461, test_2018_flickr 1,071. The standard test set is ``test_2016_flickr``.
"""

from __future__ import annotations

import os

from torch.utils.data import Dataset

from .parallel_text import SentencePair, find_text_file, read_parallel
from .paths import corpus_dir

MULTI30K_SPLITS = (
    "train",
    "val",
    "test_2016_flickr",
    "test_2017_flickr",
    "test_2017_mscoco",
    "test_2018_flickr",
)
MULTI30K_LANGS = ("en", "de", "fr")


def available_splits(root: str | os.PathLike | None = None, src: str = "en", tgt: str = "de") -> list[str]:
    """The splits of :data:`MULTI30K_SPLITS` whose ``src`` and ``tgt`` files are both present."""
    directory = corpus_dir(root, "multi30k")
    found = []
    for split in MULTI30K_SPLITS:
        try:
            find_text_file(directory / split, src)
            find_text_file(directory / split, tgt)
        except FileNotFoundError:
            continue
        found.append(split)
    return found


class Multi30k(Dataset[SentencePair]):
    """Multi30k sentence pairs; items are :class:`SentencePair` ``(src, tgt)`` strings.

    Args:
        split: one of :data:`MULTI30K_SPLITS`.
        src, tgt: languages among ``en``, ``de``, ``fr`` (default en -> de).
        root: data root holding ``multi30k/`` (default: :func:`default_data_root`).
        max_pairs: keep only the first ``max_pairs`` pairs (``None`` = all).

    Raises:
        FileNotFoundError: a split file is missing (names it).
        DataError: line counts differ or a line is empty (names the file and line).
    """

    def __init__(
        self,
        split: str = "train",
        src: str = "en",
        tgt: str = "de",
        root: str | os.PathLike | None = None,
        max_pairs: int | None = None,
    ) -> None:
        if split not in MULTI30K_SPLITS:
            raise ValueError(f"split must be one of {MULTI30K_SPLITS}, got {split!r}")
        for lang in (src, tgt):
            if lang not in MULTI30K_LANGS:
                raise ValueError(f"language must be one of {MULTI30K_LANGS}, got {lang!r}")
        if src == tgt:
            raise ValueError(f"src and tgt must differ, both are {src!r}")
        directory = corpus_dir(root, "multi30k")
        self.split, self.src_lang, self.tgt_lang = split, src, tgt
        self.src_path = find_text_file(directory / split, src)
        self.tgt_path = find_text_file(directory / split, tgt)
        pairs = read_parallel(self.src_path, self.tgt_path)
        self.pairs = pairs if max_pairs is None else pairs[:max_pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> SentencePair:
        return self.pairs[i]
