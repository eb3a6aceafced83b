"""Time and energy of the work the simulator issues, priced by the cost model.

Every charge goes through the per-layer pricing of :mod:`rnnaccel.hardware` (one layer, one
direction, ``batch`` rows for ``steps`` steps): the counts are the datapath's own
(:func:`rnnaccel.hardware.dense_layer_trace`, every neuron computed) or, with a
:class:`~.techniques.TechniqueProfile`, those of an evaluation trace with its techniques on,
scaled to the chunk. So the simulator and a trace-based estimate of the same work agree.
Results are cached by ``(layer shape, batch, steps, resident)``.

Weight residency follows the hardware model's rule (:func:`rnnaccel.hardware.operating.plan_weights`
at the table's ``weight_residency``, ``auto`` by default), decided once per network:

* ``network`` — every layer's weights fit the weight buffers together: once fetched, a layer stays
  resident for the rest of the run (whatever ran in between);
* ``layer`` — a layer fits but the network does not: the buffers hold the (layer, direction) run
  last; every switch refetches;
* ``stream`` — the layer does not fit: its rows stream from DRAM at every chunk (and evict
  whatever was resident).

The TPU model has no weight buffer (weights always stream through the weight FIFO): every layer
is ``stream`` there.
"""

from __future__ import annotations

import numpy as np

from ..hardware import COMPONENTS, dense_layer_trace, estimate_layer, load_hw
from ..hardware.epur import weight_capacity
from ..hardware.estimate import operating_point
from ..hardware.operating import plan_weights
from .config import NetworkConfig

__all__ = ["ChunkCoster", "COMPONENTS", "residency_plan"]


def residency_plan(hw, network: NetworkConfig, datapath=None) -> list[str]:
    """Residency of each layer (``network`` / ``layer`` / ``stream``) under the table's operating
    point; a forced residency the weights do not fit is refused (:class:`CapacityError`)."""
    hw = load_hw(hw)
    if hw.kind != "epur":
        return ["stream"] * network.num_layers
    dirs = 2 if network.bidirectional else 1
    lts = [
        dense_layer_trace(network.cell, d, network.hidden_size, 1, 1, datapath, layer=l, direction=k)
        for l, d in enumerate(network.layer_inputs())
        for k in range(dirs)
    ]
    feet = [float(lt.get("weight_bytes")[0]) for lt in lts]
    op = operating_point(hw)
    plans = plan_weights(lts, feet, op["weight_residency"], weight_capacity(hw, network.cell), 1, op["mwl_steps"])
    return [p.residency for p in plans[::dirs]]


class ChunkCoster:
    """Prices network work on one accelerator and tracks which weights are resident.

    ``energy`` vectors are (len(COMPONENTS),) joules in :data:`COMPONENTS` order; seconds are
    accelerator busy time. ``calls`` counts cost-model evaluations (cache misses).
    ``techniques``: a :class:`~.techniques.TechniqueProfile` whose per-row rates replace the dense
    counts (memoization, dynamic precision measured on an evaluation); ``None``: dense.
    """

    def __init__(self, hw, network: NetworkConfig, datapath=None, techniques=None):
        network.validate()
        self.hw = load_hw(hw)
        self.net = network
        self.datapath = datapath
        self.techniques = techniques
        if techniques is not None:
            techniques.check(network)
        self.dirs = 2 if network.bidirectional else 1
        self.inputs = network.layer_inputs()
        self.modes = residency_plan(self.hw, network, datapath)
        self.loaded: frozenset = frozenset()  # (layer, direction)s in the weight buffers
        self._layer: dict[tuple, tuple[float, np.ndarray]] = {}
        self._chunk: dict[tuple, tuple] = {}  # -> (seconds, energy, loaded after, weight loads)
        self.calls = 0
        self.weight_loads = 0  # layer chunks charged with a weight fetch (streamed chunks included)

    def reset(self) -> None:
        """Empty weight buffers (a run starts with nothing on chip)."""
        self.loaded = frozenset()

    # ------------------------------------------------------------------ one layer chunk
    def layer_cost(
        self, layer: int, direction: int, batch: int, steps: int, resident: bool
    ) -> tuple[float, np.ndarray]:
        """``(seconds, energy (7,))`` of one layer direction: ``batch`` rows x ``steps`` steps."""
        shape = self.inputs[layer] if self.techniques is None else (layer, direction)
        key = (shape, batch, steps, resident)
        hit = self._layer.get(key)
        if hit is None:
            lt = self._chunk_trace(layer, direction, batch, steps)
            c = estimate_layer(lt, self.hw, weights_resident=resident)[0]
            e = c.energy_j
            hit = (float(c.seconds), np.array([e[k] for k in COMPONENTS], dtype=np.float64))
            self._layer[key] = hit
            self.calls += 1
        return hit

    def _chunk_trace(self, layer: int, direction: int, batch: int, steps: int):
        if self.techniques is not None:
            return self.techniques.chunk_trace(layer, direction, batch, steps)
        return dense_layer_trace(self.net.cell, self.inputs[layer], self.net.hidden_size, batch, steps, self.datapath)

    def _pass(self, loaded: frozenset) -> tuple[list[bool], frozenset]:
        """Whether each (layer, direction) of one layer-major pass finds its weights resident,
        starting from ``loaded``, and what is loaded after the pass."""
        flags = []
        for layer in range(self.net.num_layers):
            mode = self.modes[layer]
            for d in range(self.dirs):
                ld = (layer, d)
                flags.append(mode != "stream" and ld in loaded)
                if mode == "network":
                    loaded = loaded | {ld}
                elif mode == "layer":
                    loaded = frozenset({ld})
                else:  # streamed rows pass through the buffers
                    loaded = frozenset()
        return flags, loaded

    # ------------------------------------------------------------------ whole network
    def network_chunk(self, batch: int, steps: int) -> tuple[float, np.ndarray]:
        """Every layer (and direction) in turn for ``steps`` steps of ``batch`` rows (layer-major,
        the MWL schedule): layer l runs all ``steps`` before layer l+1 starts."""
        key = (batch, steps, self.loaded)
        hit = self._chunk.get(key)
        if hit is None:
            flags, after = self._pass(self.loaded)
            sec, en = 0.0, np.zeros(len(COMPONENTS))
            pairs = [(layer, d) for layer in range(self.net.num_layers) for d in range(self.dirs)]
            for (layer, d), res in zip(pairs, flags):
                s, e = self.layer_cost(layer, d, batch, steps, res)
                sec, en = sec + s, en + e
            hit = (sec, en, after, flags.count(False))
            self._chunk[key] = hit
        self.loaded = hit[2]
        self.weight_loads += hit[3]
        return hit[0], hit[1]

    def sweep(self, batch: int) -> tuple[float, np.ndarray]:
        """One cellular-batching round: one step of every layer for ``batch`` rows (unidirectional)."""
        return self.network_chunk(batch, 1)

    def sweep_seconds(self, batch: int) -> float:
        """Steady-state seconds of one round (weights as a long run of rounds leaves them)."""
        flags, _ = self._pass(self._pass(frozenset())[1])
        pairs = [(layer, d) for layer in range(self.net.num_layers) for d in range(self.dirs)]
        return sum(self.layer_cost(layer, d, batch, 1, res)[0] for (layer, d), res in zip(pairs, flags))

    def sweeps(self, batch: int, k: int) -> tuple[float, np.ndarray]:
        """``k`` consecutive rounds at the same batch: the first may find other weights resident,
        the rest repeat the steady state."""
        s1, e1 = self.sweep(batch)
        if k == 1:
            return s1, e1
        loads = self.weight_loads
        s2, e2 = self.sweep(batch)
        self.weight_loads += (self.weight_loads - loads) * (k - 2)
        return s1 + (k - 1) * s2, e1 + (k - 1) * e2

    def alone_seconds(self, length: int) -> float:
        """Busy time of one sequence run alone, whole sequence per layer, from empty buffers."""
        flags, _ = self._pass(frozenset())
        pairs = [(layer, d) for layer in range(self.net.num_layers) for d in range(self.dirs)]
        return sum(self.layer_cost(layer, d, 1, length, res)[0] for (layer, d), res in zip(pairs, flags))
