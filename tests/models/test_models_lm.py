"""Word n-gram LM (Kneser-Ney) and its shallow fusion in the CTC prefix beam search."""

import math

import pytest
import torch

from rnnaccel.datasets import CharVocab
from rnnaccel.models.decode import beam_search_decode, decode, prefix_beam_search
from rnnaccel.models.lm import EOS, LMScorer, WordNgramLM

TEXT = [
    "a dog runs on the grass",
    "a dog plays with a ball",
    "the dog runs",
    "a man runs on the beach",
    "a cat sleeps",
    "two dogs play on the grass",
]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_probabilities_sum_to_one_with_unk(order):
    lm = WordNgramLM(TEXT, order=order)
    for history in [(), ("a",), ("a", "dog"), ("zebra", "on"), ("the",)]:
        total = sum(math.exp(lm.logprob(w, history)) for w in lm.vocab)
        unk = math.exp(lm.logprob("zebra", history))
        assert 0 < unk < 0.05
        assert total + unk == pytest.approx(1.0, abs=1e-9)


def test_context_matters_and_lower_orders_differ():
    lm3, lm1 = WordNgramLM(TEXT, order=3), WordNgramLM(TEXT, order=1)
    assert lm3.logprob("dog", ("a",)) > lm3.logprob("cat", ("a",))
    assert lm3.logprob("runs", ("the", "dog")) > lm3.logprob("plays", ("the", "dog"))
    assert lm1.logprob("runs", ("the", "dog")) == lm1.logprob("runs", ())
    assert lm3.perplexity(["a dog runs on the grass"]) < lm3.perplexity(["grass the on runs dog a"])
    assert lm3.logprob(EOS, ("on", "the", "grass")) > lm3.logprob(EOS, ("on", "the"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="order must be a positive int"):
        WordNgramLM(TEXT, order=0)
    with pytest.raises(ValueError, match="discount must be in"):
        WordNgramLM(TEXT, discount=1.0)
    with pytest.raises(ValueError, match="at least one training sentence"):
        WordNgramLM([])
    with pytest.raises(ValueError, match="no ' ' token"):
        LMScorer(WordNgramLM(TEXT), ["<blank>", "a", "b"])
    with pytest.raises(ValueError, match="needs method='beam'"):
        decode(torch.zeros(1, 2, 3), torch.tensor([2]), "greedy", scorer=object())


def _frames(text: str, vocab: CharVocab, confusions: dict[int, dict[str, float]]) -> torch.Tensor:
    """One confident frame per character followed by a blank frame; ``confusions[i]`` spreads
    character ``i``'s frame over other characters."""
    V = len(vocab)
    rows = []
    for i, ch in enumerate(text):
        p = torch.full((V,), 1e-4)
        for c, w in confusions.get(i, {ch: 1.0}).items():
            p[vocab.tokens.index(c)] = w
        rows.append(p / p.sum())
        b = torch.full((V,), 1e-4)
        b[0] = 1.0
        rows.append(b / b.sum())
    return torch.stack(rows).log()


def test_language_model_repairs_an_acoustically_likelier_misspelling():
    vocab = CharVocab()
    lp = _frames("a dog runs", vocab, {3: {"a": 0.55, "o": 0.45}})  # 'dag' beats 'dog' acoustically
    greedy = vocab.decode(decode(lp[None], torch.tensor([lp.shape[0]]), "greedy")[0])
    assert greedy == "a dag runs"
    plain = prefix_beam_search(lp, beam_size=8)
    assert vocab.decode(list(plain[0][0])) == "a dag runs"
    scorer = LMScorer(WordNgramLM(TEXT), vocab.tokens, alpha=0.8, beta=1.0)
    fused = prefix_beam_search(lp, beam_size=8, scorer=scorer)
    assert vocab.decode(list(fused[0][0])) == "a dog runs"
    # the returned score includes the final LM bonus: a CTC log-probability (<= 0) plus it
    assert fused[0][1] - scorer.final(fused[0][0]) <= 0
    # alpha = beta = 0: exactly the plain search
    zero = LMScorer(WordNgramLM(TEXT), vocab.tokens, alpha=0.0, beta=0.0)
    assert prefix_beam_search(lp, beam_size=8, scorer=zero) == plain
    out = beam_search_decode(torch.stack([lp, lp]), torch.tensor([lp.shape[0]] * 2), 8, scorer=scorer)
    assert [vocab.decode(o) for o in out] == ["a dog runs"] * 2


def test_scorer_bonus_counts_completed_words_only():
    vocab = CharVocab()
    lm = WordNgramLM(TEXT)
    s = LMScorer(lm, vocab.tokens, alpha=0.5, beta=2.0)
    ids = tuple(vocab.encode("a dog ru"))
    want = 0.5 * (lm.logprob("a") + lm.logprob("dog", ("a",))) + 2 * 2.0
    assert s(ids) == pytest.approx(want)
    assert s(tuple(vocab.encode("a dog"))) == pytest.approx(0.5 * lm.logprob("a") + 2.0)
    full = want + 0.5 * (lm.logprob("ru", ("a", "dog")) + lm.logprob(EOS, ("a", "dog", "ru"))) + 2.0
    assert s.final(ids) == pytest.approx(full)
