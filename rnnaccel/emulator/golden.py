"""Golden vectors for an RTL testbench: integer weights, inputs, formats and expected outputs of a
whole (multi-layer, optionally bidirectional) LSTM or GRU stack.

    python -m rnnaccel.emulator.golden --cell lstm --input-size 8 --hidden-size 16 \
        --steps 20 --batch 2 --seed 0 --layers 2 --bidirectional --out golden_lstm.npz

The NPZ layout is documented in ``docs/datapath.md`` ("Golden vectors"). Everything is derived
from ``--seed`` (weights, inputs, lengths, initial states), so the same command writes the same bytes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .activation import activation_table
from .config import TENSOR_CLASSES, DatapathConfig, per_layer_configs
from .datapath import SITE_INPUT
from .formats import quantize, round_shift, saturate
from .layers import GRU, LSTM
from .trace import Trace

__all__ = ["make_golden", "write_golden", "exact_sum_bits", "load_config", "main"]

SAT_NAMES = ("input", "acc", "preact", "cell", "hidden")


def exact_sum_bits(cfg: DatapathConfig, input_size: int, hidden_size: int) -> int:
    """Signed width that holds every partial and full gate sum of §5/§6 exactly, in accumulator LSBs:
    ``bound.bit_length() + 1`` for the worst-case magnitude of the ``input_size`` + ``hidden_size``
    products and two biases. An RTL accumulator this wide, clamped once to ``acc_bits`` at the end,
    gives the datapath's bits whatever the order of addition."""
    fa, w, b = cfg.acc_frac, cfg.weight, cfg.bias
    bound = (
        input_size * w.max_abs * cfg.input.max_abs * 2 ** (fa - w.frac - cfg.input.frac)
        + hidden_size * w.max_abs * cfg.hidden.max_abs * 2 ** (fa - w.frac - cfg.hidden.frac)
        + 2 * b.max_abs * 2 ** (fa - b.frac)
    )
    return bound.bit_length() + 1


def make_golden(
    cell: str = "lstm",
    input_size: int = 8,
    hidden_size: int = 16,
    steps: int = 20,
    batch: int = 2,
    seed: int = 0,
    cfg: DatapathConfig | list[DatapathConfig] | None = None,
    weight_scale: float = 1.0,
    layers: int = 1,
    bidirectional: bool = False,
    init_state: bool = False,
) -> dict[str, np.ndarray]:
    """Build one golden case of a ``layers``-deep stack as a dict of integer arrays (keys in §9)."""
    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
    cfgs = per_layer_configs(cfg if cfg is not None else DatapathConfig(), layers)
    g = torch.Generator().manual_seed(seed)
    m = (LSTM if cell == "lstm" else GRU)(
        input_size, hidden_size, layers, bidirectional=bidirectional, batch_first=True, mode="emulate", datapath=cfgs
    )
    _random_parameters(m, g, weight_scale)
    x = torch.randn(batch, steps, input_size, generator=g, dtype=torch.float64).float()
    lengths = torch.randint(max(1, steps // 2), steps + 1, (batch,), generator=g)
    lengths[0] = steps
    h0, c0 = _initial_states(m, batch, g) if init_state else (None, None)
    hx = None if h0 is None else (_on_grid(h0, cfgs, "hidden", m), _on_grid(c0, cfgs, "cell", m))
    if hx is not None and cell == "gru":
        hx = hx[0]
    trace = Trace()
    res = m.emulate(x, lengths, hx, trace=trace, record_internals=True)
    weights, weight_sats = m.int_weights()
    dirs = m.num_directions
    i64 = lambda t: t.to(torch.int64).cpu().numpy()
    out = {
        "cell": np.array(cell),
        "layers": np.array(layers),
        "directions": np.array(dirs),
        "lengths": i64(lengths),
        "saturations": np.array(json.dumps(_saturations(res.saturations, trace))),
        "weight_bias_saturations": np.array(int(weight_sats)),
    }
    x_l = _layer0_input(x, lengths, cfgs[0])
    for layer, c in enumerate(cfgs):
        if layer > 0:
            x_l = _requantize(res.internals, layer, dirs, cfgs[layer - 1], c)
        out.update(_layer_arrays(layer, c, x_l, hidden_size, dirs))
        for d in range(dirs):
            k = layer * dirs + d
            rec, w, p = res.internals[(layer, d)], weights[layer][d], f"l{layer}d{d}_"
            out.update(
                {
                    p + "w_ih": i64(w.w_ih),
                    p + "w_hh": i64(w.w_hh),
                    p + "b_x": i64(w.b_x),
                    p + "b_h": i64(w.b_h),
                    p + "h0": i64(_state_or_zeros(h0, k, batch, hidden_size)),
                    p + "h": i64(rec["h"]),
                    p + "gates": i64(rec["gates"]),
                    p + "h_n": i64(res.h_n[k]),
                }
            )
            if cell == "lstm":
                out.update(
                    {
                        p + "c0": i64(_state_or_zeros(c0, k, batch, hidden_size)),
                        p + "c": i64(rec["cells"]),
                        p + "c_n": i64(res.c_n[k]),
                    }
                )
    return out


def _random_parameters(m, g: torch.Generator, weight_scale: float) -> None:
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(
                (torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1).float()
                * weight_scale
                / m.hidden_size**0.5
            )


def _initial_states(m, batch: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random integer h0 (hidden format) and c0 (cell format) per (layer, direction), full range."""
    n, H = m.num_layers * m.num_directions, m.hidden_size
    h0, c0 = torch.zeros(n, batch, H, dtype=torch.int64), torch.zeros(n, batch, H, dtype=torch.int64)
    for k in range(n):
        cfg = m.datapath[k // m.num_directions]
        h0[k] = torch.randint(cfg.hidden.qmin, cfg.hidden.qmax + 1, (batch, H), generator=g)
        c0[k] = torch.randint(cfg.cell.qmin, cfg.cell.qmax + 1, (batch, H), generator=g)
    return h0, c0


def _on_grid(q: torch.Tensor, cfgs: list[DatapathConfig], cls: str, m) -> torch.Tensor:
    """Integers as the float values ``q * 2**-frac`` they mean: grid points, which every rounding
    mode maps back to ``q`` unchanged (so the file's integer states are the ones the run used)."""
    scale = torch.tensor(
        [2.0 ** -getattr(cfgs[k // m.num_directions], cls).frac for k in range(q.shape[0])], dtype=torch.float64
    )
    return q.to(torch.float64) * scale[:, None, None]


def _state_or_zeros(s: torch.Tensor | None, k: int, batch: int, hidden: int) -> torch.Tensor:
    return s[k] if s is not None else torch.zeros(batch, hidden, dtype=torch.int64)


def _layer0_input(x: torch.Tensor, lengths: torch.Tensor, cfg: DatapathConfig) -> torch.Tensor:
    """Layer 0's integer input: real x quantized into ``input`` (site 10), 0 past each length."""
    valid = (torch.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
    q, _ = quantize(torch.where(valid, x, 0.0), cfg.input, cfg.rounding, seed=cfg.seed, site=SITE_INPUT)
    return q


def _requantize(internals: dict, layer: int, dirs: int, prev: DatapathConfig, cfg: DatapathConfig) -> torch.Tensor:
    """Layer ``layer``'s integer input: the previous layer's ``[fwd | bwd]`` outputs requantized into
    this layer's input format with this layer's rounding and seed (site ``64 * layer + 10``, step 0)."""
    h = torch.cat([internals[(layer - 1, d)]["h"] for d in range(dirs)], dim=-1)
    raw = round_shift(
        h, prev.hidden.frac - cfg.input.frac, cfg.rounding, seed=cfg.seed, site=2 * layer * 32 + SITE_INPUT
    )
    return saturate(raw, cfg.input)[0]


def _layer_arrays(layer: int, cfg: DatapathConfig, x: torch.Tensor, hidden: int, dirs: int) -> dict[str, np.ndarray]:
    """The per-layer keys: config, formats, accumulator, tables and the layer's integer input."""
    p, k, interp = f"l{layer}_", cfg.act_index_bits, cfg.act_interp
    out = {p + "config": np.array(json.dumps(cfg.to_dict())), p + "x": x.to(torch.int64).cpu().numpy()}
    for name in TENSOR_CLASSES:
        f = getattr(cfg, name)
        out[p + f"fmt_{name}"] = np.array([f.bits, f.frac], dtype=np.int64)
    out[p + "fmt_acc"] = np.array([cfg.acc_bits, cfg.acc_frac], dtype=np.int64)
    out[p + "acc_exact_bits"] = np.array(exact_sum_bits(cfg, x.shape[-1], hidden))
    table = lambda func, fin: np.array(activation_table(func, fin, cfg.act, k, interp), dtype=np.int64)
    out[p + "table_sigmoid"] = table("sigmoid", cfg.preact)
    out[p + "table_tanh"] = table("tanh", cfg.preact)
    out[p + "table_tanh_cell"] = table("tanh", cfg.cell)
    return out


def _saturations(totals: dict[str, int], trace: Trace) -> dict:
    """Totals of the run and per (layer, direction) (``input`` on direction 0: it precedes both)."""
    per = {f"l{lt.layer}d{lt.direction}": {n: lt.total(f"sat.{n}") for n in SAT_NAMES} for lt in trace}
    return {"total": {n: int(totals[n]) for n in SAT_NAMES}, **per}


def write_golden(path: str | Path, **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = make_golden(**kw)
    with open(path, "wb") as fh:  # np.savez (uncompressed, fixed key order) writes identical bytes per seed
        np.savez(fh, **arrays)
    return path


def load_config(text: str) -> DatapathConfig | list[DatapathConfig]:
    """``--config`` JSON: one object (the same config for every layer) or a list (one per layer)."""
    d = json.loads(text)
    if isinstance(d, list):
        return [DatapathConfig.from_dict(c) for c in d]
    return DatapathConfig.from_dict(d)


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (a golden case needs at least one step, sequence and unit)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be >= 1")
    return v


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    ap.add_argument("--input-size", type=_positive_int, default=8)
    ap.add_argument("--hidden-size", type=_positive_int, default=16)
    ap.add_argument("--steps", type=_positive_int, default=20)
    ap.add_argument("--batch", type=_positive_int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=_positive_int, default=1, help="number of stacked layers")
    ap.add_argument("--bidirectional", action="store_true", help="a reverse direction in every layer")
    ap.add_argument("--init-state", action="store_true", help="random full-range initial states h0 (and c0)")
    ap.add_argument(
        "--config",
        type=str,
        default=None,
        help="JSON file with DatapathConfig fields (formats as {bits, frac}), or a list of them, "
        "one per layer; default 16-bit",
    )
    ap.add_argument("--weight-scale", type=float, default=1.0, help="scale weights up to exercise saturation")
    ap.add_argument("--out", type=str, required=True)
    a = ap.parse_args(argv)
    cfg = load_config(Path(a.config).read_text()) if a.config else DatapathConfig()
    p = write_golden(
        a.out,
        cell=a.cell,
        input_size=a.input_size,
        hidden_size=a.hidden_size,
        steps=a.steps,
        batch=a.batch,
        seed=a.seed,
        cfg=cfg,
        weight_scale=a.weight_scale,
        layers=a.layers,
        bidirectional=a.bidirectional,
        init_state=a.init_state,
    )
    print(f"wrote {p}")


if __name__ == "__main__":
    main()
