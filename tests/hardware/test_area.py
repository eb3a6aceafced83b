"""Area: totals are the sum of the components, memories take CACTI's area, logic scales with its
units, technique overheads are positive and made of the technique's parts."""

import pytest

from rnnaccel.hardware import load_hw
from rnnaccel.hardware.area import area, logic_area_mm2, main, technique_overhead


@pytest.mark.parametrize("name", ["epur", "tpu"])
def test_total_is_the_sum_of_components(name):
    hw = load_hw(name)
    rep = area(hw)
    assert rep.total_mm2 == pytest.approx(sum(i.mm2 for i in rep.items), rel=1e-12)
    assert rep.total_mm2 == pytest.approx(rep.mm2(kind="memory") + rep.mm2(kind="logic"), rel=1e-12)
    assert logic_area_mm2(hw) == pytest.approx(rep.mm2(kind="logic"), rel=1e-12)
    by = {i.name: i for i in rep.items}
    for path, mem, n in hw.memories():
        assert by[path].mm2 == pytest.approx(mem.area.value * n, rel=1e-12)
    assert all(i.mm2 > 0 for i in rep.items)


def test_logic_scales_with_its_units_and_layout():
    hw = load_hw("epur")
    base = {i.name: i.mm2 for i in area(hw).items}
    d = hw.to_dict()
    d["epur"]["dpu_lanes"]["value"] = 32
    wide = {i.name: i.mm2 for i in area(d).items}
    assert wide["mac_lanes"] == pytest.approx(2 * base["mac_lanes"], rel=1e-12)
    assert wide["epur.weight_buffer"] == base["epur.weight_buffer"]  # CACTI values unchanged until rerun
    hi = {i.name: i.mm2 for i in area(hw.with_value("area.layout_overhead", 2.5)).items}
    assert hi["control"] == pytest.approx(base["control"] * 2.5 / 1.5, rel=1e-12)


@pytest.mark.parametrize("name", ["epur", "tpu"])
def test_technique_overheads_positive_and_made_of_their_parts(name):
    o = technique_overhead(name)
    rep = area(name)
    base = rep.mm2("base")
    for tech in ("memoization", "dynamic_precision"):
        t = o[tech]
        assert t["mm2"] > 0 and t["percent"] > 0 and t["base_mm2"] == pytest.approx(base)
        assert t["mm2"] == pytest.approx(rep.mm2(tech)) and t["percent"] == pytest.approx(100 * t["mm2"] / base)
        assert "paper" in t["paper"]
    assert {"bnn.sign_weights", "bnn.memo_buffer", "bnn_xnor_popcount", "bnn_reuse_test"} == set(
        o["memoization"]["parts"]
    )
    assert {"multiwidth_macs", "precision_controller"} == set(o["dynamic_precision"]["parts"])


def test_area_command_prints_tables(capsys):
    assert main(["--hw", "epur"]) == 0
    out = capsys.readouterr().out
    assert "| **total** |" in out and "dynamic_precision" in out
