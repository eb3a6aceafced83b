"""The re-execution check's trial: the new recurrent state the datapath would compute from given
dot products (used by ``mode: reexec``). It runs the datapath's own :func:`lstm_step` /
:func:`gru_step` with the dot products supplied, so the equations exist once."""

from __future__ import annotations

import torch

from ..datapath import STEPS, Direction, StepSaturations
from ..hooks import DirectionContext

__all__ = ["trial_state"]


def trial_state(
    ctx: DirectionContext, t: int, ax: torch.Tensor, ah: torch.Tensor, hp: torch.Tensor, cp: torch.Tensor | None
) -> torch.Tensor:
    """New state of rows with dot products ``ax``/``ah`` (m, G*H) at step ``t``.

    LSTM: the new cell state ``c`` (m, H) from ``cp`` (m, H); GRU: the new hidden state ``h``
    (m, H) from ``hp`` (m, H). Bit-identical to the datapath (same step function, rounding sites
    and steps); no technique unit takes part (another unit's ``gate_out`` changes are not seen).
    """
    d = Direction(ctx.cell, ctx.weights, ctx.x, ctx.cfg, ctx.site_base, ctx.gemm, (), ctx)
    d.unit_dot_products = lambda *_: (ax, ah)
    h, c, _ = STEPS[ctx.cell](d, t, hp.shape[0], hp, cp, StepSaturations())
    return c if ctx.cell == "lstm" else h
