"""rnnaccel.apps.precision_plot runs on any emulator LSTM/GRU + input and writes the figure."""

import json

import pytest
import torch

from rnnaccel.apps import precision_plot as mod
from rnnaccel.emulator.precision import PrecisionConfig


def test_plot_on_a_tiny_random_model(tmp_path):
    s = mod.main(
        [
            "--random",
            "--steps",
            "40",
            "--out",
            str(tmp_path / "f.png"),
            "--json",
            str(tmp_path / "s.json"),
            "--set",
            "tau=0.05",
            "--set",
            "thresholds=[0.2,0.05]",
        ]
    )
    assert (tmp_path / "f.png").stat().st_size > 1000
    d = json.loads((tmp_path / "s.json").read_text())
    assert len(d["bits"]) == len(d["state"]) == len(d["score"]) == 40
    assert d["bits"][0] == 16 and set(d["bits"]) <= {16, 8, 4} and d["thresholds"] == [0.2, 0.05]
    assert abs(sum(d["stats"]["L0.d0"].values()) - 1) < 1e-9 and s["neuron"] == d["neuron"]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_series_of_the_reverse_direction_is_in_time_order(cell):
    rnn, x = mod.random_case(cell, steps=16)
    torch.manual_seed(0)
    m = type(rnn)(4, 6, num_layers=1, bidirectional=True, mode="emulate", datapath=rnn.datapath[0])
    pc = PrecisionConfig(mode="dynamic", metric="max", thresholds=[0.1, 0.02])
    fwd = mod.precision_series(m, x, pc, direction=0, neuron=1)
    rev = mod.precision_series(m, x, pc, direction=1, neuron=1)
    assert fwd["bits"][0] == 16 and rev["bits"][-1] == 16  # each direction's first processed step
    assert len(rev["state"]) == 16 and m.units == [] and m.mode == "emulate"
