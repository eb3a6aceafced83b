"""The discrete-event loop: arrivals, a queue, one accelerator, a pluggable scheduler (Vidur style).

One accelerator runs one batch at a time, so the only events are request arrivals (a sorted array
walked with a pointer) and "the accelerator is free". At each event the loop admits every request
that has arrived by ``now`` into the scheduler, then asks it what to do:

- :class:`Run` — execute a batch of work for ``seconds`` (priced by the :class:`ChunkCoster`);
  the requests in ``done`` complete when it ends; ``now`` advances to the end;
- :class:`Wait` — nothing to run before ``until`` (a padded-batching deadline) or before the next
  arrival, whichever comes first; ``now`` jumps there (the accelerator idles).

Schedulers (``policies.py``, ``ebatch.py``) own their queue and lanes; the loop owns time and the
per-request records. A request can therefore never be lost (the loop runs until every request
completed) and completing one twice is counted (``SimResult.served``).
"""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from .config import BatchingConfig, load_batching_config
from .costs import COMPONENTS, ChunkCoster
from .ebatch import EBatch
from .metrics import SimResult
from .policies import Cellular, NoBatch, Padded
from .scheduler import Run, Scheduler, Wait
from .workload import Requests, make_requests

__all__ = ["Run", "Wait", "Scheduler", "run_events", "simulate", "make_scheduler", "make_coster"]


def run_events(sched: Scheduler, req: Requests, platform: str = "") -> SimResult:
    """Run ``sched`` over ``req`` until every request completed."""
    arrival, N = req.arrival, len(req)
    arr = arrival.tolist()  # bisect on a list is much cheaper than np.searchsorted per event
    start = np.full(N, np.nan)
    finish = np.full(N, np.nan)
    served = np.zeros(N, dtype=np.int64)
    energy = np.zeros(len(COMPONENTS))
    busy = 0.0
    slots = useful = steps = batches = 0
    now, ptr, done_n = arr[0], 0, 0
    loads0 = sched.coster.weight_loads
    while done_n < N:
        hi = bisect_right(arr, now, ptr)
        if hi > ptr:
            sched.enqueue(ptr, hi, arrival)
            ptr = hi
        nxt = arr[ptr] if ptr < N else math.inf
        act = sched.step(now, nxt)
        if type(act) is Wait:
            t = min(act.until, nxt)
            if not t > now or t == math.inf:
                raise RuntimeError(f"scheduler {sched.name} stalled at t={now} with {N - done_n} request(s) left")
            now = t
            continue
        for r in act.started:
            start[r] = now
        now += act.seconds
        busy += act.seconds
        energy += act.energy
        if len(act.done):
            for r in act.done:
                finish[r] = now
                served[r] += 1
            done_n += len(act.done)
            sched.on_done(now, act.done)
        slots += act.rows * act.steps if act.computed is None else act.computed
        useful += act.useful
        steps += act.steps
        batches += 1
    return SimResult(
        sched.name,
        platform,
        arrival,
        req.length,
        start,
        finish,
        served,
        busy,
        energy,
        slots,
        useful,
        steps,
        batches,
        sched.cap,
        sched.coster.weight_loads - loads0,
        dict(sched.extra),
    )


def make_coster(cfg: BatchingConfig) -> ChunkCoster:
    """The :class:`ChunkCoster` of ``cfg``: its platform, network and technique trace (if any)."""
    prof = None
    if cfg.techniques:
        from .techniques import TechniqueProfile

        prof = TechniqueProfile.load(cfg.techniques)
    return ChunkCoster(cfg.platform, cfg.network, techniques=prof)


def make_scheduler(cfg: BatchingConfig, coster: ChunkCoster, length: np.ndarray) -> Scheduler:
    """The scheduler named by ``cfg.policy.name``, built from ``cfg.policy``."""

    p = cfg.policy
    kinds = {"none": NoBatch, "padded": Padded, "bucketed": Padded, "cellular": Cellular, "ebatch": EBatch}
    cap = 1 if p.name == "none" else p.max_batch
    return kinds[p.name](coster, cap, length, policy=p, network=cfg.network)


def simulate(
    cfg="ebatch", requests: Requests | None = None, coster: ChunkCoster | None = None, **overrides
) -> SimResult:
    """Simulate one config (a :class:`BatchingConfig`, a packaged name, a path or a mapping).

    ``requests``: explicit requests (default: drawn from ``cfg.workload``). ``coster``: reuse a
    :class:`ChunkCoster` (and its cache) across runs of the same platform and network.
    ``overrides``: sections to replace, e.g. ``policy={"name": "padded"}``, ``platform="tpu"``.
    """
    cfg = load_batching_config(cfg)
    if overrides:
        cfg = cfg.with_(**overrides)
    if coster is None:
        coster = make_coster(cfg)
    elif coster.net != cfg.network:
        raise ValueError("simulate: the coster was built for another network config")
    coster.reset()  # a run starts with empty weight buffers
    req = requests if requests is not None else make_requests(cfg.workload)
    sched = make_scheduler(cfg, coster, req.length)
    return run_events(sched, req, coster.hw.name)
