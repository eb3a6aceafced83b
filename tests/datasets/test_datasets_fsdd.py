"""Connected FSDD digits: splits disjoint, utterances deterministic and faithful to their recordings."""

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnaccel.datasets import DIGIT_WORDS, ConnectedDigits, list_recordings, split_recordings
from rnnaccel.datasets.fsdd import SPEAKERS, resolve_test_speaker


@pytest.fixture(scope="module")
def recordings():
    return list_recordings()


def _keys(recs):
    return {(r.speaker, r.digit, r.index) for r in recs}


def test_corpus_is_complete(recordings):
    assert len(recordings) == 3000
    assert {r.speaker for r in recordings} == set(SPEAKERS)
    assert {r.index for r in recordings} == set(range(50))


def test_index_split_is_disjoint_and_covers_everything(recordings):
    parts = {s: split_recordings(recordings, s) for s in ("train", "val", "test")}
    assert {r.index for r in parts["test"]} == set(range(5))
    assert {r.index for r in parts["val"]} == set(range(5, 10))
    assert {r.index for r in parts["train"]} == set(range(10, 50))
    keys = [_keys(p) for p in parts.values()]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert sum(map(len, keys)) == 3000
    for p in parts.values():
        assert {r.speaker for r in p} == set(SPEAKERS)


@pytest.mark.parametrize("held_out", ["theo", "george"])
def test_speaker_split_holds_one_speaker_out(recordings, held_out):
    parts = {s: split_recordings(recordings, s, "speaker", held_out) for s in ("train", "val", "test")}
    assert {r.speaker for r in parts["test"]} == {held_out} and len(parts["test"]) == 500
    for s in ("train", "val"):
        assert held_out not in {r.speaker for r in parts[s]}
    assert not _keys(parts["train"]) & _keys(parts["val"])
    assert sum(map(len, parts.values())) == 3000


def test_unknown_held_out_speaker_rejected(recordings):
    with pytest.raises(ValueError, match="nobody.*fold number"):
        split_recordings(recordings, "test", "speaker", "nobody")
    with pytest.raises(ValueError, match="'6'"):
        resolve_test_speaker("6")


@pytest.mark.parametrize("fold", range(len(SPEAKERS)))
def test_every_fold_keeps_its_speaker_out_of_train_and_val(recordings, fold):
    """Leave-one-speaker-out: fold k (by number or by name) tests SPEAKERS[k] only, and no utterance
    of the training or validation split is spoken by them."""
    assert resolve_test_speaker(fold) == resolve_test_speaker(SPEAKERS[fold].upper()) == SPEAKERS[fold]
    splits = {
        s: ConnectedDigits(s, num_utterances=150, scheme="speaker", test_speaker=str(fold), seed=fold)
        for s in ("train", "val", "test")
    }
    spoken = {s: {ds.plan(i).speaker for i in range(len(ds))} for s, ds in splits.items()}
    assert spoken["test"] == {SPEAKERS[fold]}
    assert not (spoken["train"] | spoken["val"]) & spoken["test"]
    assert spoken["train"] == spoken["val"] == set(SPEAKERS) - {SPEAKERS[fold]}


def test_speaker_weights_steer_the_draw():
    ds = ConnectedDigits("train", num_utterances=400, scheme="speaker", speaker_weights={"george": 8.0, "jackson": 0.0})
    drawn = [ds.plan(i).speaker for i in range(len(ds))]
    assert "jackson" not in drawn and drawn.count("george") > len(drawn) / 3
    with pytest.raises(ValueError, match="weights"):
        ConnectedDigits("train", scheme="speaker", speaker_weights={s: 0.0 for s in SPEAKERS})


def test_utterances_use_only_their_split():
    test = ConnectedDigits("test", num_utterances=200, seed=3)
    used = {r.index for i in range(len(test)) for r in test.plan(i).recordings}
    assert used <= set(range(5))
    held = ConnectedDigits("train", num_utterances=200, scheme="speaker", test_speaker="lucas")
    assert "lucas" not in {held.plan(i).speaker for i in range(len(held))}


def test_plan_statistics():
    ds = ConnectedDigits("train", num_utterances=300, seed=0)
    plans = [ds.plan(i) for i in range(len(ds))]
    assert {len(p.digits) for p in plans} == set(range(1, 8))
    assert all(len({r.speaker for r in p.recordings}) == 1 for p in plans)
    assert all(len(p.gaps) == len(p.recordings) + 1 for p in plans)
    inner = [g for p in plans for g in p.gaps[1:-1]]
    assert 0.05 * 8000 <= min(inner) and max(inner) <= 0.30 * 8000
    assert len(ConnectedDigits("test").plan(0).digits) >= 1 and len(ConnectedDigits("test")) == 500


def test_waveform_is_the_recordings_joined_with_silence():
    ds = ConnectedDigits("val", num_utterances=5, seed=11)
    for i in range(len(ds)):
        item, plan = ds[i], ds.plan(i)
        assert item.transcript == " ".join(DIGIT_WORDS[d] for d in plan.digits)
        assert item.transcript.split() == [DIGIT_WORDS[int(r.path.name[0])] for r in plan.recordings]
        assert item.speaker == plan.speaker and item.sample_rate == 8000
        pos = 0
        for rec, gap_before in zip(plan.recordings, plan.gaps):
            assert not item.waveform[pos : pos + gap_before].any()
            pos += gap_before
            audio, sr = sf.read(rec.path, dtype="float32")
            assert sr == 8000
            assert torch.equal(item.waveform[pos : pos + len(audio)], torch.from_numpy(audio))
            pos += len(audio)
        assert pos + plan.gaps[-1] == item.waveform.numel()


def test_same_seed_identical_different_seed_different():
    a = ConnectedDigits("train", num_utterances=4, seed=5, noise_snr_db=30.0)
    b = ConnectedDigits("train", num_utterances=4, seed=5, noise_snr_db=30.0)
    c = ConnectedDigits("train", num_utterances=4, seed=6, noise_snr_db=30.0)
    for i in range(4):
        assert torch.equal(a[i].waveform, b[i].waveform) and a[i].transcript == b[i].transcript
    assert [a.plan(i) for i in range(4)] != [c.plan(i) for i in range(4)]


def test_utterance_does_not_depend_on_count_or_access_order():
    small = ConnectedDigits("train", num_utterances=3, seed=2)
    large = ConnectedDigits("train", num_utterances=50, seed=2)
    assert torch.equal(large[2].waveform, small[2].waveform)
    assert small.plan(1) == large.plan(1)


def test_noise_level_matches_snr():
    clean = ConnectedDigits("test", num_utterances=2, seed=9)
    noisy = ConnectedDigits("test", num_utterances=2, seed=9, noise_snr_db=20.0)
    plan = clean.plan(1)
    noise = (noisy[1].waveform - clean[1].waveform).double()
    speech = torch.cat([clean._audio(r) for r in plan.recordings]).double()
    snr = 10 * np.log10(float(speech.pow(2).mean() / noise.pow(2).mean()))
    assert abs(snr - 20.0) < 1.0


def test_missing_root_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="recordings"):
        ConnectedDigits("test", root=tmp_path)


def test_bad_arguments_rejected():
    with pytest.raises(ValueError):
        ConnectedDigits("dev")
    with pytest.raises(ValueError):
        ConnectedDigits("test", min_digits=3, max_digits=2)
    with pytest.raises(IndexError):
        ConnectedDigits("test", num_utterances=2).plan(2)
