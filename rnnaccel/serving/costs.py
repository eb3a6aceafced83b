"""Time and energy of the work the simulator issues, priced by the cost model.

Every charge goes through :func:`rnnaccel.hardware.layer_chunk_cost` (one layer, one
direction, ``batch`` rows for ``steps`` steps), so the simulator and a trace-based estimate of the
same work agree. Results are cached by ``(layer input width, batch, steps, resident)``.

Weight residency: the accelerator's weight buffers hold the weights of one (layer, direction), the
last one run (the E-PUR schedule). A layer chunk is charged with ``weights_resident=True`` only if
the previous chunk the accelerator ran was the same (layer, direction); every switch refetches the
weights from DRAM. (The TPU model ignores residency: its weights always stream.)
"""

from __future__ import annotations

import numpy as np

from ..hardware import COMPONENTS, layer_chunk_cost, load_hw
from .config import NetworkConfig

__all__ = ["ChunkCoster", "COMPONENTS"]


class ChunkCoster:
    """Prices network work on one accelerator and tracks which weights are resident.

    ``energy`` vectors are (len(COMPONENTS),) joules in :data:`COMPONENTS` order; seconds are
    accelerator busy time. ``calls`` counts cost-model evaluations (cache misses).
    """

    def __init__(self, hw, network: NetworkConfig, datapath=None):
        network.validate()
        self.hw = load_hw(hw)
        self.net = network
        self.datapath = datapath
        self.dirs = 2 if network.bidirectional else 1
        self.inputs = network.layer_inputs()
        self.resident: tuple[int, int] | None = None  # (layer, direction) in the weight buffers
        self._layer: dict[tuple, tuple[float, np.ndarray]] = {}
        self._chunk: dict[tuple, tuple] = {}  # -> (seconds, energy, resident after, weight loads)
        self.calls = 0
        self.weight_loads = 0  # layer chunks charged with a weight fetch

    # ------------------------------------------------------------------ one layer chunk
    def layer_cost(self, d_in: int, batch: int, steps: int, resident: bool) -> tuple[float, np.ndarray]:
        """``(seconds, energy (7,))`` of one layer direction: ``batch`` rows x ``steps`` steps."""
        key = (d_in, batch, steps, resident)
        hit = self._layer.get(key)
        if hit is None:
            c = layer_chunk_cost(
                self.hw,
                self.net.cell,
                d_in,
                self.net.hidden_size,
                batch,
                steps,
                weights_resident=resident,
                datapath=self.datapath,
            )
            e = c.energy_j
            hit = (float(c.seconds), np.array([e[k] for k in COMPONENTS], dtype=np.float64))
            self._layer[key] = hit
            self.calls += 1
        return hit

    def _run_layer(self, layer: int, d: int, batch: int, steps: int) -> tuple[float, np.ndarray]:
        res = self.resident == (layer, d)
        self.resident = (layer, d)
        if not res:
            self.weight_loads += 1
        return self.layer_cost(self.inputs[layer], batch, steps, res)

    # ------------------------------------------------------------------ whole network
    def network_chunk(self, batch: int, steps: int) -> tuple[float, np.ndarray]:
        """Every layer (and direction) in turn for ``steps`` steps of ``batch`` rows (layer-major,
        the MWL schedule): layer l runs all ``steps`` before layer l+1 starts."""
        key = (batch, steps, self.resident)
        hit = self._chunk.get(key)
        if hit is not None:
            self.resident = hit[2]
            self.weight_loads += hit[3]
            return hit[0], hit[1]
        sec, en, loads0 = 0.0, np.zeros(len(COMPONENTS)), self.weight_loads
        for layer in range(self.net.num_layers):
            for d in range(self.dirs):
                s, e = self._run_layer(layer, d, batch, steps)
                sec += s
                en = en + e
        self._chunk[key] = (sec, en, self.resident, self.weight_loads - loads0)
        return sec, en

    def sweep(self, batch: int) -> tuple[float, np.ndarray]:
        """One cellular-batching round: one step of every layer for ``batch`` rows (unidirectional)."""
        return self.network_chunk(batch, 1)

    def sweep_seconds(self, batch: int) -> float:
        """Steady-state seconds of one round (no state change): weights stay resident only in a
        one-layer unidirectional network."""
        res = self.net.num_layers == 1 and self.dirs == 1
        return sum(self.layer_cost(d, batch, 1, res)[0] for d in self.inputs)

    def sweeps(self, batch: int, k: int) -> tuple[float, np.ndarray]:
        """``k`` consecutive rounds at the same batch: the first may find other weights resident,
        the rest repeat the steady state (the last layer's weights are then resident)."""
        s1, e1 = self.sweep(batch)
        if k == 1:
            return s1, e1
        loads = self.weight_loads
        s2, e2 = self.sweep(batch)
        self.weight_loads += (self.weight_loads - loads) * (k - 2)
        return s1 + (k - 1) * s2, e1 + (k - 1) * e2

    def alone_seconds(self, length: int) -> float:
        """Busy time of one sequence run alone, whole sequence per layer (no residency)."""
        return sum(
            self.layer_cost(self.inputs[l], 1, length, False)[0]
            for l in range(self.net.num_layers)
            for _ in range(self.dirs)
        )
