"""Configuration of the per-time-step precision controller (hydra config group ``precision``).

A :class:`PrecisionConfig` is a plain dataclass (hydra structured-config schema, registered by
:func:`register_configs`) mirrored by ``rnnaccel/conf/precision/*.yaml``. Every check raises a
one-line ``ValueError`` naming the field. The exact rule the fields drive is in
``docs/precision.md``.
"""

# no ``from __future__ import annotations``: OmegaConf reads these annotations at run time
import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import List, Optional

from ...configio import packaged, plain_mapping, read_yaml_source, strict_kwargs

__all__ = [
    "PrecisionConfig",
    "LayerPrecision",
    "MODES",
    "METRICS",
    "WEIGHT_READS",
    "register_configs",
    "load_precision",
    "available_precision",
    "int_thresholds",
]

MODES = ("off", "static", "dynamic", "reexec")
METRICS = ("fraction", "max", "mean")
WEIGHT_READS = ("widest", "each")


@dataclass
class LayerPrecision:
    """Per-layer override of the controller's thresholds (``None`` keeps the global value)."""

    tau: Optional[float] = None
    thresholds: Optional[List[float]] = None


@dataclass
class PrecisionConfig:
    """How each (layer, direction) chooses the width of every time step.

    Attributes:
        mode: ``off`` (unit absent: the plain datapath), ``static`` (every step at ``bits``),
            ``dynamic`` (per row and step from the previous steps' state change) or ``reexec``
            (dynamic, then a step whose own change calls for a wider width than it ran at is
            recomputed at the ladder's widest width).
        ladder: the widths (bits) of weights and GEMM operands, strictly decreasing, each >= 2 and
            at most the stored weight width (e.g. ``[16, 8, 4]``).
        bits: the width of ``static`` mode (default: ``ladder[0]``).
        metric: ``fraction`` (share of elements with ``|dc| > tau``), ``max`` (``max |dc|``) or
            ``mean`` (``mean |dc|``), where ``dc`` is the step's cell-state change (LSTM) or
            hidden-state change (GRU).
        tau: element threshold of the ``fraction`` metric, in real units of the state (>= 0).
        thresholds: ``len(ladder) - 1`` non-increasing values ``phi_k >= 0``: a step runs at
            ``ladder[k]`` for the first ``k`` with ``metric > phi_k``, else at the narrowest
            width. A fraction for ``fraction`` (``<= 1``), real state units for ``max``/``mean``.
        history: the decision uses the maximum metric of the last ``history`` steps (>= 1).
        layers: per-layer overrides; ``layers[l]`` applies to layer ``l`` (both directions).
        weight_read: how ``weight_bytes`` counts a step whose rows use several widths:
            ``widest`` (default: one read of the widest width used; the narrower widths are its
            most significant bits) or ``each`` (one read per width used).
    """

    mode: str = "off"
    ladder: List[int] = field(default_factory=lambda: [16, 8, 4])
    bits: Optional[int] = None
    metric: str = "fraction"
    tau: float = 0.05
    thresholds: List[float] = field(default_factory=lambda: [0.2, 0.05])
    history: int = 1
    layers: List[LayerPrecision] = field(default_factory=list)
    weight_read: str = "widest"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"precision.mode={self.mode!r} unknown; choose one of {', '.join(MODES)}")
        if self.weight_read not in WEIGHT_READS:
            raise ValueError(
                f"precision.weight_read={self.weight_read!r} unknown; choose one of {', '.join(WEIGHT_READS)}"
            )
        if self.metric not in METRICS:
            raise ValueError(f"precision.metric={self.metric!r} unknown; choose one of {', '.join(METRICS)}")
        lad = list(self.ladder) if isinstance(self.ladder, (list, tuple)) else None
        if not lad or any(not _is_int(b) for b in lad):
            raise ValueError(f"precision.ladder={self.ladder!r} must be a non-empty list of ints")
        lad = [int(b) for b in lad]
        for b in lad:
            if b < 2:
                raise ValueError(f"precision.ladder={lad}: width {b} is below 2 bits")
        if any(a <= b for a, b in zip(lad, lad[1:])):
            raise ValueError(f"precision.ladder={lad} must be strictly decreasing (widest first), e.g. [16, 8, 4]")
        self.ladder = lad
        if self.bits is not None:
            if not _is_int(self.bits) or self.bits < 2:
                raise ValueError(f"precision.bits={self.bits!r} must be an int >= 2 (or null)")
            self.bits = int(self.bits)
        if not _is_int(self.history) or self.history < 1:
            raise ValueError(f"precision.history={self.history!r} must be an int >= 1")
        self.tau = _check_tau(self.tau, "precision.tau")
        self.thresholds = self._check_thresholds(self.thresholds, "precision.thresholds")
        layers = []
        for i, lp in enumerate(self.layers or []):
            if isinstance(lp, dict) or hasattr(lp, "keys"):
                unknown = set(lp.keys()) - {"tau", "thresholds"}
                if unknown:
                    raise ValueError(f"precision.layers[{i}]: unknown key(s) {sorted(unknown)}; known: tau, thresholds")
                lp = LayerPrecision(**dict(lp))
            if not isinstance(lp, LayerPrecision):
                raise ValueError(f"precision.layers[{i}] must be a mapping with tau/thresholds, got {lp!r}")
            if lp.tau is not None:
                lp.tau = _check_tau(lp.tau, f"precision.layers[{i}].tau")
            if lp.thresholds is not None:
                lp.thresholds = self._check_thresholds(lp.thresholds, f"precision.layers[{i}].thresholds")
            layers.append(lp)
        self.layers = layers

    def _check_thresholds(self, thr, name: str) -> List[float]:
        try:
            thr = [float(v) for v in thr]
        except (TypeError, ValueError):
            raise ValueError(f"{name}={thr!r} must be a list of numbers") from None
        if self.mode in ("dynamic", "reexec") and len(thr) != len(self.ladder) - 1:
            raise ValueError(
                f"{name}={thr}: need len(ladder) - 1 = {len(self.ladder) - 1} value(s) for ladder {self.ladder}"
            )
        if any(not math.isfinite(v) or v < 0 for v in thr):
            raise ValueError(f"{name}={thr}: values must be finite and >= 0")
        if self.metric == "fraction" and any(v > 1 for v in thr):
            raise ValueError(f"{name}={thr}: the fraction metric needs values in [0, 1]")
        if any(a < b for a, b in zip(thr, thr[1:])):
            raise ValueError(f"{name}={thr} must be non-increasing (one per ladder width, widest first)")
        return thr

    # ------------------------------------------------------------------ derived
    @property
    def widths(self) -> List[int]:
        """The widths a unit may choose, widest first (``[bits]`` in static mode)."""
        return [self.bits if self.bits is not None else self.ladder[0]] if self.mode == "static" else list(self.ladder)

    def check_layers(self, num_layers: int, where: str = "the model") -> None:
        """Refuse per-layer overrides for layers ``where`` does not have (never ignored silently)."""
        if len(self.layers) > num_layers:
            raise ValueError(
                f"precision.layers has {len(self.layers)} entries but {where} has {num_layers} recurrent "
                f"layer(s); entries past the last layer would be ignored: give at most {num_layers}"
            )

    def layer_rule(self, layer: int) -> tuple:
        """``(tau, thresholds)`` of ``layer`` (per-layer override or the global values)."""
        lp = self.layers[layer] if layer < len(self.layers) else LayerPrecision()
        return (
            lp.tau if lp.tau is not None else self.tau,
            list(lp.thresholds) if lp.thresholds is not None else list(self.thresholds),
        )

    def static_baselines(self) -> List["PrecisionConfig"]:
        """One ``static`` config per ladder width (the baselines of a dynamic run)."""
        return [
            PrecisionConfig(mode="static", ladder=list(self.ladder), bits=b, weight_read=self.weight_read)
            for b in self.ladder
        ]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "PrecisionConfig":
        """From a mapping or a hydra ``DictConfig`` (unknown keys are an error)."""
        return cls(**strict_kwargs(cls, d, "precision"))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_tau(v, name: str) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={v!r} must be a number") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name}={v!r} must be finite and >= 0")
    return v


def int_thresholds(metric: str, tau: float, thresholds: List[float], frac: int, hidden: int) -> tuple:
    """Real-unit thresholds -> integer thresholds on the state format with fraction ``frac``.

    Returns ``(tau_q, q)``: ``|d| > tau`` iff ``|d_int| > tau_q = floor(tau * 2**frac)``, and the
    step score ``s`` (an integer: count, max or sum of ``|d_int|`` over the ``hidden`` elements)
    exceeds ``phi_k`` iff ``s > q_k`` with ``q_k = floor(phi_k * H)`` (fraction),
    ``floor(phi_k * 2**frac)`` (max) or ``floor(phi_k * H * 2**frac)`` (mean). Exact (rationals).
    """
    s = Fraction(2) ** frac
    tau_q = math.floor(Fraction(tau) * s)
    scale = {"fraction": Fraction(hidden), "max": s, "mean": s * hidden}[metric]
    return tau_q, [math.floor(Fraction(p) * scale) for p in thresholds]


# ---------------------------------------------------------------------------- hydra / files
def register_configs() -> None:
    """Register the schema with hydra's ConfigStore as ``precision/schema`` (idempotent)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="precision", name="schema", node=PrecisionConfig)


def available_precision() -> List[str]:
    """Names of the packaged configs (``rnnaccel/conf/precision/*.yaml``)."""
    return packaged("precision")


def load_precision(src) -> PrecisionConfig:
    """A validated config from a packaged name (``"dynamic"``), a YAML path, a mapping or a
    hydra ``DictConfig``. YAML is merged onto the structured schema, so types are checked too."""
    if isinstance(src, PrecisionConfig):
        return src
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(src, str) or hasattr(src, "read_text"):
        node = OmegaConf.create(read_yaml_source("precision", src)[0])
    else:
        node = OmegaConf.create(plain_mapping(src, "precision"))
    try:
        merged = OmegaConf.merge(OmegaConf.structured(PrecisionConfig), node)
        d = OmegaConf.to_container(merged, resolve=True)
    except OmegaConfBaseException as e:
        raise ValueError(f"precision: {str(e).splitlines()[0]}") from None
    return PrecisionConfig.from_dict(d)
