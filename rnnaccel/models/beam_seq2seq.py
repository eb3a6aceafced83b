"""Greedy and beam-search decoding for :class:`~rnnaccel.models.translation.Translator`, in any
datapath mode (the decoder runs one step at a time through ``Translator.step``).

Both are batched over sentences (beam search over ``sentences * beam`` hypotheses) and
deterministic (no sampling; ``torch.topk`` ties resolve by index).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..datasets.subword import BOS, EOS, PAD, SubwordVocab, pad_batch
from ..emulator import Trace
from .translation import Translator

__all__ = ["greedy_search", "beam_search", "translate"]


def _max_len(src_len: Tensor, max_len: int | None) -> int:
    return int(max_len) if max_len is not None else int(src_len.max()) * 2 + 10


@torch.no_grad()
def greedy_search(
    model: Translator, src: Tensor, src_len: Tensor, max_len: int | None = None, trace: Trace | None = None
) -> list[list[int]]:
    """``src`` (B, S), ``src_len`` (B,) -> B token-id lists (without bos/eos)."""
    memory, keys, mask = model.encode(src, src_len, trace)
    B = src.shape[0]
    prev = torch.full((B,), BOS, dtype=torch.int64)
    state, done = None, torch.zeros(B, dtype=torch.bool)
    out = [[] for _ in range(B)]
    for _ in range(_max_len(src_len, max_len)):
        logp, state = model.step(prev, state, memory, keys, mask, trace)
        prev = logp.argmax(dim=-1)
        for b in range(B):
            if not done[b]:
                if int(prev[b]) == EOS:
                    done[b] = True
                else:
                    out[b].append(int(prev[b]))
        if bool(done.all()):
            break
    return out


@torch.no_grad()
def beam_search(
    model: Translator,
    src: Tensor,
    src_len: Tensor,
    beam: int = 5,
    alpha: float = 1.0,
    max_len: int | None = None,
    trace: Trace | None = None,
) -> list[list[int]]:
    """Beam search; hypotheses ranked at the end by ``logp / length**alpha`` (length counts eos).

    ``src`` (B, S), ``src_len`` (B,) -> B token-id lists (without bos/eos). Finished hypotheses
    stay in the beam with a frozen score (they extend with pad at zero cost).
    """
    if beam == 1:
        return greedy_search(model, src, src_len, max_len, trace)
    memory, keys, mask = model.encode(src, src_len, trace)
    B, K = src.shape[0], beam
    rep = lambda t: t.repeat_interleave(K, dim=0)  # (B, ...) -> (B*K, ...)
    memory, keys, mask = rep(memory), rep(keys), rep(mask)
    scores = torch.full((B, K), float("-inf"))
    scores[:, 0] = 0.0
    tokens = torch.full((B, K, 0), PAD, dtype=torch.int64)
    finished = torch.zeros(B, K, dtype=torch.bool)
    lengths = torch.zeros(B, K)
    prev = torch.full((B * K,), BOS, dtype=torch.int64)
    state = None
    for _ in range(_max_len(src_len, max_len)):
        logp, state = model.step(prev, state, memory, keys, mask, trace)
        V = logp.shape[-1]
        logp = logp.view(B, K, V)
        frozen = torch.full((V,), float("-inf"))
        frozen[PAD] = 0.0
        logp = torch.where(finished.unsqueeze(-1), frozen, logp)
        cand = (scores.unsqueeze(-1) + logp).view(B, K * V)
        top, idx = cand.topk(K, dim=-1)  # (B, K)
        src_beam, tok = idx // V, idx % V
        gather = lambda t, ix=src_beam: torch.gather(t, 1, ix)
        was_finished = gather(finished)
        tokens = torch.cat(
            [torch.gather(tokens, 1, src_beam.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])), tok.unsqueeze(-1)],
            dim=-1,
        )
        lengths = gather(lengths) + (~was_finished).float()
        finished = was_finished | (tok == EOS)
        scores = top
        flat = (src_beam + torch.arange(B).unsqueeze(1) * K).view(-1)
        state = tuple(s.index_select(1, flat) for s in state)
        prev = tok.view(-1)
        if bool(finished.all()):
            break
    norm = scores / lengths.clamp(min=1) ** alpha
    best = norm.argmax(dim=-1)
    out = []
    for b in range(B):
        seq = tokens[b, int(best[b])].tolist()
        seq = seq[: seq.index(EOS)] if EOS in seq else seq
        out.append([t for t in seq if t not in (PAD, BOS)])
    return out


@torch.no_grad()
def translate(
    model: Translator,
    src_vocab: SubwordVocab,
    tgt_vocab: SubwordVocab,
    sentences: list[str],
    beam: int = 1,
    batch_size: int = 64,
    alpha: float = 1.0,
    max_src_tokens: int = 200,
    trace: Trace | None = None,
    progress=None,
) -> list[str]:
    """Translate raw sentences (batched by sorted source length, output in input order)."""
    was = model.training
    model.eval()
    ids = [src_vocab.encode(s)[:max_src_tokens] + [EOS] for s in sentences]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    hyps: list[str] = [""] * len(ids)
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            src, src_len = pad_batch([ids[i] for i in chunk])
            out = beam_search(model, src, src_len, beam=beam, alpha=alpha, trace=trace)
            for i, toks in zip(chunk, out):
                hyps[i] = tgt_vocab.decode(toks)
            if progress is not None:
                progress(len(chunk))
    finally:
        model.train(was)
    return hyps
