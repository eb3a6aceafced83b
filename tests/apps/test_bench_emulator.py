"""rnnaccel.apps.bench_emulator (the bench script is its thin entry point): every case runs on each backend,
prints its table and writes --json."""

import json

import pytest

from rnnaccel.apps.bench_emulator import CASES, main
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
    "bad", [["--cases", "lstm,nope"], ["--backends", "fast"], ["--directions", "both"], ["--steps", "0"]]
)
def test_bench_refuses_bad_options(bad, capsys):
    with pytest.raises(SystemExit) as e:
        main(bad)
    assert e.value.code == 2
    assert "rnnaccel-bench:" in capsys.readouterr().err
