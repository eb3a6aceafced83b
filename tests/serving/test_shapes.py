"""Paper-scale shapes: weights beyond the buffers are charged DRAM traffic per the residency rule."""

import math

import pytest

from rnnaccel.hardware import layer_chunk_cost, load_hw
from rnnaccel.hardware.epur import weight_capacity
from rnnaccel.serving import ChunkCoster, NetworkConfig, load_batching_config
from rnnaccel.serving.shapes import available_shapes, load_shape

DRAM = 0  # index of "dram" in COMPONENTS


def test_every_shape_loads_and_is_labelled_shape_only():
    assert {"eesen_like", "ds2_like", "gnmt_like"} <= set(available_shapes())
    for name in available_shapes():
        s = load_shape(name)
        assert "shape only: no accuracy claim" in s.label and s.source
        cfg = s.batching(load_batching_config("ebatch"))
        assert cfg.network == s.network and cfg.workload.lengths == s.lengths


def _footprint(net: NetworkConfig) -> float:
    from rnnaccel.hardware import dense_layer_trace

    dirs = 2 if net.bidirectional else 1
    return dirs * sum(
        float(dense_layer_trace(net.cell, d, net.hidden_size, 1, 1).get("weight_bytes")[0]) for d in net.layer_inputs()
    )


def test_eesen_like_exceeds_the_buffers_and_refetches_every_layer_each_chunk():
    net = load_shape("eesen_like").network
    cap = weight_capacity(load_hw("epur"), "lstm")
    assert _footprint(net) > cap  # ~22 MB of 16-bit weights vs 8 MiB of weight buffers
    c = ChunkCoster("epur", net)
    assert c.modes == ["layer"] * 5  # each layer direction fits alone
    first, again = c.network_chunk(4, 16)[1], c.network_chunk(4, 16)[1]
    want = sum(
        layer_chunk_cost("epur", "lstm", d, 320, 4, 16).energy_j["dram"] for d in net.layer_inputs() for _ in (0, 1)
    )
    assert again[DRAM] == pytest.approx(want, rel=1e-12) and first[DRAM] == pytest.approx(want, rel=1e-12)
    assert c.weight_loads == 2 * 10  # every (layer, direction) fetched again in the second chunk
    # the 5x320 speech LSTM of the default configs fits: its second chunk fetches nothing
    small = ChunkCoster("epur", load_batching_config("ebatch").network)
    small.network_chunk(4, 16)
    assert small.modes == ["network"] * 5 and small.network_chunk(4, 16)[1][DRAM] == 0.0


@pytest.mark.parametrize("name", ["ds2_like", "gnmt_like"])
def test_layers_beyond_a_buffer_stream_every_step(name):
    """Recurrent rows stream at every step; input-to-hidden rows once per MWL window of the chunk."""
    net = load_shape(name).network
    c = ChunkCoster("epur", net)
    assert c.modes == ["stream"] * net.num_layers
    one = c.network_chunk(4, 1)[1][DRAM]
    eight = c.network_chunk(4, 8)[1][DRAM]
    H, mwl = net.hidden_size, load_hw("epur").arch.mwl_steps.value
    per_layer = [layer_chunk_cost("epur", net.cell, d, H, 4, 1).energy_j["dram"] for d in net.layer_inputs()]
    want = sum(e * (8 * H + math.ceil(8 / mwl) * d) / (d + H) for e, d in zip(per_layer, net.layer_inputs()))
    assert one == pytest.approx(sum(per_layer), rel=1e-9)
    assert one > 0 and eight == pytest.approx(want, rel=1e-9) and eight < 8 * one
    d0 = net.layer_inputs()[0]
    hot = layer_chunk_cost("epur", net.cell, d0, net.hidden_size, 4, 8, weights_resident=True)
    assert hot.stats["residency"] == "stream" and hot.energy_j["dram"] > 0  # residency cannot help
