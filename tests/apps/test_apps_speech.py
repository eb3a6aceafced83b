"""Hydra apps: typed configs reject typos; train -> quantize -> evaluate end to end on a few utterances."""

import json

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ValidationError

from rnnaccel.apps import evaluate, quantize, train
from rnnaccel.models import load_checkpoint


def cfg(name, overrides=()):
    with initialize_config_module("rnnaccel.conf", version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.mark.parametrize("bad", ["train.epoch=3", "model.hiden_size=4", "train.epochs=many", "model=nope"])
def test_typos_are_errors(bad):
    with pytest.raises((ConfigAttributeError, ConfigCompositionException, ValidationError)):
        cfg("train", [bad])


def test_defaults_compose():
    c = cfg("train")
    assert c.model.cell == "lstm" and c.data.corpus == "connected_digits" and c.datapath.bits == 16
    assert cfg("train", ["model=digits_bgru"]).model.cell == "gru"
    assert cfg("evaluate").eval.mode == "emulate"


def _have_fsdd() -> bool:
    try:
        from rnnaccel.datasets import default_data_root

        return (default_data_root() / "fsdd" / "recordings").is_dir()
    except Exception:
        return False


@pytest.mark.skipif(not _have_fsdd(), reason="needs the FSDD recordings (shared data root)")
def qc_args(data, tmp_path) -> list:
    return data + [
        f"quantize.checkpoint={tmp_path}/m.pt",
        f"quantize.output={tmp_path}/qs.pt",
        "datapath.calib_batches=1",
        "datapath.calib_batch_size=4",
    ]


def test_train_quantize_evaluate_end_to_end(tmp_path):
    data = ["data.num_train=16", "data.num_val=8", "data.num_test=6", f"data.cache_dir={tmp_path}/cache"]
    small = ["model.hidden_size=8", "model.num_layers=1"]
    out = tmp_path / "run"
    tc = cfg(
        "train",
        data
        + small
        + [
            "train.epochs=2",
            "train.batch_size=8",
            f"train.out_dir={out}",
            "train.progress=false",
            "train.checkpoint_every=1",
            f"train.export={tmp_path}/m.pt",
        ],
    )
    summary = train.run(tc)
    assert summary["steps"] == 4 and len(summary["history"]) == 2
    assert load_checkpoint(out / "last.pt")["extra"]["train_state"]["step"] == 4
    qc = cfg(
        "quantize",
        data
        + [
            f"quantize.checkpoint={tmp_path}/m.pt",
            f"quantize.output={tmp_path}/q.pt",
            "datapath.calib_batches=1",
            "datapath.calib_batch_size=4",
        ],
    )
    q = quantize.run(qc)
    assert len(q["datapath"]) == 1
    qs = cfg("quantize", [*qc_args(data, tmp_path), "quantize.search=true", "quantize.tables=true"])
    searched = quantize.run(qs)["datapath"][0]  # tables: the resolution of the act format (16-bit: > 2**8)
    assert searched.act_index_bits > q["datapath"][0].act_index_bits == 8
    # QAT from the calibrated checkpoint
    qat = cfg(
        "train",
        data
        + small
        + [
            "train.epochs=1",
            "train.batch_size=8",
            "train.mode=fakequant",
            f"train.init_from={tmp_path}/q.pt",
            f"train.out_dir={tmp_path}/qat",
            "train.progress=false",
        ],
    )
    assert train.run(qat)["steps"] == 2
    assert load_checkpoint(tmp_path / "qat" / "best.pt")["datapath"] is not None
    ec = cfg(
        "evaluate", data + [f"eval.checkpoint={tmp_path}/q.pt", f"eval.output={tmp_path}/e.json", "eval.progress=false"]
    )
    r = evaluate.run(ec)
    on_disk = json.loads((tmp_path / "e.json").read_text())
    assert on_disk["utterances"] == 6 and on_disk["mode"] == "emulate" and on_disk["wer"] == r["wer"]
    assert on_disk["cost"]["cycles"] > 0 and on_disk["trace_totals"]["active"] > 0
    assert set(on_disk["saturations"]) >= {"weight_bias"}
    # the same checkpoint with both techniques on every recurrent layer, baseline from the cache
    tech = cfg(
        "evaluate",
        data
        + [
            f"eval.checkpoint={tmp_path}/q.pt",
            f"eval.output={tmp_path}/t.json",
            "eval.progress=false",
            f"eval.cache_dir={tmp_path}/bl",
            "memo=bnn",
            "memo.theta=0.2",
            "precision=dynamic",
            "precision.tau=0.01",
        ],
    )
    t = evaluate.run(tech)
    assert t["baseline"]["source"].startswith("run:") and t["score"]["baseline"] == r["wer"]
    assert t["memo"]["total"]["reused"] > 0 and sum(t["precision"]["all"].values()) == pytest.approx(1.0)
    assert t["cost"]["speedup"] > 1 and t["accuracy_loss_pts"] == pytest.approx(100 * (t["wer"] - r["wer"]))
    assert evaluate.run(tech)["skipped"]  # complete result, same config hash


def test_evaluate_refuses_data_the_checkpoint_was_not_trained_on(tmp_path):
    from rnnaccel.datasets import CharVocab
    from rnnaccel.models import SpeechModelConfig, SpeechRecognizer, save_checkpoint

    m = SpeechRecognizer(SpeechModelConfig(vocab_size=29, hidden_size=8, num_layers=1))
    p = save_checkpoint(
        tmp_path / "synth.pt", m, CharVocab(), extra={"data": {"corpus": "synth_speech", "vocab": "char"}}
    )
    with pytest.raises(ValueError, match="trained with data.corpus=synth_speech, data.vocab=char; pass data=synth$"):
        evaluate.run(cfg("evaluate", [f"eval.checkpoint={p}", f"eval.output={tmp_path}/e.json"]))


@pytest.mark.skipif(not _have_fsdd(), reason="needs the FSDD recordings (shared data root)")
def test_train_refuses_to_resume_another_model_in_the_same_out_dir(tmp_path):
    from rnnaccel.errors import RnnaccelError

    common = [
        "data.num_train=8",
        "data.num_val=4",
        f"data.cache_dir={tmp_path}/cache",
        "model.num_layers=1",
        "train.epochs=1",
        "train.batch_size=8",
        f"train.out_dir={tmp_path}/run",
        "train.progress=false",
    ]
    train.run(cfg("train", common + ["model.hidden_size=8"]))
    with pytest.raises(
        RnnaccelError,
        match=r"last.pt is a run of another config \(model.hidden_size: 8 -> 16\); "
        r"pass train.resume=false",
    ):
        train.run(cfg("train", common + ["model.hidden_size=16"]))
    assert train.run(cfg("train", common + ["model.hidden_size=16", "train.resume=false"]))["steps"] == 1
