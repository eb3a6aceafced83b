"""The emulator's modules are drop-in ``torch.nn`` modules: constructor, parameters, forward and
return values, in both layouts, unbatched, packed, with projections, without bias, and cells."""

from __future__ import annotations

import inspect

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnaccel.emulator import GRU, LSTM, RNN, DatapathConfig, Fmt, GRUCell, LSTMCell, RNNCell, Trace
from rnnaccel.errors import RnnaccelError

TOL = 1e-6
STACKS = [(nn.LSTM, LSTM, {}), (nn.GRU, GRU, {}), (nn.RNN, RNN, {}), (nn.RNN, RNN, {"nonlinearity": "relu"})]
CELLS = [(nn.LSTMCell, LSTMCell, {}), (nn.GRUCell, GRUCell, {}), (nn.RNNCell, RNNCell, {"nonlinearity": "relu"})]


def _close(a, b):
    if isinstance(a, tuple):
        return all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a.shape == b.shape and float((a - b).abs().max().detach()) <= TOL if a.numel() else a.shape == b.shape


def _pair(tcls, ours, seed, *args, **kw):
    """A torch module and ours built from the same seed: torch's initialisation stream gives the same
    weights (the state dict is loaded anyway, so equivalence does not rest on that)."""
    torch.manual_seed(seed)
    ref = tcls(*args, **kw)
    torch.manual_seed(seed)
    m = ours(*args, **kw)
    same_init = all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), m.state_dict().values()))
    m.load_state_dict(ref.state_dict())
    return ref, m, same_init


def _hx(cls, L, B, R, H, unbatched):
    shape = (L, R) if unbatched else (L, B, R)
    h = torch.randn(*shape)
    if cls is not nn.LSTM:
        return h
    return h, torch.randn(*((L, H) if unbatched else (L, B, H)))


@pytest.mark.parametrize("tcls, ours, extra", [s[:3] for s in STACKS] + [c[:3] for c in CELLS])
def test_signature_and_parameter_names_equal_torch(tcls, ours, extra):
    """Same positional order and defaults as torch's documented signature; emulator options keyword-only."""
    got = inspect.signature(ours.__init__).parameters
    positional = [p for p in got.values() if p.kind == p.POSITIONAL_OR_KEYWORD][1:]
    expected = {
        nn.LSTM: "input_size hidden_size num_layers bias batch_first dropout bidirectional proj_size device dtype",
        nn.GRU: "input_size hidden_size num_layers bias batch_first dropout bidirectional device dtype",
        nn.RNN: "input_size hidden_size num_layers nonlinearity bias batch_first dropout bidirectional device dtype",
        nn.LSTMCell: "input_size hidden_size bias device dtype",
        nn.GRUCell: "input_size hidden_size bias device dtype",
        nn.RNNCell: "input_size hidden_size bias nonlinearity device dtype",
    }[tcls].split()
    assert [p.name for p in positional] == expected
    keyword_only = {"mode", "datapath"} | ({"proj_size"} if tcls in (nn.GRU, nn.RNN) else set())  # torch: **kwargs
    assert {p.name for p in got.values() if p.kind == p.KEYWORD_ONLY} == keyword_only
    assert got["batch_first"].default is False if "batch_first" in got else True
    kw = dict(extra, bias=False) if tcls in (nn.RNNCell,) else dict(extra)
    if tcls in (nn.LSTM, nn.GRU, nn.RNN):
        kw.update(num_layers=2, bidirectional=True)
    ref, m, same_init = _pair(tcls, ours, 3, 4, 6, **kw)
    assert list(m.state_dict()) == list(ref.state_dict()) and same_init
    assert [tuple(p.shape) for p in m.parameters()] == [tuple(p.shape) for p in ref.parameters()]


@st.composite
def stack_cases(draw):
    tcls, ours, extra = draw(st.sampled_from(STACKS))
    kw = dict(extra)
    kw.update(
        num_layers=draw(st.integers(1, 3)),
        bidirectional=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
    )
    H = draw(st.integers(2, 7))
    if tcls is nn.LSTM and draw(st.booleans()):
        kw["proj_size"] = draw(st.integers(1, H - 1))
    D, B, T = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.integers(1, 6))
    return tcls, ours, kw, D, H, B, T, draw(st.sampled_from(["plain", "hx", "packed", "unbatched"]))


@settings(max_examples=60, deadline=None)
@given(case=stack_cases(), seed=st.integers(0, 2**16))
def test_float_mode_equals_torch(case, seed):
    """Float mode == torch.nn to 1e-6 (outputs and states) on random shapes and options: both
    layouts, bias or not, projections, an initial state, packed and unbatched input."""
    tcls, ours, kw, D, H, B, T, how = case
    ref, m, _ = _pair(tcls, ours, seed, D, H, **kw)
    R = kw.get("proj_size", 0) or H
    L = kw["num_layers"] * (2 if kw["bidirectional"] else 1)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, D, generator=g) if kw["batch_first"] else torch.randn(T, B, D, generator=g)
    hx = None
    if how == "unbatched":
        x = x[0] if kw["batch_first"] else x[:, 0]
    if how in ("hx", "unbatched"):
        torch.manual_seed(seed + 1)
        hx = _hx(tcls, L, B, R, H, how == "unbatched")
    if how == "packed":
        lengths = torch.randint(1, T + 1, (B,), generator=g)
        x = pack_padded_sequence(x, lengths, batch_first=kw["batch_first"], enforce_sorted=False)
    with torch.no_grad():
        want = ref(x, hx)
        got = m(x, hx)
    if how == "packed":
        assert isinstance(got[0], nn.utils.rnn.PackedSequence)
        assert torch.equal(got[0].batch_sizes, want[0].batch_sizes)
        assert _close(got[0].data, want[0].data) and _close(got[1], want[1])
    else:
        assert _close(got, want)


@settings(max_examples=30, deadline=None)
@given(
    case=st.sampled_from(CELLS),
    bias=st.booleans(),
    batched=st.booleans(),
    with_hx=st.booleans(),
    seed=st.integers(0, 999),
)
def test_cells_equal_torch(case, bias, batched, with_hx, seed):
    tcls, ours, extra = case
    ref, m, _ = _pair(tcls, ours, seed, 3, 5, bias=bias, **extra)
    x = torch.randn(4, 3) if batched else torch.randn(3)
    shape = (4, 5) if batched else (5,)
    hx = None
    if with_hx:
        hx = (torch.randn(*shape), torch.randn(*shape)) if tcls is nn.LSTMCell else torch.randn(*shape)
    with torch.no_grad():
        assert _close(m(x, hx), ref(x, hx))


@pytest.mark.parametrize("tcls, ours, extra", STACKS[:3])
def test_time_first_module_reads_the_time_axis(tcls, ours, extra):
    """batch_first=False (torch's default) given a batch-first-shaped tensor computes what torch
    computes: dimension 0 is time, whatever the caller meant."""
    ref, m, _ = _pair(tcls, ours, 0, 3, 4, **extra)
    x = torch.randn(2, 6, 3)  # meant as (batch=2, time=6), read as (time=2, batch=6)
    with torch.no_grad():
        want, got = ref(x), m(x)
    assert got[0].shape == (2, 6, 4) and _close(got, want)


@pytest.mark.parametrize("tcls, ours, extra", STACKS + CELLS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_emulate_returns_the_input_dtype(tcls, ours, extra, dtype):
    ref = tcls(3, 4, **extra)
    m = ours.from_torch(ref.to(dtype), mode="emulate").eval()
    x = (
        torch.randn(5, 2, 3, dtype=dtype)
        if m.num_layers and not tcls.__name__.endswith("Cell")
        else torch.randn(2, 3, dtype=dtype)
    )
    out = m(x)
    flat = [out] if isinstance(out, torch.Tensor) else [t for o in out for t in (o if isinstance(o, tuple) else (o,))]
    assert all(t.dtype == dtype for t in flat)


@pytest.mark.parametrize("tcls, ours, extra", STACKS + CELLS)
def test_from_torch_keeps_options_and_emulates_close_to_float(tcls, ours, extra):
    kw = dict(extra)
    if not tcls.__name__.endswith("Cell"):
        kw.update(num_layers=2, batch_first=True)
    if tcls is nn.LSTM:
        kw["proj_size"] = 2
    torch.manual_seed(0)
    ref = tcls(3, 5, **kw).eval()
    # relu is unbounded: h leaves the default hidden format Q16.15 ([-1, 1)); give it range
    cfg = DatapathConfig(hidden=Fmt(16, 12)) if extra.get("nonlinearity") == "relu" else DatapathConfig()
    m = ours.from_torch(ref, mode="emulate", datapath=cfg)
    assert not m.training and all(getattr(m, k) == v for k, v in kw.items())
    x = torch.randn(2, 4, 3) if "batch_first" in kw else torch.randn(2, 3)
    with torch.no_grad():
        want, got = ref(x), m(x)
    first = lambda o: o[0] if isinstance(o, tuple) else o
    assert float((first(got) - first(want)).abs().max()) < 2e-3  # 16-bit datapath vs float


def test_dropout_in_training_applies_in_float_and_is_refused_in_emulate():
    torch.manual_seed(0)
    ref = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    m = GRU.from_torch(ref)
    x = torch.randn(5, 2, 3)
    torch.manual_seed(7)
    want = ref(x)[0]
    torch.manual_seed(7)
    assert _close(m(x)[0], want)  # same dropout masks from the same stream
    m.mode = "emulate"
    with pytest.raises(RnnaccelError, match=r"call \.eval\(\)"):
        m(x)
    m.eval()
    with torch.no_grad():
        assert float((m(x)[0] - ref.eval()(x)[0]).abs().max()) < 2e-3


def test_lengths_is_keyword_only_and_refused_with_packed_or_unbatched_input():
    m = LSTM(3, 4, batch_first=True)
    x = torch.randn(2, 5, 3)
    out, _ = m(x, lengths=torch.tensor([5, 2]))
    assert out[1, 2:].abs().sum() == 0
    with pytest.raises(ValueError, match="pass sequence lengths by keyword"):
        m(x, torch.tensor([5, 2]))  # the second positional argument is hx, as in torch
    with pytest.raises(ValueError, match="PackedSequence"):
        m(pack_padded_sequence(x, torch.tensor([5, 2]), batch_first=True), lengths=torch.tensor([5, 2]))
    with pytest.raises(ValueError, match="unbatched"):
        m(x[0], lengths=torch.tensor([5]))


def test_constructor_refusals_follow_torch():
    for cls, tcls in ((GRU, nn.GRU), (RNN, nn.RNN)):  # torch takes proj_size through **kwargs and refuses it
        with pytest.raises(ValueError) as theirs:
            tcls(3, 4, proj_size=2)
        with pytest.raises(ValueError) as ours:
            cls(3, 4, proj_size=2)
        assert str(ours.value) == str(theirs.value)
        assert cls(3, 4, proj_size=0).hidden_size == 4
    with pytest.raises(ValueError, match="proj_size"):
        LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout should be a number"):
        LSTM(3, 4, dropout=1.5)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        LSTM(3, 4, dropout=0.2)


@pytest.mark.parametrize("cls, kw", [(RNN, {}), (LSTM, {"proj_size": 2})])
def test_technique_units_refuse_rnn_and_projection(cls, kw):
    m = cls(3, 4, batch_first=True, mode="emulate", **kw)
    m.units = [lambda layer, d, cfg: _Noop()]
    with pytest.raises(RnnaccelError, match="support LSTM and GRU layers without projection"):
        m(torch.randn(1, 2, 3))


def test_cost_model_prices_rnn_and_projection_traces():
    """The rules themselves are tested in tests/hardware/test_cost_rnn_proj.py."""
    from rnnaccel.hardware import estimate

    for cls, kw in ((RNN, {}), (LSTM, {"proj_size": 2})):
        tr = Trace()
        cls(3, 4, batch_first=True, mode="emulate", **kw)(torch.randn(2, 3, 3), trace=tr)
        rep = estimate(tr, "epur")
        assert rep.unpriced == [] and rep.total_j > 0


class _Noop:
    def begin(self, ctx):
        pass
