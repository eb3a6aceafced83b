"""Subword vocabularies (SentencePiece BPE / unigram) kept as bytes, and token-count batching.

A :class:`SubwordVocab` is built from the serialized SentencePiece model (a few hundred KB), so a
checkpoint can carry it as a ``uint8`` tensor and stay loadable with ``torch.load(weights_only=True)``.
Special ids are fixed for every model trained here: ``pad 0, unk 1, bos 2, eos 3``.
"""

from __future__ import annotations

import io
import random
from typing import Iterable, Sequence

import torch

__all__ = ["PAD", "UNK", "BOS", "EOS", "SubwordVocab", "train_sentencepiece", "token_batches", "pad_batch"]

PAD, UNK, BOS, EOS = 0, 1, 2, 3


def _spm():
    try:
        import sentencepiece
    except ImportError as e:  # pragma: no cover - declared dependency
        raise ImportError("subword vocabularies need the 'sentencepiece' package (pip install sentencepiece)") from e
    return sentencepiece


def train_sentencepiece(
    sentences: Iterable[str],
    vocab_size: int = 8000,
    model_type: str = "bpe",
    character_coverage: float = 1.0,
    seed_sentences: int = 1_000_000,
) -> bytes:
    """Train a SentencePiece model on ``sentences`` in memory; returns the serialized model bytes.

    Ids: pad 0, unk 1, bos 2, eos 3 (:data:`PAD` ...). Deterministic for the same input.
    """
    spm = _spm()
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(sentences)),
        model_writer=buf,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        pad_id=PAD,
        unk_id=UNK,
        bos_id=BOS,
        eos_id=EOS,
        input_sentence_size=seed_sentences,
        shuffle_input_sentence=False,
        num_threads=1,
        minloglevel=2,
        hard_vocab_limit=False,
    )
    return buf.getvalue()


class SubwordVocab:
    """A SentencePiece model loaded from its serialized bytes.

    ``encode(text) -> list[int]`` (no bos/eos), ``decode(ids) -> str`` (stops at the first eos,
    skips pad/bos), ``len(vocab)`` = number of pieces, :meth:`to_tensor` / :meth:`from_tensor` for
    checkpoints (``uint8`` tensor of shape (n_bytes,)).
    """

    def __init__(self, model_bytes: bytes):
        spm = _spm()
        self.model_bytes = bytes(model_bytes)
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_bytes)
        for name, want in (("pad", PAD), ("unk", UNK), ("bos", BOS), ("eos", EOS)):
            got = getattr(self.sp, f"{name}_id")()
            if got != want:
                raise ValueError(f"sentencepiece model: {name} id is {got}, expected {want}")

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text, out_type=int)

    def decode(self, ids: Sequence[int]) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(i)
        return self.sp.decode(out)

    def pieces(self, text: str) -> list[str]:
        return self.sp.encode(text, out_type=str)

    def to_tensor(self) -> torch.Tensor:
        """The model bytes as a ``uint8`` tensor (n_bytes,)."""
        return torch.frombuffer(bytearray(self.model_bytes), dtype=torch.uint8).clone()

    @classmethod
    def from_tensor(cls, t: torch.Tensor) -> "SubwordVocab":
        return cls(bytes(t.to(torch.uint8).contiguous().numpy().tobytes()))


def token_batches(
    src_lens: Sequence[int],
    tgt_lens: Sequence[int],
    max_tokens: int,
    shuffle: bool = True,
    seed: int = 0,
    max_sentences: int = 512,
) -> list[list[int]]:
    """Group example indices into batches of about ``max_tokens`` padded tokens.

    Examples are sorted by (source, target) length (randomly tie-broken when ``shuffle``), cut into
    consecutive chunks whose padded size ``n * max(src_len, tgt_len)`` stays <= ``max_tokens`` (at
    least one example each, at most ``max_sentences``); the batch order is shuffled when ``shuffle``.
    """
    rng = random.Random(seed)
    idx = list(range(len(src_lens)))
    if shuffle:
        rng.shuffle(idx)
    idx.sort(key=lambda i: (src_lens[i], tgt_lens[i]))
    batches, cur, longest = [], [], 0
    for i in idx:
        m = max(longest, src_lens[i], tgt_lens[i])
        if cur and (m * (len(cur) + 1) > max_tokens or len(cur) >= max_sentences):
            batches.append(cur)
            cur, m = [], max(src_lens[i], tgt_lens[i])
        cur.append(i)
        longest = m
    if cur:
        batches.append(cur)
    if shuffle:
        rng.shuffle(batches)
    return batches


def pad_batch(
    seqs: Sequence[Sequence[int]], bos: bool = False, eos: bool = False, pad: int = PAD
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to a (B, T) int64 tensor; optionally add bos/eos. Returns (ids, lengths (B,))."""
    seqs = [([BOS] if bos else []) + list(s) + ([EOS] if eos else []) for s in seqs]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    T = max(1, int(lengths.max())) if len(seqs) else 1
    out = torch.full((len(seqs), T), pad, dtype=torch.int64)
    for b, s in enumerate(seqs):
        if s:
            out[b, : len(s)] = torch.tensor(s, dtype=torch.int64)
    return out, lengths
