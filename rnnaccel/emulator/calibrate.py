"""Post-training calibration of any model's emulator modules: :func:`calibrate`.

1. **Record.** The model runs in float on calibration batches (``model(batch)``, or a
   ``forward(model, batch)`` callable, e.g. a decoder loop calling a cell once per token). While it
   runs, every emulator module's float recurrence reports each tensor class it stores, per layer:

   =========  ===============================================================================
   weight     all entries of ``W_ih`` and ``W_hh`` (every direction)
   bias       the biases *as the datapath merges them* (:func:`merged_biases`)
   input      the layer's input vectors (layer 0: what the caller passed; layer l > 0: the outputs
              of layer l-1)
   hidden     ``h_t``, and the initial state ``h_0`` the caller passed (decoders)
   cell       LSTM ``c_t`` and ``c_0``
   preact     gate pre-activations (GRU: also ``x_n``, ``h_n`` and ``x_n + r*h_n``)
   act        activation outputs (|.| <= 1)
   =========  ===============================================================================

   Calls of one module accumulate into the same statistics (largest magnitude and a histogram of
   powers of two, from which the saturation rate of any format follows). The calls themselves are
   kept (a deterministic, evenly spaced sample of ``sample_calls`` per module) with their float
   outputs.

2. **Cover.** Per class the format of ``bits`` bits with the most fractional bits that covers the
   observed maximum (:func:`best_format`); ``hidden`` and ``act`` stay ``Q<bits>.<bits-1>`` unless
   the hidden state reaches 1 (ReLU cells, projections). Layers after the first read their input in
   the previous layer's hidden format. :class:`DatapathConfig`'s validity rules are enforced
   (bias/preact fraction <= accumulator fraction, :meth:`DatapathConfig.check_gemm`, the
   accumulator must hold the observed pre-activations).

3. **Search** (``search=True``). Covering the largest value is not always best: a few rare peaks
   can cost every other value fraction bits. Greedily, layer by layer and class by class (``input``
   of layer 0, ``preact``, ``cell``, and ``hidden`` when it reaches 1), fraction widths ``cover ..
   cover + extra_frac`` are tried and the one with the smallest RMS error of the module's output
   against float, measured by re-running the recorded calls in ``measure`` mode (``"emulate"``:
   the integer datapath, tables included; ``"fakequant"``: faster, exact activation functions), is
   kept. Ties keep the wider format.

4. **Activation tables** (``tables=True``). For every candidate, ``act_index_bits`` is the smallest
   table resolution whose largest error over every input of the unit (sigmoid/tanh over the
   ``preact`` format, LSTM tanh over the ``cell`` format) is at most one LSB of the ``act`` format:
   half an LSB is the act format's own rounding, so the table adds at most as much again
   (:func:`table_index_bits`).

The chosen configs are applied to the modules (``apply=True``) and returned in a
:class:`CalibrationReport` (per module and layer: formats, observed maxima, headroom, expected
saturation rate on the calibration data, output RMS error vs float; ``str()`` and ``to_dict()``).
"""

from __future__ import annotations

import inspect
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from ..errors import RnnaccelError
from .activation import ActivationUnit
from .config import TENSOR_CLASSES, DatapathConfig
from .convert import recurrent_modules
from .formats import Fmt

__all__ = [
    "CLASSES",
    "RangeStats",
    "best_format",
    "merged_biases",
    "parameter_ranges",
    "observe",
    "cover_formats",
    "check_accumulator",
    "table_units",
    "table_error",
    "table_index_bits",
    "table_error_lsb",
    "LayerResult",
    "ModuleResult",
    "CalibrationReport",
    "calibrate",
]

CLASSES = TENSOR_CLASSES
_EXP_BINS = 130  # power-of-two bins of |v|: 0 holds zeros, 1 + (e + 64) holds [2**(e-1), 2**e)


# ------------------------------------------------------------------------------------------ ranges
@dataclass
class RangeStats:
    """Per tensor class of one recurrent layer: the largest |value| seen, how many values were
    seen and a histogram of their powers of two (for saturation rates)."""

    max_abs: dict[str, float] = field(default_factory=lambda: {c: 0.0 for c in CLASSES})
    count: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CLASSES})
    hist: dict[str, torch.Tensor] = field(
        default_factory=lambda: {c: torch.zeros(_EXP_BINS, dtype=torch.int64) for c in CLASSES}
    )

    def see(self, cls: str, t) -> None:
        t = torch.as_tensor(t).detach()
        if t.numel() == 0:
            return
        a = t.abs().to(torch.float64)
        v = float(a.max())
        if not math.isfinite(v):
            raise RnnaccelError(f"calibration: non-finite {cls} value; check the model and the calibration data")
        self.max_abs[cls] = max(self.max_abs[cls], v)
        e = torch.frexp(a)[1].clamp(-64, 64) + 65  # a in [2**(e-1), 2**e)
        idx = torch.where(a > 0, e, torch.zeros_like(e)).flatten()
        self.hist[cls] += torch.bincount(idx, minlength=_EXP_BINS).cpu()
        self.count[cls] += t.numel()

    def saturation_rate(self, cls: str, fmt: Fmt) -> float:
        """Share of the seen ``cls`` values at or beyond ``2**(bits-1-frac)`` (they saturate in
        ``fmt``; values in the last LSB below that are not counted)."""
        if self.count[cls] == 0:
            return 0.0
        first = (fmt.bits - 1 - fmt.frac) + 1 + 65  # bin whose values are >= 2**(bits-1-frac)
        first = min(max(first, 1), _EXP_BINS)
        return float(self.hist[cls][first:].sum()) / self.count[cls]


def best_format(max_abs: float, bits: int = 16, margin: float = 0.0) -> Fmt:
    """``Q<bits>.<frac>`` with the largest ``frac`` in ``[0, bits-1]`` such that
    ``(2**(bits-1) - 1) * 2**-frac >= max_abs * (1 + margin)``; ``frac = 0`` if none covers it."""
    need = max_abs * (1.0 + margin)
    qmax = 2 ** (bits - 1) - 1
    for frac in range(bits - 1, -1, -1):
        if qmax * 2.0**-frac >= need:
            return Fmt(bits, frac)
    return Fmt(bits, 0)


def merged_biases(cell: str, b_ih, b_hh, hidden_size: int) -> list[torch.Tensor]:
    """The bias vectors the datapath stores: LSTM/RNN ``b_ih + b_hh``; GRU ``b_ir+b_hr`` and
    ``b_iz+b_hz`` merged, ``b_in`` and ``b_hn`` apart. None without biases."""
    if b_ih is None and b_hh is None:
        return []
    b_ih = b_ih.detach().double() if b_ih is not None else torch.zeros_like(b_hh.detach().double())
    b_hh = b_hh.detach().double() if b_hh is not None else torch.zeros_like(b_ih)
    if cell == "gru":
        H2 = 2 * hidden_size
        return [b_ih[:H2] + b_hh[:H2], b_ih[H2:], b_hh[H2:]]
    return [b_ih + b_hh]


def _cell(m) -> str:
    return str(getattr(m, "cell", "lstm"))


def _layers(m) -> int:
    return int(getattr(m, "num_layers", 1))


def _dirs(m) -> int:
    return int(getattr(m, "num_directions", 1))


def _gemm_sizes(m, layer: int) -> tuple[int, int]:
    """(input length, recurrent length) of layer ``layer``'s gate dot products."""
    state = int(getattr(m, "state_size", m.hidden_size))
    return (m.input_size if layer == 0 else state * _dirs(m)), state


def parameter_ranges(m: Any, stats: list[RangeStats]) -> None:
    """Record ``weight`` and ``bias`` of every layer of emulator module ``m`` into ``stats``."""
    for layer in range(_layers(m)):
        for d in range(_dirs(m)):
            w_ih, w_hh, b_ih, b_hh = m.params(layer, d)[:4]
            stats[layer].see("weight", w_ih)
            stats[layer].see("weight", w_hh)
            w_hr = m.proj_weight(layer, d) if hasattr(m, "proj_weight") else None
            if w_hr is not None:
                stats[layer].see("weight", w_hr)
            for b in merged_biases(_cell(m), b_ih, b_hh, m.hidden_size):
                stats[layer].see("bias", b)


# ------------------------------------------------------------------------------------- recording


@dataclass
class _Call:
    args: tuple
    kwargs: dict
    output: torch.Tensor  # the float primary output


@dataclass
class Observation:
    """What :func:`observe` recorded: per module name, per-layer stats, calls and the call count."""

    stats: dict[str, list[RangeStats]]
    calls: dict[str, list[_Call]]
    n_calls: dict[str, int]
    n_batches: int = 0


def primary_output(out) -> torch.Tensor:
    """The tensor whose error calibration minimises: the output sequence (stacks) or ``h`` (cells)."""
    if isinstance(out, tuple):
        out = out[0]
    if isinstance(out, PackedSequence):
        out = out.data
    return out


def _detached(v):
    if torch.is_tensor(v):
        return v.detach().clone()
    if isinstance(v, PackedSequence):
        return v  # its tensors are not modified in place by a forward
    if isinstance(v, tuple):
        return tuple(_detached(x) for x in v)
    if isinstance(v, list):
        return [_detached(x) for x in v]
    return v


@contextmanager
def _observing(mods: list[tuple[str, Any]], obs: Observation, keep_calls: bool = True):
    """While active, every float forward of the modules in ``mods`` reports its tensor classes
    into ``obs`` (through each module's ``observer`` hook) and its call (inputs, float output) is
    kept."""
    names = {id(m): name for name, m in mods}

    def see(m, layer: int, direction: int, cls: str, t: torch.Tensor) -> None:
        if cls not in ("weight", "bias"):  # those are read from the parameters, merged
            obs.stats[names[id(m)]][layer].see(cls, t)

    def pre(m, args, kwargs, name):
        if m.mode != "float":
            raise RnnaccelError(f"calibrate: module {name} switched to mode {m.mode!r} during the float passes")

    def post(m, args, kwargs, out, name):
        obs.n_calls[name] += 1
        if not keep_calls:
            return
        kw = {k: _detached(v) for k, v in kwargs.items() if k != "trace"}
        obs.calls[name].append(_Call(_detached(args), kw, primary_output(out).detach().clone()))

    handles, saved = [], []
    for name, m in mods:
        handles.append(m.register_forward_pre_hook(lambda m, a, k, n=name: pre(m, a, k, n), with_kwargs=True))
        handles.append(m.register_forward_hook(lambda m, a, k, o, n=name: post(m, a, k, o, n), with_kwargs=True))
        saved.append(m.observer)
        m.observer = see
    try:
        yield obs
    finally:
        for (_, m), was in zip(mods, saved):
            m.observer = was
        for h in handles:
            h.remove()


def _default_forward(model: nn.Module, batch) -> Any:
    return model(batch)


@torch.no_grad()
def observe(
    model: nn.Module,
    batches: Iterable,
    forward: Callable[[nn.Module, Any], Any] | None = None,
    modules: list[tuple[str, Any]] | None = None,
    keep_calls: bool = True,
) -> Observation:
    """Run ``forward(model, batch)`` (default ``model(batch)``) in float over ``batches`` recording
    every emulator module of ``model`` (or ``modules``); ``keep_calls``: also keep each call's
    inputs and float output (for measuring candidates). Modes and train/eval state are restored.
    Refused when there are no batches or when a module was never called."""
    mods = modules if modules is not None else recurrent_modules(model)
    if not mods:
        raise RnnaccelError(
            f"calibrate: {type(model).__name__} holds no rnnaccel.emulator module; run rnnaccel.convert(model) first"
        )
    forward = forward or _default_forward
    obs = Observation(
        {n: [RangeStats() for _ in range(_layers(m))] for n, m in mods},
        {n: [] for n, _ in mods},
        {n: 0 for n, _ in mods},
    )
    modes = [m.mode for _, m in mods]
    was = model.training
    model.eval()
    try:
        for _, m in mods:
            m.mode = "float"
        with _observing(mods, obs, keep_calls):
            for batch in batches:
                forward(model, batch)
                obs.n_batches += 1
    finally:
        for (_, m), mode in zip(mods, modes):
            m.mode = mode
        model.train(was)
    if obs.n_batches == 0:
        raise RnnaccelError("calibrate: no batches; pass at least one calibration batch")
    never = [n or "<model>" for n, _ in mods if obs.n_calls[n] == 0]
    if never:
        raise RnnaccelError(
            f"calibrate: module(s) {', '.join(never)} were never called in the float passes (does the forward "
            "bypass them in float mode?); pass forward=callable(model, batch) that runs them"
        )
    for n, m in mods:
        parameter_ranges(m, obs.stats[n])
    return obs


# --------------------------------------------------------------------------------------- formats
def _acc_holds(cfg: DatapathConfig, preact_max: float) -> bool:
    return preact_max <= 2.0 ** (cfg.acc_bits - 1 - cfg.acc_frac)


def cover_formats(
    stats: list[RangeStats],
    bits: int = 16,
    margin: float = 0.0,
    base: DatapathConfig | None = None,
    overrides: dict[str, Fmt] | None = None,
) -> list[dict[str, Fmt]]:
    """Per layer, the covering format of every class (overrides win), layers after the first
    reading the previous layer's hidden format, bias/preact fractions lowered to the accumulator's."""
    base = base or DatapathConfig()
    overrides = overrides or {}
    out: list[dict[str, Fmt]] = []
    for layer, st in enumerate(stats):
        f = {c: best_format(st.max_abs[c], bits, margin) for c in ("weight", "bias", "input", "cell", "preact")}
        top = Fmt(bits, bits - 1)
        bounded = st.max_abs["hidden"] < 1.0  # LSTM/GRU/tanh states are < 1 by construction: no margin
        f["hidden"] = top if bounded else best_format(st.max_abs["hidden"], bits, margin)
        f["act"] = top
        f.update(overrides)
        if layer > 0 and "input" not in overrides:
            f["input"] = out[-1]["hidden"]  # the previous layer's stored outputs, read as they are
        _align(f, overrides)
        out.append(f)
    return out


def _align(f: dict[str, Fmt], fixed) -> None:
    """Lower bias/preact fractions (not overridden ones) to the accumulator fraction."""
    acc_frac = f["weight"].frac + max(f["input"].frac, f["hidden"].frac)
    for c in ("bias", "preact"):
        if f[c].frac > acc_frac and c not in fixed:
            f[c] = Fmt(f[c].bits, acc_frac)


def table_error_lsb(func: str, fin: Fmt, fout: Fmt, index_bits: int, interp: bool = True) -> float:
    """Largest |unit(x) - func(x)| over every input integer of ``fin``, in LSBs of ``fout``."""
    return _table_error_lsb(func, fin, fout, index_bits, interp)


_TABLE_ERR: dict[tuple, float] = {}
_EXACT = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}  # float64: within an ulp of activation.FUNCTIONS


def _table_error_lsb(func, fin, fout, k, interp) -> float:
    key = (func, fin, fout, k, interp)
    if key not in _TABLE_ERR:
        unit = ActivationUnit(func, fin, fout, k, interp)
        q = torch.arange(fin.qmin, fin.qmax + 1, dtype=torch.float64)
        y = unit.full if unit.full is not None else unit.pwl(q)
        exact = _EXACT[func](q * 2.0**-fin.frac)
        _TABLE_ERR[key] = float((y * 2.0**-fout.frac - exact).abs().max()) * 2.0**fout.frac
    return _TABLE_ERR[key]


#: a table may add at most half an LSB of the act format to the half LSB of its own rounding
TABLE_BUDGET_LSB = 1.0
#: at fine resolutions the largest error sits at 1 LSB (rounded entries + rounded interpolation) up
#: to float noise; errors within 1/16 LSB of the budget count as within it so that the choice does
#: not hinge on that noise (one resolution coarser is >= 1.1 LSB in every format tried)
_TABLE_TOL = 1.0 / 16


def table_units(cfg: DatapathConfig, cell: str) -> list[tuple[str, Fmt]]:
    """The activation units of a cell: (function, input format); their output format is ``act``."""
    if cell == "lstm":
        return [("sigmoid", cfg.preact), ("tanh", cfg.preact), ("tanh", cfg.cell)]
    if cell == "gru":
        return [("sigmoid", cfg.preact), ("tanh", cfg.preact)]
    return [("tanh", cfg.preact)] if cell == "rnn_tanh" else []  # a ReLU cell has no table


def table_error(cfg: DatapathConfig, cell: str, index_bits: int | None = None) -> float:
    """Largest error of the cell's tables at ``index_bits`` (default: the config's), LSBs of ``act``."""
    k = cfg.act_index_bits if index_bits is None else index_bits
    return max((_table_error_lsb(f, fin, cfg.act, k, cfg.act_interp) for f, fin in table_units(cfg, cell)), default=0.0)


#: largest |f''| and |f'| of the tabulated functions (interpolation / lookup error estimates)
_CURVATURE = {"sigmoid": (0.0963, 0.25), "tanh": (0.7699, 1.0)}


def _estimate_index_bits(cfg: DatapathConfig, cell: str) -> int:
    """Resolution at which the textbook error bound of each table (interpolation: ``w**2/8 max|f''|``;
    lookup: ``w/2 max|f'|``, ``w`` the segment width) reaches half an LSB of ``act``."""
    need = 0.5 * cfg.act.scale
    k = 1
    for func, fin in table_units(cfg, cell):
        f2, f1 = _CURVATURE[func]
        w = math.sqrt(8 * need / f2) if cfg.act_interp else 2 * need / f1  # widest segment allowed
        k = max(k, math.ceil(fin.bits - fin.frac - math.log2(w)))  # 2**(bits-k) * 2**-frac <= w
    return k


def table_index_bits(cfg: DatapathConfig, cell: str = "lstm") -> tuple[int, float]:
    """The smallest ``act_index_bits`` whose tables (:func:`table_units`) stay within
    :data:`TABLE_BUDGET_LSB` of the act format, with the largest error (LSBs) at that resolution;
    the finest allowed resolution when none does; the config's own when the cell has no table.
    The measured error is scanned from two below the analytic estimate (up while over budget,
    down while within it), so only a few resolutions are tabulated."""
    if not table_units(cfg, cell):
        return cfg.act_index_bits, 0.0
    ok = lambda k: table_error(cfg, cell, k) <= TABLE_BUDGET_LSB + _TABLE_TOL
    k_max = min(cfg.preact.bits, cfg.cell.bits, 16)
    k = min(max(1, _estimate_index_bits(cfg, cell) - 2), k_max)
    if ok(k):
        while k > 1 and ok(k - 1):
            k -= 1
    else:
        while k < k_max and not ok(k):
            k += 1
    return k, table_error(cfg, cell, k)


# ------------------------------------------------------------------------------------- reporting
@dataclass
class LayerResult:
    formats: dict[str, Fmt]
    observed_max: dict[str, float]
    saturation_rate: dict[str, float]
    act_index_bits: int
    table_error_lsb: float

    def headroom_bits(self, cls: str) -> float:
        """log2(format's largest value / observed max): < 0 means the peaks saturate."""
        f, v = self.formats[cls], self.observed_max[cls]
        return math.inf if v == 0 else math.log2(f.qmax * 2.0**-f.frac / v)

    def to_dict(self) -> dict:
        return {
            "formats": {c: str(f) for c, f in self.formats.items()},
            "observed_max": dict(self.observed_max),
            "headroom_bits": {c: _finite(self.headroom_bits(c)) for c in self.formats},
            "saturation_rate": dict(self.saturation_rate),
            "act_index_bits": self.act_index_bits,
            "table_error_lsb": self.table_error_lsb,
        }


def _finite(v: float):
    return v if math.isfinite(v) else None


@dataclass
class ModuleResult:
    name: str
    type: str
    calls: int
    layers: list[LayerResult]
    configs: list[DatapathConfig]
    rms_error: float | None  # output RMS error vs float on the sampled calls, chosen formats
    rms_error_cover: float | None  # ... with the covering formats (before the search)
    output_rms: float  # RMS of the float output (scale of the errors)
    measure: str | None
    tried: int = 0  # candidate configurations measured
    stats: list[RangeStats] = field(default_factory=list, repr=False)  # what was observed, per layer

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "calls": self.calls,
            "measure": self.measure,
            "rms_error": self.rms_error,
            "rms_error_cover": self.rms_error_cover,
            "output_rms": self.output_rms,
            "candidates_tried": self.tried,
            "layers": [lr.to_dict() for lr in self.layers],
            "datapath": [c.to_dict() for c in self.configs],
        }


@dataclass
class CalibrationReport:
    bits: int
    modules: list[ModuleResult]
    batches: int
    applied: bool

    def configs(self, name: str) -> list[DatapathConfig]:
        """The chosen per-layer configs of module ``name``."""
        return self.module(name).configs

    def ranges(self, name: str) -> list[RangeStats]:
        """The per-layer range statistics observed for module ``name``."""
        return self.module(name).stats

    def module(self, name: str) -> ModuleResult:
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "bits": self.bits,
            "batches": self.batches,
            "applied": self.applied,
            "modules": [m.to_dict() for m in self.modules],
        }

    def __str__(self) -> str:
        lines = [
            f"calibration: {self.bits}-bit, {self.batches} batch(es), "
            f"formats {'applied' if self.applied else 'not applied'}"
        ]
        for m in self.modules:
            err = "n/a" if m.rms_error is None else f"{m.rms_error:.3g}"
            cov = "" if m.rms_error_cover is None else f" (covering formats: {m.rms_error_cover:.3g})"
            lines.append(
                f"{m.name or '<model>'} ({m.type}, {m.calls} call(s)): output RMS error vs float {err}{cov}, "
                f"output RMS {m.output_rms:.3g}, measured in {m.measure}"
            )
            lines.append(
                f"  {'layer':>5} {'class':<7} {'format':<7} {'observed':>10} {'headroom':>9} {'saturated':>10}"
            )
            for i, lr in enumerate(m.layers):
                for c in CLASSES:
                    h = lr.headroom_bits(c)
                    hs = "   -" if not math.isfinite(h) else f"{h:+.2f}b"
                    lines.append(
                        f"  {i:>5} {c:<7} {str(lr.formats[c]):<7} {lr.observed_max[c]:>10.4g} {hs:>9} "
                        f"{lr.saturation_rate[c]:>10.2e}"
                    )
                lines.append(
                    f"  {i:>5} table   2**{lr.act_index_bits} segments, max error {lr.table_error_lsb:.2f} LSB of act"
                )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------- search
def _configs(m: Any, fmts: list[dict[str, Fmt]], base: DatapathConfig, stats, tables: bool):
    """Per-layer configs from formats (table resolution chosen when ``tables``); ValueError naming
    the layer when the datapath's validity rules refuse them."""
    out = []
    for layer, f in enumerate(fmts):
        try:
            cfg = base.replace(**f)
            if tables:
                cfg = cfg.replace(act_index_bits=table_index_bits(cfg, _cell(m))[0])
            cfg.check_gemm(*_gemm_sizes(m, layer))
        except ValueError as e:
            raise ValueError(f"layer {layer}: {e}") from None
        if not _acc_holds(cfg, stats[layer].max_abs["preact"]):
            raise ValueError(f"layer {layer}: the accumulator cannot hold the observed pre-activations")
        out.append(cfg)
    return out


def _build(m, fmts, base, stats, tables) -> list[DatapathConfig] | None:
    """:func:`_configs`, or None when refused (a search candidate that is not valid)."""
    try:
        return _configs(m, fmts, base, stats, tables)
    except ValueError:
        return None


def _sample(calls: list[_Call], n: int) -> list[_Call]:
    if n <= 0 or len(calls) <= n:
        return calls
    step = len(calls) / n
    return [calls[int(i * step)] for i in range(n)]


def _batch_dims(m: Any) -> tuple[int, int]:
    """(batch dim of a batched input and of the output, batch dim of each hx tensor) of module ``m``."""
    if type(m).__name__.endswith("Cell"):
        return 0, 0
    return (0 if m.batch_first else 1), 1


def _as_batched(m: Any, call: _Call):
    """``(x, hx, lengths)`` of a call whose tensors can be stacked with others along the batch, or None
    (unbatched or packed input, other keywords)."""
    try:
        a = inspect.signature(m.forward).bind(*call.args, **call.kwargs).arguments
    except TypeError:
        return None
    x, hx, lengths = a.get("input"), a.get("hx"), a.get("lengths")
    if set(a) - {"input", "hx", "lengths", "trace"} or not torch.is_tensor(x):
        return None
    if x.dim() != (2 if type(m).__name__.endswith("Cell") else 3):
        return None
    hx_t = () if hx is None else (tuple(hx) if isinstance(hx, (tuple, list)) else (hx,))
    if not all(torch.is_tensor(h) for h in hx_t):
        return None
    return x, hx_t, lengths


def _merge(m: Any, calls: list[_Call]) -> list[_Call]:
    """Consecutive calls of the same shapes (but the batch) as one call: a decoder's steps, each
    with its recorded state, run as one batch. The RMS error over the outputs is unchanged."""
    xdim, hdim = _batch_dims(m)
    out: list[_Call] = []
    group: list[tuple] = []

    def key(b):
        x, hx, n = b
        drop = lambda t, d: tuple(t.shape[:d]) + tuple(t.shape[d + 1 :])
        return (drop(x, xdim), x.dtype, tuple(drop(h, hdim) for h in hx), n is None)

    def flush():
        if not group:
            return
        xs = torch.cat([b[0] for b, _ in group], xdim)
        hxs = tuple(torch.cat([b[1][i] for b, _ in group], hdim) for i in range(len(group[0][0][1])))
        kw: dict[str, Any] = {}
        if hxs:
            kw["hx"] = hxs if len(hxs) > 1 else hxs[0]
        if group[0][0][2] is not None:
            kw["lengths"] = torch.cat([torch.as_tensor(b[2]) for b, _ in group])
        out.append(_Call((xs,), kw, torch.cat([c.output for _, c in group], xdim)))
        group.clear()

    for c in calls:
        b = _as_batched(m, c)
        if b is None:
            flush()
            out.append(c)
            continue
        if group and key(group[0][0]) != key(b):
            flush()
        group.append((b, c))
    flush()
    return out


@torch.no_grad()
def _rms_error(m: Any, cfgs: list[DatapathConfig], calls: list[_Call], mode: str) -> float:
    was_mode, was_dp = m.mode, m.datapath
    try:
        m.datapath = cfgs
        m.mode = mode
        se, n = 0.0, 0
        for call in calls:
            y = primary_output(m(*call.args, **call.kwargs))
            se += float((y.double() - call.output.double()).pow(2).sum())
            n += call.output.numel()
    finally:
        m.mode, m.datapath = was_mode, was_dp
    return math.sqrt(se / max(n, 1))


def _searched(m, fmts: list[dict[str, Fmt]], layer: int, cls: str, fixed, bits: int) -> bool:
    """Whether the search moves (layer, cls): layer 0's input, preact, the LSTM cell, and a hidden
    state that reaches 1 (ReLU cells, projections); never an override."""
    if cls in fixed:
        return False
    if cls == "input":
        return layer == 0
    if cls == "cell":
        return _cell(m) == "lstm"
    if cls == "hidden":
        return fmts[layer]["hidden"].frac < bits - 1
    return cls == "preact"


def _candidate(fmts, layer: int, cls: str, fmt: Fmt, fixed) -> list[dict[str, Fmt]]:
    """``fmts`` with (layer, cls) set to ``fmt``; the next layer reads a changed hidden format."""
    cand = [dict(f) for f in fmts]
    cand[layer][cls] = fmt
    if cls == "hidden" and layer + 1 < len(cand) and "input" not in fixed:
        cand[layer + 1]["input"] = fmt
        _align(cand[layer + 1], fixed)
    _align(cand[layer], fixed)
    return cand


def _search(m, fmts, cfgs, err, base, stats, tables, calls, mode, bits, fixed, extra_frac):
    """Greedy coordinate search over (layer, class) fraction widths from the covering ``fmts``
    (configs ``cfgs``, error ``err``): per class, ``cover+1 .. cover+extra_frac`` are measured and a
    strictly lower error is kept. Returns ``(cfgs, err, candidates measured)``."""
    tried = 0
    for layer in range(len(fmts)):
        for cls in ("input", "preact", "cell", "hidden"):
            if not _searched(m, fmts, layer, cls, fixed, bits):
                continue
            cover = fmts[layer][cls].frac
            for frac in range(cover + 1, min(cover + extra_frac, bits - 1) + 1):
                cand = _candidate(fmts, layer, cls, Fmt(bits, frac), fixed)
                cand_cfgs = _build(m, cand, base, stats, tables)
                if cand_cfgs is None:
                    continue
                e = _rms_error(m, cand_cfgs, calls, mode)
                tried += 1
                if e < err:
                    fmts, cfgs, err = cand, cand_cfgs, e
    return cfgs, err, tried


def _module_overrides(overrides, name: str, bits: int) -> dict[str, Fmt]:
    spec = (overrides or {}).get(name, {})
    out = {}
    for cls, v in spec.items():
        if cls not in CLASSES:
            raise RnnaccelError(
                f"calibrate: overrides[{name!r}] names class {cls!r}; choose among {', '.join(CLASSES)}"
            )
        try:
            out[cls] = Fmt.parse(v)
        except (ValueError, KeyError, TypeError) as e:
            raise RnnaccelError(f"calibrate: overrides[{name!r}][{cls!r}]: {e}") from None
    return out


def calibrate(
    model: nn.Module,
    batches: Iterable,
    forward: Callable[[nn.Module, Any], Any] | None = None,
    bits: int = 16,
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    base: DatapathConfig | None = None,
    margin: float = 0.0,
    search: bool = True,
    tables: bool = True,
    measure: str | None = "emulate",
    extra_frac: int = 3,
    sample_calls: int = 64,
    apply: bool = True,
    modules: list[tuple[str, Any]] | None = None,
    keep_calls: bool = True,
) -> CalibrationReport:
    """Choose and (``apply``) set the datapath formats of every emulator module of ``model``.

    ``batches``: calibration inputs, each passed to ``forward(model, batch)`` (default
    ``model(batch)``). ``bits``: the width of every format. ``overrides``: ``{qualified module
    name: {class: Fmt | "Q16.12" | {"bits":..,"frac":..}}}`` fixes those formats (every layer).
    ``base``: the other DatapathConfig fields (rounding, acc_bits, ...). ``margin`` widens the
    covering ranges. ``search``/``tables``: see the module doc. ``measure``: ``"emulate"`` or
    ``"fakequant"`` (None: no error measured; only with ``search=False``). ``sample_calls``:
    recorded calls per module re-run per candidate (evenly spaced; 0: all). ``modules``: restrict
    to these ``(name, module)`` pairs. ``keep_calls=False`` (with ``measure=None``) records the
    ranges without keeping the calls.
    """
    if measure not in ("emulate", "fakequant", None):
        raise RnnaccelError(
            f"calibrate: measure={measure!r} unknown; choose emulate, fakequant or None (no measurement)"
        )
    if search and measure is None:
        raise RnnaccelError("calibrate: search=True needs a measure mode (emulate or fakequant) to compare formats")
    if not isinstance(bits, int) or not 2 <= bits <= 32:
        raise RnnaccelError(f"calibrate: bits={bits!r} out of range; need an int in [2, 32]")
    base = base or DatapathConfig()
    mods = modules if modules is not None else recurrent_modules(model)
    unknown = sorted(set(overrides or {}) - {n for n, _ in mods})
    if unknown:
        raise RnnaccelError(
            f"calibrate: overrides name module(s) {', '.join(unknown)} not in the model; "
            f"its emulator modules are {', '.join(n or '<model>' for n, _ in mods)}"
        )
    obs = observe(model, batches, forward, mods, keep_calls=keep_calls or search or measure is not None)
    results = []
    for name, m in mods:
        results.append(
            _calibrate_module(
                name, m, obs, bits, base, margin, overrides, search, tables, measure, extra_frac, sample_calls
            )
        )
    if apply:
        for (_, m), r in zip(mods, results):
            m.datapath = r.configs
    return CalibrationReport(bits, results, obs.n_batches, apply)


def _calibrate_module(name, m, obs, bits, base, margin, overrides, search, tables, measure, extra_frac, sample_calls):
    """Cover, then (``search``) improve; measure; describe each layer."""
    stats = obs.stats[name]
    fixed = _module_overrides(overrides, name, bits)
    fmts = cover_formats(stats, bits, margin, base, fixed)
    check_accumulator(name, fmts, base, stats, margin)
    calls = _merge(m, _sample(obs.calls[name], sample_calls))
    try:
        cfgs = _configs(m, fmts, base, stats, tables)
    except ValueError as e:
        raise RnnaccelError(f"calibrate: {name or '<model>'} {e}") from None
    err_cover = err = _rms_error(m, cfgs, calls, measure) if measure is not None else None
    tried = int(measure is not None)
    if search:
        cfgs, err, n = _search(m, fmts, cfgs, err, base, stats, tables, calls, measure, bits, fixed, extra_frac)
        tried += n
    layers_ = [_describe(cfg, st, _cell(m)) for cfg, st in zip(cfgs, stats)]
    n_calls = obs.n_calls[name]
    return ModuleResult(
        name, type(m).__name__, n_calls, layers_, cfgs, err, err_cover, _rms(calls), measure, tried, stats
    )


def _rms(calls: list[_Call]) -> float:
    n = sum(c.output.numel() for c in calls)
    return math.sqrt(sum(float(c.output.double().pow(2).sum()) for c in calls) / max(1, n))


def _describe(cfg: DatapathConfig, st: RangeStats, cell: str) -> LayerResult:
    formats = {c: getattr(cfg, c) for c in CLASSES}
    rates = {c: st.saturation_rate(c, formats[c]) for c in CLASSES}
    return LayerResult(formats, dict(st.max_abs), rates, cfg.act_index_bits, table_error(cfg, cell))


def check_accumulator(name: str, fmts: list[dict[str, Fmt]], base: DatapathConfig, stats, margin: float) -> None:
    """Refuse (naming ``acc_bits``) formats whose accumulator cannot hold the observed pre-activations."""
    for layer, (f, st) in enumerate(zip(fmts, stats)):
        acc_frac = f["weight"].frac + max(f["input"].frac, f["hidden"].frac)
        top = 2.0 ** (base.acc_bits - 1 - acc_frac)
        if st.max_abs["preact"] * (1.0 + margin) > top:
            where = f"{name} layer {layer}" if name else f"layer {layer}"
            raise RnnaccelError(
                f"calibration: {where} pre-activations reach {st.max_abs['preact']:.4g} but the accumulator "
                f"(acc_bits={base.acc_bits}, frac {acc_frac}) holds only ±{top:.4g}; raise datapath.acc_bits"
            )
