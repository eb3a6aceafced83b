"""Multi30k from the shared gz files: sizes, alignment, languages, and file-naming errors."""

import gzip

import pytest

from rnnaccel.datasets import MULTI30K_SPLITS, DataError, Multi30k, available_splits

SIZES = {
    "val": 1014,
    "test_2016_flickr": 1000,
    "test_2017_flickr": 1000,
    "test_2017_mscoco": 461,
    "test_2018_flickr": 1071,
}


def test_all_splits_present():
    assert available_splits() == list(MULTI30K_SPLITS)
    assert available_splits(src="en", tgt="fr") == list(MULTI30K_SPLITS)


@pytest.mark.parametrize("split", sorted(SIZES))
def test_split_sizes(split):
    assert len(Multi30k(split)) == SIZES[split]


def test_train_en_de_and_fr():
    de = Multi30k("train")
    fr = Multi30k("train", tgt="fr", max_pairs=10)
    assert len(de) == 29000 and len(fr) == 10
    assert de[0].src == fr[0].src and de[0].tgt != fr[0].tgt
    assert all(p.src and p.tgt for p in de.pairs)


def test_known_first_pair():
    pair = Multi30k("test_2016_flickr")[0]
    assert pair.src == "A man in an orange hat starring at something."
    assert pair.tgt.startswith("Ein Mann mit einem orangefarbenen Hut")


def test_bad_arguments():
    with pytest.raises(ValueError):
        Multi30k("test2016")
    with pytest.raises(ValueError):
        Multi30k(src="en", tgt="en")


def _fixture(root, en, de):
    d = root / "multi30k"
    d.mkdir()
    for lang, lines in (("en", en), ("de", de)):
        with gzip.open(d / f"val.{lang}.gz", "wt", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))


def test_empty_line_error_names_file_and_line(tmp_path):
    _fixture(tmp_path, ["a", "b", "c"], ["x", "   ", "z"])
    with pytest.raises(DataError, match=r"val\.de\.gz:2: empty line"):
        Multi30k("val", root=tmp_path)


def test_line_count_mismatch_names_file(tmp_path):
    _fixture(tmp_path, ["a", "b"], ["x"])
    with pytest.raises(DataError, match=r"val\.en\.gz has 2 lines"):
        Multi30k("val", root=tmp_path)
    assert available_splits(tmp_path) == ["val"]
    with pytest.raises(FileNotFoundError, match=r"test_2016_flickr\.en"):
        Multi30k("test_2016_flickr", root=tmp_path)
