"""A word n-gram language model for CTC beam search (DeepSpeech-style shallow fusion).

:class:`WordNgramLM` is an interpolated Kneser-Ney model (one absolute discount ``D`` per order,
default 0.75) over whitespace-separated words, with ``<s>``/``</s>`` sentence markers. Unseen words
share the unigram level's reserved mass as one ``<unk>`` class: ``P_1(w) = max(N1+(. w) - D, 0) /
N1+(. .) + D * |V| / N1+(. .) / (|V| + 1)``, so every word has a probability > 0.

:class:`LMScorer` turns it into the bonus that :func:`rnnaccel.models.decode.prefix_beam_search`
adds to a character prefix's CTC score: ``alpha * log P(completed words) + beta * #words``; a word is
complete when the space after it is emitted, and :meth:`LMScorer.final` scores the last word and
``</s>`` at the end of the utterance. The LM runs on the host: it changes which transcript the
beam picks, never the recurrent layers (nor what the emulator computes).

:func:`synth_lm` builds the model of the synthesized-speech task from the sentences the synth
corpus trains on (Multi30k train, English side, normalized like the transcripts; no val or test
sentence is in it).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Iterable

__all__ = ["WordNgramLM", "LMScorer", "synth_lm"]

BOS, EOS = "<s>", "</s>"


class WordNgramLM:
    """Interpolated Kneser-Ney word n-gram model.

    Args:
        sentences: training text, one sentence per item (already normalized).
        order: n (>= 1).
        discount: absolute discount D in (0, 1).
    """

    def __init__(self, sentences: Iterable[str], order: int = 3, discount: float = 0.75) -> None:
        if not isinstance(order, int) or order < 1:
            raise ValueError(f"order must be a positive int, got {order!r}")
        if not 0.0 < discount < 1.0:
            raise ValueError(f"discount must be in (0, 1), got {discount!r}")
        self.order, self.d = order, discount
        grams: list[Counter] = [Counter() for _ in range(order + 1)]  # grams[n][(w1..wn)]
        n_sent = 0
        for s in sentences:
            words = [BOS] * (order - 1) + s.split() + [EOS]
            n_sent += 1
            for n in range(1, order + 1):
                for i in range(max(0, order - 1 - (n - 1)), len(words) - n + 1):
                    grams[n][tuple(words[i : i + n])] += 1
        if n_sent == 0:
            raise ValueError("WordNgramLM needs at least one training sentence")
        # highest order uses counts; lower orders use continuation counts N1+(. w...)
        self._count: list[dict] = [{} for _ in range(order + 1)]
        self._count[order] = dict(grams[order])
        for n in range(1, order):
            cont = Counter(g[1:] for g in grams[n + 1])
            self._count[n] = dict(cont)
        # per context: total count and number of distinct followers
        self._ctx_total: list[dict] = [defaultdict(int) for _ in range(order + 1)]
        self._ctx_types: list[dict] = [defaultdict(int) for _ in range(order + 1)]
        for n in range(1, order + 1):
            for g, c in self._count[n].items():
                self._ctx_total[n][g[:-1]] += c
                self._ctx_types[n][g[:-1]] += 1
        self.vocab = {g[0] for g in self._count[1]}
        self._cache: dict[tuple, float] = {}

    def _prob(self, word: str, context: tuple[str, ...]) -> float:
        n = len(context) + 1
        if n == 1:
            total, types = self._ctx_total[1][()], self._ctx_types[1][()]
            seen = max(self._count[1].get((word,), 0) - self.d, 0.0) / total
            return seen + self.d * types / total / (len(self.vocab) + 1)
        lower = self._prob(word, context[1:])
        total = self._ctx_total[n].get(context, 0)
        if total == 0:  # unseen context: back off entirely
            return lower
        c = self._count[n].get(context + (word,), 0)
        return max(c - self.d, 0.0) / total + self.d * self._ctx_types[n][context] / total * lower

    def logprob(self, word: str, history: tuple[str, ...] = ()) -> float:
        """Natural log of P(word | the last order-1 words of history); history may start with <s>."""
        k = self.order - 1
        context = ((BOS,) * k + tuple(history))[-k:] if k else ()
        key = (word, context)
        if key not in self._cache:
            self._cache[key] = math.log(self._prob(word, context))
        return self._cache[key]

    def sentence_logprob(self, sentence: str) -> float:
        words = sentence.split()
        return sum(self.logprob(w, tuple(words[:i])) for i, w in enumerate(words + [EOS]))

    def perplexity(self, sentences: Iterable[str]) -> float:
        lp, n = 0.0, 0
        for s in sentences:
            lp += self.sentence_logprob(s)
            n += len(s.split()) + 1
        return math.exp(-lp / max(n, 1))


class LMScorer:
    """Shallow-fusion bonus of a character prefix (label ids) for the CTC prefix beam search.

    Args:
        lm: the word model.
        tokens: label id -> character (``vocab.tokens``; id 0 is the blank).
        alpha: LM weight; beta: bonus per word.
        space: the character that ends a word.
    """

    def __init__(
        self, lm: WordNgramLM, tokens: list[str], alpha: float = 0.8, beta: float = 1.0, space: str = " "
    ) -> None:
        if space not in tokens:
            raise ValueError(f"the vocabulary has no {space!r} token to end words")
        self.lm, self.tokens, self.alpha, self.beta = lm, tokens, alpha, beta
        self.space_id = tokens.index(space)
        self._bonus: dict[tuple[int, ...], tuple[float, tuple[str, ...]]] = {(): (0.0, ())}

    def _split(self, prefix: tuple[int, ...], end: int) -> tuple[float, tuple[str, ...], list[str]]:
        """For ``prefix[:end]``: (bonus, words) of everything up to its last space, and the
        characters after that space as words (empty, or the one word being spelled)."""
        cut = end
        while cut > 0 and prefix[cut - 1] != self.space_id:
            cut -= 1
        bonus, words = self._state(prefix[:cut]) if cut else (0.0, ())
        return bonus, words, "".join(self.tokens[i] for i in prefix[cut:end]).split()

    def _add(self, bonus: float, words: tuple[str, ...], new: list[str]) -> tuple[float, tuple[str, ...]]:
        if not new:  # nothing spelled (a leading or doubled space)
            return bonus, words
        return bonus + self.alpha * self.lm.logprob(new[0], words) + self.beta, words + (new[0],)

    def _state(self, prefix: tuple[int, ...]) -> tuple[float, tuple[str, ...]]:
        """(bonus of the completed words, completed words) of ``prefix``."""
        hit = self._bonus.get(prefix)
        if hit is None:
            if prefix[-1] != self.space_id:  # mid-word: the same as up to the last space
                hit = self._split(prefix, len(prefix))[:2]
            else:  # the space completes the word before it
                hit = self._add(*self._split(prefix, len(prefix) - 1))
            self._bonus[prefix] = hit
        return hit

    def __call__(self, prefix: tuple[int, ...]) -> float:
        return self._state(prefix)[0]

    def final(self, prefix: tuple[int, ...]) -> float:
        """Bonus of the whole utterance: completed words, the last partial word and ``</s>``."""
        bonus, words = self._add(*self._split(prefix, len(prefix)))
        return bonus + self.alpha * self.lm.logprob(EOS, words)

    def clear(self) -> None:
        """Drop the per-prefix cache (call between utterances to bound memory)."""
        self._bonus = {(): (0.0, ())}


def synth_lm(order: int = 3, discount: float = 0.75, data_root=None) -> WordNgramLM:
    """The word LM of the synthesized-speech task: the normalized Multi30k train sentences the
    corpus draws its training utterances from (``sentence_pools``: disjoint from val and test)."""
    from ..datasets.synth_signal import normalize_transcript, sentence_pools

    return WordNgramLM([normalize_transcript(s) for s in sentence_pools(data_root)["train"]], order, discount)
