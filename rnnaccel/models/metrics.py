"""Word and character error rates (jiwer), corpus-level: total edits / total reference length.

An empty hypothesis counts every reference word as a deletion; references must be non-empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import jiwer

__all__ = ["error_rates", "wer", "cer"]


def _check(refs: Sequence[str], hyps: Sequence[str]) -> tuple[list[str], list[str]]:
    if len(refs) != len(hyps):
        raise ValueError(f"got {len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError("no utterances to score")
    refs = [" ".join(r.split()) for r in refs]
    hyps = [" ".join(h.split()) for h in hyps]
    bad = [i for i, r in enumerate(refs) if not r]
    if bad:
        raise ValueError(f"empty reference at index {bad[0]}")
    return refs, hyps


def error_rates(refs: Sequence[str], hyps: Sequence[str]) -> dict:
    """``{"wer", "cer", "words", "word_errors", "substitutions", "deletions", "insertions", "chars",
    "char_errors", "utterances", "sentence_errors"}`` over the whole set."""
    refs, hyps = _check(refs, hyps)
    w = jiwer.process_words(refs, hyps)
    c = jiwer.process_characters(refs, hyps)
    words = w.hits + w.substitutions + w.deletions
    chars = c.hits + c.substitutions + c.deletions
    werr = w.substitutions + w.deletions + w.insertions
    cerr = c.substitutions + c.deletions + c.insertions
    return {
        "wer": werr / words,
        "cer": cerr / chars,
        "words": words,
        "word_errors": werr,
        "substitutions": w.substitutions,
        "deletions": w.deletions,
        "insertions": w.insertions,
        "chars": chars,
        "char_errors": cerr,
        "utterances": len(refs),
        "sentence_errors": sum(r != h for r, h in zip(refs, hyps)),
    }


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    return error_rates(refs, hyps)["wer"]


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    return error_rates(refs, hyps)["cer"]
