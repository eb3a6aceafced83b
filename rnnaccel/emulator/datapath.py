"""The bit-exact integer LSTM/GRU datapath (fast path).

Integers are carried in float64 tensors (exact below 2**53, proven per layer by
``DatapathConfig.check_gemm``). Every narrowing step is ``round_shift`` + ``saturate`` with the
saturation counted. ``docs/datapath.md`` states each step; ``tests/emulator/reference.py`` is the
independent plain-Python-int restatement the tests compare against.

Layout: sequences are sorted by length (longest first) so the rows still running at step ``t``
are a prefix ``[:n_t]`` of the batch — a finished sequence is never computed again and its state
is frozen at its last step. Reverse directions reverse each sequence within its own length.

Gate order in the datapath: LSTM ``[i, f, o, g]`` (sigmoid gates first; PyTorch's ``[i, f, g, o]``
rows are permuted when weights are loaded), GRU ``[r, z, n]`` (PyTorch's order).
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
from .hooks import DirectionContext, StepUnit
from .gates import GATES
from .trace import LayerTrace

__all__ = ["IntWeights", "quantize_weights", "DirectionResult", "run_direction", "GATES",
           "SAT_CLASSES", "lstm_row_order"]

SAT_CLASSES = ("acc", "preact", "cell", "hidden")  # the activation unit cannot saturate
# stochastic-rounding site numbers of the rounding points (see docs/datapath.md)
SITE_PREACT, SITE_CELL, SITE_HIDDEN, SITE_SIG, SITE_TANH, SITE_TANH_C = 0, 1, 2, 3, 4, 5
SITE_XN, SITE_HN, SITE_RHN, SITE_WEIGHT, SITE_INPUT = 6, 7, 8, 9, 10


def lstm_row_order(hidden: int) -> torch.Tensor:
    """Row permutation from PyTorch's LSTM gate order [i, f, g, o] to the datapath's [i, f, o, g]."""
    h = torch.arange(hidden)
    return torch.cat([h, h + hidden, h + 3 * hidden, h + 2 * hidden])


@dataclass
class IntWeights:
    """Integer weights of one direction of one layer (float64-carried), datapath gate order.

    ``w_ih``: (G*H, D), ``w_hh``: (G*H, H) in the weight format; ``b_x``/``b_h``: (G*H,) in the
    bias format, added to the input part / recurrent part of the dot product. For the LSTM and the
    GRU's r, z gates the two PyTorch biases are summed offline into ``b_x`` (``b_h`` is zero);
    the GRU's n gate keeps ``b_in`` in ``b_x`` and ``b_hn`` in ``b_h`` (it is gated by r).
    """

    w_ih: torch.Tensor
    w_hh: torch.Tensor
    b_x: torch.Tensor
    b_h: torch.Tensor
    _gemms: dict = field(default_factory=dict, repr=False, compare=False)

    def gemm(self, which: str, w_bits: int, x_bits: int, scale: float, backend: str) -> ExactGemm:
        """The prepared exact GEMM of ``w_ih`` or ``w_hh`` (cached: weights are split once)."""
        key = (which, w_bits, x_bits, scale, backend)
        if key not in self._gemms:
            self._gemms[key] = ExactGemm(getattr(self, which), w_bits, x_bits, scale, backend)
        return self._gemms[key]


def quantize_weights(cell: str, w_ih, w_hh, b_ih, b_hh, cfg: DatapathConfig, site_base: int = 0
                     ) -> tuple[IntWeights, int]:
    """Float PyTorch-layout parameters -> :class:`IntWeights` and the number of saturations."""
    H = w_hh.shape[1]
    f64 = lambda t: t.detach().to(torch.float64)
    b_ih = f64(b_ih) if b_ih is not None else torch.zeros(w_ih.shape[0], dtype=torch.float64, device=w_ih.device)
    b_hh = f64(b_hh) if b_hh is not None else torch.zeros_like(b_ih)
    if cell == "lstm":
        bx, bh = b_ih + b_hh, torch.zeros_like(b_ih)
    else:
        bx = torch.cat([b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H:]])
        bh = torch.cat([torch.zeros_like(b_hh[: 2 * H]), b_hh[2 * H:]])
    kw = dict(seed=cfg.seed, site=site_base + SITE_WEIGHT)
    qi, s1 = quantize(f64(w_ih), cfg.weight, cfg.rounding, **kw)
    qh, s2 = quantize(f64(w_hh), cfg.weight, cfg.rounding, **kw)
    qbx, s3 = quantize(bx, cfg.bias, cfg.rounding, **kw)
    qbh, s4 = quantize(bh, cfg.bias, cfg.rounding, **kw)
    if cell == "lstm":
        perm = lstm_row_order(H).to(qi.device)
        qi, qh, qbx, qbh = qi[perm], qh[perm], qbx[perm], qbh[perm]
    return IntWeights(qi, qh, qbx, qbh), int(s1 + s2 + s3 + s4)


@dataclass
class DirectionResult:
    """Integer results of one direction over a length-sorted, time-major batch."""

    output: torch.Tensor  # (T, B, H) hidden-format ints, zero past each sequence's end
    h_n: torch.Tensor  # (B, H)
    c_n: torch.Tensor | None  # (B, H) cell-format ints (LSTM)
    sat_steps: torch.Tensor  # (T, len(SAT_CLASSES)) saturations per step
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
        # LSTM [i, f, o | g]; GRU [r, z] (n is evaluated later, after the r gating)
        self.gates = GateActivations([(sig, 3 * H), (tanh, H)] if cell == "lstm" else [(sig, 2 * H)])


def run_direction(cell: str, w: IntWeights, x: torch.Tensor, batch_sizes: list[int], cfg: DatapathConfig,
                  h0: torch.Tensor, c0: torch.Tensor | None, site_base: int = 0,
                  record_internals: bool = False, gemm: str = "auto", units: list[StepUnit] = (),
                  layer: int = 0, direction: int = 0) -> DirectionResult:
    """Run one direction. ``x``: (T, B, D) input-format ints, rows sorted by length (desc).

    ``batch_sizes[t]`` rows are active at step ``t`` (a non-increasing list). ``h0``/``c0``:
    (B, H) initial state ints. Rows that finished are never computed again; their final state is
    kept aside when they finish. ``units``: technique units (:mod:`rnnaccel.emulator.hooks`);
    their counters are returned in ``DirectionResult.extra["counters"]``.
    """
    T, B, D = x.shape
    GH, H = w.w_hh.shape
    fa_acc, fw, fz, fa = cfg.acc_frac, cfg.weight.frac, cfg.preact.frac, cfg.act.frac
    fh, fc = cfg.hidden.frac, cfg.cell.frac
    rnd, seed = cfg.rounding, cfg.seed
    act_units = _act_units(cell, cfg, site_base, H)
    dev = x.device
    gemm_h = w.gemm("w_hh", cfg.weight.bits, cfg.hidden.bits, 2.0 ** (fa_acc - fw - fh), gemm)
    gx_cache: list[torch.Tensor] = []

    def gx_all() -> torch.Tensor:
        """The x part of every step at once (T, B, G*H): exact products aligned to the accumulator's
        frac, plus b_x. Computed on first use: a unit that supplies the dot products never needs it."""
        if not gx_cache:
            gemm_x = w.gemm("w_ih", cfg.weight.bits, cfg.input.bits, 2.0 ** (fa_acc - fw - cfg.input.frac), gemm)
            g = gemm_x(x.reshape(T * B, D)).reshape(T, B, GH)
            g += w.b_x * float(2 ** (fa_acc - cfg.bias.frac))
            if cell == "lstm" and gemm_h.const is not None:
                g += gemm_h.const  # the LSTM's recurrent GEMM accumulates onto gx: its constant, once
            gx_cache.append(g)
        return gx_cache[0]
    b_hn = (w.b_h[2 * H:] * float(2 ** (fa_acc - cfg.bias.frac))) if cell == "gru" else None
    h_fin, c_fin = h0.clone(), (c0.clone() if c0 is not None else None)  # final states
    h, c = h0, c0
    out = torch.zeros(T, B, H, dtype=torch.float64, device=dev)
    sats = []
    gates_rec = torch.zeros(T, B, GH, dtype=torch.float64, device=dev) if record_internals else None
    cells_rec = torch.zeros(T, B, H, dtype=torch.float64, device=dev) if record_internals and cell == "lstm" else None
    one_a = float(2 ** fa)
    facts = DirectionFacts(cell, cfg, D, H, batch_sizes, B)
    ctx = DirectionContext(cell, layer, direction, cfg, w, x, batch_sizes, H, site_base, gemm, facts)
    for u in units:
        u.begin(ctx)
    acc_units = [u for u in units if type(u).gate_acc is not StepUnit.gate_acc]
    out_units = [u for u in units if type(u).gate_out is not StepUnit.gate_out]
    obs_units = [u for u in units if type(u).observe is not StepUnit.observe]

    def dot(t, n, hp):
        """(ax, ah) from the first unit that supplies them, else None (the plain path). Every unit
        is called: one may only observe the step's inputs while another supplies the products."""
        got = None
        for u in acc_units:
            r = u.gate_acc(t, n, hp)
            if got is None:
                got = r
        return got

    def gate_out(t, n, cols, z, a, act):
        for u in out_units:
            a = u.gate_out(t, n, cols, z, a, act)
        return a

    def narrow(v, s, fmt: Fmt, site, t):
        return saturate(round_shift(v, s, rnd, seed=seed, site=site_base + site, step=t), fmt)

    for t in range(T):
        n = batch_sizes[t]
        hp = h[:n]
        ext = dot(t, n, hp) if acc_units else None
        if cell == "lstm":
            acc = gemm_h(hp, out=gx_all()[t, :n], with_const=False) if ext is None else ext[0] + ext[1]
            acc, s_acc = saturate(acc, cfg.acc)
            z, s_pre = narrow(acc, fa_acc - fz, cfg.preact, SITE_PREACT, t)
            a = act_units.gates(z, t)
            if out_units:
                a = gate_out(t, n, slice(0, GH), z, a, lambda v: act_units.gates(v, t))
            i, f, o, g = a[:, :H], a[:, H: 2 * H], a[:, 2 * H: 3 * H], a[:, 3 * H:]
            fm = max(2 * fa, fa + fc)
            cm = torch.addcmul(_scaled(i * g, fm - 2 * fa), f, c[:n], value=float(2 ** (fm - fa - fc)))
            c_new, s_cell = narrow(cm, fm - fc, cfg.cell, SITE_CELL, t)
            h_new, s_hid = narrow(o * act_units.tanh_c(c_new, t), 2 * fa - fh, cfg.hidden, SITE_HIDDEN, t)
            if record_internals:
                gates_rec[t, :n] = torch.cat([i, f, g, o], dim=1)
                cells_rec[t, :n] = c_new
        else:  # GRU
            if ext is None:
                ax, gh = gx_all()[t, :n], gemm_h(hp)
                gh[:, 2 * H:] += b_hn
            else:
                ax, gh = ext
            acc_rz, s_acc1 = saturate(gh[:, : 2 * H] + ax[:, : 2 * H], cfg.acc)
            z_rz, s_pre1 = narrow(acc_rz, fa_acc - fz, cfg.preact, SITE_PREACT, t)
            rz = act_units.gates(z_rz, t)
            if out_units:
                rz = gate_out(t, n, slice(0, 2 * H), z_rz, rz, lambda v: act_units.gates(v, t))
            r, zg = rz[:, :H], rz[:, H:]
            axn, s_acc2 = saturate(ax[:, 2 * H:], cfg.acc)
            ahn, s_acc3 = saturate(gh[:, 2 * H:], cfg.acc)
            qxn, s_pre2 = narrow(axn, fa_acc - fz, cfg.preact, SITE_XN, t)
            qhn, s_pre3 = narrow(ahn, fa_acc - fz, cfg.preact, SITE_HN, t)
            pre_n, s_pre4 = saturate(
                qxn + round_shift(r * qhn, fa, rnd, seed=seed, site=site_base + SITE_RHN, step=t), cfg.preact)
            nn_ = act_units.tanh(pre_n, t)
            if out_units:
                nn_ = gate_out(t, n, slice(2 * H, 3 * H), pre_n, nn_, lambda v: act_units.tanh(v, t))
            fg = max(fa, fh)
            hm = torch.addcmul(_scaled((one_a - zg) * nn_, fg - fa), zg, hp, value=float(2 ** (fg - fh)))
            h_new, s_hid = narrow(hm, fa + fg - fh, cfg.hidden, SITE_HIDDEN, t)
            s_acc, s_pre, s_cell = s_acc1 + s_acc2 + s_acc3, s_pre1 + s_pre2 + s_pre3 + s_pre4, 0
            c_new = None
            if record_internals:
                gates_rec[t, :n] = torch.cat([r, zg, nn_], dim=1)
        out[t, :n] = h_new
        n_next = batch_sizes[t + 1] if t + 1 < T else 0
        if n_next < n:  # rows n_next..n-1 end at this step: keep their final state
            h_fin[n_next:n] = h_new[n_next:]
            if c_new is not None:
                c_fin[n_next:n] = c_new[n_next:]
        for u in obs_units:
            u.observe(t, n, hp, h_new, c[:n] if c is not None else None, c_new)
        h, c = h_new, c_new
        sats.append((s_acc, s_pre, s_cell, s_hid))
    sat_steps = torch.tensor(sats, dtype=torch.int64).reshape(-1, len(SAT_CLASSES))
    counters: dict[str, np.ndarray] = {}
    for u in units:
        for k, v in u.counters().items():
            counters[k] = counters.get(k, 0) + np.asarray(v, dtype=np.int64)
    return DirectionResult(out, h_fin, c_fin, sat_steps, gates_rec, cells_rec, extra={"counters": counters},
                           facts=facts)


def _scaled(v: torch.Tensor, e: int) -> torch.Tensor:
    """``v * 2**e`` (exact), skipping the multiplication when ``e == 0``."""
    return v if e == 0 else v * float(2 ** e)


def step_counters(cell: str, cfg: DatapathConfig, input_size: int, hidden: int,
                  batch_sizes: list[int]) -> dict[str, np.ndarray]:
    """Counts per step of one direction without techniques (see :mod:`rnnaccel.emulator.trace`)."""
    return layer_counters(DirectionFacts(cell, cfg, input_size, hidden, batch_sizes))


def make_layer_trace(layer: int, direction: int, cfg: DatapathConfig, facts: DirectionFacts,
                     sat_steps: torch.Tensor, unit_counters: dict[str, np.ndarray] | None = None) -> LayerTrace:
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
    for j, name in enumerate(SAT_CLASSES):
        lt.add(f"sat.{name}", s[:, j])
    negative = [k for k, v in lt.counters.items() if (v < 0).any()]
    if negative:
        raise RuntimeError(f"negative count(s) in {lt.key}: {', '.join(negative)} (a counting bug)")
    return lt


__all__ += ["step_counters", "make_layer_trace", "Rounding"]
