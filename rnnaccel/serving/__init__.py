"""E-BATCH batching runtime and serving simulator, with padded and cellular batching baselines.

    from rnnaccel.serving import simulate, load_batching_config
    res = simulate("ebatch", platform="tpu", workload={"rate": 200.0})
    res.summary()["latency_p95_s"], res.summary()["energy_per_seq_j"]

See docs/batching.md.
"""

from .config import (
    POLICIES,
    BatchingConfig,
    NetworkConfig,
    PolicyConfig,
    WorkloadConfig,
    available_batching_configs,
    load_batching_config,
    register_configs,
)
from .costs import ChunkCoster
from ..emulator.lanes import fill_lanes
from .ebatch import EBatch, StepsController
from .metrics import METRICS, SimResult
from .policies import Cellular, NoBatch, Padded
from .scheduler import Run, Scheduler, Wait
from .sim import make_scheduler, run_events, simulate
from .workload import (
    LengthDistribution,
    Requests,
    available_lengths,
    load_lengths,
    make_requests,
    poisson_arrivals,
    read_trace,
)

__all__ = [
    "simulate",
    "run_events",
    "make_scheduler",
    "Scheduler",
    "Run",
    "Wait",
    "BatchingConfig",
    "NetworkConfig",
    "WorkloadConfig",
    "PolicyConfig",
    "POLICIES",
    "load_batching_config",
    "available_batching_configs",
    "register_configs",
    "ChunkCoster",
    "SimResult",
    "METRICS",
    "NoBatch",
    "Padded",
    "Cellular",
    "EBatch",
    "StepsController",
    "fill_lanes",
    "LengthDistribution",
    "Requests",
    "load_lengths",
    "available_lengths",
    "make_requests",
    "poisson_arrivals",
    "read_trace",
]
