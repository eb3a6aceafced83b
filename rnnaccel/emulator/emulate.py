"""Multi-layer, bidirectional, variable-length emulation on top of the per-direction datapath.

``emulate_stack`` takes integer weights per (layer, direction) and a float or integer input
batch with lengths, and returns integer outputs, final states, saturation totals and (when a
:class:`Trace` is given) the per-step action counts.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass, field

import torch

from .config import DatapathConfig
from ..errors import RnnaccelError
from .datapath import (
    SAT_CLASSES,
    SITE_C0,
    SITE_H0,
    SITE_INPUT,
    STEP_SAT_CLASSES,
    IntWeights,
    make_layer_trace,
    run_direction,
)
from .gates import GATES
from .formats import Fmt, quantize, round_shift, round_to_grid, saturate
from .steps import Progress, StepInput, chunk_steps
from .trace import Trace
from . import kernels

__all__ = [
    "EmulationResult",
    "emulate_stack",
    "check_lengths",
    "reverse_within",
    "quantize_state",
    "state_site",
    "run_directions",
    "run_concurrently",
    "set_directions",
    "set_layers",
    "layer_groups",
]

#: how the directions of a bidirectional layer run on a CPU: ``concurrent`` (default: at once, each on
#: its own thread with a share of torch's threads, when torch has at least 2) or ``serial``
DIRECTION_MODES = ("concurrent", "serial")
#: how the layers of a unidirectional stack run on a CPU: ``pipelined`` (default: up to one layer per
#: torch thread at once, each a few steps behind the one below, when torch has at least 2) or ``serial``
LAYER_MODES = ("pipelined", "serial")


def _check_mode(mode: str, modes: tuple[str, ...], what: str, env: str) -> str:
    if mode not in modes:
        raise ValueError(f"{what} mode {mode!r} unknown; choose one of {', '.join(modes)} ({env})")
    return mode


def _env_mode(env: str, modes: tuple[str, ...], what: str) -> str:
    return _check_mode(os.environ.get(env, modes[0]).strip() or modes[0], modes, what, env)


_directions = _env_mode("RNNACCEL_DIRECTIONS", DIRECTION_MODES, "directions")
_layers = _env_mode("RNNACCEL_LAYERS", LAYER_MODES, "layers")


def set_directions(mode: str) -> str:
    """Choose how later bidirectional layers run (``concurrent`` or ``serial``); returns the old mode.
    A speed choice only: the directions are independent, so the bits are the same."""
    global _directions
    old, _directions = _directions, _check_mode(mode, DIRECTION_MODES, "directions", "RNNACCEL_DIRECTIONS")
    return old


def set_layers(mode: str) -> str:
    """Choose how the layers of later unidirectional stacks run (``pipelined`` or ``serial``); returns
    the old mode. A speed choice only: the same integers reach every layer (see :mod:`.steps`)."""
    global _layers
    old, _layers = _layers, _check_mode(mode, LAYER_MODES, "layers", "RNNACCEL_LAYERS")
    return old


def layer_groups(L: int, dirs: int, device: torch.device) -> list[list[int]]:
    """The layers that run at once: consecutive runs of at most ``torch.get_num_threads()`` layers of
    a unidirectional stack on a CPU in ``pipelined`` mode; otherwise one layer at a time. (A layer
    above a bidirectional one needs the backward direction's last step first: no overlap there.)"""
    threads = torch.get_num_threads()
    if dirs != 1 or _layers != "pipelined" or device.type != "cpu" or threads < 2:
        return [[layer] for layer in range(L)]
    return [list(range(l0, min(L, l0 + threads))) for l0 in range(0, L, threads)]


def run_concurrently(calls, device: torch.device, names=None) -> list:
    """Run ``calls`` (no-argument callables) and return their results in order. On a CPU with at least
    2 torch threads, and more than one call, they run at once: the first in the caller's thread, the
    others on worker threads, each with ``max(1, threads // len(calls))`` torch threads (the compiled
    kernels and torch release the GIL). The process-wide torch thread count is restored afterwards,
    and the first error in call order is raised after every call has ended. Used for the two
    directions of a bidirectional layer (``concurrent``; they share no state and every rounding is
    position-seeded, so the order cannot change a bit) and the layers of a pipelined stack (each
    waits for its input steps: :mod:`.steps`). tests/emulator/test_backends.py compares each with serial."""
    threads = torch.get_num_threads()
    if len(calls) < 2 or device.type != "cpu" or threads < 2:
        return [c() for c in calls]
    share = max(1, threads // len(calls))
    names = names or [f"rnnaccel-worker-{i}" for i in range(len(calls))]
    out: list = [None] * len(calls)
    errs: list = [None] * len(calls)

    def run(i: int) -> None:
        torch.set_num_threads(share)  # this thread's OpenMP/MKL team size
        try:
            out[i] = calls[i]()
        except BaseException as e:  # re-raised in the caller's thread
            errs[i] = e

    workers = [threading.Thread(target=run, args=(i,), name=names[i]) for i in range(1, len(calls))]
    try:
        for w in workers:
            w.start()
        run(0)
    finally:
        for w in workers:
            w.join()
        torch.set_num_threads(threads)
    for e in errs:
        if e is not None:
            raise e
    return out


def run_directions(calls, device: torch.device) -> list:
    """The directions of one layer (:func:`run_concurrently` in ``concurrent`` mode, else in order)."""
    if len(calls) != 2 or _directions != "concurrent":
        return [c() for c in calls]
    return run_concurrently(calls, device, ["rnnaccel-direction-0", "rnnaccel-direction-1"])


def _requantize(v: torch.Tensor, cfgs: list[DatapathConfig], layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The previous layer's outputs ``v`` (steps first, hidden-format ints) in ``layer``'s input format,
    and the clamps per step."""
    cfg, prev = cfgs[layer], cfgs[layer - 1].hidden
    raw = round_shift(v, prev.frac - cfg.input.frac, cfg.rounding, seed=cfg.seed, site=(layer * 2) * 32 + SITE_INPUT)
    q, _ = saturate(raw, cfg.input)
    return q, (raw != q).sum(dim=tuple(range(1, v.dim()))).to(torch.int64).cpu()


def _streamed_input(
    below: Progress, shape: tuple[int, int, int], chunk: int, cfgs: list[DatapathConfig], layer: int
) -> tuple[StepInput, torch.Tensor]:
    """``layer``'s input steps filled ``chunk`` steps at a time from the outputs the layer below
    publishes through ``below``, and the clamps per step (final once the layer has run)."""
    x = torch.zeros(shape, dtype=torch.float64)
    clamps = torch.zeros(shape[0], dtype=torch.int64)

    def fill(t0: int, t1: int) -> None:
        out = below.wait(t1)
        x[t0:t1], clamps[t0:t1] = _requantize(out[t0:t1], cfgs, layer)

    return StepInput(x, chunk, fill), clamps


@dataclass
class EmulationResult:
    """Integer results in the caller's batch order.

    ``output``: (B, T, dirs*R) last layer's hidden-format ints, zero past each length (``R``: the
    projection's size for an LSTM with ``proj_size``, else H).
    ``h_n``: (layers*dirs, B, R); ``c_n``: (layers*dirs, B, H) for the LSTM (None otherwise).
    ``saturations``: totals per tensor class over the whole run (``input`` included; ``proj``
    only when the stack projects).
    ``internals``: with ``record_internals``, ``{(layer, dir): {"gates": (B,T,G*H), "cells": ..., "h": ...}}``.
    """

    output: torch.Tensor
    h_n: torch.Tensor
    c_n: torch.Tensor | None
    saturations: dict[str, int]
    internals: dict = field(default_factory=dict)


def check_lengths(x: torch.Tensor, lengths) -> torch.Tensor:
    """Validate ``lengths`` against a (B, T, D) batch and return it as an int64 CPU tensor."""
    B, T = x.shape[0], x.shape[1]
    if lengths is None:
        return torch.full((B,), T, dtype=torch.int64)
    lengths = torch.as_tensor(lengths).to("cpu")
    if lengths.dim() != 1 or lengths.shape[0] != B:
        raise ValueError(f"lengths must have shape ({B},), got {tuple(lengths.shape)}")
    if torch.is_floating_point(lengths):
        raise ValueError("lengths must be integers")
    lengths = lengths.to(torch.int64)
    if int(lengths.min()) < 1:
        raise ValueError(f"lengths must be >= 1, got min {int(lengths.min())}")
    if int(lengths.max()) > T:
        raise ValueError(f"lengths max {int(lengths.max())} exceeds the input's time dimension {T}")
    return lengths


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of a (T, B, ...) tensor within its own length (an involution)."""
    T, B = x.shape[0], x.shape[1]
    t = torch.arange(T).unsqueeze(1)
    L = lengths.unsqueeze(0)
    idx = torch.where(t < L, L - 1 - t, t).to(x.device)  # (T, B)
    idx = idx.view(T, B, *([1] * (x.dim() - 2))).expand_as(x)
    return torch.gather(x, 0, idx)


def emulate_stack(
    cell: str,
    weights: list[list[IntWeights]],
    cfgs: list[DatapathConfig],
    x: torch.Tensor,
    lengths=None,
    h0: torch.Tensor | None = None,
    c0: torch.Tensor | None = None,
    x_is_int: bool = False,
    trace: Trace | None = None,
    record_internals: bool = False,
    gemm: str = "auto",
    unit_factories=(),
    state_is_int: bool = True,
) -> EmulationResult:
    """Run the whole stack. ``weights[layer][direction]``; ``x``: (B, T, D) float (quantized here
    into ``cfgs[0].input``) or, with ``x_is_int``, input-format integers.

    ``h0``/``c0``: optional (layers*dirs, B, R) / (layers*dirs, B, H) *integers* in each layer's hidden/cell format, or,
    with ``state_is_int=False``, real values quantized here (:func:`quantize_state`; their clamps
    count as ``hidden``/``cell`` saturations, in a trace at the direction's first step).
    ``gemm``: exact-GEMM backend (``auto``, ``int8``, ``float64``; see :mod:`.gemm`) — same bits.
    ``unit_factories``: technique unit factories ``f(layer, direction, cfg) -> StepUnit | None``
    (LSTM and GRU without projection only: the units have no rules for the others, refused).
    """
    if x.dim() != 3:
        raise ValueError(f"input must be (batch, time, features), got shape {tuple(x.shape)}")
    B, T, D = x.shape
    L, dirs = len(weights), len(weights[0])
    R = weights[0][0].w_hh.shape[1]  # width of h (the projection's size when projecting)
    H = weights[0][0].w_hh.shape[0] // GATES[cell]  # the cell's units (width of c)
    projects = weights[0][0].w_hr is not None
    if D != weights[0][0].w_ih.shape[1]:
        raise ValueError(f"input has {D} features, layer 0 expects {weights[0][0].w_ih.shape[1]}")
    lengths = check_lengths(x, lengths)
    classes = STEP_SAT_CLASSES if projects else SAT_CLASSES
    sat_tot = {k: 0 for k in ("input",) + classes}
    # sort by length, longest first: active rows are a prefix at every step
    order = torch.argsort(lengths, descending=True, stable=True)
    inv = torch.argsort(order)
    Ls = lengths[order]
    batch_sizes = [int((Ls > t).sum()) for t in range(int(Ls.max()))]
    Tm = len(batch_sizes)
    cur, in_sat_steps = _quantize_input(x, x_is_int, lengths, order, Tm, cfgs[0])  # (Tm, B, D) time-major
    sat_tot["input"] += int(in_sat_steps.sum())
    hn, cn, internals = [], [], {}

    def prepare(layer: int, inp: StepInput, progress: Progress | None) -> tuple[list, list]:
        """The calls of ``layer``'s directions, set up in the caller's thread, in order (units are made
        here), and each direction's initial-state clamps."""
        cfg = cfgs[layer]
        cfg.check_gemm(inp.x.shape[-1], R)
        if projects:
            cfg.check_gemm(0, H)  # the projection's dot products: H hidden-format terms
        calls, states = [], []
        for d in range(dirs):
            site = (layer * 2 + d) * 32
            xin = inp if d == 0 else StepInput(reverse_within(inp.x, Ls), inp.chunk)
            k = layer * dirs + d
            real = not state_is_int
            h_init, s_h0 = _init_state(h0, k, order, B, R, x.device, cfg.hidden if real else None, cfg, site + SITE_H0)
            c_init, s_c0 = (
                _init_state(c0, k, order, B, H, x.device, cfg.cell if real else None, cfg, site + SITE_C0)
                if cell == "lstm"
                else (None, 0)
            )
            sat_tot["hidden"] += s_h0
            sat_tot["cell"] += s_c0
            states.append((s_h0, s_c0))
            units = [u for u in (f(layer, d, cfg) for f in unit_factories) if u is not None]
            if units and (cell not in ("lstm", "gru") or projects):
                _refuse_units(cell, projects, units)
            args = (cell, weights[layer][d], xin, batch_sizes, cfg, h_init, c_init, site, record_internals, gemm, units)
            calls.append(functools.partial(run_direction, *args, layer, d, rows=order, progress=progress))
        return calls, states

    # every layer takes its input steps in chunks: a pipelined layer above starts early, and what a
    # direction precomputes per step stays a few MB, reused (steps.py)
    chunk = chunk_steps(Tm, B)
    for group in layer_groups(L, dirs, x.device):
        layers = []  # (layer, calls, initial-state clamps, input clamps per step) in order
        progress = None
        for layer in group:
            if layer == 0:
                inp, steps = StepInput(cur, chunk), in_sat_steps
            elif progress is None:  # requantize the previous layer's outputs into this layer's input format
                q, steps = _requantize(cur, cfgs, layer)
                inp = StepInput(q, chunk)
            else:  # pipelined: the steps arrive from the layer below while it runs
                inp, steps = _streamed_input(progress, (Tm, B, R), chunk, cfgs, layer)
            progress = Progress(chunk) if layer != group[-1] else None
            layers.append((layer, *prepare(layer, inp, progress), steps))
        if len(layers) > 1:
            names = [f"rnnaccel-layer-{layer}" for layer, *_ in layers]
            results = run_concurrently([c for _, calls, _, _ in layers for c in calls], x.device, names)
        else:
            results = run_directions(layers[0][1], x.device)
        for layer, calls, states, steps in layers:
            res, results = results[: len(calls)], results[len(calls) :]
            if layer > 0:  # layer 0's input clamps were counted with the quantization above
                sat_tot["input"] += int(steps.sum())
            outs = []
            for d, r in enumerate(res):  # results in direction order, as before
                s_h0, s_c0 = states[d]
                o = r.output if d == 0 else reverse_within(r.output, Ls)
                outs.append(o)
                hn.append(r.h_n[inv])
                cn.append(r.c_n[inv] if r.c_n is not None else None)
                for j, name in enumerate(STEP_SAT_CLASSES):
                    if name in sat_tot:
                        sat_tot[name] += int(r.sat_steps[:, j].sum())
                if trace is not None:
                    lt = make_layer_trace(layer, d, cfgs[layer], r.facts, r.sat_steps, r.extra.get("counters"))
                    if d == 0:
                        lt.add("sat.input", steps.numpy())
                    for name, n0 in (("hidden", s_h0), ("cell", s_c0)):
                        if n0:
                            lt.add(f"sat.{name}", [n0] + [0] * (lt.steps - 1))  # the state entered before step 0
                    trace.append(lt)
                if record_internals:
                    rec = {"h": o}
                    if r.gates is not None:
                        rec["gates"] = r.gates if d == 0 else reverse_within(r.gates, Ls)
                    if r.cells is not None:
                        rec["cells"] = r.cells if d == 0 else reverse_within(r.cells, Ls)
                    internals[(layer, d)] = {k2: _to_caller(v, inv, T) for k2, v in rec.items()}
            cur = torch.cat(outs, dim=-1) if dirs > 1 else outs[0]
    output = _to_caller(cur, inv, T)
    c_n = torch.stack(cn) if cell == "lstm" else None
    return EmulationResult(output, torch.stack(hn), c_n, sat_tot, internals)


def _quantize_input(
    x: torch.Tensor, x_is_int: bool, lengths: torch.Tensor, order: torch.Tensor, Tm: int, cfg: DatapathConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """The (B, T, D) input as (Tm, B, D) input-format integers, rows in length ``order``, zero past
    each length, and the clamps per step. Real inputs are rounded and saturated (one compiled pass
    on a CPU with a deterministic rounding mode, else torch; the same integers); integer inputs are
    checked against the format."""
    B, T, _ = x.shape
    valid = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).to(x.device)  # (B, T)
    if x_is_int:
        q = x.to(torch.float64) * valid.unsqueeze(-1)
        _, n_in = saturate(q, cfg.input)
        if int(n_in):
            raise ValueError(f"integer input holds {int(n_in)} value(s) outside {cfg.input}")
        return q[order.to(q.device), :Tm].transpose(0, 1).contiguous(), torch.zeros(Tm, dtype=torch.int64)
    if kernels.enabled(x.device) and cfg.rounding in kernels.MODES and x.dtype in (torch.float32, torch.float64):
        q, clamps, bad = kernels.quantize_rows(x, order, lengths, Tm, cfg.input, cfg.rounding)
    else:
        xz = torch.where(valid.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))
        bad = int((~torch.isfinite(xz)).sum())
        if not bad:
            raw = round_to_grid(xz, cfg.input, cfg.rounding, seed=cfg.seed, site=SITE_INPUT)
            q, _ = saturate(raw, cfg.input)
            clamps = (raw != q).sum(dim=(0, 2)).to(torch.int64).cpu()[:Tm]
            q = q[order.to(q.device), :Tm].transpose(0, 1).contiguous()
    if bad:
        raise ValueError(f"input holds {bad} NaN/inf value(s) within the lengths")
    return q, clamps


def _refuse_units(cell: str, projects: bool, units) -> None:
    what = "an LSTM with proj_size" if projects else f"{cell} layers"
    names = ", ".join(sorted({type(u).__name__ for u in units}))
    raise RnnaccelError(
        f"technique units ({names}) support LSTM and GRU layers without projection, not {what}: "
        f"run this module without memoization/precision"
    )


def quantize_state(v: torch.Tensor, fmt: Fmt, cfg: DatapathConfig, site: int) -> tuple[torch.Tensor, int]:
    """A real initial state -> integers of ``fmt`` rounded by ``cfg``'s mode (dither at rounding point
    ``site``, step 0, index = the unit), and the number of clamped elements (docs/datapath.md §7)."""
    q, n = quantize(v, fmt, cfg.rounding, seed=cfg.seed, site=site)
    return q.to(torch.float64), int(n)


def state_site(layer: int, direction: int, which: str) -> int:
    """Rounding point of a real initial state of (layer, direction): ``h`` or ``c``."""
    return (layer * 2 + direction) * 32 + (SITE_H0 if which == "h" else SITE_C0)


def _init_state(
    s, k, order, B, H, device, fmt: Fmt | None = None, cfg: DatapathConfig | None = None, site: int = 0
) -> tuple[torch.Tensor, int]:
    """Row ``k`` of a (layers*dirs, B, H) state in length order: integers as given (``fmt`` None) or
    real values quantized into ``fmt``; with the number of clamps. Zeros when ``s`` is None."""
    if s is None:
        return torch.zeros(B, H, dtype=torch.float64, device=device), 0
    if s.shape[1:] != (B, H):
        raise ValueError(f"initial state must be (layers*dirs, {B}, {H}), got {tuple(s.shape)}")
    v = s[k][order.to(s.device)]
    if fmt is None:
        return v.to(torch.float64).clone(), 0
    return quantize_state(v, fmt, cfg, site)


def _to_caller(v: torch.Tensor, inv: torch.Tensor, T: int) -> torch.Tensor:
    """(Tm, B, F) time-major, length-sorted -> (B, T, F) in the caller's order, zero-padded."""
    v = v.transpose(0, 1)[inv.to(v.device)]
    if v.shape[1] < T:
        v = torch.cat([v, v.new_zeros(v.shape[0], T - v.shape[1], v.shape[2])], dim=1)
    return v
