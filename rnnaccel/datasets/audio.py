"""Audio loading with soundfile, and the item every speech dataset yields.

torchaudio >= 2.9 routes ``torchaudio.load`` through torchcodec, which this project does not
install; soundfile (libsndfile) reads WAV and FLAC directly and gives clearer errors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from .paths import DataError


class SpeechItem(NamedTuple):
    """One utterance.

    Attributes:
        waveform: ``(samples,)`` float32 mono, nominally in [-1, 1].
        sample_rate: samples per second of ``waveform``.
        transcript: reference text (words separated by single spaces).
        speaker: speaker identifier.
        utt_id: unique identifier of the utterance within its dataset.
    """

    waveform: Tensor
    sample_rate: int
    transcript: str
    speaker: str
    utt_id: str


def load_audio(path: str | os.PathLike) -> tuple[Tensor, int]:
    """Read an audio file as mono float32.

    Multi-channel files are averaged to mono.

    Returns:
        ``(waveform, sample_rate)`` with ``waveform`` of shape ``(samples,)``.

    Raises:
        FileNotFoundError: the file does not exist (message names it).
        DataError: the file cannot be decoded, is empty, or holds NaN/inf samples (message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read audio file {path}: {reason}") from None
    if data.shape[0] == 0:
        raise DataError(f"audio file {path} contains no samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        raise DataError(f"audio file {path} contains NaN or infinite samples")
    return torch.from_numpy(np.ascontiguousarray(mono)), int(sample_rate)
