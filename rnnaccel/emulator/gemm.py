"""Exact integer GEMMs without integer loops.

``ExactGemm(W)`` computes ``x @ W.T`` for integer-valued float64 tensors, exactly, by one of two
backends that give the same bits (both are exact, so the result does not depend on summation
order, thread count or device):

- ``"int8"`` (CPU, operands of at most 16 bits): each operand is split into at most two signed
  8-bit chunks ``v = 256*v_hi + v_lo' + 128`` (``v_hi = floor(v / 256)``,
  ``v_lo' = (v mod 256) - 128``; an operand of at most 8 bits is one chunk with no offset). All
  chunk products come from one ``torch._int_mm`` (int8 x int8 -> int32; exact while
  ``K * 2**14 < 2**31``), and the offsets are corrected with row sums:
  ``x.w = X'.W' + o_w*sum(x) + o_x*sum(w) - K*o_x*o_w``.
- ``"float64"``: one float64 GEMM (exact because ``DatapathConfig.check_gemm`` proved every partial
  sum < 2**53). Used on GPUs (torch has no general integer GEMM there) and for wider operands.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from . import kernels

__all__ = ["ExactGemm", "int8_available"]

_INT32_SAFE_K = 1 << 16  # two summed blocks: 2 * K * 128 * 128 < 2**31
ROW_BLOCK = 128  # rows per int8 call on large inputs (keeps the temporaries in cache)
_LITTLE = sys.byteorder == "little"
INT8_MIN_K = 256  # below this depth a float64 GEMM of >8-bit operands is faster (CPU time of 16-row
# products, 1 thread, 2-core x86: K=80 f64 99 us vs int8 123; K=256 251 vs 180; K=320 354 vs 237 us)


_XW1, _XW2 = np.asarray([1.0]), np.asarray([1.0, 256.0])  # the input chunks' weights (see _split)


def int8_available(device: torch.device) -> bool:
    return device.type == "cpu" and hasattr(torch, "_int_mm")


def _dense(t: torch.Tensor) -> torch.Tensor:
    """``t`` with canonical row-major strides. ``torch._int_mm`` reads the leading dimension from
    the stride, which ``contiguous()`` leaves arbitrary for a dimension of size 1."""
    if t.dim() == 2 and t.stride() == (t.shape[1], 1):
        return t
    return torch.empty(t.shape, dtype=t.dtype, device=t.device).copy_(t)


def _split(v: torch.Tensor, bits: int) -> tuple[torch.Tensor, list[float], float]:
    """Signed int8 chunks of integer-valued float64 ``v`` (|v| <= 2**(bits-1)), stacked along rows.

    Returns ``(chunks, weights, offset)`` with ``v = sum_i weights[i] * chunk_i + offset``:
    one chunk for at most 8 bits; for 9..16 bits ``[lo', hi]`` with ``lo' = (v mod 256) - 128``,
    ``hi = floor(v / 256)``, weights ``[1, 256]`` and offset 128. The two's-complement int16 of v
    holds both bytes: flipping bit 7 turns the low byte into ``lo'`` (little-endian byte order
    puts it first), so the split is three tensor operations.
    """
    if bits <= 8:
        return v.to(torch.int8), [1.0], 0.0
    M, K = v.shape
    b = (v.to(torch.int16) ^ 0x80).view(torch.int8).view(M, K, 2)  # [..., 0] = lo', [..., 1] = hi
    if not _LITTLE:
        b = b.flip(-1)
    return b.permute(2, 0, 1).reshape(2 * M, K), [1.0, 256.0], 128.0


def _split_weights(W: torch.Tensor, bits: int) -> tuple[torch.Tensor, list[float], float]:
    """Like :func:`_split`, but offline and offset-free when possible: the balanced split
    ``lo = ((W + 128) mod 256) - 128``, ``hi = (W - lo) / 256`` needs no correction term and fits
    int8 unless some ``W >= 32640`` (then the offset split is used)."""
    if bits <= 8:
        return W.to(torch.int8), [1.0], 0.0
    lo = torch.remainder(W + 128.0, 256.0) - 128.0
    hi = (W - lo) / 256.0
    if W.numel() and float(hi.max()) > 127:
        return _split(W, bits)
    return torch.cat([lo, hi]).to(torch.int8), [1.0, 256.0], 0.0


class ExactGemm:
    """``y = (x @ W.T) * scale`` for fixed integer weights ``W`` (N, K) and per-call inputs x (M, K).

    ``w_bits``/``x_bits`` bound the operands (two's complement widths); ``scale`` is a power of
    two folded into the result (exact).
    """

    def __init__(self, W: torch.Tensor, w_bits: int, x_bits: int, scale: float = 1.0, backend: str = "auto"):
        N, K = W.shape
        self.N, self.K, self.scale, self.x_bits = N, K, float(scale), x_bits
        ok8 = int8_available(W.device) and max(w_bits, x_bits) <= 16 and K < _INT32_SAFE_K
        if backend == "auto":  # a speed choice only: both backends give the same bits
            backend = "int8" if ok8 and (max(w_bits, x_bits) <= 8 or K >= INT8_MIN_K) else "float64"
        if backend == "int8" and not ok8:
            raise ValueError(f"int8 GEMM backend unavailable for {w_bits}x{x_bits}-bit operands, K={K}, {W.device}")
        if backend not in ("int8", "float64"):
            raise ValueError(f"gemm backend {backend!r} unknown; choose auto, int8 or float64")
        self.backend = backend
        if backend == "float64":
            self.wt = (W.T * self.scale).contiguous()
            return
        chunks, self.w_weights, self.w_off = _split_weights(W, w_bits)  # (cw*N, K)
        self._ww = np.asarray(self.w_weights, dtype=np.float64)
        # (K, cw*N); on a CPU column-major (each output column's K weights adjacent): oneDNN's int8
        # GEMM reads it 10-20 % faster at the recurrent part's few rows (1 thread, a 16x512 step of
        # 16-bit operands by 2048 outputs: 0.43 vs 0.49 ms), no slower on larger blocks. Other
        # devices, and K = 1 (strides that read as either layout), keep row-major
        self.wc = chunks.contiguous().T if W.device.type == "cpu" and K > 1 else _dense(chunks.T)
        self.w_rowsum = W.sum(dim=1)  # (N,), exact
        self._consts: dict[float, torch.Tensor] = {}

    @property
    def const(self) -> torch.Tensor | None:
        """The input-independent part of every result row (offset corrections), or None.

        A caller that adds it once in advance calls with ``with_const=False``.
        """
        if self.backend == "float64":
            return None
        return self._const(128.0 if self.x_bits > 8 else 0.0)

    def __call__(
        self, x: torch.Tensor, out: torch.Tensor | None = None, with_const: bool = True, add: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x``: (M, K) integer-valued float64. Returns (M, N) float64 (added into ``out`` if given).
        ``add``: an (N,) integer-valued vector added to every row (a bias), in the same pass."""
        if self.backend == "float64":
            y = torch.addmm(out, x, self.wt) if out is not None else x @ self.wt
            return y.add_(add) if add is not None else y
        M = x.shape[0]
        if M <= ROW_BLOCK:
            return self._int8(x, out, with_const, add)
        # row blocks keep the chunk/convert/combine temporaries in cache; each block is written in place
        y = torch.empty(M, self.N, dtype=torch.float64, device=x.device)
        for r0 in range(0, M, ROW_BLOCK):
            r1 = min(M, r0 + ROW_BLOCK)
            self._int8(x[r0:r1], out[r0:r1] if out is not None else None, with_const, add, y[r0:r1])
        return y

    def _int8(
        self,
        x: torch.Tensor,
        out: torch.Tensor | None,
        with_const: bool,
        add: torch.Tensor | None,
        y: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One block of rows; the result goes into ``y`` (a contiguous (M, N) view) when given."""
        if not self.w_off and kernels.enabled(x.device):
            return self._int8_compiled(x, out, with_const, add, y)
        M, N = x.shape[0], self.N
        xc, x_weights, x_off = _split(x, self.x_bits)
        r = torch._int_mm(_dense(xc), self.wc)  # (cx*M, cw*N) int32
        blocks: dict[float, torch.Tensor] = {}  # weight -> sum of the int32 blocks with that weight
        for i, si in enumerate(x_weights):
            for j, tj in enumerate(self.w_weights):
                blk = r[i * M : (i + 1) * M, j * N : (j + 1) * N]
                # int32 sums of two blocks stay exact: K * 2**15 < 2**31 (K < 2**16 checked)
                blocks[si * tj] = blocks[si * tj] + blk if si * tj in blocks else blk
        # offsets: x.w = X'.W' + o_w*sum(x) + o_x*sum(w) - K*o_x*o_w (the last two are constants)
        const = self._const(x_off) if with_const else None
        if add is not None:
            const = add if const is None else const + add
        if const is not None:
            start = const if out is None else out + const
        else:
            start = out if out is not None else torch.zeros((), dtype=torch.float64, device=x.device)
        res = None
        for wgt, blk in blocks.items():
            res = (
                torch.add(start, blk, alpha=wgt * self.scale) if res is None else res.add_(blk, alpha=wgt * self.scale)
            )
        if self.w_off:
            res.add_(x.sum(dim=1, keepdim=True), alpha=self.w_off * self.scale)
        if y is not None:
            y.copy_(res)
            return y
        return res

    def _int8_compiled(self, x, out, with_const: bool, add, y) -> torch.Tensor:
        """:meth:`_int8` with the split and the recombination as compiled loops (:mod:`.kernels`):
        the same chunks, the same exact integers (every partial sum is exact in float64)."""
        M, two = x.shape[0], self.x_bits > 8
        xc = torch.empty(2 * M if two else M, self.K, dtype=torch.int8)
        kernels.split8(x.numpy(), two, xc.numpy())
        r = torch._int_mm(xc, self.wc)
        xw = _XW2 if two else _XW1
        if y is None:
            y = torch.empty(M, self.N, dtype=torch.float64)
        const = self._const(128.0 if two else 0.0)
        if add is not None:  # one per-column vector: the offsets' constant and the bias (exact integers)
            const, with_const = (const + add if with_const else add), True
        base = out if out is not None else y
        kernels.combine8(
            r.numpy(), xw, self._ww, self.scale, base.numpy(), out is not None, const.numpy(), with_const, y.numpy()
        )
        return y

    def _const(self, x_off: float) -> torch.Tensor:
        c = self._consts.get(x_off)
        if c is None:
            c = self._consts[x_off] = (self.w_rowsum * x_off - self.K * self.w_off * x_off) * self.scale
        return c
