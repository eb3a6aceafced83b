"""Fair baselines: padded batching with length bucketing, cellular batching under the hardware's
residency rule."""

import numpy as np
import pytest

from rnnaccel.serving import BatchingConfig, NetworkConfig, PolicyConfig, Requests, WorkloadConfig, simulate
from rnnaccel.serving.policies import quartile_bounds

NET = NetworkConfig(cell="lstm", num_layers=2, input_size=16, hidden_size=64)


def run(name, req, platform="epur", **policy):
    pol = PolicyConfig(name=name, **{"max_batch": 4, "timeout_s": 0.0, **policy})
    res = simulate(BatchingConfig(platform, NET, WorkloadConfig(), pol), requests=req)
    res.check()
    return res


def test_bucketing_batches_short_and_long_requests_apart():
    lengths = [5, 100, 6, 101, 4, 99, 7, 102]
    req = Requests(np.zeros(8), lengths)
    pad = run("padded", req)
    buck = run("bucketed", req, buckets=[10])
    assert pad.summary()["padding_fraction"] > 0.4  # every batch runs ~100 steps for 2 short ones
    assert buck.summary()["padding_fraction"] < 0.03  # buckets {4..7} and {99..102}
    assert buck.energy_j.sum() < pad.energy_j.sum()
    assert buck.finish[[0, 2, 4, 6]].max() < pad.finish[[0, 2, 4, 6]].min()  # the short bucket ran first


def test_one_bucket_holding_every_length_is_padded_batching():
    rng = np.random.default_rng(3)
    req = Requests(np.cumsum(rng.exponential(2e-3, 40)), rng.integers(1, 50, 40))
    pad = run("padded", req, timeout_s=1e-3)
    buck = run("bucketed", req, timeout_s=1e-3, buckets=[1000])
    np.testing.assert_array_equal(pad.finish, buck.finish)
    np.testing.assert_array_equal(pad.energy_j, buck.energy_j)


def test_each_bucket_waits_out_its_own_timeout():
    # a lone short request and a lone long one: each bucket launches when its oldest waited 10 ms
    req = Requests([0.0, 0.004], [5, 80])
    res = run("bucketed", req, timeout_s=0.01, buckets=[10])
    np.testing.assert_allclose(res.start, [0.01, max(0.014, res.finish[0])])


def test_empty_buckets_take_the_quartiles_and_are_reported():
    lengths = np.arange(1, 101)
    assert quartile_bounds(lengths) == [26, 51, 76]
    res = run("bucketed", Requests(np.zeros(100), lengths))
    assert res.extra["buckets"] == [26, 51, 76]


@pytest.mark.parametrize(
    "policy, msg",
    [
        ({"name": "padded", "buckets": [10]}, "use policy.name=bucketed"),
        ({"name": "bucketed", "buckets": [10, 10]}, "strictly ascending"),
        ({"name": "bucketed", "buckets": [0, 10]}, r"policy.buckets\[0\] must be an int >= 1"),
    ],
)
def test_bad_buckets_are_refused_in_one_line(policy, msg):
    with pytest.raises(ValueError, match=msg):
        PolicyConfig(**policy).validate()
