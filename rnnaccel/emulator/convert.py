"""Put any model's recurrent modules on the datapath: :func:`convert`, :func:`set_mode`,
:func:`recurrent_modules`.

:func:`convert` walks an ``nn.Module`` (nested modules, ``ModuleList``, ``Sequential``,
``ModuleDict``, plain attributes) and replaces every ``torch.nn`` ``LSTM``, ``GRU``, ``RNN``,
``LSTMCell``, ``GRUCell`` and ``RNNCell`` by the emulator module of the same name
(``Cls.from_torch``: same weights, same ``batch_first``, same device and dtype, same
train/eval state). Nothing is skipped silently: the returned :class:`ConversionReport` lists what
was converted (qualified name, types, shapes and options) and, with the reason, every
recurrent-like module that was not:

- a module whose type *subclasses* a supported ``torch.nn`` type, ``nn.RNNBase`` or
  ``nn.RNNCellBase`` without being exactly one of them (its ``forward`` may differ);
- a module whose class name contains ``LSTM``, ``GRU``, ``RNN`` or ``Cell`` and that holds no
  supported recurrent module itself (a hand-written cell: its own ``forward`` keeps running in
  float on the host). A wrapper such as ``EncoderRNN`` whose inner ``nn.GRU`` is converted is a
  container, not a refusal;
- a supported module whose options the datapath refuses (``from_torch`` says why).

``convert(..., strict=True)`` raises instead of returning a report with refusals.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import RnnaccelError
from .layers import MODES

__all__ = [
    "SUPPORTED",
    "ConversionReport",
    "Converted",
    "NotConverted",
    "convert",
    "set_mode",
    "recurrent_modules",
    "is_emulator_module",
    "emulator_class",
]

#: the torch.nn types replaced, each by the rnnaccel.emulator class of the same name
SUPPORTED = ("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell")
_RECURRENT_WORDS = ("LSTM", "GRU", "RNN", "CELL")
_OPTIONS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "bidirectional", "proj_size")


@dataclass
class Converted:
    """One replaced module."""

    name: str  # qualified name in the model ("" for the model itself)
    torch_type: str
    emulator_type: str
    options: dict[str, Any]
    parameters: int
    note: str = ""


@dataclass
class NotConverted:
    """A recurrent-like module left as it was, and why."""

    name: str
    type: str
    reason: str


@dataclass
class ConversionReport:
    """What :func:`convert` did. Iterating gives the :class:`Converted` entries."""

    converted: list[Converted] = field(default_factory=list)
    not_converted: list[NotConverted] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # emulator modules found in the model as they were
    mode: str = "float"

    def __iter__(self):
        return iter(self.converted)

    def __len__(self) -> int:
        return len(self.converted)

    def __getitem__(self, i: int) -> Converted:
        return self.converted[i]

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "converted": [asdict(c) for c in self.converted],
            "not_converted": [asdict(n) for n in self.not_converted],
            "already": list(self.already),
        }

    def __str__(self) -> str:
        lines = [f"converted {len(self.converted)} recurrent module(s) to the datapath (mode {self.mode})"]
        for c in self.converted:
            opts = ", ".join(f"{k}={v}" for k, v in c.options.items())
            note = f"  [{c.note}]" if c.note else ""
            lines.append(f"  {c.name or '<model>'}: {c.torch_type} -> {c.emulator_type}({opts}){note}")
        if self.already:
            lines.append(f"already on the datapath: {', '.join(n or '<model>' for n in self.already)}")
        if self.not_converted:
            lines.append(f"NOT converted ({len(self.not_converted)}): they keep running in float on the host")
            for n in self.not_converted:
                lines.append(f"  {n.name or '<model>'}: {n.type}: {n.reason}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- lookups
def emulator_class(torch_type: str) -> Any:
    """The emulator class for a supported ``torch.nn`` type name, or None while it does not exist."""
    import rnnaccel.emulator as emulator  # the package namespace, read at call time (no import circle)

    cls = getattr(emulator, torch_type, None)
    return cls if isinstance(cls, type) and hasattr(cls, "from_torch") else None


def is_emulator_module(m: nn.Module) -> bool:
    """An emulator recurrent module (it has a datapath and a mode)."""
    t = type(m)
    return t.__module__.startswith("rnnaccel.emulator") and hasattr(t, "from_torch") and hasattr(m, "datapath")


def _supported_torch_type(m: nn.Module) -> str | None:
    """The type name when ``type(m)`` is exactly one of torch.nn's supported recurrent classes."""
    t = type(m)
    return t.__name__ if t.__name__ in SUPPORTED and t is getattr(nn, t.__name__) else None


def _refusal(m: nn.Module) -> str | None:
    """Why ``m`` is recurrent-like but not convertible, or None when it is not recurrent-like
    (or is an exact supported type)."""
    if _supported_torch_type(m) is not None or is_emulator_module(m):
        return None
    t = type(m)
    base = next((b for b in (nn.RNNBase, nn.RNNCellBase) if isinstance(m, b)), None)
    if base is not None:
        return (
            f"subclasses torch.nn.{base.__name__} but is not exactly one of torch.nn {', '.join(SUPPORTED)}; "
            "its forward may differ, so it is not replaced"
        )
    if any(w in t.__name__.upper() for w in _RECURRENT_WORDS) and not _holds_supported(m):
        return (
            "a custom recurrent-like module (its class name says so) holding no torch.nn recurrent module: "
            "its own forward keeps running in float; rebuild it from rnnaccel.emulator cells to emulate it"
        )
    return None


def _holds_supported(m: nn.Module) -> bool:
    return any(_supported_torch_type(s) or is_emulator_module(s) for s in m.modules() if s is not m)


def _options(m: nn.Module) -> dict[str, Any]:
    out = {k: getattr(m, k) for k in _OPTIONS if hasattr(m, k)}
    if getattr(m, "nonlinearity", None) is not None:
        out["nonlinearity"] = m.nonlinearity
    if out.get("proj_size") == 0:
        del out["proj_size"]
    return out


def _placement(m: nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    p = next(iter(m.parameters()), None)
    return (p.device, p.dtype) if p is not None else (None, None)


# ---------------------------------------------------------------------------------------- convert
def _datapath_for(datapath, name: str):
    """``datapath``: None, a config (or per-layer list) for every module, or ``{qualified name: config}``."""
    if isinstance(datapath, dict):
        return datapath.get(name)
    return datapath


def _convert_one(m: nn.Module, name: str, mode: str, datapath) -> tuple[nn.Module | None, Converted | NotConverted]:
    tname = type(m).__name__
    cls = emulator_class(tname)
    if cls is None:
        return None, NotConverted(name, f"torch.nn.{tname}", f"rnnaccel.emulator has no {tname} (not supported yet)")
    kw: dict[str, Any] = {"mode": mode}
    dp = _datapath_for(datapath, name)
    if dp is not None:
        kw["datapath"] = dp
    try:
        new = cls.from_torch(m, **kw)
    except (ValueError, TypeError) as e:  # RnnaccelError is a ValueError
        return None, NotConverted(name, f"torch.nn.{tname}", f"refused by the datapath: {e}")
    device, dtype = _placement(m)
    if device is not None:
        new = new.to(device=device, dtype=dtype)
    new.train(m.training)
    hooks = [k for k in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks") if getattr(m, k, None)]
    note = f"hooks of the torch module not carried over: {', '.join(hooks)}" if hooks else ""
    entry = Converted(
        name,
        f"torch.nn.{tname}",
        f"rnnaccel.emulator.{type(new).__name__}",
        _options(m),
        sum(p.numel() for p in m.parameters()),
        note,
    )
    return new, entry


def convert(
    model: nn.Module,
    mode: str = "float",
    datapath=None,
    inplace: bool = False,
    strict: bool = False,
) -> tuple[nn.Module, ConversionReport]:
    """Replace every supported ``torch.nn`` recurrent module of ``model`` by its emulator twin.

    ``mode``: the emulator modules' mode (``"float"``, ``"fakequant"``, ``"emulate"``).
    ``datapath``: None (the default formats), a :class:`DatapathConfig` (or per-layer list) for every
    module, or ``{qualified name: config}``. ``inplace=False`` converts a deep copy. A module
    shared under several names is converted once and stays shared. ``strict``: raise
    :class:`RnnaccelError` when anything recurrent-like is not converted. Returns
    ``(model, report)``; when ``model`` itself is a supported torch module the emulator module is
    returned.
    """
    if mode not in MODES:
        raise RnnaccelError(f"convert: mode={mode!r} unknown; choose one of {', '.join(MODES)}")
    if not isinstance(model, nn.Module):
        raise RnnaccelError(f"convert: expected a torch.nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    report = ConversionReport(mode=mode)
    done: dict[int, nn.Module] = {}
    root = _visit(model, "", mode, datapath, report, done)
    if strict and report.not_converted:
        first = report.not_converted[0]
        raise RnnaccelError(
            f"convert(strict=True): {len(report.not_converted)} recurrent-like module(s) not converted, "
            f"first {first.name or '<model>'} ({first.type}): {first.reason}"
        )
    return root, report


def _visit(m: nn.Module, name: str, mode: str, datapath, report: ConversionReport, done: dict[int, nn.Module]):
    """Convert ``m`` (returned replaced) or recurse into its children, replacing them on ``m``."""
    if id(m) in done:
        return done[id(m)]
    if is_emulator_module(m):
        report.already.append(name)
        done[id(m)] = m
        return m
    if _supported_torch_type(m) is not None:
        new, entry = _convert_one(m, name, mode, datapath)
        if new is None:
            assert isinstance(entry, NotConverted)
            report.not_converted.append(entry)
            new = m
        else:
            assert isinstance(entry, Converted)
            report.converted.append(entry)
        done[id(m)] = new
        return new
    reason = _refusal(m)
    if reason is not None:
        report.not_converted.append(NotConverted(name, f"{type(m).__module__}.{type(m).__qualname__}", reason))
    done[id(m)] = m
    for child_name, child in list(m.named_children()):
        new = _visit(child, f"{name}.{child_name}" if name else child_name, mode, datapath, report, done)
        if new is not child:
            setattr(m, child_name, new)
    return m


# ---------------------------------------------------------------------------------------- modes
def recurrent_modules(model: nn.Module) -> list[tuple[str, Any]]:
    """``(qualified name, module)`` of every emulator recurrent module of ``model`` (each once)."""
    return [(n, m) for n, m in model.named_modules() if is_emulator_module(m)]


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    """Switch every emulator module of ``model`` to ``"float"``, ``"fakequant"`` or ``"emulate"``.
    Refused when the model has none (convert it first). Returns ``model``."""
    if mode not in MODES:
        raise RnnaccelError(f"set_mode: mode={mode!r} unknown; choose one of {', '.join(MODES)}")
    mods = recurrent_modules(model)
    if not mods:
        raise RnnaccelError(
            f"set_mode: {type(model).__name__} holds no rnnaccel.emulator module; run rnnaccel.convert(model) first"
        )
    for _, m in mods:
        m.mode = mode
    return model
