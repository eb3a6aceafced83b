"""What a batching policy is: a :class:`Scheduler` that, at each decision point, either runs a batch
(:class:`Run`) or waits (:class:`Wait`). The event loop (:mod:`.sim`) and every policy
(:mod:`.policies`, :mod:`.ebatch`) import this module; it imports none of them.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .costs import ChunkCoster

__all__ = ["Run", "Wait", "Scheduler"]


class Run(NamedTuple):
    """Execute for ``seconds``; energy (len(COMPONENTS),) J; ``started``/``done``: request ids that
    begin service / complete with this batch; ``rows`` x ``steps`` slots, ``useful`` of them real
    work; ``computed``: slots actually computed (None: all ``rows x steps``; E-BATCH skips a lane
    after its work ends)."""

    seconds: float
    energy: np.ndarray
    started: Sequence[int]
    done: Sequence[int]
    rows: int
    steps: int
    useful: int
    computed: int | None = None


class Wait(NamedTuple):
    until: float  # seconds; inf = until the next arrival


class Scheduler:
    """Base class. ``length`` (N,) steps of every request; ids are arrival ranks 0..N-1."""

    name = "base"

    def __init__(self, coster: ChunkCoster, cap: int, length: np.ndarray, **kw):
        self.coster, self.cap, self.length = coster, cap, length
        self.extra: dict = {}

    def enqueue(self, lo: int, hi: int, arrival: np.ndarray) -> None:
        """Requests ``lo .. hi-1`` arrived (``arrival`` is the whole (N,) array)."""
        raise NotImplementedError

    def step(self, now: float, next_arrival: float) -> Run | Wait:
        """What to do at ``now``; ``next_arrival``: time of the next request not yet enqueued (inf: none)."""
        raise NotImplementedError

    def on_done(self, now: float, done: Sequence[int]) -> None:
        """Requests ``done`` completed at ``now`` (feedback hook; the base class ignores it)."""
