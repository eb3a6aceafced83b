"""Config schema of the batching simulator: plain dataclasses mirrored by ``rnnaccel/conf/batching/*.yaml``.

``BatchingConfig`` = ``platform`` (a price table, ``rnnaccel/conf/hw``) + ``network`` + ``workload``
+ ``policy``. :func:`load_batching_config` builds one from a packaged name (``"ebatch"``), a YAML
path, a mapping or a hydra DictConfig, refusing unknown keys and bad values with a one-line
``ValueError`` that names the field (``workload.rate must be a finite number > 0, got -1``).
:func:`register_configs` stores the schema in hydra's ConfigStore (group ``batching``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Optional


from ..configio import packaged, read_yaml_source

__all__ = [
    "NetworkConfig",
    "WorkloadConfig",
    "PolicyConfig",
    "BatchingConfig",
    "POLICIES",
    "load_batching_config",
    "available_batching_configs",
    "register_configs",
]

#: scheduling policies (see docs/batching.md)
POLICIES = ("none", "padded", "bucketed", "cellular", "ebatch")
CELLS = ("lstm", "gru")
FINISHED_LANES = ("skip", "compute")


def _int(v, name: str, lo: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")


def _num(v, name: str, lo: float, strict: bool) -> None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or v < lo or (strict and v == lo):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {lo}, got {v!r}")


@dataclass
class NetworkConfig:
    """The recurrent stack the accelerator runs: ``num_layers`` layers of ``hidden_size`` units;
    layer 0 reads ``input_size`` features, layer l > 0 reads ``hidden_size * directions``."""

    cell: str = "lstm"
    num_layers: int = 5
    input_size: int = 40
    hidden_size: int = 320
    bidirectional: bool = False

    def validate(self, p: str = "network") -> None:
        if self.cell not in CELLS:
            raise ValueError(f"{p}.cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for n in ("num_layers", "input_size", "hidden_size"):
            _int(getattr(self, n), f"{p}.{n}", 1)
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"{p}.bidirectional must be true or false, got {self.bidirectional!r}")

    def layer_inputs(self) -> list[int]:
        """Input width of every layer (features)."""
        dirs = 2 if self.bidirectional else 1
        return [self.input_size] + [self.hidden_size * dirs] * (self.num_layers - 1)


@dataclass
class WorkloadConfig:
    """Requests: arrival times and lengths.

    ``arrival``: ``"poisson"`` (exponential gaps at ``rate`` requests/s) or ``"trace"`` (file
    ``trace``: one request per line, ``arrival_s [length_steps]``). ``lengths``: a packaged
    histogram name (``digits_test``, ``multi30k_test2016_en``) or a YAML path; a drawn length L
    becomes ``ceil(L / length_divisor)`` time steps (frame stacking with a stride).
    """

    arrival: str = "poisson"
    rate: float = 20.0  # requests per second
    trace: Optional[str] = None
    lengths: str = "digits_test"
    length_divisor: int = 1
    num_requests: int = 2000
    seed: int = 0

    def validate(self, p: str = "workload") -> None:
        if self.arrival not in ("poisson", "trace"):
            raise ValueError(f"{p}.arrival must be 'poisson' or 'trace', got {self.arrival!r}")
        if self.arrival == "poisson":
            _num(self.rate, f"{p}.rate", 0.0, strict=True)
        elif not self.trace:
            raise ValueError(f"{p}.trace must name a trace file when {p}.arrival is 'trace'")
        if not isinstance(self.lengths, str) or not self.lengths:
            raise ValueError(f"{p}.lengths must name a length histogram, got {self.lengths!r}")
        _int(self.length_divisor, f"{p}.length_divisor", 1)
        _int(self.num_requests, f"{p}.num_requests", 1)
        _int(self.seed, f"{p}.seed", 0)


@dataclass
class PolicyConfig:
    """Scheduling policy and its knobs (each policy reads the ones docs/batching.md lists).

    ``max_batch``: batch cap (padded, cellular) = number of lanes (E-BATCH); 1 for ``none``.
    ``timeout_s``: padded batching launches a partial batch once its oldest request waited this long.
    ``buckets``: ``bucketed`` (padded batching with length bucketing) groups requests by length:
    ascending upper bounds in time steps, a request goes to the first bucket whose bound is >= its
    length (longer ones to a last open bucket); each bucket batches on its own (cap, timeout).
    Empty: the quartiles of the run's request lengths (three bounds, four buckets).
    ``latency_target_s``: E-BATCH's controller keeps the p95 latency of the last ``window``
    completions under it by halving / doubling the steps per batch within
    ``[steps_min, steps_max]`` (powers of two); ``adaptive: false`` pins it at ``steps_max``.
    ``finished_lanes`` (E-BATCH): ``skip`` — a lane whose request ended inside a chunk with nothing
    queued to refill it is not computed for the rest of the chunk (the accelerator knows each
    lane's end of sequence, E-BATCH's hardware support); ``compute`` — it computes padding to the
    chunk's end (every lane runs every step of the chunk).
    """

    name: str = "ebatch"
    max_batch: int = 32
    timeout_s: float = 0.05
    latency_target_s: float = 2.0
    steps_min: int = 8
    steps_max: int = 256
    adaptive: bool = True
    window: int = 32
    buckets: list[int] = field(default_factory=list)
    finished_lanes: str = "skip"

    def validate(self, p: str = "policy") -> None:
        if self.name not in POLICIES:
            raise ValueError(f"{p}.name must be one of {', '.join(POLICIES)}, got {self.name!r}")
        _int(self.max_batch, f"{p}.max_batch", 1)
        _num(self.timeout_s, f"{p}.timeout_s", 0.0, strict=False)
        _num(self.latency_target_s, f"{p}.latency_target_s", 0.0, strict=True)
        for n in ("steps_min", "steps_max"):
            v = getattr(self, n)
            _int(v, f"{p}.{n}", 1)
            if v & (v - 1):
                raise ValueError(f"{p}.{n} must be a power of two, got {v}")
        if self.steps_min > self.steps_max:
            raise ValueError(f"{p}.steps_min={self.steps_min} exceeds {p}.steps_max={self.steps_max}")
        if not isinstance(self.adaptive, bool):
            raise ValueError(f"{p}.adaptive must be true or false, got {self.adaptive!r}")
        _int(self.window, f"{p}.window", 1)
        if self.finished_lanes not in FINISHED_LANES:
            raise ValueError(f"{p}.finished_lanes must be skip or compute, got {self.finished_lanes!r}")
        if self.finished_lanes != "skip" and self.name != "ebatch":
            raise ValueError(f"{p}.finished_lanes is E-BATCH's; {self.name} does not read it (leave it at skip)")
        self._validate_buckets(p)

    def _validate_buckets(self, p: str) -> None:
        b = self.buckets
        if not isinstance(b, (list, tuple)):
            raise ValueError(f"{p}.buckets must be a list of length bounds in steps, got {b!r}")
        for i, v in enumerate(b):
            _int(v, f"{p}.buckets[{i}]", 1)
        if any(x >= y for x, y in zip(b, b[1:])):
            raise ValueError(f"{p}.buckets must be strictly ascending, got {list(b)}")
        if self.name == "padded" and b:
            raise ValueError(f"{p}.buckets is set but policy.name is padded; use policy.name=bucketed")


@dataclass
class BatchingConfig:
    """One simulation: ``platform`` names a price table (``epur``, ``tpu`` or a YAML path).
    ``techniques``: an evaluation trace (``.npz`` from ``eval.trace_output``, or ``.json``) of the
    served network with its techniques on; chunk costs then scale with its per-row counts
    (:mod:`.techniques`). ``null``: every neuron computed at full width."""

    platform: str = "epur"
    network: NetworkConfig = field(default_factory=NetworkConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    techniques: Optional[str] = None

    def validate(self) -> "BatchingConfig":
        if not isinstance(self.platform, str) or not self.platform:
            raise ValueError(f"platform must name a price table (epur, tpu or a .yaml), got {self.platform!r}")
        if self.techniques is not None and (not isinstance(self.techniques, str) or not self.techniques):
            raise ValueError(f"techniques must name a trace file (.npz or .json) or be null, got {self.techniques!r}")
        self.network.validate()
        self.workload.validate()
        self.policy.validate()
        if self.network.bidirectional and self.policy.name == "cellular":
            raise ValueError(
                "policy.name: cellular batching needs unidirectional layers "
                "(network.bidirectional is true; see docs/batching.md)"
            )
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **sections) -> "BatchingConfig":
        """A validated copy with fields replaced, e.g. ``cfg.with_(policy={"name": "padded"}, platform="tpu")``
        (section mappings update only the keys they give)."""
        d = self.to_dict()
        for k, v in sections.items():
            if k in d and isinstance(d[k], dict) and isinstance(v, Mapping):
                d[k] = {**d[k], **v}
            else:
                d[k] = v
        return BatchingConfig.from_dict(d)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BatchingConfig":
        d = _plain(d)
        if not isinstance(d, Mapping):
            raise ValueError(f"batching config must be a mapping, got {type(d).__name__}")
        _reject_unknown(d, cls, "")
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            sub = {"network": NetworkConfig, "workload": WorkloadConfig, "policy": PolicyConfig}.get(f.name)
            if sub is None:
                kw[f.name] = d[f.name]
            else:
                if not isinstance(d[f.name], Mapping):
                    raise ValueError(f"{f.name} must be a mapping, got {d[f.name]!r}")
                _reject_unknown(d[f.name], sub, f.name + ".")
                kw[f.name] = sub(**d[f.name])
        return cls(**kw).validate()


def _plain(d):
    try:  # a hydra / OmegaConf node
        from omegaconf import DictConfig, OmegaConf

        if isinstance(d, DictConfig):
            return OmegaConf.to_container(d, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return d


def _reject_unknown(d: Mapping, cls, prefix: str) -> None:
    known = {f.name for f in fields(cls)}
    for k in d:
        if k not in known:
            raise ValueError(f"{prefix}{k} is not a batching config field; known: {', '.join(sorted(known))}")


def available_batching_configs() -> list[str]:
    """Names of the packaged ``rnnaccel/conf/batching/*.yaml`` configs."""
    return packaged("batching")


def load_batching_config(src: "str | Path | Mapping | BatchingConfig" = "ebatch") -> BatchingConfig:
    """A validated :class:`BatchingConfig` from a packaged name, a YAML path, a mapping or a DictConfig."""
    if isinstance(src, BatchingConfig):
        return src.validate()
    if not isinstance(src, (str, Path)):
        return BatchingConfig.from_dict(src)
    return BatchingConfig.from_dict(read_yaml_source("batching", src, "batching config")[0])


def register_configs() -> None:
    """Store :class:`BatchingConfig` in hydra's ConfigStore as ``batching/schema`` (call it once in
    an app before ``@hydra.main``; YAML files may then name it in their defaults list)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="batching", name="schema", node=BatchingConfig)
