"""Entry points: price a whole trace, or one analytic layer chunk with the same rules.

``estimate(trace, hw)`` prices every LayerTrace with the model of ``hw.kind`` and adds them up
(layers and directions run one after the other). ``layer_chunk_cost`` builds the counts the
emulator's datapath would emit for a dense chunk (every neuron computed) with
:func:`rnnaccel.emulator.datapath.step_counters` and prices them through the very same per-layer
function, so a batching simulator and a trace-based estimate agree by construction.
"""
from __future__ import annotations

from ..emulator.trace import LayerTrace, Trace
from .epur import epur_layer
from .pricing import PriceBook
from .report import CostReport, LayerCost
from .schema import load_hw
from .tpu import tpu_layer

__all__ = ["estimate", "estimate_layer", "layer_chunk_cost", "dense_layer_trace"]

_MODELS = {"epur": epur_layer, "tpu": tpu_layer}

HwLike = "HwConfig | str | Path | Mapping"


def estimate_layer(lt: LayerTrace, hw: HwLike, weights_resident: bool = False) -> tuple[LayerCost, list[str]]:
    """Cost of one LayerTrace and the counters no pricing rule consumed."""
    hw = load_hw(hw)
    return _MODELS[hw.kind](lt, hw, PriceBook(hw), weights_resident)


def estimate(trace: Trace, hw: HwLike) -> CostReport:
    """Time and energy of ``trace`` on ``hw`` (an :class:`HwConfig`, a packaged name or a path)."""
    hw = load_hw(hw)
    if not isinstance(trace, Trace):
        raise TypeError(f"estimate needs a Trace, got {type(trace).__name__}")
    book, model = PriceBook(hw), _MODELS[hw.kind]
    layers, unpriced = [], set()
    for lt in trace:
        cost, left = model(lt, hw, book, False)
        layers.append(cost)
        unpriced.update(left)
    return CostReport(hw.name, hw.kind, layers, sorted(unpriced))


def dense_layer_trace(cell: str, input_size: int, hidden_size: int, batch: int, steps: int,
                      datapath=None, layer: int = 0, direction: int = 0) -> LayerTrace:
    """The LayerTrace the emulator's datapath would record for ``steps`` steps of ``batch`` running
    sequences with every neuron computed (no technique). ``datapath``: a
    :class:`~rnnaccel.emulator.config.DatapathConfig` (default: the 16-bit default)."""
    from ..emulator.config import DatapathConfig
    from ..emulator.datapath import step_counters

    for name, v, lo in (("input_size", input_size, 1), ("hidden_size", hidden_size, 1),
                        ("batch", batch, 0), ("steps", steps, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"layer_chunk_cost: {name} must be an int >= {lo}, got {v!r}")
    cfg = datapath if datapath is not None else DatapathConfig()
    lt = LayerTrace(layer, direction, cell, input_size, hidden_size, steps, cfg.weight.bits, cfg.act.bits)
    for k, v in step_counters(cell, cfg, input_size, hidden_size, [batch] * steps).items():
        lt.add(k, v)
    return lt


def layer_chunk_cost(hw: HwLike, cell: str, input_size: int, hidden_size: int, batch: int, steps: int,
                     weights_resident: bool = False, datapath=None) -> LayerCost:
    """Time and energy to run one layer (one direction) for ``steps`` steps on ``batch`` lanes.

    ``weights_resident``: the layer's weights are already in the on-chip weight buffers (E-PUR: no
    DRAM fetch if they fit; ignored when they do not fit, and on the TPU, whose weights always
    stream from DRAM). Static energy for the chunk's time is included.
    """
    hw = load_hw(hw)
    lt = dense_layer_trace(cell, input_size, hidden_size, batch, steps, datapath)
    return _MODELS[hw.kind](lt, hw, PriceBook(hw), weights_resident)[0]
