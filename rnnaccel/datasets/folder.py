"""Your own speech: a directory of audio files and one transcript file.

The transcript file lists ``path<TAB>transcript`` per line (TSV; a first line ``path<TAB>transcript``
is a header) or ``{"path": ..., "transcript": ...}`` per line (JSONL); paths are relative to the
directory (or absolute). Audio is anything soundfile reads (WAV, FLAC, OGG) at any rate and channel
count: :func:`rnnaccel.datasets.load_audio` mixes it down, the front end resamples it.

:func:`fit_to_vocab` turns a free-form transcript into what a CTC vocabulary can spell, and counts
every change: accented letters folded to ASCII (``mapped``), digits spelled as words when the
vocabulary has the digit names (``spelled``), punctuation removed (``punctuation``), and tokens the
vocabulary lacks dropped (``oov``: words of a word vocabulary, characters of a character one).
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from collections import Counter
from pathlib import Path

from torch.utils.data import Dataset

from .audio import SpeechItem, load_audio
from .paths import DataError
from .text import DIGIT_WORDS, Vocab

__all__ = [
    "TRANSCRIPT_SUFFIXES",
    "AudioFolder",
    "find_transcripts",
    "read_transcripts",
    "files_sha256",
    "fit_to_vocab",
]

TRANSCRIPT_SUFFIXES = (".tsv", ".jsonl")
HEADER = ("path", "transcript")


def find_transcripts(root: str | os.PathLike, name: str | os.PathLike | None = None) -> Path:
    """The transcript file of ``root``: ``name`` (relative to ``root`` or absolute) or else the one
    ``*.tsv`` / ``*.jsonl`` there.

    Raises:
        FileNotFoundError: ``root`` or ``name`` missing, or no transcript file (names it).
        DataError: several candidates (names them).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")
    if name is not None:
        path = Path(name) if Path(name).is_absolute() else root / name
        if not path.is_file():
            raise FileNotFoundError(f"transcript file {path} not found")
        return path
    found = sorted(p for p in root.iterdir() if p.suffix in TRANSCRIPT_SUFFIXES and p.is_file())
    if not found:
        raise FileNotFoundError(f"{root} holds no *.tsv or *.jsonl transcript file")
    if len(found) > 1:
        raise DataError(f"{root} holds {len(found)} transcript files ({', '.join(p.name for p in found)})")
    return found[0]


def _tsv_entry(line: str, where: str) -> tuple[str, str]:
    parts = line.split("\t")
    if len(parts) != 2:
        raise DataError(f"{where}: expected path<TAB>transcript, got {len(parts)} field(s)")
    return parts[0].strip(), parts[1].strip()


def _jsonl_entry(line: str, where: str) -> tuple[str, str]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: not JSON ({e.msg})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("path"), str) or not isinstance(obj.get("transcript"), str):
        raise DataError(f'{where}: expected {{"path": "...", "transcript": "..."}}')
    return obj["path"].strip(), obj["transcript"].strip()


def read_transcripts(path: str | os.PathLike) -> list[tuple[str, str, int]]:
    """``(audio path as written, transcript, line number)`` per non-blank line of a TSV or JSONL file.

    Raises:
        DataError: unreadable, no entry, a malformed line, an empty path or transcript (names file:line).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read transcript file {path}: {e}") from None
    parse = _jsonl_entry if path.suffix == ".jsonl" else _tsv_entry
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        audio, text = parse(line, f"{path}:{number}")
        if not out and path.suffix != ".jsonl" and (audio.lower(), text.lower()) == HEADER:
            continue
        if not audio or not text:
            raise DataError(f"{path}:{number}: empty {'path' if not audio else 'transcript'}")
        out.append((audio, text, number))
    if not out:
        raise DataError(f"{path}: no utterances (empty transcript file)")
    return out


class AudioFolder(Dataset[SpeechItem]):
    """The utterances of a transcript file, in its order; items are :class:`SpeechItem` with
    ``utt_id`` the audio path as written and an empty ``speaker``.

    Args:
        root: the directory of the audio files.
        transcripts: the transcript file (default: the one ``*.tsv`` / ``*.jsonl`` in ``root``).

    Raises:
        FileNotFoundError: a missing directory, transcript file or audio file (names the first
            missing audio file, its line and how many are missing).
        DataError: see :func:`find_transcripts` and :func:`read_transcripts`.
    """

    def __init__(self, root: str | os.PathLike, transcripts: str | os.PathLike | None = None) -> None:
        self.root = Path(root)
        self.transcripts_path = find_transcripts(self.root, transcripts)
        entries = read_transcripts(self.transcripts_path)
        self.paths = [Path(a) if Path(a).is_absolute() else self.root / a for a, _, _ in entries]
        missing = [(p, n) for p, (_, _, n) in zip(self.paths, entries) if not p.is_file()]
        if missing:
            (p, n), more = missing[0], len(missing) - 1
            raise FileNotFoundError(
                f"{self.transcripts_path}:{n}: audio file {p} not found" + (f" (and {more} more)" if more else "")
            )
        self.utt_ids = [a for a, _, _ in entries]
        self.transcripts = [t for _, t, _ in entries]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> SpeechItem:
        wave, rate = load_audio(self.paths[i])
        return SpeechItem(wave, rate, self.transcripts[i], "", self.utt_ids[i])

    def digest(self) -> str:
        """:func:`files_sha256` of the transcript file and every listed audio file, in order."""
        return files_sha256([self.transcripts_path, *self.paths])


def files_sha256(paths) -> str:
    """SHA-256 over the SHA-256 of each file's bytes, in order: the same files give the same digest
    on any machine; any changed byte, file or order changes it."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def _fold(ch: str, counts: Counter, keep_oov: bool = False) -> str:
    """ASCII for a non-ASCII character: its decomposition's ASCII letters (``é`` -> ``e``, counted
    as mapped), else a space (a letter the vocabulary cannot spell is counted oov; with
    ``keep_oov`` it stays, counted where its word is checked)."""
    if ch.isascii():
        return ch
    ascii_ = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
    if ascii_.strip():
        counts["mapped"] += 1
        return ascii_
    key = "oov" if unicodedata.category(ch).startswith("L") else "punctuation"
    if key == "oov" and keep_oov:
        return ch  # stays in its word; the vocabulary check counts it
    counts[key] += 1
    if key == "oov":
        counts[f"oov:{ch}"] += 1
    return " "


def _spells_digits(vocab: Vocab) -> bool:
    """Can the vocabulary say digit names: whole words (word vocab) or their letters (char vocab)."""
    tokens = set(vocab.tokens[1:])
    if vocab.separator == " ":
        return set(DIGIT_WORDS) <= tokens
    return set("".join(DIGIT_WORDS)) <= tokens


def _keeps_apostrophe(vocab: Vocab) -> bool:
    return any("'" in t for t in vocab.tokens[1:])


def _strip_punctuation(text: str, vocab: Vocab, counts: Counter) -> str:
    """Punctuation and symbols -> spaces (counted); an apostrophe between letters stays when the
    vocabulary has one (``man's``)."""
    keep_apostrophe = _keeps_apostrophe(vocab)
    out = []
    for i, ch in enumerate(text):
        inner = 0 < i < len(text) - 1 and text[i - 1].isalpha() and text[i + 1].isalpha()
        if ch.isalnum() or ch.isspace() or (ch == "'" and inner and keep_apostrophe):
            out.append(ch)
        else:
            counts["punctuation"] += 1
            out.append(" ")
    return "".join(out)


def _spell_digits(text: str, counts: Counter) -> str:
    out = []
    for ch in text:
        if ch in "0123456789":
            counts["spelled"] += 1
            out.append(f" {DIGIT_WORDS[int(ch)]} ")
        else:
            out.append(ch)
    return "".join(out)


def _keep_known(words: list[str], vocab: Vocab, counts: Counter, keep_oov: bool = False) -> list[str]:
    """Words of a word vocabulary, or the spellable characters of each word of a character one;
    what is dropped is counted (``oov`` and ``oov:<token>``); ``keep_oov``: counted, not dropped."""
    known = set(vocab.tokens[1:])
    out = []
    for w in words:
        if vocab.separator == " ":
            kept = w if w in known else ""
            dropped = [] if kept else [w]
        else:
            kept = "".join(c for c in w if c in known)
            dropped = [c for c in w if c not in known]
        for d in dropped:
            counts["oov"] += 1
            counts[f"oov:{d}"] += 1
        if keep_oov:
            kept = w
        if kept:
            out.append(kept)
    return out


def fit_to_vocab(text: str, vocab: Vocab, keep_oov: bool = False) -> tuple[str, Counter]:
    """``text`` as ``vocab`` can spell it (encodable: ``vocab.encode(result)`` never fails) and the
    changes made: ``mapped``, ``spelled``, ``punctuation``, ``oov`` and ``oov:<token>`` per dropped
    token. The result is empty when nothing is spellable. ``keep_oov``: the tokens the vocabulary
    lacks stay in the text (counted the same; the standard WER reference, not encodable)."""
    counts: Counter = Counter()
    text = "".join(_fold(ch, counts, keep_oov) for ch in text)
    if vocab.lowercase:
        text = text.lower()
    if _spells_digits(vocab):
        text = _spell_digits(text, counts)
    text = _strip_punctuation(text, vocab, counts)
    return " ".join(_keep_known(text.split(), vocab, counts, keep_oov)), counts
