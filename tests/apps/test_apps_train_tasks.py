"""rnnaccel-train: one entry point for speech, sentiment and translation, chosen by the group ``task``."""

import json

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ValidationError

from rnnaccel.apps import train
from rnnaccel.models.sentiment import load_checkpoint

from .conftest import run_app


def cfg(overrides=()):
    with initialize_config_module("rnnaccel.conf", version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_the_task_group_chooses_the_schema():
    assert cfg().task.name == "speech"
    s = cfg(["task=sentiment", "task.epochs=3"]).task
    assert s.name == "sentiment" and s.epochs == 3 and s.out.endswith("sentiment_lstm.pt")
    t = cfg(["task=translation", "task.action=eval"]).task
    assert t.name == "translation" and t.action == "eval" and t.minutes == 50.0


@pytest.mark.parametrize(
    "bad", [["task=sentiment", "task.epoch=3"], ["task=translation", "task.minutes=soon"], ["task.epochs=3"]]
)
def test_a_task_refuses_keys_it_does_not_have(bad):
    with pytest.raises((ConfigAttributeError, ConfigCompositionException, ValidationError)):
        cfg(bad)


@pytest.mark.parametrize("task", ["sentiment", "translation"])
def test_speech_settings_are_refused_for_another_task(task):
    c = cfg([f"task={task}"])
    with pytest.raises(ValueError, match=r"train.epochs, model: only for task=speech; task=" + task):
        train.run_task(c, ["train.epochs=3", "model=digits_bgru"])
    assert train.speech_only_overrides("speech", ["train.epochs=3"]) == []
    assert train.speech_only_overrides(task, ["task.epochs=3", "+data.root=x", "datapath@x=q16"]) == [
        "data.root",
        "datapath@x",
    ]


def test_a_renamed_task_node_is_refused():
    with pytest.raises(ValueError, match="task.name='speech' does not name its task"):
        train.run_task(cfg(["task=sentiment", "task.name=speech"]))


def test_translation_choices_are_checked_before_any_work():
    with pytest.raises(ValueError, match="task.storage='float8': choose one of float16, float32"):
        train.run_task(cfg(["task=translation", "task.storage=float8"]))


def test_sentiment_trains_and_re_evaluates_through_rnnaccel_train(tmp_path):
    out = tmp_path / "s.pt"
    small = [
        f"task.out={out}",
        "task.epochs=1",
        "task.embed_dim=8",
        "task.hidden_size=8",
        "task.max_vocab=300",
        "task.progress=false",
    ]
    metrics = train.run_task(cfg(["task=sentiment", *small]))
    model, vocab, ck = load_checkpoint(out)
    assert ck["extra"]["args"]["epochs"] == 1 and ck["extra"]["args"]["seed"] == 0 and len(vocab) == 300
    assert ck["metrics"] == metrics and 0.0 <= metrics["test_acc_emulate"] <= 1.0
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"] == metrics
    assert not (tmp_path / "s.pt.train.pt").exists()  # the resumable state is removed when done
    again = train.run_task(cfg(["task=sentiment", *small, "task.eval_only=true"]))
    assert {k: v for k, v in again.items() if "_s_" not in k} == {k: v for k, v in metrics.items() if "_s_" not in k}


def test_the_command_line_refuses_in_one_line(tmp_path):
    r = run_app("train", "task=sentiment", "train.epochs=2", f"hydra.run.dir={tmp_path}")
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith("rnnaccel-train: train.epochs: only for task=speech")


@pytest.mark.parametrize("fold", ["0", "theo", "5"])
def test_digits_training_data_never_holds_the_test_speaker(fold, tmp_path):
    """The packaged digits data (speaker-disjoint by default): no speaker of the test split is in
    train or validation, for any fold; the synthesized voices join the training split only."""
    from omegaconf import OmegaConf

    from rnnaccel.apps.data import _corpus
    from rnnaccel.datasets.fsdd import resolve_test_speaker

    c = cfg([f"data.test_speaker={fold}", "data.num_train=300", "data.num_val=100", "data.num_test=100"])
    assert c.data.scheme == "speaker"
    data = OmegaConf.to_object(c.data)
    data.synth_train = 0  # the TTS voices are checked apart (generating them takes a minute)
    speakers = {}
    for split in ("train", "val", "test"):
        ds = _corpus(data, split)
        speakers[split] = {ds.plan(i).speaker for i in range(len(ds))}
    assert speakers["test"] == {resolve_test_speaker(fold)}
    assert not speakers["test"] & (speakers["train"] | speakers["val"])
    data.synth_train = 50
    for split in ("val", "test"):
        assert all(u.startswith("fsdd-") for u in (_corpus(data, split)[i].utt_id for i in range(3)))


def test_the_in_domain_split_stays_available():
    from omegaconf import OmegaConf

    from rnnaccel.apps.data import _corpus

    data = OmegaConf.to_object(cfg(["data.scheme=index", "data.num_test=40", "data.synth_train=0"]).data)
    ds = _corpus(data, "test")
    assert {r.index for i in range(len(ds)) for r in ds.plan(i).recordings} <= set(range(5))
