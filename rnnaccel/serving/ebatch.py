"""E-BATCH: sequences concatenated in batch lanes, refilled at end-of-sequence, adaptive steps per batch.

The accelerator keeps ``max_batch`` lanes. A batch ("chunk") runs every layer in turn for ``T``
time steps of all busy lanes (layer-major, the MWL schedule: each layer's weights are fetched once
per chunk and reused for ``lanes x T`` input vectors). Within a lane, requests follow each other
back to back: when one ends, the accelerator resets that lane's recurrent state to the initial
state and signals the runtime, which drops the next queued request into the lane at once — in the
same chunk. Requests that arrive during a chunk join at the next chunk. A chunk is cut short when
every lane runs out of work before ``T`` (empty queue). A lane whose request ends with nothing
queued to refill it idles for the rest of the chunk: with ``policy.finished_lanes: skip`` (default)
it is not computed — the accelerator knows each lane's end of sequence (the event it raises), so
it runs only the busy lanes' rows at each step; ``compute`` charges that tail as padding.

``T`` is chosen by :class:`StepsController` (largest allowed first; halved when the p95 latency of
the last ``window`` completions exceeds the latency target, doubled when under half of it).

Bidirectional networks cannot carry a sequence across chunks (the reverse direction and every
layer above need the whole sequence), so each chunk packs *whole* sequences into the lanes: a lane
takes queued sequences while they fit in ``T`` steps (its first one always, lengthening the chunk).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from ..emulator.lanes import fill_lanes
from .scheduler import Run, Scheduler, Wait

__all__ = ["EBatch", "StepsController"]


class StepsController:
    """Steps per chunk, a power of two in ``[steps_min, steps_max]``, starting at ``steps_max``.

    Every ``window`` completions it compares the p95 latency of those completions with
    ``target_s``: above -> halve ``T`` (latency: newcomers wait less for a chunk boundary);
    below ``target_s / 2`` -> double it (energy: fewer weight fetches per step).
    """

    def __init__(self, steps_min: int, steps_max: int, target_s: float, window: int, adaptive: bool = True):
        self.lo, self.hi, self.target, self.window = steps_min, steps_max, target_s, window
        self.adaptive = adaptive
        self.T = steps_max
        self.recent: list[float] = []
        self.changes = 0

    def observe(self, latencies: np.ndarray) -> None:
        if not self.adaptive:
            return
        self.recent.extend(latencies.tolist())
        if len(self.recent) < self.window:
            return
        p95 = float(np.percentile(self.recent, 95))
        self.recent = []
        new = self.T
        if p95 > self.target:
            new = max(self.lo, self.T // 2)
        elif p95 < 0.5 * self.target:
            new = min(self.hi, self.T * 2)
        self.changes += new != self.T
        self.T = new


class EBatch(Scheduler):
    """The E-BATCH runtime over ``max_batch`` lanes."""

    name = "ebatch"

    def __init__(self, coster, cap, length, policy=None, **kw):
        super().__init__(coster, cap, length)
        p = policy
        self.ctl = StepsController(p.steps_min, p.steps_max, p.latency_target_s, p.window, p.adaptive)
        self.whole = coster.dirs == 2
        self.skip = p.finished_lanes == "skip"
        self.q: deque[int] = deque()
        self.lane_req = [-1] * cap  # request in each lane (-1: empty)
        self.lane_rem = [0] * cap  # its remaining steps
        self.busy = 0  # lanes holding a request that continues into the next chunk
        self.extra = {"steps_chunks": {}}

    def enqueue(self, lo, hi, arrival):
        self.arrival = arrival
        self.q.extend(range(lo, hi))

    def on_done(self, now, done):
        self.ctl.observe(now - self.arrival[np.asarray(done)])

    def step(self, now, next_arrival):
        if not self.q and not self.busy:
            return Wait(math.inf)
        T = self.ctl.T
        fill, placed, done = fill_lanes(self.lane_req, self.lane_rem, self.q, self.length, T, self.whole)
        self.busy = sum(r >= 0 for r in self.lane_req)
        steps = max(fill)
        busy = [f for f in fill if f > 0]
        rows = len(busy)
        sec, en = self.coster.network_chunk(rows, steps, busy if self.skip else None)
        started = [p[0] for p in placed if p[4]]
        h = self.extra["steps_chunks"]
        h[T] = h.get(T, 0) + 1
        useful = sum(busy)
        return Run(sec, en, started, done, rows, steps, useful, useful if self.skip else None)
