"""rnnaccel.apps.bench_emulator (the bench script is its thin entry point): every case runs on each backend,
prints its table and writes --json."""

import json

import pytest

from rnnaccel.apps.bench_emulator import CASES, main, variants
from rnnaccel.emulator import kernels


def test_bench_rows_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    backends = ["torch"] + (["auto"] if kernels.available() else [])
    args = ["--steps", "2", "--repeats", "1", "--backends", ",".join(backends)]
    assert main(args + ["--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["key"] for r in rows] == list(CASES)
    for r in rows:
        for b in backends:
            assert r[f"ratio[{b}]"] == pytest.approx(r[f"emul_s[{b}]"] / r["float_s"])
    text = capsys.readouterr().out
    assert "memo bnn θ=0.1" in text and "dyn. precision" in text and "gru 2x512" in text


@pytest.mark.parametrize(
    "bad",
    [
        ["--cases", "lstm,nope"],
        ["--backends", "fast"],
        ["--directions", "both"],
        ["--layers", "wave"],
        ["--steps", "0"],
    ],
)
def test_bench_refuses_bad_options(bad, capsys):
    with pytest.raises(SystemExit) as e:
        main(bad)
    assert e.value.code == 2
    assert "rnnaccel-bench:" in capsys.readouterr().err


def test_bench_variant_columns():
    """Defaults stay unnamed; every asked combination of modes is its own column."""
    assert variants(["auto"], ["concurrent"], ["pipelined"]) == ["auto"]
    assert variants(["auto"], ["concurrent"], ["pipelined", "serial"]) == [
        "auto/layers:pipelined",
        "auto/layers:serial",
    ]
    assert variants(["torch", "auto"], ["serial"], ["serial"]) == [
        "torch/dirs:serial/layers:serial",
        "auto/dirs:serial/layers:serial",
    ]


def test_bench_layers_column(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--cases", "lstm", "--steps", "3", "--repeats", "1", "--layers", "pipelined,serial", "--threads", "2"]
    assert main(args + ["--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert {"ratio[auto/layers:pipelined]", "ratio[auto/layers:serial]"} <= set(row)
