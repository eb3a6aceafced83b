"""The bit-exact integer LSTM/GRU/Elman-RNN datapath (fast path).

Integers are carried in float64 tensors (exact below 2**53, proven per layer by
``DatapathConfig.check_gemm``). Every narrowing step is ``round_shift`` + ``saturate`` with the
saturation counted. ``docs/datapath.md`` states each step; ``tests/emulator/reference.py`` is the
independent plain-Python-int restatement the tests compare against.

Layout: sequences are sorted by length (longest first) so the rows still running at step ``t``
are a prefix ``[:n_t]`` of the batch — a finished sequence is never computed again and its state
is frozen at its last step. Reverse directions reverse each sequence within its own length.

Gate order in the datapath: LSTM ``[i, f, o, g]`` (sigmoid gates first; PyTorch's ``[i, f, g, o]``
rows are permuted when weights are loaded), GRU ``[r, z, n]`` (PyTorch's order), Elman RNN one
gate (``rnn_tanh``/``rnn_relu``); see :mod:`rnnaccel.emulator.gates`. An LSTM with a projection
(``proj_size``) runs a third GEMM per step (:meth:`Direction.project`): the projected ``h`` is what
recurs and what is output.

Reading order: :func:`quantize_weights` (float parameters -> :class:`IntWeights`), then
:func:`run_direction`, which prepares a :class:`Direction` (what every step shares: the rounding
and narrowing helpers, the GEMMs, the technique units' hook points) and runs :func:`lstm_step` or
:func:`gru_step` or :func:`rnn_step` per time step, counting saturations in a :class:`StepSaturations`. The counts of
the trace come from the step facts (:mod:`rnnaccel.emulator.facts`) in :func:`make_layer_trace`.
Where :mod:`rnnaccel.emulator.kernels` serves a direction (``Direction.kern``), each step's
element-wise work after the GEMMs runs as compiled stages with the same bits; the torch code of
each step function is the reference (docs/datapath.md §11).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from .activation import ActivationUnit, GateActivations
from .config import DatapathConfig
from .facts import DirectionFacts, layer_counters
from .formats import Fmt, Rounding, quantize, round_shift, saturate
from .gemm import ExactGemm
from . import kernels
from .hooks import DirectionContext, StepUnit
from .steps import Progress, StepInput, StepMap, releasing
from .gates import DATAPATH_ORDER, GATES, SIGMOID_GATES, TORCH_ORDER
from .trace import LayerTrace

__all__ = [
    "IntWeights",
    "quantize_weights",
    "DirectionResult",
    "run_direction",
    "lstm_step",
    "gru_step",
    "rnn_step",
    "STEPS",
    "Direction",
    "StepSaturations",
    "GATES",
    "SAT_CLASSES",
    "lstm_row_order",
]

SAT_CLASSES = ("acc", "preact", "cell", "hidden")  # the activation unit cannot saturate
#: the classes a step counts: SAT_CLASSES and ``proj``, the projected h (LSTM with proj_size only)
STEP_SAT_CLASSES = SAT_CLASSES + ("proj",)
# stochastic-rounding site numbers of the rounding points (see docs/datapath.md)
SITE_PREACT, SITE_CELL, SITE_HIDDEN, SITE_SIG, SITE_TANH, SITE_TANH_C = 0, 1, 2, 3, 4, 5
SITE_XN, SITE_HN, SITE_RHN, SITE_WEIGHT, SITE_INPUT = 6, 7, 8, 9, 10
SITE_H0, SITE_C0 = 11, 12  # real initial states entering the hidden / cell format (step 0)
SITE_WEIGHT_HR, SITE_PROJ = 13, 14  # projection weights (offline) / the projected h (every step)


def lstm_row_order(hidden: int) -> torch.Tensor:
    """Row permutation from PyTorch's LSTM gate order [i, f, g, o] to the datapath's [i, f, o, g]."""
    h = torch.arange(hidden)
    src = [TORCH_ORDER["lstm"].index(g) for g in DATAPATH_ORDER["lstm"]]
    return torch.cat([h + k * hidden for k in src])


@dataclass
class IntWeights:
    """Integer weights of one direction of one layer (float64-carried), datapath gate order.

    ``w_ih``: (G*H, D), ``w_hh``: (G*H, R) in the weight format (``R`` = width of the recurrent
    ``h``: ``proj_size`` with a projection, else H); ``b_x``/``b_h``: (G*H,) in the bias format,
    added to the input part / recurrent part of the dot product. For the LSTM, the Elman RNN and the
    GRU's r, z gates the two PyTorch biases are summed offline into ``b_x`` (``b_h`` is zero); the
    GRU's n gate keeps ``b_in`` in ``b_x`` and ``b_hn`` in ``b_h`` (it is gated by r). ``w_hr``:
    (R, H) the LSTM's projection in the weight format, None without one.
    """

    w_ih: torch.Tensor
    w_hh: torch.Tensor
    b_x: torch.Tensor
    b_h: torch.Tensor
    w_hr: torch.Tensor | None = None
    _gemms: dict = field(default_factory=dict, repr=False, compare=False)

    def gemm(self, which: str, w_bits: int, x_bits: int, scale: float, backend: str) -> ExactGemm:
        """The prepared exact GEMM of ``w_ih`` or ``w_hh`` (cached: weights are split once)."""
        key = (which, w_bits, x_bits, scale, backend)
        if key not in self._gemms:
            self._gemms[key] = ExactGemm(getattr(self, which), w_bits, x_bits, scale, backend)
        return self._gemms[key]


def quantize_weights(
    cell: str, w_ih, w_hh, b_ih, b_hh, cfg: DatapathConfig, site_base: int = 0, w_hr=None
) -> tuple[IntWeights, int]:
    """Float PyTorch-layout parameters -> :class:`IntWeights` and the number of saturations.
    ``w_hr``: the LSTM's projection (rounding point ``SITE_WEIGHT_HR``), or None."""
    H = w_hh.shape[0] // GATES[cell]
    f64 = lambda t: t.detach().to(torch.float64)
    b_ih = f64(b_ih) if b_ih is not None else torch.zeros(w_ih.shape[0], dtype=torch.float64, device=w_ih.device)
    b_hh = f64(b_hh) if b_hh is not None else torch.zeros_like(b_ih)
    if cell != "gru":
        bx, bh = b_ih + b_hh, torch.zeros_like(b_ih)
    else:
        bx = torch.cat([b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H :]])
        bh = torch.cat([torch.zeros_like(b_hh[: 2 * H]), b_hh[2 * H :]])
    kw = dict(seed=cfg.seed, site=site_base + SITE_WEIGHT)
    qi, s1 = quantize(f64(w_ih), cfg.weight, cfg.rounding, **kw)
    qh, s2 = quantize(f64(w_hh), cfg.weight, cfg.rounding, **kw)
    qbx, s3 = quantize(bx, cfg.bias, cfg.rounding, **kw)
    qbh, s4 = quantize(bh, cfg.bias, cfg.rounding, **kw)
    if cell == "lstm":
        perm = lstm_row_order(H).to(qi.device)
        qi, qh, qbx, qbh = qi[perm], qh[perm], qbx[perm], qbh[perm]
    qr, s5 = None, 0
    if w_hr is not None:
        qr, s5 = quantize(f64(w_hr), cfg.weight, cfg.rounding, seed=cfg.seed, site=site_base + SITE_WEIGHT_HR)
    return IntWeights(qi, qh, qbx, qbh, qr), int(s1 + s2 + s3 + s4 + s5)


@dataclass
class DirectionResult:
    """Integer results of one direction over a length-sorted, time-major batch."""

    output: torch.Tensor  # (T, B, R) hidden-format ints, zero past each sequence's end
    h_n: torch.Tensor  # (B, R)
    c_n: torch.Tensor | None  # (B, H) cell-format ints (LSTM)
    sat_steps: torch.Tensor  # (T, len(STEP_SAT_CLASSES)) saturations per step
    gates: torch.Tensor | None = None  # (T, B, G*H) activation outputs, PyTorch gate order
    cells: torch.Tensor | None = None  # (T, B, H) cell state after each step (LSTM)
    extra: dict = field(default_factory=dict)
    facts: DirectionFacts | None = None  # what each step computed (the trace is counted from it)


@lru_cache(maxsize=256)
def _act_units(cell: str, cfg: DatapathConfig, site_base: int, H: int) -> "_ActUnits":
    return _ActUnits(cell, cfg, site_base, H)


class _ActUnits:
    """The activation units of one direction (tables built once per config and layer shape)."""

    def __init__(self, cell: str, cfg: DatapathConfig, site_base: int, H: int):
        kw = dict(index_bits=cfg.act_index_bits, interp=cfg.act_interp, rounding=cfg.rounding, seed=cfg.seed)
        sig = ActivationUnit("sigmoid", cfg.preact, cfg.act, site=site_base + SITE_SIG, **kw)
        tanh = ActivationUnit("tanh", cfg.preact, cfg.act, site=site_base + SITE_TANH, **kw)
        self.tanh = tanh
        self.tanh_c = ActivationUnit("tanh", cfg.cell, cfg.act, site=site_base + SITE_TANH_C, **kw)
        # LSTM [i, f, o | g]; GRU [r, z] (n is evaluated later, after the r gating); RNN: tanh or none
        n_sig = SIGMOID_GATES[cell] * H
        parts = {"lstm": [(sig, n_sig), (tanh, H)], "gru": [(sig, n_sig)]}.get(cell, [])
        self.gates = GateActivations(parts) if parts else None


# ---------------------------------------------------------------------- one direction, step by step
_SAT_INDEX = {k: j for j, k in enumerate(STEP_SAT_CLASSES)}


class StepSaturations:
    """Saturations of one step, per class of :data:`STEP_SAT_CLASSES`: ``counts``, an int64 row the
    torch path adds into through :meth:`take` and the compiled kernels (:mod:`.kernels`) directly."""

    def __init__(self):
        self.counts = np.zeros(len(STEP_SAT_CLASSES), dtype=np.int64)

    def take(self, cls: str, clamped: tuple[torch.Tensor, int]) -> torch.Tensor:
        """``clamped`` = ``(value, saturations)`` of a narrowing into class ``cls``: count, return value."""
        v, n = clamped
        self.counts[_SAT_INDEX[cls]] += n
        return v

    def row(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.counts)


class Direction:
    """What every step of one direction shares, prepared once: formats and rounding, activation
    units, the recurrent GEMM (and the LSTM's projection GEMM), the input part of all steps (made
    on first use) and the technique units with their hook points (:mod:`rnnaccel.emulator.hooks`).
    ``H``: the cell's units (gate rows = G*H); ``R``: the width of the recurrent ``h`` (the
    projection's size, else H)."""

    def __init__(
        self,
        cell: str,
        w: IntWeights,
        x: torch.Tensor,
        cfg: DatapathConfig,
        site_base: int,
        gemm: str,
        units,
        ctx: DirectionContext,
    ):
        self.cell, self.w, self.x, self.cfg, self.site_base, self.backend = cell, w, x, cfg, site_base, gemm
        self.ctx = ctx
        self.GH, self.R = w.w_hh.shape
        self.H = self.GH // GATES[cell]
        self.act = _act_units(cell, cfg, site_base, self.H)
        hidden_scale = self._scale(cfg.hidden.frac)
        self.gemm_h = w.gemm("w_hh", cfg.weight.bits, cfg.hidden.bits, hidden_scale, gemm)
        self.gemm_r = (
            w.gemm("w_hr", cfg.weight.bits, cfg.hidden.bits, hidden_scale, gemm) if w.w_hr is not None else None
        )
        self.b_hn = self._bias(w.b_h[2 * self.H :]) if cell == "gru" else None  # GRU: b_hn, gated by r
        #: the compiled element-wise stages (:mod:`.kernels`), or None: the torch reference path
        self.kern = kernels.for_direction(cell, cfg, self.act, self.H, x.device)
        self._gx: StepMap | None = None
        for u in units:
            u.begin(ctx)
        self.acc_units = [u for u in units if type(u).gate_acc is not StepUnit.gate_acc]
        self.out_units = [u for u in units if type(u).gate_out is not StepUnit.gate_out]
        self.obs_units = [u for u in units if type(u).observe is not StepUnit.observe]
        self.units = list(units)

    # ------------------------------------------------------------------ shared helpers
    def _scale(self, operand_frac: int) -> float:
        """Products of weights and an operand with fraction ``operand_frac`` -> accumulator fraction."""
        return 2.0 ** (self.cfg.acc_frac - self.cfg.weight.frac - operand_frac)

    def _bias(self, b: torch.Tensor) -> torch.Tensor:
        return b * float(2 ** (self.cfg.acc_frac - self.cfg.bias.frac))

    def round_at(self, v: torch.Tensor, shift: int, site: int, t: int) -> torch.Tensor:
        """``v * 2**-shift`` rounded by the layer's mode at rounding point ``site`` of step ``t``."""
        return round_shift(v, shift, self.cfg.rounding, seed=self.cfg.seed, site=self.site_base + site, step=t)

    def narrow(self, v: torch.Tensor, shift: int, fmt: Fmt, site: int, t: int) -> tuple[torch.Tensor, int]:
        """Round ``shift`` bits away, then saturate into ``fmt``: ``(value, saturations)``."""
        return saturate(self.round_at(v, shift, site, t), fmt)

    def input_part(self) -> StepMap:
        """The x part of every step (indexed ``[t, rows]`` -> (rows, G*H)): exact products at the
        accumulator's fraction, plus ``b_x``; one GEMM per chunk of input steps (:mod:`.steps`). Made
        on first use: a unit that supplies the dot products never needs it."""
        if self._gx is None:
            cfg = self.cfg
            gemm_x = self.w.gemm("w_ih", cfg.weight.bits, cfg.input.bits, self._scale(cfg.input.frac), self.backend)
            add = self._bias(self.w.b_x)
            if self.cell != "gru" and self.gemm_h.const is not None:
                add = add + self.gemm_h.const  # the recurrent GEMM accumulates onto gx (LSTM, RNN): its constant, once

            def part(x: torch.Tensor, t0: int) -> torch.Tensor:
                T, B, D = x.shape
                return gemm_x(x.reshape(T * B, D), add=add).reshape(T, B, self.GH)  # one pass, bias included

            self._gx = self.ctx.per_step(part)
        return self._gx

    # ------------------------------------------------------------------ hook points
    def unit_dot_products(self, t: int, n: int, hp: torch.Tensor):
        """``(ax, ah)`` from the first unit that supplies them, else None (the plain path). Every unit
        is called: one may only observe the step's inputs while another supplies the products."""
        got = None
        for u in self.acc_units:
            r = u.gate_acc(t, n, hp)
            if got is None:
                got = r
        return got

    def activate(self, t: int, n: int, cols: slice, z: torch.Tensor, act) -> torch.Tensor:
        """Activation unit ``act`` on pre-activations ``z`` of gate columns ``cols``, then the units'
        ``gate_out`` (which may replace outputs, e.g. reused ones)."""
        return self.units_out(t, n, cols, z, act(z, t), act)

    def units_out(self, t: int, n: int, cols: slice, z: torch.Tensor, a: torch.Tensor, act) -> torch.Tensor:
        """The units' ``gate_out`` on activations ``a`` already evaluated (by ``act``) from ``z``."""
        for u in self.out_units:
            a = u.gate_out(t, n, cols, z, a, lambda v: act(v, t))
        return a

    def project(self, m: torch.Tensor, t: int, sat: StepSaturations) -> torch.Tensor:
        """The LSTM's projection (docs/datapath.md §5a): ``m`` (n, H) hidden-format ints ->
        ``h = W_hr m`` exact at the accumulator fraction, saturated (``acc``), rounded at
        ``SITE_PROJ`` and saturated into the hidden format (``proj``). Without one, ``h = m``."""
        if self.gemm_r is None:
            return m
        cfg = self.cfg
        acc = sat.take("acc", saturate(self.gemm_r(m), cfg.acc))
        return sat.take("proj", self.narrow(acc, cfg.acc_frac - cfg.hidden.frac, cfg.hidden, SITE_PROJ, t))

    def observe(self, t, n, hp, h, cp, c) -> None:
        for u in self.obs_units:
            u.observe(t, n, hp, h, cp, c)

    def unit_counters(self) -> dict[str, np.ndarray]:
        counters: dict[str, np.ndarray] = {}
        for u in self.units:
            for k, v in u.counters().items():
                counters[k] = counters.get(k, 0) + np.asarray(v, dtype=np.int64)
        return counters


def lstm_step(d: Direction, t: int, n: int, hp: torch.Tensor, cp: torch.Tensor, sat: StepSaturations):
    """One LSTM step of the ``n`` running rows (docs/datapath.md §5). Returns ``(h, c, gates)``,
    ``gates`` the activations in PyTorch order."""
    cfg, H = d.cfg, d.H
    fa, fc = cfg.act.frac, cfg.cell.frac
    ext = d.unit_dot_products(t, n, hp)
    acc = d.gemm_h(hp, out=d.input_part()[t, :n], with_const=False) if ext is None else ext[0] + ext[1]
    if d.kern is not None:  # the same steps, compiled (kernels.lstm_gates / lstm_update)
        z, a = d.kern.lstm_gates(acc, sat.counts)
        a = d.units_out(t, n, slice(0, d.GH), z, a, d.act.gates)
        c, m = d.kern.lstm_update(a, cp, sat.counts)
        i, f, o, g = a.split(H, dim=1)
        return d.project(m, t, sat), c, (i, f, g, o)
    acc = sat.take("acc", saturate(acc, cfg.acc))
    z = sat.take("preact", d.narrow(acc, cfg.acc_frac - cfg.preact.frac, cfg.preact, SITE_PREACT, t))
    i, f, o, g = d.activate(t, n, slice(0, d.GH), z, d.act.gates).split(H, dim=1)  # datapath order
    fm = max(2 * fa, fa + fc)  # the cell update's common fraction
    cm = torch.addcmul(_scaled(i * g, fm - 2 * fa), f, cp, value=float(2 ** (fm - fa - fc)))
    c = sat.take("cell", d.narrow(cm, fm - fc, cfg.cell, SITE_CELL, t))
    m = sat.take("hidden", d.narrow(o * d.act.tanh_c(c, t), 2 * fa - cfg.hidden.frac, cfg.hidden, SITE_HIDDEN, t))
    return d.project(m, t, sat), c, (i, f, g, o)


def gru_step(d: Direction, t: int, n: int, hp: torch.Tensor, cp: None, sat: StepSaturations):
    """One GRU step of the ``n`` running rows (docs/datapath.md §6). Returns ``(h, None, gates)``."""
    cfg, H = d.cfg, d.H
    fa, fh, to_preact = cfg.act.frac, cfg.hidden.frac, cfg.acc_frac - cfg.preact.frac
    ext = d.unit_dot_products(t, n, hp)
    if d.kern is not None:  # the same steps, compiled (kernels.gru_rz / gru_n / gru_update)
        return _gru_kernels(d, t, n, hp, ext, sat)
    if ext is None:
        ax, ah = d.input_part()[t, :n], d.gemm_h(hp)
        ah[:, 2 * H :] += d.b_hn
    else:
        ax, ah = ext
    acc_rz = sat.take("acc", saturate(ah[:, : 2 * H] + ax[:, : 2 * H], cfg.acc))
    z_rz = sat.take("preact", d.narrow(acc_rz, to_preact, cfg.preact, SITE_PREACT, t))
    r, zg = d.activate(t, n, slice(0, 2 * H), z_rz, d.act.gates).split(H, dim=1)
    acc_xn = sat.take("acc", saturate(ax[:, 2 * H :], cfg.acc))
    acc_hn = sat.take("acc", saturate(ah[:, 2 * H :], cfg.acc))
    qxn = sat.take("preact", d.narrow(acc_xn, to_preact, cfg.preact, SITE_XN, t))
    qhn = sat.take("preact", d.narrow(acc_hn, to_preact, cfg.preact, SITE_HN, t))
    pre_n = sat.take("preact", saturate(qxn + d.round_at(r * qhn, fa, SITE_RHN, t), cfg.preact))
    n_ = d.activate(t, n, slice(2 * H, 3 * H), pre_n, d.act.tanh)
    fg = max(fa, fh)  # the state update's common fraction
    hm = torch.addcmul(_scaled((float(2**fa) - zg) * n_, fg - fa), zg, hp, value=float(2 ** (fg - fh)))
    h = sat.take("hidden", d.narrow(hm, fa + fg - fh, cfg.hidden, SITE_HIDDEN, t))
    return h, None, (r, zg, n_)


def _gru_kernels(d: Direction, t: int, n: int, hp: torch.Tensor, ext, sat: StepSaturations):
    """:func:`gru_step` on the compiled stages; ``ext`` the units' ``(ax, ah)`` or None."""
    H, k = d.H, d.kern
    if ext is None:
        ax, ah, bhn = d.input_part()[t, :n], d.gemm_h(hp), d.b_hn.numpy()
    else:
        (ax, ah), bhn = ext, np.zeros(H)  # the unit's ah holds b_hn already
    z_rz, a_rz, qxn, qhn = k.gru_rz(ax.contiguous(), ah.contiguous(), bhn, sat.counts)
    rz = d.units_out(t, n, slice(0, 2 * H), z_rz, a_rz, d.act.gates)
    pre_n, n_ = k.gru_n(rz, qxn, qhn, sat.counts)
    n_ = d.units_out(t, n, slice(2 * H, 3 * H), pre_n, n_, d.act.tanh)
    h = k.gru_update(rz, n_, hp, sat.counts)
    r, zg = rz.split(H, dim=1)
    return h, None, (r, zg, n_)


def rnn_step(d: Direction, t: int, n: int, hp: torch.Tensor, cp: None, sat: StepSaturations):
    """One Elman RNN step of the ``n`` running rows (docs/datapath.md §6a). Returns ``(h, None, (a,))``:
    tanh: the activation unit's output rounded into the hidden format; relu: ``max(0, z)`` of the
    pre-activation rounded into the hidden format (no activation unit)."""
    cfg = d.cfg
    ext = d.unit_dot_products(t, n, hp)
    acc = d.gemm_h(hp, out=d.input_part()[t, :n], with_const=False) if ext is None else ext[0] + ext[1]
    if d.kern is not None and not d.out_units:  # the same steps, compiled (kernels.rnn_all)
        a, h = d.kern.rnn_all(acc, sat.counts)
        return h, None, (a,)
    acc = sat.take("acc", saturate(acc, cfg.acc))
    z = sat.take("preact", d.narrow(acc, cfg.acc_frac - cfg.preact.frac, cfg.preact, SITE_PREACT, t))
    if d.cell == "rnn_tanh":
        a, frac = d.activate(t, n, slice(0, d.GH), z, d.act.tanh), cfg.act.frac
    else:
        a, frac = torch.clamp(z, min=0.0), cfg.preact.frac
    h = sat.take("hidden", d.narrow(a, frac - cfg.hidden.frac, cfg.hidden, SITE_HIDDEN, t))
    return h, None, (a,)


STEPS = {"lstm": lstm_step, "gru": gru_step, "rnn_tanh": rnn_step, "rnn_relu": rnn_step}


class _Recorder:
    """Outputs of a direction: ``h`` of every step, the final state of each row (kept when it ends),
    saturations per step and, with ``internals``, the gates and cell states."""

    def __init__(self, T: int, B: int, H: int, R: int, GH: int, h0, c0, internals: bool, cell: str, dev):
        f64 = dict(dtype=torch.float64, device=dev)
        self.out = torch.zeros(T, B, R, **f64)
        self.h_fin, self.c_fin = h0.clone(), (c0.clone() if c0 is not None else None)
        self.gates = torch.zeros(T, B, GH, **f64) if internals else None
        self.cells = torch.zeros(T, B, H, **f64) if internals and cell == "lstm" else None
        self.sats: list[tuple[int, ...]] = []

    def store(self, t: int, n: int, n_next: int, h, c, gates, sat: StepSaturations) -> None:
        self.out[t, :n] = h
        if n_next < n:  # rows n_next..n-1 end at this step: keep their final state
            self.h_fin[n_next:n] = h[n_next:]
            if c is not None:
                self.c_fin[n_next:n] = c[n_next:]
        if self.gates is not None:
            self.gates[t, :n] = torch.cat(gates, dim=1)
        if self.cells is not None:
            self.cells[t, :n] = c
        self.sats.append(sat.row())

    def result(self, counters: dict, facts: DirectionFacts) -> DirectionResult:
        sat_steps = torch.tensor(self.sats, dtype=torch.int64).reshape(-1, len(STEP_SAT_CLASSES))
        return DirectionResult(
            self.out,
            self.h_fin,
            self.c_fin,
            sat_steps,
            self.gates,
            self.cells,
            extra={"counters": counters},
            facts=facts,
        )


def run_direction(
    cell: str,
    w: IntWeights,
    x: torch.Tensor,
    batch_sizes: list[int],
    cfg: DatapathConfig,
    h0: torch.Tensor,
    c0: torch.Tensor | None,
    site_base: int = 0,
    record_internals: bool = False,
    gemm: str = "auto",
    units: list[StepUnit] = (),
    layer: int = 0,
    direction: int = 0,
    rows: torch.Tensor | None = None,
    progress: Progress | None = None,
) -> DirectionResult:
    """Run one direction. ``x``: (T, B, D) input-format ints, rows sorted by length (desc), or a
    :class:`~rnnaccel.emulator.steps.StepInput` that fills while the layer below runs (pipelined
    stack); ``progress``: published after every step for the layer above (its outputs so far).

    ``batch_sizes[t]`` rows are active at step ``t`` (a non-increasing list). ``h0``: (B, R),
    ``c0``: (B, H) initial state ints. Rows that finished are never computed again; their final state is
    kept aside when they finish. ``units``: technique units (:mod:`rnnaccel.emulator.hooks`);
    their own counters are returned in ``DirectionResult.extra["counters"]``, the step facts in
    ``DirectionResult.facts``.
    """
    inp = x if isinstance(x, StepInput) else StepInput(x)
    x = inp.x
    T, B, D = x.shape
    with releasing(progress):  # an error here must not leave the layer above waiting
        H = w.w_hh.shape[0] // GATES[cell]
        proj = w.w_hr.shape[0] if w.w_hr is not None else 0
        facts = DirectionFacts(cell, cfg, D, H, batch_sizes, B, proj=proj)
        ctx = DirectionContext(cell, layer, direction, cfg, w, x, batch_sizes, H, site_base, gemm, facts, rows, inp)
        d = Direction(cell, w, x, cfg, site_base, gemm, units, ctx)
        rec = _Recorder(T, B, H, d.R, d.GH, h0, c0, record_internals, cell, x.device)
        if progress is not None:
            progress.out = rec.out
        step = STEPS[cell]
        h, c = h0, c0
        for t, n in enumerate(batch_sizes):
            inp.need(t)  # the chunk holding step t is there (a pipelined layer: it arrived from below)
            hp, cp = h[:n], (c[:n] if c is not None else None)
            sat = StepSaturations()
            h, c, gates = step(d, t, n, hp, cp, sat)
            rec.store(t, n, batch_sizes[t + 1] if t + 1 < T else 0, h, c, gates, sat)
            d.observe(t, n, hp, h, cp, c)
            if progress is not None:
                progress.advance(t + 1, last=t + 1 == len(batch_sizes))
        return rec.result(d.unit_counters(), facts)


def _scaled(v: torch.Tensor, e: int) -> torch.Tensor:
    """``v * 2**e`` (exact), skipping the multiplication when ``e == 0``."""
    return v if e == 0 else v * float(2**e)


def step_counters(
    cell: str, cfg: DatapathConfig, input_size: int, hidden: int, batch_sizes: list[int], proj: int = 0
) -> dict[str, np.ndarray]:
    """Counts per step of one direction without techniques (see :mod:`rnnaccel.emulator.trace`)."""
    return layer_counters(DirectionFacts(cell, cfg, input_size, hidden, batch_sizes, proj=proj))


def make_layer_trace(
    layer: int,
    direction: int,
    cfg: DatapathConfig,
    facts: DirectionFacts,
    sat_steps: torch.Tensor,
    unit_counters: dict[str, np.ndarray] | None = None,
) -> LayerTrace:
    """The LayerTrace of one direction: base counters from ``facts``, the technique units' own
    counters, saturations per class. Refuses a negative count or a unit counter that shadows a base one."""
    f = facts
    lt = LayerTrace(layer, direction, f.cell, f.D, f.H, f.T, cfg.weight.bits, cfg.act.bits)
    base = layer_counters(f)
    for k, v in (unit_counters or {}).items():
        if k in base or k.startswith("mac."):
            raise RuntimeError(f"a technique unit published base counter {k!r}; report facts instead")
        base[k] = v
    for k, v in base.items():
        if k.startswith("mac.") and not np.any(v):
            continue  # a width no MAC used
        lt.add(k, v)
    s = sat_steps.to(torch.int64).cpu().numpy()
    for j, name in enumerate(STEP_SAT_CLASSES):
        if name != "proj" or f.P:  # sat.proj only where there is a projection
            lt.add(f"sat.{name}", s[:, j])
    negative = [k for k, v in lt.counters.items() if (v < 0).any()]
    if negative:
        raise RuntimeError(f"negative count(s) in {lt.key}: {', '.join(negative)} (a counting bug)")
    return lt


__all__ += ["step_counters", "make_layer_trace", "Rounding", "STEP_SAT_CLASSES"]
