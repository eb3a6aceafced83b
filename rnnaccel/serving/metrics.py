"""What a simulation returns, and the metrics derived from it (definitions in docs/batching.md).

Per request (arrays of shape (N,), in arrival order): ``arrival``, ``length`` (steps), ``start``
(first time the request was in an executing batch), ``finish`` (its last step's batch ended),
``served`` (how many times it completed: 1 for every request of a correct run).

Totals: ``busy_s`` (accelerator executing), ``energy_j`` (joules by cost-model component, busy
time only), ``slots`` (row-steps the accelerator computed: batch rows x time steps, summed over
executed batches; one network time step through every layer counts once), ``useful`` (row-steps
that belong to a request: sum of lengths), ``steps`` (network time steps executed) and ``cap``
(the batch cap / lanes the policy was given).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .costs import COMPONENTS

__all__ = ["SimResult", "METRICS"]

#: keys of :meth:`SimResult.summary`, in table order
METRICS = (
    "requests",
    "throughput_seq_s",
    "throughput_steps_s",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "latency_mean_s",
    "energy_per_seq_j",
    "energy_per_step_j",
    "padding_fraction",
    "idle_fraction",
    "utilization",
    "mean_batch",
    "batches",
    "weight_loads",
    "makespan_s",
)


@dataclass
class SimResult:
    policy: str
    platform: str
    arrival: np.ndarray
    length: np.ndarray
    start: np.ndarray
    finish: np.ndarray
    served: np.ndarray
    busy_s: float
    energy_j: np.ndarray
    slots: int
    useful: int
    steps: int
    batches: int
    cap: int
    weight_loads: int
    extra: dict = field(default_factory=dict)

    @property
    def latency(self) -> np.ndarray:
        """(N,) seconds from arrival to completion."""
        return self.finish - self.arrival

    @property
    def makespan_s(self) -> float:
        """First arrival to last completion, seconds."""
        return float(self.finish.max() - self.arrival.min())

    def energy_by_component(self) -> dict[str, float]:
        return {c: float(v) for c, v in zip(COMPONENTS, self.energy_j)}

    def summary(self) -> dict:
        """The metrics of :data:`METRICS` (throughput over the makespan; latency quantiles over
        every request; energy of busy time only; fractions as defined in docs/batching.md)."""
        n = int(self.arrival.size)
        span = self.makespan_s
        lat = self.latency
        tot = float(self.energy_j.sum())
        p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if n else (np.nan,) * 3
        rate = (lambda x: x / span) if span > 0 else (lambda x: float("inf"))
        return {
            "requests": n,
            "throughput_seq_s": rate(n),
            "throughput_steps_s": rate(int(self.length.sum())),
            "latency_p50_s": float(p50),
            "latency_p95_s": float(p95),
            "latency_p99_s": float(p99),
            "latency_mean_s": float(lat.mean()),
            "energy_per_seq_j": tot / n,
            "energy_per_step_j": tot / max(int(self.length.sum()), 1),
            "padding_fraction": (self.slots - self.useful) / self.slots if self.slots else 0.0,
            "idle_fraction": max(0.0, 1.0 - self.busy_s / span) if span > 0 else 0.0,
            "utilization": self.useful / (self.cap * self.steps) if self.steps else 0.0,
            "mean_batch": self.slots / self.steps if self.steps else 0.0,
            "batches": self.batches,
            "weight_loads": self.weight_loads,
            "makespan_s": span,
        }

    def check(self) -> None:
        """Raise AssertionError unless every request was served exactly once, never before it
        arrived, and the useful work equals the requested work."""
        bad = np.flatnonzero(self.served != 1)
        assert bad.size == 0, f"{bad.size} request(s) served {self.served[bad[0]]} time(s), e.g. #{bad[0]}"
        assert (self.start >= self.arrival - 1e-12).all(), "a request started before it arrived"
        assert (self.finish > self.start).all(), "a request finished before it started"
        assert self.useful == int(self.length.sum()), (
            f"useful steps {self.useful} != requested {int(self.length.sum())}"
        )
        assert self.slots >= self.useful
