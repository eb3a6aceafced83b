"""E-BATCH packing consistency: sequences concatenated in lanes, run chunk by chunk on the bit-exact
datapath with a state reset at every boundary, give bit-identical outputs and final states to each
sequence run alone."""

import pytest
import torch

from rnnaccel.emulator import GRU, LSTM, DatapathConfig
from rnnaccel.emulator.lanes import plan_lanes, run_packed


def make(cls, bidirectional=False, layers=2, seed=0):
    torch.manual_seed(seed)
    m = cls(5, 12, num_layers=layers, bidirectional=bidirectional, mode="emulate")
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)  # larger weights: saturating, state-dependent dynamics (a missed reset shows)
    lengths = torch.randint(1, 18, (11,), generator=torch.Generator().manual_seed(seed)).tolist()
    seqs = [torch.randn(n, 5) for n in lengths]
    return m, seqs


def alone(m, x, hx):
    return m.emulate(x[None], hx=hx)


def assert_identical(m, seqs, packed, hx_alone=None):
    bad = []
    for i, x in enumerate(seqs):
        r = alone(m, x, hx_alone)
        same = torch.equal(r.output[0], packed.outputs[i]) and torch.equal(r.h_n[:, 0], packed.h_n[i])
        if m.cell == "lstm":
            same = same and torch.equal(r.c_n[:, 0], packed.c_n[i])
        if not same:
            bad.append((i, int((r.output[0] != packed.outputs[i]).sum())))
    assert not bad, f"sequences differing from their solo run (index, elements): {bad}"


@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize("lanes,steps", [(3, 8), (2, 5), (4, 32)])
def test_packed_lanes_equal_solo_runs(cls, lanes, steps):
    m, seqs = make(cls)
    packed = run_packed(m, seqs, lanes=lanes, steps=steps)
    # the plan really concatenates: some lane holds several sequences, some sequence spans chunks
    per_lane = {}
    for _, placed in packed.plan.chunks:
        for r, ln, _off, _n, _new in placed:
            per_lane.setdefault(ln, set()).add(r)
    assert max(len(v) for v in per_lane.values()) > 1
    if steps < 17:
        assert any(not new for _, placed in packed.plan.chunks for *_, new in placed)
    assert_identical(m, seqs, packed)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_packed_with_initial_state(cls):
    m, seqs = make(cls, seed=1)
    K = m.num_layers
    h0, c0 = 0.4 * torch.randn(K, 12), 0.4 * torch.randn(K, 12)
    hx = (h0, c0) if cls is LSTM else h0
    hx1 = (h0[:, None], c0[:, None]) if cls is LSTM else h0[:, None]
    packed = run_packed(m, seqs, lanes=3, steps=8, hx=hx)
    assert_identical(m, seqs, packed, hx1)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_missing_reset_is_detected(cls):
    """Negative control: without the boundary reset the later sequences of a lane differ."""
    m, seqs = make(cls)
    packed = run_packed(m, seqs, lanes=3, steps=8, reset=False)
    with pytest.raises(AssertionError, match="differing"):
        assert_identical(m, seqs, packed)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_bidirectional_whole_sequence_packing(cls):
    m, seqs = make(cls, bidirectional=True, seed=2)
    packed = run_packed(m, seqs, lanes=3, steps=16)
    assert all(new for _, placed in packed.plan.chunks for *_, new in placed)  # nothing split
    assert_identical(m, seqs, packed)


def test_plan_places_every_step_once():
    lengths = [5, 1, 9, 3, 7, 2, 8]
    plan = plan_lanes(lengths, lanes=2, steps=4)
    got = [0] * len(lengths)
    for steps, placed in plan.chunks:
        occupied = {}
        for r, ln, off, n, _new in placed:
            assert 0 <= off and off + n <= steps
            for t in range(off, off + n):
                assert (ln, t) not in occupied  # a lane runs one sequence at a time
                occupied[(ln, t)] = r
            got[r] += n
    assert got == lengths


def test_stochastic_rounding_refused():
    m = LSTM(5, 12, mode="emulate", datapath=DatapathConfig(rounding="stochastic"))
    with pytest.raises(ValueError, match="stochastic"):
        run_packed(m, [torch.randn(3, 5)])
