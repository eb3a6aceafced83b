"""The precision unit: for every row and time step of one (layer, direction), one ladder width.

Width ``b`` of a layer whose stored formats are weight ``Q(wb, fw)``, input ``Q(xb, fx)``, hidden
``Q(hb, fh)`` uses the most significant bits of the stored integers (no second model copy)::

    W_b = sat_b(rshift(W, wb - b))               format Q(b,  fw - (wb - b))
    x_b = sat_bx(rshift(x, xb - bx)), bx = min(b, xb);  h_b likewise with bh = min(b, hb)
    ax  = (W_ih_b . x_b) << (F_acc - fw - fx + (wb - b) + (xb - bx)) + b_x << (F_acc - fb)
    ah  = (W_hh_b . h_b) << (F_acc - fw - fh + (wb - b) + (hb - bh)) + b_h << (F_acc - fb)

``rshift`` is the layer's rounding mode (stochastic dither sites ``site_base + 20/21/22`` for
x/h/weights). ``(ax, ah)`` go back to the datapath through the ``gate_acc`` hook, so the cell
state and everything after the dot products keep their formats. The decision rule, the counts and
their names are in ``docs/precision.md``.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..config import DatapathConfig
from ..formats import Fmt, Rounding, round_shift, saturate
from ..gemm import ExactGemm
from ..hooks import Carry, CarryingFactory, DirectionContext, StepUnit
from ..steps import StepMap
from .config import PrecisionConfig, int_thresholds, load_precision
from .trial import trial_state

__all__ = ["PrecisionUnit", "PrecisionFactory", "precision_factory", "SITE_PX", "SITE_PH", "SITE_PW"]

SITE_PX, SITE_PH, SITE_PW = 20, 21, 22  # stochastic dither points of the operand narrowing


class _Level:
    """One ladder width ``b``: operand widths and the bits each operand drops."""

    def __init__(self, b: int, cfg: DatapathConfig):
        self.b, self.bx, self.bh = b, min(b, cfg.input.bits), min(b, cfg.hidden.bits)
        self.sw, self.sx, self.sh = cfg.weight.bits - b, cfg.input.bits - self.bx, cfg.hidden.bits - self.bh
        self.gemm_x = self.gemm_h = None
        self.wsat = 0
        self.gx = None  # StepMap: per step, the input part incl. b_x (B, G*H) and x_b's clamps per row (B,)


class PrecisionUnit(StepUnit):
    """The controller + reduced-width GEMMs of one (layer, direction) (see module docstring).

    After a run: ``bits_rows`` (T, B) the width each row's step kept (0 = inactive) and ``scores``
    (T, B) the integer metric of each step (-1 = not computed), both in the datapath's
    length-sorted row order (the caller's order for B = 1).
    """

    record_trials = False  # tests: keep the re-execution trial states

    def __init__(
        self, pc: PrecisionConfig, layer: int, direction: int, cfg: DatapathConfig, carry: Carry | None = None
    ):
        self.carry = carry if carry is not None else Carry()
        wb = cfg.weight.bits
        for b in pc.widths:
            if b > wb:
                what = (
                    f"precision.bits={b}"
                    if pc.mode == "static" and pc.bits is not None
                    else f"precision.ladder={pc.ladder}"
                )
                raise ValueError(
                    f"{what}: width {b} is wider than the stored weights (layer {layer}: weight format {cfg.weight})"
                )
        self.pc, self.layer, self.direction = pc, layer, direction
        self.levels = [_Level(b, cfg) for b in pc.widths]
        self.widths = np.asarray(pc.widths, dtype=np.int64)
        self.dynamic = pc.mode in ("dynamic", "reexec")
        self.reexec = pc.mode == "reexec"
        self.tau, self.thresholds = pc.layer_rule(layer)

    # ------------------------------------------------------------------ set-up
    def begin(self, ctx: DirectionContext) -> None:
        super().begin(ctx)
        cfg, w = ctx.cfg, ctx.weights
        self.lstm = ctx.cell == "lstm"
        T, B, self.D = len(ctx.batch_sizes), ctx.x.shape[1], ctx.x.shape[2]
        self.H, self.GH = ctx.hidden_size, w.w_hh.shape[0]
        frac = cfg.cell.frac if self.lstm else cfg.hidden.frac  # the monitored state's format
        ctx.facts.weight_read = self.pc.weight_read
        self.tau_q, q = int_thresholds(self.pc.metric, self.tau, self.thresholds, frac, self.H)
        self.q = np.asarray(q[: len(self.levels) - 1], dtype=np.int64)
        sb = float(2 ** (cfg.acc_frac - cfg.bias.frac))
        self.bx_s = w.b_x * sb
        self.bh_s = w.b_h * sb if bool(w.b_h.any()) else None
        K = len(self.levels)
        self.attempt = np.zeros((T, K), np.int64)  # rows that computed at each width
        self.final = np.zeros((T, K), np.int64)  # rows whose kept result has each width
        self.redo = np.zeros(T, np.int64)
        self.sat = np.zeros(T, np.int64)
        self.cmp = np.zeros(T, np.int64)
        self.cnt = np.zeros(T, np.int64)
        self.bits_rows = np.zeros((T, B), np.int64)
        self.level_rows = np.full((T, B), -1, np.int64)  # ladder level each row computed at
        self.scores = np.full((T, B), -1, np.int64)
        self.trials = []
        st = self.carry.take(ctx, self._fresh)  # each sequence's history (continued in a session)
        self.hist, self.pos, self.c_last = st["hist"], st["pos"], st.get("c_last")
        self._used = set()
        for lvl in self.levels:
            lvl.gemm_x, lvl.gemm_h, lvl.wsat = self._gemms(lvl)
            lvl.gx = None
        H = self.H
        # controller operations per row and metric evaluation (docs/precision.md §4)
        self.ops_cmp, self.ops_cnt = {"fraction": (H, 2 * H), "max": (H, H), "mean": (0, 2 * H)}[self.pc.metric]

    def _fresh(self, rows: int) -> dict:
        """The controller state of ``rows`` new sequences: no history (their first step runs at the
        widest width), and for ``reexec`` on an LSTM the cell state the previous step ended with."""
        st = {"hist": np.full((rows, self.pc.history), -1, np.int64), "pos": np.zeros(rows, np.int64)}
        if self.reexec and self.lstm:
            st["c_last"] = torch.zeros(rows, self.H, dtype=torch.float64, device=self.ctx.x.device)
        return st

    def _narrow(self, v, s, bits, site, step):
        cfg = self.ctx.cfg
        r = round_shift(v, s, cfg.rounding, seed=cfg.seed, site=self.ctx.site_base + site, step=step)
        return saturate(r, Fmt(bits, 0))

    def _gemms(self, lvl: _Level):
        """Reduced weights and their exact GEMMs, cached on the IntWeights object (like its own)."""
        ctx, cfg, w = self.ctx, self.ctx.cfg, self.ctx.weights
        fa, fw = cfg.acc_frac, cfg.weight.frac
        sx = 2.0 ** (fa - fw - cfg.input.frac + lvl.sw + lvl.sx)
        sh = 2.0 ** (fa - fw - cfg.hidden.frac + lvl.sw + lvl.sh)
        if lvl.sw == 0:  # the stored weights: share the datapath's prepared GEMMs
            return w.gemm("w_ih", lvl.b, lvl.bx, sx, ctx.gemm), w.gemm("w_hh", lvl.b, lvl.bh, sh, ctx.gemm), 0
        key = ("precision", lvl.b, lvl.bx, lvl.bh, cfg.rounding, cfg.seed, ctx.site_base, ctx.gemm)
        if key not in w._gemms:
            wi, s1 = self._narrow(w.w_ih, lvl.sw, lvl.b, SITE_PW, 0)
            wh, s2 = self._narrow(w.w_hh, lvl.sw, lvl.b, SITE_PW, 0)
            w._gemms[key] = (
                ExactGemm(wi, lvl.b, lvl.bx, sx, ctx.gemm),
                ExactGemm(wh, lvl.b, lvl.bh, sh, ctx.gemm),
                int(s1 + s2),
            )
        return w._gemms[key]

    def _gx(self, lvl: _Level) -> StepMap:
        """The input part of every step at this width, with its narrowing's clamps per (step, row):
        ``.at(t)`` -> ((B, G*H), (B,)); made per run, one chunk of input steps at a time (:mod:`..steps`)."""
        if lvl.gx is None:
            lvl.gx = self.ctx.per_step(functools.partial(self._gx_steps, lvl))
        return lvl.gx

    def _gx_steps(self, lvl: _Level, x: torch.Tensor, t0: int) -> tuple[torch.Tensor, np.ndarray]:
        T, B, D = x.shape
        if lvl.sx == 0:
            xq, xsat = x, np.zeros((T, B), np.int64)
        else:
            stoch = self.ctx.cfg.rounding == Rounding.STOCHASTIC
            steps = range(T) if stoch else [None]
            raw = torch.cat(
                [
                    round_shift(
                        x[t] if stoch else x,
                        lvl.sx,
                        self.ctx.cfg.rounding,
                        seed=self.ctx.cfg.seed,
                        site=self.ctx.site_base + SITE_PX,
                        step=t0 + t if stoch else 0,
                    ).reshape(-1, B, D)
                    for t in steps
                ]
            )
            xq = raw.clamp(float(Fmt(lvl.bx, 0).qmin), float(Fmt(lvl.bx, 0).qmax))
            xsat = (raw != xq).sum(dim=2).to(torch.int64).cpu().numpy()
        return lvl.gemm_x(xq.reshape(T * B, D), add=self.bx_s).reshape(T, B, self.GH), xsat

    def _ah(self, lvl: _Level, t: int, hp: torch.Tensor) -> torch.Tensor:
        if lvl.sh:
            hp, s = self._narrow(hp, lvl.sh, lvl.bh, SITE_PH, t)
            self.sat[t] += s
        ah = lvl.gemm_h(hp)
        return ah + self.bh_s if self.bh_s is not None else ah

    def _acc(self, t: int, k: int, hp: torch.Tensor, rows) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ax, ah)`` of ``rows`` (None = the prefix ``hp`` covers) at level ``k``."""
        lvl = self.levels[k]
        gx, xsat = self._gx(lvl).at(t)
        if k not in self._used:  # a width's weight saturations count once per run, when first used
            self._used.add(k)
            self.sat[t] += lvl.wsat
        if rows is None:
            n = hp.shape[0]
            self.sat[t] += int(xsat[:n].sum())
            return gx[:n], self._ah(lvl, t, hp)
        self.sat[t] += int(xsat[rows.numpy()].sum())
        return gx[rows], self._ah(lvl, t, hp[rows])

    # ------------------------------------------------------------------ hooks
    def _level(self, score: np.ndarray) -> np.ndarray:
        """Level index (0 = widest) for integer scores: the first k with score > q_k, else the last."""
        return (score[:, None] <= self.q[None, :]).sum(axis=1)

    def _score(self, d: torch.Tensor) -> np.ndarray:
        """Integer metric of state changes ``d`` (m, H) = |s_t - s_{t-1}| (state-format ints)."""
        m = self.pc.metric
        s = (d > self.tau_q).sum(dim=1) if m == "fraction" else d.amax(dim=1) if m == "max" else d.sum(dim=1)
        return s.to(torch.int64).cpu().numpy()

    def decide(self, t: int, n: int) -> np.ndarray:
        """Level index (0 = widest) of each active row at step ``t``, from the row's earlier steps
        only; a row without history (static mode, a sequence's first step) runs at the widest."""
        if not self.dynamic:
            return np.zeros(n, np.int64)
        past = self.hist[:n].max(axis=1)
        known = past >= 0
        self.cmp[t] += int(known.sum()) * (len(self.levels) - 1 + self.pc.history - 1)
        return np.where(known, self._level(past), 0)

    def gate_acc(self, t: int, n: int, hp: torch.Tensor):
        K = len(self.levels)
        lv = self.decide(t, n)
        ks = np.unique(lv)
        if len(ks) == 1:
            ax, ah = self._acc(t, int(ks[0]), hp, None)
        else:
            ax = torch.empty(n, self.GH, dtype=hp.dtype, device=hp.device)
            ah = torch.empty_like(ax)
            for k in ks:
                rows = torch.from_numpy(np.nonzero(lv == k)[0])
                ax[rows], ah[rows] = self._acc(t, int(k), hp, rows)
        self.attempt[t] = np.bincount(lv, minlength=K)
        self.level_rows[t, :n] = lv
        final = lv
        low = np.nonzero(lv > 0)[0]
        if self.reexec and len(low):
            rows = torch.from_numpy(low)
            cp = self.c_last[:n][rows] if self.lstm else None
            trial = trial_state(self.ctx, t, ax[rows], ah[rows], hp[rows], cp)
            prev = cp if self.lstm else hp[rows]
            need = self._level(self._score((trial - prev).abs()))
            redo = low[need < lv[low]]
            self.cmp[t] += len(low)  # one compare against the attempted width's threshold
            if self.record_trials:
                self.trials.append((t, low, trial, redo))
            if len(redo):
                r = torch.from_numpy(redo)
                ax, ah = ax.clone(), ah.clone()  # never write into the cached input part
                ax[r], ah[r] = self._acc(t, 0, hp, r)
                final = lv.copy()
                final[redo] = 0
                self.redo[t] = len(redo)
                self.cmp[t] += len(redo) * self.ops_cmp
                self.cnt[t] += len(redo) * self.ops_cnt
        self.final[t] = np.bincount(final, minlength=K)
        self.bits_rows[t, :n] = self.widths[final]
        self._report_widths(t, lv, redo if self.reexec and len(low) else ())
        return ax, ah

    def _report_widths(self, t: int, lv: np.ndarray, redo) -> None:
        """Facts: each running row's widths (its attempted level), and the rows re-executed at the widest."""
        bw, bx, bh = (np.asarray([getattr(lvl, a) for lvl in self.levels], np.int64) for a in ("b", "bx", "bh"))
        rows = np.arange(len(lv))
        self.ctx.facts.set_widths(t, rows, bw[lv], bx[lv], bh[lv])
        if len(redo):
            top = self.levels[0]
            self.ctx.facts.set_widths(t, np.asarray(redo), top.b, top.bx, top.bh, pass_=1)

    def observe(self, t, n, h_prev, h_new, c_prev, c_new) -> None:
        if self.c_last is not None:
            self.c_last[:n] = c_new
        if not self.dynamic:
            return
        d = (c_new - c_prev).abs() if self.lstm else (h_new - h_prev).abs()
        s = self._score(d)
        self.hist[np.arange(n), self.pos[:n] % self.pc.history] = s
        self.pos[:n] += 1
        self.scores[t, :n] = s
        self.cmp[t] += n * self.ops_cmp
        self.cnt[t] += n * self.ops_cnt

    # ------------------------------------------------------------------ counts
    def counters(self) -> dict[str, np.ndarray]:
        """The unit's own per-step counts (docs/precision.md §5); MACs and bytes at the chosen widths
        are counted from the facts it reported (:meth:`_report_widths`)."""
        out: dict[str, np.ndarray] = {}
        for k, lvl in enumerate(self.levels):
            out[f"precision.steps_at_{lvl.b}"] = self.final[:, k].copy()
        widest = np.argmax(self.final > 0, axis=1)  # first (widest) level any row kept
        out["precision.bits"] = np.where(self.final.sum(axis=1) > 0, self.widths[widest], 0)
        if self.dynamic:
            out["precision.compares"] = self.cmp.copy()
            out["precision.counter_ops"] = self.cnt.copy()
        if self.reexec:
            out["precision.reexec_macs"] = self.redo * self.GH * (self.D + self.H)
        out["sat.precision"] = self.sat.copy()
        return out


class PrecisionFactory(CarryingFactory):
    """``f(layer, direction, cfg) -> PrecisionUnit | None`` for ``module.units``.

    ``units[(layer, direction)]`` holds the unit of the latest run (for statistics and plots).
    Each (layer, direction)'s history lives in a :class:`~rnnaccel.emulator.hooks.Carry`: fresh
    at every call, kept across calls in a session.
    """

    def __init__(self, config: PrecisionConfig):
        self.config = config
        self.units: dict[tuple[int, int], PrecisionUnit] = {}

    def __call__(self, layer: int, direction: int, cfg: DatapathConfig):
        if self.config.mode == "off":
            return None
        u = PrecisionUnit(self.config, layer, direction, cfg, self.carry(layer, direction))
        self.units[(layer, direction)] = u
        return u

    def spawn(self) -> "PrecisionFactory":
        """A new factory of the same settings (one per module of a session)."""
        return PrecisionFactory(self.config)


def precision_factory(config) -> PrecisionFactory:
    """A unit factory from a :class:`PrecisionConfig`, a mapping, a hydra node or a packaged name."""
    return PrecisionFactory(load_precision(config))
