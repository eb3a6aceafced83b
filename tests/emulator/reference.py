"""An independent, deliberately slow restatement of docs/datapath.md in plain Python integers.

Nothing here imports the emulator's arithmetic: formats are (bits, frac) tuples, rounding is
done with ``>>``, masks and ``fractions.Fraction``, the activation table is generated from the
spec, and every dot product is a Python ``sum`` of int products. One sequence at a time.
"""

from __future__ import annotations

import math
from fractions import Fraction

M32 = 0xFFFFFFFF
H1, H2, H3 = 0x7FEB352D, 0x2C1B3C6D, 0x297A2D39
SUBBITS = 20


def qrange(fmt):
    bits, _ = fmt
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def sat(v, fmt, counter, name):
    lo, hi = qrange(fmt)
    if v < lo or v > hi:
        counter[name] = counter.get(name, 0) + 1
        return lo if v < lo else hi
    return v


def mix(x):
    x ^= x >> 16
    x = (x * H1) & M32
    x ^= x >> 15
    x = (x * H2) & M32
    x ^= x >> 16
    return x


def dither(v, s, seed, site, step, j):
    key = ((seed & M32) * H3 + site * 0x9E37 + step) & M32
    h = mix((v & M32) ^ key)
    h = mix(h ^ ((j * H3) & M32))
    return h & ((1 << s) - 1)


def rshift(v, s, mode, seed=0, site=0, step=0, j=0):
    """Integer v * 2**-s rounded by mode (s <= 0: exact left shift)."""
    if s <= 0:
        return v << (-s)
    if mode == "floor":
        return v >> s
    half = 1 << (s - 1)
    if mode == "nearest_away":
        return (v + half) >> s if v >= 0 else -((-v + half) >> s)
    if mode == "nearest_even":
        q = v >> s
        r = v - (q << s)
        if r > half or (r == half and q & 1):
            q += 1
        return q
    if mode == "stochastic":
        return (v + dither(v, s, seed, site, step, j)) >> s
    raise ValueError(mode)


def quantize_real(x: float, fmt, mode, seed=0, site=0, j=0, counter=None, name="q"):
    bits, frac = fmt
    lo, hi = qrange(fmt)
    v = Fraction(x) * (1 << frac)
    v = min(max(v, Fraction(lo - 2)), Fraction(hi + 2))
    if mode == "stochastic":
        r = math.floor(v * (1 << SUBBITS))
        q = rshift(r, SUBBITS, mode, seed, site, 0, j)
    elif mode == "floor":
        q = math.floor(v)
    elif mode == "nearest_even":
        q = round(v)  # Fraction.__round__: half to even
    else:
        q = math.floor(abs(v) + Fraction(1, 2)) * (1 if v >= 0 else -1)
    return sat(q, fmt, counter if counter is not None else {}, name)


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


FUN = {"sigmoid": _sigmoid, "tanh": math.tanh}


def table(func, fin, fout, k, interp):
    bits, frac = fin
    s = bits - k
    lo_in, _ = qrange(fin)
    lo, hi = qrange(fout)
    n = (1 << k) + (1 if interp else 0)
    half = 0 if interp else (1 << s) // 2
    return [
        min(max(round(FUN[func]((lo_in + i * (1 << s) + half) * 2.0**-frac) * 2.0 ** fout[1]), lo), hi)
        for i in range(n)
    ]


def act(func, q, fin, fout, cfg, site, step, j, cnt):
    k, interp = cfg["act_index_bits"], cfg["act_interp"]
    T = table(func, fin, fout, k, interp)
    s = fin[0] - k
    u = q - qrange(fin)[0]
    idx = u >> s
    if not interp or s == 0:
        return sat(T[idx], fout, cnt, "act")
    r = u & ((1 << s) - 1)
    y = T[idx] + rshift((T[idx + 1] - T[idx]) * r, s, cfg["rounding"], cfg["seed"], site, step, j)
    return sat(y, fout, cnt, "act")


def dot(row, vec):
    return sum(a * b for a, b in zip(row, vec))


def lstm_sequence(W_ih, W_hh, b, xs, cfg, site_base=0, h0=None, c0=None, W_hr=None):
    """One LSTM direction over one sequence. Weights in PyTorch row order [i, f, g, o] as ints,
    ``b`` the merged bias ints; ``xs``: list of input-format int vectors; ``W_hr``: the projection
    (P rows of H ints) or None. Returns per-step (h, c, [i, f, g, o]) and saturation counts;
    with a projection ``h`` is the projected state (P entries)."""
    F = cfg["fmt"]
    H = len(W_hh) // 4
    fw, fx, fh, fb = F["weight"][1], F["input"][1], F["hidden"][1], F["bias"][1]
    fz, fa, fc = F["preact"][1], F["act"][1], F["cell"][1]
    Fa = fw + max(fx, fh)
    acc_fmt = (cfg["acc_bits"], Fa)
    mode, seed = cfg["rounding"], cfg["seed"]
    order = list(range(0, H)) + list(range(H, 2 * H)) + list(range(3 * H, 4 * H)) + list(range(2 * H, 3 * H))
    h = list(h0) if h0 else [0] * len(W_hh[0])
    c = list(c0) if c0 else [0] * H
    cnt, steps = {}, []
    for t, x in enumerate(xs):
        z = []
        for pos, row in enumerate(order):  # datapath order [i, f, o, g]
            acc = (dot(W_ih[row], x) << (Fa - fw - fx)) + (dot(W_hh[row], h) << (Fa - fw - fh)) + (b[row] << (Fa - fb))
            acc = sat(acc, acc_fmt, cnt, "acc")
            z.append(sat(rshift(acc, Fa - fz, mode, seed, site_base + 0, t, pos), F["preact"], cnt, "preact"))
        sg = [act("sigmoid", z[p], F["preact"], F["act"], cfg, site_base + 3, t, p, cnt) for p in range(3 * H)]
        g = [act("tanh", z[3 * H + j], F["preact"], F["act"], cfg, site_base + 4, t, j, cnt) for j in range(H)]
        i, f, o = sg[:H], sg[H : 2 * H], sg[2 * H :]
        fm = max(2 * fa, fa + fc)
        c = [
            sat(
                rshift(
                    (f[j] * c[j] << (fm - fa - fc)) + (i[j] * g[j] << (fm - 2 * fa)),
                    fm - fc,
                    mode,
                    seed,
                    site_base + 1,
                    t,
                    j,
                ),
                F["cell"],
                cnt,
                "cell",
            )
            for j in range(H)
        ]
        tc = [act("tanh", c[j], F["cell"], F["act"], cfg, site_base + 5, t, j, cnt) for j in range(H)]
        h = [
            sat(rshift(o[j] * tc[j], 2 * fa - fh, mode, seed, site_base + 2, t, j), F["hidden"], cnt, "hidden")
            for j in range(H)
        ]
        if W_hr is not None:  # the projection: a third dot product, rounded at point 14, class proj
            h = [
                sat(
                    rshift(
                        sat(dot(row, h) << (Fa - fw - fh), acc_fmt, cnt, "acc"),
                        Fa - fh,
                        mode,
                        seed,
                        site_base + 14,
                        t,
                        k,
                    ),
                    F["hidden"],
                    cnt,
                    "proj",
                )
                for k, row in enumerate(W_hr)
            ]
        steps.append((list(h), list(c), i + f + g + o))
    return steps, cnt


def rnn_sequence(W_ih, W_hh, b, xs, cfg, nonlinearity, site_base=0, h0=None):
    """One Elman RNN direction over one sequence: ``z = sat_preact(rshift(sat_acc(W_ih x + W_hh h +
    b)))``; tanh: ``h = sat_hidden(rshift(tanh-unit(z), fa - fh))``; relu: ``h =
    sat_hidden(rshift(max(0, z), fz - fh))``. Returns per-step (h, None, [a]) and saturation counts."""
    F = cfg["fmt"]
    H = len(W_hh)
    fw, fx, fh, fb = F["weight"][1], F["input"][1], F["hidden"][1], F["bias"][1]
    fz, fa = F["preact"][1], F["act"][1]
    Fa = fw + max(fx, fh)
    acc_fmt = (cfg["acc_bits"], Fa)
    mode, seed = cfg["rounding"], cfg["seed"]
    h = list(h0) if h0 else [0] * H
    cnt, steps = {}, []
    for t, x in enumerate(xs):
        a = []
        for j in range(H):
            acc = (dot(W_ih[j], x) << (Fa - fw - fx)) + (dot(W_hh[j], h) << (Fa - fw - fh)) + (b[j] << (Fa - fb))
            z = sat(
                rshift(sat(acc, acc_fmt, cnt, "acc"), Fa - fz, mode, seed, site_base + 0, t, j),
                F["preact"],
                cnt,
                "preact",
            )
            a.append(
                act("tanh", z, F["preact"], F["act"], cfg, site_base + 4, t, j, cnt)
                if nonlinearity == "tanh"
                else max(0, z)
            )
        f_from = fa if nonlinearity == "tanh" else fz
        h = [
            sat(rshift(v, f_from - fh, mode, seed, site_base + 2, t, j), F["hidden"], cnt, "hidden")
            for j, v in enumerate(a)
        ]
        steps.append((list(h), None, a))
    return steps, cnt


def gru_sequence(W_ih, W_hh, bx, bh, xs, cfg, site_base=0, h0=None):
    """One GRU direction over one sequence (PyTorch order [r, z, n]); ``bx`` = merged r,z biases
    and b_in, ``bh`` = zeros for r,z and b_hn. Returns per-step (h, None, [r, z, n])."""
    F = cfg["fmt"]
    H = len(W_hh[0])
    fw, fx, fh, fb = F["weight"][1], F["input"][1], F["hidden"][1], F["bias"][1]
    fz, fa = F["preact"][1], F["act"][1]
    Fa = fw + max(fx, fh)
    acc_fmt = (cfg["acc_bits"], Fa)
    mode, seed = cfg["rounding"], cfg["seed"]
    h = list(h0) if h0 else [0] * H
    cnt, steps = {}, []
    for t, x in enumerate(xs):
        ax = [(dot(W_ih[j], x) << (Fa - fw - fx)) + (bx[j] << (Fa - fb)) for j in range(3 * H)]
        ah = [(dot(W_hh[j], h) << (Fa - fw - fh)) + (bh[j] << (Fa - fb)) for j in range(3 * H)]
        rz = []
        for p in range(2 * H):
            acc = sat(ax[p] + ah[p], acc_fmt, cnt, "acc")
            zp = sat(rshift(acc, Fa - fz, mode, seed, site_base + 0, t, p), F["preact"], cnt, "preact")
            rz.append(act("sigmoid", zp, F["preact"], F["act"], cfg, site_base + 3, t, p, cnt))
        r, zg = rz[:H], rz[H:]
        n = []
        for j in range(H):
            axn = sat(ax[2 * H + j], acc_fmt, cnt, "acc")
            ahn = sat(ah[2 * H + j], acc_fmt, cnt, "acc")
            qxn = sat(rshift(axn, Fa - fz, mode, seed, site_base + 6, t, j), F["preact"], cnt, "preact")
            qhn = sat(rshift(ahn, Fa - fz, mode, seed, site_base + 7, t, j), F["preact"], cnt, "preact")
            pre = sat(qxn + rshift(r[j] * qhn, fa, mode, seed, site_base + 8, t, j), F["preact"], cnt, "preact")
            n.append(act("tanh", pre, F["preact"], F["act"], cfg, site_base + 4, t, j, cnt))
        fg = max(fa, fh)
        h = [
            sat(
                rshift(
                    (((1 << fa) - zg[j]) * n[j] << (fg - fa)) + (zg[j] * h[j] << (fg - fh)),
                    fa + fg - fh,
                    mode,
                    seed,
                    site_base + 2,
                    t,
                    j,
                ),
                F["hidden"],
                cnt,
                "hidden",
            )
            for j in range(H)
        ]
        steps.append((list(h), None, r + zg + n))
    return steps, cnt


def quantize_params(cell, w_ih, w_hh, b_ih, b_hh, cfg, site, w_hr=None):
    """A direction's float parameters (PyTorch layout, nested lists) -> ints in PyTorch row order:
    ``(W_ih, W_hh, b_x, b_h)`` (and ``W_hr`` last when a projection is given, at point ``site + 4``,
    i.e. 13). The dither index ``j`` of a weight is its column, of a bias entry its index in
    PyTorch order (before the LSTM gate permutation); ``step`` is 0."""
    F, mode, seed = cfg["fmt"], cfg["rounding"], cfg["seed"]
    H = len(w_hh) // {"lstm": 4, "gru": 3}.get(cell, 1)
    qm = lambda M: [[quantize_real(v, F["weight"], mode, seed, site, j) for j, v in enumerate(row)] for row in M]
    qv = lambda v: [quantize_real(x, F["bias"], mode, seed, site, j) for j, x in enumerate(v)]
    b_ih = b_ih if b_ih is not None else [0.0] * len(w_ih)
    b_hh = b_hh if b_hh is not None else [0.0] * len(w_ih)
    if cell != "gru":  # LSTM, Elman RNN: one merged bias
        bx, bh = [a + b for a, b in zip(b_ih, b_hh)], [0.0] * len(b_ih)
    else:  # r, z merged; n keeps b_in (x part) and b_hn (gated by r) apart
        bx = [a + b for a, b in zip(b_ih[: 2 * H], b_hh[: 2 * H])] + list(b_ih[2 * H :])
        bh = [0.0] * (2 * H) + list(b_hh[2 * H :])
    out = (qm(w_ih), qm(w_hh), qv(bx), qv(bh))
    if w_hr is None:
        return out
    qr = [[quantize_real(v, F["weight"], mode, seed, site + 4, j) for j, v in enumerate(row)] for row in w_hr]
    return out + (qr,)


def requantize(v, fmt_from, fmt_to, cfg, site, cnt):
    """An inter-layer step: one output vector (``fmt_from`` ints) into the next layer's input
    format, with that layer's rounding and seed, ``step`` 0, ``j`` = feature; saturations count as
    ``input``."""
    s = fmt_from[1] - fmt_to[1]
    return [sat(rshift(x, s, cfg["rounding"], cfg["seed"], site, 0, j), fmt_to, cnt, "input") for j, x in enumerate(v)]


def stack_sequence(cell, weights, cfgs, xs, h0=None, c0=None):
    """A whole stack over one sequence. ``weights[l][d]`` = ``(W_ih, W_hh, b_x, b_h[, W_hr])`` ints in PyTorch
    row order; ``cfgs[l]``: the layer's reference config; ``xs``: layer 0's input-format ints (the
    sequence's own length); ``h0``/``c0``: ``[l][d]`` int lists or None (zeros).

    Returns ``(layers, counts)`` with ``layers[l] = {"x": layer input vectors, "sat": {"input": n},
    d: per-step (h, c, gates) in time order, ("sat", d): that direction's saturation counts}``;
    the reverse direction has run from the last element back. ``counts``: totals."""
    cnt, layers, cur = {}, [], [list(v) for v in xs]
    for layer, cfg in enumerate(cfgs):
        n_in = {}
        if layer > 0:
            prev = cfgs[layer - 1]["fmt"]["hidden"]
            cur = [requantize(v, prev, cfg["fmt"]["input"], cfg, 64 * layer + 10, n_in) for v in cur]
        rec = {"x": cur, "sat": n_in}
        cnt["input"] = cnt.get("input", 0) + n_in.get("input", 0)
        for d, (W_ih, W_hh, bx, bh, *W_hr) in enumerate(weights[layer]):
            seq = cur if d == 0 else cur[::-1]
            site_base = (2 * layer + d) * 32
            h_init = h0[layer][d] if h0 is not None else None
            if cell == "lstm":
                c_init = c0[layer][d] if c0 is not None else None
                steps, n = lstm_sequence(W_ih, W_hh, bx, seq, cfg, site_base, h_init, c_init, *W_hr)
            elif cell == "gru":
                steps, n = gru_sequence(W_ih, W_hh, bx, bh, seq, cfg, site_base, h_init)
            else:
                steps, n = rnn_sequence(W_ih, W_hh, bx, seq, cfg, cell.split("_")[1], site_base, h_init)
            for k, v in n.items():
                cnt[k] = cnt.get(k, 0) + v
            rec[d], rec[("sat", d)] = (steps if d == 0 else steps[::-1]), n
        layers.append(rec)
        dirs = len(weights[layer])
        cur = [sum((rec[d][t][0] for d in range(dirs)), []) for t in range(len(cur))]
    return layers, cnt
