"""The pure parts of memoization: the binarized dot product and the integer reuse test.

Everything here is vectorized over rows and neurons and exact: the BNN outputs are integers
computed by a float GEMM of ±1 matrices (float32 for N < 2**24 inputs), the reuse test runs in int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["sign_pm1", "bnn_dtype", "bnn_dot", "MemoState", "decide", "commit"]


def sign_pm1(v: torch.Tensor, sign_zero: int, dtype=torch.float32) -> torch.Tensor:
    """``v`` (any shape, integer-valued) -> tensor of ±1 (``dtype``); zeros map to ``sign_zero``."""
    s = torch.sign(v).to(dtype)
    return torch.where(s == 0, torch.full_like(s, float(sign_zero)), s)


def bnn_dtype(n: int) -> torch.dtype:
    """The GEMM type that sums ``n`` terms of ±1 exactly: float32 below ``2**24`` terms, else float64."""
    return torch.float32 if n < 2**24 else torch.float64


def bnn_dot(v_sign: torch.Tensor, w_sign: torch.Tensor) -> torch.Tensor:
    """±1 inputs (..., N) times ±1 weight rows (M, N) -> (..., M) int64 BNN outputs.

    Equals ``2 * popcount(XNOR(w_bits, v_bits)) - N`` bit for bit: each ±1 product is +1 where the
    bits agree. Exact in any summation order: every partial sum is an integer of magnitude <= N,
    representable in the GEMM type (:func:`bnn_dtype`); ±1 operands are exact even in reduced-precision
    (TF32/bf16) GEMM modes, which still accumulate in float32.
    """
    return torch.matmul(v_sign, w_sign.T).to(torch.int64)


@dataclass
class MemoState:
    """Reuse-test state of the entries of one direction, per row and entry.

    Entries are gate neurons (BNN, oracle: ``E = G*H``) or gates (delta: ``E = G``).
    ``valid`` (B, E) bool: the entry holds a computed value (empty at the first step);
    ``sig_m`` (B, E) int64: the predictor signal when last computed (BNN ``b_m`` / true output);
    ``err`` (B, E) int64: accumulated change since the last real evaluation;
    ``count`` (B, E) int64: consecutive reuses.
    """

    valid: torch.Tensor
    sig_m: torch.Tensor
    err: torch.Tensor
    count: torch.Tensor

    @classmethod
    def empty(cls, rows: int, entries: int, device=None) -> "MemoState":
        z = lambda: torch.zeros(rows, entries, dtype=torch.int64, device=device)
        return cls(torch.zeros(rows, entries, dtype=torch.bool, device=device), z(), z(), z())


def decide(
    change: torch.Tensor,
    err: torch.Tensor,
    denom: torch.Tensor,
    valid: torch.Tensor,
    count: torch.Tensor,
    theta_q: torch.Tensor,
    k: int,
    accumulate: bool,
    max_reuse: int | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reuse test (docs/memoization.md §3), all operands int64 of shape (n, E) or broadcastable.

    ``change``: ``|s - s_m|``; ``err``: the accumulated change so far; ``denom``: ``max(|s_m|, 1)``
    (relative rule) or ``2**f`` (absolute rule); ``theta_q`` (E,): fixed-point thresholds with ``k``
    fraction bits. Returns ``(reuse, E)`` with ``E = err + change`` (accumulate) or ``change``::

        reuse = valid and theta_q > 0 and E * 2**k <= theta_q * denom and count < max_reuse
    """
    e = err + change if accumulate else change
    ok = valid & (theta_q > 0) & ((e << k) <= theta_q * denom)
    if max_reuse is not None:
        ok &= count < max_reuse
    return ok, e


def commit(state: MemoState, n: int, cols: slice, reuse: torch.Tensor, sig: torch.Tensor, e: torch.Tensor) -> None:
    """Update rows ``[:n]``, entries ``cols`` after a decision: reused entries keep ``sig_m``, add
    to ``err`` and ``count``; computed entries store ``sig``, reset ``err``/``count``, become valid."""
    st = state
    st.sig_m[:n, cols] = torch.where(reuse, st.sig_m[:n, cols], sig)
    st.err[:n, cols] = torch.where(reuse, e, torch.zeros_like(e))
    st.count[:n, cols] = torch.where(reuse, st.count[:n, cols] + 1, torch.zeros_like(e))
    st.valid[:n, cols] = True
