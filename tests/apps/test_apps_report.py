"""rnnaccel-report on a fixed directory of result JSONs (tests/apps/fixtures/sweep: trimmed results of
real tiny runs: digits on 20 test utterances, sentiment on 100 sentences; one incomplete result)."""

import csv
import io
import json
from pathlib import Path

import pytest

from rnnaccel.apps import report
from rnnaccel.apps.config import ReportApp, ReportConf
from rnnaccel.apps.report_plots import front
from rnnaccel.apps.results import atomic_write_json, load_complete

FIX = Path(__file__).parent / "fixtures"


def run(tmp_path, **kw):
    return report.run(ReportApp(report=ReportConf(sweep_dir=str(FIX / "sweep"), out_dir=str(tmp_path), **kw)))


def test_report_writes_the_expected_csv_tables_and_plots(tmp_path):
    out = run(tmp_path, budget=1.0)
    assert out["skipped"] == 1  # crashed/result.json has complete: false; notes.json is not a result
    assert (tmp_path / "results.csv").read_text() == (FIX / "expected_results.csv").read_text()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text())))
    by = {r["run"]: r for r in rows}
    assert by["digits_memo0.2"]["reuse_pct"] == "34.8661" and by["digits_memo0.2"]["pareto"] == "true"
    assert by["digits_memo0"]["energy_saving_pct"].startswith("-")  # theta 0: the BNN costs, nothing saved
    assert by["digits_prec_tau1"]["time_at_4b_pct"] and not by["digits_memo0.1"]["time_at_4b_pct"]
    md = (tmp_path / "results.md").read_text()
    # papers' layout: per network and technique, the best saving within 1 point of accuracy loss
    assert "| digits_blstm | memo:bnn | theta=0.2 | 34.9 | – | -1.45 | 1.54 | 26.0 |" in md
    assert (
        "| digits_blstm | precision:dynamic | fraction tau=0.5 phi=[0.3, 0.02] | – | 54.7/45.1/0.2 | +0.00 | 1.30 "
        "| 18.8 |"
    ) in md
    assert "| sentiment_lstm | memo:bnn | theta=0.3 | 20.2 | – | -4.00 | 1.25 | 16.3 |" in md
    assert sorted(Path(p).name for p in out["plots"]) == [
        "accuracy_vs_avoided.png",
        "energy_breakdown.png",
        "savings_vs_loss.png",
        "time_at_precision.png",
    ]
    for p in map(Path, out["plots"]):  # vector PDF and SVG beside each 300-dpi PNG
        assert p.stat().st_size > 5000 and p.with_suffix(".pdf").is_file() and p.with_suffix(".svg").is_file()
        assert _dpi(p) >= 200


def _dpi(png: Path) -> float:
    from PIL import Image

    return Image.open(png).info["dpi"][0]


def test_budget_and_platform_change_the_table(tmp_path):
    out = run(tmp_path, budget=5.0, hw="tpu", plots=False)
    md = (tmp_path / "results.md").read_text()
    assert "fraction tau=1 phi=[0.3, 0.02]" in md.split("## All runs")[0]  # +2.9 points now fits
    r = next(r for r in out["rows"] if r["run"] == "digits_memo0.2")
    assert r["hw"] == "tpu" and r["speedup"] == pytest.approx(r["speedup_tpu"])


def test_empty_or_missing_sweep_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no complete evaluate results"):
        report.run(ReportApp(report=ReportConf(sweep_dir=str(tmp_path))))
    with pytest.raises(ValueError, match="not a directory"):
        report.run(ReportApp(report=ReportConf(sweep_dir=str(tmp_path / "nope"))))


def test_pareto_front():
    assert front([(0.0, 1.0), (1.0, 3.0), (0.5, 0.5), (2.0, 2.0), (1.0, 2.0)]) == [(0.0, 1.0), (1.0, 3.0)]


def test_atomic_write_leaves_old_file_or_nothing(tmp_path, monkeypatch):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"complete": True, "config_hash": "a"})
    assert load_complete(p, "a") and load_complete(p, "b") is None

    def boom(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr("rnnaccel.apps.results.os.replace", boom)
    with pytest.raises(OSError):
        atomic_write_json(p, {"complete": True, "config_hash": "new"})
    assert json.loads(p.read_text())["config_hash"] == "a" and list(tmp_path.iterdir()) == [p]
    monkeypatch.undo()
    p.write_text('{"complete": tr')  # a truncated file (e.g. written by something else) is not complete
    assert load_complete(p) is None


def _variant(tmp_path, name, src, change):
    r = json.loads((FIX / "sweep" / src / "result.json").read_text())
    change(r)
    atomic_write_json(tmp_path / "sweep" / name / "result.json", r)


def _oracle(r):
    r["techniques"]["memo"]["predictor"] = "oracle"


def _on_tpu(r):
    r["cost"], r["primary_hw"] = r["cost_by_hw"]["tpu"], "tpu"


def test_runs_that_differ_get_their_own_label_bar_and_platform(tmp_path, monkeypatch):
    from rnnaccel.apps import report_plots

    _variant(tmp_path, "bnn", "digits_memo0.1", lambda r: None)
    _variant(tmp_path, "oracle", "digits_memo0.1", _oracle)  # differs only in memo.predictor
    _variant(tmp_path, "tpu", "digits_memo0.2", _on_tpu)  # another platform
    figures = {}
    monkeypatch.setattr(report_plots, "save", lambda fig, path: figures.setdefault(path.name, fig) and path)
    out = report.run(ReportApp(report=ReportConf(sweep_dir=str(tmp_path / "sweep"), out_dir=str(tmp_path / "rep"))))
    labels = {r["run"]: r["label"] for r in out["rows"]}
    assert labels == {
        "bnn": "memo:bnn, hw=epur, memo.theta=0.1",
        "oracle": "memo:oracle, hw=epur, memo.theta=0.1",
        "tpu": "memo:bnn, hw=tpu, memo.theta=0.2",
    }
    axes = figures["energy_breakdown.png"].axes
    titles = [ax.get_title() for ax in axes if ax.get_title()]
    assert titles == ["energy breakdown (epur)", "energy breakdown (tpu)"]
    bars = {ax.get_title(): [t.get_text() for t in ax.get_xticklabels()] for ax in axes if ax.get_title()}
    assert any("oracle" in b for b in bars["energy breakdown (epur)"]) and len(bars["energy breakdown (epur)"]) == 3
    assert all("tpu" in b or "baseline" in b for b in bars["energy breakdown (tpu)"])


def _lossy(r):
    r["accuracy_loss_pts"] = 3.0


def test_best_row_never_has_a_negative_saving(tmp_path):
    """Within the budget only theta = 0 fits, and it costs energy (the BNN runs, nothing is
    reused): the table says none qualifies instead of naming it."""
    _variant(tmp_path, "memo0", "digits_memo0", lambda r: None)
    _variant(tmp_path, "memo0.2", "digits_memo0.2", _lossy)
    sweep = str(tmp_path / "sweep")
    out = report.run(ReportApp(report=ReportConf(sweep_dir=sweep, out_dir=str(tmp_path), budget=1.0, plots=False)))
    memo0 = next(r for r in out["rows"] if r["run"] == "memo0")
    assert memo0["accuracy_loss_pts"] <= 1.0 and memo0["energy_saving_pct"] < 0
    best = (tmp_path / "results.md").read_text().split("## All runs")[0]
    assert "| digits_blstm | memo:bnn | none within 1 pts with a positive saving |" in best
    assert "theta=0 |" not in best


def test_loss_axis_names_the_metric_of_its_rows():
    from rnnaccel.apps.report_plots import loss_axis

    assert loss_axis([{"metric": "bleu"}, {"metric": "bleu"}]) == "BLEU loss (BLEU points)"
    assert loss_axis([{"metric": "wer"}]) == "WER increase (percentage points)"
    assert "each network's metric" in loss_axis([{"metric": "wer"}, {"metric": "bleu"}])
