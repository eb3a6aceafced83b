"""The bit-exact RNN accelerator emulator: formats, datapath, activation unit, trace.

Public API::

    from rnnaccel.emulator import LSTM, GRU, RNN, LSTMCell, GRUCell, RNNCell, DatapathConfig, Fmt, Rounding, Trace
    from rnnaccel.emulator import convert, calibrate, session, set_mode

The modules are drop-in replacements for their ``torch.nn`` counterparts (same constructor,
parameters, ``forward`` and return values) with the emulator's options as keywords.
"""

from .config import DatapathConfig, per_layer_configs
from .formats import Fmt, Rounding, dequantize, quantize
from .layers import GRU, LSTM, MODES, RNN, GRUCell, LSTMCell, RecurrentStack, RNNCell, fake_quant
from .trace import LayerTrace, Trace
from .convert import convert, recurrent_modules, set_mode
from .calibrate import CalibrationReport, calibrate
from .session import Session, session

__all__ = [
    "DatapathConfig",
    "per_layer_configs",
    "Fmt",
    "Rounding",
    "quantize",
    "dequantize",
    "LSTM",
    "GRU",
    "RNN",
    "LSTMCell",
    "GRUCell",
    "RNNCell",
    "RecurrentStack",
    "MODES",
    "fake_quant",
    "Trace",
    "LayerTrace",
    "convert",
    "set_mode",
    "recurrent_modules",
    "calibrate",
    "CalibrationReport",
    "session",
    "Session",
]
