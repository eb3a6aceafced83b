"""The re-execution check's trial: the new recurrent state the datapath would compute from given
dot products (``docs/datapath.md`` §5/§6 restated; used by ``mode: reexec``)."""
from __future__ import annotations

import torch

from ..datapath import SITE_CELL, SITE_HIDDEN, SITE_HN, SITE_PREACT, SITE_RHN, SITE_XN, _act_units
from ..formats import round_shift, saturate
from ..hooks import DirectionContext

__all__ = ["trial_state"]


def trial_state(ctx: DirectionContext, t: int, ax: torch.Tensor, ah: torch.Tensor, hp: torch.Tensor,
                cp: torch.Tensor | None) -> torch.Tensor:
    """New state of rows with dot products ``ax``/``ah`` (m, G*H) at step ``t``.

    LSTM: the new cell state ``c`` (m, H) from ``cp`` (m, H); GRU: the new hidden state ``h``
    (m, H) from ``hp`` (m, H). Bit-identical to the datapath (same rounding sites and steps);
    another unit's ``gate_out`` changes are not seen.
    """
    cfg = ctx.cfg
    H, sb, rnd, seed = ctx.hidden_size, ctx.site_base, cfg.rounding, cfg.seed
    au = _act_units(ctx.cell, cfg, sb, H)
    fq, fz, fa, fc, fh = cfg.acc_frac, cfg.preact.frac, cfg.act.frac, cfg.cell.frac, cfg.hidden.frac

    def nar(v, s, fmt, site):
        return saturate(round_shift(v, s, rnd, seed=seed, site=sb + site, step=t), fmt)[0]

    if ctx.cell == "lstm":
        z = nar(saturate(ax + ah, cfg.acc)[0], fq - fz, cfg.preact, SITE_PREACT)
        a = au.gates(z, t)
        i, f, g = a[:, :H], a[:, H: 2 * H], a[:, 3 * H:]
        fm = max(2 * fa, fa + fc)
        cm = torch.addcmul(i * g * float(2 ** (fm - 2 * fa)), f, cp, value=float(2 ** (fm - fa - fc)))
        return nar(cm, fm - fc, cfg.cell, SITE_CELL)
    rz = au.gates(nar(saturate(ah[:, : 2 * H] + ax[:, : 2 * H], cfg.acc)[0], fq - fz, cfg.preact, SITE_PREACT), t)
    r, zg = rz[:, :H], rz[:, H:]
    qxn = nar(saturate(ax[:, 2 * H:], cfg.acc)[0], fq - fz, cfg.preact, SITE_XN)
    qhn = nar(saturate(ah[:, 2 * H:], cfg.acc)[0], fq - fz, cfg.preact, SITE_HN)
    pre = saturate(qxn + round_shift(r * qhn, fa, rnd, seed=seed, site=sb + SITE_RHN, step=t), cfg.preact)[0]
    nn_ = au.tanh(pre, t)
    fg = max(fa, fh)
    hm = torch.addcmul((float(2 ** fa) - zg) * nn_ * float(2 ** (fg - fa)), zg, hp, value=float(2 ** (fg - fh)))
    return nar(hm, fa + fg - fh, cfg.hidden, SITE_HIDDEN)
