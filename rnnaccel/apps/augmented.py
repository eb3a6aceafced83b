"""The training split with waveform augmentation on the fly (``data.augment.*_p`` > 0).

Cached features cannot hold a waveform op, so this set keeps the corpus (which assembles each
utterance cheaply from its recordings) and computes item ``i`` of epoch ``e`` as: waveform ->
:class:`~rnnaccel.datasets.augment.Augmenter` seeded by ``(seed, e, i)`` -> features -> SpecAugment
seeded as :class:`~rnnaccel.apps.data.FeatureSet` seeds it. Same interface as ``FeatureSet`` for
:func:`~rnnaccel.apps.data.batches` (``len``, ``[i]``, ``set_epoch``, ``subset``), so a run stays
reproducible and resumable at any step. Costs a feature extraction per item per epoch.
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ..datasets import FeatureExtractor, FeatureItem, SpecAugment, Vocab
from ..datasets.augment import Augmenter, AugmentConfig
from ..errors import RnnaccelError


def augment_config(data) -> AugmentConfig:
    """``data.augment`` as an :class:`AugmentConfig` (hydra gives a DictConfig), checked: a setting
    out of range is a usage error (one line, exit 2), as every other bad ``data.*`` setting."""
    node = data.augment
    cfg = OmegaConf.to_object(node) if isinstance(node, DictConfig) else node
    try:
        cfg.check()
    except ValueError as e:
        raise RnnaccelError(str(e)) from None
    return cfg


class AugmentedSet:
    """``corpus`` (SpeechItem dataset) -> augmented :class:`FeatureItem` s, seeded per (seed, epoch, i)."""

    def __init__(
        self,
        corpus,
        extractor: FeatureExtractor,
        vocab: Vocab,
        augment: AugmentConfig,
        spec_augment: SpecAugment | None,
        seed: int,
    ) -> None:
        self.corpus, self.extractor, self.vocab = corpus, extractor, vocab
        self.augmenter = Augmenter(augment)
        self.spec_augment, self.seed, self.epoch = spec_augment, seed, 0

    def __len__(self) -> int:
        return len(self.corpus)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> FeatureItem:
        item = self.corpus[i]
        wave, _ = self.augmenter(item.waveform, item.sample_rate, (self.seed, self.epoch, i))
        f = self.extractor(wave, item.sample_rate)
        if self.spec_augment is not None:
            s = np.random.SeedSequence([self.seed, self.epoch, i]).generate_state(1)[0]
            f = self.spec_augment(f, int(s))
        return FeatureItem(f, self.vocab.encode(item.transcript), item.transcript, item.utt_id)

    def subset(self, n: int):
        """The first ``n`` items, clean (no augmentation), as a ``FeatureSet`` (calibration)."""
        from .data import FeatureSet

        items = [self.corpus[i] for i in range(min(n, len(self.corpus)))]
        feats = [self.extractor(it.waveform, it.sample_rate) for it in items]
        return FeatureSet(feats, [it.transcript for it in items], [it.utt_id for it in items], self.vocab)
