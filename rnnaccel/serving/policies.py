"""Baseline schedulers: no batching, padded static batching, cellular batching (BatchMaker).

All three serve requests first come, first served. Charging (docs/batching.md has the details):

- ``none``: one request at a time, each layer over its whole sequence (``batch=1``,
  ``steps=length``), weights fetched per layer.
- ``padded``: up to ``max_batch`` requests start together and run, layer by layer, for the
  length of the longest (``batch=b``, ``steps=max length``): finished rows keep computing padding.
  A partial batch launches when its oldest request has waited ``timeout_s``.
- ``bucketed``: padded batching with length bucketing (standard serving practice): requests are
  grouped by length into ``buckets`` (upper bounds in steps), each bucket batches as ``padded``
  does; when several buckets are ready the one whose oldest request arrived first runs.
- ``cellular``: BatchMaker's cell-level batching as a lockstep wavefront: each round runs one step
  of layer 0, then layer 1, ... for every running request (``batch=b``, ``steps=1`` per layer), so
  the layer changes at every charge and its weights are fetched again (``weights_resident`` false).
  Requests join at the next round after they arrive while fewer than ``max_batch`` run, and leave
  after their last step.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections import deque

import numpy as np

from .scheduler import Run, Scheduler, Wait

__all__ = ["NoBatch", "Padded", "Cellular"]


class NoBatch(Scheduler):
    """Sequential evaluation, one request at a time."""

    name = "none"

    def __init__(self, coster, cap, length, **kw):
        super().__init__(coster, 1, length)
        self.q: deque[int] = deque()

    def enqueue(self, lo, hi, arrival):
        self.q.extend(range(lo, hi))

    def step(self, now, next_arrival):
        if not self.q:
            return Wait(math.inf)
        r = self.q.popleft()
        n = int(self.length[r])
        sec, en = self.coster.network_chunk(1, n)
        return Run(sec, en, (r,), (r,), 1, n, n)


def quartile_bounds(length) -> list[int]:
    """Bucket bounds at the quartiles of the request lengths (duplicates dropped)."""
    q = np.percentile(np.asarray(length), [25, 50, 75], method="higher")
    return sorted({int(v) for v in q})


class Padded(Scheduler):
    """Static batching with a batch-size cap and a wait timeout, per length bucket (one bucket:
    plain padded batching)."""

    name = "padded"

    def __init__(self, coster, cap, length, policy=None, **kw):
        super().__init__(coster, cap, length)
        self.timeout = policy.timeout_s if policy is not None else 0.0
        self.bounds = list(policy.buckets) if policy is not None else []
        if policy is not None and policy.name == "bucketed":
            self.name = "bucketed"
            self.bounds = self.bounds or quartile_bounds(length)
            self.extra = {"buckets": self.bounds}
        self.qs: list[deque[int]] = [deque() for _ in range(len(self.bounds) + 1)]
        self.arrival = None

    def enqueue(self, lo, hi, arrival):
        self.arrival = arrival
        for r in range(lo, hi):
            self.qs[bisect_left(self.bounds, int(self.length[r]))].append(r)

    def step(self, now, next_arrival):
        heads = [(float(self.arrival[q[0]]), i) for i, q in enumerate(self.qs) if q]
        if not heads:
            return Wait(math.inf)
        ready = [(a, i) for a, i in heads if len(self.qs[i]) >= self.cap or now >= a + self.timeout]
        if not ready:
            return Wait(min(heads)[0] + self.timeout)
        q = self.qs[min(ready)[1]]
        ids = [q.popleft() for _ in range(min(self.cap, len(q)))]
        lens = self.length[ids]
        T = int(lens.max())
        sec, en = self.coster.network_chunk(len(ids), T)
        return Run(sec, en, ids, ids, len(ids), T, int(lens.sum()))


class Cellular(Scheduler):
    """Cellular batching: per-step join/leave, layer switch at every cell step."""

    name = "cellular"

    def __init__(self, coster, cap, length, network=None, **kw):
        super().__init__(coster, cap, length)
        if coster.dirs != 1:
            raise ValueError(
                "policy.name: cellular batching needs unidirectional layers (network.bidirectional is true)"
            )
        self.q: deque[int] = deque()
        self.round = 0  # rounds executed so far
        self.running: list[tuple[int, int]] = []  # heap of (round after its last step, request id)
        self._sweep_s: dict[int, float] = {}

    def enqueue(self, lo, hi, arrival):
        self.q.extend(range(lo, hi))

    def step(self, now, next_arrival):
        run, q = self.running, self.q
        started = []
        while q and len(run) < self.cap:
            r = q.popleft()
            started.append(r)
            heapq.heappush(run, (self.round + int(self.length[r]), r))
        b = len(run)
        if b == 0:
            return Wait(math.inf)
        k = run[0][0] - self.round  # rounds until the first running request leaves
        if b < self.cap and next_arrival < math.inf:  # ... or until the next arrival can join
            if b not in self._sweep_s:
                self._sweep_s[b] = self.coster.sweep_seconds(b)
            k = min(k, max(1, math.ceil((next_arrival - now) / self._sweep_s[b] - 1e-9)))
        sec, en = self.coster.sweeps(b, k)
        self.round += k
        done = []
        while run and run[0][0] == self.round:
            done.append(heapq.heappop(run)[1])
        return Run(sec, en, started, done, b, k, b * k)
