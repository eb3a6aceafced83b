"""Config and workload validation: bad values are refused with one-line errors naming the field;
packaged YAML configs and length histograms load (plain and through hydra)."""

import math

import numpy as np
import pytest

from rnnaccel.serving import (
    POLICIES,
    BatchingConfig,
    LengthDistribution,
    available_batching_configs,
    available_lengths,
    load_batching_config,
    load_lengths,
    make_requests,
    poisson_arrivals,
    simulate,
)


def one_line_error(fn, field):
    with pytest.raises(ValueError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg and field in msg, msg
    return msg


@pytest.mark.parametrize("rate", [0, -1.0, math.nan, math.inf, "fast", True])
def test_invalid_rate_rejected(rate):
    one_line_error(lambda: load_batching_config({"workload": {"rate": rate}}), "workload.rate")
    one_line_error(lambda: poisson_arrivals(rate, 10, np.random.default_rng(0)), "workload.rate")


def test_empty_length_distribution_rejected(tmp_path):
    one_line_error(lambda: LengthDistribution.from_lengths([], "x"), "workload.lengths")
    one_line_error(
        lambda: LengthDistribution("x", np.array([], dtype=np.int64), np.array([], dtype=np.int64)), "workload.lengths"
    )
    one_line_error(lambda: LengthDistribution("x", np.array([3]), np.array([0])), "workload.lengths")
    one_line_error(lambda: LengthDistribution("x", np.array([0, 2]), np.array([1, 1])), "workload.lengths")
    p = tmp_path / "empty.yaml"
    p.write_text("name: empty\nvalues: []\ncounts: []\n")
    one_line_error(lambda: load_lengths(p), "workload.lengths")
    cfg = load_batching_config({"workload": {"lengths": str(p), "num_requests": 3}})
    one_line_error(lambda: simulate(cfg), "workload.lengths")


@pytest.mark.parametrize(
    "section,key,value,field",
    [
        ("policy", "name", "greedy", "policy.name"),
        ("policy", "max_batch", 0, "policy.max_batch"),
        ("policy", "timeout_s", -1.0, "policy.timeout_s"),
        ("policy", "latency_target_s", 0.0, "policy.latency_target_s"),
        ("policy", "steps_max", 100, "policy.steps_max"),
        ("policy", "steps_min", 512, "policy.steps_min"),
        ("network", "cell", "rnn", "network.cell"),
        ("network", "hidden_size", 0, "network.hidden_size"),
        ("workload", "arrival", "uniform", "workload.arrival"),
        ("workload", "num_requests", 0, "workload.num_requests"),
        ("workload", "length_divisor", 0, "workload.length_divisor"),
        ("workload", "colour", "red", "workload.colour"),
    ],
)
def test_bad_fields_named(section, key, value, field):
    one_line_error(lambda: load_batching_config({section: {key: value}}), field)


def test_unknown_names_rejected():
    one_line_error(lambda: load_batching_config("nonexistent"), "batching config")
    one_line_error(lambda: load_lengths("nonexistent"), "workload.lengths")
    one_line_error(lambda: load_batching_config({"workload": {"arrival": "trace"}}), "workload.trace")


def test_packaged_configs_and_histograms_load():
    names = available_batching_configs()
    assert set(POLICIES) <= set(names)
    for n in names:
        assert isinstance(load_batching_config(n), BatchingConfig)
    assert load_batching_config("padded").policy.name == "padded"
    assert {"digits_test", "multi30k_test2016_en"} <= set(available_lengths())
    d = load_lengths("digits_test")
    assert int(d.counts.sum()) == 500 and 200 < d.mean < 260  # 10 ms frames of ~2.3 s utterances
    t = load_lengths("multi30k_test2016_en")
    assert int(t.counts.sum()) == 1000 and 8 < t.mean < 16


def test_requests_are_seeded_and_follow_the_histogram():
    w = load_batching_config({"workload": {"num_requests": 4000, "rate": 10.0, "length_divisor": 3}}).workload
    a, b = make_requests(w), make_requests(w)
    np.testing.assert_array_equal(a.arrival, b.arrival)
    np.testing.assert_array_equal(a.length, b.length)
    d = load_lengths("digits_test")
    assert a.length.mean() == pytest.approx(d.mean / 3, rel=0.05)
    assert np.diff(a.arrival).mean() == pytest.approx(0.1, rel=0.1)


def test_hydra_compose_matches_plain_yaml():
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from rnnaccel.serving import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="rnnaccel.conf", version_base="1.3"):
            c = compose(overrides=["+batching=ebatch", "batching.platform=tpu", "batching.policy.max_batch=8"])
    finally:
        GlobalHydra.instance().clear()
    cfg = load_batching_config(c.batching)
    assert cfg == load_batching_config("ebatch").with_(platform="tpu", policy={"max_batch": 8})
