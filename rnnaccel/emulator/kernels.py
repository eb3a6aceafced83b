"""Fused per-step element-wise kernels of the datapath (numba), with plain torch as reference.

What a time step does after its GEMMs — saturate the accumulator, round into the pre-activation
format, look the activation up, update the cell, round into the hidden format, count every
saturation — is ~25 small torch operations per direction-step on the reference path
(:mod:`rnnaccel.emulator.datapath`). Here each stage is one compiled loop over the step's
elements that does the same integer arithmetic on the same float64-carried integers, in the same
order of rounding points, and adds its saturation counts into the step's counter row:

- LSTM: :func:`lstm_gates` (acc -> pre-activation -> activations), :func:`lstm_update`
  (activations, ``c_{t-1}`` -> ``c_t``, ``m_t``);
- GRU: :func:`gru_rz` (the r, z gates and the n gate's two pre-activations), :func:`gru_n` (the
  r gating and the n activation), :func:`gru_update` (the new ``h``);
- Elman RNN: :func:`rnn_all`.

The technique units' ``gate_out`` hook runs between the stages (in torch), so memoization and
dynamic precision use the kernels too.

Bits: every value is an exact integer below 2**53 (``DatapathConfig.check_gemm``), so products and
sums are exact whatever their order; the rounding functions are the reference's (``rint`` = round
half to even = ``torch.round``; ``floor``; ``sign(v) * floor(|v| * 2**-s + 1/2)``). LLVM does not
contract multiply-add into FMA without fastmath, which is off. tests/emulator/test_backends.py runs
every cell, rounding mode, technique and the golden replays on both backends.

Where the kernels serve: a CPU direction with a deterministic rounding mode (stochastic rounding's
dither is position-dependent: torch path) whose activation units are whole-range tables (inputs up
to ``activation.FULL_TABLE_MAX_BITS`` bits). Anything else runs the torch path.

Choosing: ``RNNACCEL_KERNELS`` = ``auto`` (default: numba where it serves, torch elsewhere and when
numba is not installed), ``torch`` (the reference everywhere) or ``numba`` (as auto, but numba must
be importable); in code :func:`use` (a context manager) or :func:`set_backend`.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch

from .formats import Fmt, Rounding

__all__ = ["BACKENDS", "available", "backend", "set_backend", "use", "StepKernels", "for_direction"]

BACKENDS = ("auto", "torch", "numba")
_MODES = {Rounding.NEAREST_EVEN: 0, Rounding.FLOOR: 1, Rounding.NEAREST_AWAY: 2}
MODES = tuple(_MODES)  # the rounding modes the kernels implement (stochastic rounding runs on torch)
# index of each class in a step's saturation row (datapath.STEP_SAT_CLASSES)
_ACC, _PRE, _CELL, _HID = 0, 1, 2, 3

try:  # optional: `pip install rnnaccel[fast]`
    import numba as _numba
except ImportError:  # pragma: no cover - depends on the installation
    _numba = None  # type: ignore[assignment]


def available() -> bool:
    """Whether the compiled kernels can run (numba importable)."""
    return _numba is not None


def _check(name: str) -> str:
    if name not in BACKENDS:
        raise ValueError(f"kernel backend {name!r} unknown; choose one of {', '.join(BACKENDS)} (RNNACCEL_KERNELS)")
    if name == "numba" and not available():
        raise ValueError("kernel backend 'numba' asked for but numba is not installed: pip install numba, or use auto")
    return name


_choice = _check(os.environ.get("RNNACCEL_KERNELS", "auto").strip() or "auto")


def backend() -> str:
    """The current choice (``auto``, ``torch`` or ``numba``)."""
    return _choice


def set_backend(name: str) -> None:
    """Choose the element-wise backend for every later emulation in this process."""
    global _choice
    _choice = _check(name)


@contextlib.contextmanager
def use(name: str):
    """``with kernels.use("torch"): ...`` runs the block on backend ``name``, then restores the choice."""
    global _choice
    old, _choice = _choice, _check(name)
    try:
        yield
    finally:
        _choice = old


# ------------------------------------------------------------------------------ compiled loops
def _jit(f):
    return _numba.njit(cache=True, nogil=True)(f) if _numba is not None else f


if _numba is not None:
    from numba import types as _types
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def _popcount(typingctx, x):
        """Set bits of a uint64 (LLVM's ctpop: one POPCNT / VPOPCNTQ)."""

        def codegen(context, builder, signature, args):
            fn = builder.module.declare_intrinsic("llvm.ctpop", [args[0].type])
            return builder.call(fn, args)

        return _types.uint64(_types.uint64), codegen

else:  # pragma: no cover - the torch path never calls it

    def _popcount(x):
        return bin(int(x)).count("1")


@_jit
def _round(v, s, k, mode):
    """``v * 2**-s`` rounded by ``mode`` (0 half-even, 1 floor, 2 half away); ``k = 2**-s``; exact for s <= 0."""
    if s <= 0:
        return v * k
    x = v * k
    if mode == 0:
        return np.rint(x)
    if mode == 1:
        return np.floor(x)
    a = np.floor(abs(v) * k + 0.5)
    if v > 0:
        return a
    if v < 0:
        return -a
    return 0.0


@_jit
def lstm_gates(acc, a, table, offset, alo, ahi, s, k, mode, plo, phi, sats):
    """acc (n, 4H) in place -> pre-activations; ``a`` <- activations (merged table + column offsets)."""
    n, G = acc.shape
    na = 0
    npre = 0
    for r in range(n):
        for j in range(G):
            v = acc[r, j]
            if v < alo:
                v = alo
                na += 1
            elif v > ahi:
                v = ahi
                na += 1
            z = _round(v, s, k, mode)
            if z < plo:
                z = plo
                npre += 1
            elif z > phi:
                z = phi
                npre += 1
            acc[r, j] = z
            a[r, j] = table[np.int64(z) + offset[j]]
    sats[_ACC] += na
    sats[_PRE] += npre


@_jit
def lstm_update(a, cp, c, m, tanh, tmin, e_ig, e_fc, sc, kc, clo, chi, sh, kh, hlo, hhi, mode, sats):
    """Activations [i, f, o, g] (n, 4H) and ``c_{t-1}`` -> ``c`` (cell format) and ``m`` (hidden format)."""
    n, H = c.shape
    ncell = 0
    nhid = 0
    for r in range(n):
        for j in range(H):
            i = a[r, j]
            f = a[r, H + j]
            o = a[r, 2 * H + j]
            g = a[r, 3 * H + j]
            cc = _round(i * g * e_ig + f * cp[r, j] * e_fc, sc, kc, mode)
            if cc < clo:
                cc = clo
                ncell += 1
            elif cc > chi:
                cc = chi
                ncell += 1
            c[r, j] = cc
            mm = _round(o * tanh[np.int64(cc) - tmin], sh, kh, mode)
            if mm < hlo:
                mm = hlo
                nhid += 1
            elif mm > hhi:
                mm = hhi
                nhid += 1
            m[r, j] = mm
    sats[_CELL] += ncell
    sats[_HID] += nhid


@_jit
def gru_rz(ax, ah, bhn, z, a, qxn, qhn, table, offset, alo, ahi, s, k, mode, plo, phi, sats):
    """The r, z gates (acc -> pre-activation -> activation into ``z``, ``a``, (n, 2H)) and the n gate's
    input and recurrent parts narrowed into the pre-activation format (``qxn``, ``qhn``, (n, H))."""
    n, H = qxn.shape
    na = 0
    npre = 0
    for r in range(n):
        for j in range(3 * H):
            v = ah[r, j] + ax[r, j] if j < 2 * H else ax[r, j]
            if v < alo:
                v = alo
                na += 1
            elif v > ahi:
                v = ahi
                na += 1
            q = _round(v, s, k, mode)
            if q < plo:
                q = plo
                npre += 1
            elif q > phi:
                q = phi
                npre += 1
            if j < 2 * H:
                z[r, j] = q
                a[r, j] = table[np.int64(q) + offset[j]]
            else:
                qxn[r, j - 2 * H] = q
        for j in range(H):
            v = ah[r, 2 * H + j] + bhn[j]
            if v < alo:
                v = alo
                na += 1
            elif v > ahi:
                v = ahi
                na += 1
            q = _round(v, s, k, mode)
            if q < plo:
                q = plo
                npre += 1
            elif q > phi:
                q = phi
                npre += 1
            qhn[r, j] = q
    sats[_ACC] += na
    sats[_PRE] += npre


@_jit
def gru_n(rz, qxn, qhn, pre, out, tanh, tmin, sa, ka, mode, plo, phi, sats):
    """``pre = sat(qxn + round(r * qhn, fa))`` and ``out = tanh(pre)``; ``r`` = the first H columns of ``rz``."""
    n, H = qxn.shape
    npre = 0
    for r in range(n):
        for j in range(H):
            p = qxn[r, j] + _round(rz[r, j] * qhn[r, j], sa, ka, mode)
            if p < plo:
                p = plo
                npre += 1
            elif p > phi:
                p = phi
                npre += 1
            pre[r, j] = p
            out[r, j] = tanh[np.int64(p) - tmin]
    sats[_PRE] += npre


@_jit
def gru_update(rz, nn, hp, h, one, e1, e2, sh, kh, hlo, hhi, mode, sats):
    """``h = round((1 - z) * n * 2**e1 + z * h_{t-1} * 2**e2)`` into the hidden format; z = columns H..2H of ``rz``."""
    n, H = h.shape
    nhid = 0
    for r in range(n):
        for j in range(H):
            zg = rz[r, H + j]
            v = _round((one - zg) * nn[r, j] * e1 + zg * hp[r, j] * e2, sh, kh, mode)
            if v < hlo:
                v = hlo
                nhid += 1
            elif v > hhi:
                v = hhi
                nhid += 1
            h[r, j] = v
    sats[_HID] += nhid


@_jit
def rnn_all(acc, a, h, tanh, tmin, relu, alo, ahi, s, k, mode, plo, phi, s2, k2, hlo, hhi, sats):
    """Elman step: acc (n, H) in place -> pre-activation; ``a`` <- tanh table or max(0, z); ``h`` <- hidden."""
    n, H = acc.shape
    na = 0
    npre = 0
    nhid = 0
    for r in range(n):
        for j in range(H):
            v = acc[r, j]
            if v < alo:
                v = alo
                na += 1
            elif v > ahi:
                v = ahi
                na += 1
            z = _round(v, s, k, mode)
            if z < plo:
                z = plo
                npre += 1
            elif z > phi:
                z = phi
                npre += 1
            acc[r, j] = z
            if relu:
                y = z if z > 0.0 else 0.0
            else:
                y = tanh[np.int64(z) - tmin]
            a[r, j] = y
            q = _round(y, s2, k2, mode)
            if q < hlo:
                q = hlo
                nhid += 1
            elif q > hhi:
                q = hhi
                nhid += 1
            h[r, j] = q
    sats[_ACC] += na
    sats[_PRE] += npre
    sats[_HID] += nhid


@_jit
def memo_decide(s, sig_m, err, valid, count, tq, k, relative, absden, accumulate, max_reuse, ok):
    """The memo reuse test and commit (``rule.decide`` + ``rule.commit``) of (n, E) entries in one
    pass; ``max_reuse < 0``: no cap. Writes ``ok``; returns the entries valid before the commit."""
    n, E = s.shape
    nv = 0
    for r in range(n):
        for j in range(E):
            v = valid[r, j]
            if v:
                nv += 1
            sm = sig_m[r, j]
            ch = abs(s[r, j] - sm)
            den = max(abs(sm), 1) if relative else absden
            e = err[r, j] + ch if accumulate else ch
            o = v and tq[j] > 0 and (e << k) <= tq[j] * den and (max_reuse < 0 or count[r, j] < max_reuse)
            ok[r, j] = o
            if o:
                err[r, j] = e
                count[r, j] += 1
            else:
                sig_m[r, j] = s[r, j]
                err[r, j] = 0
                count[r, j] = 0
            valid[r, j] = True
    return nv


@_jit
def split8(v, two, out):
    """Int8 chunks of integer-valued ``v`` (n, K) for ``gemm._split``'s layout: one chunk ``v`` or, with
    ``two``, rows ``[lo'; hi]`` (2n, K), ``lo' = (v mod 256) - 128``, ``hi = floor(v / 256)``."""
    n, K = v.shape
    for r in range(n):
        for j in range(K):
            q = np.int64(v[r, j])
            if two:
                out[r, j] = (q & 255) - 128
                out[n + r, j] = q >> 8
            else:
                out[r, j] = q


@_jit
def combine8(r, xw, ww, scale, base, has_base, const, has_const, y):
    """``y = scale * sum_ij xw[i] ww[j] r[block i, j] (+ base) (+ const)``: the exact recombination of
    ``torch._int_mm``'s int32 chunk products (n*len(xw), N*len(ww)) into float64 (``gemm.ExactGemm``).
    The two common layouts (16x16 bits: 2x2 chunks of weights 1, 256; 8x8 bits: one chunk) have
    their own loops, written out so they vectorize."""
    n, N = y.shape
    square = xw.shape[0] == 2 and ww.shape[0] == 2 and xw[1] == 256.0 and ww[1] == 256.0
    single = xw.shape[0] == 1 and ww.shape[0] == 1
    w11 = xw[0] * ww[0]
    for rr in range(n):
        if square:
            for j in range(N):
                mid = np.float64(r[rr, N + j]) + np.float64(r[n + rr, j])
                y[rr, j] = (np.float64(r[rr, j]) + 256.0 * mid + 65536.0 * np.float64(r[n + rr, N + j])) * scale
        elif single:
            for j in range(N):
                y[rr, j] = (w11 * np.float64(r[rr, j])) * scale
        else:
            for j in range(N):
                acc = 0.0
                for i in range(xw.shape[0]):
                    for jj in range(ww.shape[0]):
                        acc += xw[i] * ww[jj] * r[i * n + rr, jj * N + j]
                y[rr, j] = acc * scale
        if has_base:
            for j in range(N):
                y[rr, j] += base[rr, j]
        if has_const:
            for j in range(N):
                y[rr, j] += const[j]


@_jit
def memo_output(reuse, a, cached, n_sig, col0, per_row, per_col):
    """Memo ``gate_out`` with cached outputs: reused neurons take the cached output, computed ones
    refresh the entry. Counts reused neurons per row into ``per_row`` (n,) and per column into
    ``per_col`` (k,); returns the reused neurons of sigmoid columns (``col0 + j < n_sig``)."""
    n, k = a.shape
    sig = 0
    for r in range(n):
        for j in range(k):
            if reuse[r, j]:
                a[r, j] = cached[r, j]
                per_row[r] += 1
                per_col[j] += 1
                if col0 + j < n_sig:
                    sig += 1
            else:
                cached[r, j] = a[r, j]
    return sig


@_jit
def pack_signs(v, sign_zero, out):
    """Sign bits of integer-valued ``v`` (n, K) packed 64 to a uint64 word, ``out`` (n, ceil(K/64)):
    bit ``k % 64`` of word ``k // 64`` is 1 where the sign is +1 (zeros take ``sign_zero``); pad bits 0."""
    n, K = v.shape
    for r in range(n):
        for w in range(out.shape[1]):
            out[r, w] = 0
        for k in range(K):
            x = v[r, k]
            if x > 0 or (x == 0 and sign_zero > 0):
                out[r, k >> 6] |= np.uint64(1) << np.uint64(k & 63)


@_jit
def bnn_packed(a, bt, K, out):
    """``out[r, j] = sum_k s_a[r, k] * s_b[j, k]`` for ±1 signs packed by :func:`pack_signs` (``bt``: the
    packed rows of ``b`` transposed, (words, M)): ``K`` minus twice the mismatching bits (XOR +
    popcount; pad bits are 0 in both, so they never mismatch). The inner loop runs over ``j``."""
    n, W = a.shape
    M = bt.shape[1]
    m = np.zeros(M, np.uint64)
    for r in range(n):
        m[:] = 0
        for w in range(W):
            aw = a[r, w]
            for j in range(M):
                m[j] += _popcount(aw ^ bt[w, j])
        for j in range(M):
            out[r, j] = K - 2 * np.int64(m[j])


@_jit
def signs8(v, sign_zero, out):
    """±1 int8 signs of integer-valued ``v`` (n, K); zeros get ``sign_zero``."""
    n, K = v.shape
    for r in range(n):
        for j in range(K):
            x = v[r, j]
            out[r, j] = 1 if x > 0 else (-1 if x < 0 else sign_zero)


@_jit
def _quantize_rows(x, order, lengths, scale, lo, hi, mode, out, clamps):
    """Real ``x`` (B, T, D) -> ``out`` (Tm, B, D) integers of a format (``formats.round_to_grid`` then
    ``saturate``): batch row ``b`` of ``out`` is ``x[order[b]]``, steps past its length are 0. Counts
    the clamps per step into ``clamps`` (Tm,); returns the non-finite values within the lengths."""
    Tm, B, D = out.shape
    bad = 0
    for b in range(B):
        src = order[b]
        L = lengths[src]
        for t in range(Tm):
            if t >= L:
                for j in range(D):
                    out[t, b, j] = 0.0
                continue
            n = 0
            for j in range(D):
                v = np.float64(x[src, t, j])
                if not np.isfinite(v):
                    bad += 1
                    out[t, b, j] = 0.0
                    continue
                v = v * scale
                if v < lo - 2.0:  # the pre-clamp of round_to_grid: keeps the rounding exact
                    v = lo - 2.0
                elif v > hi + 2.0:
                    v = hi + 2.0
                if mode == 0:
                    r = np.rint(v)
                elif mode == 1:
                    r = np.floor(v)
                else:  # half away from zero, as formats.round_real
                    a = abs(v)
                    f = np.floor(a)
                    r = f + 1.0 if a - f >= 0.5 else f
                    if v < 0:
                        r = -r
                    elif v == 0:
                        r = 0.0
                if r < lo:
                    r = lo
                    n += 1
                elif r > hi:
                    r = hi
                    n += 1
                out[t, b, j] = r
            clamps[t] += n
    return bad


def quantize_rows(x: torch.Tensor, order: torch.Tensor, lengths: torch.Tensor, Tm: int, fmt: Fmt, rounding: Rounding):
    """``(q, clamps, bad)``: :func:`_quantize_rows` on a CPU tensor (a deterministic rounding mode)."""
    B, _, D = x.shape
    q = torch.empty(Tm, B, D, dtype=torch.float64)
    clamps = torch.zeros(Tm, dtype=torch.int64)
    src = x.detach().contiguous()
    bad = _quantize_rows(
        _np(src), _np(order), _np(lengths), float(2**fmt.frac), float(fmt.qmin), float(fmt.qmax),
        _MODES[rounding], _np(q), _np(clamps),
    )  # fmt: skip
    return q, clamps, int(bad)


def packed_signs(v: torch.Tensor, sign_zero: int) -> np.ndarray:
    """:func:`pack_signs` of a CPU tensor (n, K): (n, ceil(K / 64)) uint64."""
    out = np.empty((v.shape[0], (v.shape[1] + 63) // 64), np.uint64)
    pack_signs(_np(v.contiguous()), sign_zero, out)
    return out


# ------------------------------------------------------------------------------ per direction
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _narrowing(shift: int, fmt: Fmt) -> tuple[int, float, float, float]:
    """``(s, 2**-s, lo, hi)`` of a narrowing by ``shift`` bits into ``fmt``."""
    return shift, 2.0**-shift, float(fmt.qmin), float(fmt.qmax)


class StepKernels:
    """The kernels of one direction with its formats, shifts and tables bound (see :func:`for_direction`).
    Each method takes and returns torch tensors (CPU, float64) and adds saturations into ``sats``
    (the step's int64 row, :data:`~rnnaccel.emulator.datapath.STEP_SAT_CLASSES` order)."""

    def __init__(self, cell: str, cfg, act, H: int):
        self.cell, self.H, self.mode = cell, H, _MODES[cfg.rounding]
        fa, fc, fh = cfg.act.frac, cfg.cell.frac, cfg.hidden.frac
        self.alo, self.ahi = float(cfg.acc.qmin), float(cfg.acc.qmax)
        self.pre = _narrowing(cfg.acc_frac - cfg.preact.frac, cfg.preact)
        if act.gates is not None:
            self.table, self.offset = _np(act.gates.table), _np(act.gates.offset)
        self.tanh, self.tmin = _np(act.tanh.full), act.tanh.fin.qmin
        if cell == "lstm":
            fm = max(2 * fa, fa + fc)
            self.e_ig, self.e_fc = 2.0 ** (fm - 2 * fa), 2.0 ** (fm - fa - fc)
            self.cellq = _narrowing(fm - fc, cfg.cell)
            self.hid = _narrowing(2 * fa - fh, cfg.hidden)
            self.tanh_c, self.tmin_c = _np(act.tanh_c.full), act.tanh_c.fin.qmin
        elif cell == "gru":
            fg = max(fa, fh)
            self.rhn = (fa, 2.0**-fa)
            self.one, self.e1, self.e2 = float(2**fa), 2.0 ** (fg - fa), 2.0 ** (fg - fh)
            self.hid = _narrowing(fa + fg - fh, cfg.hidden)
        else:
            self.relu = cell == "rnn_relu"
            frac = cfg.preact.frac if self.relu else fa
            self.hid = _narrowing(frac - fh, cfg.hidden)

    def lstm_gates(self, acc: torch.Tensor, sats: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``acc`` (n, 4H), a fresh tensor overwritten with the pre-activations ``z``; returns ``(z, a)``."""
        a = torch.empty_like(acc)
        s, k, plo, phi = self.pre
        lstm_gates(_np(acc), _np(a), self.table, self.offset, self.alo, self.ahi, s, k, self.mode, plo, phi, sats)
        return acc, a

    def lstm_update(self, a: torch.Tensor, cp: torch.Tensor, sats: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        c = torch.empty_like(cp)
        m = torch.empty_like(cp)
        sc, kc, clo, chi = self.cellq
        sh, kh, hlo, hhi = self.hid
        lstm_update(
            _np(a), _np(cp), _np(c), _np(m), self.tanh_c, self.tmin_c, self.e_ig, self.e_fc,
            sc, kc, clo, chi, sh, kh, hlo, hhi, self.mode, sats,
        )  # fmt: skip
        return c, m

    def gru_rz(self, ax, ah, bhn, sats):
        """``(z_rz, a_rz, qxn, qhn)`` of the step (``bhn`` added to the recurrent n part)."""
        n, H = ax.shape[0], self.H
        z = ax.new_empty(n, 2 * H)
        a, qxn, qhn = torch.empty_like(z), ax.new_empty(n, H), ax.new_empty(n, H)
        s, k, plo, phi = self.pre
        gru_rz(
            _np(ax), _np(ah), bhn, _np(z), _np(a), _np(qxn), _np(qhn), self.table, self.offset,
            self.alo, self.ahi, s, k, self.mode, plo, phi, sats,
        )  # fmt: skip
        return z, a, qxn, qhn

    def gru_n(self, rz, qxn, qhn, sats):
        """``(pre_n, n)``; ``rz`` the r, z activations (n, 2H)."""
        pre, out = torch.empty_like(qxn), torch.empty_like(qxn)
        _, _, plo, phi = self.pre
        sa, ka = self.rhn
        gru_n(_np(rz), _np(qxn), _np(qhn), _np(pre), _np(out), self.tanh, self.tmin, sa, ka, self.mode, plo, phi, sats)
        return pre, out

    def gru_update(self, rz, nn, hp, sats):
        h = torch.empty_like(hp)
        sh, kh, hlo, hhi = self.hid
        gru_update(_np(rz), _np(nn), _np(hp), _np(h), self.one, self.e1, self.e2, sh, kh, hlo, hhi, self.mode, sats)
        return h

    def rnn_all(self, acc, sats):
        """``acc`` (n, H), a fresh tensor overwritten with ``z``; returns ``(a, h)``."""
        a, h = torch.empty_like(acc), torch.empty_like(acc)
        s, k, plo, phi = self.pre
        s2, k2, hlo, hhi = self.hid
        rnn_all(
            _np(acc), _np(a), _np(h), self.tanh, self.tmin, self.relu, self.alo, self.ahi,
            s, k, self.mode, plo, phi, s2, k2, hlo, hhi, sats,
        )  # fmt: skip
        return a, h


def enabled(device: torch.device) -> bool:
    """Whether the compiled kernels run on ``device`` under the current choice."""
    return _choice != "torch" and available() and device.type == "cpu"


def serves(cell: str, cfg, act, device: torch.device) -> bool:
    """Whether the kernels can run this direction (see the module docstring)."""
    if not enabled(device) or cfg.rounding not in _MODES:
        return False
    tables = [act.tanh.full]
    if cell == "lstm":
        tables.append(act.tanh_c.full)
    if act.gates is not None and not act.gates.merged:
        return False
    return all(t is not None for t in tables)


def for_direction(cell: str, cfg, act, H: int, device: torch.device) -> StepKernels | None:
    """The bound kernels of one direction, or None when it runs on the torch path."""
    return StepKernels(cell, cfg, act, H) if serves(cell, cfg, act, device) else None
