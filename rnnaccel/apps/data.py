"""Cached feature sets and deterministic batches for the applications.

Features of a split are extracted once (log-mel of every utterance, the slow part) and cached in
``data.cache_dir`` keyed by every setting that changes them and by what they were computed from
(:func:`source_fingerprint`: the corpus directory and its files); SpecAugment is applied on the fly from
``(seed, epoch, index)`` so a run is reproducible and resumable at any step.

Your own data (:data:`OWN_DATA`): ``data=folder`` (recordings + a transcript file, evaluated as one
set; transcripts fitted to the checkpoint's vocabulary by :func:`rnnaccel.datasets.folder.fit_to_vocab`,
every change counted; words it lacks stay in the WER reference unless ``data.oov=drop``) and
``data=parallel`` (sentence pairs for a translator, :func:`load_parallel`).
:func:`data_summary` is the result JSON's ``data`` entry: kind, paths, SHA-256 digests, counts.
"""

from __future__ import annotations

import dataclasses

import hashlib
import json
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.data import Dataset

from ..errors import RnnaccelError, one_line
from .config import to_feature_config
from ..datasets import (
    CharVocab,
    ConnectedDigits,
    FeatureExtractor,
    FeatureItem,
    SpecAugment,
    SynthSpeech,
    Vocab,
    WordVocab,
    collate_ctc,
)

__all__ = [
    "FeatureSet",
    "build_vocab",
    "load_split",
    "batches",
    "checkpoint_data",
    "checkpoint_split",
    "source_fingerprint",
    "check_checkpoint_data",
    "adopt_front_end",
    "FRONT_END",
    "TRAINING_SPLIT",
    "check_speakers",
    "check_data_kind",
    "data_summary",
    "load_parallel",
    "OWN_DATA",
    "TRAINED_WITH",
]


def checkpoint_data(ck: dict, **overrides):
    """The ``DataConf`` a checkpoint was trained with (defaults where it stores none), with
    ``overrides`` (e.g. ``num_test=20``) applied."""
    from .config import DataConf

    data = OmegaConf.structured(DataConf)
    extra = ck.get("extra")
    if isinstance(extra, dict) and isinstance(extra.get("data"), dict):
        data = OmegaConf.merge(data, extra["data"])
    if overrides:
        data = OmegaConf.merge(data, overrides)
    return OmegaConf.to_object(data)


def checkpoint_split(ck: dict, split: str = "test", limit: int | None = None) -> "FeatureSet":
    """The split a checkpoint was evaluated on, with its own data settings; ``limit``: the first N."""
    ds = load_split(checkpoint_data(ck), split)
    return ds if limit is None else ds.subset(limit)


#: the data settings a speech checkpoint must be evaluated or calibrated with
TRAINED_WITH = ("corpus", "vocab", "features")


def _matching_option(trained: dict) -> str | None:
    """The packaged ``data`` option (``rnnaccel/conf/data``) whose :data:`TRAINED_WITH` settings
    equal ``trained``'s, if any."""
    from ..configio import packaged, read_yaml_source
    from .config import DataConf

    for name in packaged("data"):
        opt = OmegaConf.merge(OmegaConf.structured(DataConf), read_yaml_source("data", name)[0])
        if all(OmegaConf.to_container(opt)[k] == trained[k] for k in TRAINED_WITH):
            return name
    return None


def said_about(overrides: list[str], key: str) -> bool:
    """Whether command-line ``overrides`` set ``data.<key>`` (or a part of it) or chose a ``data``
    option (which sets every data key)."""
    for o in overrides:
        name = o.lstrip("+~").split("=", 1)[0].strip()
        if name == "data" or name == f"data.{key}" or name.startswith(f"data.{key}."):
            return True
    return False


#: what the checkpoint's record gives a command that does not say it: the feature front end
#: (evaluate, quantize) and, for calibration, the split it was trained on (quantize)
FRONT_END = ("features",)
TRAINING_SPLIT = ("scheme", "test_speaker")


def adopt_front_end(ck: dict, data, overrides: list[str], keys: tuple[str, ...] = FRONT_END) -> list[str]:
    """Give ``data`` the settings ``keys`` of the data a speech checkpoint was trained with where the
    command said nothing about them (no ``data=`` option, no ``data.<key>...`` override; for a
    section such as the features, entry by entry: ``data.features.sample_rate=8000`` still takes
    the checkpoint's ``n_mels``). By default
    the feature front end: a user cannot be expected to know a checkpoint's sample rate or filter
    bank. ``rnnaccel-quantize`` also takes :data:`TRAINING_SPLIT`, so calibration reads the
    checkpoint's own training split, never its held-out speaker. Returns what was taken, as
    overrides (``["data.features.sample_rate=8000"]``); empty when nothing differed, the checkpoint
    keeps no record, or the command set them (then :func:`check_checkpoint_data` refuses a front end
    that differs). Your own recordings (:data:`OWN_DATA`) are resampled to the adopted front end alike."""
    if not (isinstance(ck.get("extra"), dict) and isinstance(ck["extra"].get("data"), dict)):
        return []
    own = checkpoint_data(ck)
    if data.corpus != own.corpus and data.corpus not in OWN_DATA:
        return []  # another corpus altogether (refused by check_checkpoint_data): nothing to take
    taken = []
    for key in keys:
        if data.corpus in OWN_DATA and key in TRAINING_SPLIT:
            continue
        trained = getattr(own, key)
        if not dataclasses.is_dataclass(trained):
            taken += _take(own, data, [key], "", overrides)
        elif not _said_whole(overrides, key):
            # a section (the features): each entry the command did not set, so that setting one
            # (data.features.sample_rate=8000) does not oblige the user to know the others
            names = [f.name for f in dataclasses.fields(trained)]
            taken += _take(trained, getattr(data, key), names, f"{key}.", overrides)
    return taken


def _take(src, dst, names: list[str], prefix: str, overrides: list[str]) -> list[str]:
    """Copy each attribute ``names`` from ``src`` to ``dst`` where the command did not set
    ``data.<prefix><name>`` and the values differ; returns the copies as overrides."""
    out = []
    for name in names:
        value = getattr(src, name)
        if not said_about(overrides, prefix + name) and getattr(dst, name) != value:
            setattr(dst, name, value)
            out.append(f"data.{prefix}{name}={value}")
    return out


def _said_whole(overrides: list[str], key: str) -> bool:
    """Whether ``overrides`` chose a ``data`` option or set the whole section ``data.<key>``."""
    return any(o.lstrip("+~").split("=", 1)[0].strip() in ("data", f"data.{key}") for o in overrides)


def check_checkpoint_data(ck: dict, data, path) -> None:
    """The ``data`` config must give the features and transcripts the speech checkpoint was trained
    on: otherwise one line naming the data option (or the ``data.*`` overrides) to pass. Your own
    data (``data=folder``) is another corpus by design: only its vocabulary and features must match."""
    if not (isinstance(ck.get("extra"), dict) and isinstance(ck["extra"].get("data"), dict)):
        return  # no record of its data: trust the config
    trained = OmegaConf.to_container(OmegaConf.structured(checkpoint_data(ck)))
    given = OmegaConf.to_container(OmegaConf.structured(data))
    own = data.corpus in OWN_DATA
    diff = [k for k in TRAINED_WITH if trained[k] != given[k] and not (own and k == "corpus")]
    if diff:
        want = ", ".join(" ".join(_differing(k, trained[k], given[k])) for k in diff)
        option = None if own else _matching_option(trained)
        fix = f"data={option}" if option else ("those data.* overrides" if not own else f"data={data.corpus} {want}")
        if diff == ["features"]:  # the front end alone: left unsaid, the checkpoint's own is taken
            fix = f"{want}, or leave data.features unset (the checkpoint's own is then used)"
        raise RnnaccelError(f"{path} was trained with {want}; pass {fix}")


def _differing(key: str, trained, given) -> list[str]:
    """The overrides that give ``data.<key>`` its ``trained`` value where ``given`` differs: for a
    mapping (the features) only its differing entries."""
    if isinstance(trained, dict) and isinstance(given, dict):
        return [f"data.{key}.{k}={v}" for k, v in trained.items() if given.get(k) != v]
    return [f"data.{key}={trained}"] if trained != given else []


def _fsdd_keys(data, split: str) -> set[tuple[str, int, int]]:
    """``(speaker, digit, index)`` of every FSDD recording ``split`` of ``data`` draws from, by the
    split rules themselves (:func:`~rnnaccel.datasets.fsdd.split_recordings`) over FSDD's fixed
    layout (six speakers x ten digits x indices 0-49): no audio is read."""
    from ..datasets.fsdd import SPEAKERS, Recording, split_recordings

    every = [Recording(d, s, i, Path()) for s in SPEAKERS for d in range(10) for i in range(50)]
    return {(r.speaker, r.digit, r.index) for r in split_recordings(every, split, data.scheme, data.test_speaker)}


def _split_words(data, split: str) -> str:
    """``data.scheme=... [data.test_speaker=...]`` and whose voices ``split`` holds."""
    from ..datasets.fsdd import SPEAKERS, resolve_test_speaker

    if data.scheme != "speaker":
        return f"data.scheme={data.scheme} ({split}: all six speakers)"
    held = resolve_test_speaker(data.test_speaker)
    who = held if split == "test" else ", ".join(s for s in SPEAKERS if s != held)
    return f"data.scheme=speaker data.test_speaker={held} ({split}: {who})"


def check_speakers(ck: dict, data, split: str, allow_seen: bool, path) -> dict | None:
    """Whose voices ``split`` of ``data`` scores and whether the checkpoint heard them in training
    (the result JSON's ``speakers`` entry; None for data other than FSDD digits).

    A split's name is a claim: every split but ``train`` holds recordings the model was not trained
    on, and the test split of ``data.scheme=speaker`` voices it never heard. A claim the
    checkpoint's own training split (``extra.data``) contradicts is one line naming both splits and
    what to pass; ``allow_seen`` (``eval.allow_seen_speakers=true``) scores it, labelled in-domain.
    A checkpoint that does not record its split is scored, its ``seen`` unknown (None)."""
    from ..datasets.fsdd import resolve_test_speaker

    if data.corpus != "connected_digits":
        if allow_seen:
            raise RnnaccelError(
                f"eval.allow_seen_speakers=true: not applied, only FSDD digits (data=digits) have speaker "
                f"splits, this is data.corpus={data.corpus}; remove it"
            )
        return None
    scored = _fsdd_keys(data, split)
    speakers = sorted({s for s, _, _ in scored})
    held_out = [resolve_test_speaker(data.test_speaker)] if data.scheme == "speaker" and split == "test" else []
    out = {"scheme": data.scheme, "split": split, "speakers": speakers, "held_out": held_out}
    stored = ck.get("extra", {}).get("data") if isinstance(ck.get("extra"), dict) else None
    if (
        not isinstance(stored, dict)
        or stored.get("corpus", "connected_digits") != "connected_digits"
        or ("scheme" not in stored)
    ):
        return out | {"trained_on": None, "seen": None, "recordings_trained_on": None, "label": "unknown"}
    trained_data = checkpoint_data(ck)
    trained = _fsdd_keys(trained_data, "train")
    seen = sorted({s for s, _, _ in trained} & set(speakers))
    reused = len(scored & trained)
    leak = (split != "train" and reused > 0) or (held_out and set(held_out) & set(seen))
    if leak and not allow_seen:
        raise RnnaccelError(_leak_line(path, trained_data, data, split, held_out, reused))
    label = "in-domain" if seen else "held-out"
    return out | {
        "trained_on": _split_words(trained_data, "train"),
        "seen": seen,
        "recordings_trained_on": reused,
        "label": label,
    }


def _leak_line(path, trained, data, split: str, held_out: list, reused: int) -> str:
    """The one line of :func:`check_speakers`: both splits, what leaks, what to pass."""
    from ..datasets.fsdd import resolve_test_speaker

    what = f"scores {', '.join(held_out)}, a voice it heard in training" if held_out else ""
    if reused:
        what += (" and " if what else "scores ") + f"{reused} recordings it was trained on"
    own = (
        f"data.scheme=speaker data.test_speaker={resolve_test_speaker(trained.test_speaker)} (its own split)"
        if trained.scheme == "speaker"
        else f"data.scheme={trained.scheme} (its own split, in-domain)"
    )
    return (
        f"{path} was trained on {_split_words(trained, 'train')}; the {split} split "
        f"{_split_words(data, split)} {what}; pass {own}, a checkpoint trained without them, or "
        f"eval.allow_seen_speakers=true to score it labelled in-domain"
    )


#: ``data.corpus`` of your own data -> the task it feeds
OWN_DATA = {"folder": "speech", "parallel": "translation"}


def check_data_kind(data, task: str) -> None:
    """Your own data feeds one kind of checkpoint: ``data=folder`` a speech model, ``data=parallel``
    a translator (else one line)."""
    want = OWN_DATA.get(data.corpus)
    if want is not None and want != task:
        other = {"translation": "data=parallel", "speech": "data=folder", "sentiment": "data=sentiment"}[task]
        raise RnnaccelError(f"data={data.corpus} feeds a {want} checkpoint, this one is {task}; pass {other}")


def build_vocab(kind: str) -> Vocab:
    if kind == "word":
        return WordVocab()
    if kind == "char":
        return CharVocab()
    raise ValueError(f"data.vocab={kind!r} unknown; choose 'word' or 'char'")


class FeatureSet(Dataset):
    """In-memory features of one split: item ``i`` -> :class:`FeatureItem` (``features`` (T, F)).
    ``fits``: per utterance, what fitting its transcript to the vocabulary changed (``data=folder``)."""

    fits: list | None = None
    skipped: tuple = ()  # utterance ids left with an empty reference (data=folder), not scored
    oov: str = "keep"  # data=folder: words the vocabulary lacks kept in the references or dropped

    def __init__(
        self,
        feats: list[torch.Tensor],
        transcripts: list[str],
        utt_ids: list[str],
        vocab: Vocab,
        spec_augment: SpecAugment | None = None,
        seed: int = 0,
    ):
        self.feats, self.transcripts, self.utt_ids = feats, transcripts, utt_ids
        self.targets = [vocab.encode(t) for t in transcripts]
        self.spec_augment, self.seed, self.epoch = spec_augment, seed, 0

    def __len__(self) -> int:
        return len(self.feats)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> FeatureItem:
        f = self.feats[i]
        if self.spec_augment is not None:
            s = np.random.SeedSequence([self.seed, self.epoch, i]).generate_state(1)[0]
            f = self.spec_augment(f, int(s))
        return FeatureItem(f, self.targets[i], self.transcripts[i], self.utt_ids[i])

    def subset(self, n: int) -> "FeatureSet":
        """The first ``n`` items, without augmentation."""
        out = object.__new__(FeatureSet)
        out.feats, out.transcripts, out.utt_ids = self.feats[:n], self.transcripts[:n], self.utt_ids[:n]
        out.targets, out.spec_augment, out.seed, out.epoch = self.targets[:n], None, self.seed, 0
        out.fits, out.skipped = (self.fits[:n] if self.fits is not None else None), self.skipped
        out.oov = self.oov
        return out


SPEECH_CORPORA = ("connected_digits", "synth_speech")


def _open_folder(data):
    """The :class:`~rnnaccel.datasets.folder.AudioFolder` of ``data=folder`` (one line on a bad one)."""
    from ..datasets import DataError
    from ..datasets.folder import AudioFolder

    if data.root is None:
        raise RnnaccelError("data=folder needs data.root=<the directory of your audio files>")
    try:
        return AudioFolder(Path(data.root).expanduser(), data.transcripts)
    except FileNotFoundError as e:
        fix = (
            "fix the path or remove that line"
            if "audio file" in str(e)
            else "pass data.transcripts=<file>"
            if "transcript" in str(e)
            else "point data.root at your audio folder"
        )
        raise RnnaccelError(f"data=folder: {one_line(e)}; {fix}") from None
    except DataError as e:
        fix = "pass data.transcripts=<one of them>" if "transcript files" in str(e) else "fix that line"
        raise RnnaccelError(f"data=folder: {one_line(e)}; {fix} (path<TAB>transcript per line)") from None


def _one_set(data, split: str) -> None:
    if split != "test":
        raise RnnaccelError(
            f"data={data.corpus} is one evaluation set, it has no {split} split: pass eval.split=test"
            + (" and calibrate on the training corpus (eval.datapath_from=checkpoint)" if split == "train" else "")
        )


def _check_oov(data) -> None:
    """``data.oov`` is one of :data:`OOV_POLICIES` and only moves ``data=folder`` references."""
    oov = getattr(data, "oov", "keep")
    if oov not in OOV_POLICIES:
        raise RnnaccelError(f"data.oov={oov!r} unknown; choose keep (the standard WER reference) or drop")
    if oov != "keep" and data.corpus != "folder":
        raise RnnaccelError(
            f"data.oov={oov}: not applied, only data=folder fits its transcripts to the vocabulary; remove it"
        )


def _corpus(data, split: str):
    if data.corpus == "folder":
        _one_set(data, split)
        return _open_folder(data)
    num = {"train": data.num_train, "val": data.num_val, "test": data.num_test}[split]
    if data.corpus == "connected_digits":
        if num is None:
            raise ValueError(f"data.num_{split} must be a number of utterances for connected_digits")
        fsdd = ConnectedDigits(
            split, root=data.root, num_utterances=num, scheme=data.scheme, test_speaker=data.test_speaker,
            seed=data.corpus_seed,
        )  # fmt: skip
        return _with_synth_digits(fsdd, data) if split == "train" and data.synth_train > 0 else fsdd
    if data.synth_train > 0:
        raise ValueError(f"data.synth_train={data.synth_train}: only for data.corpus=connected_digits; set it to 0")
    if data.corpus == "synth_speech":  # data.root: the generated corpus (default: the cache)
        return SynthSpeech(split, root=data.root, max_items=num)
    raise ValueError(f"data.corpus={data.corpus!r} unknown; available: {', '.join(SPEECH_CORPORA + ('folder',))}")


def _with_synth_digits(fsdd, data):
    """FSDD's training utterances followed by ``data.synth_train`` utterances of synthesized voices
    (``rnnaccel.datasets.synth_digits``; generated once into ``data.cache_dir``): training only."""
    from torch.utils.data import ConcatDataset

    from ..datasets.synth_digits import generate_digit_tokens, speaker_weights, synth_digit_recordings

    recs = synth_digit_recordings(generate_digit_tokens(data.cache_dir or "runs/cache", seed=data.corpus_seed))
    weights = speaker_weights(sorted({r.speaker for r in recs}), data.synth_natural_share)
    tts = ConnectedDigits(
        "train", num_utterances=data.synth_train, recordings=recs, speaker_weights=weights, name="tts",
        seed=data.corpus_seed,
    )  # fmt: skip
    return ConcatDataset([fsdd, tts])


def _listing_digest(directory: Path, pattern: str) -> str | None:
    """SHA-1 of the sorted (name, size, mtime) of the files matching ``pattern`` in ``directory``:
    a file added, removed, replaced or rewritten changes it (None when the directory is missing)."""
    if not directory.is_dir():
        return None
    h = hashlib.sha1()
    for f in sorted(directory.glob(pattern)):
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _data_root(data) -> Path | None:
    from ..datasets import default_data_root

    if data.root is not None:
        return Path(data.root).expanduser().resolve()
    try:
        return default_data_root().resolve()
    except FileNotFoundError:
        return None  # _corpus raises the error that names it


def source_fingerprint(data) -> dict:
    """What the features of ``data`` are computed from: the corpus directory (resolved) and a
    digest of its audio files (FSDD: the recordings' names, sizes and times; synth_speech: the
    manifest). Part of the feature-cache key and of the evaluate result hash, so another
    ``data.root``, or the same one with other files, never reuses stale features or results.
    Your own data: the files and the SHA-256 of their content (:func:`_own_source`)."""
    if data.corpus in OWN_DATA:
        return _own_source(data)
    if data.corpus == "synth_speech":
        from ..datasets.synth import default_cache_dir

        root = (default_cache_dir() if data.root is None else Path(data.root).expanduser()).resolve()
        manifest = root / "manifest.jsonl"
        digest = hashlib.sha1(manifest.read_bytes()).hexdigest() if manifest.is_file() else None
        return {"root": str(root), "manifest": digest}
    root = _data_root(data)
    if data.corpus == "connected_digits" and root is not None:
        rec = root / "fsdd" / "recordings"
        return {"root": str(rec), "files": _listing_digest(rec, "*.wav")}
    return {"root": str(root) if root is not None else None}


def _extract(data, split: str, progress: bool) -> tuple[list, list, list]:
    """Features, transcripts and ids of every utterance of ``split``; a missing or empty corpus
    and an unreadable, empty or NaN recording are one :class:`RnnaccelError` line naming it."""
    from ..datasets import DataError

    try:
        corpus = _corpus(data, split)
    except FileNotFoundError as e:
        raise RnnaccelError(
            f"data.root={data.root}: {one_line(e)}; point data.root at the corpus (null: the shared data directory)"
        ) from None
    if len(corpus) == 0:
        raise RnnaccelError(
            f"data.corpus={data.corpus} at data.root={data.root}: the {split} split has no "
            f"utterances; point data.root at a complete corpus"
        )
    extractor = FeatureExtractor(to_feature_config(data.features))
    feats, transcripts, ids = [], [], []
    it = range(len(corpus))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc=f"features {split}", leave=False)
    for i in it:
        try:
            item = corpus[i]
        except DataError as e:
            raise RnnaccelError(f"{one_line(e)}; replace or remove that file") from None
        feats.append(extractor(item.waveform, item.sample_rate))
        transcripts.append(item.transcript)
        ids.append(item.utt_id)
    return feats, transcripts, ids


def load_split(
    data, split: str, augment: bool = False, seed: int = 0, progress: bool = False, vocab: Vocab | None = None
) -> FeatureSet:
    """Features of ``split`` (``train``/``val``/``test``) under the ``data`` config (a DataConf),
    cached under ``data.cache_dir`` keyed by every setting and the :func:`source_fingerprint`.
    ``vocab``: the model's (default: ``data.vocab``'s); ``data=folder`` fits its transcripts to it."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split {split!r} unknown; choose train, val or test")
    _check_oov(data)
    vocab = vocab if vocab is not None else build_vocab(data.vocab)
    from .augmented import AugmentedSet, augment_config

    sa = spec_augment(data) if augment else None
    waveform_ops = augment_config(data) if augment else None
    if waveform_ops is not None and waveform_ops.active:  # features per item and epoch, not cached
        extractor = FeatureExtractor(to_feature_config(data.features))
        return AugmentedSet(_corpus(data, split), extractor, vocab, waveform_ops, sa, seed)  # type: ignore[return-value]
    key_src = {
        k: v
        for k, v in OmegaConf.to_container(OmegaConf.structured(data)).items()
        if k not in ("cache_dir", "spec_augment", "spec_warp", "root", "augment")  # augment: on the fly
    }
    key_src["source"] = source_fingerprint(data)
    key = hashlib.sha1(json.dumps([split, key_src], sort_keys=True).encode()).hexdigest()[:16]
    cache = Path(data.cache_dir) / f"{data.corpus}-{split}-{key}.pt" if data.cache_dir else None
    if cache is not None and cache.is_file():
        try:
            obj = torch.load(cache, weights_only=True)
            feats, transcripts, ids = obj["feats"], obj["transcripts"], obj["utt_ids"]
        except Exception:
            cache.unlink(missing_ok=True)
            return load_split(data, split, augment, seed, progress, vocab)
    else:
        feats, transcripts, ids = _extract(data, split, progress)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp")
            torch.save({"feats": feats, "transcripts": transcripts, "utt_ids": ids}, tmp)
            os.replace(tmp, cache)
    if data.corpus == "folder":
        return _fitted(feats, transcripts, ids, vocab, data.oov)
    return FeatureSet(feats, transcripts, ids, vocab, sa, seed)


def spec_augment(data) -> SpecAugment | None:
    """The training split's SpecAugment under ``data`` (None when ``data.spec_augment`` is off); a
    band warp asked for without SpecAugment is refused, not dropped."""
    warp = int(getattr(data, "spec_warp", 0) or 0)
    if warp < 0:
        raise RnnaccelError(f"data.spec_warp={warp}: the widest band warp, a number of bands >= 0 (0 = off)")
    if warp and not data.spec_augment:
        raise RnnaccelError(f"data.spec_warp={warp} needs data.spec_augment=true (the warp is part of SpecAugment)")
    return SpecAugment(freq_warp=warp) if data.spec_augment else None


OOV_POLICIES = ("keep", "drop")


def _fitted(feats: list, transcripts: list[str], ids: list[str], vocab: Vocab, oov: str = "keep") -> FeatureSet:
    """The utterances of ``data=folder`` with their transcripts fitted to ``vocab`` (what changed:
    ``fits``). ``oov="keep"`` (standard WER): the reference keeps the words the vocabulary lacks,
    each an error the model cannot avoid; ``"drop"``: the reference is what the model can say. The
    targets are always the spellable part. An utterance whose reference is empty is not scored
    (``skipped``)."""
    from ..datasets.folder import fit_to_vocab

    spellable = [fit_to_vocab(t, vocab) for t in transcripts]
    refs = [fit_to_vocab(t, vocab, keep_oov=True)[0] for t in transcripts] if oov == "keep" else None
    ref = lambda i: refs[i] if refs is not None else spellable[i][0]
    keep = [i for i in range(len(ids)) if ref(i)]
    if not keep:
        raise RnnaccelError(
            f"data=folder: no transcript has a word the model's vocabulary can spell ({vocab!r}: "
            f"{' '.join(vocab.tokens[1:12])} ...); check the transcripts or the checkpoint"
        )
    ds = FeatureSet([feats[i] for i in keep], [spellable[i][0] for i in keep], [ids[i] for i in keep], vocab)
    ds.transcripts = [ref(i) for i in keep]  # the scored references; targets stay the spellable text
    ds.fits = [spellable[i][1] for i in keep]
    ds.skipped = tuple(u for i, u in enumerate(ids) if not ref(i))
    ds.oov = oov
    return ds


def items_sha256(*columns: list[str]) -> str:
    """SHA-256 of the rows of ``columns`` (tab-joined, one a line): which items, in which order,
    with which references were scored."""
    h = hashlib.sha256()
    for row in zip(*columns):
        h.update(("\t".join(row) + "\n").encode())
    return h.hexdigest()


@lru_cache(maxsize=16)
def _content_sha256(stats: tuple) -> str:
    """:func:`~rnnaccel.datasets.folder.files_sha256` of ``stats``' paths, once per process as long
    as no file's size or time changes (``stats``: ``(path, size, mtime_ns)`` per file)."""
    from ..datasets.folder import files_sha256

    return files_sha256([p for p, _, _ in stats])


def _stats(paths) -> tuple:
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)


def _parallel_files(data) -> dict[str, Path]:
    """The files of ``data=parallel``: ``src`` + ``tgt``, or ``pairs`` (one line when neither or both)."""
    given = {k: getattr(data, k) for k in ("src", "tgt", "pairs") if getattr(data, k) is not None}
    if set(given) not in ({"src", "tgt"}, {"pairs"}):
        got = ", ".join(f"data.{k}" for k in given) or "neither"
        raise RnnaccelError(
            f"data=parallel needs data.src=<file> and data.tgt=<file> (aligned, one sentence a line) "
            f"or data.pairs=<file of source<TAB>target lines>; got {got}"
        )
    files = {k: Path(v).expanduser() for k, v in given.items()}
    for k, f in files.items():
        if not f.is_file():
            raise RnnaccelError(f"data.{k}={given[k]}: no such file; pass the path of your {k} text file")
    return files


def _own_source(data) -> dict:
    """Kind, paths and content SHA-256 of your own data (one line when it is missing or malformed)."""
    if data.corpus == "folder":
        f = _open_folder(data)
        return {
            "kind": "folder",
            "root": str(f.root.resolve()),
            "transcripts": str(f.transcripts_path.resolve()),
            "files": len(f),
            "sha256": _content_sha256(_stats([f.transcripts_path, *f.paths])),
        }
    files = _parallel_files(data)
    return {"kind": "parallel", **{k: str(f.resolve()) for k, f in files.items()}} | {
        "sha256": _content_sha256(_stats(files.values()))
    }


def load_parallel(data, split: str = "test") -> list:
    """The sentence pairs of ``data=parallel`` (:class:`~rnnaccel.datasets.SentencePair`): aligned
    ``data.src`` / ``data.tgt`` or a ``data.pairs`` TSV; a count mismatch or an empty line is one
    line naming the file(s)."""
    from ..datasets import DataError, SentencePair, read_lines
    from ..datasets.parallel_text import read_tsv_pairs

    _one_set(data, split)
    _check_oov(data)
    files = _parallel_files(data)
    try:
        if "pairs" in files:
            return read_tsv_pairs(files["pairs"])
        src, tgt = read_lines(files["src"], allow_empty=True), read_lines(files["tgt"], allow_empty=True)
    except DataError as e:
        raise RnnaccelError(f"data=parallel: {one_line(e)}; fix that file") from None
    if len(src) != len(tgt):
        raise RnnaccelError(
            f"data=parallel: data.src={data.src} has {len(src)} lines, data.tgt={data.tgt} has {len(tgt)}; "
            f"the files must be aligned line by line"
        )
    for k, lines in (("src", src), ("tgt", tgt)):
        if "" in lines:
            raise RnnaccelError(
                f"data=parallel: {files[k]}:{lines.index('') + 1}: empty line; every line needs a sentence "
                f"(remove the pair from both files)"
            )
    return [SentencePair(a, b) for a, b in zip(src, tgt)]


def _fit_summary(fits: list, skipped: tuple, policy: str) -> dict:
    total = sum(fits, Counter())
    oov = Counter({k[4:]: v for k, v in total.items() if k.startswith("oov:")})
    return {
        "oov": {
            "policy": policy,  # keep: the tokens are in the references (errors); drop: removed from them
            "tokens": total["oov"],
            "utterances": sum(1 for f in fits if f["oov"]),
            "examples": [t for t, _ in oov.most_common(10)],
        },
        "mapped_chars": total["mapped"],
        "spelled_digits": total["spelled"],
        "punctuation_removed": total["punctuation"],
        "skipped": {"utterances": len(skipped), "ids": list(skipped[:20])},
    }


def data_summary(data, ds: FeatureSet) -> dict:
    """The result JSON's ``data`` entry of a speech run: kind, where, digests, counts (and for
    ``data=folder`` what fitting the transcripts to the vocabulary changed)."""
    src = source_fingerprint(data)
    out = {"kind": data.corpus} | {k: v for k, v in src.items() if k != "kind"}
    out |= {"utterances": len(ds), "items_sha256": items_sha256(ds.utt_ids, ds.transcripts)}
    return out | (_fit_summary(ds.fits, ds.skipped, ds.oov) if ds.fits is not None else {})


def parallel_summary(data, srcs: list[str], refs: list[str], src_vocab, tgt_vocab, split: str) -> dict:
    """The result JSON's ``data`` entry of a translation run: kind, where, digests, sentences and the
    tokens each side's tokenizer cannot represent (``unk``)."""
    from ..datasets.subword import UNK

    if data.corpus == "parallel":
        out = _own_source(data)
    else:
        out = {"kind": "multi30k", "split": split, "root": data.root}
    unk_src = [sum(t == UNK for t in src_vocab.encode(s)) for s in srcs]
    unk_tgt = [sum(t == UNK for t in tgt_vocab.encode(s)) for s in refs]
    return out | {
        "sentences": len(srcs),
        "items_sha256": items_sha256(srcs, refs),
        "oov": {
            "src_unk_tokens": sum(unk_src),
            "tgt_unk_tokens": sum(unk_tgt),
            "sentences": sum(1 for a, b in zip(unk_src, unk_tgt) if a or b),
        },
    }


def batches(ds: FeatureSet, batch_size: int, shuffle: bool = False, seed: int = 0, epoch: int = 0, skip: int = 0):
    """Yield :class:`CTCBatch` es; the order of epoch ``epoch`` comes from ``(seed, epoch)`` only.
    ``skip`` drops the first batches (resuming mid-epoch)."""
    n = len(ds)
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(n).tolist()
    else:
        order = list(range(n))
    ds.set_epoch(epoch)
    for b, start in enumerate(range(0, n, batch_size)):
        if b < skip:
            continue
        yield collate_ctc([ds[i] for i in order[start : start + batch_size]])


def num_batches(ds: FeatureSet, batch_size: int) -> int:
    return (len(ds) + batch_size - 1) // batch_size
