"""Synthesized speech: a tiny corpus (a handful of sentences, two espeak-ng voices) is generated
deterministically, cached, resumable, voice- and sentence-disjoint, and read back with clear errors."""

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from rnnaccel.datasets import CharVocab, DataError, SpeechItem
from rnnaccel.datasets.synth import SynthSpeech, default_cache_dir, main, read_manifest
from rnnaccel.datasets.synth_generate import SynthConfig, generate_corpus
from rnnaccel.datasets.synth_signal import normalize_transcript
from rnnaccel.datasets.synth_voices import split_of_voice
from rnnaccel.datasets.tts_debian import festival_voices, flite_voices

SENTENCES = {
    "train": [
        "A man in a blue shirt is standing on a ladder.",
        "Two dogs play in the snow.",
        "A woman's hat is red.",
        "Five people ride 2 bikes.",
        "An ATV in the mud.",
        "Children are playing in a fountain.",
    ],
    "val": ["A dog runs on the beach.", "A girl reads a book."],
    "test_2016_flickr": [
        "A boy jumps into a lake.",
        "Two dogs play in the snow.",
        'An old man says "hello" to a T-shirt vendor.',
    ],
}
VOICES = ("espeak:en-US+m1", "espeak:en-US-nyc+m3")  # one train voice, one test voice
CONFIG = SynthConfig(
    seed=3, train_utterances=3, val_utterances=2, test_utterances=2, engines=("espeak",), voices=VOICES, noise_prob=0.5
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "multi30k").mkdir()
    for split, lines in SENTENCES.items():
        (root / "multi30k" / f"{split}.en").write_text("\n".join(lines) + "\n")
    return root


def _digest(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "stats.json"
    }


@pytest.fixture(scope="module")
def corpus(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "corpus"
    generate_corpus(out, CONFIG, data_root=data_root, log=False)
    return out


def test_generation_is_deterministic(corpus, data_root, tmp_path):
    again = tmp_path / "again"
    generate_corpus(again, CONFIG, data_root=data_root, log=False)
    assert _digest(again) == _digest(corpus)
    assert len([k for k in _digest(corpus) if k.endswith(".flac")]) == 5


def test_manifest_records(corpus):
    records = read_manifest(corpus)
    assert [r["utt_id"] for r in records] == [
        "synth-train-000000",
        "synth-train-000001",
        "synth-train-000002",
        "synth-test-000000",
        "synth-test-000001",
    ]  # no val voice among VOICES
    sources = {"train": SENTENCES["train"], "test": SENTENCES["test_2016_flickr"]}
    for r in records:
        assert r["text"] in sources[r["split"]]
        assert r["transcript"] == normalize_transcript(r["text"])
        assert set(r["transcript"]) <= set(" 'abcdefghijklmnopqrstuvwxyz")
        assert CONFIG.rate_wpm[0] <= r["rate"] <= CONFIG.rate_wpm[1]
        assert CONFIG.pitch[0] <= r["pitch"] <= CONFIG.pitch[1]
        assert (r["noise"] is None) == (r["snr_db"] is None)
        if r["noise"] is not None:
            assert r["noise"] in ("white", "pink") and CONFIG.snr_db[0] <= r["snr_db"] <= CONFIG.snr_db[1]
        assert r["sample_rate"] == 16000 and (corpus / r["path"]).is_file()
    # digits, acronyms and sentences shared with the test set never reach train
    train_text = {r["text"] for r in records if r["split"] == "train"}
    assert not train_text & {"Five people ride 2 bikes.", "An ATV in the mud.", "Two dogs play in the snow."}


def test_splits_are_voice_disjoint(corpus):
    by_split = {}
    for r in read_manifest(corpus):
        by_split.setdefault(r["split"], set()).add(r["voice"])
        assert split_of_voice(r["voice"]) == r["split"]
    assert by_split == {"train": {"espeak:en-US+m1"}, "test": {"espeak:en-US-nyc+m3"}}


def test_dataset_items(corpus):
    train = SynthSpeech("train", root=corpus)
    assert len(train) == 3 and len(SynthSpeech("val", root=corpus)) == 0
    item = train[0]
    assert isinstance(item, SpeechItem) and item.sample_rate == 16000
    assert item.waveform.dtype == torch.float32 and item.waveform.ndim == 1
    assert item.waveform.numel() == train.records[0]["num_samples"] > 16000
    assert 0.05 < item.waveform.abs().max() <= 1.0
    assert item.transcript == train.records[0]["transcript"] and item.speaker == "espeak:en-US+m1"
    noisy = SynthSpeech("train", root=corpus, noisy=True)
    clean = SynthSpeech("train", root=corpus, noisy=False)
    assert len(noisy) + len(clean) == 3 and train.hours > 0


def test_rerun_is_a_noop(corpus, data_root, capsys):
    before = {p: p.stat().st_mtime_ns for p in corpus.rglob("*") if p.is_file()}
    generate_corpus(corpus, CONFIG, data_root=data_root, log=True)
    assert "up to date" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in corpus.rglob("*") if p.is_file()} == before


def test_stopped_run_resumes_to_the_same_bytes(corpus, data_root, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(corpus, out)
    records = (out / "manifest.jsonl").read_text().splitlines()
    (out / "manifest.jsonl").unlink()
    (out / "manifest.partial.jsonl").write_text("\n".join(records[:2]) + '\n{"cut')
    (out / json.loads(records[1])["path"]).unlink()  # listed but lost
    with pytest.raises(FileNotFoundError, match="incomplete"):
        SynthSpeech("train", root=out)
    generate_corpus(out, CONFIG, data_root=data_root, log=False)
    assert _digest(out) == _digest(corpus)


def test_changed_arguments_replace_the_corpus(corpus, data_root, tmp_path):
    out = tmp_path / "changed"
    shutil.copytree(corpus, out)
    generate_corpus(out, replace(CONFIG, train_utterances=1), data_root=data_root, log=False)
    assert len(SynthSpeech("train", root=out)) == 1
    assert not (out / "audio" / "train" / "synth-train-000002.flac").exists()


def test_refuses_foreign_directory(data_root, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a synthesized corpus"):
        generate_corpus(tmp_path, CONFIG, data_root=data_root, log=False)


def test_missing_manifest_names_the_command(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"make_synth_corpus\.py --out .*empty"):
        SynthSpeech("train", root=tmp_path / "empty")
    monkeypatch.setenv("RNNACCEL_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache" / "synth"
    with pytest.raises(FileNotFoundError, match="python -m rnnaccel.datasets.synth"):
        SynthSpeech("test")


def test_bad_audio_and_manifest_errors_name_the_file(corpus, tmp_path):
    out = tmp_path / "broken"
    shutil.copytree(corpus, out)
    records = read_manifest(out)
    (out / records[0]["path"]).write_bytes(b"fLaC not really")
    (out / records[1]["path"]).unlink()
    train = SynthSpeech("train", root=out)
    with pytest.raises(DataError, match=records[0]["utt_id"] + r"\.flac"):
        train[0]
    with pytest.raises(FileNotFoundError, match=records[1]["utt_id"] + r"\.flac"):
        train[1]
    with open(out / "manifest.jsonl", "a") as f:
        f.write("{oops\n")
    with pytest.raises(DataError, match=r"manifest\.jsonl:6"):
        SynthSpeech("train", root=out)


def test_cli_matches_the_api(corpus, data_root, tmp_path, capsys):
    out = tmp_path / "cli"
    assert (
        main(
            [
                "--out",
                str(out),
                "--seed",
                "3",
                "--train-utts",
                "3",
                "--val-utts",
                "2",
                "--test-utts",
                "2",
                "--engines",
                "espeak",
                "--voices",
                ",".join(VOICES),
                "--data-root",
                str(data_root),
                "--quiet",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == str(out / "manifest.jsonl")
    assert _digest(out) == _digest(corpus)


@pytest.mark.skipif(not (flite_voices() and festival_voices()), reason="flite/festival not installed")
def test_debian_voices_are_deterministic(data_root, tmp_path):
    config = SynthConfig(
        seed=1,
        train_utterances=2,
        val_utterances=0,
        test_utterances=0,
        engines=("flite", "festival"),
        voices=("flite:slt", "festival:kal_diphone"),
    )
    generate_corpus(tmp_path / "a", config, data_root=data_root, log=False)
    generate_corpus(tmp_path / "b", config, data_root=data_root, log=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert {r["engine"] for r in read_manifest(tmp_path / "a")} <= {"flite", "festival"}


def test_app_data_layer_reads_the_corpus(corpus, tmp_path):
    """``data.corpus=synth_speech``: char targets from the manifest; the feature cache is keyed by
    the manifest, so a regenerated corpus is never served stale features."""
    from omegaconf import OmegaConf

    from rnnaccel.apps.config import DataConf
    from rnnaccel.apps.data import load_split

    def conf(root):
        return OmegaConf.to_object(
            OmegaConf.merge(
                OmegaConf.structured(DataConf),
                {
                    "corpus": "synth_speech",
                    "root": str(root),
                    "vocab": "char",
                    "num_train": None,
                    "num_test": 1,
                    "cache_dir": str(tmp_path / "cache"),
                },
            )
        )

    train = load_split(conf(corpus), "train")
    want = SynthSpeech("train", root=corpus)
    assert len(train) == len(want) == 3 and train.transcripts == [r["transcript"] for r in want.records]
    item = train[0]
    assert item.features.shape[1] == 40 and item.features.shape[0] > 50
    assert CharVocab().decode(item.targets.tolist()) == want.records[0]["transcript"]
    assert len(load_split(conf(corpus), "test")) == 1
    copy = tmp_path / "copy"
    shutil.copytree(corpus, copy)
    manifest = copy / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["transcript"] = "changed"
    manifest.write_text("\n".join([json.dumps(rec)] + lines[1:]) + "\n")
    assert load_split(conf(copy), "train").transcripts[0] == "changed"
    assert len(list((tmp_path / "cache").glob("synth_speech-train-*.pt"))) == 2
