"""Audio loading errors name the file; the data root is found or its absence is explained."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from rnnaccel.datasets import DataError, default_data_root, load_audio
from rnnaccel.datasets.paths import ENV_VAR, corpus_dir


def test_load_audio_reads_mono_float32(tmp_path):
    path = tmp_path / "tone.wav"
    samples = (0.5 * np.sin(np.arange(800) / 5.0)).astype(np.float32)
    sf.write(path, samples, 8000, subtype="PCM_16")
    wave, sr = load_audio(path)
    assert sr == 8000 and wave.dtype == torch.float32 and wave.shape == (800,)
    assert torch.allclose(wave, torch.from_numpy(samples), atol=1 / 32768)


def test_load_audio_averages_channels(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, np.array([[0.5, -0.5], [0.25, 0.75]], dtype=np.float32), 16000, subtype="FLOAT")
    wave, _ = load_audio(path)
    assert wave.tolist() == [0.0, 0.5]


def test_missing_audio_names_the_file(tmp_path):
    path = tmp_path / "nowhere" / "7_theo_3.wav"
    with pytest.raises(FileNotFoundError, match="7_theo_3.wav"):
        load_audio(path)


def test_corrupt_audio_names_the_file_in_one_line(tmp_path):
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"RIFF\x00\x01garbage bytes that are not audio" * 3)
    with pytest.raises(DataError) as info:
        load_audio(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_nan_audio_names_the_file(tmp_path):
    path = tmp_path / "nan.wav"
    sf.write(path, np.array([0.1, np.nan, 0.2], dtype=np.float32), 8000, subtype="FLOAT")
    with pytest.raises(DataError, match="nan.wav.*NaN"):
        load_audio(path)


def test_data_root_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="missing"):
        default_data_root()


def test_default_data_root_holds_the_shared_corpora(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    root = default_data_root()
    assert (root / "fsdd" / "recordings").is_dir() and (root / "multi30k").is_dir()


def test_missing_corpus_dir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(Path(tmp_path) / "fsdd")):
        corpus_dir(tmp_path, "fsdd", "recordings")
