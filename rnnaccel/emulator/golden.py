"""Golden vectors for an RTL testbench: integer weights, inputs, formats and expected outputs.

    python -m rnnaccel.emulator.golden --cell lstm --input-size 8 --hidden-size 16 \
        --steps 20 --batch 2 --seed 0 --out golden_lstm.npz

The NPZ layout is documented in ``docs/datapath.md`` ("Golden vectors"). Everything is derived
from ``--seed`` (weights, inputs, lengths), so the same command writes the same bytes.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .activation import activation_table
from .config import TENSOR_CLASSES, DatapathConfig
from .datapath import SITE_INPUT
from .formats import quantize
from .layers import GRU, LSTM

__all__ = ["make_golden", "write_golden", "main"]


def make_golden(cell: str = "lstm", input_size: int = 8, hidden_size: int = 16, steps: int = 20, batch: int = 2,
                seed: int = 0, cfg: DatapathConfig | None = None, weight_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Build one single-layer, unidirectional golden case as a dict of arrays."""
    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
    cfg = cfg or DatapathConfig()
    g = torch.Generator().manual_seed(seed)
    m = (LSTM if cell == "lstm" else GRU)(input_size, hidden_size, mode="emulate", datapath=cfg)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1).float() * weight_scale
                    / hidden_size ** 0.5)
    x = torch.randn(batch, steps, input_size, generator=g, dtype=torch.float64).float()
    lengths = torch.randint(max(1, steps // 2), steps + 1, (batch,), generator=g)
    lengths[0] = steps
    res = m.emulate(x, lengths, record_internals=True)
    (w,), _ = m.int_weights()
    w = w[0]
    xq, _ = quantize(torch.where((torch.arange(steps)[None, :] < lengths[:, None])[..., None], x, 0.0), cfg.input,
                     cfg.rounding, seed=cfg.seed, site=SITE_INPUT)
    rec = res.internals[(0, 0)]
    i64 = lambda t: t.to(torch.int64).cpu().numpy()
    out = {
        "cell": np.array(cell),
        "config": np.array(json.dumps(cfg.to_dict())),
        "w_ih": i64(w.w_ih), "w_hh": i64(w.w_hh), "b_x": i64(w.b_x), "b_h": i64(w.b_h),
        "x": i64(xq), "lengths": i64(lengths),
        "h": i64(rec["h"]), "gates": i64(rec["gates"]), "h_n": i64(res.h_n[0]),
        "saturations": np.array(json.dumps(res.saturations)),
    }
    if cell == "lstm":
        out["c"] = i64(rec["cells"])
        out["c_n"] = i64(res.c_n[0])
    k, interp = cfg.act_index_bits, cfg.act_interp
    out["table_sigmoid"] = np.array(activation_table("sigmoid", cfg.preact, cfg.act, k, interp), dtype=np.int64)
    out["table_tanh"] = np.array(activation_table("tanh", cfg.preact, cfg.act, k, interp), dtype=np.int64)
    out["table_tanh_cell"] = np.array(activation_table("tanh", cfg.cell, cfg.act, k, interp), dtype=np.int64)
    for name in TENSOR_CLASSES:
        f = getattr(cfg, name)
        out[f"fmt_{name}"] = np.array([f.bits, f.frac], dtype=np.int64)
    out["fmt_acc"] = np.array([cfg.acc_bits, cfg.acc_frac], dtype=np.int64)
    return out


def write_golden(path: str | Path, **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = make_golden(**kw)
    with open(path, "wb") as fh:  # np.savez (uncompressed, fixed key order) writes identical bytes per seed
        np.savez(fh, **arrays)
    return path


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    ap.add_argument("--input-size", type=int, default=8)
    ap.add_argument("--hidden-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", type=str, default=None,
                    help="JSON file with DatapathConfig fields (formats as {bits, frac}); default 16-bit")
    ap.add_argument("--weight-scale", type=float, default=1.0, help="scale weights up to exercise saturation")
    ap.add_argument("--out", type=str, required=True)
    a = ap.parse_args(argv)
    cfg = DatapathConfig.from_dict(json.loads(Path(a.config).read_text())) if a.config else DatapathConfig()
    p = write_golden(a.out, cell=a.cell, input_size=a.input_size, hidden_size=a.hidden_size, steps=a.steps,
                     batch=a.batch, seed=a.seed, cfg=cfg, weight_scale=a.weight_scale)
    print(f"wrote {p}")


if __name__ == "__main__":
    main()
