"""Nothing silent: an explicit setting takes effect or is refused, and every wrong input ends the
app with one line ``rnnaccel-<app>: ...`` and exit status 2 (RNNACCEL_DEBUG=1: the traceback)."""

import json
import stat

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from rnnaccel.apps import evaluate, quantize
from rnnaccel.errors import RnnaccelError

from .conftest import ROOT, have_fsdd, run_app

DIGITS = str(ROOT / "checkpoints" / "digits_blstm.pt")
SYNTH = str(ROOT / "checkpoints" / "synth_blstm.pt")


def sentiment_eval(checkpoint, baseline="none") -> list[str]:
    """Overrides of a quick 12-item evaluation of the tiny sentiment checkpoint."""
    args = [f"eval.checkpoint={checkpoint}", "data=sentiment", "eval.limit=12", "eval.progress=false"]
    return args + ([f"eval.baseline={baseline}"] if baseline else [])


def cfg(name, overrides=()):
    with initialize_config_module("rnnaccel.conf", version_base="1.3"):
        return compose(name, overrides=list(overrides))


@pytest.fixture
def no_data(monkeypatch):
    """Reading any data fails the test: the refusal must come first."""

    def boom(*a, **k):
        raise AssertionError("data was read before the configuration was checked")

    monkeypatch.setattr("rnnaccel.apps.tasks.load_split", boom)
    monkeypatch.setattr("rnnaccel.apps.quantize.load_split", boom)


CONFIG = ["eval.datapath_from=config"]
FIXED = CONFIG + ["datapath=q16"]


@pytest.mark.parametrize(
    "overrides, says",
    [
        (
            ["datapath.bits=4"],
            "datapath.bits=4: not applied, eval.datapath_from=checkpoint runs the datapath stored in",
        ),
        (["datapath=q16"], "datapath.calibrate=False: not applied"),
        (["datapath.bits=0"], "invalid configuration: datapath.bits=0: format bits=0"),  # was dropped too
        (CONFIG + ["datapath.bits=0"], "datapath.bits=0: format bits=0 out of range"),
        (FIXED + ["datapath.weight=Q0.0"], "datapath.weight: format bits=0 out of range"),
        (FIXED + ["datapath.weight=Q40.30"], "datapath.weight: format bits=40 out of range"),
        (FIXED + ["datapath.weight=Q16.-1"], "datapath.weight: format frac=-1 out of range"),
        (FIXED + ["datapath.acc_bits=0"], "datapath.acc_bits=0 out of range"),
        (CONFIG + ["datapath.weight=Q8.4"], "datapath.weight=Q8.4: not applied, datapath.calibrate=true picks"),
        (FIXED + ["datapath.bits=8"], "datapath.bits=8: not applied, these settings act only with datapath.calibrate"),
        (["eval.batch_size=0"], "eval.batch_size=0 must be >= 1"),
        (["eval.batch_size=-3"], "eval.batch_size=-3 must be >= 1"),
        (["eval.threads=0"], "eval.threads=0 must be >= 1"),
        (["eval.decoder=viterbi"], "eval.decoder='viterbi' unknown"),
        ([f"eval.checkpoint={SYNTH}"], "trained with data.corpus=synth_speech, data.vocab=char; pass data=synth"),
    ],
)
def test_settings_are_applied_or_refused_before_any_data(no_data, overrides, says):
    with pytest.raises(RnnaccelError, match=says.replace("(", r"\(").replace("[", r"\[")):
        evaluate.run(cfg("evaluate", [f"eval.checkpoint={DIGITS}", *overrides]))


def test_a_fixed_datapath_override_takes_effect(tiny_sentiment, tmp_path):
    base = sentiment_eval(tiny_sentiment)
    r = evaluate.run(cfg("evaluate", base + FIXED + ["datapath.weight=Q8.4", f"eval.output={tmp_path}/a.json"]))
    assert r["datapath_source"] == "config" and r["datapath"][0]["weight"] == {"bits": 8, "frac": 4}
    with pytest.raises(
        RnnaccelError,
        match="datapath.weight=Q8.4, datapath.calibrate=False: not applied, eval.datapath_from=checkpoint",
    ):
        evaluate.run(cfg("evaluate", base + ["datapath=q16", "datapath.weight=Q8.4", f"eval.output={tmp_path}/b.json"]))


def _broken_checkpoint(tmp_path, kind):
    p = tmp_path / f"{kind}.pt"
    good = (ROOT / "checkpoints" / "digits_bgru.pt").read_bytes()
    if kind == "truncated":
        p.write_bytes(good[: len(good) // 3])
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "random":
        p.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)))
    elif kind == "foreign":
        torch.save(torch.nn.GRU(40, 8).state_dict(), p)
    return p


@pytest.mark.parametrize(
    "kind, says",
    [
        ("truncated", "truncated or damaged torch archive"),
        ("empty", "empty file"),
        ("random", "not a PyTorch checkpoint"),
        ("foreign", "not an rnnaccel checkpoint"),
    ],
)
def test_broken_checkpoints_are_refused_before_any_data(no_data, tmp_path, kind, says):
    p = _broken_checkpoint(tmp_path, kind)
    with pytest.raises(RnnaccelError, match=f"checkpoint {p}: {says}"):
        evaluate.run(cfg("evaluate", [f"eval.checkpoint={p}"]))
    with pytest.raises(RnnaccelError, match=f"checkpoint {p}: {says}"):
        quantize.run(cfg("quantize", [f"quantize.checkpoint={p}", f"quantize.output={tmp_path}/q.pt"]))


def test_quantize_checks_the_data_like_evaluate(no_data, tmp_path):
    with pytest.raises(
        RnnaccelError,
        match="synth_blstm.pt was trained with data.corpus=synth_speech, data.vocab=char; pass data=synth",
    ):
        quantize.run(cfg("quantize", [f"quantize.checkpoint={SYNTH}", f"quantize.output={tmp_path}/q.pt"]))
    with pytest.raises(RnnaccelError, match="datapath.calibrate=false: not applied, rnnaccel-quantize always"):
        quantize.run(
            cfg("quantize", ["datapath=q16", f"quantize.checkpoint={DIGITS}", f"quantize.output={tmp_path}/q.pt"])
        )


@pytest.mark.skipif(not have_fsdd(), reason="needs the FSDD recordings (shared data root)")
def test_quantize_keeps_the_checkpoint_storage(tmp_path):
    from rnnaccel.datasets import WordVocab
    from rnnaccel.models import SpeechModelConfig, SpeechRecognizer, load_checkpoint, round_to_storage, save_checkpoint

    m = round_to_storage(SpeechRecognizer(SpeechModelConfig(hidden_size=8, num_layers=1)), "float16")
    src = save_checkpoint(tmp_path / "h.pt", m, WordVocab(), storage="float16")
    data = [
        "data.num_train=4",
        f"data.cache_dir={tmp_path}/cache",
        "datapath.calib_batches=1",
        "datapath.calib_batch_size=4",
    ]
    out = quantize.run(cfg("quantize", data + [f"quantize.checkpoint={src}", f"quantize.output={tmp_path}/q.pt"]))
    ck = load_checkpoint(tmp_path / "q.pt")
    assert out["storage"] == "float16" and ck["storage"] == "float16"
    assert ck["state_dict"]["rnn.weight_ih_l0"].dtype == torch.float16


def _last_line(p) -> str:
    return (p.stderr.strip().splitlines() or [""])[-1]


@pytest.mark.parametrize(
    "overrides, says",
    [
        ([*CONFIG, "datapath.bits=0"], "rnnaccel-evaluate: invalid configuration: datapath.bits=0"),
        (["eval.batch_size=0"], "rnnaccel-evaluate: invalid configuration: eval.batch_size=0 must be >= 1"),
        (["datapath.bits=8"], "rnnaccel-evaluate: datapath.bits=8: not applied"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(tmp_path, overrides, says):
    p = run_app("evaluate", *overrides, f"hydra.run.dir={tmp_path}")
    assert p.returncode == 2 and _last_line(p).startswith(says), p.stderr[-2000:]
    assert "Traceback" not in p.stderr and not (tmp_path / "result.json").exists()


def test_cli_broken_checkpoint_and_empty_corpus(tmp_path):
    bad = _broken_checkpoint(tmp_path, "truncated")
    p = run_app("quantize", f"quantize.checkpoint={bad}", f"quantize.output={tmp_path}/q.pt")
    assert p.returncode == 2 and _last_line(p).startswith(f"rnnaccel-quantize: checkpoint {bad}: truncated")
    assert "Traceback" not in p.stderr
    (tmp_path / "empty").mkdir()
    p = run_app(
        "evaluate",
        f"data.root={tmp_path}/empty",  # the default checkpoint on its own (speaker theo) split
        "eval.progress=false",
        f"data.cache_dir={tmp_path}/c",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert p.returncode == 2 and _last_line(p).startswith(f"rnnaccel-evaluate: data.root={tmp_path}/empty: ")
    assert "Traceback" not in p.stderr
    p = run_app("evaluate", "eval.batch_size=0", f"hydra.run.dir={tmp_path}", env={"RNNACCEL_DEBUG": "1"})
    assert p.returncode != 0 and "Traceback" in p.stderr and "RnnaccelError" in p.stderr


def test_summary_line_is_json_and_files_are_0644(tiny_sentiment, tmp_path):
    out = tmp_path / "r.json"
    p = run_app(
        "evaluate",
        *sentiment_eval(tiny_sentiment, baseline=None),
        f"eval.cache_dir={tmp_path}/c",
        f"eval.output={out}",
        f"hydra.run.dir={tmp_path}/run",
    )
    assert p.returncode == 0, p.stderr[-2000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["output"] == str(out) and summary["utterances"] == 12
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    from rnnaccel.apps import report
    from rnnaccel.apps.config import ReportApp, ReportConf

    report.run(ReportApp(report=ReportConf(sweep_dir=str(tmp_path), out_dir=str(tmp_path / "rep"), plots=False)))
    for name in ("results.csv", "results.md"):
        assert stat.S_IMODE((tmp_path / "rep" / name).stat().st_mode) == 0o644


def test_a_reused_output_of_another_config_is_refused(tiny_sentiment, tmp_path):
    base = sentiment_eval(tiny_sentiment) + [f"eval.output={tmp_path}/r.json"]
    evaluate.run(cfg("evaluate", base + ["memo=bnn", "memo.theta=0.1"]))
    assert evaluate.run(cfg("evaluate", base + ["memo=bnn", "memo.theta=0.1"]))["skipped"]
    with pytest.raises(
        RnnaccelError,
        match=r"r.json holds the result of another config \(memo.theta: 0.1 -> 0.2\); "
        r"pass eval.resume=false",
    ):
        evaluate.run(cfg("evaluate", base + ["memo=bnn", "memo.theta=0.2"]))
    assert (
        evaluate.run(cfg("evaluate", base + ["memo=bnn", "memo.theta=0.2", "eval.resume=false"]))["techniques"]["memo"][
            "theta"
        ]
        == 0.2
    )
