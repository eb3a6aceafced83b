"""Neuron-level fuzzy memoization predicted by a binarized network (LSTM and GRU).

Turn it on for an emulated module (emulate mode)::

    from rnnaccel.emulator.memo import MemoConfig, memo_factory, memo_stats
    model.units = [memo_factory(MemoConfig(predictor="bnn", theta=0.2))]   # or memo_factory("bnn")
    out, _ = model(x, lengths, trace=(tr := Trace()))
    memo_stats(tr)        # reused fraction, skipped MACs and weight bytes per layer

Predictors: ``bnn`` (the technique), ``oracle`` (true output change, an upper bound), ``delta``
(DeltaRNN-style input change). ``docs/memoization.md`` states the mechanism and every option.
"""

from .config import CACHES, GATE_NAMES, PREDICTORS, RULES, MemoConfig, available_memo, load_memo
from .rule import bnn_dot, decide, sign_pm1
from .stats import memo_stats
from .unit import COUNTERS, MemoFactory, MemoUnit, memo_factory

__all__ = [
    "MemoConfig",
    "load_memo",
    "available_memo",
    "memo_factory",
    "MemoFactory",
    "MemoUnit",
    "memo_stats",
    "COUNTERS",
    "PREDICTORS",
    "RULES",
    "CACHES",
    "GATE_NAMES",
    "bnn_dot",
    "decide",
    "sign_pm1",
]
