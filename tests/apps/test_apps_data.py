"""The data layer of the apps: features are keyed by what they were computed from, and a missing,
empty or broken corpus is one line naming it (never stale features, never a traceback); a split
whose voices or recordings the checkpoint trained on is refused or labelled in-domain, never
scored as held out."""

import numpy as np
import pytest
import soundfile as sf

from rnnaccel.apps.config import DataConf
from rnnaccel.apps.data import check_speakers, checkpoint_data, load_split, source_fingerprint
from rnnaccel.datasets.fsdd import SPEAKERS
from rnnaccel.errors import RnnaccelError

from .conftest import ROOT, fsdd_root, have_fsdd

needs_fsdd = pytest.mark.skipif(not have_fsdd(), reason="needs the FSDD recordings (shared data root)")


def data(root, tmp_path, **kw) -> DataConf:
    return DataConf(root=str(root), num_test=3, cache_dir=str(tmp_path / "cache"), **kw)


@needs_fsdd
def test_another_root_never_reuses_cached_features(tmp_path):
    good = fsdd_root(tmp_path / "good")
    ds = load_split(data(good, tmp_path), "test")
    assert len(ds) == 3 and len(list((tmp_path / "cache").iterdir())) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RnnaccelError, match=f"data.root={empty}: .*point data.root at the corpus"):
        load_split(data(empty, tmp_path), "test")  # today: the cached features of `good`


@needs_fsdd
def test_fingerprint_follows_the_files(tmp_path):
    a, b = fsdd_root(tmp_path / "a"), fsdd_root(tmp_path / "b")
    fa, fb = source_fingerprint(data(a, tmp_path)), source_fingerprint(data(b, tmp_path))
    assert fa["files"] == fb["files"] and fa["root"] != fb["root"]
    victim = sorted((b / "fsdd" / "recordings").iterdir())[0]
    victim.unlink()
    assert source_fingerprint(data(b, tmp_path))["files"] != fb["files"]


@needs_fsdd
@pytest.mark.parametrize("damage", ["random_bytes", "nan_samples", "empty_file"])
def test_a_broken_recording_is_one_line_naming_the_file(tmp_path, damage):
    root = fsdd_root(tmp_path / "r")
    for f in (root / "fsdd" / "recordings").iterdir():  # every recording: the first utterance meets one
        f.unlink()
        if damage == "random_bytes":
            f.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8)))
        elif damage == "nan_samples":
            sf.write(f, np.full(800, np.nan, dtype=np.float32), 8000, subtype="FLOAT")
        else:
            f.write_bytes(b"")
    with pytest.raises(RnnaccelError) as e:
        load_split(DataConf(root=str(root), num_test=3, cache_dir=None), "test")
    msg = str(e.value)
    assert str(root) in msg and msg.endswith("replace or remove that file") and "\n" not in msg, msg


# ------------------------------------------------------------------ seen speakers (issue 15)


def trained_on(**data) -> dict:
    """A checkpoint dict that records the data split it was trained on (all check_speakers reads)."""
    return {"extra": {"data": {"corpus": "connected_digits", **data}}}


@pytest.mark.parametrize("fold", range(len(SPEAKERS)))
def test_each_fold_scores_its_own_held_out_speaker_and_refuses_the_others(fold):
    own = trained_on(scheme="speaker", test_speaker=str(fold))
    r = check_speakers(own, DataConf(test_speaker=SPEAKERS[fold]), "test", False, "m.pt")
    assert r["held_out"] == [SPEAKERS[fold]] and r["seen"] == [] and r["label"] == "held-out"
    assert r["recordings_trained_on"] == 0
    for other in set(SPEAKERS) - {SPEAKERS[fold]}:
        with pytest.raises(RnnaccelError) as e:
            check_speakers(own, DataConf(test_speaker=other), "test", False, "m.pt")
        msg = str(e.value)
        assert f"m.pt was trained on data.scheme=speaker data.test_speaker={SPEAKERS[fold]}" in msg
        assert f"data.test_speaker={other} (test: {other}) scores {other}, a voice it heard" in msg
        assert msg.endswith("eval.allow_seen_speakers=true to score it labelled in-domain") and "\n" not in msg


def test_an_in_domain_checkpoint_is_refused_on_the_speaker_split_and_labelled_when_allowed():
    ck = trained_on(scheme="index")
    with pytest.raises(RnnaccelError, match=r"scores theo, a voice it heard in training and 400 recordings it was"):
        check_speakers(ck, DataConf(), "test", False, "m.pt")
    with pytest.raises(RnnaccelError, match=r"pass data.scheme=index \(its own split, in-domain\)"):
        check_speakers(ck, DataConf(), "test", False, "m.pt")
    r = check_speakers(ck, DataConf(), "test", True, "m.pt")
    assert r["label"] == "in-domain" and r["seen"] == ["theo"] and r["recordings_trained_on"] == 400
    own = check_speakers(ck, DataConf(scheme="index"), "test", False, "m.pt")  # its own split: in-domain
    assert own["label"] == "in-domain" and own["seen"] == sorted(SPEAKERS) and own["recordings_trained_on"] == 0


def test_recordings_trained_on_are_refused_on_any_split_but_train():
    ck = trained_on(scheme="speaker", test_speaker="theo")
    with pytest.raises(RnnaccelError, match="scores 250 recordings it was trained on; pass data.scheme=speaker"):
        check_speakers(ck, DataConf(scheme="index"), "test", False, "m.pt")
    assert check_speakers(ck, DataConf(), "val", False, "m.pt")["recordings_trained_on"] == 0
    assert check_speakers(ck, DataConf(), "train", False, "m.pt")["label"] == "in-domain"


def test_unknown_training_split_and_other_corpora():
    r = check_speakers({"extra": {}}, DataConf(), "test", False, "m.pt")
    assert r["seen"] is None and r["label"] == "unknown" and r["held_out"] == ["theo"]
    assert check_speakers({}, DataConf(corpus="synth_speech"), "test", False, "m.pt") is None
    with pytest.raises(RnnaccelError, match="eval.allow_seen_speakers=true: not applied, only FSDD digits"):
        check_speakers({}, DataConf(corpus="synth_speech"), "test", True, "m.pt")


@pytest.mark.parametrize("name", ["digits_blstm", "digits_bgru"])
def test_shipped_digits_checkpoints_on_their_own_split_and_on_the_default(name):
    """What the demo and the golden slices score (the checkpoint's own split) is allowed and says
    in-domain; the apps' default split (speaker theo) is refused for these in-domain models."""
    from rnnaccel.models import load_checkpoint

    ck = load_checkpoint(ROOT / "checkpoints" / f"{name}.pt")
    own = check_speakers(ck, checkpoint_data(ck), "test", False, name)
    assert own["scheme"] == "index" and own["label"] == "in-domain" and own["recordings_trained_on"] == 0
    with pytest.raises(RnnaccelError, match="theo, a voice it heard in training"):
        check_speakers(ck, DataConf(), "test", False, name)


def test_evaluate_refuses_before_any_data_and_labels_the_result(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_module

    from rnnaccel.apps import evaluate
    from rnnaccel.datasets import WordVocab
    from rnnaccel.models import SpeechModelConfig, SpeechRecognizer, save_checkpoint

    m = SpeechRecognizer(SpeechModelConfig(vocab_size=11, hidden_size=8, num_layers=1))
    p = save_checkpoint(
        tmp_path / "m.pt", m, WordVocab(), extra={"data": {"corpus": "connected_digits", "scheme": "index"}}
    )

    def cfg(*ovs):
        with initialize_config_module("rnnaccel.conf", version_base="1.3"):
            return compose("evaluate", [f"eval.checkpoint={p}", "eval.progress=false", *ovs])

    def boom(*a, **k):
        raise AssertionError("data was read before the speakers were checked")

    with monkeypatch.context() as mp:
        mp.setattr("rnnaccel.apps.tasks.load_split", boom)
        with pytest.raises(RnnaccelError, match=f"{p} was trained on data.scheme=index"):
            evaluate.run(cfg(f"eval.output={tmp_path}/a.json"))
    if not have_fsdd():
        pytest.skip("the labelled run needs the FSDD recordings (shared data root)")
    common = ["eval.mode=float", "eval.limit=2", "data.num_test=2", "data.num_train=4", f"data.cache_dir={tmp_path}/c"]
    r = evaluate.run(cfg(*common, "eval.allow_seen_speakers=true", f"eval.output={tmp_path}/b.json"))
    assert r["speakers"]["label"] == "in-domain" and r["speakers"]["seen"] == ["theo"]
    r = evaluate.run(cfg(*common, "data.scheme=index", f"eval.output={tmp_path}/c.json"))
    assert r["speakers"]["label"] == "in-domain" and r["speakers"]["recordings_trained_on"] == 0


def test_unsaid_front_end_is_the_checkpoints(tmp_path):
    """A checkpoint trained on 8 kHz features is evaluated on them when the command says nothing about
    the features; a command that sets them (or picks a data option) is held to them and refused."""
    from rnnaccel.apps.data import adopt_front_end, check_checkpoint_data, said_about
    from rnnaccel.errors import RnnaccelError

    ck = {"extra": {"data": {"corpus": "connected_digits", "features": {"sample_rate": 8000}}}}
    data = DataConf()
    assert adopt_front_end(ck, data, ["eval.mode=float", "data.scheme=index"]) == ["data.features.sample_rate=8000"]
    assert data.features.sample_rate == 8000
    check_checkpoint_data(ck, data, "m.pt")  # now consistent
    for said in (["data.features.sample_rate=16000"], ["data=digits"], ["data.features={sample_rate: 16000}"]):
        assert said_about(said, "features")
        data = DataConf()
        assert adopt_front_end(ck, data, said) == [] and data.features.sample_rate == 16000
        with pytest.raises(RnnaccelError, match=r"trained with data.features.sample_rate=8000; pass data.features"):
            check_checkpoint_data(ck, data, "m.pt")
    # setting one entry of the front end takes the others from the checkpoint (one need not know them)
    ck23 = {"extra": {"data": {"corpus": "connected_digits", "features": {"sample_rate": 8000, "n_mels": 23}}}}
    data = DataConf()
    data.features.sample_rate = 8000  # what the command set
    assert adopt_front_end(ck23, data, ["data.features.sample_rate=8000"]) == ["data.features.n_mels=23"]
    assert (data.features.sample_rate, data.features.n_mels) == (8000, 23)
    check_checkpoint_data(ck23, data, "m.pt")
    data = DataConf()
    assert adopt_front_end(ck, data, ["+data.features.n_mels=40"]) == ["data.features.sample_rate=8000"]
    assert not said_about(["data.feature_cache=x", "eval.features=1"], "features")
    assert adopt_front_end({"extra": {}}, DataConf(), []) == []  # no record: the config is trusted
    other = {"extra": {"data": {"corpus": "synth_speech", "features": {"sample_rate": 8000}}}}
    assert adopt_front_end(other, DataConf(), []) == []  # another corpus: refused elsewhere, nothing taken


def test_shipped_heldout_checkpoint_is_the_default_and_never_heard_theo():
    """The default checkpoint of rnnaccel-evaluate and the demo is speaker-disjoint: its own split and
    the apps' default split both score theo, a voice it never heard; its front end (8 kHz) is taken
    from the checkpoint when the command says nothing."""
    from rnnaccel.apps.config import EvalConf
    from rnnaccel.apps.data import adopt_front_end
    from rnnaccel.models import load_checkpoint

    assert EvalConf().checkpoint == "checkpoints/digits_blstm_heldout.pt"
    ck = load_checkpoint(ROOT / EvalConf().checkpoint)
    data = DataConf()
    assert adopt_front_end(ck, data, []) == ["data.features.sample_rate=8000"]
    for split_conf in (checkpoint_data(ck), data):
        r = check_speakers(ck, split_conf, "test", False, "heldout")
        assert r["scheme"] == "speaker" and r["held_out"] == ["theo"] and r["label"] == "held-out"
        assert r["trained_on"].endswith("(train: george, jackson, lucas, nicolas, yweweler)") and r["seen"] == []


def test_calibration_reads_the_checkpoints_own_training_split():
    """rnnaccel-quantize takes the checkpoint's split when the command does not set one: a model that
    held out nicolas is never calibrated on the default fold's training split, which holds nicolas."""
    from rnnaccel.apps.data import FRONT_END, TRAINING_SPLIT, _fsdd_keys, adopt_front_end

    ck = {"extra": {"data": {"corpus": "connected_digits", "scheme": "speaker", "test_speaker": "nicolas"}}}
    keys = FRONT_END + TRAINING_SPLIT
    assert "nicolas" in {s for s, _, _ in _fsdd_keys(DataConf(), "train")}  # the leak this prevents
    data = DataConf()
    assert adopt_front_end(ck, data, [], keys) == ["data.test_speaker=nicolas"]
    assert "nicolas" not in {s for s, _, _ in _fsdd_keys(data, "train")}
    said = DataConf()
    assert adopt_front_end(ck, said, ["data.test_speaker=theo"], keys) == [] and said.test_speaker == "theo"
    assert adopt_front_end(ck, DataConf(), []) == []  # evaluate: the split stays the command's (checked)


@pytest.mark.parametrize("name", ["digits_blstm_heldout", "digits_bgru_heldout"])
def test_shipped_heldout_checkpoints_held_out_theo(name):
    from rnnaccel.models import load_checkpoint

    ck = load_checkpoint(ROOT / "checkpoints" / f"{name}.pt")
    r = check_speakers(ck, checkpoint_data(ck), "test", False, name)
    assert r["held_out"] == ["theo"] and r["label"] == "held-out" and r["seen"] == []
    assert checkpoint_data(ck).features.sample_rate == 8000


def test_a_bad_augmentation_setting_is_a_usage_error():
    """An out-of-range ``data.augment.*`` setting ends the app with one line and exit 2 (an
    RnnaccelError), like every other bad data setting; the message names the setting."""
    from rnnaccel.apps.augmented import augment_config
    from rnnaccel.datasets.augment import AugmentConfig
    from rnnaccel.errors import RnnaccelError

    with pytest.raises(RnnaccelError, match="data.augment.vtlp_method='clean': choose one of magnitude, vocoder"):
        augment_config(DataConf(augment=AugmentConfig(vtlp_method="clean")))
    with pytest.raises(RnnaccelError, match=r"data.augment.noise_p=1.5: a probability in \[0, 1\]"):
        augment_config(DataConf(augment=AugmentConfig(noise_p=1.5)))
    assert augment_config(DataConf(augment=AugmentConfig(vtlp_p=0.5))).vtlp_p == 0.5
