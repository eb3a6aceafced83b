"""Fixed-point formats, rounding and saturation — the integer primitives of the datapath.

Integers are *carried* in ``torch.float64`` tensors on the fast path: every value is an exact
integer (|v| < 2**53, a bound :class:`rnnaccel.emulator.config.DatapathConfig` proves from the
formats), so GEMMs run on BLAS/cuBLAS and give the same bits on CPU and GPU. Shifts by ``s`` are
multiplications by ``2**-s`` (exact in binary floating point), followed by the rounding function.

The semantics are written down in ``docs/datapath.md``; ``tests/emulator/reference.py`` restates
them with plain Python integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import torch

__all__ = [
    "Fmt",
    "Rounding",
    "round_shift",
    "saturate",
    "quantize",
    "round_to_grid",
    "round_real",
    "dequantize",
    "dither",
    "check_exact",
]


class Rounding(str, Enum):
    """How the bits shifted out at a narrowing step are rounded."""

    NEAREST_EVEN = "nearest_even"  # round half to even (default)
    NEAREST_AWAY = "nearest_away"  # round half away from zero
    FLOOR = "floor"  # truncate towards -inf (drop the bits of a two's-complement value)
    STOCHASTIC = "stochastic"  # floor(v + d), d a seeded hash dither in [0, 2**s)


@dataclass(frozen=True)
class Fmt:
    """Signed two's-complement fixed point: ``bits`` in total, ``frac`` of them fractional.

    A stored integer ``q`` in ``[-2**(bits-1), 2**(bits-1) - 1]`` means ``q * 2**-frac``.
    """

    bits: int
    frac: int

    def __post_init__(self):
        if not isinstance(self.bits, int) or isinstance(self.bits, bool):
            raise ValueError(f"format bits must be an int, got {self.bits!r}")
        if not isinstance(self.frac, int) or isinstance(self.frac, bool):
            raise ValueError(f"format frac must be an int, got {self.frac!r}")
        if not 2 <= self.bits <= 32:
            raise ValueError(f"format bits={self.bits} out of range: need 2 <= bits <= 32")
        if not 0 <= self.frac <= self.bits:
            raise ValueError(f"format frac={self.frac} out of range for bits={self.bits}: need 0 <= frac <= bits")

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def scale(self) -> float:
        """Value of one LSB."""
        return 2.0**-self.frac

    @property
    def max_abs(self) -> int:
        """Largest |q| this format can hold (= -qmin)."""
        return 1 << (self.bits - 1)

    def __str__(self) -> str:
        return f"Q{self.bits}.{self.frac}"

    @classmethod
    def parse(cls, spec) -> "Fmt":
        """``Fmt`` from ``Fmt``, ``(bits, frac)``, ``{"bits":..,"frac":..}`` or ``"Q16.12"``."""
        if isinstance(spec, Fmt):
            return spec
        if isinstance(spec, str):
            s = spec.strip()
            if not s.upper().startswith("Q") or "." not in s:
                raise ValueError(f"cannot parse format {spec!r}: expected 'Q<bits>.<frac>'")
            b, f = s[1:].split(".", 1)
            return cls(int(b), int(f))
        if isinstance(spec, (tuple, list)) and len(spec) == 2:
            return cls(int(spec[0]), int(spec[1]))
        if hasattr(spec, "get") or isinstance(spec, dict):
            return cls(int(spec["bits"]), int(spec["frac"]))
        raise ValueError(f"cannot parse format {spec!r}")


# ----------------------------------------------------------------------------------- dither
_M32 = 0xFFFFFFFF
# Odd multipliers below 2**31 so that every product of a 32-bit value stays below 2**63.
_H1, _H2, _H3 = 0x7FEB352D, 0x2C1B3C6D, 0x297A2D39


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply), on int64 tensors holding values < 2**32."""
    x = x ^ (x >> 16)
    x = (x * _H1) & _M32
    x = x ^ (x >> 15)
    x = (x * _H2) & _M32
    x = x ^ (x >> 16)
    return x


def dither(v: torch.Tensor, s: int, seed: int, site: int, step: int) -> torch.Tensor:
    """Stochastic-rounding dither in ``[0, 2**s)`` for each element of ``v`` (float64 ints).

    Deterministic in (seed, site, step, neuron index = last-dim position, value): the same
    sequence gets the same bits alone or in any batch. ``site`` names the rounding point.
    """
    idx = torch.arange(v.shape[-1], dtype=torch.int64, device=v.device).expand(v.shape)
    key = ((seed & _M32) * _H3 + site * 0x9E37 + step) & _M32
    h = _mix32((v.to(torch.int64) & _M32) ^ key)
    h = _mix32(h ^ ((idx * _H3) & _M32))
    return (h & ((1 << s) - 1)).to(v.dtype)


# ------------------------------------------------------------------------ narrowing steps
def round_shift(
    v: torch.Tensor,
    s: int,
    mode: Rounding = Rounding.NEAREST_EVEN,
    *,
    seed: int = 0,
    site: int = 0,
    step: int = 0,
) -> torch.Tensor:
    """``v * 2**-s`` rounded to an integer by ``mode`` (``s >= 0``); ``s < 0`` shifts left exactly.

    ``v`` holds exact integers in float64. No saturation here: see :func:`saturate`.
    """
    if s <= 0:
        return v * float(2 ** (-s)) if s < 0 else v
    k = 2.0**-s
    if mode == Rounding.NEAREST_EVEN:
        return torch.round(v * k)
    if mode == Rounding.FLOOR:
        return torch.floor(v * k)
    if mode == Rounding.NEAREST_AWAY:
        return torch.sign(v) * torch.floor(v.abs() * k + 0.5)
    if mode == Rounding.STOCHASTIC:
        return torch.floor((v + dither(v, s, seed, site, step)) * k)
    raise ValueError(f"unknown rounding mode {mode!r}")


def saturate(v: torch.Tensor, fmt: Fmt) -> tuple[torch.Tensor, int]:
    """Clamp integers to ``fmt``'s range. Returns ``(clamped, number_of_saturated_elements)``.

    The common case (nothing out of range) costs one min/max reduction.
    """
    lo, hi = float(fmt.qmin), float(fmt.qmax)
    if v.numel() == 0:
        return v, 0
    mn, mx = torch.aminmax(v)
    if mn.item() >= lo and mx.item() <= hi:
        return v, 0
    n = int(((v < lo) | (v > hi)).sum())
    return v.clamp(lo, hi), n


def quantize(
    x: torch.Tensor, fmt: Fmt, mode: Rounding = Rounding.NEAREST_EVEN, *, seed: int = 0, site: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Real values -> integers of ``fmt`` (float64-carried). Returns ``(q, saturations)``.

    ``q = saturate(round(x * 2**frac))``. NaN or inf anywhere is a ValueError.
    """
    return saturate(round_to_grid(x, fmt, mode, seed=seed, site=site), fmt)


def round_to_grid(
    x: torch.Tensor, fmt: Fmt, mode: Rounding = Rounding.NEAREST_EVEN, *, seed: int = 0, site: int = 0
) -> torch.Tensor:
    """``round(x * 2**frac)`` before saturation (values far outside the range are held at
    ``qmin - 2`` / ``qmax + 2``: still out of range, so saturation counts are unchanged).

    The product is exact in float64 for float32/float64 input (a power-of-two scale).
    """
    if not torch.is_floating_point(x):
        raise ValueError(f"quantize expects a floating-point tensor, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"cannot quantize to {fmt}: input holds {bad} NaN/inf value(s)")
    v = x.to(torch.float64) * float(2**fmt.frac)
    # Pre-clamping keeps the arithmetic below exact in float64 without changing any result.
    v = v.clamp(float(fmt.qmin - 2), float(fmt.qmax + 2))
    if mode == Rounding.STOCHASTIC:
        # Dither at a resolution of 2**-STOCHASTIC_SUBBITS of an LSB (documented).
        r = torch.floor(v * float(1 << STOCHASTIC_SUBBITS))
        return round_shift(r, STOCHASTIC_SUBBITS, mode, seed=seed, site=site)
    return round_real(v, mode)


STOCHASTIC_SUBBITS = 20


def round_real(v: torch.Tensor, mode: Rounding) -> torch.Tensor:
    """Round real float64 values to integers (the tie rule of ``mode``; exact for |v| < 2**52)."""
    if mode == Rounding.NEAREST_EVEN:
        return torch.round(v)
    if mode == Rounding.FLOOR:
        return torch.floor(v)
    if mode == Rounding.NEAREST_AWAY:
        a = v.abs()
        t = torch.floor(a)
        return torch.sign(v) * (t + ((a - t) >= 0.5).to(v.dtype))
    raise ValueError(f"round_real: mode {mode!r} needs a dither, use quantize()")


def dequantize(q: torch.Tensor, fmt: Fmt, dtype=torch.float32) -> torch.Tensor:
    """Integers of ``fmt`` -> real values ``q * 2**-frac``."""
    return (q.to(torch.float64) * fmt.scale).to(dtype)


def exact_float64_bound(n_terms: int, a: Fmt, b: Fmt, extra: int = 0) -> int:
    """Largest |sum| of ``n_terms`` products of ``a``- and ``b``-format integers plus ``extra``."""
    return n_terms * a.max_abs * b.max_abs + extra


FLOAT64_EXACT = 1 << 53


def check_exact(bound: int, what: str) -> None:
    """Fail loudly when a float64-carried integer could reach 2**53 (no longer exact)."""
    if bound >= FLOAT64_EXACT:
        raise ValueError(
            f"{what}: worst-case magnitude 2**{math.log2(bound):.1f} reaches 2**53, so the exact "
            "float64 integer path cannot hold it; narrow the formats or shorten the dot product"
        )
