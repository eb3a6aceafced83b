"""Offline corpora and the speech front end.

Speech (items :class:`SpeechItem`: ``waveform (samples,)``, ``sample_rate``, ``transcript``,
``speaker``, ``utt_id``):

- :class:`ConnectedDigits` -- connected digit strings from FSDD (real voices, 8 kHz);
- :class:`LibriSpeech` -- a LibriSpeech split already on disk.

Translation (items :class:`SentencePair` ``(src, tgt)``): :class:`Multi30k`, :class:`ParallelText`.

Front end: :class:`FeatureExtractor` (``(samples,)`` -> ``(frames, n_mels)``), :class:`SpecAugment`,
:class:`SpeechFeatures` + :func:`collate_ctc` (-> :class:`CTCBatch`, ``(batch, time, feats)``), and
the CTC vocabularies :class:`CharVocab` / :class:`WordVocab` (blank = 0).
"""

from .audio import SpeechItem, load_audio
from .features import (
    CTCBatch,
    FeatureConfig,
    FeatureExtractor,
    FeatureItem,
    SpecAugment,
    SpeechFeatures,
    collate_ctc,
    normalize_utterance,
)
from .fsdd import ConnectedDigits, Recording, UtterancePlan, list_recordings, split_recordings
from .librispeech import LibriSpeech
from .multi30k import MULTI30K_SPLITS, Multi30k, available_splits
from .parallel_text import ParallelText, SentencePair, read_lines, read_parallel
from .paths import DataError, default_data_root
from .text import BLANK_ID, DIGIT_WORDS, CharVocab, Vocab, WordVocab, ctc_collapse

__all__ = [
    "BLANK_ID",
    "CTCBatch",
    "CharVocab",
    "ConnectedDigits",
    "DIGIT_WORDS",
    "DataError",
    "FeatureConfig",
    "FeatureExtractor",
    "FeatureItem",
    "LibriSpeech",
    "MULTI30K_SPLITS",
    "Multi30k",
    "ParallelText",
    "Recording",
    "SentencePair",
    "SpecAugment",
    "SpeechFeatures",
    "SpeechItem",
    "UtterancePlan",
    "Vocab",
    "WordVocab",
    "available_splits",
    "collate_ctc",
    "ctc_collapse",
    "default_data_root",
    "list_recordings",
    "load_audio",
    "normalize_utterance",
    "read_lines",
    "read_parallel",
    "split_recordings",
]

# Synthesized speech (Multi30k sentences, many TTS voices): imported on first use, so that
# `python -m rnnaccel.datasets.synth` runs the module only once.
_SYNTH_EXPORTS = {
    "SynthSpeech": "synth",
    "default_cache_dir": "synth",
    "SynthConfig": "synth_generate",
    "generate_corpus": "synth_generate",
}
__all__ += list(_SYNTH_EXPORTS)


def __getattr__(name: str):
    if name in _SYNTH_EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_SYNTH_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
