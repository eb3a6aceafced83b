"""Functional E-BATCH: run real sequences through the bit-exact datapath packed in lanes.

Sequences are concatenated in ``lanes`` lanes by the simulator's own planner (:func:`fill_lanes`,
all requests queued at time 0) and run chunk by chunk, layer by layer, on the integer datapath
(:func:`rnnaccel.emulator.datapath.run_direction`), all lanes in one batch. Inside a chunk the
run is split at every sequence boundary: the rows of lanes where a sequence starts get the initial
state (the hardware's state reset), the others carry their state on. Each sequence's outputs must
be bit-identical to running it alone (tests/emulator/test_lanes.py).

Bidirectional layers need the whole sequence: with ``whole=True`` (forced for bidirectional
modules) every chunk packs whole sequences only. The forward direction runs the lanes as above;
the reverse direction runs the same lanes with time flipped over the chunk — a flipped lane
``[A B C]`` is ``[C' B' A']`` with each sequence reversed in place, so resetting at the mirrored
boundaries gives exactly the per-sequence reverse pass. A layer finishes the chunk in both
directions before the next layer starts.

Stochastic rounding is refused: its dither is keyed by the step index, which a packed lane does not
share with the sequence run alone (it would need a per-lane step counter).
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import torch

from .datapath import SITE_INPUT, run_direction
from .emulate import quantize_state, state_site
from .formats import Rounding, round_shift, round_to_grid, saturate


def fill_lanes(lane_req: list[int], lane_rem: list[int], queue: deque, length, T: int, whole: bool = False):
    """Plan one chunk of at most ``T`` steps and update the lanes in place.

    ``lane_req`` (B,) request in each lane (-1: empty) and ``lane_rem`` (B,) its remaining steps,
    Python lists; ``queue``: waiting request ids, oldest first (consumed); ``length[r]``: steps of
    request r. Refills go to the lane that frees first (ties: lowest lane). Returns ``(fill (B,)
    busy steps per lane, placed [(req, lane, offset, steps, new)], done [req ids ending in this
    chunk])``: ``new`` marks a request starting at ``offset`` (its lane state is reset there); the
    chunk length is ``max(fill)``. ``whole``: pack whole sequences only (bidirectional networks;
    lanes must start empty): a lane takes the oldest request if it is empty or the request fits.
    """
    B = len(lane_req)
    placed, done = [], []
    fill = [0] * B
    if not whole:
        for ln in range(B):
            r = lane_req[ln]
            if r < 0:
                continue
            rem = lane_rem[ln]
            f = rem if rem < T else T
            fill[ln] = f
            placed.append((r, ln, 0, f, False))
            if rem <= T:
                done.append(r)
                lane_req[ln], lane_rem[ln] = -1, 0
            else:
                lane_rem[ln] = rem - T
    if queue:
        heap = [(f, ln) for ln, f in enumerate(fill) if f < T]
        heapq.heapify(heap)
        while queue and heap:
            f, ln = heapq.heappop(heap)
            r = queue[0]
            n = int(length[r])
            if whole:
                if f > 0 and f + n > T:
                    break  # the emptiest lane cannot take the oldest request: none can
                take = n
            else:
                take = min(n, T - f)
            queue.popleft()
            placed.append((r, ln, f, take, True))
            f += take
            if take == n:
                done.append(r)
            else:
                lane_req[ln], lane_rem[ln] = r, n - take
            fill[ln] = f
            if f < T:
                heapq.heappush(heap, (f, ln))
    return fill, placed, done


__all__ = ["fill_lanes", "LanePlan", "plan_lanes", "PackedResult", "run_packed"]


@dataclass
class LanePlan:
    """``chunks[k] = (steps, placed)`` with ``placed = [(req, lane, offset, steps, new)]``."""

    lanes: int
    chunks: list


def plan_lanes(lengths, lanes: int, steps: int, whole: bool = False) -> LanePlan:
    """E-BATCH placement of sequences of ``lengths`` (all queued at once) in ``lanes`` lanes with
    chunks of at most ``steps`` steps (``whole``: whole sequences per chunk)."""
    if lanes < 1 or steps < 1:
        raise ValueError(f"plan_lanes: lanes and steps must be >= 1, got {lanes}, {steps}")
    lengths = [int(n) for n in lengths]
    if not lengths or min(lengths) < 1:
        raise ValueError("plan_lanes: need at least one sequence, every length >= 1")
    q, req, rem, chunks = deque(range(len(lengths))), [-1] * lanes, [0] * lanes, []
    while q or any(r >= 0 for r in req):
        fill, placed, _ = fill_lanes(req, rem, q, lengths, steps, whole)
        chunks.append((max(fill), placed))
    return LanePlan(lanes, chunks)


@dataclass
class PackedResult:
    """Per sequence, in input order: ``outputs[i]`` (n_i, dirs*H) last-layer hidden-format ints;
    ``h_n[i]`` / ``c_n[i]`` (layers*dirs, H) final states (``c_n`` None for the GRU)."""

    outputs: list
    h_n: list
    c_n: list | None
    plan: LanePlan


def _segments(cell, w, cfg, x, places, h_state, c_state, h0, c0, site, gemm, finals, k):
    """One direction of one layer over a chunk ``x`` (Tc, B, D), split at sequence boundaries.

    ``places``: ``[(req, lane, offset, steps, new, ends)]``; rows of ``new`` places are reset to
    ``h0``/``c0`` (H,) at ``offset``; states of ``ends`` places are stored in ``finals[req][k]``.
    Returns the outputs (Tc, B, H) and the carried state."""
    Tc, B = x.shape[0], x.shape[1]
    cuts = sorted({0, Tc} | {p[2] for p in places if p[4]} | {p[2] + p[3] for p in places if p[5]})
    out = torch.zeros(Tc, B, h_state.shape[1], dtype=torch.float64)
    for a, b in zip(cuts[:-1], cuts[1:]):
        h, c = h_state.clone(), (c_state.clone() if c_state is not None else None)
        for _r, ln, off, _n, new, _ in places:
            if new and off == a:
                h[ln] = h0
                if c is not None:
                    c[ln] = c0
        res = run_direction(cell, w, x[a:b], [B] * (b - a), cfg, h, c, site, gemm=gemm)
        out[a:b] = res.output
        h_state, c_state = res.h_n, res.c_n
        for r, ln, off, n, _new, ends in places:
            if ends and off + n == b:
                finals[r][k] = (h_state[ln].clone(), c_state[ln].clone() if c_state is not None else None)
    return out, h_state, c_state


@torch.no_grad()
def run_packed(
    module, sequences, lanes: int = 4, steps: int = 8, hx=None, reset: bool = True, whole: bool = False
) -> PackedResult:
    """Run float ``sequences`` [(n_i, input_size)] through ``module`` (an emulator ``LSTM``/``GRU``,
    any mode: its integer weights and datapath configs are used) with E-BATCH lane packing.

    ``hx``: optional float initial state shared by every sequence, ``(layers*dirs, H)`` (LSTM: a
    pair ``(h, c)``), quantized as ``module.emulate`` does. ``reset=False`` skips the boundary
    reset (hardware without E-BATCH support; for negative tests). ``whole``: pack whole sequences
    per chunk (forced for bidirectional modules).
    """
    cfgs, cell, dirs = module.datapath, module.cell, module.num_directions
    if any(c.rounding == Rounding.STOCHASTIC for c in cfgs):
        raise ValueError(
            "run_packed: datapath.rounding='stochastic' cannot be packed bit-exactly "
            "(the dither is keyed by the step index)"
        )
    weights, _ = module.int_weights()
    H, L = module.hidden_size, module.num_layers
    xs = []
    for i, x in enumerate(sequences):
        if x.dim() != 2 or x.shape[1] != module.input_size or x.shape[0] < 1:
            raise ValueError(f"run_packed: sequence {i} must be (n >= 1, {module.input_size}), got {tuple(x.shape)}")
        raw = round_to_grid(x.to(torch.float64), cfgs[0].input, cfgs[0].rounding, seed=cfgs[0].seed, site=SITE_INPUT)
        xs.append(saturate(raw, cfgs[0].input)[0])
    lens = [x.shape[0] for x in xs]
    plan = plan_lanes(lens, lanes, steps, whole or dirs == 2)
    h0, c0 = _initial_state(module, hx)
    N, B = len(xs), lanes
    pos = [0] * N  # steps of each sequence placed so far
    outputs = [torch.zeros(n, dirs * H, dtype=torch.float64) for n in lens]
    finals = [[None] * (L * dirs) for _ in range(N)]
    h_state = [torch.zeros(B, H, dtype=torch.float64) for _ in range(L)]
    c_state = [torch.zeros(B, H, dtype=torch.float64) if cell == "lstm" else None for _ in range(L)]
    for Tc, placed in plan.chunks:
        cur = torch.zeros(Tc, B, module.input_size, dtype=torch.float64)
        places, starts = [], []
        for r, ln, off, n, new in placed:
            cur[off : off + n, ln] = xs[r][pos[r] : pos[r] + n]
            starts.append(pos[r])
            pos[r] += n
            places.append((r, ln, off, n, new and reset, pos[r] == lens[r]))
        for layer in range(L):
            cfg = cfgs[layer]
            cfg.check_gemm(cur.shape[-1], H)
            if layer > 0:  # requantize the previous layer's outputs, as emulate_stack does
                raw = round_shift(
                    cur,
                    cfgs[layer - 1].hidden.frac - cfg.input.frac,
                    cfg.rounding,
                    seed=cfg.seed,
                    site=(layer * 2) * 32 + SITE_INPUT,
                )
                cur = saturate(raw, cfg.input)[0]
            k = layer * dirs
            out, h_state[layer], c_state[layer] = _segments(
                cell,
                weights[layer][0],
                cfg,
                cur,
                places,
                h_state[layer],
                c_state[layer],
                h0[k],
                c0[k],
                (layer * 2) * 32,
                module.gemm,
                finals,
                k,
            )
            if dirs == 2:  # whole sequences: flip time, mirror the places, fresh state
                mirrored = [(r, ln, Tc - off - n, n, True, True) for r, ln, off, n, _, _ in places]
                zeros = torch.zeros(B, H, dtype=torch.float64)
                rev, _, _ = _segments(
                    cell,
                    weights[layer][1],
                    cfg,
                    cur.flip(0),
                    mirrored,
                    zeros,
                    zeros.clone() if cell == "lstm" else None,
                    h0[k + 1],
                    c0[k + 1],
                    (layer * 2 + 1) * 32,
                    module.gemm,
                    finals,
                    k + 1,
                )
                out = torch.cat([out, rev.flip(0)], dim=-1)
            cur = out
        for (r, ln, off, n, _, _), s in zip(places, starts):
            outputs[r][s : s + n] = cur[off : off + n, ln]
    h_n = [torch.stack([f[0] for f in fin]) for fin in finals]
    c_n = [torch.stack([f[1] for f in fin]) for fin in finals] if cell == "lstm" else None
    return PackedResult(outputs, h_n, c_n, plan)


def _initial_state(module, hx):
    """Integer initial states per (layer, direction): lists of (H,) tensors (zeros without ``hx``)."""
    K, H, dirs = module.num_layers * module.num_directions, module.hidden_size, module.num_directions
    if hx is None:
        z = [torch.zeros(H, dtype=torch.float64) for _ in range(K)]
        return z, [t.clone() for t in z]
    h, c = hx if module.cell == "lstm" else (hx, None)
    if tuple(h.shape) != (K, H):
        raise ValueError(f"run_packed: hx must be (layers*dirs={K}, {H}), got {tuple(h.shape)}")
    cfg = [module.datapath[k // dirs] for k in range(K)]
    hq = [quantize_state(h[k], cfg[k].hidden, cfg[k], state_site(k // dirs, k % dirs, "h"))[0] for k in range(K)]
    cq = (
        [quantize_state(c[k], cfg[k].cell, cfg[k], state_site(k // dirs, k % dirs, "c"))[0] for k in range(K)]
        if c is not None
        else [torch.zeros(H, dtype=torch.float64) for _ in range(K)]
    )
    return hq, cq
