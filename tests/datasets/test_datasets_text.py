"""CTC vocabularies: blank at 0, encode/decode round trip, greedy collapse."""

import pytest
import torch
from hypothesis import given, strategies as st

from rnnaccel.datasets import BLANK_ID, DIGIT_WORDS, CharVocab, WordVocab, ctc_collapse


def test_blank_is_zero_and_sizes():
    assert BLANK_ID == 0
    assert CharVocab().tokens[0] == "<blank>" and len(CharVocab()) == 29
    assert WordVocab().tokens[1:] == DIGIT_WORDS and len(WordVocab()) == 11


def test_word_round_trip():
    vocab = WordVocab()
    ids = vocab.encode("three one  four")
    assert ids.dtype == torch.int64 and ids.tolist() == [4, 2, 5]
    assert vocab.decode(ids) == "three one four"


@given(st.text(alphabet=" 'abcdefghijklmnopqrstuvwxyzABC", max_size=40))
def test_char_round_trip_normalizes_spaces_and_case(text):
    vocab = CharVocab()
    ids = vocab.encode(text)
    assert (ids >= 1).all() and (ids < len(vocab)).all()
    assert vocab.decode(ids) == " ".join(text.lower().split())


def test_unknown_token_is_named():
    with pytest.raises(ValueError, match="'ten'"):
        WordVocab().encode("one ten")
    with pytest.raises(ValueError, match="'7'"):
        CharVocab().encode("route 7")


def test_ctc_collapse_merges_repeats_then_drops_blanks():
    assert ctc_collapse([0, 3, 3, 0, 3, 1, 1, 0]) == [3, 3, 1]
    assert WordVocab().decode_ctc(torch.tensor([0, 2, 2, 0, 0, 2, 10])) == "one one nine"


def test_from_texts_is_order_independent():
    a = WordVocab.from_texts(["b a", "c"])
    b = WordVocab.from_texts(["c", "a b"])
    assert a.tokens == b.tokens == ("<blank>", "a", "b", "c")


def test_duplicate_tokens_rejected():
    with pytest.raises(ValueError):
        WordVocab(["one", "one"])
