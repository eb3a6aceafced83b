"""Post-training quantization of the shipped models: a call of :func:`rnnaccel.emulator.calibrate`.

The speech model's recurrent stack runs in float on the calibration batches (frames stacked as the
model does) while the emulator records, per layer, the largest magnitude of every tensor class the
datapath stores (see :mod:`rnnaccel.emulator.calibrate` for the classes). By default the shipped
models keep the *covering* policy: for each class the format with ``bits`` bits and the most
fractional bits whose largest value covers ``max|v| * (1 + margin)`` (:func:`best_format`),
``hidden`` and ``act`` at ``Q<bits>.<bits-1>``, layers after the first reading the previous layer's
hidden format, ``bias.frac``/``preact.frac`` lowered to the accumulator fraction, the accumulator
(``acc_bits`` wide) required to hold the observed pre-activations, and the activation tables of
``base``. ``calibrate(..., search=True, tables=True)`` asks the emulator for error-minimising
formats and table resolutions instead (slower; results differ from the stored checkpoints').
"""

from __future__ import annotations

import torch

from ..emulator import DatapathConfig
from ..emulator.calibrate import (
    RangeStats,
    best_format,
    check_accumulator,
    cover_formats,
    observe,
)
from ..emulator.calibrate import calibrate as calibrate_modules
from .speech import SpeechRecognizer, stack_frames

__all__ = ["RangeStats", "best_format", "collect_ranges", "collect_stack_ranges", "formats_from_ranges", "calibrate"]


def _speech_forward(model: SpeechRecognizer, batch) -> None:
    """One calibration pass: ``batch`` = ``(features (B,T,F), lengths (B,))`` through frame stacking
    and the recurrent stack (the head does not matter to the datapath)."""
    features, lengths = batch
    c = model.config
    x, n = stack_frames(features, lengths.to(torch.int64), c.stack, c.stride)
    _run_stack(model.rnn, (x, n))


def _run_stack(rnn, batch) -> None:
    """``batch`` = ``(x (B, T, D) batch-first, lengths (B,))`` through an emulator stack of either layout."""
    x, lengths = batch
    rnn(x if rnn.batch_first else x.transpose(0, 1), lengths=lengths.to(torch.int64))


def collect_ranges(model: SpeechRecognizer, batches) -> list[RangeStats]:
    """Float passes of the speech model's stack over ``batches`` (iterable of ``(features (B,T,F),
    lengths (B,))``); one :class:`RangeStats` per recurrent layer."""
    return observe(model, batches, _speech_forward, [("rnn", model.rnn)], keep_calls=False).stats["rnn"]


def collect_stack_ranges(rnn, inputs) -> list[RangeStats]:
    """Float passes of an emulator ``LSTM``/``GRU`` over ``inputs`` (iterable of batch-first
    ``(x (B, T, D), lengths (B,))``); one :class:`RangeStats` per layer."""
    return observe(rnn, inputs, _run_stack, [("", rnn)], keep_calls=False).stats[""]


def formats_from_ranges(
    stats: list[RangeStats], bits: int = 16, margin: float = 0.0, base: DatapathConfig | None = None
) -> list[DatapathConfig]:
    """One covering :class:`DatapathConfig` per layer from the observed ranges (other fields from
    ``base``); refused (ValueError naming ``acc_bits``) when the accumulator cannot hold the
    observed pre-activations."""
    base = base or DatapathConfig()
    fmts = cover_formats(stats, bits, margin, base)
    check_accumulator("", fmts, base, stats, margin)
    return [base.replace(**f) for f in fmts]


def calibrate(
    model: SpeechRecognizer,
    batches,
    bits: int = 16,
    margin: float = 0.0,
    base: DatapathConfig | None = None,
    *,
    search: bool = False,
    tables: bool = False,
) -> tuple[list[DatapathConfig], list[RangeStats]]:
    """PTQ of the speech model: ranges from ``batches`` -> per-layer configs (checked against the
    layer sizes). The model is not modified; apply with ``model.set_datapath(cfgs)``. ``search`` /
    ``tables``: the emulator's error-minimising format search and table resolution (off: the
    covering formats and ``base``'s tables, as the stored checkpoints were calibrated)."""
    report = calibrate_modules(
        model,
        batches,
        _speech_forward,
        bits,
        base=base,
        margin=margin,
        search=search,
        tables=tables,
        measure="emulate" if search else None,
        apply=False,
        modules=[("rnn", model.rnn)],
        keep_calls=search,
    )
    return report.configs("rnn"), report.ranges("rnn")
