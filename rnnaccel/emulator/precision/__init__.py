"""Per-time-step dynamic precision driven by the LSTM cell state (HiPC'20 idea; docs/precision.md).

Turn it on for a module (emulate mode)::

    from rnnaccel.emulator.precision import PrecisionConfig, precision_factory, precision_stats
    fac = precision_factory(PrecisionConfig(mode="dynamic", ladder=[16, 8, 4], metric="fraction",
                                            tau=0.05, thresholds=[0.2, 0.05]))
    model.units = [fac]                 # or precision_factory("dynamic") (rnnaccel/conf/precision)
    tr = Trace(); model.emulate(x, lengths, trace=tr)
    precision_stats(tr)                 # {"L0.d0": {16: 0.1, 8: 0.2, 4: 0.7}, ..., "all": {...}}
"""

from .config import (
    METRICS,
    MODES,
    LayerPrecision,
    PrecisionConfig,
    available_precision,
    int_thresholds,
    load_precision,
    register_configs,
)
from .stats import format_stats, fraction_at_lowest, precision_stats
from .unit import PrecisionFactory, PrecisionUnit, precision_factory

__all__ = [
    "PrecisionConfig",
    "LayerPrecision",
    "MODES",
    "METRICS",
    "register_configs",
    "load_precision",
    "available_precision",
    "int_thresholds",
    "PrecisionUnit",
    "PrecisionFactory",
    "precision_factory",
    "precision_stats",
    "fraction_at_lowest",
    "format_stats",
]
