"""Paper-scale cost-model workloads (``rnnaccel/conf/workload/*.yaml``): the papers' network
shapes with random weights, labelled "shape only: no accuracy claim".

A shape names a recurrent stack (``network``, the part the serving simulator batches), the length
histogram of its requests (``workload``), the short synthetic sequences the emulator runs for its
counts (``emulate``: lengths uniform in ``[min_steps, max_steps]``, seeded) and, for an
encoder-decoder, a ``decoder`` stack counted by the emulator but not served (a decoder step needs
the previous output token, so it cannot run layer-major over a chunk).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..configio import packaged, read_yaml_source
from .config import BatchingConfig, NetworkConfig

__all__ = ["Shape", "EmulateSpec", "load_shape", "available_shapes"]


@dataclass(frozen=True)
class EmulateSpec:
    sequences: int = 2
    min_steps: int = 3
    max_steps: int = 6
    seed: int = 0


@dataclass(frozen=True)
class Shape:
    name: str
    label: str
    source: str
    network: NetworkConfig
    lengths: str
    length_divisor: int
    emulate: EmulateSpec
    decoder: Optional[NetworkConfig] = None

    def batching(self, base: BatchingConfig) -> BatchingConfig:
        """``base`` with this shape's network and request lengths."""
        net = {
            k: getattr(self.network, k) for k in ("cell", "num_layers", "input_size", "hidden_size", "bidirectional")
        }
        return base.with_(network=net, workload={"lengths": self.lengths, "length_divisor": self.length_divisor})

    def stacks(self) -> list[tuple[str, NetworkConfig]]:
        """``[("encoder" or "network", net), ("decoder", net)?]``."""
        first = "encoder" if self.decoder is not None else "network"
        return [(first, self.network)] + ([("decoder", self.decoder)] if self.decoder is not None else [])


def available_shapes() -> list[str]:
    return packaged("workload")


def _net(d, label: str) -> NetworkConfig:
    try:
        n = NetworkConfig(**d)
    except TypeError as e:
        raise ValueError(f"{label}: {e}") from None
    n.validate(label)
    return n


def load_shape(src: str) -> Shape:
    """A packaged shape (``eesen_like``, ``ds2_like``, ``gnmt_like``) or a YAML path."""
    d, label = read_yaml_source("workload", src, "workload shape")
    known = {"label", "source", "network", "workload", "emulate", "decoder"}
    bad = set(d) - known
    if bad:
        raise ValueError(f"{label}: unknown key(s) {sorted(bad)}; known: {sorted(known)}")
    if "shape only" not in str(d.get("label", "")):
        raise ValueError(f"{label}: label must say 'shape only: no accuracy claim' (random weights)")
    w = d.get("workload") or {}
    em = EmulateSpec(**(d.get("emulate") or {}))
    if not 1 <= em.min_steps <= em.max_steps or em.sequences < 1:
        raise ValueError(f"{label}: emulate needs 1 <= min_steps <= max_steps and sequences >= 1, got {em}")
    name = str(src).rsplit("/", 1)[-1].removesuffix(".yaml")
    dec = _net(d["decoder"], "decoder") if d.get("decoder") else None
    return Shape(
        name,
        d["label"],
        " ".join(str(d.get("source", "")).split()),
        _net(d["network"], "network"),
        str(w.get("lengths", "digits_test")),
        int(w.get("length_divisor", 1)),
        em,
        dec,
    )
