"""Configuration of neuron-level fuzzy memoization (hydra config group ``memo``).

:class:`MemoConfig` is a plain dataclass: the schema of the YAML files in ``rnnaccel/conf/memo/``
(``off``, ``bnn``, ``oracle``, ``delta``) and usable with ``OmegaConf.structured``. It is validated
when built; every bad value raises a one-line ``ValueError`` naming the field.

Thresholds are fixed-point constants: ``theta_q = round_half_even(theta * 2**theta_frac_bits)``.
``theta_q == 0`` (in particular ``theta = 0``) disables reuse, so the outputs are bit-identical to
memoization off. See ``docs/memoization.md`` for the exact decision rule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, List, Mapping, Optional

from ...configio import packaged, read_yaml_source, strict_kwargs
from ..gates import DATAPATH_ORDER, TORCH_ORDER

__all__ = ["MemoConfig", "load_memo", "available_memo", "PREDICTORS", "RULES", "CACHES", "GATE_NAMES"]

PREDICTORS = ("off", "bnn", "oracle", "delta")
RULES = ("relative", "absolute")
CACHES = ("output", "preact")
#: gate names per cell in PyTorch order (per-gate thresholds are given by these names)
GATE_NAMES = TORCH_ORDER
#: datapath gate order (docs/datapath.md): LSTM [i, f, o, g], GRU [r, z, n]
DATAPATH_GATES = DATAPATH_ORDER
THETA_MAX = float(2**20)  # keeps the integer test exact in int64 (checked again per layer)


def _check_theta(v: Any, label: str) -> float:
    bad = isinstance(v, bool) or not isinstance(v, (int, float))
    if bad or not math.isfinite(v) or not 0 <= v <= THETA_MAX:
        raise ValueError(f"{label}={v!r} is invalid: a threshold must be a finite number in [0, {THETA_MAX:g}]")
    return float(v)


@dataclass
class MemoConfig:
    """Neuron-level fuzzy memoization settings (one object for a whole recurrent stack).

    Attributes:
        predictor: ``off`` | ``bnn`` (binarized twin network, the technique) | ``oracle`` (true
            output change; an upper bound) | ``delta`` (DeltaRNN-style change of ``[x_t; h_{t-1}]``).
        theta: global threshold (>= 0). 0 never reuses.
        rule: ``relative`` (|s - s_m| <= theta * max(|s_m|, 1)) or ``absolute`` (|s - s_m| <= theta
            in the predictor's units: BNN integers; real values for oracle and delta).
        accumulate: sum the change over consecutive reuses since the last real evaluation and
            reuse only while the sum passes the test.
        max_reuse: at most this many consecutive reuses of one entry (None: no cap).
        cache: ``output`` (post-activation, the default) or ``preact`` (pre-activation, re-activated).
        sign_zero: sign given to a zero input or weight by the BNN (+1 or -1).
        theta_frac_bits: fraction bits ``k`` of the fixed-point threshold.
        layers: recurrent layers memoized (None: all).
        per_layer: per-layer thresholds: entry ``l`` is null (use ``theta``), a number, or a mapping
            gate name -> number (PyTorch names: LSTM i, f, g, o; GRU r, z, n; missing gates use
            ``theta``). Layers past the list use ``theta``; a list longer than the model's layers is
            refused when the technique is attached (:meth:`check_layers`).
    """

    predictor: str = "off"
    theta: float = 0.0
    rule: str = "relative"
    accumulate: bool = False
    max_reuse: Optional[int] = None
    cache: str = "output"
    sign_zero: int = 1
    theta_frac_bits: int = 16
    layers: Optional[List[int]] = None
    per_layer: Optional[List[Any]] = None

    def __post_init__(self):
        for name, opts in (("predictor", PREDICTORS), ("rule", RULES), ("cache", CACHES)):
            if getattr(self, name) not in opts:
                raise ValueError(f"memo.{name}={getattr(self, name)!r} unknown; choose one of {', '.join(opts)}")
        self.theta = _check_theta(self.theta, "memo.theta")
        if not isinstance(self.accumulate, bool):
            raise ValueError(f"memo.accumulate must be true or false, got {self.accumulate!r}")
        if self.max_reuse is not None and (
            isinstance(self.max_reuse, bool) or not isinstance(self.max_reuse, int) or self.max_reuse < 0
        ):
            raise ValueError(f"memo.max_reuse={self.max_reuse!r} is invalid: need null or an int >= 0")
        if self.sign_zero not in (1, -1) or isinstance(self.sign_zero, bool):
            raise ValueError(f"memo.sign_zero={self.sign_zero!r} is invalid: need +1 or -1")
        k = self.theta_frac_bits
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 24:
            raise ValueError(f"memo.theta_frac_bits={k!r} is invalid: need an int in [0, 24]")
        if self.layers is not None:
            self.layers = list(self.layers)
            if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in self.layers):
                raise ValueError(f"memo.layers={self.layers!r} is invalid: need null or a list of layer indices >= 0")
        if self.per_layer is not None:
            self.per_layer = [self._check_entry(e, i) for i, e in enumerate(self.per_layer)]

    @staticmethod
    def _check_entry(e: Any, i: int) -> Any:
        label = f"memo.per_layer[{i}]"
        if e is None:
            return None
        if isinstance(e, Mapping) or hasattr(e, "items"):
            names = {g for gs in GATE_NAMES.values() for g in gs}
            out = {}
            for g, v in dict(e).items():
                if g not in names:
                    raise ValueError(f"{label}: gate {g!r} unknown; gates are LSTM i, f, g, o and GRU r, z, n")
                out[g] = _check_theta(v, f"{label}.{g}")
            return out
        return _check_theta(e, label)

    def check_layers(self, num_layers: int, where: str = "the model") -> None:
        """Refuse settings that name layers ``where`` does not have (they would be ignored
        silently): a ``per_layer`` list longer than ``num_layers`` or a ``layers`` index past it."""
        n = len(self.per_layer or [])
        if n > num_layers:
            raise ValueError(
                f"memo.per_layer has {n} entries but {where} has {num_layers} recurrent layer(s); "
                f"entries past the last layer would be ignored: give at most {num_layers}"
            )
        extra = sorted(i for i in self.layers or [] if i >= num_layers)
        if extra:
            raise ValueError(
                f"memo.layers={self.layers} names layer(s) {extra} but {where} has {num_layers} recurrent "
                f"layer(s) (indices 0-{num_layers - 1})"
            )

    # ------------------------------------------------------------------ thresholds
    def gate_thetas(self, layer: int, cell: str) -> list[float]:
        """Thresholds of ``layer``'s gates in **datapath** gate order (LSTM i, f, o, g; GRU r, z, n)."""
        e = self.per_layer[layer] if self.per_layer is not None and layer < len(self.per_layer) else None
        if e is None:
            e = self.theta
        if isinstance(e, dict):
            bad = set(e) - set(GATE_NAMES[cell])
            if bad:
                raise ValueError(
                    f"memo.per_layer[{layer}]: gate(s) {sorted(bad)} do not exist in a {cell.upper()} "
                    f"(gates: {', '.join(GATE_NAMES[cell])})"
                )
            return [e.get(g, self.theta) for g in DATAPATH_GATES[cell]]
        return [e] * len(DATAPATH_GATES[cell])

    def theta_q(self, theta: float) -> int:
        """The fixed-point threshold: ``round_half_even(theta * 2**theta_frac_bits)`` (exact scaling)."""
        return int(round(theta * 2.0**self.theta_frac_bits))

    def enabled(self, layer: int) -> bool:
        return self.predictor != "off" and (self.layers is None or layer in self.layers)

    # ------------------------------------------------------------------ (de)serialization
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any, label: str = "memo") -> "MemoConfig":
        return cls(**strict_kwargs(cls, d, label))


def available_memo() -> list[str]:
    """Names of the packaged configs in ``rnnaccel/conf/memo``."""
    return packaged("memo")


def load_memo(src: "str | Path | Mapping | MemoConfig | None") -> MemoConfig:
    """A validated :class:`MemoConfig` from a packaged name (``off``, ``bnn``, ``oracle``,
    ``delta``), a YAML path, a mapping or a hydra DictConfig. ``None`` is ``off``."""
    if src is None:
        return MemoConfig()
    if isinstance(src, MemoConfig):
        return src
    if not isinstance(src, (str, Path)):
        return MemoConfig.from_dict(src)
    return MemoConfig.from_dict(*read_yaml_source("memo", src))
