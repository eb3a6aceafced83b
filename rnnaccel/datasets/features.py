"""Speech front end: resampling, log-mel or Kaldi fbank, normalization, SpecAugment, CTC batches.

Default settings (16 kHz, 25 ms Hann window, 10 ms hop, 40 mel bands, per-utterance mean/variance
normalization) are the usual small-vocabulary ASR front end. Everything here is deterministic:
SpecAugment draws its masks from a seed given per call and leaves torch's global RNG untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torchaudio
from torch import Tensor
from torch.utils.data import Dataset

from .audio import SpeechItem
from .text import Vocab

FEATURE_KINDS = ("logmel", "fbank")


@dataclass(frozen=True)
class FeatureConfig:
    """Front-end settings.

    Attributes:
        kind: ``"logmel"`` (torchaudio MelSpectrogram, centred frames, natural log of power + floor)
            or ``"fbank"`` (torchaudio.compliance.kaldi.fbank on int16-scaled samples, no dither).
        sample_rate: every waveform is resampled to this rate (Hz) first.
        n_mels: mel bands = feature dimension.
        win_ms, hop_ms: analysis window and hop in milliseconds.
        normalize: subtract each utterance's per-band mean and divide by its per-band std.
        log_floor: added to the mel power before the log (``"logmel"`` only).
    """

    kind: str = "logmel"
    sample_rate: int = 16000
    n_mels: int = 40
    win_ms: float = 25.0
    hop_ms: float = 10.0
    normalize: bool = True
    log_floor: float = 1e-6


class FeatureExtractor(torch.nn.Module):
    """Waveform ``(samples,)`` at any rate -> features ``(frames, n_mels)`` float32.

    Frames: ``1 + samples // hop`` for ``"logmel"`` (centred), ``1 + (samples - win) // hop`` for
    ``"fbank"`` (Kaldi snip_edges), counted at ``config.sample_rate``.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()) -> None:
        super().__init__()
        if config.kind not in FEATURE_KINDS:
            raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {config.kind!r}")
        self.config = config
        self.win = int(round(config.sample_rate * config.win_ms / 1000))
        self.hop = int(round(config.sample_rate * config.hop_ms / 1000))
        n_fft = 1 << (self.win - 1).bit_length()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=n_fft,
            win_length=self.win,
            hop_length=self.hop,
            n_mels=config.n_mels,
            power=2.0,
            center=True,
        )
        self._resamplers: dict[int, torchaudio.transforms.Resample] = {}

    @property
    def dim(self) -> int:
        return self.config.n_mels

    def resample(self, waveform: Tensor, sample_rate: int) -> Tensor:
        """``(samples,)`` at ``sample_rate`` -> ``(samples',)`` at ``config.sample_rate``."""
        target = self.config.sample_rate
        if sample_rate == target:
            return waveform
        if sample_rate not in self._resamplers:  # the sinc kernel is built once per input rate
            self._resamplers[sample_rate] = torchaudio.transforms.Resample(sample_rate, target)
        return self._resamplers[sample_rate](waveform)

    def forward(self, waveform: Tensor, sample_rate: int) -> Tensor:
        if waveform.dim() != 1:
            raise ValueError(f"expected a mono waveform (samples,), got shape {tuple(waveform.shape)}")
        wave = self.resample(waveform.float(), sample_rate)
        cfg = self.config
        if cfg.kind == "logmel":
            feats = torch.log(self.mel(wave) + cfg.log_floor).transpose(0, 1)  # (frames, n_mels)
        else:
            if wave.numel() < self.win:
                wave = torch.nn.functional.pad(wave, (0, self.win - wave.numel()))
            feats = torchaudio.compliance.kaldi.fbank(
                wave.unsqueeze(0) * 32768.0,
                num_mel_bins=cfg.n_mels,
                frame_length=cfg.win_ms,
                frame_shift=cfg.hop_ms,
                dither=0.0,
                sample_frequency=float(cfg.sample_rate),
            )  # (frames, n_mels)
        if cfg.normalize:
            feats = normalize_utterance(feats)
        return feats.contiguous()


def normalize_utterance(feats: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-utterance, per-band mean/variance normalization of ``(frames, feats)``."""
    mean = feats.mean(dim=0, keepdim=True)
    std = feats.std(dim=0, unbiased=False, keepdim=True)
    return (feats - mean) / (std + eps)


def warp_bands(feats: Tensor, center: float, shift: float) -> Tensor:
    """Piecewise-linear warp of the band axis of ``(frames, bands)``: what sat at band ``center``
    moves to ``center + shift``, the first and last bands stay, bands in between are interpolated
    linearly. SpecAugment's time warp (Park et al. 2019) along frequency: the bands below the knot
    stretch while those above shrink (or the reverse), so low and high formants move by different
    factors — a change of vowel quality, which a tract-length warp (one factor) does not make."""
    F = feats.shape[1]
    dst = center + shift
    if shift == 0 or not 0 < dst < F - 1 or not 0 < center < F - 1:
        return feats
    j = torch.arange(F, dtype=torch.float64)
    src = torch.where(j <= dst, j * (center / dst), center + (j - dst) * ((F - 1 - center) / (F - 1 - dst)))
    lo = src.floor().long().clamp(max=F - 2)
    w = (src - lo).to(feats.dtype)
    return feats[:, lo] * (1 - w) + feats[:, lo + 1] * w


class SpecAugment:
    """Frequency and time masks (torchaudio FrequencyMasking / TimeMasking) drawn from a seed,
    after an optional warp of the band axis.

    Args:
        freq_mask_param: widest frequency mask (bands).
        time_mask_param: widest time mask (frames).
        n_freq_masks, n_time_masks: masks of each kind.
        max_time_fraction: no single time mask covers more than this fraction of the frames.
        mask_value: value written into masked cells (0 = the mean after normalization).
        freq_warp: widest band-axis warp (:func:`warp_bands`): a knot uniform in
            ``[freq_warp, bands - 1 - freq_warp]`` moves by a whole number of bands uniform in
            ``[-freq_warp, freq_warp]``; 0 = off.
    """

    def __init__(
        self,
        freq_mask_param: int = 8,
        time_mask_param: int = 20,
        n_freq_masks: int = 2,
        n_time_masks: int = 2,
        max_time_fraction: float = 0.2,
        mask_value: float = 0.0,
        freq_warp: int = 0,
    ) -> None:
        if freq_warp < 0:
            raise ValueError(f"freq_warp={freq_warp}: a number of bands >= 0 (0 = off)")
        self.freq = torchaudio.transforms.FrequencyMasking(freq_mask_param)
        self.time = torchaudio.transforms.TimeMasking(time_mask_param, p=max_time_fraction)
        self.n_freq_masks, self.n_time_masks = n_freq_masks, n_time_masks
        self.mask_value, self.freq_warp = mask_value, freq_warp

    def __call__(self, feats: Tensor, seed: int) -> Tensor:
        """``(frames, feats)`` -> warped and masked copy of the same shape; same seed -> same result."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            W, F = self.freq_warp, feats.shape[1]
            if W and F <= 2 * W + 2:
                raise ValueError(f"freq_warp={W} needs more than {2 * W + 2} bands, the features have {F}")
            if W:  # drawn only when on: the masks of a run without it stay as they were
                center = int(torch.randint(W, F - W, ()))
                feats = warp_bands(feats, center, int(torch.randint(-W, W + 1, ())))
            spec = feats.transpose(0, 1).clone()  # torchaudio masks (..., freq, time)
            for _ in range(self.n_freq_masks):
                spec = self.freq(spec, self.mask_value)
            for _ in range(self.n_time_masks):
                spec = self.time(spec, self.mask_value)
        return spec.transpose(0, 1).contiguous()


class FeatureItem(NamedTuple):
    """``features`` ``(frames, feats)`` float32, ``targets`` ``(labels,)`` int64 (no blank)."""

    features: Tensor
    targets: Tensor
    transcript: str
    utt_id: str


class SpeechFeatures(Dataset[FeatureItem]):
    """Maps a speech dataset (items :class:`SpeechItem`) to features and CTC targets.

    SpecAugment (if given) seeds item ``index`` from ``(seed, epoch, index)``, so batches
    are reproducible whatever the worker count; call :meth:`set_epoch` to vary masks per epoch.
    """

    def __init__(
        self,
        dataset: Dataset[SpeechItem],
        extractor: FeatureExtractor,
        vocab: Vocab,
        spec_augment: SpecAugment | None = None,
        seed: int = 0,
    ) -> None:
        self.dataset, self.extractor, self.vocab = dataset, extractor, vocab
        self.spec_augment, self.seed, self.epoch = spec_augment, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> FeatureItem:
        item = self.dataset[index]
        feats = self.extractor(item.waveform, item.sample_rate)
        if self.spec_augment is not None:
            mask_seed = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0]
            feats = self.spec_augment(feats, int(mask_seed))
        return FeatureItem(feats, self.vocab.encode(item.transcript), item.transcript, item.utt_id)


class CTCBatch(NamedTuple):
    """A padded batch for ``torch.nn.CTCLoss`` (after ``log_softmax`` and a transpose to
    ``(time, batch, classes)``).

    Attributes:
        features: ``(batch, time, feats)`` float32, zero-padded past ``feature_lengths``.
        feature_lengths: ``(batch,)`` int64.
        targets: ``(batch, max_labels)`` int64, padded with the blank id 0.
        target_lengths: ``(batch,)`` int64.
        transcripts: the reference texts.
        utt_ids: the utterance ids.
    """

    features: Tensor
    feature_lengths: Tensor
    targets: Tensor
    target_lengths: Tensor
    transcripts: list[str]
    utt_ids: list[str]


def collate_ctc(items: Sequence[FeatureItem]) -> CTCBatch:
    """Pad a list of :class:`FeatureItem` into a :class:`CTCBatch` (order kept)."""
    feats = [it.features for it in items]
    targets = [it.targets for it in items]
    return CTCBatch(
        features=torch.nn.utils.rnn.pad_sequence(feats, batch_first=True),
        feature_lengths=torch.tensor([f.shape[0] for f in feats], dtype=torch.int64),
        targets=torch.nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=0),
        target_lengths=torch.tensor([t.numel() for t in targets], dtype=torch.int64),
        transcripts=[it.transcript for it in items],
        utt_ids=[it.utt_id for it in items],
    )
