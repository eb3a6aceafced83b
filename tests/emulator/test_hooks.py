"""Technique units plug into the datapath without changing a bit when they change nothing."""

import numpy as np
import pytest
import torch

from rnnaccel.emulator import GRU, LSTM, Trace
from rnnaccel.emulator.hooks import StepUnit


class Recompute(StepUnit):
    """Supplies the dot products itself (float64 GEMMs) and records what it saw."""

    def begin(self, ctx):
        super().begin(ctx)
        cfg = ctx.cfg
        fa = cfg.acc_frac
        self.sx = 2.0 ** (fa - cfg.weight.frac - cfg.input.frac)
        self.sh = 2.0 ** (fa - cfg.weight.frac - cfg.hidden.frac)
        self.sb = 2.0 ** (fa - cfg.bias.frac)
        self.seen = []

    def gate_acc(self, t, n, hp):
        w = self.ctx.weights
        ax = (self.ctx.x[t, :n] @ w.w_ih.T) * self.sx + w.b_x * self.sb
        ah = (hp @ w.w_hh.T) * self.sh + w.b_h * self.sb
        return ax, ah

    def observe(self, t, n, h_prev, h_new, c_prev, c_new):
        self.seen.append(n)

    def counters(self):
        return {"test.steps": np.ones(len(self.ctx.batch_sizes), dtype=np.int64)}


class Zero(StepUnit):
    def gate_out(self, t, n, cols, z, a, act):
        return torch.zeros_like(a)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_units_that_change_nothing_change_no_bit(cls):
    torch.manual_seed(0)
    m = cls(3, 5, num_layers=2, bidirectional=True, mode="emulate")
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])
    plain = m.emulate(x, lengths)
    made = []
    m.units = [lambda layer, d, cfg: made.append(Recompute()) or made[-1]]
    tr = Trace()
    r = m.emulate(x, lengths, trace=tr)
    assert torch.equal(r.output, plain.output) and torch.equal(r.h_n, plain.h_n)
    assert len(made) == 4 and made[0].seen == [3, 3, 2, 2, 1, 1]
    assert tr.total("test.steps") == 4 * 6
    m.units = [lambda layer, d, cfg: Zero() if layer == 1 else None]
    assert not torch.equal(m.emulate(x, lengths).output, plain.output)
