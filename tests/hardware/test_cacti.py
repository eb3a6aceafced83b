"""The CACTI driver: config generation, stdout parsing and the YAML rewrite need no binary; a run
on one small memory and the cached table values against a fresh run skip (with the reason) when
the CACTI binary (extra hwtools, zigzag-dse) is absent."""

import pytest
import yaml

from rnnaccel.hardware import cacti, load_hw
from rnnaccel.hardware.cacti import CactiError, MemorySpec, config_text, parse_output, run_cacti, spec_of

SMALL = MemorySpec(8192, 64, 1, 32, "itrs-lstp", "itrs-lop")
TEMPLATE = (
    "// c\n-size (bytes) 16384\n-block size (bytes) 16\n-output/input bus width 128\n"
    '-UCA bank count 1\n-technology (u) 0.022\n-cache type "cache"\n'
    '-Data array cell type - "itrs-hp"\n-Data array peripheral type - "itrs-hp"\n-Core count 8\n'
)
STDOUT = """---------- CACTI (version 7.0.3DD Prerelease of Aug, 2012), Uniform Cache Access SRAM Model
    Access time (ns): 0.5
    Cycle time (ns):  0.4
    Total dynamic read energy per access (nJ): 0.002
    Total dynamic write energy per access (nJ): 0.003
    Total leakage power of a bank (mW): 0.25
    Total gate leakage power of a bank (mW): 0.05
    Cache height x width (mm): 0.2 x 0.1
"""
NEEDS_CACTI = pytest.mark.skipif(
    cacti.cacti_dir() is None, reason="CACTI binary absent: install the hwtools extra (zigzag-dse)"
)


def test_config_replaces_exactly_the_keys():
    cfg = config_text(MemorySpec(4096, 32, 2, 28, "itrs-lstp", "itrs-lop"), TEMPLATE)
    lines = cfg.splitlines()
    for want in (
        "-size (bytes) 4096",
        "-block size (bytes) 4",
        "-output/input bus width 32",
        "-UCA bank count 2",
        "-technology (u) 0.028",
        '-cache type "ram"',
        '-Data array cell type - "itrs-lstp"',
        '-Data array peripheral type - "itrs-lop"',
        "-Core count 8",
        "// c",
    ):
        assert want in lines
    assert len(lines) == len(TEMPLATE.splitlines())
    with pytest.raises(CactiError, match="lacks the key"):
        config_text(SMALL, "-size (bytes) 1\n")
    with pytest.raises(ValueError, match="whole bytes"):
        config_text(MemorySpec(4096, 12, 1, 28, "itrs-hp", "itrs-hp"), TEMPLATE)


def test_parse_scales_leakage_by_banks_and_checks_the_text():
    two = MemorySpec(8192, 64, 2, 32, "itrs-lstp", "itrs-lop")
    r = parse_output(STDOUT, two)
    assert r.read_j == pytest.approx(2e-12) and r.write_j == pytest.approx(3e-12)
    assert r.leakage_w == pytest.approx(2 * 0.30e-3)  # (subthreshold + gate) per bank x 2 banks
    assert r.area_mm2 == pytest.approx(0.02) and r.access_s == pytest.approx(0.5e-9)
    assert r.version.startswith("7.0.3DD")
    with pytest.raises(CactiError, match="invalid technology node"):
        parse_output("Invalid technology nodes\n", SMALL)
    with pytest.raises(CactiError, match="printed no"):
        parse_output("ERROR: no valid data array organizations found\n", SMALL)


def test_yaml_rewrite_touches_only_the_named_lines(raw_yaml):
    text = "# top\na:\n  m:  # comment\n    read: {value: 1}\n    keep: {value: 2}\n  n:\n    read: {value: 3}\n"
    out = cacti.update_yaml_text(text, {"a.m.read": "{value: 9}"})
    assert out == text.replace("read: {value: 1}", "read: {value: 9}")
    with pytest.raises(ValueError, match="no line for a.x.read"):
        cacti.update_yaml_text(text, {"a.x.read": "{value: 9}"})


def test_cli_without_binary_says_so_and_keeps_the_table(monkeypatch, capsys):
    from importlib import resources

    f = resources.files("rnnaccel.conf") / "hw" / "epur.yaml"
    before = f.read_text()
    monkeypatch.setattr(cacti, "cacti_dir", lambda: None)
    assert cacti.main(["--hw", "epur"]) == 1
    err = capsys.readouterr().err.strip()
    assert "CACTI not found" in err and "cached values" in err and "\n" not in err
    assert f.read_text() == before
    assert cacti.main(["--hw", "gpu"]) == 2


@NEEDS_CACTI
def test_driver_on_one_small_memory():
    r = run_cacti(SMALL)
    assert 0 < r.read_j < 1e-9 and 0 < r.write_j < 1e-9 and r.leakage_w > 0 and r.area_mm2 > 0
    assert 0 < r.access_s < 1e-8 and r.version.startswith("7.")
    two = run_cacti(MemorySpec(16384, 64, 2, 32, "itrs-lstp", "itrs-lop"))
    assert two.leakage_w > r.leakage_w
    with pytest.raises(CactiError, match="invalid technology node"):
        run_cacti(MemorySpec(8192, 64, 1, 5, "itrs-lstp", "itrs-lop"))


@NEEDS_CACTI
@pytest.mark.parametrize("name,path", [("epur", "epur.input_buffer"), ("tpu", "tpu.weight_fifo")])
def test_cached_table_values_equal_a_fresh_run(name, path):
    hw = load_hw(name)
    mem = dict((p, m) for p, m, _ in hw.memories())[path]
    fresh = run_cacti(spec_of(mem, hw.chip.node.value)).values()
    for field, v in fresh.items():
        assert getattr(mem, field).value == pytest.approx(v, rel=1e-4), (
            f"{path}.{field}: rerun python -m rnnaccel.hardware.cacti --hw {name}"
        )
    assert (
        yaml.safe_load(
            cacti.memory_lines(run_cacti(spec_of(mem, hw.chip.node.value)), mem.width.value, hw.chip.node.value)["read"]
        )["basis"]
        == "cacti"
    )
