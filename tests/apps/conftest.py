"""Shared fixtures of the app tests: a tiny random sentiment checkpoint (the snippets ship with the
repository, so these tests need no external data) and a helper that runs an app as a command."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_sentiment(tmp_path_factory) -> Path:
    """A 1-layer BiLSTM(6) sentiment model with random weights and a 300-word vocab."""
    from rnnaccel.datasets.sentiment import load_sentiment
    from rnnaccel.models.sentiment import SentimentConfig, SentimentLSTM, save_checkpoint

    data = load_sentiment(seed=0, max_vocab=300)
    torch.manual_seed(0)
    model = SentimentLSTM(SentimentConfig(len(data.vocab), embed_dim=8, hidden_size=6, dropout=0.0))
    path = tmp_path_factory.mktemp("ckpt") / "tiny_sentiment.pt"
    save_checkpoint(path, model, data.vocab.tokens, extra={"args": {"seed": 0}})
    return path


def run_app(module: str, *overrides: str, timeout: int = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m rnnaccel.apps.<module> <overrides>`` from the repository root, one thread."""
    e = {**os.environ, "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", f"rnnaccel.apps.{module}", *overrides],
        cwd=ROOT,
        env=e,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def have_fsdd() -> bool:
    try:
        from rnnaccel.datasets import default_data_root

        return (default_data_root() / "fsdd" / "recordings").is_dir()
    except Exception:
        return False


def fsdd_root(root: Path, indices=range(0, 5)) -> Path:
    """A data root whose ``fsdd/recordings`` links the shared recordings with these indices (the
    test split's), so a test can damage or remove files without touching the shared data."""
    from rnnaccel.datasets import default_data_root

    rec = root / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for f in (default_data_root() / "fsdd" / "recordings").glob("*.wav"):
        if int(f.stem.rsplit("_", 1)[1]) in indices:
            (rec / f.name).symlink_to(f)
    return root
