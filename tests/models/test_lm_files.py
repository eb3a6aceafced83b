"""Word LMs from files: ARPA backoff models read as the format defines, a plain text corpus built
into a Kneser-Ney model, and the scorer of a word-level CTC vocabulary."""

import math

import pytest
import torch

from rnnaccel.datasets import CharVocab, WordVocab
from rnnaccel.models.decode import prefix_beam_search
from rnnaccel.models.lm import EOS, ArpaLM, LMScorer, WordLMScorer, WordNgramLM, load_lm, make_scorer

BIGRAM = """some comment before the data
\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-1.0 <s> -0.5
-0.5 one -0.3
-0.7 two
-1.2 </s>

\\2-grams:
-0.2 <s> one
-0.1 one two

\\end\\
"""
LN10 = math.log(10.0)


def test_arpa_backoff_by_hand(tmp_path):
    p = tmp_path / "lm.arpa"
    p.write_text(BIGRAM)
    lm, info = load_lm(p)
    assert isinstance(lm, ArpaLM) and info["kind"] == "arpa" and info["order"] == 2 and len(info["sha256"]) == 64
    assert lm.logprob("one") == pytest.approx(-0.2 * LN10)  # listed bigram after <s>
    assert lm.logprob("two") == pytest.approx((-0.5 - 0.7) * LN10)  # bo(<s>) + p(two)
    assert lm.logprob("two", ("one",)) == pytest.approx(-0.1 * LN10)
    assert lm.logprob("one", ("two",)) == pytest.approx(-0.5 * LN10)  # no bo listed for 'two': weight 1
    # no <unk> in the file: an unknown word gets the lowest unigram probability, after the backoff
    assert lm.unk_source == "lowest unigram"
    assert lm.logprob("zebra", ("one",)) == pytest.approx((-0.3 - 1.2) * LN10)
    assert lm.logprob(EOS, ("one", "two")) == pytest.approx(-1.2 * LN10)


@pytest.mark.parametrize(
    "text,match",
    [
        (BIGRAM.replace("ngram 2=2", "ngram 2=3"), "declares ngram 2=3 but lists 2"),
        (BIGRAM.replace("\\end\\\n", ""), "no \\\\end\\\\ line"),
        (BIGRAM.replace("-0.1 one two", "x one two"), "'x' is not a log10 probability"),
        (BIGRAM.replace("-0.1 one two", "-0.1 one"), ":14: a 2-gram line needs"),
    ],
)
def test_malformed_arpa_names_the_file(tmp_path, text, match):
    p = tmp_path / "bad.arpa"
    p.write_text(text)
    with pytest.raises(ValueError, match=match) as e:
        load_lm(p)
    assert str(p) in str(e.value)


def test_text_corpus_builds_a_kneser_ney_model(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text("One two three.\n\n  one two\nTHREE one\n")
    lm, info = load_lm(p, order=2, normalize=lambda s: " ".join(s.lower().replace(".", " ").split()))
    ref = WordNgramLM(["one two three", "one two", "three one"], order=2)
    assert info["kind"] == "text" and info["sentences"] == 3 and info["order"] == 2
    assert lm.logprob("two", ("one",)) == pytest.approx(ref.logprob("two", ("one",)))
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match="no sentence to build a language model"):
        load_lm(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="language model file not found"):
        load_lm(tmp_path / "missing.arpa")


def test_word_scorer_sums_word_scores_and_changes_the_beam():
    vocab = WordVocab()
    lm = WordNgramLM(["one two three"] * 5 + ["one two"], order=2)
    assert isinstance(make_scorer(lm, vocab), WordLMScorer) and isinstance(make_scorer(lm, CharVocab()), LMScorer)
    s = make_scorer(lm, vocab, alpha=0.5, beta=1.0)
    ids = tuple(vocab.encode("one two"))
    want = 0.5 * (lm.logprob("one") + lm.logprob("two", ("one",))) + 2.0
    assert s(ids) == pytest.approx(want)
    assert s.final(ids) == pytest.approx(want + 0.5 * lm.logprob(EOS, ("one", "two")))
    # frames: 'one', then 'two' vs 'nine' (nine acoustically likelier), then 'three'
    V = len(vocab)
    rows = []
    for dist in ({"one": 1.0}, {"nine": 0.55, "two": 0.45}, {"three": 1.0}):
        p = torch.full((V,), 1e-4)
        for w, x in dist.items():
            p[vocab.tokens.index(w)] = x
        b = torch.full((V,), 1e-4)
        b[0] = 1.0
        rows += [p / p.sum(), b / b.sum()]
    lp = torch.stack(rows).log()
    plain = prefix_beam_search(lp, beam_size=4)[0][0]
    fused = prefix_beam_search(lp, beam_size=4, scorer=s)[0][0]
    assert vocab.decode(plain) == "one nine three" and vocab.decode(fused) == "one two three"
