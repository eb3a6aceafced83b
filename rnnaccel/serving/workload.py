"""Arrival generators and request-length distributions.

A workload is two arrays of the same length N, sorted by arrival: ``arrival`` (N,) seconds and
``length`` (N,) time steps (>= 1). Lengths are drawn from a histogram of a real test set
(``rnnaccel/conf/batching/lengths/*.yaml``, made by ``python -m rnnaccel.serving.histograms``);
arrivals are a Poisson process at a rate or read from a trace file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..configio import packaged, read_yaml_source
from .config import WorkloadConfig, _int, _num

__all__ = [
    "LengthDistribution",
    "load_lengths",
    "poisson_arrivals",
    "read_trace",
    "Requests",
    "make_requests",
    "available_lengths",
]


@dataclass(frozen=True)
class LengthDistribution:
    """A histogram of sequence lengths: ``values`` (K,) distinct lengths in steps, ``counts`` (K,)."""

    name: str
    values: np.ndarray
    counts: np.ndarray

    def __post_init__(self):
        v = np.asarray(self.values)
        c = np.asarray(self.counts)
        where = f"workload.lengths ({self.name})"
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"{where} is empty: a length distribution needs at least one value")
        if c.shape != v.shape:
            raise ValueError(f"{where}: {v.size} values but {c.size} counts")
        if not np.issubdtype(v.dtype, np.integer) or int(v.min()) < 1:
            raise ValueError(f"{where}: lengths must be integers >= 1")
        if not np.issubdtype(c.dtype, np.integer) or int(c.min()) < 0 or int(c.sum()) == 0:
            raise ValueError(f"{where}: counts must be integers >= 0 with a positive total")
        object.__setattr__(self, "values", v.astype(np.int64))
        object.__setattr__(self, "counts", c.astype(np.int64))

    @classmethod
    def from_lengths(cls, lengths, name: str = "lengths") -> "LengthDistribution":
        """Histogram of observed lengths (any iterable of ints)."""
        arr = np.asarray(list(lengths), dtype=np.int64)
        if arr.size == 0:
            raise ValueError(f"workload.lengths ({name}) is empty: a length distribution needs at least one value")
        v, c = np.unique(arr, return_counts=True)
        return cls(name, v, c)

    @property
    def mean(self) -> float:
        return float((self.values * self.counts).sum() / self.counts.sum())

    def sample(self, n: int, rng: np.random.Generator, divisor: int = 1) -> np.ndarray:
        """``n`` lengths (n,) int64, each ``ceil(L / divisor)`` for L drawn by count weight."""
        p = self.counts / self.counts.sum()
        drawn = rng.choice(self.values, size=n, p=p)
        return -(-drawn // divisor)


def available_lengths() -> list[str]:
    return packaged("batching/lengths")


def load_lengths(src: str | Path) -> LengthDistribution:
    """A packaged histogram by name or a YAML file with ``values`` and ``counts`` lists."""
    d, _ = read_yaml_source("batching/lengths", src, "workload.lengths")
    p = Path(src)
    values, counts = d.get("values") or [], d.get("counts") or []
    return LengthDistribution(
        str(d.get("name", p.stem)), np.asarray(values, dtype=np.int64), np.asarray(counts, dtype=np.int64)
    )


def poisson_arrivals(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` arrival times (n,) in seconds of a Poisson process at ``rate`` requests/s, from 0."""
    _num(rate, "workload.rate", 0.0, strict=True)
    _int(n, "workload.num_requests", 1)
    gaps = rng.exponential(1.0 / rate, size=n)
    gaps[0] = 0.0  # the first request opens the run
    return np.cumsum(gaps)


def read_trace(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A trace file: one request per line, ``arrival_s`` or ``arrival_s length_steps`` (spaces or a
    comma), ``#`` comments. Returns ``arrival`` (N,) and ``length`` (N,) or None when no line has
    one; lines need not be sorted."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"workload.trace file {str(p)!r} does not exist")
    arr, lens = [], []
    for k, line in enumerate(p.read_text().splitlines(), 1):
        tok = line.split("#", 1)[0].replace(",", " ").split()
        if not tok:
            continue
        try:
            t = float(tok[0])
            n = int(tok[1]) if len(tok) > 1 else None
        except ValueError:
            raise ValueError(f"workload.trace {p}:{k}: expected 'arrival_s [length]', got {line.strip()!r}") from None
        if not math.isfinite(t) or t < 0 or (n is not None and n < 1) or len(tok) > 2:
            raise ValueError(f"workload.trace {p}:{k}: need arrival >= 0 and length >= 1, got {line.strip()!r}")
        arr.append(t)
        lens.append(n)
    if not arr:
        raise ValueError(f"workload.trace {p} holds no request")
    has = [n is not None for n in lens]
    if any(has) and not all(has):
        raise ValueError(f"workload.trace {p}: either every line gives a length or none does")
    return np.asarray(arr, dtype=np.float64), (np.asarray(lens, dtype=np.int64) if all(has) else None)


@dataclass(frozen=True)
class Requests:
    """``arrival`` (N,) float64 seconds, non-decreasing; ``length`` (N,) int64 steps >= 1."""

    arrival: np.ndarray
    length: np.ndarray

    def __post_init__(self):
        a = np.asarray(self.arrival, dtype=np.float64)
        n = np.asarray(self.length, dtype=np.int64)
        if a.ndim != 1 or a.shape != n.shape or a.size == 0:
            raise ValueError(f"requests need equal non-empty 1-D arrival and length arrays, got {a.shape}, {n.shape}")
        if not np.isfinite(a).all() or (a < 0).any():
            raise ValueError("requests: arrival times must be finite and >= 0")
        if (n < 1).any():
            raise ValueError("requests: lengths must be >= 1")
        order = np.argsort(a, kind="stable")
        object.__setattr__(self, "arrival", a[order])
        object.__setattr__(self, "length", n[order])

    def __len__(self) -> int:
        return int(self.arrival.size)


def make_requests(w: WorkloadConfig, dist: LengthDistribution | None = None) -> Requests:
    """Requests of a workload config (seeded: the same config gives the same requests)."""
    w.validate()
    rng = np.random.default_rng([w.seed, 0x5E9])
    dist = dist if dist is not None else load_lengths(w.lengths)
    if w.arrival == "poisson":
        arrival = poisson_arrivals(w.rate, w.num_requests, rng)
        length = dist.sample(w.num_requests, rng, w.length_divisor)
    else:
        arrival, length = read_trace(w.trace)
        if length is None:
            length = dist.sample(arrival.size, rng, w.length_divisor)
    return Requests(arrival, length)
