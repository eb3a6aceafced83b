"""The bit-exact RNN accelerator emulator: formats, datapath, activation unit, trace.

Public API::

    from rnnaccel.emulator import LSTM, GRU, DatapathConfig, Fmt, Rounding, Trace
"""

from .config import DatapathConfig, per_layer_configs
from .formats import Fmt, Rounding, dequantize, quantize
from .layers import GRU, LSTM, MODES, RecurrentStack, fake_quant
from .trace import LayerTrace, Trace

__all__ = [
    "DatapathConfig",
    "per_layer_configs",
    "Fmt",
    "Rounding",
    "quantize",
    "dequantize",
    "LSTM",
    "GRU",
    "RecurrentStack",
    "MODES",
    "fake_quant",
    "Trace",
    "LayerTrace",
]
