"""Post-training quantization: pick every datapath format of every recurrent layer from data.

The model runs in float on calibration batches while the recurrence records, per recurrent layer,
the largest magnitude of each tensor class the datapath stores:

=========  ====================================================================================
weight     all entries of ``W_ih`` and ``W_hh`` (both directions)
bias       the biases *as the datapath merges them*: LSTM ``b_ih + b_hh``; GRU ``b_ir+b_hr``,
           ``b_iz+b_hz`` merged, ``b_in`` and ``b_hn`` apart
input      the layer's input vectors (layer 0: the stacked features; layer l > 0: layer l-1's outputs,
           which are read in layer l-1's hidden format as stored, without requantization)
hidden     ``h_t``
cell       LSTM ``c_t``
preact     gate pre-activations (GRU: also ``x_n``, ``h_n`` and ``x_n + r*h_n``)
act        activation outputs (|.| <= 1)
=========  ====================================================================================

For each class the format with ``bits`` bits and the *most* fractional bits whose largest value
covers ``max|v| * (1 + margin)`` is chosen (:func:`best_format`). ``hidden`` and ``act`` are kept at
``Q<bits>.<bits-1>`` (|h| < 1, sigmoid/tanh outputs <= 1; 1.0 itself is clamped offline by the
activation tables). Then the validity rules of :class:`DatapathConfig` are enforced: ``bias.frac``
and ``preact.frac`` may not exceed the derived accumulator fraction ``weight.frac +
max(input.frac, hidden.frac)`` (lowered if needed, which only widens their range), and the
accumulator (``acc_bits`` wide, fraction derived) must hold the observed pre-activations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch

from ..emulator import DatapathConfig, Fmt
from ..emulator.emulate import check_lengths, reverse_within
from ..emulator.layers import _float_direction
from .accel import check_stack
from .speech import SpeechRecognizer, stack_frames

__all__ = ["RangeStats", "best_format", "collect_ranges", "collect_stack_ranges", "formats_from_ranges", "calibrate"]

CLASSES = ("weight", "bias", "input", "hidden", "cell", "preact", "act")


@dataclass
class RangeStats:
    """Largest |value| seen per tensor class of one recurrent layer."""

    max_abs: dict[str, float] = field(default_factory=lambda: {c: 0.0 for c in CLASSES})

    def see(self, cls: str, t) -> None:
        v = float(t.detach().abs().max()) if torch.is_tensor(t) else abs(float(t))
        if not math.isfinite(v):
            raise ValueError(f"calibration: non-finite {cls} value")
        self.max_abs[cls] = max(self.max_abs[cls], v)


def best_format(max_abs: float, bits: int = 16, margin: float = 0.0) -> Fmt:
    """``Q<bits>.<frac>`` with the largest ``frac`` in ``[0, bits-1]`` such that
    ``(2**(bits-1) - 1) * 2**-frac >= max_abs * (1 + margin)``; ``frac = 0`` if none covers it."""
    need = max_abs * (1.0 + margin)
    qmax = 2 ** (bits - 1) - 1
    for frac in range(bits - 1, -1, -1):
        if qmax * 2.0**-frac >= need:
            return Fmt(bits, frac)
    return Fmt(bits, 0)


def _merged_biases(rnn, layer: int, d: int) -> list[torch.Tensor]:
    _, _, b_ih, b_hh = rnn.params(layer, d)
    if b_ih is None:
        return []
    H = rnn.hidden_size
    if rnn.cell == "lstm":
        return [b_ih.double() + b_hh.double()]
    return [b_ih[: 2 * H].double() + b_hh[: 2 * H].double(), b_ih[2 * H :], b_hh[2 * H :]]


@torch.no_grad()
def collect_ranges(model: SpeechRecognizer, batches) -> list[RangeStats]:
    """Run the float recurrence on ``batches`` (iterable of ``(features (B,T,F), lengths (B,))``)
    recording every tensor class; returns one :class:`RangeStats` per recurrent layer."""
    c = model.config
    inputs = (stack_frames(f, lengths.to(torch.int64), c.stack, c.stride) for f, lengths in batches)
    return collect_stack_ranges(model.rnn, inputs)


@torch.no_grad()
def collect_stack_ranges(rnn, inputs) -> list[RangeStats]:
    """Float recurrence of an emulator ``LSTM``/``GRU`` over ``inputs`` (iterable of
    ``(x (B, T, D), lengths (B,))``), recording every tensor class; one :class:`RangeStats` per layer."""
    stats = [RangeStats() for _ in range(rnn.num_layers)]
    for layer in range(rnn.num_layers):
        for d in range(rnn.num_directions):
            w_ih, w_hh, _, _ = rnn.params(layer, d)
            stats[layer].see("weight", w_ih)
            stats[layer].see("weight", w_hh)
            for b in _merged_biases(rnn, layer, d):
                stats[layer].see("bias", b)
    names = SimpleNamespace(**{c: c for c in CLASSES})
    n = 0
    for x, lengths in inputs:
        n += 1
        lens = check_lengths(x, lengths.to(torch.int64))
        B = x.shape[0]
        cur = x.transpose(0, 1)  # (T, B, D)
        for layer in range(rnn.num_layers):
            st = stats[layer]
            st.see("input", cur)

            def q(t, cls, st=st):
                if cls not in ("weight", "bias"):
                    st.see(cls, t)
                return t

            outs = []
            for d in range(rnn.num_directions):
                w_ih, w_hh, b_ih, b_hh = rnn.params(layer, d)
                xin = cur if d == 0 else reverse_within(cur, lens)
                h = x.new_zeros(B, rnn.hidden_size)
                c = x.new_zeros(B, rnn.hidden_size) if rnn.cell == "lstm" else None
                o, _, _ = _float_direction(rnn.cell, xin, lens, w_ih, w_hh, b_ih, b_hh, h, c, names, q)
                outs.append(o if d == 0 else reverse_within(o, lens))
            cur = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]
    if n == 0:
        raise ValueError("calibration: no batches")
    return stats


def formats_from_ranges(
    stats: list[RangeStats], bits: int = 16, margin: float = 0.0, base: DatapathConfig | None = None
) -> list[DatapathConfig]:
    """One :class:`DatapathConfig` per layer from the observed ranges (other fields from ``base``)."""
    base = base or DatapathConfig()
    out = []
    for layer, st in enumerate(stats):
        f = {c: best_format(st.max_abs[c], bits, margin) for c in ("weight", "bias", "input", "cell", "preact")}
        f["hidden"] = f["act"] = Fmt(bits, bits - 1)
        if layer > 0:  # the inputs are the previous layer's stored outputs: read them as they are
            f["input"] = out[-1].hidden
        acc_frac = f["weight"].frac + max(f["input"].frac, f["hidden"].frac)
        for c in ("bias", "preact"):
            if f[c].frac > acc_frac:
                f[c] = Fmt(bits, acc_frac)
        cfg = base.replace(**f)
        acc_top = 2.0 ** (cfg.acc_bits - 1 - cfg.acc_frac)
        if st.max_abs["preact"] * (1.0 + margin) > acc_top:
            raise ValueError(
                f"calibration: layer {layer} pre-activations reach {st.max_abs['preact']:.4g} but "
                f"the accumulator (acc_bits={cfg.acc_bits}, frac {cfg.acc_frac}) holds only "
                f"±{acc_top:.4g}; raise datapath.acc_bits"
            )
        out.append(cfg)
    return out


def calibrate(
    model: SpeechRecognizer, batches, bits: int = 16, margin: float = 0.0, base: DatapathConfig | None = None
) -> tuple[list[DatapathConfig], list[RangeStats]]:
    """PTQ: ranges from ``batches`` -> per-layer configs (checked against the layer sizes).
    The model is not modified; apply with ``model.set_datapath(cfgs)``."""
    was = model.training
    model.eval()
    try:
        stats = collect_ranges(model, batches)
    finally:
        model.train(was)
    cfgs = formats_from_ranges(stats, bits, margin, base)
    check_stack(model.rnn, cfgs)
    return cfgs, stats
