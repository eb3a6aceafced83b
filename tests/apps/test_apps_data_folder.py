"""Your own data in ``rnnaccel-evaluate``: a folder of recordings + a transcript file on the shipped
digits model, a pair of aligned text files on the shipped translator, beam search with a word LM
from a text file; the result says which data was scored (digests, counts, what the vocabulary
could not spell), and a bad folder is one line and exit 2."""

import json
import re

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_module

from rnnaccel.apps import evaluate
from rnnaccel.apps.config import DataConf
from rnnaccel.apps.data import load_split
from rnnaccel.datasets import CharVocab, WordVocab
from rnnaccel.datasets.folder import fit_to_vocab
from rnnaccel.errors import RnnaccelError

from .conftest import ROOT, run_app

DIGITS = ROOT / "checkpoints" / "digits_blstm.pt"
TRANSLATOR = ROOT / "checkpoints" / "translation" / "translator.pt"
SHA = r"^[0-9a-f]{64}$"


def make_folder(root, header: bool = True):
    """One 8 kHz mono WAV, one 44.1 kHz stereo FLAC, one 16 kHz WAV whose transcript has a word the
    digits vocabulary lacks; noise, so the test needs no recordings."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    sf.write(root / "a.wav", (0.1 * rng.standard_normal(4800)).astype("float32"), 8000)  # 0.6 s
    sf.write(root / "b.flac", (0.1 * rng.standard_normal((44100, 2))).astype("float32"), 44100)  # 1 s
    sf.write(root / "sub_c.wav", (0.1 * rng.standard_normal(12000)).astype("float32"), 16000)  # 0.75 s
    lines = ["a.wav\t3 five", "b.flac\tSeven, eight!", "sub_c.wav\tone hello two"]
    (root / "list.tsv").write_text("\n".join((["path\ttranscript"] if header else []) + lines) + "\n")
    return root


def cfg(*overrides):
    with initialize_config_module("rnnaccel.conf", version_base="1.3"):
        return compose("evaluate", ["eval.progress=false", *overrides])


def test_fit_to_vocab_counts_every_change():
    text, c = fit_to_vocab("Call 911, café!", WordVocab())
    assert text == "nine one one" and c["spelled"] == 3 and c["oov"] == 2 and c["oov:call"] == c["oov:cafe"] == 1
    assert c["mapped"] == 1 and c["punctuation"] == 2
    text, c = fit_to_vocab("A man's café — ß 3", CharVocab())
    assert text == "a man's cafe three" and c["oov:ß"] == 1 and c["spelled"] == 1 and c["mapped"] == 1
    CharVocab().encode(text)  # encodable by construction
    for vocab in (WordVocab(), CharVocab()):  # keep_oov: the same counts, the tokens stay (standard WER)
        for text in ("Call 911, café!", "A man's café — ß 3"):
            kept, ck = fit_to_vocab(text, vocab, keep_oov=True)
            assert ck == fit_to_vocab(text, vocab)[1]
    assert fit_to_vocab("Call 911, café!", WordVocab(), keep_oov=True)[0] == "call nine one one cafe"
    assert fit_to_vocab("A man's café — ß 3", CharVocab(), keep_oov=True)[0] == "a man's cafe ß three"


@pytest.mark.parametrize("listing", ["tsv", "jsonl"])
def test_folder_features_follow_the_checkpoint_front_end(tmp_path, listing):
    root = make_folder(tmp_path / "f", header=False)
    if listing == "jsonl":
        rows = [line.split("\t") for line in (root / "list.tsv").read_text().splitlines()]
        (root / "list.tsv").unlink()
        (root / "list.jsonl").write_text("".join(json.dumps({"path": a, "transcript": t}) + "\n" for a, t in rows))
    ds = load_split(DataConf(corpus="folder", root=str(root), cache_dir=None), "test", vocab=WordVocab())
    assert ds.transcripts == ["three five", "seven eight", "one hello two"] and ds.utt_ids[2] == "sub_c.wav"
    assert ds.oov == "keep" and list(ds.targets[2]) == list(WordVocab().encode("one two"))  # what it can spell
    drop = load_split(DataConf(corpus="folder", root=str(root), cache_dir=None, oov="drop"), "test", vocab=WordVocab())
    assert drop.transcripts == ["three five", "seven eight", "one two"] and drop.oov == "drop"
    # resampled to 16 kHz, centred 10 ms frames: 1 + samples // 160, stereo mixed down to (T, 40)
    assert [f.shape for f in ds.feats] == [(61, 40), (101, 40), (76, 40)]
    assert [f["oov"] for f in ds.fits] == [0, 0, 1]


def test_folder_on_the_digits_checkpoint_with_a_word_lm(tmp_path):
    root = make_folder(tmp_path / "f")
    common = [f"eval.checkpoint={DIGITS}", "data=folder", f"data.root={root}", "eval.mode=float", "eval.limit=3"]
    r = evaluate.run(cfg(*common, f"eval.output={tmp_path}/g.json", f"data.cache_dir={tmp_path}/c"))
    d = r["data"]
    assert r["utterances"] == 3 and r["decoder"] == "greedy" and r["lm"] is None and 0 <= r["wer"]
    assert d["kind"] == "folder" and d["root"] == str(root.resolve()) and d["transcripts"].endswith("list.tsv")
    assert d["oov"] == {"policy": "keep", "tokens": 1, "utterances": 1, "examples": ["hello"]}
    assert d["spelled_digits"] == 1
    assert d["skipped"]["utterances"] == 0 and d["punctuation_removed"] == 2
    for k in ("sha256", "items_sha256"):
        assert re.match(SHA, d[k])
    assert r["data_source"]["sha256"] == d["sha256"]
    # data.oov=drop: the same hypotheses scored against references without the word the model lacks
    dr = evaluate.run(cfg(*common, "data.oov=drop", f"eval.output={tmp_path}/d.json", f"data.cache_dir={tmp_path}/c"))
    assert dr["data"]["oov"] == {**d["oov"], "policy": "drop"}
    assert dr["words"] == r["words"] - 1 and dr["word_errors"] in (r["word_errors"], r["word_errors"] - 1)
    assert dr["data"]["items_sha256"] != d["items_sha256"] and dr["config_hash"] != r["config_hash"]
    (tmp_path / "lm.txt").write_text("one two three\nseven eight nine\nthree five\n")
    lm = evaluate.run(
        cfg(
            *common,
            "eval.decoder=beam_lm",
            f"eval.lm={tmp_path}/lm.txt",
            "eval.lm_order=2",
            f"eval.output={tmp_path}/b.json",
        )
    )
    assert lm["decoder"] == "beam_lm" and lm["lm"]["kind"] == "text" and lm["lm"]["sentences"] == 3
    assert lm["config_hash"] != r["config_hash"] and "wer" in lm
    # one byte of one recording changes the digest: results and cached features are not reused
    data, rate = sf.read(root / "a.wav", dtype="float32")
    data[0] += 0.5
    sf.write(root / "a.wav", data, rate)
    again = evaluate.run(cfg(*common, f"eval.output={tmp_path}/g2.json", f"data.cache_dir={tmp_path}/c"))
    assert again["data"]["sha256"] != d["sha256"] and again["data"]["items_sha256"] == d["items_sha256"]


@pytest.mark.parametrize(
    "damage,match",
    [
        ("no_transcripts", r"holds no \*\.tsv or \*\.jsonl transcript file; pass data.transcripts=<file>"),
        ("missing_audio", r"list.tsv:3: audio file .*b.flac not found; fix the path or remove that line"),
        ("empty_transcripts", r"list.tsv: no utterances \(empty transcript file\)"),
        ("bad_line", r"list.tsv:2: expected path<TAB>transcript"),
        ("unreadable_audio", r"cannot read audio file .*a.wav.*; replace or remove that file"),
    ],
)
def test_a_bad_folder_is_one_line(tmp_path, damage, match):
    root = make_folder(tmp_path / "f")
    if damage == "no_transcripts":
        (root / "list.tsv").unlink()
    elif damage == "missing_audio":
        (root / "b.flac").unlink()
    elif damage == "empty_transcripts":
        (root / "list.tsv").write_text("\n")
    elif damage == "bad_line":
        (root / "list.tsv").write_text("path\ttranscript\na.wav three\n")
    else:
        (root / "a.wav").write_bytes(b"not audio at all")
    c = cfg(
        f"eval.checkpoint={DIGITS}",
        "data=folder",
        f"data.root={root}",
        "eval.mode=float",
        f"eval.output={tmp_path}/r.json",
    )
    with pytest.raises(RnnaccelError, match=match) as e:
        evaluate.run(c)
    assert "\n" not in str(e.value)


def test_a_bad_folder_exits_2_from_the_command_line(tmp_path):
    root = make_folder(tmp_path / "f")
    (root / "b.flac").unlink()
    p = run_app("evaluate", "data=folder", f"data.root={root}", f"eval.output={tmp_path}/r.json")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0
    assert p.stderr.startswith("rnnaccel-evaluate: data=folder: ") and "b.flac not found" in p.stderr


@pytest.mark.skipif(not TRANSLATOR.is_file(), reason="needs the shipped translator checkpoint")
def test_parallel_files_on_the_shipped_translator(tmp_path):
    (tmp_path / "s.en").write_text("A man is riding a bike.\nTwo dogs play in the snow.\nA woman reads ☃.\n")
    (tmp_path / "s.de").write_text("Ein Mann fährt Fahrrad.\nZwei Hunde spielen im Schnee.\nEine Frau liest.\n")
    base = [f"eval.checkpoint={TRANSLATOR}", "data=parallel", "eval.mode=float"]
    r = evaluate.run(
        cfg(*base, f"data.src={tmp_path}/s.en", f"data.tgt={tmp_path}/s.de", f"eval.output={tmp_path}/r.json")
    )
    d = r["data"]
    assert r["task"] == "translation" and r["sentences"] == 3 and 0 <= r["bleu"] <= 100
    assert d["kind"] == "parallel" and d["sentences"] == 3 and d["src"].endswith("s.en")
    assert d["oov"]["src_unk_tokens"] >= 1 and d["oov"]["sentences"] >= 1  # the snowman is no piece
    # the same pairs as one TSV: the same sentences scored, the same BLEU, another file digest
    en, de = (tmp_path / "s.en").read_text().splitlines(), (tmp_path / "s.de").read_text().splitlines()
    (tmp_path / "p.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(en, de)))
    t = evaluate.run(cfg(*base, f"data.pairs={tmp_path}/p.tsv", f"eval.output={tmp_path}/t.json"))
    assert (
        t["bleu"] == r["bleu"] and t["data"]["items_sha256"] == d["items_sha256"] and t["data"]["sha256"] != d["sha256"]
    )
    (tmp_path / "short.de").write_text("Ein Mann.\n")
    with pytest.raises(RnnaccelError, match=r"data.src=.*s.en has 3 lines, data.tgt=.*short.de has 1"):
        evaluate.run(
            cfg(*base, f"data.src={tmp_path}/s.en", f"data.tgt={tmp_path}/short.de", f"eval.output={tmp_path}/x.json")
        )
    with pytest.raises(RnnaccelError, match="beam_lm fuses a word LM into CTC beam search: a translation checkpoint"):
        evaluate.run(
            cfg(
                *base,
                f"data.pairs={tmp_path}/p.tsv",
                "eval.decoder=beam_lm",
                f"eval.lm={tmp_path}/s.en",
                f"eval.output={tmp_path}/y.json",
            )
        )


def test_settings_that_would_be_dropped_are_refused(tmp_path):
    out = f"eval.output={tmp_path}/r.json"
    root = make_folder(tmp_path / "f")
    (tmp_path / "p.tsv").write_text("a\tb\n")
    (tmp_path / "lm.arpa").write_text("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0 one\n\n\\end\\\n")
    folder = ["data=folder", f"data.root={root}"]
    for overrides, match in [
        (["eval.lm_alpha=0.5"], r"eval.lm_alpha=0.5: not applied, only eval.decoder=beam_lm"),
        (["eval.decoder=beam_lm"], "eval.decoder=beam_lm needs eval.lm="),
        (
            ["eval.decoder=beam_lm", f"eval.lm={tmp_path}/lm.arpa", "eval.lm_order=2"],
            "eval.lm_order=2: not applied, the ARPA file .* is a 1-gram",
        ),
        ([*folder, "data.vocab=char"], "trained with data.vocab=word; pass data=folder data.vocab=word$"),
        ([*folder, "eval.split=val"], "data=folder is one evaluation set, it has no val split: pass eval.split=test$"),
        (
            ["data=parallel", f"data.pairs={tmp_path}/p.tsv"],
            "data=parallel feeds a translation checkpoint, this one is speech",
        ),
        (["data=parallel", f"data.src={tmp_path}/p.tsv"], "data=parallel needs data.src=<file> and data.tgt=<file>"),
        ([*folder, "data.oov=skip"], r"data.oov='skip' unknown; choose keep \(the standard WER reference\) or drop$"),
        (["data.oov=drop"], "data.oov=drop: not applied, only data=folder fits its transcripts to the vocabulary"),
    ]:
        with pytest.raises(RnnaccelError, match=match):
            evaluate.run(cfg(f"eval.checkpoint={DIGITS}", "data.scheme=index", out, *overrides))
    assert not (tmp_path / "r.json").exists()  # nothing written
