"""Hardware cost model: action counts (a :class:`~rnnaccel.emulator.trace.Trace`) times named,
sourced prices (``rnnaccel/conf/hw/*.yaml``) -> cycles, seconds and energy by component.

Counting stays separate from pricing: the emulator only emits counts; every joule of a report is
traced to a count times a named price (``CostReport.provenance``). See docs/cost_model.md.

>>> hw = load_hw("epur")                                  # or "tpu", or a YAML path
>>> rep = estimate(trace, hw)                             # doctest: +SKIP
>>> rep.cycles, rep.seconds, rep.energy_j["dram"]         # doctest: +SKIP
>>> compare(base_rep, tech_rep)["speedup"]                # doctest: +SKIP
"""

from .estimate import dense_layer_trace, estimate, estimate_layer, layer_chunk_cost
from .plot import plot_breakdown
from .pricing import PriceBook, Rate, price_book
from .report import COMPONENTS, CostReport, LayerCost, compare
from .schema import HwConfig, available_hw, load_hw
from .tpu import hr_tiles, tpu_passes, tpu_tiles

__all__ = [
    "load_hw",
    "available_hw",
    "HwConfig",
    "estimate",
    "estimate_layer",
    "compare",
    "plot_breakdown",
    "layer_chunk_cost",
    "dense_layer_trace",
    "CostReport",
    "LayerCost",
    "COMPONENTS",
    "PriceBook",
    "price_book",
    "Rate",
    "hr_tiles",
    "tpu_passes",
    "tpu_tiles",
]
