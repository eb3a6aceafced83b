"""rnnaccel-evaluate sweeps: joblib end to end + report + resume, the Ray launcher, Optuna, presets."""

import json
import os

import pytest

from rnnaccel.apps import report
from rnnaccel.apps.config import ReportApp, ReportConf

from .conftest import run_app


def sweep_args(ckpt, tmp_path, *extra):
    return [
        f"eval.checkpoint={ckpt}",
        "eval.limit=24",
        "eval.batch_size=12",
        "eval.progress=false",
        f"eval.cache_dir={tmp_path}/cache",
        f"hydra.sweep.dir={tmp_path}/sweep",
        *extra,
    ]


def results(sweep):
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep.rglob("result.json"))}


def test_joblib_sweep_report_and_resume(tiny_sentiment, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    args = sweep_args(tiny_sentiment, tmp_path, "memo=bnn", "memo.theta=0,0.3")
    p = run_app("evaluate", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *args)
    assert p.returncode == 0, p.stderr[-3000:]
    res = results(tmp_path / "sweep")
    assert len(res) == 2, list(res)
    r0 = next(r for r in res.values() if r["techniques"]["memo"]["theta"] == 0)
    r3 = next(r for r in res.values() if r["techniques"]["memo"]["theta"] == 0.3)
    for r in (r0, r3):
        assert r["complete"] is True and r["task"] == "sentiment" and r["utterances"] == 24
        assert r["version"] and r["config"]["memo"]["predictor"] == "bnn" and len(r["config_hash"]) == 16
        assert set(r["cost_by_hw"]) == {"epur", "tpu"} and r["cost"] == r["cost_by_hw"]["epur"]
        assert r["cost"]["cycles"] > 0 and set(r["cost"]["energy_j"]) >= {"dram", "sram", "compute", "bnn"}
        assert r["baseline"]["source"].split(":")[0] in ("run", "cache")
    # theta = 0 never reuses: same accuracy as the baseline, same MACs, only the BNN's cost on top
    assert r0["memo"]["total"]["reused"] == 0 and r0["accuracy_loss_pts"] == 0
    assert r0["cost"]["speedup"] == pytest.approx(1.0, abs=0.02) and r0["cost"]["energy_saving"] < 0
    assert r3["memo"]["total"]["reuse_fraction"] > 0 and r3["cost"]["speedup"] > 1
    assert r0["config_hash"] != r3["config_hash"]
    # the two parallel workers share one baseline: one computes it, the other waits and reads it
    assert sorted(r["baseline"]["source"].split(":")[0] for r in (r0, r3)) == ["cache", "run"]

    rep = report.run(
        ReportApp(report=ReportConf(sweep_dir=str(tmp_path / "sweep"), out_dir=str(tmp_path / "rep"), plots=False))
    )
    assert len(rep["rows"]) == 2 and (tmp_path / "rep" / "results.csv").read_text().count("\n") == 3

    # resume: a rerun skips complete results; an incomplete one (crash before the rename never
    # leaves one, but e.g. a result of an older config) is computed again
    d0, d3 = (p.parent for p in sorted((tmp_path / "sweep").rglob("result.json")))
    stale = json.loads((d3 / "result.json").read_text()) | {"complete": False}
    (d3 / "result.json").write_text(json.dumps(stale))
    before = os.stat(d0 / "result.json").st_mtime_ns
    p = run_app("evaluate", "-m", *args)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("skip (complete") == 1
    assert os.stat(d0 / "result.json").st_mtime_ns == before
    again = json.loads((d3 / "result.json").read_text())
    assert again["complete"] is True and again["objective"] == pytest.approx(r3["objective"])


@pytest.mark.ray
def test_ray_launcher_one_run(tiny_sentiment, tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'rnnaccel[sweep]')")
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    args = sweep_args(tiny_sentiment, tmp_path, "memo=bnn", "memo.theta=0.2")
    p = run_app(
        "evaluate",
        "-m",
        "hydra/launcher=ray",
        "+hydra.launcher.ray.init.num_cpus=1",
        "+hydra.launcher.ray.init.include_dashboard=false",
        *args,
        env={"RAY_USAGE_STATS_ENABLED": "0"},
    )
    started = "Started a local Ray instance" in p.stderr + p.stdout
    if p.returncode != 0 and not started:  # e.g. no /dev/shm, ports or processes for Ray's daemons
        pytest.skip(f"a local Ray instance could not start here: {(p.stderr.strip().splitlines() or ['?'])[-1][:300]}")
    assert p.returncode == 0, p.stderr[-3000:]
    (r,) = results(tmp_path / "sweep").values()
    assert r["complete"] and r["memo"]["total"]["reuse_fraction"] > 0


def two_layer_sentiment(path):
    """A 2-layer BiLSTM(6) sentiment model with random weights (the per-layer preset's depth)."""
    import torch

    from rnnaccel.datasets.sentiment import load_sentiment
    from rnnaccel.models.sentiment import SentimentConfig, SentimentLSTM, save_checkpoint

    data = load_sentiment(seed=0, max_vocab=300)
    torch.manual_seed(0)
    cfg = SentimentConfig(len(data.vocab), embed_dim=8, hidden_size=6, num_layers=2, dropout=0.0)
    save_checkpoint(path, SentimentLSTM(cfg), data.vocab.tokens, extra={"args": {"seed": 0}})
    return path


def test_optuna_searches_the_objective(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    ckpt = two_layer_sentiment(tmp_path / "two_layer.pt")
    p = run_app(
        "evaluate",
        "-m",
        "+sweep=memo_per_layer_optuna",
        "hydra.sweeper.n_trials=2",
        *sweep_args(ckpt, tmp_path),
    )  # 2 per-layer thresholds on a 2-layer model (a 1-layer model is refused: tests/apps/test_apps_tune.py)
    assert p.returncode == 0, p.stderr[-3000:]
    best = (tmp_path / "sweep" / "optimization_results.yaml").read_text()
    assert "best_value" in best and "memo.per_layer.0" in best
    res = results(tmp_path / "sweep")
    assert len(res) == 2 and all(r["split"] == "val" for r in res.values())
    assert max(r["objective"] for r in res.values()) == pytest.approx(float(best.split("best_value:")[1].split()[0]))
