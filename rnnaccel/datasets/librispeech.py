"""LibriSpeech (Panayotov et al., 2015) read from the standard on-disk layout; never downloads.

Layout::

    <root>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <root>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

Each ``.trans.txt`` line is ``<speaker>-<chapter>-<utt> TRANSCRIPT IN CAPITALS``.

The layout is read here rather than through ``torchaudio.datasets.LIBRISPEECH``: its items load
audio with ``torchaudio.load``, which in torchaudio >= 2.9 needs torchcodec (not installed), and it
accepts only the seven official split names. Audio is read with soundfile instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch.utils.data import Dataset

from .audio import SpeechItem, load_audio
from .paths import DataError, corpus_dir

SAMPLE_RATE = 16000
LIBRISPEECH_SPLITS = (
    "dev-clean",
    "dev-other",
    "test-clean",
    "test-other",
    "train-clean-100",
    "train-clean-360",
    "train-other-500",
)


class LibriSpeech(Dataset[SpeechItem]):
    """Utterances of one LibriSpeech split, sorted by utterance id.

    Items are :class:`SpeechItem` with ``waveform`` ``(samples,)`` float32 at 16 kHz, the
    transcript lowercased, ``speaker`` the numeric speaker id as a string and ``utt_id``
    ``"<speaker>-<chapter>-<utt>"``. Any split directory name is accepted.

    Args:
        root: directory holding ``LibriSpeech/`` (no default: LibriSpeech is not shipped).
        split: split directory, e.g. ``"test-clean"``.
        folder: top-level folder name inside ``root``.
        lowercase: lowercase transcripts (LibriSpeech writes them in capitals).

    Raises:
        FileNotFoundError: the split directory is missing or has no ``*.trans.txt``.
        DataError: a transcript line is malformed (names the file and line).
    """

    def __init__(
        self, root: str | os.PathLike, split: str = "test-clean", folder: str = "LibriSpeech", lowercase: bool = True
    ) -> None:
        self.directory = corpus_dir(root, folder, split)
        self.split = split
        self.entries: list[tuple[str, str, Path]] = []  # (utt_id, transcript, audio path)
        for trans in sorted(self.directory.glob("*/*/*.trans.txt")):
            self.entries += _read_transcripts(trans, lowercase)
        if not self.entries:
            raise FileNotFoundError(f"no */*/*.trans.txt transcripts under {self.directory}")
        self.entries.sort(key=lambda e: e[0])

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> SpeechItem:
        utt_id, transcript, path = self.entries[i]
        wave, sr = load_audio(path)
        return SpeechItem(wave, sr, transcript, utt_id.split("-")[0], utt_id)


def _read_transcripts(path: Path, lowercase: bool) -> list[tuple[str, str, Path]]:
    """Parse one ``<speaker>-<chapter>.trans.txt`` into (utt_id, transcript, flac path)."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            parts = line.strip().split(" ", 1)
            if len(parts) != 2 or not parts[1].strip() or parts[0].count("-") != 2:
                raise DataError(f"{path}:{number}: expected '<speaker>-<chapter>-<utt> TEXT'")
            utt_id, text = parts[0], " ".join(parts[1].split())
            entries.append((utt_id, text.lower() if lowercase else text, path.parent / f"{utt_id}.flac"))
    return entries
