"""Derived prices: node scaling by hand, read != write priced each its own way, static power is the
sum of its parts."""

import pytest

from rnnaccel.emulator.trace import Trace
from rnnaccel.hardware import estimate, load_hw
from rnnaccel.hardware.area import logic_area_mm2
from rnnaccel.hardware.pricing import PriceBook


def _poly(a, b, c, v):
    return a * v * v + b * v + c


def test_stillmaker_baas_scaling_by_hand():
    """45 nm at 0.9 V (Horowitz) -> 28 nm at the table's vdd: 28 nm lies 1/3 of the way from the
    32 nm to the 20 nm fit of Stillmaker & Baas; areas likewise from their 45 nm-relative factors."""
    hw = load_hw("epur")
    book = PriceBook(hw)
    v = hw.chip.vdd.value
    e45 = _poly(1.103, -0.362, 0.2767, 0.9)
    e28 = (2 / 3) * _poly(0.9559, -0.7823, 0.471, v) + (1 / 3) * _poly(0.373, -0.1582, 0.04104, v)
    assert book.energy_factor(45) == pytest.approx(e28 / e45, rel=1e-12)
    assert book.area_factor(45) == pytest.approx((2 / 3) * 0.46 + (1 / 3) * 0.21, rel=1e-12)
    assert book.energy_factor(28) == 1.0  # CACTI prices are computed at the chip's node
    m = hw.arith.int_mult
    assert book.mul_j(32, 32) == pytest.approx(m.value * 1e-12 * e28 / e45, rel=1e-12)
    # a lower supply lowers the factor
    assert PriceBook(hw.with_value("chip.vdd", 0.8)).energy_factor(45) < book.energy_factor(45)


def test_exponent_rule_is_the_option(raw_yaml):
    d = raw_yaml("epur")
    d["chip"]["node_scaling"] = "exponent"
    d["chip"]["energy_node_exponent"]["value"] = 1.2
    book = PriceBook(load_hw(d))
    assert book.energy_factor(45) == pytest.approx((28 / 45) ** 1.2, rel=1e-12)
    assert book.area_factor(45) == pytest.approx((28 / 45) ** 2, rel=1e-12)


def test_node_outside_the_table_refused(raw_yaml):
    d = raw_yaml("epur")
    d["chip"]["node"]["value"] = 5
    with pytest.raises(ValueError, match="outside the Stillmaker-Baas table"):
        PriceBook(load_hw(d)).energy_factor(45)


def _read_write(raw_yaml, read_pj, write_pj):
    d = raw_yaml("epur")
    wb = d["epur"]["weight_buffer"]
    wb["read"]["value"], wb["write"]["value"] = read_pj, write_pj
    return load_hw(d)


def test_read_and_write_priced_each_their_own_way(raw_yaml, make_lt, make_trace):
    """A weight buffer whose write costs 3x its read: reads of weight_bytes at the read price,
    the DRAM fill at the write price; swapping the two changes the bill."""
    hw = _read_write(raw_yaml, 100.0, 300.0)
    book = PriceBook(hw)
    bits = hw.arch.weight_buffer.width.value
    assert book.mem("epur.weight_buffer", hw.arch.weight_buffer, "read").joules == pytest.approx(100e-12 / (bits / 8))
    assert book.mem("epur.weight_buffer", hw.arch.weight_buffer, "write").joules == pytest.approx(300e-12 / (bits / 8))
    lt = make_lt("lstm", D=2, H=1, steps=2, active=1, mac__16x16=12, weight_bytes=32, act_bytes=6)
    rep = estimate(make_trace(lt), hw)
    by_price = {}
    for e in rep.provenance["sram"]:
        by_price.setdefault(e["price"], []).append(e)
    reads, writes = by_price["epur.weight_buffer.read"], by_price["epur.weight_buffer.write"]
    assert all(e["price_value"] == pytest.approx(100e-12 / (bits / 8)) for e in reads)
    assert all(e["price_value"] == pytest.approx(300e-12 / (bits / 8)) for e in writes)
    swapped = estimate(make_trace(lt), _read_write(raw_yaml, 300.0, 100.0))
    read_bytes = sum(e["count_value"] for e in reads)
    write_bytes = sum(e["count_value"] for e in writes)
    assert read_bytes != write_bytes  # otherwise a swap could not show
    delta = swapped.energy_j["sram"] - rep.energy_j["sram"]
    assert delta == pytest.approx(200e-12 / (bits / 8) * (read_bytes - write_bytes), rel=1e-9)


@pytest.mark.parametrize("name", ["epur", "tpu"])
def test_static_power_is_the_sum_of_its_parts(name):
    hw = load_hw(name)
    book = PriceBook(hw)
    mems = sum(m.leakage.value * 1e-3 * n for _, m, n in hw.memories())  # leakage in mW
    logic = logic_area_mm2(hw) * hw.chip.logic_leakage.value * 1e-3  # mW/mm2
    assert book.static().joules == pytest.approx(mems + logic, rel=1e-12)
    assert [n for n, _, _ in book.static_parts()] == [p + ".leakage" for p, _, _ in hw.memories()] + ["logic"]
    src = book.static().source
    assert all(p in src for p, _, _ in hw.memories()) and "logic" in src
    if name == "epur":  # one weight buffer and one input buffer per computation unit
        n = dict((p, k) for p, _, k in hw.memories())
        assert n["epur.weight_buffer"] == n["epur.input_buffer"] == hw.arch.computation_units.value == 4
    # more logic leakage or a leakier memory raises static power
    assert (
        PriceBook(hw.with_value("chip.logic_leakage", hw.chip.logic_leakage.high)).static().joules
        > book.static().joules
    )
    assert estimate(Trace(), hw).energy_j["static"] == 0.0
