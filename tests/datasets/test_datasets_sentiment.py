"""The shipped VADER movie-review snippets and their loader: integrity, split, vocab, errors."""

from __future__ import annotations

import hashlib

import pytest
import torch

from rnnaccel.datasets.paths import DataError
from rnnaccel.datasets.sentiment import (
    PAD_ID,
    SNIPPETS_FILE,
    SNIPPETS_SHA256,
    UNK_ID,
    Snippet,
    SentimentVocab,
    collate_sentiment,
    load_sentiment,
    read_snippets,
    split_snippets,
    tokenize,
)


@pytest.fixture(scope="module")
def snippets():
    return read_snippets()


def test_shipped_file_is_the_extracted_one(snippets):
    assert hashlib.sha256(SNIPPETS_FILE.read_bytes()).hexdigest() == SNIPPETS_SHA256
    assert (SNIPPETS_FILE.parent / "LICENSE.txt").read_text().startswith("The MIT License")
    assert len(snippets) == 10605
    assert sum(s.score > 0 for s in snippets) == 5242
    assert sum(s.score < 0 for s in snippets) == 5326
    assert sum(s.label for s in snippets) == 5242
    assert [s.id for s in snippets] == list(range(1, 10606))


def test_split_is_deterministic_disjoint_and_stratified(snippets):
    a, b = split_snippets(snippets, seed=0), split_snippets(snippets, seed=0)
    ids = {k: [s.id for s in v] for k, v in a.items()}
    assert ids == {k: [s.id for s in v] for k, v in b.items()}
    sets = {k: set(v) for k, v in ids.items()}
    assert not sets["train"] & sets["val"] and not sets["train"] & sets["test"] and not sets["val"] & sets["test"]
    assert sets["train"] | sets["val"] | sets["test"] == {s.id for s in snippets}
    assert [len(ids[k]) for k in ("train", "val", "test")] == [8484, 1061, 1060]
    for part in a.values():  # class balance kept within half a percent
        pos = sum(s.label for s in part) / len(part)
        assert abs(pos - 5242 / 10605) < 0.005
    other = split_snippets(snippets, seed=1)
    assert {s.id for s in other["test"]} != sets["test"]
    # the split of a snippet does not depend on the input order
    rev = split_snippets(list(reversed(snippets)), seed=0)
    assert [s.id for s in rev["test"]] == ids["test"]


def test_a_prefix_of_a_split_has_both_labels_in_about_its_proportion(snippets):
    """eval.limit=N scores a split's first N items: the split order is a seeded shuffle (the file
    groups snippets by rating, so ID order put one class first: 96.5 % positive in val[:200])."""
    parts = split_snippets(snippets, seed=0)
    for name in ("val", "test"):
        labels = [s.label for s in parts[name]]
        share = sum(labels) / len(labels)
        for n in (100, 200, 400):
            assert abs(sum(labels[:n]) / n - share) < 0.1, (name, n)
        in_id_order = [s.label for s in sorted(parts[name], key=lambda s: s.id)]
        assert abs(sum(in_id_order[:200]) / 200 - share) > 0.3  # what the shuffle is for
    again = split_snippets(snippets, seed=0)
    assert [s.id for s in again["val"]] == [s.id for s in parts["val"]]  # deterministic order
    assert [s.id for s in split_snippets(snippets, seed=1)["val"][:20]] != [s.id for s in parts["val"][:20]]


def test_vocab_from_train_only_and_encoding(snippets):
    data = load_sentiment(min_count=2, max_vocab=500)
    v = data.vocab
    assert len(v) == 500 and v.tokens[:2] == ["<pad>", "<unk>"]
    assert v.tokens[2] == "the"
    train_words = {t for s in data.train.snippets for t in tokenize(s.text)}
    assert set(v.tokens[2:]) <= train_words
    ids = v.encode("The zzqxj film !")
    assert ids.dtype == torch.int64 and ids.tolist()[1] == UNK_ID and ids.tolist()[0] == v.tokens.index("the")
    assert v.encode("...").tolist() == [UNK_ID]
    assert SentimentVocab(v.tokens).tokens == v.tokens
    with pytest.raises(ValueError):
        SentimentVocab(["a", "b"])
    ids, label = data.test[0]
    assert label == data.test.snippets[0].label and ids.dim() == 1 and len(ids) >= 1


def test_tokenize():
    assert tokenize("It's GREAT, isn't it?!") == ["it's", "great", "isn't", "it", "?", "!"]
    assert tokenize("''Conan'' -- Münch's 21st") == ["conan", "münch's", "21st"]


def test_collate_shapes():
    batch = collate_sentiment([(torch.tensor([5, 6, 7]), 1), (torch.tensor([9]), 0)])
    assert batch.tokens.tolist() == [[5, 6, 7], [9, PAD_ID, PAD_ID]]
    assert batch.lengths.tolist() == [3, 1] and batch.labels.tolist() == [1, 0]
    with pytest.raises(ValueError):
        collate_sentiment([])


def test_label_rule():
    assert Snippet(1, 0.1, "x").label == 1 and Snippet(2, 0.0, "x").label == 0 and Snippet(3, -2, "x").label == 0


@pytest.mark.parametrize(
    "content, match",
    [
        (b"1\t0.5\tgood\r\n\r\n2\t-1\tbad", r"bad\.txt:2: empty line"),
        (b"1\t0.5\tgood\n2\t-1", r"bad\.txt:2: expected ID<TAB>SCORE<TAB>TEXT"),
        (b"1\tnan\tgood", r"bad\.txt:1: score"),
        (b"1\t7\tgood", r"bad\.txt:1: score"),
        (b"x\t1\tgood", r"bad\.txt:1: bad ID"),
        (b"1\t1\tgood\n1\t-1\tbad", r"bad\.txt:2: duplicate ID"),
        (b"1\t1\t  ", r"bad\.txt:1: empty text"),
        (b"1\t1\tgo\xffod", r"bad\.txt: not UTF-8"),
        (b"", r"bad\.txt: no snippets"),
    ],
)
def test_corrupt_files_name_the_file(tmp_path, content, match):
    p = tmp_path / "bad.txt"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_snippets(p)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_snippets(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_sentiment(tmp_path / "nope.txt")


def test_small_file_round_trip(tmp_path):
    p = tmp_path / "ok.txt"
    p.write_text("".join(f"{i}\t{(-1) ** i * 0.5}\tsnippet number {i}\n" for i in range(1, 41)))
    data = load_sentiment(p, seed=3, min_count=1)
    assert len(data.train) + len(data.val) + len(data.test) == 40
    assert len(data.test) == 4 and sum(s.label for s in data.test.snippets) == 2
