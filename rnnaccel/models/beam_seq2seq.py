"""Greedy and beam-search decoding for :class:`~rnnaccel.models.translation.Translator`, in any
datapath mode (the decoder runs one step at a time through ``Translator.step``).

Both are batched over sentences (beam search over ``sentences * beam`` hypotheses) and
deterministic (no sampling; ``torch.topk`` ties resolve by index).

Decoding runs in a technique session (:mod:`rnnaccel.emulator.session`): the caller's
(``session=``) or one opened for the call with the stacks' own technique units (``module.units``,
e.g. set by the evaluate app). Every search starts new sentences (``reset``), the decoder's memo
buffers and precision history then carry from token to token, and beam search reindexes them with
the hypotheses (``reindex``), exactly as it reorders the recurrent state. ``trace`` collects the
encoder's and the decoder's counts under their names (``encoder:L0.d0``, ``decoder:L0.d0``); with a
caller's session, pass the trace to the session instead.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor

from ..datasets.subword import BOS, EOS, PAD, SubwordVocab, pad_batch
from ..emulator import Trace
from ..emulator.session import Session
from ..emulator.session import session as open_session
from ..errors import RnnaccelError
from .translation import Translator

__all__ = ["greedy_search", "beam_search", "translate"]


def _max_len(src_len: Tensor, max_len: int | None) -> int:
    return int(max_len) if max_len is not None else int(src_len.max()) * 2 + 10


@contextmanager
def decoding_session(model: Translator, trace: Trace | None, session: Session | None) -> Iterator[Session]:
    """The session a search runs in, with every module's sequences reset (new sentences)."""
    if session is not None:
        if trace is not None:
            raise RnnaccelError(
                "decoding: pass the trace to the session (session(model, trace=...)), not to the search"
            )
        session.reset()
        yield session
        return
    with open_session(model, trace=trace) as s:
        yield s


@torch.no_grad()
def greedy_search(
    model: Translator,
    src: Tensor,
    src_len: Tensor,
    max_len: int | None = None,
    trace: Trace | None = None,
    session: Session | None = None,
) -> list[list[int]]:
    """``src`` (B, S), ``src_len`` (B,) -> B token-id lists (without bos/eos)."""
    with decoding_session(model, trace, session):
        return _greedy(model, src, src_len, max_len)


def _greedy(model: Translator, src: Tensor, src_len: Tensor, max_len: int | None) -> list[list[int]]:
    memory, keys, mask = model.encode(src, src_len)
    B = src.shape[0]
    prev = torch.full((B,), BOS, dtype=torch.int64)
    state, done = None, torch.zeros(B, dtype=torch.bool)
    out = [[] for _ in range(B)]
    for _ in range(_max_len(src_len, max_len)):
        logp, state = model.step(prev, state, memory, keys, mask)
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
    session: Session | None = None,
) -> list[list[int]]:
    """Beam search; hypotheses ranked at the end by ``logp / length**alpha`` (length counts eos).

    ``src`` (B, S), ``src_len`` (B,) -> B token-id lists (without bos/eos). Finished hypotheses
    stay in the beam with a frozen score (they extend with pad at zero cost). The decoder's
    technique state follows the hypotheses (``session.reindex`` with the recurrent state's index).
    """
    with decoding_session(model, trace, session) as s:
        if beam == 1:
            return _greedy(model, src, src_len, max_len)
        return _beam(model, src, src_len, beam, alpha, max_len, s)


def _beam(model, src, src_len, beam: int, alpha: float, max_len: int | None, sess: Session) -> list[list[int]]:
    memory, keys, mask = model.encode(src, src_len)
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
        logp, state = model.step(prev, state, memory, keys, mask)
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
        state = tuple(st.index_select(1, flat) for st in state)
        sess.reindex(model.decoder, flat)
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
    session: Session | None = None,
) -> list[str]:
    """Translate raw sentences (batched by sorted source length, output in input order); every
    batch decodes in one technique session (``session`` or one opened here with ``trace``)."""
    was = model.training
    model.eval()
    ids = [src_vocab.encode(s)[:max_src_tokens] + [EOS] for s in sentences]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    hyps: list[str] = [""] * len(ids)
    try:
        with decoding_session(model, trace, session) as s:
            _translate_batches(model, tgt_vocab, ids, order, hyps, beam, batch_size, alpha, s, progress)
    finally:
        model.train(was)
    return hyps


def _translate_batches(model, tgt_vocab, ids, order, hyps, beam, batch_size, alpha, sess, progress) -> None:
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        src, src_len = pad_batch([ids[i] for i in chunk])
        out = beam_search(model, src, src_len, beam=beam, alpha=alpha, session=sess)
        for i, toks in zip(chunk, out):
            hyps[i] = tgt_vocab.decode(toks)
        if progress is not None:
            progress(len(chunk))
