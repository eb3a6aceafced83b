"""Price tables: the packaged ones load, every number has a unit and a source, bad ones are refused
with a one-line ValueError naming the field."""

import copy

import pytest
import yaml
from omegaconf import OmegaConf

from rnnaccel.hardware import HwConfig, available_hw, load_hw
from rnnaccel.hardware.units import Price


def test_packaged_tables_load():
    assert {"epur", "tpu"} <= set(available_hw())
    assert load_hw("epur").kind == "epur" and load_hw("tpu").kind == "tpu"


@pytest.mark.parametrize("name", ["epur", "tpu"])
def test_every_number_has_unit_and_source(name):
    hw = load_hw(name)
    params = list(hw.params())
    assert len(params) > 30
    for p in params:
        assert p.unit and len(p.source) > 10, p.name
        if isinstance(p, Price) and p.family == "energy":
            assert p.node_nm is None or p.node_nm > 0


@pytest.mark.parametrize("name", ["epur", "tpu"])
def test_round_trip_dict_and_hydra(name, raw_yaml):
    hw = load_hw(name)
    assert HwConfig.from_dict(hw.to_dict()) == hw
    assert load_hw(OmegaConf.create(raw_yaml(name))) == hw


def test_load_from_path(tmp_path, raw_yaml):
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(raw_yaml("tpu")))
    assert load_hw(p) == load_hw("tpu") and load_hw(str(p)) == load_hw("tpu")


def _mutate(raw, path, value):
    d = copy.deepcopy(raw)
    node = d
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return d


_DELETE = object()

BAD = [
    ("epur", "arith.int_mult.value", -3.1, "arith.int_mult.value must be >= 0"),
    ("epur", "dram.energy.value", -1, "dram.energy.value must be >= 0"),
    ("epur", "dram.bandwidth.value", 0, "dram.bandwidth.value must be > 0"),
    ("tpu", "dram.bandwidth.value", 0.0, "dram.bandwidth.value must be > 0"),
    ("epur", "chip.frequency.value", 0, "chip.frequency.value must be > 0"),
    ("tpu", "chip.frequency.value", 0, "chip.frequency.value must be > 0"),
    ("epur", "epur.dpu_lanes.value", 2.5, "epur.dpu_lanes.value must be an integer"),
    ("epur", "chip.frequency.unit", "MHZ", "chip.frequency.unit='MHZ' is not a frequency unit"),
    ("epur", "chip.vdd.source", "", "chip.vdd.source must be a non-empty string"),
    (
        "epur",
        "chip.static_power",
        {"value": 0.15, "unit": "W", "source": "typed by hand"},
        "unknown key 'static_power'",
    ),
    ("epur", "dram.energy.low", _DELETE, "dram.energy: high given without low"),
    ("epur", "arith.int_mult.high", 3.0, "arith.int_mult: need low <= value <= high"),
    ("tpu", "dram.energy.low", -1, "dram.energy.low must be >= 0"),
    ("epur", "chip.vdd.basis", "guess", "chip.vdd.basis='guess' unknown"),
    (
        "epur",
        "epur.weight_buffer.read.bits",
        64,
        "epur.weight_buffer.read.bits=64 must equal epur.weight_buffer.width=256",
    ),
    ("epur", "epur.weight_buffer.cell", "sram", "epur.weight_buffer.cell='sram' unknown"),
    ("epur", "chip.node_scaling", "linear", "chip.node_scaling='linear' unknown"),
    ("epur", "epur.weight_residency", "cache", "epur.weight_residency='cache' unknown"),
    ("epur", "epur.sequences_at_once.value", 0, "epur.sequences_at_once.value must be > 0"),
    ("tpu", "tpu.projection_chunk_steps.value", 1.5, "tpu.projection_chunk_steps.value must be an integer"),
    ("epur", "area.gate.node_nm", _DELETE, "area.gate.node_nm is missing"),
    ("epur", "arith.int_add.bits", _DELETE, "arith.int_add.bits is missing"),
    ("tpu", "tpu.array_rows", _DELETE, "tpu.array_rows is missing"),
    ("epur", "epur.mac_time_rule", "magic", "epur.mac_time_rule='magic' unknown"),
    ("epur", "kind", "gpu", "kind='gpu' unknown"),
    ("epur", "dram.energy.node_nm", -45, "dram.energy.node_nm must be > 0 or null"),
    ("epur", "chip.node.value", "28", "chip.node.value must be a number"),
]


@pytest.mark.parametrize("name,path,value,msg", BAD, ids=[b[1] + "=" + repr(b[2]) for b in BAD])
def test_invalid_config_rejected(name, path, value, msg, raw_yaml):
    with pytest.raises(ValueError) as e:
        load_hw(_mutate(raw_yaml(name), path, value))
    text = str(e.value)
    assert msg in text and "\n" not in text


@pytest.mark.parametrize("path", ["frobnicate", "dram.latency", "epur.weight_buffer.ports", "chip.node.comment"])
def test_unknown_keys_rejected(path, raw_yaml):
    d = _mutate(raw_yaml("epur"), path, 1)
    with pytest.raises(ValueError, match=f"unknown key '{path.split('.')[-1]}'") as e:
        load_hw(d)
    assert "\n" not in str(e.value)


def test_other_kinds_section_rejected(raw_yaml):
    d = raw_yaml("epur")
    d["tpu"] = raw_yaml("tpu")["tpu"]
    with pytest.raises(ValueError, match="unknown key 'tpu'"):
        load_hw(d)


def test_unknown_name_and_missing_path():
    with pytest.raises(ValueError, match="unknown; packaged tables"):
        load_hw("tpu_v9")
    with pytest.raises(ValueError, match="does not exist"):
        load_hw("/nonexistent/hw.yaml")


# ---------------------------------------------------------------------------- ranges (sensitivity)
def test_estimate_without_range_refused(raw_yaml):
    d = raw_yaml("epur")
    del d["dram"]["energy"]["low"], d["dram"]["energy"]["high"]
    with pytest.raises(ValueError, match="dram.energy: an estimate needs low and high") as e:
        load_hw(d)
    assert "\n" not in str(e.value)
    d["dram"]["energy"]["basis"] = "measured"  # a measured number needs no range
    assert not load_hw(d).dram.energy.has_range


@pytest.mark.parametrize("name", ["epur", "tpu"])
def test_every_estimate_has_a_range_and_cacti_values_are_marked(name):
    hw = load_hw(name)
    for p in hw.params():
        if p.basis == "estimate":
            assert p.has_range and p.low <= p.value <= p.high, p.name
    for path, mem, _ in hw.memories():
        for f in ("read", "write", "leakage", "area", "access_time"):
            p = getattr(mem, f)
            assert p.basis == "cacti" and p.source.startswith("CACTI 7"), f"{path}.{f}"
    # no source points outside the repository
    assert not [p.name for p in hw.params() if "/work/" in p.source or "papers.md" in p.source]


@pytest.mark.parametrize("name", ["epur", "tpu"])
def test_uncertain_lists_every_ranged_number_in_file_order(name):
    hw = load_hw(name)
    unc = hw.uncertain()
    order = [p.name for p in hw.params()]
    assert [p.name for p in unc] == [n for n in order if n in {p.name for p in unc}]
    assert {p.name for p in unc} == {p.name for p in hw.params() if p.has_range}
    assert "dram.energy" in {p.name for p in unc} and "chip.node" not in {p.name for p in unc}
    assert all(p.low <= p.value <= p.high for p in unc)


def test_with_value_replaces_one_number_only():
    hw = load_hw("epur")
    lo = hw.with_value("dram.energy", hw.dram.energy.low)
    assert lo.dram.energy.value == hw.dram.energy.low and hw.dram.energy.value == 6
    before = {p.name: p.value for p in hw.params()}
    after = {p.name: p.value for p in lo.params()}
    assert {k for k in before if before[k] != after[k]} == {"dram.energy"}
    assert lo.with_value("dram.energy", 6) == hw  # round trip
    with pytest.raises(ValueError, match="no number at 'dram.energyy'") as e:
        hw.with_value("dram.energyy", 1.0)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="need low <= value <= high"):
        hw.with_value("dram.energy", 100.0)
