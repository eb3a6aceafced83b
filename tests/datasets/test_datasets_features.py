"""Front end: feature shapes, resampling, normalization, seeded SpecAugment, CTC batches."""

import pytest
import torch

from rnnaccel.datasets import (
    ConnectedDigits,
    FeatureConfig,
    FeatureExtractor,
    SpecAugment,
    SpeechFeatures,
    WordVocab,
    collate_ctc,
)


def _tone(seconds, rate):
    t = torch.arange(int(seconds * rate)) / rate
    return 0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.01 * torch.sin(2 * torch.pi * 97 * t)


@pytest.mark.parametrize("rate", [8000, 16000, 22050])
def test_logmel_shape_after_resampling(rate):
    fx = FeatureExtractor()
    feats = fx(_tone(1.0, rate), rate)
    assert feats.shape == (1 + 16000 // 160, 40) and feats.dtype == torch.float32
    assert torch.isfinite(feats).all()


def test_fbank_shape_and_configured_rate():
    fx = FeatureExtractor(FeatureConfig(kind="fbank", sample_rate=8000, n_mels=23))
    feats = fx(_tone(0.5, 8000), 8000)  # 4000 samples, window 200, hop 80
    assert feats.shape == (1 + (4000 - 200) // 80, 23)
    short = fx(_tone(0.01, 8000), 8000)  # shorter than one window: padded to one frame
    assert short.shape == (1, 23)


def test_resampling_to_the_configured_rate():
    fx = FeatureExtractor(FeatureConfig(sample_rate=16000))
    assert fx.resample(_tone(1.0, 8000), 8000).shape == (16000,)
    assert fx.resample(_tone(1.0, 22050), 22050).shape == (16000,)


def test_per_utterance_normalization():
    noise = torch.randn(11200, generator=torch.Generator().manual_seed(0))
    feats = FeatureExtractor()(_tone(0.7, 16000) + 0.01 * noise, 16000)
    assert torch.allclose(feats.mean(0), torch.zeros(40), atol=1e-4)
    raw = FeatureExtractor(FeatureConfig(normalize=False))(_tone(0.7, 16000), 16000)
    assert raw.mean().abs() > 1


def test_rejects_multichannel():
    with pytest.raises(ValueError, match="mono"):
        FeatureExtractor()(torch.zeros(2, 100), 16000)


def test_spec_augment_is_seeded_and_leaves_global_rng_alone():
    feats = torch.randn(200, 40) + 5
    aug = SpecAugment(freq_mask_param=8, time_mask_param=20)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = aug(feats, seed=1)
    assert torch.equal(torch.rand(1), expected_next)
    assert torch.equal(a, aug(feats, seed=1))
    assert not torch.equal(a, aug(feats, seed=2))
    assert a.shape == feats.shape and (a == 0).any()
    assert torch.equal(a[a != 0], feats[a != 0])  # only masked cells change
    masked_rows = (a == 0).all(dim=1).sum()
    assert masked_rows <= 2 * int(0.2 * 200)


def test_warp_bands_moves_the_knot_and_keeps_the_ends():
    """A peak at the knot lands ``shift`` bands away; the first and last bands stay; a peak above
    the knot moves by a smaller, proportional amount (the upper segment is squeezed)."""
    F = 40
    band = torch.arange(F, dtype=torch.float32)
    feats = torch.stack([-((band - 12) ** 2) / 4, -((band - 30) ** 2) / 4])  # peaks at 12 and 30
    from rnnaccel.datasets.features import warp_bands

    out = warp_bands(feats, center=12, shift=3)
    assert int(out[0].argmax()) == 15
    assert torch.equal(out[:, 0], feats[:, 0]) and torch.allclose(out[:, -1], feats[:, -1])
    # above the knot: src = 12 + (j - 15) * 27 / 24, so the band-30 peak lands at 15 + 18 * 24 / 27 = 31
    assert int(out[1].argmax()) == 31
    assert torch.equal(warp_bands(feats, 12, 0), feats)


def test_spec_augment_band_warp_is_seeded_and_off_by_default():
    feats = torch.randn(100, 40)
    plain = SpecAugment(n_freq_masks=0, n_time_masks=0)
    assert torch.equal(plain(feats, seed=3), feats)
    warped = SpecAugment(n_freq_masks=0, n_time_masks=0, freq_warp=4)
    outs = [warped(feats, seed=s) for s in range(8)]
    assert torch.equal(outs[0], warped(feats, seed=0))
    assert sum(not torch.equal(o, feats) for o in outs) >= 6  # a zero shift is one draw in nine
    with pytest.raises(ValueError, match="freq_warp"):
        SpecAugment(freq_warp=-1)
    with pytest.raises(ValueError, match="freq_warp=4 needs more than 10 bands, the features have 10"):
        warped(torch.randn(20, 10), seed=0)


def test_a_band_warp_without_spec_augment_is_refused():
    from rnnaccel.apps.config import DataConf
    from rnnaccel.apps.data import spec_augment

    assert spec_augment(DataConf(spec_warp=3)).freq_warp == 3
    assert spec_augment(DataConf(spec_augment=False)) is None
    with pytest.raises(ValueError, match="data.spec_warp=3 needs data.spec_augment=true"):
        spec_augment(DataConf(spec_warp=3, spec_augment=False))


def test_collate_pads_features_and_targets():
    ds = ConnectedDigits("test", num_utterances=6, seed=4)
    data = SpeechFeatures(ds, FeatureExtractor(), WordVocab(), SpecAugment(), seed=0)
    items = [data[i] for i in range(len(data))]
    batch = collate_ctc(items)
    lengths = [it.features.shape[0] for it in items]
    assert batch.features.shape == (6, max(lengths), 40)
    assert batch.feature_lengths.tolist() == lengths
    assert batch.target_lengths.tolist() == [len(t.split()) for t in batch.transcripts]
    for k, it in enumerate(items):
        assert not batch.features[k, lengths[k] :].any()
        assert WordVocab().decode(batch.targets[k, : batch.target_lengths[k]]) == it.transcript
    log_probs = torch.randn(max(lengths), 6, 11).log_softmax(-1)  # (time, batch, classes)
    loss = torch.nn.CTCLoss(blank=0)(log_probs, batch.targets, batch.feature_lengths, batch.target_lengths)
    assert torch.isfinite(loss)


def test_speech_features_deterministic_per_epoch():
    ds = ConnectedDigits("test", num_utterances=2, seed=4)
    a = SpeechFeatures(ds, FeatureExtractor(), WordVocab(), SpecAugment(), seed=7)
    b = SpeechFeatures(ds, FeatureExtractor(), WordVocab(), SpecAugment(), seed=7)
    assert torch.equal(a[1].features, b[1].features)
    first = a[1].features
    a.set_epoch(1)
    assert not torch.equal(a[1].features, first)
