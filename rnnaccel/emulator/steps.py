"""A direction's input steps, whole or arriving from the layer below (pipelined stacks).

The layers of a unidirectional stack can run at once: layer ``l + 1`` computes step ``t`` while layer
``l`` computes a later step. Layer ``l + 1`` then sees its input as a :class:`StepInput` that fills
chunk by chunk (``fill(t0, t1)`` waits for the layer below to publish those steps through a
:class:`Progress`, then requantizes them). Whatever a direction precomputes over all its input steps
(the datapath's input part ``W_x x + b_x``, the memo predictor's ``sign(W_x) sign(x)``, dynamic
precision's narrowed input parts) is a :class:`StepMap`: computed per chunk when a step of that chunk
is first read, and only the current chunk is kept. A complete input is cut into the same chunks (the
stack does so for every layer): the precomputed parts stay a few MB and their memory is reused, where
one (T, B, 4H) float64 tensor per run cost fresh pages on every call (on the project's VM, first-touch
page faults made a 52 MB input part's recombination ~20x slower than a cached one). Bits: every map
is an exact integer GEMM or an element-wise rounding keyed by step and neuron (docs/datapath.md §7),
so a chunk's rows are the same integers as the whole input's.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

import torch

__all__ = ["Progress", "StepInput", "StepMap", "chunk_steps", "releasing"]


def chunk_steps(T: int, B: int) -> int:
    """Steps per chunk of a pipelined layer: enough rows (``chunk * B`` >= 128, the exact GEMM's row
    block) for an efficient input GEMM, at most ~1/16 of the sequence so the layers overlap."""
    return max(1, min(-(-128 // max(B, 1)), -(-T // 16)))


class Progress:
    """How many steps a running direction has finished (its outputs ``out[:done]`` are final).
    The producer calls :meth:`advance` after each step and :meth:`fail` if it stops early; consumers
    :meth:`wait` on another thread."""

    def __init__(self, every: int = 1) -> None:
        self.done = 0
        self.every = every  # consumers wait for multiples of this (and the last step): wake them only then
        self.out: torch.Tensor | None = None  # (T, B, R) the producer's output buffer, set before step 0
        self._failed: BaseException | None = None
        self._cv = threading.Condition()

    def advance(self, done: int, last: bool = False) -> None:
        if done % self.every and not last:
            self.done = done
            return
        with self._cv:
            self.done = done
            self._cv.notify_all()

    def fail(self, err: BaseException) -> None:
        with self._cv:
            self._failed = err
            self._cv.notify_all()

    def wait(self, t: int) -> torch.Tensor:
        """Block until ``t`` steps are done; returns the output buffer. Raises if the producer failed."""
        with self._cv:
            while self.done < t and self._failed is None:
                self._cv.wait()
            if self.done < t:
                raise RuntimeError(f"the layer below stopped after {self.done} steps") from self._failed
            assert self.out is not None
            return self.out


@contextlib.contextmanager
def releasing(progress: Progress | None) -> Iterator[None]:
    """A block that publishes to ``progress``: an error in it fails the progress (the layer above stops
    waiting for steps that will never come) and propagates."""
    try:
        yield
    except BaseException as e:
        if progress is not None:
            progress.fail(e)
        raise


class StepInput:
    """The (T, B, D) input-format ints of one direction, in chunks of ``chunk`` steps (default: one
    chunk of all ``T``). Complete (``fill`` None), or filled chunk by chunk by ``fill(t0, t1)``, in
    order, on first need."""

    def __init__(self, x: torch.Tensor, chunk: int | None = None, fill: Callable[[int, int], None] | None = None):
        self.x = x
        self.T = x.shape[0]
        self.chunk = max(1, chunk or self.T)
        self._fill = fill
        self.ready = 0 if fill is not None else self.T  # steps [0, ready) are filled

    def bounds(self, t: int) -> tuple[int, int]:
        """The chunk holding step ``t``."""
        t0 = (t // self.chunk) * self.chunk
        return t0, min(self.T, t0 + self.chunk)

    def need(self, t: int) -> None:
        """Make sure the chunk holding step ``t`` (and every earlier one) is filled."""
        while self.ready <= t:
            t0, t1 = self.bounds(self.ready)
            assert self._fill is not None
            self._fill(t0, t1)
            self.ready = t1


class StepMap:
    """``fn(x[t0:t1], t0)`` of a :class:`StepInput`, chunk by chunk, on first use. ``fn`` returns a
    tensor (or array) with the steps first, or a tuple of them; ``m[t, ...]`` indexes a tensor result
    at step ``t``, ``m.at(t)`` returns step ``t`` of every part of a tuple result."""

    def __init__(self, inp: StepInput, fn: Callable):
        self.inp, self.fn = inp, fn
        self._t0, self._value = -1, None  # the chunk last computed (steps are read in order: one is kept)

    def _chunk(self, t: int):
        t0, t1 = self.inp.bounds(t)
        if t0 != self._t0:
            self.inp.need(t)
            self._t0, self._value = t0, None  # the previous chunk's memory is free for this one
            self._value = self.fn(self.inp.x[t0:t1], t0)
        return self._value, t - t0

    def __getitem__(self, key):
        t, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        v, i = self._chunk(int(t))
        return v[(i, *rest)]

    def at(self, t: int) -> tuple:
        v, i = self._chunk(t)
        return tuple(p[i] for p in v)
