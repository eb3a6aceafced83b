"""Technique sessions: unit state carried across calls, per row, reindexed and reset; traces keyed by module."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnaccel.emulator import GRU, LSTM, Trace
from rnnaccel.emulator.hooks import CarryError
from rnnaccel.emulator.memo import MemoConfig, memo_factory, memo_stats
from rnnaccel.emulator.precision import PrecisionConfig, precision_factory
from rnnaccel.emulator.session import emulator_modules, session
from rnnaccel.errors import RnnaccelError

MEMO = MemoConfig(predictor="bnn", theta=0.4)
PREC = PrecisionConfig(mode="dynamic", ladder=[16, 8, 4], tau=0.02, thresholds=[0.5, 0.1])
CELLS = {"lstm": LSTM, "gru": GRU}


def _rnn(cell="lstm", D=6, H=8, layers=1, seed=0, **kw):
    torch.manual_seed(seed)
    m = CELLS[cell](D, H, num_layers=layers, batch_first=True, **kw)
    m.mode = "emulate"
    return m


def _x(B, T, D=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    # a slowly changing input, so the memo predictor has something to reuse
    steps = 0.15 * torch.randn(B, T, D, generator=g)
    return torch.cumsum(steps, dim=1) + 0.3 * torch.randn(B, 1, D, generator=g)


class _Model(nn.Module):
    def __init__(self, cell="lstm", layers=1):
        super().__init__()
        self.enc = _rnn(cell, bidirectional=True, seed=3)
        self.dec = _rnn(cell, layers=layers, seed=4)


def _stepwise(m, x, state=None, lengths=None):
    """Call ``m`` once per time step, passing the state back (a decoder loop)."""
    outs = []
    for t in range(x.shape[1]):
        o, state = m(x[:, t : t + 1], hx=state, lengths=lengths)
        outs.append(o)
    return torch.cat(outs, dim=1), state


def _whole(m, x, factories, trace=None, hx=None):
    m.units = factories
    out, state = m(x, hx=hx, trace=trace)
    m.units = []
    return out, state


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_theta_zero_session_is_plain_emulation(cell):
    m, x = _rnn(cell, layers=2), _x(3, 7)
    plain, _ = _stepwise(m, x)
    with session(m, memo=MemoConfig(predictor="bnn", theta=0.0), precision=PrecisionConfig(mode="static")):
        got, _ = _stepwise(m, x)
    assert torch.equal(got, plain)
    whole, _ = m(x)
    assert torch.equal(got, whole)  # a stepwise decoder loop equals the whole-sequence run


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_decoder_steps_do_not_reset_unit_state(cell):
    """One call per step inside a session reuses exactly as one call over the whole sequence; the
    same loop without a session reuses nothing (every call a first step)."""
    m, x = _rnn(cell, layers=2), _x(3, 9)
    ref_tr = Trace()
    ref_out, _ = _whole(m, x, [memo_factory(MEMO), precision_factory(PREC)], ref_tr)
    tr = Trace()
    with session(m, memo=MEMO, precision=PREC, trace=tr):
        got, _ = _stepwise(m, x)
    reused = memo_stats(tr)["total"]["reused"]
    assert reused > 0 and reused == memo_stats(ref_tr)["total"]["reused"]
    assert torch.equal(got, ref_out)
    # one LayerTrace per (layer, direction) of T steps, equal to the whole call's counters
    assert [lt.steps for lt in tr] == [lt.steps for lt in ref_tr] == [9, 9]
    for a, b in zip(tr, ref_tr):
        assert a.module == "" and a.counters.keys() == b.counters.keys()
        for k in a.counters:
            assert np.array_equal(a.counters[k], b.counters[k]), k
    m.units = [memo_factory(MEMO)]
    loose = Trace()
    for t in range(x.shape[1]):
        m(x[:, t : t + 1], trace=loose)
    assert memo_stats(loose)["total"]["reused"] == 0


def _rowwise(m, seqs, factories_fn):
    """Each row alone, its whole sequence in one call: outputs of the last ``tail`` steps and reuse."""
    outs, reused = [], 0
    for s in seqs:
        tr = Trace()
        o, _ = _whole(m, s.unsqueeze(0), factories_fn(), tr)
        outs.append(o[0])
        reused += memo_stats(tr)["total"]["reused"]
    return outs, reused


def test_variable_lengths_keep_state_and_follow_rows():
    """Rows of different lengths in call 1 (length-sorted inside the datapath) continue in call 2
    with the state they reached, as if each row had run alone."""
    m = _rnn("lstm")
    x1, x2 = _x(4, 5, seed=5), _x(4, 3, seed=6)
    lens = torch.tensor([3, 5, 2, 4])
    tr = Trace()
    with session(m, memo=MEMO, precision=PREC, trace=tr):
        _, state = m(x1, lengths=lens)
        out2, _ = m(x2, hx=state)
    seqs = [torch.cat([x1[b, : int(lens[b])], x2[b]]) for b in range(4)]
    outs, reused = _rowwise(m, seqs, lambda: [memo_factory(MEMO), precision_factory(PREC)])
    for b in range(4):
        assert torch.equal(out2[b], outs[b][int(lens[b]) :]), b
    assert memo_stats(tr)["total"]["reused"] == reused > 0


def test_beam_reindex_state_follows_rows():
    m = _rnn("gru")
    x1, x2 = _x(3, 4, seed=7), _x(4, 3, seed=8)
    index = torch.tensor([2, 0, 0, 1])  # reorder, duplicate row 0, keep all others
    tr = Trace()
    with session(m, memo=MEMO, precision=PREC, trace=tr) as s:
        _, h = _stepwise(m, x1)
        with pytest.raises(CarryError, match="reindex"):
            m(x2[:, :1], hx=h.index_select(1, index))  # 4 rows cannot continue 3 without a reindex
        s.reindex(m, index)
        out2, _ = _stepwise(m, x2, h.index_select(1, index))
    seqs = [torch.cat([x1[int(index[i])], x2[i]]) for i in range(4)]
    outs, _ = _rowwise(m, seqs, lambda: [memo_factory(MEMO), precision_factory(PREC)])
    for i in range(4):
        assert torch.equal(out2[i], outs[i][4:]), i
    # the refused call recorded nothing: still one LayerTrace of 4 + 3 steps
    assert [lt.steps for lt in tr] == [7]


def test_reset_rows_starts_new_sequences_only_there():
    m = _rnn("lstm")
    x1, x2 = _x(2, 4, seed=9), _x(2, 3, seed=10)
    fac = lambda: [memo_factory(MEMO), precision_factory(PREC)]  # noqa: E731
    with session(m, memo=MEMO, precision=PREC) as s:
        _, state = m(x1)
        s.reset(rows=[1])
        out2, _ = m(x2, hx=state)
    cont, _ = _rowwise(m, [torch.cat([x1[0], x2[0]])], fac)
    assert torch.equal(out2[0], cont[0][4:])  # row 0 continued
    m.units = fac()
    fresh, _ = m(x2[1:], hx=tuple(s_[:, 1:] for s_ in state))  # row 1: same recurrent state, no history
    m.units = []
    assert torch.equal(out2[1], fresh[0])


def test_traces_keyed_by_module_and_appended_per_stretch():
    model = _Model()
    x = _x(2, 5)
    tr = Trace()
    with session(model, memo=MEMO, trace=tr) as s:
        assert list(s.modules) == ["enc", "dec"]
        model.enc(x)
        _stepwise(model.dec, x[:, :3])
        s.reset()
        model.enc(x)
        _stepwise(model.dec, x[:, :2])
    keys = [lt.key for lt in tr]
    assert keys == ["enc:L0.d0", "enc:L0.d1", "dec:L0.d0"] * 2
    assert [lt.steps for lt in tr] == [5, 5, 3, 5, 5, 2]
    assert tr.modules() == ["enc", "dec"] and len(tr.select("dec")) == 2
    back = Trace.from_json(tr.to_json())
    assert [lt.key for lt in back] == keys
    assert memo_stats(tr)["modules"]["dec"]["computed"] > 0


def test_refusals_and_restore():
    model = _Model()
    own = [memo_factory(MEMO)]
    model.dec.units = own
    x = _x(2, 3)
    with session(model, precision=PREC) as s:
        assert [type(f).__name__ for f in s.units["dec"]] == ["MemoFactory", "PrecisionFactory"]
        model.enc(x)
        with pytest.raises(RnnaccelError, match="bidirectional"):
            model.enc(x)
        s.reset(model.enc)
        model.enc(x)
        model.dec.mode = "float"
        with pytest.raises(RnnaccelError, match="emulate mode"):
            model.dec(x)
    assert model.dec.units is own and model.enc.units == [] and model.dec.mode == "emulate"  # restored
    assert own[0].carries is None  # back to a fresh state per call
    with pytest.raises(RnnaccelError, match="already has a MemoFactory"):
        session(model, memo="bnn")
    model.dec.units = [lambda layer, d, cfg: None]
    with pytest.raises(RnnaccelError, match="cannot keep state"):
        session(model)
    with pytest.raises(RnnaccelError, match="no rnnaccel.emulator"):
        session(nn.Linear(2, 2))
    assert [n for n, _ in emulator_modules(model)] == ["enc", "dec"]


def test_old_trace_without_module_reads_as_unnamed():
    m = _rnn("lstm")
    tr = Trace()
    m(_x(2, 3), trace=tr)
    d = tr.to_dict()
    assert "module" not in d["layers"][0]  # unnamed traces are written as before
    back = Trace.from_dict(d)
    assert back.layers[0].module == "" and back.layers[0].key == "L0.d0"


CELL_CLASSES = {"lstm": ("LSTMCell", LSTM), "gru": ("GRUCell", GRU)}


def _cell_and_stack(cell, D=6, H=8, seed=5):
    """An emulator cell and a 1-layer batch-first stack with the same weights."""
    import rnnaccel.emulator as E

    torch.manual_seed(seed)
    c = getattr(E, CELL_CLASSES[cell][0])(D, H, mode="emulate")
    s = CELL_CLASSES[cell][1](D, H, batch_first=True, mode="emulate")
    s.load_state_dict({f"{k}_l0": v for k, v in c.state_dict().items()})
    return c, s


def _cell_loop(c, x, state=None):
    """A decoder loop over a cell: one call per step, the state fed back."""
    outs = []
    for t in range(x.shape[1]):
        state = c(x[:, t], state)
        outs.append(state[0] if isinstance(state, tuple) else state)
    return torch.stack(outs, dim=1), state


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cell_decoder_loop_in_session(cell):
    """A cell called once per token reuses inside a session (exactly as the whole sequence through
    the same weights as a stack) and, at threshold 0, is bit-identical to plain emulation."""
    c, s = _cell_and_stack(cell)
    x = _x(3, 9)
    plain, _ = _cell_loop(c, x)
    with session(c, memo=MemoConfig(predictor="bnn", theta=0.0), precision=PrecisionConfig(mode="static")):
        zero, _ = _cell_loop(c, x)
    assert torch.equal(zero, plain)
    ref_tr, tr = Trace(), Trace()
    ref_out, _ = _whole(s, x, [memo_factory(MEMO)], ref_tr)
    with session(c, memo=MEMO, trace=tr):
        got, _ = _cell_loop(c, x)
    reused = memo_stats(tr)["total"]["reused"]
    assert reused > 0 and reused == memo_stats(ref_tr)["total"]["reused"]
    assert torch.equal(got, ref_out)
    assert [lt.steps for lt in tr] == [9]
    with session(c, memo=MEMO, trace=Trace()) as sess:  # a reset row starts over: its reuse restarts
        _cell_loop(c, x[:, :4])
        sess.reset(c)
        again, _ = _cell_loop(c, x)
    assert torch.equal(again, got)
