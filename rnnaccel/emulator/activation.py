"""The activation unit: sigmoid and tanh as a table over the saturated input range.

The table is generated once, deterministically, from the input and output formats (Python
``math`` in float64, round half to even into the output format). At run time the unit is fully
integer: the input's top ``k`` bits (offset to unsigned) select a segment, the low bits
interpolate linearly between the segment's two end points (or, with ``interp=False``, the
segment's midpoint value is returned). See ``docs/datapath.md`` section "Activation unit".
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from .formats import Fmt, Rounding, round_shift, saturate

__all__ = ["ActivationUnit", "FUNCTIONS", "activation_table"]

FUNCTIONS = {
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x)),
    "tanh": math.tanh,
}


@lru_cache(maxsize=None)
def activation_table(func: str, fin: Fmt, fout: Fmt, index_bits: int, interp: bool) -> tuple[int, ...]:
    """Integer table of ``func`` for inputs in ``fin`` and outputs in ``fout``.

    With ``interp``: ``2**k + 1`` entries, entry ``i`` = f at input integer ``qmin + i * 2**s``
    (``s = fin.bits - k``). Without: ``2**k`` entries, entry ``i`` = f at the segment midpoint
    ``qmin + i * 2**s + (2**s) // 2``. Values are rounded half to even and clamped to ``fout``.
    """
    f = FUNCTIONS[func]
    s = fin.bits - index_bits
    n = (1 << index_bits) + (1 if interp else 0)
    half = 0 if interp else (1 << s) // 2
    out = []
    for i in range(n):
        x = (fin.qmin + i * (1 << s) + half) * 2.0 ** -fin.frac
        q = round(f(x) * 2.0 ** fout.frac)  # Python round(): half to even
        out.append(min(max(q, fout.qmin), fout.qmax))
    return tuple(out)


class ActivationUnit:
    """Evaluates ``func`` on integers of format ``fin``, producing integers of format ``fout``."""

    def __init__(self, func: str, fin: Fmt, fout: Fmt, index_bits: int, interp: bool = True,
                 rounding: Rounding = Rounding.NEAREST_EVEN, seed: int = 0, site: int = 0):
        if func not in FUNCTIONS:
            raise ValueError(f"activation {func!r} unknown; choose one of {sorted(FUNCTIONS)}")
        if not 1 <= index_bits <= fin.bits:
            raise ValueError(f"activation index_bits={index_bits} must be in [1, {fin.bits}]")
        self.func, self.fin, self.fout = func, fin, fout
        self.k, self.s, self.interp = index_bits, fin.bits - index_bits, interp
        self.rounding, self.seed, self.site = rounding, seed, site
        self._table = {}
        self.table = torch.tensor(activation_table(func, fin, fout, index_bits, interp), dtype=torch.float64)

    def _table_on(self, device) -> torch.Tensor:
        t = self._table.get(device)
        if t is None:
            t = self._table[device] = self.table.to(device)
        return t

    def __call__(self, q: torch.Tensor, step: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``q``: float64-carried integers in ``fin``'s range. Returns ``(y, saturations)``."""
        table = self._table_on(q.device)
        u = q - float(self.fin.qmin)  # unsigned offset, in [0, 2**bits)
        idx_f = torch.floor(u * 2.0 ** -self.s)
        idx = idx_f.to(torch.int64)
        y0 = table[idx]
        if not self.interp or self.s == 0:
            return saturate(y0, self.fout)
        r = u - idx_f * float(1 << self.s)  # low bits, in [0, 2**s)
        dy = table[idx + 1] - y0
        y = y0 + round_shift(dy * r, self.s, self.rounding, seed=self.seed, site=self.site, step=step)
        return saturate(y, self.fout)
