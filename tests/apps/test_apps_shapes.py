"""rnnaccel.apps.shapes --techniques: every configuration at the same relative load, the savings
against dense and the combined saving against the product of the single savings."""

import json

import pytest
import torch

from rnnaccel.apps import shapes
from rnnaccel.emulator import LSTM, Trace
from rnnaccel.emulator.memo import MemoConfig, memo_factory


def _digits_trace(path, units) -> str:
    """A trace of the digits BiLSTM's serving shape (2x96 on 160 inputs), random weights."""
    torch.manual_seed(0)
    m = LSTM(160, 96, num_layers=2, bidirectional=True, mode="emulate", batch_first=True)
    m.units = units
    tr = Trace()
    x = torch.randn(3, 12, 160).cumsum(1) * 0.05  # slowly varying: memoization finds reuse
    m(x, lengths=torch.tensor([12, 9, 7]), trace=tr)
    tr.save_npz(str(path))
    return str(path)


def test_techniques_run_at_each_configurations_own_load(tmp_path):
    memo = _digits_trace(tmp_path / "memo.npz", [memo_factory(MemoConfig(predictor="bnn", theta=0.3))])
    dense = _digits_trace(tmp_path / "dense.npz", [])
    shapes.main(
        ["--out", str(tmp_path / "out"), "--networks", "digits_blstm", "--platforms", "epur", "--requests", "60"]
        + ["--techniques", f"memo={memo}", f"precision={dense}", f"both={memo}", "--tech-steps", "32"]
    )
    got = json.loads((tmp_path / "out" / "techniques.json").read_text())
    rows = got["rows"]
    assert {(r["config"], r["mode"]) for r in rows} == {
        (c, m) for c in ("dense", "memo", "precision", "both") for m in ("adaptive", "T=32")
    }
    for r in rows:  # each at 0.7 of its own capacity
        assert r["rate"] == pytest.approx(0.7 * r["reference_rate"])
    pinned = [r for r in rows if r["mode"] == "T=32"]
    assert all(r["mean_T"] <= 32 for r in pinned)
    ref = {r["config"]: r["reference_rate"] for r in rows}
    assert ref["memo"] > ref["dense"] == pytest.approx(ref["precision"])  # reuse skips work: more capacity
    for it in got["interaction"]:
        assert it["saving_memo"] > 0.0
        assert it["saving_precision"] == pytest.approx(0.0, abs=1e-9)  # a dense trace is the dense chunk
        assert it["saving_both"] == pytest.approx(it["saving_memo"])
        assert it["product_of_singles"] == pytest.approx(1 - (1 - it["saving_memo"]) * (1 - it["saving_precision"]))
    assert "saving_memo" in (tmp_path / "out" / "techniques.md").read_text()


def test_a_bad_techniques_argument_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="is not label=trace.npz"):
        shapes.main(["--out", str(tmp_path), "--techniques", "memo.npz"])


def test_emulate_counts_prices_a_small_shape_on_both_platforms(tmp_path):
    """--emulate on a tiny encoder-decoder shape: counts checked against the analytic chunks, the
    trace priced on E-PUR and the TPU (the paper-scale ones run the same code, minutes each)."""
    y = tmp_path / "tiny_like.yaml"
    y.write_text(
        'label: "tiny (shape only: no accuracy claim)"\nsource: test\n'
        "network: {cell: lstm, num_layers: 2, input_size: 6, hidden_size: 8, bidirectional: true}\n"
        "decoder: {cell: gru, num_layers: 1, input_size: 5, hidden_size: 8}\n"
        "emulate: {sequences: 2, min_steps: 2, max_steps: 4, seed: 1}\n"
    )
    out = shapes.emulate_counts(str(y))
    assert set(out["stacks"]) == {"encoder", "decoder"}
    for row in out["stacks"].values():
        assert row["macs"] > 0
        for hw in ("epur", "tpu"):
            assert row[hw]["energy_j"] > 0 and row[hw]["seconds"] > 0
        assert row["epur"]["residency"] == ["network"]
