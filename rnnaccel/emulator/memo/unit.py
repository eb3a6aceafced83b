"""The memoization :class:`~rnnaccel.emulator.hooks.StepUnit` and its factory.

One :class:`MemoUnit` serves one (layer, direction) of one call; its memo buffer has one entry
per (row, gate neuron), held in the factory's :class:`~rnnaccel.emulator.hooks.Carry` of that
(layer, direction): empty at every call in plain emulation, kept across calls in a session (a
decoder called once per token reuses across tokens). Nothing crosses a layer or direction.
Shapes: ``B`` rows (length-sorted; the active rows at step ``t`` are ``[:n]``), ``G`` gates, ``H``
units, ``GH = G*H`` gate neurons in datapath order (LSTM i, f, o, g; GRU r, z, n), ``D`` inputs,
``N = D + H``.

Hooks used: ``gate_acc`` (sees ``h_{t-1}``: computes the BNN outputs / input deltas and, for bnn
and delta, decides the whole step; returns None so the datapath keeps its own dot products),
``gate_out`` (oracle decision; replaces reused outputs by the cached ones; refreshes the entries of
computed neurons; reports the neurons not computed into ``ctx.facts``) and ``counters`` (the
``memo.*`` counts of the predictor and the buffer; ``memo.weight_bytes_skipped`` and every base
counter are derived from the facts in :mod:`rnnaccel.emulator.facts`).
"""

from __future__ import annotations

import numpy as np
import torch

from .. import kernels
from ..gates import GATES, SIGMOID_GATES
from ..gemm import _dense, int8_available
from ..hooks import Carry, CarryingFactory, DirectionContext, StepUnit
from .config import MemoConfig
from .rule import MemoState, bnn_dot, bnn_dtype, commit, decide, sign_pm1

__all__ = ["MemoUnit", "MemoFactory", "memo_factory", "COUNTERS"]

#: the unit's own counters (``memo.weight_bytes_skipped`` is counted from the facts, with the others)
COUNTERS = (
    "memo.computed",
    "memo.reused",
    "memo.bnn_xnor",
    "memo.bnn_popcount",
    "memo.bnn_bits_read",
    "memo.buffer_reads",
    "memo.buffer_writes",
)
_LIMIT = 2**62  # int64 headroom of the reuse test


class MemoUnit(StepUnit):
    """Neuron-level fuzzy memoization of one (layer, direction). ``record=True`` keeps, per step,
    the predictor signal, the true gate values and the decisions in :attr:`rec` (see :meth:`begin`)."""

    def __init__(self, cfg: MemoConfig, layer: int, direction: int, record: bool = False, carry: Carry | None = None):
        self.cfg, self.layer, self.direction, self.record = cfg, layer, direction, record
        self.carry = carry if carry is not None else Carry()

    # ------------------------------------------------------------------ setup
    def begin(self, ctx: DirectionContext) -> None:
        super().begin(ctx)
        cfg, dc, w = self.cfg, ctx.cfg, ctx.weights
        T, B, D = ctx.x.shape
        G, H = GATES[ctx.cell], ctx.hidden_size
        self.G, self.H, self.GH, self.D, self.N, self.T = G, H, G * H, D, D + H, len(ctx.batch_sizes)
        dev = ctx.x.device
        self.kind = cfg.predictor
        self.k = cfg.theta_frac_bits
        tq = [cfg.theta_q(th) for th in cfg.gate_thetas(self.layer, ctx.cell)]
        self.tq_gate = torch.tensor(tq, dtype=torch.int64, device=dev)  # (G,)
        self.tq = self.tq_gate.repeat_interleave(H)  # (GH,)
        self.n_sig = SIGMOID_GATES[ctx.cell] * H  # datapath columns [0, n_sig) are sigmoid gates
        self.fast = kernels.enabled(dev)  # the reuse test and the signs as compiled loops (same integers)
        if self.kind == "bnn":
            self.bdt = bnn_dtype(self.N)
            self._bnn_weights(w, dev)
            if self.sw_ih8 is not None:

                def bx(x: torch.Tensor, t0: int) -> torch.Tensor:  # int32 sums of D terms ±1 (exact)
                    T, B, D = x.shape
                    return torch._int_mm(self._signs8(x.reshape(T * B, D)), self.sw_ih8).reshape(T, B, self.GH)
            else:

                def bx(x: torch.Tensor, t0: int) -> torch.Tensor:
                    return bnn_dot(sign_pm1(x, cfg.sign_zero, self.bdt), self.sw_ih)

            self.bx = ctx.per_step(bx)  # (T, B, GH) by step: the x part of every step
            smax, frac = self.N, 0
        elif self.kind == "oracle":
            fmt = dc.act if cfg.cache == "output" else dc.preact
            smax, frac = fmt.max_abs, fmt.frac
        else:  # delta: [x; h] aligned to a common fraction F
            frac = max(dc.input.frac, dc.hidden.frac)
            self.sx, self.sh = 2 ** (frac - dc.input.frac), 2 ** (frac - dc.hidden.frac)
            smax = max(dc.input.max_abs * self.sx, dc.hidden.max_abs * self.sh)
            self.groups = len(set(tq))  # gates with equal thresholds stay in step: one compare each
        self.frac = frac
        m = max(smax, 2**frac, 1)
        th = max(cfg.gate_thetas(self.layer, ctx.cell))
        if (th + 3) * m * 2**self.k >= _LIMIT:
            raise ValueError(
                f"memo: theta={th} too large for an exact int64 reuse test on layer {self.layer} "
                f"(signal up to {m}, theta_frac_bits={self.k})"
            )
        buf = self.carry.take(ctx, self._fresh)  # the sequences' buffers (continued in a session)
        self.state = MemoState(buf["valid"], buf["sig_m"], buf["err"], buf["count"])
        self.cached = buf["cached"]  # y_m (act or preact ints)
        self.vm = buf.get("vm")  # delta: [x; h] at the last evaluation
        self.reuse = None  # (n, GH) decisions of the current step (bnn, delta)
        self.step = -1
        z = lambda: np.zeros(self.T, dtype=np.int64)
        self.c = {k: z() for k in COUNTERS}
        if self.kind == "delta":
            self.c["memo.delta_compares"] = z()
        if self.record:
            nan = lambda F: torch.full((self.T, B, F), float("nan"), dtype=torch.float64, device=dev)
            #: sig: BNN output b (bnn), true cached quantity (oracle), max|[x;h] - m| per gate (delta)
            self.rec = {
                "sig": nan(self.GH),
                "z": nan(self.GH),
                "a": nan(self.GH),
                "hp": nan(H),
                "reuse": torch.zeros(self.T, B, self.GH, dtype=torch.bool, device=dev),
            }

    def _fresh(self, rows: int) -> dict:
        """Empty buffers of ``rows`` new sequences (every entry invalid)."""
        dev = self.ctx.x.device
        st = MemoState.empty(rows, self.G if self.kind == "delta" else self.GH, dev)
        buf = {"valid": st.valid, "sig_m": st.sig_m, "err": st.err, "count": st.count}
        buf["cached"] = torch.zeros(rows, self.GH, dtype=torch.float64, device=dev)
        if self.kind == "delta":
            buf["vm"] = torch.zeros(rows, self.G, self.N, dtype=torch.int64, device=dev)
        return buf

    # ------------------------------------------------------------------ hooks
    def gate_acc(self, t: int, n: int, hp: torch.Tensor):
        """``hp`` (n, H): h_{t-1} of the active rows. Decides the step for bnn/delta; returns None."""
        self.step = t
        st, c = self.state, self.c
        if self.record:
            self.rec["hp"][t, :n] = hp
        if self.kind == "bnn":
            b = (self.bx[t, :n] + self._bnn_h(hp)).to(torch.int64)  # (n, GH), |b| <= N: exact in int32
            self.reuse, nv = self._decide(b, slice(None), n)
            c["memo.buffer_reads"][t] += nv  # b_m (and y_m) of non-empty entries
            c["memo.bnn_xnor"][t] += n * self.GH * self.N
            c["memo.bnn_popcount"][t] += n * self.GH
            c["memo.bnn_bits_read"][t] += self.GH * self.N  # sign rows read once per step (shared by the batch)
            if self.record:
                self.rec["sig"][t, :n] = b.to(torch.float64)
        elif self.kind == "delta":
            v = torch.cat([self.ctx.x[t, :n] * self.sx, hp * self.sh], dim=1).to(torch.int64)  # (n, N)
            vm = self.vm[:n]  # (n, G, N)
            change = (v.unsqueeze(1) - vm).abs().amax(dim=2)  # (n, G)
            if self.cfg.rule == "relative":
                denom = vm.abs().amax(dim=2).clamp(min=1)
            else:
                denom = torch.full_like(change, 2**self.frac)
            ok, e = decide(
                change,
                st.err[:n],
                denom,
                st.valid[:n],
                st.count[:n],
                self.tq_gate,
                self.k,
                self.cfg.accumulate,
                self.cfg.max_reuse,
            )
            commit(st, n, slice(None), ok, torch.zeros_like(change), e)
            self.vm[:n] = torch.where(ok.unsqueeze(2), vm, v.unsqueeze(1))
            self.reuse = ok.repeat_interleave(self.H, dim=1)  # (n, GH)
            c["memo.delta_compares"][t] += n * self.N * self.groups
            if self.record:
                self.rec["sig"][t, :n] = change.to(torch.float64).repeat_interleave(self.H, dim=1)
        return None

    def gate_out(self, t, n, cols, z, a, act):
        """``z``, ``a`` (n, len(cols)) pre-activations and activations of datapath columns ``cols``."""
        if self.step != t:
            raise RuntimeError(
                "memo: gate_acc was not called at this step; put the memo factory before any unit "
                "that supplies gate_acc in module.units"
            )
        out_cache = self.cfg.cache == "output"
        val = a if out_cache else z  # the quantity the buffer holds
        if self.kind == "oracle":
            s = val.to(torch.int64)
            reuse, nv = self._decide(s, cols, n)
            self.c["memo.buffer_reads"][self.step] += nv
        else:
            reuse = self.reuse[:, cols]
        if self.record:
            self.rec["z"][t, :n, cols], self.rec["a"][t, :n, cols] = z, a
            self.rec["reuse"][t, :n, cols] = reuse
            if self.kind == "oracle":
                self.rec["sig"][t, :n, cols] = val
        if self.fast and out_cache and not self.record:
            return self._output_compiled(t, n, cols, reuse, a)
        ym = self.cached[:n, cols]
        if bool(reuse.any()):
            if out_cache:
                a = torch.where(reuse, ym, a)
            else:
                a = torch.where(reuse, act(torch.where(reuse, ym, z)), a)
        self.cached[:n, cols] = torch.where(reuse, ym, val)
        self._count(t, n, cols, reuse)
        return a

    def counters(self) -> dict[str, np.ndarray]:
        """Per-step ``memo.*`` counts of the predictor and the buffer (never negative)."""
        return {k: v.copy() for k, v in self.c.items()}

    # ------------------------------------------------------------------ internals
    def _bnn_weights(self, w, dev: torch.device) -> None:
        """The sign rows the BNN needs, made once per weights (cached on them: a decoder calling once
        per step does not redo them). The x part of all steps is one GEMM of int8 ±1 signs (int32
        sums of at most N < 2**31 terms: exact, the same integers as ``bnn_dot``'s float GEMM, ~4x
        faster on a CPU); the h part of each step is XOR + popcount on sign bits packed 64 to a word
        with the compiled kernels (the packed W_hh is GH*H/8 bytes; 45 vs 125 us for the int8 GEMM of a
        16x512x2048 step, measured alone), else the int8 GEMM, else ``bnn_dot``."""
        z, N = self.cfg.sign_zero, self.N
        int8 = int8_available(dev) and N < 2**31
        cached = lambda key, make: w._gemms[key] if key in w._gemms else w._gemms.setdefault(key, make())
        self.sw_ih8 = self.sw_ih = self.sw_hh8 = self.sw_hh = self.pw_hh = None
        if int8:
            self.sw_ih8 = cached(("memo.signs8.w_ih.T", z), lambda: _dense(sign_pm1(w.w_ih, z, torch.int8).T))
        else:
            self.sw_ih = cached(("memo.signs.w_ih", z, self.bdt), lambda: sign_pm1(w.w_ih, z, self.bdt))
        if self.fast and N < 2**31:
            self.pw_hh = cached(("memo.packed.w_hh.T", z), lambda: kernels.packed_signs(w.w_hh, z).T.copy())
        elif int8:
            self.sw_hh8 = cached(("memo.signs8.w_hh.T", z), lambda: _dense(sign_pm1(w.w_hh, z, torch.int8).T))
        else:
            self.sw_hh = cached(("memo.signs.w_hh", z, self.bdt), lambda: sign_pm1(w.w_hh, z, self.bdt))

    def _bnn_h(self, hp: torch.Tensor) -> torch.Tensor:
        """The BNN's recurrent part (n, GH): signs of ``h_{t-1}`` times the sign rows of ``W_hh``."""
        if self.pw_hh is not None:
            out = np.empty((hp.shape[0], self.GH), np.int64)
            kernels.bnn_packed(kernels.packed_signs(hp, self.cfg.sign_zero), self.pw_hh, self.H, out)
            return torch.from_numpy(out)
        if self.sw_hh8 is not None:
            return torch._int_mm(self._signs8(hp), self.sw_hh8)
        return bnn_dot(sign_pm1(hp, self.cfg.sign_zero, self.bdt), self.sw_hh)

    def _signs8(self, v: torch.Tensor) -> torch.Tensor:
        """±1 int8 signs of integer-valued ``v`` (rows, K), dense for ``torch._int_mm``."""
        if self.fast:
            s8 = torch.empty(v.shape, dtype=torch.int8)
            kernels.signs8(v.contiguous().numpy(), self.cfg.sign_zero, s8.numpy())
            return s8
        return _dense(sign_pm1(v, self.cfg.sign_zero, torch.int8))

    def _decide(self, s: torch.Tensor, cols: slice, n: int) -> tuple[torch.Tensor, int]:
        """Per-neuron test of signal ``s`` (n, len(cols)) against the entries ``[:n, cols]``; commits.
        Returns the decisions and the number of entries that were valid (read) before."""
        st = self.state
        if self.fast:
            ok = torch.empty(s.shape, dtype=torch.bool)
            np_ = lambda v: v.numpy()
            cap = -1 if self.cfg.max_reuse is None else int(self.cfg.max_reuse)
            nv = kernels.memo_decide(
                np_(s.contiguous()), np_(st.sig_m[:n, cols]), np_(st.err[:n, cols]), np_(st.valid[:n, cols]),
                np_(st.count[:n, cols]), np_(self.tq[cols]), self.k, self.cfg.rule == "relative",
                2**self.frac, bool(self.cfg.accumulate), cap, np_(ok),
            )  # fmt: skip
            return ok, int(nv)
        nv = int(st.valid[:n, cols].sum())
        sm = st.sig_m[:n, cols]
        change = (s - sm).abs()
        denom = sm.abs().clamp(min=1) if self.cfg.rule == "relative" else torch.full_like(sm, 2**self.frac)
        ok, e = decide(
            change,
            st.err[:n, cols],
            denom,
            st.valid[:n, cols],
            st.count[:n, cols],
            self.tq[cols],
            self.k,
            self.cfg.accumulate,
            self.cfg.max_reuse,
        )
        commit(st, n, cols, ok, s, e)
        return ok, nv

    def _output_compiled(self, t: int, n: int, cols: slice, reuse: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """:meth:`gate_out` (cached outputs) and :meth:`_count` in one compiled pass: the same
        activations, buffer entries, counters and facts."""
        a = a.clone(
            memory_format=torch.contiguous_format
        )  # the unit's output; the activation unit's own tensor stays as computed
        per_row, per_col = np.zeros(n, np.int64), np.zeros(a.shape[1], np.int64)
        c0 = cols.start or 0
        sig = kernels.memo_output(
            reuse.numpy(), a.numpy(), self.cached[:n, cols].numpy(), self.n_sig, c0, per_row, per_col
        )
        r, total = int(per_row.sum()), reuse.numel()
        c = self.c
        c["memo.reused"][t] += r
        c["memo.computed"][t] += total - r
        c["memo.buffer_writes"][t] += total - r + (r if self.cfg.accumulate else 0)
        if self.kind == "delta":
            c["memo.buffer_reads"][t] += r  # the cached outputs fetched
        self.ctx.facts.skip_neuron_counts(t, per_row, int((per_col == n).sum()) if n else 0)
        self.ctx.facts.skip_activations(t, sigmoid=int(sig), tanh=r - int(sig))
        return a

    def _count(self, t: int, n: int, cols: slice, reuse: torch.Tensor) -> None:
        """Counts of the step's decisions on columns ``cols``; the neurons reused (and, when outputs
        are cached, their activation evaluations) are reported as facts."""
        c = self.c
        r = int(reuse.sum())
        c["memo.reused"][t] += r
        c["memo.computed"][t] += reuse.numel() - r
        c["memo.buffer_writes"][t] += reuse.numel() - r  # refreshed entries
        if self.cfg.accumulate:
            c["memo.buffer_writes"][t] += r  # the accumulated error is written back
        if self.kind == "delta":
            c["memo.buffer_reads"][t] += r  # the cached outputs fetched
        self.ctx.facts.skip_neurons(t, reuse)
        if self.cfg.cache == "output":  # a reused output skips its activation-unit evaluation
            per_col = reuse.sum(dim=0)
            idx = torch.arange(cols.start or 0, (cols.start or 0) + per_col.numel(), device=per_col.device)
            sig = int(per_col[idx < self.n_sig].sum())
            self.ctx.facts.skip_activations(t, sigmoid=sig, tanh=r - sig)


class MemoFactory(CarryingFactory):
    """``f(layer, direction, datapath_cfg) -> MemoUnit | None`` for ``module.units``.

    With ``record=True`` the units of the latest call are kept in :attr:`units` (keyed
    ``(layer, direction)``) for inspection (their ``rec`` tensors)."""

    def __init__(self, cfg: MemoConfig, record: bool = False):
        if not isinstance(cfg, MemoConfig):
            raise ValueError(f"memo_factory needs a MemoConfig, got {type(cfg).__name__}")
        self.cfg, self.record = cfg, record
        self.units: dict[tuple[int, int], MemoUnit] = {}

    def __call__(self, layer: int, direction: int, datapath_cfg) -> MemoUnit | None:
        if layer == 0 and direction == 0:
            self.units = {}  # a new call of the stack
        if not self.cfg.enabled(layer):
            return None
        u = MemoUnit(self.cfg, layer, direction, self.record, self.carry(layer, direction))
        if self.record:
            self.units[(layer, direction)] = u
        return u

    def spawn(self) -> "MemoFactory":
        """A new factory of the same settings (one per module of a session)."""
        return MemoFactory(self.cfg, self.record)


def memo_factory(cfg: "MemoConfig | str | dict | None" = None, record: bool = False, **kw) -> MemoFactory:
    """A unit factory: ``module.units = [memo_factory(MemoConfig(predictor="bnn", theta=0.2))]``.

    ``cfg`` may be a :class:`MemoConfig`, a packaged name (``"bnn"``), a YAML path or a mapping;
    keyword arguments override its fields (``memo_factory("bnn", theta=0.1)``)."""
    from .config import load_memo

    c = load_memo(cfg) if cfg is not None else MemoConfig()
    if kw:
        c = MemoConfig.from_dict({**c.to_dict(), **kw})
    return MemoFactory(c, record)
