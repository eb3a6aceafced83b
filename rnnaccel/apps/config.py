"""Structured configs of the hydra applications, registered in hydra's ConfigStore.

The app schemas (``train_app``, ``quantize_app``, ``evaluate_app``, ``batching_app``,
``report_app``) are typed dataclasses; the YAML files in ``rnnaccel/conf/`` (groups ``model``,
``data``, ``datapath``, ``memo``, ``precision``, ``hw``, ``batching``) merge into them, so an
override naming an unknown key or a value of the wrong type is an error. The technique groups use
their units' own schemas (:class:`~rnnaccel.emulator.memo.MemoConfig`,
:class:`~rnnaccel.emulator.precision.PrecisionConfig`,
:class:`~rnnaccel.serving.BatchingConfig`); a price table (``hw``) is a nested mapping
checked by :func:`rnnaccel.hardware.load_hw` when an app starts (Hydra's struct mode already
refuses new keys). Values a type cannot rule out (``memo.theta=-1``) are refused by
:func:`rnnaccel.apps.evaluate.validate` before any data is read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, make_dataclass
from enum import Enum
from importlib import resources
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore

from ..configio import read_yaml_source
from ..datasets import FeatureConfig
from ..datasets.augment import AugmentConfig
from ..emulator import DatapathConfig, Fmt
from ..emulator.config import TENSOR_CLASSES
from ..errors import RnnaccelError, one_line
from ..serving import BatchingConfig
from ..emulator.memo import MemoConfig
from ..emulator.precision import PrecisionConfig
from ..models.speech import SpeechModelConfig

__all__ = [
    "DataConf",
    "DatapathConf",
    "TrainConf",
    "EvalConf",
    "TrainApp",
    "QuantizeApp",
    "EvaluateApp",
    "BatchingRunConf",
    "BatchingApp",
    "ReportConf",
    "ReportApp",
    "register",
    "to_datapath_config",
    "to_feature_config",
    "check_datapath",
    "datapath_overrides",
    "app_default",
    "CALIBRATION_FIELDS",
]


@dataclass
class FeaturesConf:
    """Front end (:class:`rnnaccel.datasets.FeatureConfig`)."""

    kind: str = "logmel"
    sample_rate: int = 16000  # Hz, audio is resampled to this rate
    n_mels: int = 40
    win_ms: float = 25.0
    hop_ms: float = 10.0


def to_feature_config(c: FeaturesConf) -> FeatureConfig:
    return FeatureConfig(kind=c.kind, sample_rate=c.sample_rate, n_mels=c.n_mels, win_ms=c.win_ms, hop_ms=c.hop_ms)


@dataclass
class DataConf:
    """Corpus, splits and caching. ``corpus``: ``connected_digits`` (FSDD), ``synth_speech`` (the
    generated synthesized-speech corpus, ``python scripts/make_synth_corpus.py``; ``root`` is its
    directory, default the cache), ``vader_sentiment`` (the shipped movie-review snippets; only
    ``corpus_seed`` applies, the vocab is the checkpoint's), ``folder`` (your own recordings:
    ``root`` + ``transcripts``, :mod:`rnnaccel.datasets.folder`) or ``parallel`` (your own sentence
    pairs for a translator: ``src`` + ``tgt``, or ``pairs``)."""

    corpus: str = "connected_digits"
    root: Optional[str] = None  # data root (default: rnnaccel.datasets.default_data_root())
    scheme: str = "speaker"  # "speaker" (speaker-disjoint) or "index" (index-disjoint: in-domain)
    test_speaker: str = "theo"  # scheme=speaker: the held-out FSDD speaker, a name or fold 0-5
    num_train: Optional[int] = 6000  # utterances (synth_speech: the first N; None = all)
    num_val: Optional[int] = 500
    num_test: Optional[int] = 500
    corpus_seed: int = 0  # seed of the utterance generator
    vocab: str = "word"  # "word" (digit words) or "char"
    features: FeaturesConf = field(default_factory=FeaturesConf)
    spec_augment: bool = True  # training only
    spec_warp: int = 0  # spec_augment: widest warp of the band axis, bands (datasets.features.warp_bands; 0 = off)
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # waveform ops, training only
    synth_train: int = 0  # connected_digits: synthesized-voice utterances added to train only
    synth_natural_share: float = 0.5  # share of them spoken by flite/festival voices
    cache_dir: Optional[str] = "runs/cache"  # features cache (None: no cache)
    transcripts: Optional[str] = None  # folder: path<TAB>transcript TSV or JSONL (null: the one in root)
    oov: str = "keep"  # folder: words the vocabulary lacks stay in the WER reference (keep) or are dropped
    src: Optional[str] = None  # parallel: source sentences, one a line
    tgt: Optional[str] = None  # parallel: their translations, line by line
    pairs: Optional[str] = None  # parallel: one source<TAB>target file instead of src + tgt


def _datapath_fields() -> list[tuple]:
    """The fields of :class:`~rnnaccel.emulator.DatapathConfig` with the types a hydra schema can
    hold: formats as ``"Q<bits>.<frac>"`` strings, the rounding mode as its name, the rest as is;
    defaults from ``DatapathConfig()``. A field added there appears here by itself."""
    base = DatapathConfig()
    out = []
    for f in fields(DatapathConfig):
        v = getattr(base, f.name)
        if isinstance(v, Fmt):
            out.append((f.name, str, field(default=str(v))))
        elif isinstance(v, Enum):
            out.append((f.name, str, field(default=v.value)))
        else:
            out.append((f.name, type(v), field(default=v)))
    return out


#: the settings of post-training calibration (``datapath.calibrate=true``), next to the datapath fields
CALIBRATION_FIELDS = (
    ("calibrate", bool, field(default=True)),  # pick formats from data (PTQ); the fixed formats are then unused
    ("bits", int, field(default=16)),  # storage width of every calibrated format
    ("margin", float, field(default=0.0)),  # cover max|v| * (1 + margin)
    ("calib_batches", int, field(default=8)),  # training batches used to calibrate
    ("calib_batch_size", int, field(default=32)),
)

DatapathConf = make_dataclass("DatapathConf", _datapath_fields() + list(CALIBRATION_FIELDS))
DatapathConf.__module__ = __name__
DatapathConf.__doc__ = (
    "The datapath group: every :class:`~rnnaccel.emulator.DatapathConfig` field (formats as "
    '``"Q<bits>.<frac>"``) plus the calibration settings; with ``calibrate`` the formats come '
    "from data (PTQ), without it the fixed formats apply."
)


def to_datapath_config(c) -> DatapathConfig:
    """The :class:`DatapathConfig` of a ``datapath`` group node (its fixed formats)."""
    return DatapathConfig.from_dict({f.name: getattr(c, f.name) for f in fields(DatapathConfig)})


def _plain(c) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.structured(c), resolve=True)


def _differing(c, ref: dict, names) -> list[str]:
    got = _plain(c)
    return [f"datapath.{k}={got[k]}" for k in names if got[k] != ref[k]]


def check_datapath(c) -> DatapathConfig:
    """Every check of a ``datapath`` node that needs no data; returns the fixed config.

    Refuses (one :class:`RnnaccelError` line naming the field) an invalid value, and a field the
    chosen mode does not use: the fixed formats under ``calibrate=true`` (calibration picks them),
    the calibration settings under ``calibrate=false``."""
    try:
        cfg = to_datapath_config(c)
        if c.calibrate:
            Fmt(c.bits, 0)
    except ValueError as e:
        what = f"datapath.bits={c.bits}: {e}" if "datapath" not in str(e) else str(e)
        raise RnnaccelError(f"invalid configuration: {one_line(what)}") from None
    for k, ok in (
        ("margin", c.margin >= 0 and math.isfinite(c.margin)),
        ("calib_batches", c.calib_batches >= 1),
        ("calib_batch_size", c.calib_batch_size >= 1),
    ):
        if not ok:
            raise RnnaccelError(
                f"invalid configuration: datapath.{k}={getattr(c, k)} must be "
                f"{'a finite number >= 0' if k == 'margin' else '>= 1'}"
            )
    defaults = _plain(DatapathConf())
    if c.calibrate:
        unused = _differing(c, defaults, TENSOR_CLASSES)
        if unused:
            raise RnnaccelError(
                f"{', '.join(unused)}: not applied, datapath.calibrate=true picks every format "
                f"from data; pass datapath=q16 (fixed formats) to use it"
            )
    else:
        unused = _differing(c, defaults, [n for n, _, _ in CALIBRATION_FIELDS[1:]])
        if unused:
            raise RnnaccelError(
                f"{', '.join(unused)}: not applied, these settings act only with "
                f"datapath.calibrate=true (datapath=ptq16)"
            )
    return cfg


def app_default(app: str, group: str) -> str | None:
    """The option of ``group`` in the defaults list of ``rnnaccel/conf/<app>.yaml``."""
    import yaml

    text = (resources.files("rnnaccel.conf") / f"{app}.yaml").read_text()
    for entry in yaml.safe_load(text).get("defaults", []):
        if isinstance(entry, dict) and group in entry:
            return str(entry[group])
    return None


def command_overrides() -> list[str]:
    """The overrides of the running hydra app's command line (empty outside one)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    except Exception:
        return []


def datapath_overrides(c, app: str) -> list[str]:
    """``datapath.<field>=<value>`` for every field of node ``c`` that differs from the app's
    default ``datapath`` option (what the command line changed)."""
    from omegaconf import OmegaConf

    ref = OmegaConf.structured(DatapathConf)
    name = app_default(app, "datapath")
    if name is not None:
        ref = OmegaConf.merge(ref, read_yaml_source("datapath", name)[0])
    return _differing(c, OmegaConf.to_container(ref, resolve=True), [f.name for f in fields(DatapathConf)])


@dataclass
class TrainConf:
    seed: int = 0
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3  # Adam peak learning rate
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05  # cosine decay to lr * min_lr_ratio at the last step
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    mode: str = "float"  # "float" or "fakequant" (QAT)
    init_from: Optional[str] = None  # start from this checkpoint (QAT: a float checkpoint)
    out_dir: str = "runs/digits"  # last.pt / best.pt / final.pt go here
    resume: bool = True  # continue from out_dir/last.pt when it exists
    checkpoint_every: int = 100  # steps (and at each epoch end)
    max_steps: Optional[int] = None  # stop early (tests, smoke runs)
    threads: int = 1  # torch.set_num_threads
    progress: bool = True  # tqdm bars
    export: Optional[str] = None  # also write the best model (no optimizer state) here


@dataclass
class EvalConf:
    checkpoint: str = "checkpoints/digits_blstm_heldout.pt"  # speech (rnnaccel.models) or sentiment checkpoint
    split: str = "test"
    allow_seen_speakers: bool = (
        False  # digits: score a split whose voices/recordings the checkpoint trained on (in-domain)
    )
    mode: str = "emulate"  # float | fakequant | emulate (memo / precision need emulate)
    limit: Optional[int] = None  # first N utterances (sentences) of the split
    batch_size: int = 50
    decoder: str = "greedy"  # greedy | beam | beam_lm (speech: CTC prefix beam search + word LM)
    beam_size: int = 8
    lm: Optional[str] = None  # beam_lm: an ARPA file, or a text corpus (one sentence a line) to fit
    lm_order: int = 3  # beam_lm from a text corpus: n of the Kneser-Ney n-gram
    lm_alpha: float = 0.8  # beam_lm: LM weight
    lm_beta: float = 1.0  # beam_lm: bonus per word
    datapath_from: str = "checkpoint"  # checkpoint | config
    also_hw: List[str] = field(default_factory=lambda: ["tpu"])  # more price tables for the same trace
    baseline: str = "cache"  # techniques-off reference: cache (by config hash) | run (this run) | none
    cache_dir: str = "runs/cache/baselines"  # baseline results + traces, by config hash
    budget: float = 0.5  # accuracy-loss budget (percentage points) of the objective
    penalty: float = 1.0  # objective = saving - penalty * (loss - budget) per point over budget
    output: Optional[str] = None  # result JSON (null: <hydra job dir>/result.json)
    resume: bool = True  # skip when output already holds a complete result with the same config hash
    trace_output: Optional[str] = None  # also save the whole trace (npz)
    threads: int = 1
    progress: bool = True


@dataclass
class QuantConf:
    checkpoint: str = "runs/digits/best.pt"
    output: str = "runs/digits/ptq.pt"
    seed: int = 0
    threads: int = 1
    storage: Optional[str] = None  # null: the checkpoint's own; float16: weights rounded to fp16, file halved
    search: bool = False  # error-minimising format search (rnnaccel.calibrate search=True); false: covering formats
    tables: bool = False  # activation-table resolution chosen per layer (1 LSB budget); false: datapath.act_index_bits


@dataclass
class TrainApp:
    model: SpeechModelConfig = field(default_factory=SpeechModelConfig)
    data: DataConf = field(default_factory=DataConf)
    datapath: DatapathConf = field(default_factory=DatapathConf)
    train: TrainConf = field(default_factory=TrainConf)


@dataclass
class QuantizeApp:
    data: DataConf = field(default_factory=DataConf)
    datapath: DatapathConf = field(default_factory=DatapathConf)
    quantize: QuantConf = field(default_factory=QuantConf)


@dataclass
class EvaluateApp:
    data: DataConf = field(default_factory=DataConf)
    datapath: DatapathConf = field(default_factory=DatapathConf)
    memo: MemoConfig = field(default_factory=MemoConfig)
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    hw: Any = None  # a price table (group hw: epur | tpu), checked by load_hw
    eval: EvalConf = field(default_factory=EvalConf)


@dataclass
class BatchingRunConf:
    """``loads`` null: one simulation of the ``batching`` config; a list: a load sweep (fractions
    of each platform's reference rate) over ``policies`` x ``platforms`` with plots."""

    output: Optional[str] = None  # JSON (null: <hydra job dir>/batching.json)
    loads: Optional[List[float]] = None
    policies: List[str] = field(default_factory=lambda: ["none", "padded", "cellular", "ebatch"])
    platforms: List[str] = field(default_factory=lambda: ["epur", "tpu"])
    plots: bool = True


@dataclass
class BatchingApp:
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    run: BatchingRunConf = field(default_factory=BatchingRunConf)


@dataclass
class ReportConf:
    sweep_dir: str = "runs/sweeps/evaluate"  # searched recursively for result JSONs
    out_dir: Optional[str] = None  # null: <sweep_dir>/report
    budget: float = 1.0  # accuracy-loss budget (points) of the papers-style table
    hw: Optional[str] = None  # platform of the speedup / energy columns (null: each run's primary)
    plots: bool = True


@dataclass
class ReportApp:
    report: ReportConf = field(default_factory=ReportConf)


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="train_app", node=TrainApp)
    cs.store(name="quantize_app", node=QuantizeApp)
    cs.store(name="evaluate_app", node=EvaluateApp)
    cs.store(name="batching_app", node=BatchingApp)
    cs.store(name="report_app", node=ReportApp)
