"""``LSTM`` and ``GRU`` modules that train in float, fine-tune with fake quantization and run on
the bit-exact datapath — the same parameters in every mode.

Parameters use PyTorch's names and layouts (``weight_ih_l{k}[_reverse]``, ``weight_hh_...``,
``bias_ih_...``, ``bias_hh_...``), so ``load_state_dict`` of a ``torch.nn.LSTM``/``GRU`` state dict
works, and :meth:`from_torch` copies one. Inputs are batch-first ``(batch, time, features)``, or
time-first ``(time, batch, features)`` with ``batch_first=False`` (as ``torch.nn``; :meth:`emulate`
always takes batch-first input). A batch of size 0 gives empty outputs in every mode.

Modes (``module.mode``):
- ``"float"``: float32 recurrence with PyTorch's equations (equals ``torch.nn.LSTM``/``GRU``).
- ``"fakequant"``: the same recurrence with every datapath tensor fake-quantized to its format
  (round + saturate, straight-through gradients); the activations are the exact functions
  quantized to the activation format (the emulator uses the table unit instead).
- ``"emulate"``: the integer datapath (:mod:`rnnaccel.emulator.datapath`); outputs are the
  dequantized integers. No gradients.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import RnnaccelError
from .config import DatapathConfig, per_layer_configs
from .datapath import GATES, quantize_weights
from .emulate import EmulationResult, check_lengths, emulate_stack, reverse_within
from .formats import Fmt, dequantize
from .trace import Trace

__all__ = ["RecurrentStack", "LSTM", "GRU", "MODES", "fake_quant"]

MODES = ("float", "fakequant", "emulate")


class _FakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bits, frac):
        s = 2.0**frac
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return torch.round(x * s).clamp(lo, hi) / s

    @staticmethod
    def backward(ctx, g):
        return g, None, None


def fake_quant(x: torch.Tensor, fmt: Fmt) -> torch.Tensor:
    """Round half to even onto ``fmt``'s grid and saturate; gradient passes straight through."""
    return _FakeQuant.apply(x, fmt.bits, fmt.frac)


class RecurrentStack(nn.Module):
    """A multi-layer (bi)directional LSTM or GRU. Use :class:`LSTM` / :class:`GRU`."""

    cell = "lstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        bidirectional: bool = False,
        mode: str = "float",
        datapath: DatapathConfig | list[DatapathConfig] | None = None,
        batch_first: bool = True,
    ):
        super().__init__()
        self.batch_first = bool(batch_first)
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.bidirectional = bias, bidirectional
        self.num_directions = 2 if bidirectional else 1
        G = GATES[self.cell]
        k = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            d_in = input_size if layer == 0 else hidden_size * self.num_directions
            for sfx in self._suffixes(layer):
                self.register_parameter(
                    f"weight_ih{sfx}", nn.Parameter(torch.empty(G * hidden_size, d_in).uniform_(-k, k))
                )
                self.register_parameter(
                    f"weight_hh{sfx}", nn.Parameter(torch.empty(G * hidden_size, hidden_size).uniform_(-k, k))
                )
                if bias:
                    self.register_parameter(f"bias_ih{sfx}", nn.Parameter(torch.empty(G * hidden_size).uniform_(-k, k)))
                    self.register_parameter(f"bias_hh{sfx}", nn.Parameter(torch.empty(G * hidden_size).uniform_(-k, k)))
        self.mode = mode
        self.gemm = "auto"  # exact-GEMM backend of the emulator (same bits whichever)
        self.units: list = []  # technique unit factories (rnnaccel.emulator.hooks), emulate mode
        self.datapath = datapath if datapath is not None else DatapathConfig()
        self._int_cache = None

    # ------------------------------------------------------------------ configuration
    def _suffixes(self, layer):
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, m: str):
        if m not in MODES:
            raise ValueError(f"mode {m!r} unknown; choose one of {MODES}")
        self._mode = m

    @property
    def datapath(self) -> list[DatapathConfig]:
        return self._datapath

    @datapath.setter
    def datapath(self, cfg):
        self._datapath = per_layer_configs(cfg, self.num_layers)
        self._int_cache = None

    def params(self, layer: int, d: int):
        sfx = self._suffixes(layer)[d]
        get = lambda n: getattr(self, f"{n}{sfx}", None)
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    @classmethod
    def from_torch(cls, m: nn.LSTM | nn.GRU, **kw) -> "RecurrentStack":
        """Copy a ``torch.nn.LSTM``/``GRU``, its ``batch_first`` included (inputs are then laid out
        as that module's). NaN or infinite weights are refused naming the parameter."""
        want = nn.LSTM if cls.cell == "lstm" else nn.GRU
        if not isinstance(m, want):
            raise ValueError(f"{cls.__name__}.from_torch needs a torch.nn.{want.__name__}, got {type(m).__name__}")
        if getattr(m, "proj_size", 0):
            raise ValueError("LSTM with proj_size is not supported by the datapath")
        for name, t in m.state_dict().items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise RnnaccelError(
                    f"{cls.__name__}.from_torch: parameter {name} holds NaN or infinite values; "
                    f"fix or retrain the model before running it on the datapath"
                )
        out = cls(
            m.input_size,
            m.hidden_size,
            m.num_layers,
            m.bias,
            m.bidirectional,
            batch_first=kw.pop("batch_first", m.batch_first),
            **kw,
        )
        out.load_state_dict(m.state_dict())
        return out

    # ------------------------------------------------------------------ integer weights
    def int_weights(self):
        """Integer weights per (layer, direction), cached until parameters or formats change."""
        key = tuple(p._version for p in self.parameters()) + tuple(p.data_ptr() for p in self.parameters())
        if self._int_cache is not None and self._int_cache[0] == key:
            return self._int_cache[1], self._int_cache[2]
        weights, sats = [], 0
        for layer, cfg in enumerate(self.datapath):
            row = []
            for d in range(self.num_directions):
                w, s = quantize_weights(self.cell, *self.params(layer, d), cfg, site_base=(layer * 2 + d) * 32)
                row.append(w)
                sats += s
            weights.append(row)
        self._int_cache = (key, weights, sats)
        return weights, sats

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, lengths=None, hx=None, trace: Trace | None = None):
        """``x``: (batch, time, input_size), or (time, batch, input_size) when not
        ``batch_first``. Returns ``(output, h_n)`` for the GRU and ``(output, (h_n, c_n))`` for the
        LSTM, as ``torch.nn`` does (``output`` in the input's layout); ``output`` is zero past each
        sequence's length. ``trace`` (emulate mode) collects per-step action counts.
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            layout = "batch, time" if self.batch_first else "time, batch"
            raise ValueError(f"{type(self).__name__} expects input ({layout}, {self.input_size}), got {tuple(x.shape)}")
        if not self.batch_first:
            out, state = self._forward_batch_first(x.transpose(0, 1), lengths, hx, trace)
            return out.transpose(0, 1), state
        return self._forward_batch_first(x, lengths, hx, trace)

    def _empty(self, x: torch.Tensor):
        """The outputs of a batch of size 0: ``(0, time, H * directions)`` and empty states."""
        out = x.new_zeros(0, x.shape[1], self.hidden_size * self.num_directions)
        h_n = x.new_zeros(self.num_layers * self.num_directions, 0, self.hidden_size)
        return (out, (h_n, h_n.clone())) if self.cell == "lstm" else (out, h_n)

    def _forward_batch_first(self, x: torch.Tensor, lengths, hx, trace: Trace | None):
        if x.shape[0] == 0:
            return self._empty(x)
        if self.mode == "emulate":
            r = self.emulate(x, lengths, hx, trace=trace)
            out = self._deq(r.output, self.datapath[-1].hidden)
            h_n = torch.stack(
                [self._deq(r.h_n[k], self.datapath[k // self.num_directions].hidden) for k in range(r.h_n.shape[0])]
            )
            if self.cell == "lstm":
                c_n = torch.stack(
                    [self._deq(r.c_n[k], self.datapath[k // self.num_directions].cell) for k in range(r.c_n.shape[0])]
                )
                return out, (h_n, c_n)
            return out, h_n
        return self._forward_float(x, lengths, hx, fq=self.mode == "fakequant")

    def _deq(self, q, fmt):
        return dequantize(q, fmt)

    @torch.no_grad()
    def emulate(
        self, x: torch.Tensor, lengths=None, hx=None, trace: Trace | None = None, record_internals: bool = False
    ) -> EmulationResult:
        """Run the integer datapath; ``hx`` is float (quantized to the hidden/cell formats)."""
        weights, _ = self.int_weights()
        h0, c0 = (hx if self.cell == "lstm" else (hx, None)) if hx is not None else (None, None)
        return emulate_stack(
            self.cell,
            weights,
            self.datapath,
            x,
            lengths,
            h0,
            c0,
            trace=trace,
            record_internals=record_internals,
            gemm=self.gemm,
            unit_factories=self.units,
            state_is_int=False,
        )  # real hx: quantized by each layer's rounding mode, clamps counted

    def _forward_float(self, x, lengths, hx, fq: bool):
        B, T, _ = x.shape
        lengths = check_lengths(x, lengths)
        H, dirs = self.hidden_size, self.num_directions
        if not bool(torch.isfinite(x).all()):
            raise ValueError("input holds NaN/inf values")
        valid = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).to(x.device)
        cur = (x * valid.unsqueeze(-1)).transpose(0, 1)  # (T, B, D)
        h0, c0 = (hx if self.cell == "lstm" else (hx, None)) if hx is not None else (None, None)
        hn, cn = [], []
        for layer, cfg in enumerate(self.datapath):
            q = (lambda t, f: fake_quant(t, f)) if fq else (lambda t, f: t)
            if fq:
                cur = q(cur, cfg.input)
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                w_ih, w_hh, b_ih, b_hh = self.params(layer, d)
                xin = cur if d == 0 else reverse_within(cur, lengths)
                h = h0[k] if h0 is not None else x.new_zeros(B, H)
                c = (c0[k] if c0 is not None else x.new_zeros(B, H)) if self.cell == "lstm" else None
                o, h, c = _float_direction(self.cell, xin, lengths, w_ih, w_hh, b_ih, b_hh, h, c, cfg, q)
                outs.append(o if d == 0 else reverse_within(o, lengths))
                hn.append(h)
                cn.append(c)
            cur = torch.cat(outs, dim=-1) if dirs > 1 else outs[0]
        out = cur.transpose(0, 1)
        if self.cell == "lstm":
            return out, (torch.stack(hn), torch.stack(cn))
        return out, torch.stack(hn)


def _float_direction(cell, x, lengths, w_ih, w_hh, b_ih, b_hh, h, c, cfg, q):
    """Float (optionally fake-quantized through ``q``) recurrence over (T, B, D), PyTorch equations."""
    T, B, _ = x.shape
    w_ih, w_hh = q(w_ih, cfg.weight), q(w_hh, cfg.weight)
    b_ih = q(b_ih, cfg.bias) if b_ih is not None else 0.0
    b_hh = q(b_hh, cfg.bias) if b_hh is not None else 0.0
    gx = x @ w_ih.T + b_ih  # (T, B, G*H)
    outs = []
    alive = (torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)).to(x.device).unsqueeze(-1)  # (T, B, 1)
    for t in range(T):
        gh = h @ w_hh.T + b_hh
        if cell == "lstm":
            zt = q(gx[t] + gh, cfg.preact)
            i, f, g, o = zt.chunk(4, dim=1)
            i, f, o = q(torch.sigmoid(i), cfg.act), q(torch.sigmoid(f), cfg.act), q(torch.sigmoid(o), cfg.act)
            g = q(torch.tanh(g), cfg.act)
            c_new = q(f * c + i * g, cfg.cell)
            h_new = q(o * q(torch.tanh(c_new), cfg.act), cfg.hidden)
            c = torch.where(alive[t], c_new, c)
        else:
            xr, xz, xn = gx[t].chunk(3, dim=1)
            hr, hz, hn_ = gh.chunk(3, dim=1)
            r = q(torch.sigmoid(q(xr + hr, cfg.preact)), cfg.act)
            z = q(torch.sigmoid(q(xz + hz, cfg.preact)), cfg.act)
            n = q(torch.tanh(q(q(xn, cfg.preact) + r * q(hn_, cfg.preact), cfg.preact)), cfg.act)
            h_new = q((1 - z) * n + z * h, cfg.hidden)
        h = torch.where(alive[t], h_new, h)
        outs.append(torch.where(alive[t], h_new, torch.zeros_like(h_new)))
    return torch.stack(outs), h, c


class LSTM(RecurrentStack):
    """Multi-layer (bi)directional LSTM, PyTorch gate order [i, f, g, o]."""

    cell = "lstm"


class GRU(RecurrentStack):
    """Multi-layer (bi)directional GRU, PyTorch equations (r gates ``W_hn h + b_hn``)."""

    cell = "gru"
