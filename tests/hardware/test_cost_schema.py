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
    ("epur", "chip.static_power.source", "", "chip.static_power.source must be a non-empty string"),
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


@pytest.mark.parametrize("path", ["frobnicate", "dram.latency", "epur.weight_buffer.banks",
                                  "chip.node.comment"])
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
