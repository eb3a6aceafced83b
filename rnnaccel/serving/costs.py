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

from ..emulator.trace import LayerTrace
from ..hardware import COMPONENTS, dense_layer_trace, estimate_layer, load_hw
from ..hardware.epur import weight_capacity
from ..hardware.estimate import operating_point
from ..hardware.operating import plan_weights
from .config import NetworkConfig

__all__ = ["ChunkCoster", "COMPONENTS", "residency_plan", "active_profile", "profile_trace", "dense_profile"]


def active_profile(batch: int, steps: int, fills=None) -> np.ndarray:
    """Rows computed at each step of a chunk: ``batch`` at every step, or, given the busy steps of
    each lane (``fills``), the lanes still busy at step t (a lane whose work ended is not computed)."""
    if fills is None:
        return np.full(steps, batch, dtype=np.int64)
    f = np.asarray(fills, dtype=np.int64)
    return (f[None, :] > np.arange(steps)[:, None]).sum(axis=1)


def dense_profile(network: NetworkConfig, datapath=None):
    """The dense network as per-row rates (:class:`~.techniques.TechniqueProfile` of a one-row,
    one-step trace of every layer direction): a dense chunk's counters are linear in its rows,
    except the weight bytes a step reads once for all of them (equal to :func:`profile_trace`,
    tested), and far cheaper to build for many chunk shapes."""
    from ..emulator.trace import Trace
    from .techniques import TechniqueProfile

    dirs = 2 if network.bidirectional else 1
    lts = [
        dense_layer_trace(network.cell, d, network.hidden_size, 1, 1, datapath, layer=i, direction=k)
        for i, d in enumerate(network.layer_inputs())
        for k in range(dirs)
    ]
    return TechniqueProfile.from_trace(Trace(lts), label="dense")


def profile_trace(cell: str, input_size: int, hidden_size: int, active, datapath=None) -> LayerTrace:
    """The dense LayerTrace (every neuron computed) of one layer direction running ``active[t]``
    rows at step t: the datapath's own ``step_counters``, as :func:`rnnaccel.hardware.dense_layer_trace`."""
    from ..emulator.config import DatapathConfig
    from ..emulator.datapath import step_counters

    cfg = datapath if datapath is not None else DatapathConfig()
    active = [int(a) for a in active]
    lt = LayerTrace(0, 0, cell, input_size, hidden_size, len(active), cfg.weight.bits, cfg.act.bits)
    for k, v in step_counters(cell, cfg, input_size, hidden_size, active).items():
        lt.add(k, v)
    return lt


def residency_plan(hw, network: NetworkConfig, datapath=None) -> list[str]:
    """Residency of each layer (``network`` / ``layer`` / ``stream``) under the table's operating
    point; a forced residency the weights do not fit is refused (:class:`CapacityError`)."""
    hw = load_hw(hw)
    if hw.kind != "epur":
        return ["stream"] * network.num_layers
    dirs = 2 if network.bidirectional else 1
    lts = [
        dense_layer_trace(network.cell, d, network.hidden_size, 1, 1, datapath, layer=i, direction=k)
        for i, d in enumerate(network.layer_inputs())
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
        self.rates = techniques if techniques is not None else dense_profile(network, datapath)
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
        self, layer: int, direction: int, batch: int, steps: int, resident: bool, fills: tuple | None = None
    ) -> tuple[float, np.ndarray]:
        """``(seconds, energy (7,))`` of one layer direction: ``batch`` rows x ``steps`` steps
        (``fills``: busy steps per lane, finished lanes not computed; see :func:`active_profile`)."""
        shape = self.inputs[layer] if self.techniques is None else (layer, direction)
        key = (shape, batch, steps, resident, fills)
        hit = self._layer.get(key)
        if hit is None:
            lt = self._chunk_trace(layer, direction, active_profile(batch, steps, fills))
            c = estimate_layer(lt, self.hw, weights_resident=resident)[0]
            e = c.energy_j
            hit = (float(c.seconds), np.array([e[k] for k in COMPONENTS], dtype=np.float64))
            self._layer[key] = hit
            self.calls += 1
        return hit

    def _chunk_trace(self, layer: int, direction: int, active: np.ndarray):
        """Counts of a chunk: per-row rates (dense, or an evaluation's) times the rows of each step."""
        return self.rates.chunk_trace(layer, direction, active)

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
    def network_chunk(self, batch: int, steps: int, fills=None) -> tuple[float, np.ndarray]:
        """Every layer (and direction) in turn for ``steps`` steps of ``batch`` rows (layer-major,
        the MWL schedule): layer l runs all ``steps`` before layer l+1 starts. ``fills``: the busy
        steps of each of the ``batch`` lanes; a lane is not computed after its work ends (None:
        every row computes every step, padding included)."""
        fills = _lane_key(batch, steps, fills)
        key = (batch, steps, self.loaded, fills)
        hit = self._chunk.get(key)
        if hit is None:
            flags, after = self._pass(self.loaded)
            sec, en = 0.0, np.zeros(len(COMPONENTS))
            pairs = [(layer, d) for layer in range(self.net.num_layers) for d in range(self.dirs)]
            for (layer, d), res in zip(pairs, flags):
                s, e = self.layer_cost(layer, d, batch, steps, res, fills)
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


def _lane_key(batch: int, steps: int, fills) -> tuple | None:
    """``fills`` as a cache key (busy steps per lane, longest first); None when every lane is busy
    for the whole chunk (the same work as no fills)."""
    if fills is None:
        return None
    f = tuple(sorted((int(x) for x in fills), reverse=True))
    if len(f) != batch or (f and (f[0] != steps or f[-1] < 1)):
        raise ValueError(
            f"network_chunk: fills {list(f)} must be {batch} lanes of 1..{steps} busy steps, one of {steps}"
        )
    return None if f[-1] == steps else f
