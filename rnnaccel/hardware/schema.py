"""The price-table schema: frozen dataclasses that a YAML file in ``rnnaccel/conf/hw/`` must fill.

Every numeric leaf is a ``{value, unit, source}`` mapping (energies and per-unit areas add
``node_nm`` and usually ``bits``; estimates add ``low``/``high``, see :mod:`.units`); the field's
metadata says which unit family it takes, whether it must be positive or integral, and whether it
describes the design (no range required). Unknown keys, missing keys, wrong units, negative
energies, zero frequency or bandwidth, an estimate without a range are refused with a one-line
``ValueError`` that names the field. Memory sections hold their CACTI outputs
(``python -m rnnaccel.hardware.cacti``); :meth:`HwConfig.memories` lists them with their instance
counts, :meth:`HwConfig.uncertain` the numbers with a range, :meth:`HwConfig.with_value` replaces one.

``load_hw("epur")`` reads the packaged table; a path or a mapping (e.g. a hydra ``cfg.hw``) works
too. The YAML files are plain hydra config-group files (group ``hw``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Mapping


from ..configio import packaged, read_yaml_source
from .units import Param, Price, Spec, build_param, reject_unknown

__all__ = [
    "HwConfig",
    "Chip",
    "Dram",
    "Memory",
    "Arith",
    "ActivationUnit",
    "BnnUnit",
    "ControlUnit",
    "AreaFigures",
    "EpurArch",
    "TpuArch",
    "load_hw",
    "available_hw",
    "MAC_TIME_RULES",
    "NODE_SCALING",
    "CELL_TYPES",
    "PERIPHERY_TYPES",
    "WEIGHT_RESIDENCY",
]

#: how DPU time per MAC depends on operand widths (see docs/cost_model.md, "MAC time")
MAC_TIME_RULES = ("bit_parallel", "bit_serial", "fixed")  # rnnaccel/hardware/mac.py
#: how 45 nm logic energies and areas reach the chip's node (docs/cost_model.md §2, pricing.py)
NODE_SCALING = ("stillmaker2017", "exponent")
#: CACTI 7 data-array cell and peripheral transistor types
CELL_TYPES = ("itrs-hp", "itrs-lstp", "itrs-lop", "lp-dram", "comm-dram")
PERIPHERY_TYPES = ("itrs-hp", "itrs-lstp", "itrs-lop")
#: where an E-PUR layer's weights live: auto = whole network when it fits, else per layer, else streamed
WEIGHT_RESIDENCY = ("auto", "network", "layer", "stream")


def num(family: str, positive: bool = False, integer: bool = False, design: bool = False):
    return field(metadata={"spec": Spec(family, positive, integer, design=design)})


def design(family: str, positive: bool = True, integer: bool = False):
    """A field that describes the design (node, clock, sizes, counts): no range required."""
    return num(family, positive, integer, design=True)


def energy(bits: bool = True):
    return field(metadata={"spec": Spec("energy", price=True, bits=bits)})


def area_price(bits: bool = True):
    return field(metadata={"spec": Spec("area", positive=True, price=True, bits=bits)})


def section(cls):
    return field(metadata={"section": cls})


def choice(options: tuple[str, ...]):
    return field(metadata={"choices": options})


@dataclass(frozen=True)
class Chip:
    node: Param = design("length")  # technology node the chip is built in
    frequency: Param = design("frequency")
    vdd: Param = num("voltage", positive=True)  # logic supply at `node` (Stillmaker-Baas scaling)
    node_scaling: str = choice(NODE_SCALING)  # rule that brings 45 nm logic prices to `node`
    energy_node_exponent: Param = num("ratio")  # k in E(node) = E(ref) * (node/ref)^k ("exponent" rule)
    logic_leakage: Param = num("power_density")  # logic static power per mm^2 of logic at `node`


@dataclass(frozen=True)
class Dram:
    bandwidth: Param = design("bandwidth")
    energy: Price = energy()  # per access of `bits`


@dataclass(frozen=True)
class Memory:
    """One on-chip SRAM (one instance; an accelerator may hold several, see HwConfig.memories).
    The first five fields describe it (the CACTI input); the last five are its CACTI outputs."""

    capacity: Param = design("size")
    width: Param = design("bits", integer=True)  # bits per access (CACTI output/input bus width)
    banks: Param = design("banks", integer=True)  # independently accessed banks (CACTI UCA banks)
    cell: str = choice(CELL_TYPES)  # CACTI data-array cell type
    periphery: str = choice(PERIPHERY_TYPES)  # CACTI data-array peripheral type
    read: Price = energy()  # per access of `bits` (= width)
    write: Price = energy()
    leakage: Param = num("power")  # static power of the whole memory (all banks)
    area: Param = num("area", positive=True)  # mm^2, all banks
    access_time: Param = num("time", positive=True)


@dataclass(frozen=True)
class Arith:
    int_mult: Price = energy()  # `bits` x `bits` multiplier
    int_add: Price = energy()  # `bits`-wide adder
    accumulator_bits: Param = design("bits", integer=True)


@dataclass(frozen=True)
class ActivationUnit:
    ops_per_cycle: Param = design("ops_per_cycle")  # whole chip
    segment_table: Memory = section(Memory)  # piecewise-linear coefficients, one bank per unit


@dataclass(frozen=True)
class BnnUnit:
    xnor_bits_per_cycle: Param = design("bits_per_cycle")  # whole chip
    sign_weights: Memory = section(Memory)  # sign-weight (1 bit/weight) store
    memo_buffer: Memory = section(Memory)
    memo_entry_bits: Param = design("bits", integer=True)
    test_bits: Param = design("bits", integer=True)


@dataclass(frozen=True)
class ControlUnit:
    ops_per_cycle: Param = design("ops_per_cycle")
    compare_bits: Param = design("bits", integer=True)
    counter_bits: Param = design("bits", integer=True)


@dataclass(frozen=True)
class AreaFigures:
    """Per-unit logic areas (rnnaccel/hardware/area.py); measured at `node_nm`, scaled like energies."""

    int_mult: Price = area_price()  # `bits` x `bits` multiplier
    int_add: Price = area_price()  # `bits`-wide adder
    flop: Price = area_price(bits=False)  # one flip-flop (pipeline / operand register bit)
    gate: Price = area_price(bits=False)  # one NAND2-equivalent gate
    control_gates: Param = num("gates", positive=True, integer=True)  # sequencer, decoders, DMA
    multiwidth_overhead: Param = num("ratio")  # extra MAC area for 8/4-bit modes (dynamic precision)
    layout_overhead: Param = num("ratio", positive=True)  # placed logic / cell area (wiring, utilisation)


@dataclass(frozen=True)
class EpurArch:
    computation_units: Param = design("units", integer=True)  # one per gate
    dpu_lanes: Param = design("lanes", integer=True)  # multipliers per DPU
    base_width_bits: Param = design("bits", integer=True)  # lane width, 1 MAC/cycle
    mac_time_rule: str = choice(MAC_TIME_RULES)
    partial_sum_bits: Param = design("bits", integer=True)  # MWL partial sums
    sequences_at_once: Param = design("sequences", integer=True)  # sequences in flight
    weight_residency: str = choice(WEIGHT_RESIDENCY)
    mwl_steps: Param = num("steps", positive=True, integer=True)  # input projections per weight load
    weight_buffer: Memory = section(Memory)  # per computation unit
    input_buffer: Memory = section(Memory)  # per computation unit
    intermediate_memory: Memory = section(Memory)  # shared


@dataclass(frozen=True)
class TpuArch:
    array_rows: Param = design("rows", integer=True)  # reduction (K) dimension
    array_cols: Param = design("lanes", integer=True)  # output (N) dimension
    native_bits: Param = design("bits", integer=True)
    acc_rows_per_pass: Param = design("rows", integer=True)
    weight_shift_cycles: Param = design("cycles", integer=True)
    projection_chunk_steps: Param = design("steps", integer=True)  # steps per batched input GEMM
    unified_buffer: Memory = section(Memory)
    accumulators: Memory = section(Memory)
    weight_fifo: Memory = section(Memory)


ARCH = {"epur": EpurArch, "tpu": TpuArch}


@dataclass(frozen=True)
class HwConfig:
    """A validated price table. ``arch`` is an :class:`EpurArch` or a :class:`TpuArch`."""

    kind: str
    name: str
    chip: Chip
    dram: Dram
    arith: Arith
    activation: ActivationUnit
    bnn: BnnUnit
    control: ControlUnit
    area: AreaFigures
    arch: EpurArch | TpuArch

    def params(self) -> Iterator[Param]:
        """Every Param/Price of the table, in file order (for docs and provenance)."""
        for sec in (self.chip, self.dram, self.arith, self.activation, self.bnn, self.control, self.area, self.arch):
            yield from _walk(sec)

    def uncertain(self) -> list[Param]:
        """Every number with a sensitivity range (``low``/``high``), in file order."""
        return [p for p in self.params() if p.has_range]

    def with_value(self, path: str, value: float) -> "HwConfig":
        """A validated copy with the number at dotted ``path`` (e.g. ``"dram.energy"``) set to
        ``value``; an unknown path is refused with one line."""
        names = {p.name for p in self.params()}
        if path not in names:
            raise ValueError(
                f"hw {self.kind}: no number at {path!r}; "
                f"paths look like 'dram.energy' (see HwConfig.uncertain() or docs/cost_model.md §9)"
            )
        d = self.to_dict()
        node = d
        for k in path.split("."):
            node = node[k]
        node["value"] = value
        return HwConfig.from_dict(d, f"hw {self.kind} with {path}={value!r}")

    def memories(self) -> list[tuple[str, Memory, int]]:
        """``(path, memory, instances)`` for every on-chip memory. E-PUR has one weight buffer and
        one input buffer per computation unit; every other memory is one instance (its banks
        model parallel copies)."""
        mems = [
            (f"{self.kind}.{f.name}", getattr(self.arch, f.name))
            for f in fields(self.arch)
            if isinstance(getattr(self.arch, f.name), Memory)
        ]
        mems += [
            ("bnn.memo_buffer", self.bnn.memo_buffer),
            ("bnn.sign_weights", self.bnn.sign_weights),
            ("activation.segment_table", self.activation.segment_table),
        ]
        per_cu = {"epur.weight_buffer", "epur.input_buffer"}
        cus = self.arch.computation_units.value if self.kind == "epur" else 1
        return [(p, m, cus if p in per_cu else 1) for p, m in mems]

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        for f in fields(self):
            if f.name in ("kind", "name"):
                continue
            out[self.kind if f.name == "arch" else f.name] = _to_dict(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], label: str = "hw") -> "HwConfig":
        if hasattr(d, "_content"):  # an OmegaConf DictConfig (hydra's cfg.hw)
            from omegaconf import OmegaConf

            d = OmegaConf.to_container(d, resolve=True)
        if not isinstance(d, Mapping):
            raise ValueError(f"{label}: expected a mapping, got {type(d).__name__}")
        kind = d.get("kind")
        if kind not in ARCH:
            raise ValueError(f"{label}: kind={kind!r} unknown; choose one of {', '.join(ARCH)}")
        label = f"{label} ({kind})"
        common = ("chip", "dram", "arith", "activation", "bnn", "control", "area")
        reject_unknown(d, ("kind", "name", kind) + common, label)
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{label}: name must be a non-empty string")
        types = {
            "chip": Chip,
            "dram": Dram,
            "arith": Arith,
            "activation": ActivationUnit,
            "bnn": BnnUnit,
            "control": ControlUnit,
            "area": AreaFigures,
        }
        parts = {k: _build(types[k], _need(d, k, label), k, label) for k in common}
        arch = _build(ARCH[kind], _need(d, kind, label), kind, label)
        return cls(kind=kind, name=name.strip(), arch=arch, **parts)


def _need(d: Mapping, key: str, label: str) -> Any:
    if key not in d:
        raise ValueError(f"{label}: section {key!r} is missing")
    return d[key]


def _build(cls, d: Any, path: str, label: str):
    if not isinstance(d, Mapping):
        raise ValueError(f"{label}: {path} must be a mapping, got {d!r}")
    reject_unknown(d, [f.name for f in fields(cls)], f"{label}: {path}")
    kw = {}
    for f in fields(cls):
        p = f"{path}.{f.name}"
        if f.name not in d:
            raise ValueError(f"{label}: {p} is missing")
        v = d[f.name]
        if "spec" in f.metadata:
            kw[f.name] = build_param(v, f.metadata["spec"], p, label)
        elif "section" in f.metadata:
            kw[f.name] = _build(f.metadata["section"], v, p, label)
        else:
            opts = f.metadata["choices"]
            if v not in opts:
                raise ValueError(f"{label}: {p}={v!r} unknown; choose one of {', '.join(opts)}")
            kw[f.name] = v
    obj = cls(**kw)
    if isinstance(obj, Memory):
        _check_memory(obj, path, label)
    return obj


def _check_memory(m: Memory, path: str, label: str) -> None:
    """A memory's read/write prices are per access of its width."""
    for op in ("read", "write"):
        p = getattr(m, op)
        if p.bits != m.width.value:
            raise ValueError(
                f"{label}: {path}.{op}.bits={p.bits} must equal {path}.width={m.width.value} "
                f"(prices are per access of the memory's width)"
            )


def _walk(obj) -> Iterator[Param]:
    for f in fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, Param):
            yield v
        elif hasattr(v, "__dataclass_fields__"):
            yield from _walk(v)


def _to_dict(obj) -> Any:
    if isinstance(obj, Param):
        return obj.to_dict()
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _to_dict(getattr(obj, f.name)) for f in fields(obj)}
    return obj


def available_hw() -> list[str]:
    """Names of the packaged price tables (``rnnaccel/conf/hw/*.yaml``)."""
    return packaged("hw")


def load_hw(src: "str | Path | Mapping | HwConfig") -> HwConfig:
    """A validated :class:`HwConfig` from a packaged name (``"epur"``, ``"tpu"``), a YAML path, a
    mapping or a hydra DictConfig."""
    if isinstance(src, HwConfig):
        return src
    if not isinstance(src, (str, Path)):
        return HwConfig.from_dict(src)
    data, label = read_yaml_source("hw", src, "hw", noun="tables")
    return HwConfig.from_dict(data, label)
