"""Drop-in ``LSTM``, ``GRU``, ``RNN`` (and ``LSTMCell``, ``GRUCell``, ``RNNCell``) that train in
float, fine-tune with fake quantization and run on the bit-exact datapath — the same parameters in
every mode.

Each class takes exactly its ``torch.nn`` counterpart's constructor arguments (same order and
defaults: ``batch_first=False``, ``dropout``, ``proj_size`` for the LSTM, ``nonlinearity`` for the
RNN, ``device``, ``dtype``), registers the same parameters under the same names
(``weight_ih_l{k}[_reverse]``, ``weight_hh_...``, ``bias_ih_...``, ``bias_hh_...``,
``weight_hr_...``; cells without the suffix) initialised from the same random stream, and has the
same ``forward(input, hx=None)`` and return values: a (batch-first or time-first) 3-D batch, an
unbatched 2-D sequence or a ``PackedSequence`` in; output of the same kind out. The emulator's own
options are keywords only: ``mode=`` and ``datapath=`` in the constructor (and in
:meth:`~RecurrentStack.from_torch`), ``lengths=`` (a padded batch's sequence lengths; outputs are
zero past each length) and ``trace=`` (emulate mode: per-step action counts) in ``forward``.
A batch of size 0 gives empty outputs in every mode.

Recording hook: ``module.observer`` (default None) is called in float and fakequant mode as
``observer(module, layer, direction, tensor_class, tensor)`` with every tensor the datapath would
store, before it is rounded: per (layer, direction) first ``input`` (what the direction reads),
``hidden`` and LSTM ``cell`` (the initial state: zeros or the caller's ``hx``), then at each step
every rounding point's value (``weight``/``bias`` as the parameters, ``preact``, ``act``, ``cell``,
``hidden``). :func:`rnnaccel.calibrate` records ranges through it; emulate mode does not call it.

Modes (``module.mode``):
- ``"float"``: the recurrence with PyTorch's equations in the parameters' dtype (equals
  ``torch.nn``); dropout between layers in training mode as ``torch.nn``.
- ``"fakequant"``: the same recurrence with every datapath tensor fake-quantized to its format
  (round + saturate, straight-through gradients); the activations are the exact functions
  quantized to the activation format (the emulator uses the table unit instead).
- ``"emulate"``: the integer datapath (:mod:`rnnaccel.emulator.datapath`); outputs are the
  dequantized integers in the input's dtype. No gradients, no dropout: a module in training mode
  with ``dropout > 0`` and several layers is refused (call ``.eval()``).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from ..errors import RnnaccelError
from .config import DatapathConfig, per_layer_configs
from .datapath import GATES, quantize_weights
from .emulate import EmulationResult, check_lengths, emulate_stack, reverse_within
from .formats import Fmt, dequantize
from .trace import Trace

__all__ = ["RecurrentStack", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "MODES", "Observer", "fake_quant"]

MODES = ("float", "fakequant", "emulate")

#: ``observer(module, layer, direction, tensor_class, tensor)``: see :attr:`RecurrentStack.observer`
Observer = Callable[[nn.Module, int, int, str, torch.Tensor], None]
NONLINEARITIES = ("tanh", "relu")


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


def _positive(name: str, v) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")


class RecurrentStack(nn.Module):
    """A multi-layer (bi)directional recurrent stack. Use :class:`LSTM`, :class:`GRU` or :class:`RNN`.

    ``cell`` names the datapath cell: ``lstm``, ``gru``, ``rnn_tanh`` or ``rnn_relu``.
    """

    cell = "lstm"
    torch_class: type = nn.LSTM  # the torch.nn counterpart (from_torch copies one)
    observer: Observer | None = None  # see the module doc (recording hook)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        mode: str = "float",
        datapath: DatapathConfig | list[DatapathConfig] | None = None,
    ):
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            _positive(name, v)
        _check_dropout(dropout, num_layers)
        if not isinstance(proj_size, int) or proj_size < 0 or proj_size >= hidden_size:
            raise ValueError(f"proj_size must be an int with 0 <= proj_size < hidden_size, got {proj_size!r}")
        if proj_size and self.cell != "lstm":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), proj_size
        self.num_directions = 2 if bidirectional else 1
        self._register_parameters(device, dtype)
        self.mode = mode
        self.gemm = "auto"  # exact-GEMM backend of the emulator (same bits whichever)
        self.units: list = []  # technique unit factories (rnnaccel.emulator.hooks), emulate mode
        self.observer: Observer | None = None  # float/fakequant: sees every datapath tensor (calibration)
        self.datapath = datapath if datapath is not None else DatapathConfig()
        self._int_cache = None

    def _register_parameters(self, device, dtype) -> None:
        """torch.nn's parameters, names, shapes and registration order (w_ih, w_hh, b_ih, b_hh, w_hr
        per layer and direction), then torch's initialisation U(-1/sqrt(H), 1/sqrt(H)) in that order:
        the same seed gives the same weights as the ``torch.nn`` module."""
        G, H, R = GATES[self.cell], self.hidden_size, self.state_size
        new = lambda *shape: nn.Parameter(torch.empty(*shape, device=device, dtype=dtype))
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else R * self.num_directions
            for sfx in self._suffixes(layer):
                self.register_parameter(f"weight_ih{sfx}", new(G * H, d_in))
                self.register_parameter(f"weight_hh{sfx}", new(G * H, R))
                if self.bias:
                    self.register_parameter(f"bias_ih{sfx}", new(G * H))
                    self.register_parameter(f"bias_hh{sfx}", new(G * H))
                if self.proj_size:
                    self.register_parameter(f"weight_hr{sfx}", new(R, H))
        k = 1.0 / math.sqrt(H)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-k, k)

    # ------------------------------------------------------------------ configuration
    @property
    def state_size(self) -> int:
        """Width of ``h`` (what recurs and is output): ``proj_size`` when projecting, else ``hidden_size``."""
        return self.proj_size or self.hidden_size

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
        """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of (layer, direction); biases None without bias."""
        sfx = self._suffixes(layer)[d]
        get = lambda n: getattr(self, f"{n}{sfx}", None)
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def proj_weight(self, layer: int, d: int) -> torch.Tensor | None:
        """``weight_hr`` of (layer, direction) (LSTM with ``proj_size``), else None."""
        return getattr(self, f"weight_hr{self._suffixes(layer)[d]}", None) if self.proj_size else None

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The parameters per (layer, direction), as ``torch.nn``'s ``all_weights``."""
        out = []
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                ps = [*self.params(layer, d), self.proj_weight(layer, d)]
                out.append([p for p in ps if p is not None])
        return out

    def flatten_parameters(self) -> None:
        """As ``torch.nn``'s (models call it, e.g. torchaudio's Tacotron2 encoder): a no-op, the
        emulator keeps no cuDNN weight buffer."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s + f", mode={self.mode!r}"

    @classmethod
    def from_torch(cls, m: nn.Module, **kw) -> "RecurrentStack":
        """Copy a ``torch.nn`` module of this class's kind: its sizes, ``batch_first``, ``dropout``,
        ``proj_size``/``nonlinearity``, dtype, device, weights and train/eval state. ``kw``: the
        emulator's ``mode=`` and ``datapath=`` (``batch_first=`` overrides the module's). NaN or
        infinite weights are refused naming the parameter."""
        want = cls.torch_class
        if not isinstance(m, want):
            raise ValueError(f"{cls.__name__}.from_torch needs a torch.nn.{want.__name__}, got {type(m).__name__}")
        _check_finite(cls.__name__, m)
        p = next(m.parameters())
        args = dict(device=p.device, dtype=p.dtype, **_torch_options(m))
        args.update(kw)
        out = cls(m.input_size, m.hidden_size, **args)
        out.load_state_dict(m.state_dict())
        return out.train(m.training)

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
                w, s = quantize_weights(
                    self.cell,
                    *self.params(layer, d),
                    cfg,
                    site_base=(layer * 2 + d) * 32,
                    w_hr=self.proj_weight(layer, d),
                )
                row.append(w)
                sats += s
            weights.append(row)
        self._int_cache = (key, weights, sats)
        return weights, sats

    # ------------------------------------------------------------------ forward
    def forward(self, input, hx=None, *, lengths=None, trace: Trace | None = None):
        """As ``torch.nn``: ``input`` (time, batch, input_size), (batch, time, input_size) when
        ``batch_first``, (time, input_size) unbatched, or a ``PackedSequence``; ``hx`` the initial
        state (LSTM: ``(h_0, c_0)``), zeros when None. Returns ``(output, h_n)``, LSTM
        ``(output, (h_n, c_n))``, ``output`` of the input's kind. ``lengths`` (keyword, padded
        input only): each sequence's length; ``output`` is zero past it and ``h_n`` is the state at
        it. ``trace`` (emulate mode) collects per-step action counts."""
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(
                    "lengths= given with a PackedSequence, which carries its own lengths: pass one of them"
                )
            x, lengths = pad_packed_sequence(input, batch_first=True)
            out, h_n, c_n = self._run(x, lengths, *self._initial_state(hx, x.shape[0], False), trace)
            return _pack_like(out, input), self._state(h_n, c_n)
        x, unbatched = self._batch_first_input(input)
        if unbatched and lengths is not None:
            raise ValueError("lengths= given with unbatched input (one sequence): drop it or add a batch dimension")
        out, h_n, c_n = self._run(x, lengths, *self._initial_state(hx, x.shape[0], unbatched), trace)
        if unbatched:
            return out[0], self._state(h_n[:, 0], c_n[:, 0] if c_n is not None else None)
        return (out if self.batch_first else out.transpose(0, 1)), self._state(h_n, c_n)

    def _state(self, h_n, c_n):
        return (h_n, c_n) if self.cell == "lstm" else h_n

    def _batch_first_input(self, x) -> tuple[torch.Tensor, bool]:
        """The input as (batch, time, features) and whether it was unbatched (time, features)."""
        name = type(self).__name__
        if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3):
            got = f"{x.dim()}D" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {got} instead")
        if x.shape[-1] != self.input_size:
            layout = "batch, time" if self.batch_first else "time, batch"
            raise ValueError(
                f"{name} expects input ({layout}, {self.input_size}) or (time, {self.input_size}), got {tuple(x.shape)}"
            )
        if x.dim() == 2:
            return x.unsqueeze(0), True
        return (x if self.batch_first else x.transpose(0, 1)), False

    def _initial_state(self, hx, batch: int, unbatched: bool):
        """``hx`` as torch takes it -> ``(h0, c0)``, each (layers*dirs, batch, ·) or None."""
        if hx is None:
            return None, None
        if isinstance(hx, torch.Tensor) and hx.dim() == 1 and not hx.is_floating_point():
            raise ValueError(
                f"{type(self).__name__}: the second argument is hx (torch's initial state), got a 1-D integer "
                f"tensor; pass sequence lengths by keyword: module(x, lengths=lengths)"
            )
        if self.cell == "lstm":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError(f"{type(self).__name__}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            h0, c0 = hx
        else:
            h0, c0 = hx, None
        LD = self.num_layers * self.num_directions
        sizes = [("h_0" if self.cell == "lstm" else "hx", h0, self.state_size)]
        if c0 is not None:
            sizes.append(("c_0", c0, self.hidden_size))
        out = []
        for name, s, width in sizes:
            want = (LD, width) if unbatched else (LD, batch, width)
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != want:
                got = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                raise ValueError(f"{type(self).__name__}: {name} must have shape {want}, got {got}")
            out.append(s.unsqueeze(1) if unbatched else s)
        return out[0], (out[1] if len(out) > 1 else None)

    def _empty(self, x: torch.Tensor):
        """The outputs of a batch of size 0: ``(0, time, R * directions)`` and empty states."""
        LD = self.num_layers * self.num_directions
        out = x.new_zeros(0, x.shape[1], self.state_size * self.num_directions)
        c_n = x.new_zeros(LD, 0, self.hidden_size) if self.cell == "lstm" else None
        return out, x.new_zeros(LD, 0, self.state_size), c_n

    def _run(self, x: torch.Tensor, lengths, h0, c0, trace: Trace | None):
        """Batch-first ``x`` -> ``(output, h_n, c_n)`` (``c_n`` None but for the LSTM)."""
        if x.shape[0] == 0:
            return self._empty(x)
        if self.mode != "emulate":
            return self._forward_float(x, lengths, h0, c0, fq=self.mode == "fakequant")
        if self.training and self.dropout > 0 and self.num_layers > 1:
            raise RnnaccelError(
                f"{type(self).__name__}: emulate mode runs inference only and has no dropout, but the module is "
                f"training with dropout={self.dropout}: call .eval() first (or set dropout=0)"
            )
        r = self.emulate(x, lengths, (h0, c0) if self.cell == "lstm" else h0, trace=trace)
        dirs, dt = self.num_directions, x.dtype
        out = dequantize(r.output, self.datapath[-1].hidden, dt)
        h_n = torch.stack([dequantize(r.h_n[k], self.datapath[k // dirs].hidden, dt) for k in range(r.h_n.shape[0])])
        if r.c_n is None:
            return out, h_n, None
        c_n = torch.stack([dequantize(r.c_n[k], self.datapath[k // dirs].cell, dt) for k in range(r.c_n.shape[0])])
        return out, h_n, c_n

    @torch.no_grad()
    def emulate(
        self, x: torch.Tensor, lengths=None, hx=None, trace: Trace | None = None, record_internals: bool = False
    ) -> EmulationResult:
        """Run the integer datapath on batch-first ``x``; ``hx`` is float (LSTM ``(h, c)``), quantized
        to the hidden/cell formats by each layer's rounding mode (clamps counted)."""
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
        )

    def _rounding(
        self, cfg: DatapathConfig, fq: bool, layer: int, d: int
    ) -> Callable[[torch.Tensor, str], torch.Tensor]:
        """``q(t, cls)``: ``t`` rounded onto ``cfg``'s format of tensor class ``cls`` (fakequant) or
        unchanged (float), shown first to :attr:`observer` when one is set."""
        seen = self.observer
        if seen is None:
            return (lambda t, cls: fake_quant(t, getattr(cfg, cls))) if fq else (lambda t, cls: t)

        def q(t: torch.Tensor, cls: str) -> torch.Tensor:
            seen(self, layer, d, cls, t)
            return fake_quant(t, getattr(cfg, cls)) if fq else t

        return q

    def _forward_float(self, x, lengths, h0, c0, fq: bool):
        B, T, _ = x.shape
        lengths = check_lengths(x, lengths)
        R, H, dirs = self.state_size, self.hidden_size, self.num_directions
        if not bool(torch.isfinite(x).all()):
            raise ValueError("input holds NaN/inf values")
        valid = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).to(x.device)
        cur = (x * valid.unsqueeze(-1)).transpose(0, 1)  # (T, B, D)
        hn, cn = [], []
        for layer, cfg in enumerate(self.datapath):
            if layer > 0 and self.dropout > 0 and self.training:
                cur = nn.functional.dropout(cur, self.dropout, training=True)  # torch.nn: between layers
            if fq:
                cur = fake_quant(cur, cfg.input)
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                xin = cur if d == 0 else reverse_within(cur, lengths)
                h = h0[k] if h0 is not None else x.new_zeros(B, R)
                c = (c0[k] if c0 is not None else x.new_zeros(B, H)) if self.cell == "lstm" else None
                q = self._rounding(cfg, fq, layer, d)
                if self.observer is not None:
                    for cls, t in (("input", xin), ("hidden", h), ("cell", c)):
                        if t is not None:
                            self.observer(self, layer, d, cls, t)
                o, h, c = _float_direction(
                    self.cell, xin, lengths, *self.params(layer, d), h, c, q, w_hr=self.proj_weight(layer, d)
                )
                outs.append(o if d == 0 else reverse_within(o, lengths))
                hn.append(h)
                cn.append(c)
            cur = torch.cat(outs, dim=-1) if dirs > 1 else outs[0]
        return cur.transpose(0, 1), torch.stack(hn), (torch.stack(cn) if self.cell == "lstm" else None)


def _float_direction(cell, x, lengths, w_ih, w_hh, b_ih, b_hh, h, c, q, w_hr=None):
    """Float (optionally fake-quantized) recurrence over (T, B, D), PyTorch equations. ``q(t, cls)``
    is applied at every rounding point of the datapath, ``cls`` naming the tensor class stored there.
    ``w_hr``: the LSTM's projection (``h = W_hr (o * tanh(c))``)."""
    T, B, _ = x.shape
    w_ih, w_hh = q(w_ih, "weight"), q(w_hh, "weight")
    w_hr = q(w_hr, "weight") if w_hr is not None else None
    b_ih = q(b_ih, "bias") if b_ih is not None else 0.0
    b_hh = q(b_hh, "bias") if b_hh is not None else 0.0
    gx = x @ w_ih.T + b_ih  # (T, B, G*H)
    outs = []
    alive = (torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)).to(x.device).unsqueeze(-1)  # (T, B, 1)
    for t in range(T):
        gh = h @ w_hh.T + b_hh
        if cell == "lstm":
            zt = q(gx[t] + gh, "preact")
            i, f, g, o = zt.chunk(4, dim=1)
            i, f, o = q(torch.sigmoid(i), "act"), q(torch.sigmoid(f), "act"), q(torch.sigmoid(o), "act")
            g = q(torch.tanh(g), "act")
            c_new = q(f * c + i * g, "cell")
            h_new = q(o * q(torch.tanh(c_new), "act"), "hidden")
            if w_hr is not None:
                h_new = q(h_new @ w_hr.T, "hidden")
            c = torch.where(alive[t], c_new, c)
        elif cell == "gru":
            xr, xz, xn = gx[t].chunk(3, dim=1)
            hr, hz, hn_ = gh.chunk(3, dim=1)
            r = q(torch.sigmoid(q(xr + hr, "preact")), "act")
            z = q(torch.sigmoid(q(xz + hz, "preact")), "act")
            n = q(torch.tanh(q(q(xn, "preact") + r * q(hn_, "preact"), "preact")), "act")
            h_new = q((1 - z) * n + z * h, "hidden")
        else:  # Elman: h = tanh(z) or relu(z)
            zt = q(gx[t] + gh, "preact")
            h_new = q(q(torch.tanh(zt), "act") if cell == "rnn_tanh" else torch.relu(zt), "hidden")
        h = torch.where(alive[t], h_new, h)
        outs.append(torch.where(alive[t], h_new, torch.zeros_like(h_new)))
    return torch.stack(outs), h, c


def _check_dropout(dropout, num_layers: int) -> None:
    """torch.nn's rule: a number in [0, 1]; a warning when there is no layer boundary to apply it at."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an element being "
            f"zeroed, got {dropout!r}"
        )
    if dropout > 0 and num_layers == 1:
        warnings.warn(
            f"dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
            f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
            stacklevel=3,
        )


def _check_finite(name: str, m: nn.Module) -> None:
    for pname, t in m.state_dict().items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise RnnaccelError(
                f"{name}.from_torch: parameter {pname} holds NaN or infinite values; "
                f"fix or retrain the model before running it on the datapath"
            )


def _torch_options(m: nn.Module) -> dict:
    """The constructor options of a ``torch.nn`` recurrent module or cell, as keywords."""
    if isinstance(m, nn.RNNCellBase):
        opts = dict(bias=m.bias)
    else:
        opts = dict(
            num_layers=m.num_layers,
            bias=m.bias,
            batch_first=m.batch_first,
            dropout=m.dropout,
            bidirectional=m.bidirectional,
        )
        if isinstance(m, nn.LSTM):
            opts["proj_size"] = m.proj_size
    if isinstance(m, (nn.RNN, nn.RNNCell)):
        opts["nonlinearity"] = m.nonlinearity
    return opts


def _pack_like(out: torch.Tensor, packed: PackedSequence) -> PackedSequence:
    """Padded batch-first ``out`` (the caller's order) -> a PackedSequence laid out as ``packed``."""
    if packed.sorted_indices is not None:
        out = out.index_select(0, packed.sorted_indices.to(out.device))
    steps = [out[: int(n), t] for t, n in enumerate(packed.batch_sizes)]
    data = torch.cat(steps) if steps else out.new_zeros(0, out.shape[-1])
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


# ---------------------------------------------------------------------- the stacks
class LSTM(RecurrentStack):
    """Multi-layer (bi)directional LSTM, PyTorch gate order [i, f, g, o], optional projection."""

    cell = "lstm"
    torch_class = nn.LSTM  # RecurrentStack's constructor is torch.nn.LSTM's signature


class GRU(RecurrentStack):
    """Multi-layer (bi)directional GRU, PyTorch equations (r gates ``W_hn h + b_hn``)."""

    cell = "gru"
    torch_class = nn.GRU

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        proj_size: int = 0,
        mode: str = "float",
        datapath: DatapathConfig | list[DatapathConfig] | None = None,
    ):
        _no_projection(proj_size)
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            mode=mode,
            datapath=datapath,
        )


def _no_projection(proj_size) -> None:
    """GRU and RNN take ``proj_size`` only to refuse it, with torch's words."""
    if proj_size:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")


def _nonlinearity(v) -> str:
    if v not in NONLINEARITIES:
        raise ValueError(f"Unknown nonlinearity '{v}'. Select from 'tanh' or 'relu'.")
    return v


class RNN(RecurrentStack):
    """Multi-layer (bi)directional Elman RNN, ``h = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or relu)."""

    cell = "rnn_tanh"  # per instance: rnn_<nonlinearity>
    torch_class = nn.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        proj_size: int = 0,
        mode: str = "float",
        datapath: DatapathConfig | list[DatapathConfig] | None = None,
    ):
        _no_projection(proj_size)
        self.cell = f"rnn_{_nonlinearity(nonlinearity)}"
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            mode=mode,
            datapath=datapath,
        )
        self.nonlinearity = nonlinearity


# ---------------------------------------------------------------------- the cells
class _Cell(RecurrentStack):
    """One step of a 1-layer stack: ``torch.nn``'s cell parameters (no ``_l0`` suffix), input
    (batch, input_size) or unbatched (input_size,), ``hx`` (batch, hidden) or (hidden,)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        mode: str = "float",
        datapath=None,
    ):  # torch's cell signature (LSTMCell, GRUCell), plus the emulator's keywords
        super().__init__(
            input_size, hidden_size, 1, bias, True, 0.0, False, 0, device, dtype, mode=mode, datapath=datapath
        )

    def _suffixes(self, layer):
        return [""]

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False") + f", mode={self.mode!r}"
        )

    def forward(self, input, hx=None, *, trace: Trace | None = None):
        """As ``torch.nn``'s cell: returns ``h'`` (LSTMCell: ``(h', c')``), unbatched in -> unbatched out."""
        name = type(self).__name__
        if not isinstance(input, torch.Tensor) or input.dim() not in (1, 2):
            got = f"{input.dim()}D" if isinstance(input, torch.Tensor) else type(input).__name__
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {got} instead")
        if input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name} expects input (batch, {self.input_size}) or ({self.input_size},), got {tuple(input.shape)}"
            )
        unbatched = input.dim() == 1
        x = input.reshape(1, 1, -1) if unbatched else input.unsqueeze(1)  # a 1-step batch-first sequence
        states = hx if self.cell == "lstm" and hx is not None else ((hx,) if hx is not None else ())
        if self.cell == "lstm" and hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError(f"{name}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        want = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        for s in states:
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != want:
                got = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                raise ValueError(f"{name}: hidden state must have shape {want}, got {got}")
        lift = lambda s: s.reshape(1, 1, -1) if unbatched else s.unsqueeze(0)  # (layers*dirs=1, batch, H)
        h0 = lift(states[0]) if states else None
        c0 = lift(states[1]) if len(states) > 1 else None
        _, h_n, c_n = self._run(x, None, h0, c0, trace)
        drop = (lambda s: s.reshape(-1)) if unbatched else (lambda s: s[0])
        return (drop(h_n), drop(c_n)) if self.cell == "lstm" else drop(h_n)


class LSTMCell(_Cell):
    """``torch.nn.LSTMCell`` on the emulator: one LSTM step."""

    cell = "lstm"
    torch_class = nn.LSTMCell


class GRUCell(_Cell):
    """``torch.nn.GRUCell`` on the emulator: one GRU step."""

    cell = "gru"
    torch_class = nn.GRUCell


class RNNCell(_Cell):
    """``torch.nn.RNNCell`` on the emulator: one Elman step (tanh or relu)."""

    cell = "rnn_tanh"  # per instance: rnn_<nonlinearity>
    torch_class = nn.RNNCell

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
        *,
        mode: str = "float",
        datapath=None,
    ):
        self.cell = f"rnn_{_nonlinearity(nonlinearity)}"
        super().__init__(input_size, hidden_size, bias, device, dtype, mode=mode, datapath=datapath)
        self.nonlinearity = nonlinearity
