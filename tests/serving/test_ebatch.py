"""E-BATCH's three mechanisms, each pinned so that breaking it fails a test: a lane is refilled in
the same chunk as soon as its request ends, chunk boundaries fall exactly at ``T`` steps, and the
steps-per-chunk controller halves / doubles ``T`` with the p95 latency."""

from collections import deque

import numpy as np
import pytest

from rnnaccel.emulator.lanes import fill_lanes, plan_lanes
from rnnaccel.serving import BatchingConfig, NetworkConfig, PolicyConfig, Requests, WorkloadConfig, simulate
from rnnaccel.serving.ebatch import StepsController

NET = NetworkConfig(cell="lstm", num_layers=1, input_size=8, hidden_size=32)


def ebatch(requests, **policy):
    pol = PolicyConfig(
        name="ebatch",
        **{"max_batch": 1, "steps_min": 8, "steps_max": 64, "adaptive": False, "latency_target_s": 1e6, **policy},
    )
    res = simulate(BatchingConfig("epur", NET, WorkloadConfig(), pol), requests=requests)
    res.check()
    return res


# ------------------------------------------------------------------ refill within the chunk
def test_an_empty_lane_takes_queued_requests_back_to_back_in_one_chunk():
    q = deque([0, 1, 2])
    fill, placed, done = fill_lanes([-1], [0], q, [10, 10, 10], 64)
    assert placed == [(0, 0, 0, 10, True), (1, 0, 10, 10, True), (2, 0, 20, 10, True)]
    assert fill == [30] and done == [0, 1, 2] and not q


def test_a_lane_whose_request_ends_mid_chunk_is_refilled_at_that_step():
    req, rem, q = [7], [5], deque([8])
    fill, placed, done = fill_lanes(req, rem, q, {7: 20, 8: 10}, 64)
    assert placed == [(7, 0, 0, 5, False), (8, 0, 5, 10, True)]
    assert fill == [15] and done == [7, 8] and req == [-1]


def test_the_lane_that_frees_first_is_refilled_first():
    req, rem = [1, 2], [30, 4]
    _, placed, _ = fill_lanes(req, rem, deque([3, 4]), {1: 30, 2: 4, 3: 6, 4: 6}, 16)
    assert [(r, ln, off) for r, ln, off, _, new in placed if new] == [(3, 1, 4), (4, 1, 10)]


def test_simulated_requests_share_one_chunk_of_one_lane():
    res = ebatch(Requests([0.0, 0.0, 0.0], [10, 10, 10]))
    assert res.batches == 1 and res.steps == 30  # one chunk, no second chunk per request
    assert res.start.tolist() == [0.0] * 3 and len(set(res.finish.tolist())) == 1


# ------------------------------------------------------------------ chunk boundaries
@pytest.mark.parametrize("T", [8, 16])
def test_chunks_are_exactly_T_steps_and_a_sequence_splits_at_T(T):
    assert plan_lanes([T], 1, T).chunks == [(T, [(0, 0, 0, T, True)])]
    assert plan_lanes([T + 1], 1, T).chunks == [(T, [(0, 0, 0, T, True)]), (1, [(0, 0, 0, 1, False)])]
    assert plan_lanes([T - 1, 1, 1], 1, T).chunks == [
        (T, [(0, 0, 0, T - 1, True), (1, 0, T - 1, 1, True)]),
        (1, [(2, 0, 0, 1, True)]),
    ]
    assert [c[0] for c in plan_lanes([3 * T], 1, T).chunks] == [T, T, T]


def test_a_request_of_exactly_the_remaining_steps_ends_in_this_chunk():
    req, rem = [0], [16]
    fill, placed, done = fill_lanes(req, rem, deque(), [16], 16)
    assert fill == [16] and placed == [(0, 0, 0, 16, False)] and done == [0] and req == [-1] and rem == [0]
    req, rem = [0], [17]
    fill, _, done = fill_lanes(req, rem, deque(), [17], 16)
    assert fill == [16] and done == [] and req == [0] and rem == [1]


@pytest.mark.parametrize("T", [8, 16])
def test_whole_sequences_fill_a_chunk_exactly(T):
    h = T // 2
    assert [len(p) for _, p in plan_lanes([h, h], 1, T, whole=True).chunks] == [2]
    assert [s for s, _ in plan_lanes([h, h + 1], 1, T, whole=True).chunks] == [h, h + 1]
    assert [s for s, _ in plan_lanes([T + 3], 1, T, whole=True).chunks] == [T + 3]  # alone: longer chunk


def test_simulated_chunk_steps_add_up_to_the_work():
    res = ebatch(Requests([0.0, 0.0], [64, 65]))
    assert res.steps == 129 and res.batches == 3  # 64 | 64 (second request) | 1
    assert res.finish[0] < res.finish[1]


# ------------------------------------------------------------------ the steps-per-chunk controller
def test_controller_halves_when_p95_is_over_target_and_doubles_under_half():
    c = StepsController(8, 64, target_s=1.0, window=4)
    assert c.T == 64
    c.observe(np.array([2.0, 2.0, 2.0]))
    assert c.T == 64  # window not full yet
    c.observe(np.array([2.0]))
    assert c.T == 32 and c.changes == 1
    for want in (16, 8, 8):  # floor at steps_min
        c.observe(np.full(4, 2.0))
        assert c.T == want
    c.observe(np.full(4, 0.7))  # between target / 2 and target: keep
    assert c.T == 8
    for want in (16, 32, 64, 64):  # ceiling at steps_max
        c.observe(np.full(4, 0.1))
        assert c.T == want
    assert c.changes == 6


def test_controller_off_keeps_steps_max():
    c = StepsController(8, 64, target_s=1.0, window=1, adaptive=False)
    c.observe(np.array([5.0]))
    assert c.T == 64 and c.changes == 0


def test_simulated_ebatch_shortens_chunks_when_latency_is_over_target():
    rng = np.random.default_rng(0)
    req = Requests(np.cumsum(rng.exponential(2e-5, size=300)), rng.integers(20, 60, size=300))
    fixed = ebatch(req, max_batch=4)
    adaptive = ebatch(req, max_batch=4, adaptive=True, latency_target_s=1e-9, window=8)
    assert set(fixed.extra["steps_chunks"]) == {64}
    assert min(adaptive.extra["steps_chunks"]) == 8  # halved down to steps_min


# ------------------------------------------------------------------ finished lanes (nothing queued)
@pytest.mark.parametrize("platform", ["epur", "tpu"])
def test_a_lane_whose_request_ended_is_not_computed_unless_asked(platform):
    """Two lanes, requests of 10 and 4 steps, nothing else queued: one chunk of 10 steps. With
    ``finished_lanes: skip`` the short lane is computed for 4 steps only (no padding; the chunk
    costs exactly the dense trace of 2 rows x 4 steps then 1 row x 6 steps); ``compute`` charges
    6 steps of padding."""
    from rnnaccel.hardware import COMPONENTS, estimate_layer
    from rnnaccel.serving.costs import profile_trace

    req = Requests([0.0, 0.0], [10, 4])
    run = lambda mode: simulate(  # noqa: E731
        BatchingConfig(
            platform,
            NET,
            WorkloadConfig(),
            PolicyConfig(name="ebatch", max_batch=2, steps_min=16, steps_max=16, adaptive=False, finished_lanes=mode),
        ),
        requests=req,
    )
    skip, pad = run("skip"), run("compute")
    skip.check(), pad.check()
    assert skip.batches == pad.batches == 1 and skip.steps == pad.steps == 10
    assert skip.summary()["padding_fraction"] == 0.0
    assert pad.summary()["padding_fraction"] == pytest.approx(6 / 20)
    c = estimate_layer(profile_trace("lstm", 8, 32, [2] * 4 + [1] * 6), platform)[0]
    want = np.array([c.energy_j[k] for k in COMPONENTS])
    np.testing.assert_allclose(skip.energy_j, want, rtol=1e-12)
    assert skip.energy_j.sum() < pad.energy_j.sum()
    assert skip.busy_s <= pad.busy_s


def test_finished_lanes_is_checked():
    with pytest.raises(ValueError, match="policy.finished_lanes must be skip or compute"):
        PolicyConfig(finished_lanes="drop").validate()
    with pytest.raises(ValueError, match="finished_lanes is E-BATCH's"):
        PolicyConfig(name="padded", finished_lanes="compute").validate()
