"""Sentence sentiment classifier: float embedding -> our LSTM -> pooled state -> linear (2 classes).

The recurrent layers are :class:`rnnaccel.emulator.LSTM`, so one checkpoint runs in every mode
(``model.set_mode("float" | "fakequant" | "emulate")``) and on any datapath
(``model.set_datapath(cfg)``). Only the LSTM is on the accelerator: the embedding lookup, the
pooling and the classifier are host-side float.

In ``"emulate"`` mode the pooling and the classifier run in float64 on the dequantized integer
outputs (sums of at most a few thousand 16-bit values are exact in float64), so emulated
predictions are reproducible bit for bit; ``model.last_saturations`` holds the datapath's
saturation counts of the last emulated forward.

Checkpoints (:func:`save_checkpoint` / :func:`load_checkpoint`) are plain dicts readable with
``torch.load(weights_only=True)``::

    format      "rnnaccel.sentiment/1"
    state_dict  float32 parameters
    config      SentimentConfig fields
    vocab       token list in id order ("<pad>", "<unk>", words...)
    datapath    list of DatapathConfig.to_dict() per LSTM layer, or None (default formats)
    metrics     plain dict (accuracies...)
    extra       plain dict (training arguments, wall time...)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..configio import strict_kwargs
from ..datasets.sentiment import collate_sentiment
from ..emulator import LSTM, DatapathConfig, Trace, dequantize
from .accel import OnDatapath

__all__ = ["SentimentConfig", "SentimentLSTM", "predict", "FORMAT", "save_checkpoint", "load_checkpoint"]

FORMAT = "rnnaccel.sentiment/1"


@dataclass
class SentimentConfig:
    """Architecture. ``pool``: ``"mean"`` (mean of the last layer's outputs over valid steps) or
    ``"last"`` (final hidden state of each direction of the last layer)."""

    vocab_size: int
    embed_dim: int = 48
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = True
    pool: str = "mean"
    dropout: float = 0.3
    num_classes: int = 2

    def __post_init__(self):
        if self.pool not in ("mean", "last"):
            raise ValueError(f"pool must be 'mean' or 'last', got {self.pool!r}")
        for name in ("vocab_size", "embed_dim", "hidden_size", "num_layers", "num_classes"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SentimentConfig":
        return cls(**strict_kwargs(cls, d, "SentimentConfig"))


class SentimentLSTM(OnDatapath, nn.Module):
    """``forward(tokens (B, T) int64, lengths (B,), trace=None) -> logits (B, num_classes)``.

    Padding id 0 has a zero embedding; positions at or past ``lengths`` are never read by the LSTM.
    """

    def __init__(
        self,
        config: SentimentConfig,
        mode: str = "float",
        datapath: DatapathConfig | list[DatapathConfig] | None = None,
    ):
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=0)
        self.rnn = LSTM(
            c.embed_dim,
            c.hidden_size,
            c.num_layers,
            bidirectional=c.bidirectional,
            batch_first=True,
            mode=mode,
            datapath=datapath,
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size * (2 if c.bidirectional else 1), c.num_classes)
        self.last_saturations: dict[str, int] | None = None

    #: the LSTM stack on the datapath (set_mode / set_datapath: rnnaccel.models.accel)
    STACKS = ("rnn",)

    # ------------------------------------------------------------------ forward
    def forward(self, tokens: Tensor, lengths: Tensor | None = None, trace: Trace | None = None) -> Tensor:
        if tokens.dim() != 2:
            raise ValueError(f"tokens must be (batch, time), got {tuple(tokens.shape)}")
        B, T = tokens.shape
        lengths = (
            torch.full((B,), T, dtype=torch.int64)
            if lengths is None
            else torch.as_tensor(lengths, dtype=torch.int64).cpu()
        )
        x = self.drop(self.embed(tokens))  # (B, T, E)
        if self.mode == "emulate":
            return self._forward_emulate(x, lengths, trace)
        out, (h_n, _) = self.rnn(x, lengths=lengths)  # out (B, T, dirs*H), h_n (layers*dirs, B, H)
        return self.head(self.drop(self._pool(out, h_n, lengths)))

    def _pool(self, out: Tensor, h_n: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, dirs*H) outputs (zero past each length) -> (B, dirs*H)."""
        if self.config.pool == "mean":
            return out.sum(dim=1) / lengths.to(out.device, out.dtype).unsqueeze(1)
        dirs = 2 if self.config.bidirectional else 1
        return torch.cat(list(h_n[-dirs:]), dim=-1)

    @torch.no_grad()
    def _forward_emulate(self, x: Tensor, lengths: Tensor, trace: Trace | None) -> Tensor:
        r = self.rnn.emulate(x, lengths, trace=trace)
        self.last_saturations = dict(r.saturations)
        cfgs = self.rnn.datapath
        dirs = self.rnn.num_directions
        out = dequantize(r.output, cfgs[-1].hidden).double()
        h_n = torch.stack([dequantize(r.h_n[k], cfgs[k // dirs].hidden) for k in range(r.h_n.shape[0])]).double()
        pooled = self._pool(out, h_n, lengths)
        logits = pooled @ self.head.weight.double().T + self.head.bias.double()
        return logits.float()


@torch.no_grad()
def predict(model: SentimentLSTM, items, batch_size: int = 256, saturations: dict | None = None) -> Tensor:
    """Predicted classes ``(N,)`` int64 for ``items`` (a sequence of ``(ids (length,), label)``,
    e.g. a ``SentimentDataset``), in the model's current mode. Batches group similar lengths
    (results do not depend on the grouping). In emulate mode the datapath's saturation counts
    are added into ``saturations`` when a dict is given."""
    was = model.training
    model.eval()
    try:
        order = sorted(range(len(items)), key=lambda i: len(items[i][0]))
        preds = torch.empty(len(items), dtype=torch.int64)
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            b = collate_sentiment([items[i] for i in idx])
            preds[idx] = model(b.tokens, b.lengths).argmax(dim=1)
            if saturations is not None and model.mode == "emulate":
                for k, v in model.last_saturations.items():
                    saturations[k] = saturations.get(k, 0) + int(v)
    finally:
        model.train(was)
    return preds


# ---------------------------------------------------------------------- checkpoints
def save_checkpoint(
    path: str | Path,
    model: SentimentLSTM,
    vocab: list[str],
    metrics: dict | None = None,
    datapath: list[DatapathConfig] | None = None,
    extra: dict | None = None,
) -> Path:
    """Write atomically (temp file + rename). ``vocab``: the token list in id order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(vocab) != model.config.vocab_size:
        raise ValueError(f"vocab has {len(vocab)} tokens but the model {model.config.vocab_size}")
    obj = {
        "format": FORMAT,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "config": model.config.to_dict(),
        "vocab": [str(t) for t in vocab],
        "datapath": [c.to_dict() for c in datapath] if datapath is not None else None,
        "metrics": dict(metrics or {}),
        "extra": dict(extra or {}),
    }
    from .checkpoint import save_with_digest

    return save_with_digest(obj, path)


def load_checkpoint(path: str | Path, mode: str = "float") -> tuple[SentimentLSTM, list[str], dict]:
    """Rebuild the model (eval mode, stored datapath applied) -> ``(model, vocab tokens, dict)``.

    Raises:
        ValueError: one line naming the file when it is missing, unreadable or not a sentiment checkpoint.
    """
    from .checkpoint import read_checkpoint

    path = Path(path)
    obj = read_checkpoint(path, (FORMAT,))  # missing, unreadable, foreign or corrupt: one line
    try:
        config = SentimentConfig.from_dict(obj["config"])
        dp = obj.get("datapath")
        datapath = [DatapathConfig.from_dict(d) for d in dp] if dp is not None else None
        model = SentimentLSTM(config, mode=mode, datapath=datapath)
        model.load_state_dict(obj["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"checkpoint {path}: inconsistent ({type(e).__name__}: {str(e)[:200]})") from None
    vocab = list(obj["vocab"])
    if len(vocab) != config.vocab_size:
        raise ValueError(f"checkpoint {path}: vocab has {len(vocab)} tokens, config says {config.vocab_size}")
    return model.eval(), vocab, obj
