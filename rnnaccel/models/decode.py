"""CTC decoding: greedy (best path) and prefix beam search, optionally with a word language model.

Both take ``log_probs`` (B, T, V) (log-softmax outputs, blank = 0) and ``lengths`` (B,) and
return one label-id list per utterance (blanks removed, repeats merged as CTC defines). The beam
search ranks prefixes by their CTC score plus an optional ``scorer(prefix)`` bonus (shallow fusion;
:class:`rnnaccel.models.lm.LMScorer`), and its ``final(prefix)`` at the end.
"""

from __future__ import annotations

import math
from collections import defaultdict

from torch import Tensor

from ..datasets.text import BLANK_ID, ctc_collapse

__all__ = ["greedy_decode", "beam_search_decode", "prefix_beam_search"]

_NEG_INF = -math.inf


def greedy_decode(log_probs: Tensor, lengths: Tensor, blank: int = BLANK_ID) -> list[list[int]]:
    """Best path: argmax per frame over the first ``lengths[b]`` frames, merge repeats, drop blanks."""
    best = log_probs.argmax(dim=-1)  # (B, T)
    return [ctc_collapse(best[b, : int(lengths[b])].tolist(), blank) for b in range(best.shape[0])]


def _logsumexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def prefix_beam_search(
    log_probs: Tensor, beam_size: int = 8, blank: int = BLANK_ID, prune: float | None = None, scorer=None
) -> list[tuple[tuple[int, ...], float]]:
    """CTC prefix beam search over one utterance ``log_probs`` (T, V).

    Each prefix keeps two log scores: ending in blank (``pb``) and ending in its last label
    (``pnb``). Returns up to ``beam_size`` ``(prefix, log_score)`` pairs, best first (ties broken
    by the prefix, so the result is deterministic). ``prune``: skip labels whose frame log-prob is
    below this value (``None`` = consider all). ``scorer``: ``scorer(prefix)`` is added to a
    prefix's score for ranking, ``scorer.final(prefix)`` instead at the end (the returned scores
    include it).
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    lp = log_probs.detach().double().cpu().tolist()
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, _NEG_INF)}
    for frame in lp:
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [_NEG_INF, _NEG_INF])
        labels = [v for v, p in enumerate(frame) if prune is None or p >= prune or v == blank]
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            for v in labels:
                p = frame[v]
                if v == blank:
                    e = nxt[prefix]
                    e[0] = _logsumexp(e[0], total + p)
                    continue
                last = prefix[-1] if prefix else None
                ext = prefix + (v,)
                e = nxt[ext]
                if v == last:  # a repeat needs a blank in between to extend
                    e[1] = _logsumexp(e[1], pb + p)
                    same = nxt[prefix]
                    same[1] = _logsumexp(same[1], pnb + p)
                else:
                    e[1] = _logsumexp(e[1], total + p)
        if scorer is None:
            ranked = sorted(nxt.items(), key=lambda kv: (-_logsumexp(*kv[1]), kv[0]))[:beam_size]
        else:
            ranked = sorted(nxt.items(), key=lambda kv: (-_logsumexp(*kv[1]) - scorer(kv[0]), kv[0]))[:beam_size]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    out = [(k, _logsumexp(*v) + (scorer.final(k) if scorer is not None else 0.0)) for k, v in beams.items()]
    return sorted(out, key=lambda kv: (-kv[1], kv[0]))


def beam_search_decode(
    log_probs: Tensor,
    lengths: Tensor,
    beam_size: int = 8,
    blank: int = BLANK_ID,
    prune: float | None = -12.0,
    scorer=None,
) -> list[list[int]]:
    """Prefix beam search per utterance of a batch ``log_probs`` (B, T, V); the best prefix each."""
    out = []
    for b in range(log_probs.shape[0]):
        if scorer is not None:
            scorer.clear()
        res = prefix_beam_search(log_probs[b, : int(lengths[b])], beam_size, blank, prune, scorer)
        out.append(list(res[0][0]) if res else [])
    return out


def decode(
    log_probs: Tensor, lengths: Tensor, method: str = "greedy", beam_size: int = 8, scorer=None
) -> list[list[int]]:
    """``method``: ``"greedy"`` or ``"beam"`` (with ``scorer``: beam search with a language model)."""
    if method == "greedy":
        if scorer is not None:
            raise ValueError("a language-model scorer needs method='beam'")
        return greedy_decode(log_probs, lengths)
    if method == "beam":
        return beam_search_decode(log_probs, lengths, beam_size, scorer=scorer)
    raise ValueError(f"decode method {method!r} unknown; choose 'greedy' or 'beam'")
