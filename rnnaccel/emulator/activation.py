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

from .formats import Fmt, Rounding, round_shift

__all__ = ["ActivationUnit", "GateActivations", "FUNCTIONS", "activation_table"]

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
        x = (fin.qmin + i * (1 << s) + half) * 2.0**-fin.frac
        q = round(f(x) * 2.0**fout.frac)  # Python round(): half to even
        out.append(min(max(q, fout.qmin), fout.qmax))
    return tuple(out)


FULL_TABLE_MAX_BITS = 20  # tabulate the whole PWL function for inputs up to this width


class ActivationUnit:
    """Evaluates ``func`` on integers of format ``fin``, producing integers of format ``fout``.

    The hardware unit is the segment table + interpolation of :meth:`pwl`. With a deterministic
    rounding mode that unit is a fixed function of its input integer, so the emulator evaluates
    it once for every input value (``2**fin.bits`` entries) and looks the answer up — the same
    bits with one gather. Stochastic rounding depends on the step and position and always runs
    :meth:`pwl`.
    """

    def __init__(
        self,
        func: str,
        fin: Fmt,
        fout: Fmt,
        index_bits: int,
        interp: bool = True,
        rounding: Rounding = Rounding.NEAREST_EVEN,
        seed: int = 0,
        site: int = 0,
    ):
        if func not in FUNCTIONS:
            raise ValueError(f"activation {func!r} unknown; choose one of {sorted(FUNCTIONS)}")
        if not 1 <= index_bits <= fin.bits:
            raise ValueError(f"activation index_bits={index_bits} must be in [1, {fin.bits}]")
        self.func, self.fin, self.fout = func, fin, fout
        self.k, self.s, self.interp = index_bits, fin.bits - index_bits, interp
        self.rounding, self.seed, self.site = rounding, seed, site
        t = torch.tensor(activation_table(func, fin, fout, index_bits, interp), dtype=torch.float64)
        self.table = t
        self.slope = (t[1:] - t[:-1]) if interp else None  # segment i: T[i+1] - T[i]
        self.full = None
        self._dev = {}
        if rounding != Rounding.STOCHASTIC and fin.bits <= FULL_TABLE_MAX_BITS:
            every = torch.arange(fin.qmin, fin.qmax + 1, dtype=torch.float64)
            self.full = self.pwl(every)

    def on(self, device, name: str) -> torch.Tensor:
        """Tensor attribute ``name`` moved to ``device`` (cached)."""
        key = (device, name)
        if key not in self._dev:
            self._dev[key] = getattr(self, name).to(device)
        return self._dev[key]

    def __call__(self, q: torch.Tensor, step: int = 0) -> torch.Tensor:
        """``q``: float64-carried integers in ``fin``'s range; returns integers in ``fout``."""
        if self.full is not None:
            return torch.take(self.on(q.device, "full"), q.to(torch.int64) - self.fin.qmin)
        return self.pwl(q, step)

    def pwl(self, q: torch.Tensor, step: int = 0) -> torch.Tensor:
        """The hardware unit: segment index from the top bits, linear interpolation on the rest.

        The output cannot leave ``fout``'s range: the table entries are clamped when generated, and
        an interpolated value lies between the two (in-range) end points of its segment for every
        rounding mode, so there is no run-time saturation point here.
        """
        table = self.on(q.device, "table")
        u = q.to(torch.int64) - self.fin.qmin  # unsigned offset, in [0, 2**bits)
        idx = u >> self.s
        y0 = torch.take(table, idx)
        if not self.interp or self.s == 0:
            return y0
        r = (u & ((1 << self.s) - 1)).to(torch.float64)  # low bits, in [0, 2**s)
        dy = torch.take(self.on(q.device, "slope"), idx)
        return y0 + round_shift(dy * r, self.s, self.rounding, seed=self.seed, site=self.site, step=step)


class GateActivations:
    """Several units applied to consecutive column ranges of one gate vector (e.g. LSTM
    ``[i, f, o | g]``: sigmoid on 3H columns, tanh on H). With full tables this is one gather
    from the concatenated tables; otherwise each unit runs on its slice."""

    def __init__(self, parts: list[tuple[ActivationUnit, int]]):
        self.parts = parts
        self.merged = all(u.full is not None for u, _ in parts)
        if self.merged:
            tables, offs, base = [], [], 0
            for u, width in parts:
                tables.append(u.full)
                offs.append(torch.full((width,), base - u.fin.qmin, dtype=torch.int64))
                base += u.full.numel()
            self.table, self.offset = torch.cat(tables), torch.cat(offs)
            self._dev = {}

    def __call__(self, z: torch.Tensor, step: int = 0) -> torch.Tensor:
        if self.merged:
            d = z.device
            if d not in self._dev:
                self._dev[d] = (self.table.to(d), self.offset.to(d))
            table, offset = self._dev[d]
            return torch.take(table, z.to(torch.int64) + offset)
        outs, c0 = [], 0
        for u, width in self.parts:
            outs.append(u(z[:, c0 : c0 + width], step))
            c0 += width
        return torch.cat(outs, dim=1)
