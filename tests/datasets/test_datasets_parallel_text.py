"""WMT-style parallel text: plain and gzip, alignment and empty-line errors name the file."""

import gzip

import pytest

from rnnaccel.datasets import DataError, ParallelText, SentencePair, read_lines


def _write(path, lines, gz=False):
    text = "".join(line + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def test_plain_and_gzip_pairs(tmp_path):
    _write(tmp_path / "news.en", ["Hello world.", "  Two  "])
    _write(tmp_path / "news.de.gz", ["Hallo Welt.", "Zwei"], gz=True)
    data = ParallelText(tmp_path / "news", "en", "de")
    assert len(data) == 2
    assert data[0] == SentencePair("Hello world.", "Hallo Welt.")
    assert data[1] == ("Two", "Zwei")
    assert data.tgt_path.name == "news.de.gz"
    assert len(ParallelText(tmp_path / "news", "de", "en", max_pairs=1)) == 1


def test_line_count_mismatch_names_both_files(tmp_path):
    _write(tmp_path / "a.en", ["one", "two", "three"])
    _write(tmp_path / "a.fr", ["un", "deux"])
    with pytest.raises(DataError, match=r"a\.en has 3 lines.*a\.fr has 2"):
        ParallelText(tmp_path / "a", "en", "fr")


def test_empty_line_names_file_and_line(tmp_path):
    _write(tmp_path / "b.en", ["one", "", "three"])
    _write(tmp_path / "b.de", ["eins", "zwei", "drei"])
    with pytest.raises(DataError, match=r"b\.en:2: empty line"):
        ParallelText(tmp_path / "b", "en", "de")
    assert ParallelText(tmp_path / "b", "en", "de", allow_empty=True)[1] == ("", "zwei")


def test_missing_file_names_both_candidates(tmp_path):
    _write(tmp_path / "c.en", ["x"])
    with pytest.raises(FileNotFoundError, match=r"c\.de nor .*c\.de\.gz"):
        ParallelText(tmp_path / "c", "en", "de")


def test_corrupt_gzip_is_named(tmp_path):
    (tmp_path / "d.en.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"d\.en\.gz"):
        read_lines(tmp_path / "d.en.gz")
