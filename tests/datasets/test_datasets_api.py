"""Public API of rnnaccel.datasets, and batches independent of the DataLoader worker count."""

import torch
from torch.utils.data import DataLoader

import rnnaccel.datasets as datasets
from rnnaccel.datasets import (
    ConnectedDigits,
    FeatureExtractor,
    SpecAugment,
    SpeechFeatures,
    WordVocab,
    collate_ctc,
)


def test_all_names_exported():
    for name in datasets.__all__:
        assert hasattr(datasets, name), name


def _batches(workers):
    data = SpeechFeatures(
        ConnectedDigits("train", num_utterances=8, seed=1), FeatureExtractor(), WordVocab(), SpecAugment(), seed=3
    )
    loader = DataLoader(
        data,
        batch_size=4,
        shuffle=True,
        collate_fn=collate_ctc,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),
    )
    return list(loader)


def test_batches_do_not_depend_on_worker_count():
    serial, parallel = _batches(0), _batches(2)
    assert len(serial) == 2
    for a, b in zip(serial, parallel):
        assert a.utt_ids == b.utt_ids
        assert torch.equal(a.features, b.features) and torch.equal(a.targets, b.targets)
