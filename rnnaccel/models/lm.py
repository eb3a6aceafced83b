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
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["WordNgramLM", "ArpaLM", "LMScorer", "WordLMScorer", "load_lm", "make_scorer", "synth_lm"]

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


UNK = "<unk>"


class ArpaLM:
    """A backoff n-gram model read from the ARPA text format.

    ``log10 p`` and ``log10 bo`` per listed n-gram; :meth:`logprob` backs off from the longest
    listed context (``bo`` of a context absent from the file counts as 0, i.e. weight 1). A word
    the model does not list is scored as ``<unk>``; a file without a ``<unk>`` unigram (SRILM
    without ``-unk``) gives unknown words its lowest unigram probability (:attr:`unk_source` says
    which).

    Args:
        lines: the file's lines; ``source`` names it in error messages.
    """

    def __init__(self, lines: Iterable[str], source: str = "ARPA") -> None:
        self.source = source
        self.prob: dict[tuple[str, ...], float] = {}
        self.backoff: dict[tuple[str, ...], float] = {}
        declared = self._parse(iter(enumerate(lines, start=1)))
        counts = Counter(len(g) for g in self.prob)
        for n, want in declared.items():
            if counts[n] != want:
                raise ValueError(f"{source}: \\data\\ declares ngram {n}={want} but lists {counts[n]}")
        if not counts[1]:
            raise ValueError(f"{source}: no 1-grams; is it an ARPA file?")
        self.order = max(counts)
        self.vocab = {g[0] for g in self.prob if len(g) == 1}
        self.unk_source = "listed" if (UNK,) in self.prob else "lowest unigram"
        if (UNK,) not in self.prob:
            self.prob[(UNK,)] = min(p for g, p in self.prob.items() if len(g) == 1)
        self._cache: dict[tuple, float] = {}

    @classmethod
    def read(cls, path: "str | Path") -> "ArpaLM":
        with open(path, encoding="utf-8") as f:
            return cls(f, str(path))

    def _parse(self, lines) -> dict[int, int]:
        """Fill :attr:`prob` / :attr:`backoff`; returns the ``ngram N=count`` declarations."""
        declared: dict[int, int] = {}
        section = None
        for number, raw in lines:
            line = raw.strip()
            if not line:
                continue
            where = f"{self.source}:{number}"
            if line == "\\data\\":
                section = 0
            elif line == "\\end\\":
                return declared
            elif line.startswith("\\") and line.endswith("-grams:"):
                section = int(line[1:].split("-", 1)[0])
            elif section == 0 and line.startswith("ngram "):
                n, count = line[6:].split("=")
                declared[int(n)] = int(count)
            elif section:
                self._entry(line.split(), section, where)
            elif section is None:
                continue  # text before \data\ (comments)
            else:
                raise ValueError(f"{where}: unexpected line {line[:60]!r}")
        raise ValueError(f"{self.source}: no \\end\\ line (truncated file?)")

    def _entry(self, fields: list[str], n: int, where: str) -> None:
        if len(fields) not in (n + 1, n + 2):
            raise ValueError(f"{where}: a {n}-gram line needs a log10 probability, {n} words and an optional backoff")
        try:
            values = [float(fields[0])] + ([float(fields[-1])] if len(fields) == n + 2 else [])
        except ValueError:
            raise ValueError(f"{where}: {fields[0]!r} is not a log10 probability") from None
        gram = tuple(fields[1 : n + 1])
        self.prob[gram] = values[0]
        if len(values) == 2:
            self.backoff[gram] = values[1]

    def _log10(self, word: str, context: tuple[str, ...]) -> float:
        bo = 0.0
        while (context + (word,)) not in self.prob:
            if not context:
                return bo + self.prob[(UNK,)]
            bo += self.backoff.get(context, 0.0)
            context = context[1:]
        return bo + self.prob[context + (word,)]

    def logprob(self, word: str, history: tuple[str, ...] = ()) -> float:
        """Natural log of P(word | the last order-1 words of history, after ``<s>``)."""
        k = self.order - 1
        known = lambda w: w if w in self.vocab else UNK  # noqa: E731
        context = tuple(known(w) for w in ((BOS,) + tuple(history))[-k:]) if k else ()
        key = (word, context)
        if key not in self._cache:
            self._cache[key] = self._log10(known(word), context) * math.log(10.0)
        return self._cache[key]


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


class WordLMScorer:
    """Shallow-fusion bonus when every CTC label is a whole word (``WordVocab``): each label adds
    ``alpha * log P(word | the words before) + beta``; :meth:`final` adds ``</s>``."""

    def __init__(self, lm, tokens: list[str], alpha: float = 0.8, beta: float = 1.0) -> None:
        self.lm, self.tokens, self.alpha, self.beta = lm, tokens, alpha, beta
        self._bonus: dict[tuple[int, ...], float] = {(): 0.0}

    def _words(self, prefix: tuple[int, ...]) -> tuple[str, ...]:
        return tuple(self.tokens[i] for i in prefix)

    def __call__(self, prefix: tuple[int, ...]) -> float:
        hit = self._bonus.get(prefix)
        if hit is None:
            word = self.tokens[prefix[-1]]
            hit = self(prefix[:-1]) + self.alpha * self.lm.logprob(word, self._words(prefix[:-1])) + self.beta
            self._bonus[prefix] = hit
        return hit

    def final(self, prefix: tuple[int, ...]) -> float:
        return self(prefix) + self.alpha * self.lm.logprob(EOS, self._words(prefix))

    def clear(self) -> None:
        self._bonus = {(): 0.0}


def make_scorer(lm, vocab, alpha: float = 0.8, beta: float = 1.0):
    """The scorer of a CTC ``vocab`` (``tokens``, ``separator``): :class:`LMScorer` for characters
    (``separator ""``), :class:`WordLMScorer` when labels are words (``separator " "``)."""
    if vocab.separator == " ":
        return WordLMScorer(lm, list(vocab.tokens), alpha, beta)
    return LMScorer(lm, list(vocab.tokens), alpha, beta)


def _is_arpa(path: Path, head: int = 100) -> bool:
    """A ``\\data\\`` line among the first ``head`` lines (ARPA files may open with comments)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return any(line.strip() == "\\data\\" for _, line in zip(range(head), f))


def load_lm(
    path: "str | Path", order: int = 3, normalize: Callable[[str], str] | None = None, discount: float = 0.75
) -> tuple["ArpaLM | WordNgramLM", dict]:
    """A word LM from ``path``: an ARPA file (a ``\\data\\`` line among its first 100) or a plain
    text corpus, one sentence a line, each passed through ``normalize`` (empty results dropped)
    and fitted as a ``order``-gram :class:`WordNgramLM`. Returns ``(lm, info)``; ``info`` names
    the kind, order, size and the file's SHA-256.

    Raises:
        FileNotFoundError: no such file.  ValueError: a malformed ARPA file or no sentence (names the file).
    """
    import hashlib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"language model file not found: {path}")
    info = {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    if _is_arpa(path):
        lm = ArpaLM.read(path)
        return lm, info | {"kind": "arpa", "order": lm.order, "words": len(lm.vocab), "unk": lm.unk_source}
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    sentences = [t for t in (normalize(s) if normalize else " ".join(s.split()) for s in lines) if t]
    if not sentences:
        raise ValueError(f"{path}: no sentence to build a language model from (one sentence a line)")
    lm = WordNgramLM(sentences, order, discount)
    return lm, info | {"kind": "text", "order": order, "sentences": len(sentences), "words": len(lm.vocab)}
