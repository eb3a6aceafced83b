"""Shared builders for the cost-model tests: hand-made LayerTraces and raw YAML price tables."""

from importlib import resources

import numpy as np
import pytest
import yaml

from rnnaccel.emulator.trace import LayerTrace, Trace


def _lt(cell="lstm", D=2, H=1, steps=2, wb=16, ab=16, layer=0, direction=0, **counters):
    lt = LayerTrace(layer, direction, cell, D, H, steps, wb, ab)
    for name, v in counters.items():
        name = name.replace("__", ".")  # mac__16x16 -> mac.16x16
        lt.add(name, np.broadcast_to(np.asarray(v, dtype=np.int64), (steps,)))
    return lt


@pytest.fixture
def make_lt():
    """``make_lt(cell, D, H, steps, wb, ab, mac__16x16=[..], weight_bytes=..)`` -> LayerTrace
    (double underscores in counter names stand for dots; scalars are broadcast over steps)."""
    return _lt


@pytest.fixture
def make_trace():
    def build(*lts):
        return Trace(list(lts))

    return build


@pytest.fixture
def raw_yaml():
    """The packaged price table as a plain dict, read straight from the YAML file."""

    def load(name):
        return yaml.safe_load((resources.files("rnnaccel.conf") / "hw" / f"{name}.yaml").read_text())

    return load
