"""Does the binarized twin predict how much a neuron's output changes? (the fuzzy-memoization claim)

Runs a recurrent stack in emulate mode with memoization *recording only* (``theta = 0``: nothing is
reused, outputs are the plain datapath's) and pairs, for every gate neuron, active row and step
``t >= 1`` of every (layer, direction):

* ``|db|``   = |b_t - b_{t-1}|                      the BNN output change (integers),
* ``rel_db`` = |b_t - b_{t-1}| / max(|b_{t-1}|, 1)   the relative change the default rule tests,
* ``|da|``   = |a_t - a_{t-1}|                      the true gate output change (real units),

and also the levels ``b_t`` vs the true pre-activation ``z_t``. It prints and writes (JSON) Pearson
and Spearman correlations per (layer, direction) and per layer, and a hexbin plot of ``rel_db`` vs
``|da|`` per layer. With ``--sweep`` it also measures, on a speech checkpoint, the computations
avoided and the WER for a few thresholds and predictors (bnn, oracle, delta).
``scripts/bnn_correlation.py`` is the same command.

    python -m rnnaccel.apps.bnn_correlation --checkpoint checkpoints/digits_blstm.pt --limit 100 --out runs/memo
    python -m rnnaccel.apps.bnn_correlation --checkpoint checkpoints/digits_blstm.pt --limit 100 \
        --sweep 0 0.05 0.1 0.2 0.4 --predictors bnn oracle delta --out runs/memo
    python -m rnnaccel.apps.bnn_correlation --random lstm --out /tmp/memo     # tiny random model, random inputs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from ..emulator import GRU, LSTM, Trace
from ..emulator.memo import MemoConfig, memo_factory, memo_stats

PAIRS = (("rel_db", "da"), ("db", "da"), ("b", "z"))


def rankdata(a: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get their average rank (as scipy.stats.rankdata 'average')."""
    _, inv, cnt = np.unique(a, return_inverse=True, return_counts=True)
    return (np.cumsum(cnt) - (cnt - 1) / 2.0)[inv]


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(rankdata(x), rankdata(y))


@torch.no_grad()
def collect(
    rnn, x: torch.Tensor, lengths: torch.Tensor, sign_zero: int = 1, max_points: int = 200_000, seed: int = 0
) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """Paired samples per (layer, direction) of an emulator ``LSTM``/``GRU`` on ``x`` (B, T, D).

    Returns ``{(layer, dir): {"db", "rel_db", "da", "b", "z": (P,) float64}}`` with at most
    ``max_points`` samples each (uniformly subsampled with ``seed``); ``da``, ``z`` in real units.
    """
    f = memo_factory(MemoConfig(predictor="bnn", theta=0.0, sign_zero=sign_zero), record=True)
    saved_units, saved_mode = rnn.units, rnn.mode
    rnn.units, rnn.mode = [f], "emulate"
    try:
        rnn.emulate(x, lengths)
    finally:
        rnn.units, rnn.mode = saved_units, saved_mode
    rng = np.random.default_rng(seed)
    out = {}
    for key, u in f.units.items():
        dc = u.ctx.cfg
        b, a, z = (u.rec[k].cpu().numpy() for k in ("sig", "a", "z"))  # (T, B, GH), NaN where inactive
        a, z = a * 2.0**-dc.act.frac, z * 2.0**-dc.preact.frac
        both = ~np.isnan(b[1:]) & ~np.isnan(b[:-1])  # consecutive active steps of a row
        db = np.abs(b[1:] - b[:-1])[both]
        s = {"db": db, "rel_db": db / np.maximum(np.abs(b[:-1][both]), 1), "da": np.abs(a[1:] - a[:-1])[both]}
        lv = ~np.isnan(b)
        s["b"], s["z"] = b[lv], z[lv]
        for fam in (("db", "rel_db", "da"), ("b", "z")):
            n = len(s[fam[0]])
            if n > max_points:
                idx = rng.choice(n, max_points, replace=False)
                for k in fam:
                    s[k] = s[k][idx]
        out[key] = s
    return out


def merge(parts: list[dict]) -> dict:
    """Concatenate the samples of several :func:`collect` calls (e.g. batches)."""
    out: dict = {}
    for p in parts:
        for key, s in p.items():
            d = out.setdefault(key, {k: [] for k in s})
            for k, v in s.items():
                d[k].append(v)
    return {key: {k: np.concatenate(v) for k, v in d.items()} for key, d in out.items()}


def correlations(samples: dict) -> dict:
    """Pearson/Spearman of every pair in :data:`PAIRS`, per ``"L<l>.d<d>"`` and per ``"L<l>"``."""
    groups: dict[str, list] = {}
    for (layer, d), s in sorted(samples.items()):
        groups[f"L{layer}.d{d}"] = [s]
        groups.setdefault(f"L{layer}", []).append(s)
    res = {}
    for name, ss in groups.items():
        cat = {k: np.concatenate([s[k] for s in ss]) for k in ss[0]}
        res[name] = {"changes": int(len(cat["da"])), "levels": int(len(cat["b"]))}
        for xk, yk in PAIRS:
            res[name][f"{xk}~{yk}"] = {"pearson": pearson(cat[xk], cat[yk]), "spearman": spearman(cat[xk], cat[yk])}
    return res


def plot(samples: dict, path: str | Path, title: str = "") -> None:
    """Hexbin of ``log10(1 + rel_db)`` (x) vs ``|da|`` (y), one panel per layer (directions pooled);
    the correlations in the titles are of the untransformed values. Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers = sorted({k[0] for k in samples})
    fig = Figure(figsize=(4.2 * len(layers), 3.8))
    FigureCanvasAgg(fig)
    for i, layer in enumerate(layers):
        ss = [s for k, s in samples.items() if k[0] == layer]
        x, y = np.concatenate([s["rel_db"] for s in ss]), np.concatenate([s["da"] for s in ss])
        ax = fig.add_subplot(1, len(layers), i + 1)
        hb = ax.hexbin(np.log10(1 + x), y, gridsize=40, bins="log", mincnt=1, cmap="viridis")
        fig.colorbar(hb, ax=ax, label="samples (log)")
        ax.set_xlabel("log10(1 + |b_t - b_t-1| / max(|b_t-1|, 1))  (BNN change)")
        ax.set_ylabel("true output change |a_t - a_t-1|")
        ax.set_title(f"layer {layer}: spearman {spearman(x, y):.2f}, pearson {pearson(x, y):.2f}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def random_case(cell: str, seed: int = 0, B: int = 6, T: int = 40, D: int = 8, H: int = 16):
    """A tiny random emulator stack and slowly varying random inputs (for tests and smoke runs)."""
    torch.manual_seed(seed)
    rnn = (LSTM if cell == "lstm" else GRU)(D, H, num_layers=2, bidirectional=True, mode="emulate")
    x = torch.randn(B, T, D).cumsum(1) * 0.25
    lengths = torch.randint(T // 2, T + 1, (B,))
    lengths[0] = T
    return rnn, x, lengths


def sweep(model, ds, vocab, thetas, predictors, batch_size: int = 50, hw: str | None = "epur") -> list[dict]:
    """WER and computations avoided per (predictor, theta) on a speech model (emulate mode)."""
    from ..hardware import compare, estimate, load_hw
    from .evaluate import score

    rows, base_cost = [], None
    for pred, th in [("off", 0.0)] + [(p, t) for p in predictors for t in thetas]:
        model.rnn.units = [] if pred == "off" else [memo_factory(MemoConfig(predictor=pred, theta=th))]
        tr = Trace()
        m = score(model, ds, vocab, "emulate", batch_size, trace=tr)
        st = memo_stats(tr)["total"]
        row = {
            "predictor": pred,
            "theta": th,
            "wer": m["wer"],
            "cer": m.get("cer"),
            **{k: st[k] for k in ("reuse_fraction", "mac_fraction_skipped", "weight_fraction_skipped")},
        }
        if hw:
            rep = estimate(tr, load_hw(hw))
            base_cost = base_cost or rep
            c = compare(base_cost, rep)
            row.update(energy_saving=c["energy_saving"], speedup=c["speedup"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    model.rnn.units = []
    return rows


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="speech checkpoint (rnnaccel.models.checkpoint format)")
    src.add_argument("--random", choices=("lstm", "gru"), help="tiny random model and inputs instead")
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=100, help="first N utterances of the split")
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--max-points", type=int, default=200_000, help="samples kept per (layer, dir) and batch")
    ap.add_argument("--sign-zero", type=int, default=1, choices=(1, -1))
    ap.add_argument("--sweep", type=float, nargs="*", default=None, help="thetas for the WER sweep")
    ap.add_argument("--predictors", nargs="+", default=["bnn", "oracle", "delta"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/memo", help="output directory (correlation.json, hexbin.png)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    args = list(argv if argv is not None else sys.argv[1:])
    result: dict = {"command": " ".join(["python -m rnnaccel.apps.bnn_correlation", *args])}
    if a.random:
        rnn, x, lengths = random_case(a.random)
        samples, label = collect(rnn, x, lengths, a.sign_zero, a.max_points), f"random {a.random}"
    else:
        from ..models.checkpoint import load_model
        from ..models.speech import stack_frames
        from .data import batches, checkpoint_data, load_split

        model, vocab, ck = load_model(a.checkpoint)
        if ck["datapath"] is None:
            print("note: the checkpoint stores no datapath; using the default DatapathConfig", file=sys.stderr)
        ds = load_split(checkpoint_data(ck), a.split).subset(a.limit)  # the checkpoint's data settings
        parts = []
        for bt in batches(ds, a.batch_size):
            c = model.config
            xs, ls = stack_frames(bt.features, bt.feature_lengths, c.stack, c.stride)
            parts.append(collect(model.rnn, xs, ls, a.sign_zero, a.max_points))
        samples, label = merge(parts), f"{Path(a.checkpoint).name}, {a.split}[:{len(ds)}]"
        if a.sweep is not None:
            result["sweep"] = sweep(model, ds, vocab, a.sweep, a.predictors, a.batch_size)
    result["source"] = label
    result["correlation"] = correlations(samples)
    plot(samples, out / "hexbin.png", title=label)
    (out / "correlation.json").write_text(json.dumps(result, indent=2))
    for name, r in sorted(result["correlation"].items()):
        print(
            f"{name:7s} n={r['changes']:8d}  "
            + "  ".join(
                f"{p}: pearson {r[p]['pearson']:+.3f} spearman {r[p]['spearman']:+.3f}" for p in ("rel_db~da", "b~z")
            )
        )
    print(f"wrote {out / 'correlation.json'} and {out / 'hexbin.png'}")
    return result


if __name__ == "__main__":
    main()
