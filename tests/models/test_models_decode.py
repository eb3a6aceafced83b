"""CTC greedy and prefix beam search on hand-built log-probabilities; WER/CER."""

import math

import pytest
import torch


from rnnaccel.models import beam_search_decode, error_rates, greedy_decode, prefix_beam_search


def lp(rows):
    """Per-frame probability rows -> (1, T, V) log-probs."""
    return torch.tensor(rows, dtype=torch.float64).log().unsqueeze(0)


def test_greedy_merges_repeats_and_drops_blanks_within_length():
    x = lp([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    assert greedy_decode(x, torch.tensor([5])) == [[1, 1, 2]]
    assert greedy_decode(x, torch.tensor([3])) == [[1]]


def test_beam_finds_the_most_probable_labelling_where_greedy_fails():
    # best path is blank,blank (p=.36) but label 1 has total prob .64 over paths 1-, -1, 11
    x = lp([[0.6, 0.4], [0.6, 0.4]])
    assert greedy_decode(x, torch.tensor([2])) == [[]]
    assert beam_search_decode(x, torch.tensor([2]), beam_size=4, prune=None) == [[1]]
    res = dict(prefix_beam_search(x[0], beam_size=4))
    assert math.isclose(math.exp(res[(1,)]), 0.64) and math.isclose(math.exp(res[()]), 0.36)


def test_beam_scores_sum_to_one_over_all_labellings():
    torch.manual_seed(0)
    x = torch.randn(4, 3).log_softmax(-1)
    res = prefix_beam_search(x, beam_size=1000)
    assert math.isclose(sum(math.exp(s) for _, s in res), 1.0, rel_tol=1e-6)
    assert res == sorted(res, key=lambda r: -r[1])


def test_beam_repeat_needs_blank():
    x = lp([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.9, 0.05]])
    assert beam_search_decode(x, torch.tensor([3]), beam_size=3) == [[1, 1]]
    with pytest.raises(ValueError):
        prefix_beam_search(x[0], beam_size=0)


def test_error_rates():
    m = error_rates(["one two three", "four"], ["one three", "four five"])
    assert (m["words"], m["deletions"], m["insertions"], m["substitutions"]) == (4, 1, 1, 0)
    assert m["wer"] == 0.5 and m["sentence_errors"] == 2
    assert error_rates(["one"], [""])["wer"] == 1.0
    with pytest.raises(ValueError):
        error_rates(["a"], ["a", "b"])
