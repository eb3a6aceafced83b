"""Entry points: price a whole trace, or one analytic layer chunk with the same rules.

``estimate(trace, hw)`` merges the evaluation batches of each (layer, direction)
(:func:`.operating.merge_runs`: the evaluator's batch size changes no figure), plans where the
weights live at the table's operating point (:func:`.operating.plan_weights`), prices every layer
with the model of ``hw.kind`` and adds them up (layers and directions run one after the other).
``layer_chunk_cost`` builds the counts the emulator's datapath would emit for a dense chunk (every neuron computed) with
:func:`rnnaccel.emulator.datapath.step_counters` and prices them through the very same per-layer
function, so a batching simulator and a trace-based estimate agree by construction.
"""

from __future__ import annotations

from ..emulator.trace import LayerTrace, Trace
from .common import gates
from .epur import epur_layer, weight_capacity
from .operating import check_memo_buffer, layer_key, merge_runs, plan_weights, weight_footprints
from .pricing import price_book
from .report import CostReport, LayerCost
from .schema import HwConfig, load_hw
from .tpu import tpu_layer

__all__ = ["estimate", "estimate_layer", "layer_chunk_cost", "dense_layer_trace"]

_MODELS = {"epur": epur_layer, "tpu": tpu_layer}

HwLike = "HwConfig | str | Path | Mapping"


def estimate_layer(lt: LayerTrace, hw: HwLike, weights_resident: bool = False) -> tuple[LayerCost, list[str]]:
    """Cost of one LayerTrace and the counters no pricing rule consumed."""
    hw = load_hw(hw)
    return _MODELS[hw.kind](lt, hw, price_book(hw), weights_resident)


def operating_point(hw: HwConfig) -> dict:
    """The table's operating point: sequences at once, weight residency, MWL steps (E-PUR fields;
    a table without them runs one sequence at a time with automatic residency)."""
    a = hw.arch
    get = lambda name, default: default if getattr(a, name, None) is None else getattr(a, name)
    val = lambda p: p.value if hasattr(p, "value") else p
    return {
        "sequences_at_once": int(val(get("sequences_at_once", 1))),
        "weight_residency": str(val(get("weight_residency", "auto"))),
        "mwl_steps": int(val(get("mwl_steps", 1))),
    }


def estimate(trace: Trace, hw: HwLike) -> CostReport:
    """Time and energy of ``trace`` on ``hw`` (an :class:`HwConfig`, a packaged name or a path)."""
    hw = load_hw(hw)
    if not isinstance(trace, Trace):
        raise TypeError(f"estimate needs a Trace, got {type(trace).__name__}")
    book, model = price_book(hw), _MODELS[hw.kind]
    layers = merge_runs(trace)
    op = operating_point(hw)
    if any("memo.computed" in lt.counters for lt in layers):
        op.update(
            check_memo_buffer(
                layers, op["sequences_at_once"], hw.bnn.memo_buffer.capacity.si, hw.bnn.memo_entry_bits.value
            )
        )
    plans = [None] * len(layers)
    if hw.kind == "epur" and layers:
        cap = min(weight_capacity(hw, lt.cell) for lt in layers)
        feet = weight_footprints(trace)
        plans = plan_weights(
            layers,
            [feet[layer_key(lt)] for lt in layers],
            op["weight_residency"],
            cap,
            op["sequences_at_once"],
            op["mwl_steps"],
        )
    costs, unpriced = [], set()
    for lt, plan in zip(layers, plans):
        cost, left = model(lt, hw, book, False, plan) if plan is not None else model(lt, hw, book, False)
        costs.append(cost)
        unpriced.update(left)
    return CostReport(hw.name, hw.kind, costs, sorted(unpriced), op)


def dense_layer_trace(
    cell: str,
    input_size: int,
    hidden_size: int,
    batch: int,
    steps: int,
    datapath=None,
    layer: int = 0,
    direction: int = 0,
    proj_size: int = 0,
) -> LayerTrace:
    """The LayerTrace the emulator's datapath would record for ``steps`` steps of ``batch`` running
    sequences with every neuron computed (no technique). ``datapath``: a
    :class:`~rnnaccel.emulator.config.DatapathConfig` (default: the 16-bit default). ``cell``: any
    cell the datapath runs (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``); ``proj_size``: an LSTM's
    projection size (0: none)."""
    from ..emulator.config import DatapathConfig
    from ..emulator.datapath import step_counters

    for name, v, lo in (
        ("input_size", input_size, 1),
        ("hidden_size", hidden_size, 1),
        ("batch", batch, 0),
        ("steps", steps, 0),
        ("proj_size", proj_size, 0),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"layer_chunk_cost: {name} must be an int >= {lo}, got {v!r}")
    cfg = datapath if datapath is not None else DatapathConfig()
    lt = LayerTrace(layer, direction, cell, input_size, hidden_size, steps, cfg.weight.bits, cfg.act.bits)
    if proj_size and cell != "lstm":
        raise ValueError(f"layer_chunk_cost: proj_size={proj_size} needs an lstm cell, got {cell!r}")
    gates(cell)  # an unknown cell: the cost model's one line
    for k, v in step_counters(cell, cfg, input_size, hidden_size, [batch] * steps, proj=proj_size).items():
        lt.add(k, v)
    return lt


def layer_chunk_cost(
    hw: HwLike,
    cell: str,
    input_size: int,
    hidden_size: int,
    batch: int,
    steps: int,
    weights_resident: bool = False,
    datapath=None,
    proj_size: int = 0,
) -> LayerCost:
    """Time and energy to run one layer (one direction) for ``steps`` steps on ``batch`` lanes.

    ``weights_resident``: the layer's weights are already in the on-chip weight buffers (E-PUR: no
    DRAM fetch if they fit; ignored when they do not fit, and on the TPU, whose weights always
    stream from DRAM). Static energy for the chunk's time is included. ``proj_size``: an LSTM's
    projection size (0: none).
    """
    hw = load_hw(hw)
    lt = dense_layer_trace(cell, input_size, hidden_size, batch, steps, datapath, proj_size=proj_size)
    return _MODELS[hw.kind](lt, hw, price_book(hw), weights_resident)[0]
