"""The price-table schema: frozen dataclasses that a YAML file in ``rnnaccel/conf/hw/`` must fill.

Every numeric leaf is a ``{value, unit, source}`` mapping (energies add ``node_nm`` and usually
``bits``); the field's metadata says which unit family it takes and whether it must be positive
or integral. Unknown keys, missing keys, wrong units, negative energies, zero frequency or
bandwidth are refused with a one-line ``ValueError`` that names the field.

``load_hw("epur")`` reads the packaged table; a path or a mapping (e.g. a hydra ``cfg.hw``) works
too. The YAML files are plain hydra config-group files (group ``hw``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Mapping


from ..configio import packaged, read_yaml_source
from .units import Param, Price, Spec, build_param, reject_unknown

__all__ = ["HwConfig", "Chip", "Dram", "Memory", "Arith", "ActivationUnit", "BnnUnit",
           "ControlUnit", "EpurArch", "TpuArch", "load_hw", "available_hw", "MAC_TIME_RULES"]

#: how DPU time per MAC depends on operand widths (see docs/cost_model.md, "MAC time")
MAC_TIME_RULES = ("weight_serial", "fused", "fixed")


def num(family: str, positive: bool = False, integer: bool = False):
    return field(metadata={"spec": Spec(family, positive, integer)})


def energy(bits: bool = True):
    return field(metadata={"spec": Spec("energy", price=True, bits=bits)})


def section(cls):
    return field(metadata={"section": cls})


def choice(options: tuple[str, ...]):
    return field(metadata={"choices": options})


@dataclass(frozen=True)
class Chip:
    node: Param = num("length", positive=True)  # technology node the chip is built in
    frequency: Param = num("frequency", positive=True)
    static_power: Param = num("power")  # leakage + clock tree, charged for the whole run time
    energy_node_exponent: Param = num("ratio")  # k in E(node) = E(ref) * (node/ref)^k


@dataclass(frozen=True)
class Dram:
    bandwidth: Param = num("bandwidth", positive=True)
    energy: Price = energy()  # per access of `bits`


@dataclass(frozen=True)
class Memory:
    capacity: Param = num("size", positive=True)
    read: Price = energy()  # per access of `bits`
    write: Price = energy()


@dataclass(frozen=True)
class Arith:
    int_mult: Price = energy()  # `bits` x `bits` multiplier
    int_add: Price = energy()  # `bits`-wide adder
    accumulator_bits: Param = num("bits", positive=True, integer=True)


@dataclass(frozen=True)
class ActivationUnit:
    ops_per_cycle: Param = num("ops_per_cycle", positive=True)  # whole chip
    segment_table_read: Price = energy()  # piecewise-linear segment table, per access of `bits`


@dataclass(frozen=True)
class BnnUnit:
    xnor_bits_per_cycle: Param = num("bits_per_cycle", positive=True)  # whole chip
    sign_weight_read: Price = energy()  # sign-weight (1 bit/weight) memory, per access of `bits`
    memo_buffer: Memory = section(Memory)
    memo_entry_bits: Param = num("bits", positive=True, integer=True)
    test_bits: Param = num("bits", positive=True, integer=True)


@dataclass(frozen=True)
class ControlUnit:
    ops_per_cycle: Param = num("ops_per_cycle", positive=True)
    compare_bits: Param = num("bits", positive=True, integer=True)
    counter_bits: Param = num("bits", positive=True, integer=True)


@dataclass(frozen=True)
class EpurArch:
    computation_units: Param = num("units", positive=True, integer=True)  # one per gate
    dpu_lanes: Param = num("lanes", positive=True, integer=True)  # multipliers per DPU
    base_width_bits: Param = num("bits", positive=True, integer=True)  # lane width, 1 MAC/cycle
    mac_time_rule: str = choice(MAC_TIME_RULES)
    partial_sum_bits: Param = num("bits", positive=True, integer=True)  # MWL partial sums
    weight_buffer: Memory = section(Memory)  # per computation unit
    input_buffer: Memory = section(Memory)  # per computation unit
    intermediate_memory: Memory = section(Memory)  # shared


@dataclass(frozen=True)
class TpuArch:
    array_rows: Param = num("rows", positive=True, integer=True)  # reduction (K) dimension
    array_cols: Param = num("lanes", positive=True, integer=True)  # output (N) dimension
    native_bits: Param = num("bits", positive=True, integer=True)
    acc_rows_per_pass: Param = num("rows", positive=True, integer=True)
    weight_shift_cycles: Param = num("cycles", positive=True, integer=True)
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
    arch: EpurArch | TpuArch

    def params(self) -> Iterator[Param]:
        """Every Param/Price of the table, in file order (for docs and provenance)."""
        for sec in (self.chip, self.dram, self.arith, self.activation, self.bnn, self.control, self.arch):
            yield from _walk(sec)

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
        common = ("chip", "dram", "arith", "activation", "bnn", "control")
        reject_unknown(d, ("kind", "name", kind) + common, label)
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{label}: name must be a non-empty string")
        types = {"chip": Chip, "dram": Dram, "arith": Arith, "activation": ActivationUnit,
                 "bnn": BnnUnit, "control": ControlUnit}
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
    return cls(**kw)


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
