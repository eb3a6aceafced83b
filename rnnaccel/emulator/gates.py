"""The one definition of each cell's gates: names, order and activation functions.

PyTorch stores an LSTM's gate rows as ``[i, f, g, o]`` and a GRU's as ``[r, z, n]``. The datapath
permutes the LSTM's rows once, when weights are loaded, to ``[i, f, o, g]`` so the sigmoid gates
come first (one contiguous activation-unit pass); the GRU keeps PyTorch's order. An Elman RNN
(``rnn_tanh``/``rnn_relu``, PyTorch's ``RNN_TANH``/``RNN_RELU``) has one gate ``h`` and no
sigmoid. Everything that
needs a gate count, a gate's columns or which gates are sigmoid gates reads it from here.
"""

from __future__ import annotations

__all__ = ["TORCH_ORDER", "DATAPATH_ORDER", "SIGMOID_GATES", "GATES"]

#: gate names in PyTorch's row order (per-gate settings are named by these)
TORCH_ORDER = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn_tanh": ("h",), "rnn_relu": ("h",)}
#: gate names in the datapath's row order
DATAPATH_ORDER = {"lstm": ("i", "f", "o", "g"), "gru": ("r", "z", "n"), "rnn_tanh": ("h",), "rnn_relu": ("h",)}
#: the first SIGMOID_GATES[cell] datapath gates go through the sigmoid, the rest through tanh
SIGMOID_GATES = {"lstm": 3, "gru": 2, "rnn_tanh": 0, "rnn_relu": 0}
#: gates per cell (rows of the weight matrices = GATES[cell] * hidden_size)
GATES = {cell: len(names) for cell, names in TORCH_ORDER.items()}
