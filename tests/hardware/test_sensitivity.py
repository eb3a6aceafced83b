"""Tornado sensitivity: every uncertain price moved alone to each end; sign flips flagged; the
command refuses bad inputs with one line."""

import numpy as np
import pytest

from rnnaccel.apps.sensitivity import main, plot_tornado
from rnnaccel.emulator.trace import Trace
from rnnaccel.hardware import load_hw
from rnnaccel.hardware.sensitivity import flipped, format_tornado, tornado, trace_headline


def test_each_uncertain_price_moves_alone():
    hw = load_hw("epur")
    seen = []

    def headline(h):  # records which prices differ from the nominal table
        seen.append({p.name: p.value for p in h.uncertain()})
        return h.dram.energy.value - 5.0  # positive at value 6, negative at low 4: flips

    rows = tornado({"toy": headline}, hw)
    names = [p.name for p in hw.uncertain()]
    assert sorted(r.param for r in rows) == sorted(names)
    nominal = seen[0]
    for moved in seen[1:]:
        assert sum(moved[k] != nominal[k] for k in nominal) <= 1  # one price at a time
    dram = next(r for r in rows if r.param == "dram.energy")
    assert dram.at_low == pytest.approx(hw.dram.energy.low - 5) and dram.at_high == pytest.approx(
        hw.dram.energy.high - 5
    )
    assert rows[0].param == "dram.energy"  # the only price that moves it: largest swing first
    assert [r.param for r in flipped(rows)] == ["dram.energy"] and "**FLIPS**" in format_tornado(rows)


def _trace(macs, seq_bytes):
    from rnnaccel.emulator.trace import LayerTrace

    lt = LayerTrace(0, 0, "lstm", 8, 8, 4, 16, 16)
    for k, v in {
        "active": 1,
        "mac.16x16": macs,
        "weight_bytes": 1056,
        "seq_weight_bytes": seq_bytes,
        "act_bytes": 32,
        "act.sigmoid": 24,
        "act.tanh": 16,
        "eltwise.mul": 24,
        "eltwise.add": 40,
    }.items():
        lt.add(k, np.full(4, v))
    return Trace([lt])


def test_trace_headline_and_files(tmp_path):
    base, tech = _trace(512, 1056), _trace(256, 528)
    rows = tornado({"saving": trace_headline(base, tech, "energy_saving")}, "epur")
    assert all(r.nominal > 0 for r in rows) and not flipped(rows)
    files = plot_tornado(rows, tmp_path / "t", top=5, title="toy")
    assert [f.suffix for f in files] == [".pdf", ".svg", ".png"] and all(f.stat().st_size > 1000 for f in files)
    with pytest.raises(ValueError, match="metric"):
        trace_headline(base, tech, "joules")


def test_command_writes_outputs_and_refuses_bad_input(tmp_path, capsys):
    base, tech = _trace(512, 1056), _trace(256, 528)
    base.save_npz(tmp_path / "b.npz")
    tech.save_npz(tmp_path / "m.npz")
    assert (
        main(
            [
                "--base",
                str(tmp_path / "b.npz"),
                "--tech",
                f"memo={tmp_path / 'm.npz'}",
                "--top",
                "3",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert {"tornado.md", "tornado.json", "tornado.png", "tornado.pdf", "tornado.svg"} <= {
        p.name for p in (tmp_path / "out").iterdir()
    }
    for argv, msg in (
        [["--tech", "memo=x.npz"], "--tech needs --base"],
        [["--base", str(tmp_path / "nope.npz")], "not found"],
        [["--base", str(tmp_path / "b.npz"), "--tech", "memo"], "expected NAME=TRACE.npz"],
        [[], "nothing to vary"],
    ):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("rnnaccel-sensitivity:") and msg in err and "\n" not in err
