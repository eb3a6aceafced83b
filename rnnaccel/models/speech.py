"""A CTC speech recognizer in the EESEN / DeepSpeech2 family, built on the emulator's recurrent layers.

    features (B, T, F) ──► frame stacking (k frames, stride s) ──► (B, T', k*F)
        ──► stacked (bi)directional LSTM or GRU  [rnnaccel.emulator.LSTM / GRU]  ──► (B, T', dirs*H)
        ──► dropout ──► linear CTC head ──► log_softmax ──► (B, T', V)

Only the recurrent stack runs on the accelerator datapath: its ``mode`` (``float``, ``fakequant``,
``emulate``) and its per-layer :class:`~rnnaccel.emulator.DatapathConfig` are switched with
:meth:`SpeechRecognizer.set_mode` / :meth:`SpeechRecognizer.set_datapath`. The frame stacking and the
CTC head are always float (on E-PUR-like accelerators they run on the host). One checkpoint serves
every mode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from ..configio import strict_kwargs
from ..emulator import GRU, LSTM, Trace
from .accel import OnDatapath

__all__ = ["SpeechModelConfig", "SpeechRecognizer", "stack_frames", "stacked_lengths"]

CELLS = {"lstm": LSTM, "gru": GRU}


@dataclass
class SpeechModelConfig:
    """Architecture of :class:`SpeechRecognizer` (a plain dataclass: also the hydra ``model`` group).

    Attributes:
        n_feats: input feature dimension F (e.g. 40 log-mel bands).
        vocab_size: CTC classes V including the blank (0).
        stack: frames concatenated per output step (1 = no stacking).
        stride: output step stride in input frames (1 = no subsampling).
        cell: ``"lstm"`` or ``"gru"``.
        hidden_size: units H per direction.
        num_layers: recurrent layers.
        bidirectional: forward + reverse directions.
        dropout: dropout on the recurrent stack's input and output (training only).
    """

    n_feats: int = 40
    vocab_size: int = 11
    stack: int = 3
    stride: int = 3
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 2
    bidirectional: bool = True
    dropout: float = 0.1

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"model.cell={self.cell!r} unknown; choose one of {sorted(CELLS)}")
        for name in ("n_feats", "vocab_size", "stack", "stride", "hidden_size", "num_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"model.{name} must be a positive int, got {v!r}")
        if self.vocab_size < 2:
            raise ValueError("model.vocab_size must count the blank and at least one token")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "SpeechModelConfig":
        return cls(**strict_kwargs(cls, d, "model"))


def stacked_lengths(lengths: Tensor, stride: int) -> Tensor:
    """Output steps per sequence after stacking with ``stride``: ``ceil(lengths / stride)``."""
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor")


def stack_frames(x: Tensor, lengths: Tensor, stack: int, stride: int) -> tuple[Tensor, Tensor]:
    """Concatenate ``stack`` consecutive frames every ``stride`` frames.

    ``x``: (B, T, F), zero past ``lengths`` (B,). Returns ``(y, out_lengths)`` with
    ``y`` (B, T', stack*F), ``T' = ceil(T / stride)``, ``y[b, t] = concat(x[b, t*stride + j] for j <
    stack)``; frames past a sequence's end (or ``T``) read as zeros, and ``y`` is zero past
    ``out_lengths = ceil(lengths / stride)``.
    """
    if stack == 1 and stride == 1:
        return x, lengths
    B, T, F = x.shape
    Tp = (T + stride - 1) // stride
    need = (Tp - 1) * stride + stack  # frames the last step reads
    valid = (torch.arange(T, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
    x = torch.nn.functional.pad(x * valid, (0, 0, 0, max(0, need - T)))
    y = x.unfold(1, stack, stride)[:, :Tp]  # (B, T', F, stack)
    y = y.transpose(2, 3).reshape(B, Tp, stack * F)
    out_len = stacked_lengths(lengths, stride)
    alive = (torch.arange(Tp, device=x.device).unsqueeze(0) < out_len.unsqueeze(1)).unsqueeze(-1)
    return y * alive, out_len


def torch_float_rnn(rnn, x: Tensor, lengths: Tensor) -> Tensor:
    """The float recurrence of an emulator ``LSTM``/``GRU`` through torch's fused kernel.

    ``x`` (B, T, D), ``lengths`` (B,) -> output (B, T, dirs*H), zero past each length. Uses the
    module's own parameters (gradients reach them), PyTorch's equations and gate order.
    """
    B, T, _ = x.shape
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
    flat = []
    for layer in range(rnn.num_layers):
        for d in range(rnn.num_directions):
            flat.extend(p for p in rnn.params(layer, d) if p is not None)
    H, L = rnn.hidden_size, rnn.num_layers * rnn.num_directions
    h0 = x.new_zeros(L, B, H)
    h0 = h0.index_select(1, packed.sorted_indices)
    if rnn.cell == "lstm":
        out = torch._VF.lstm(
            packed.data, packed.batch_sizes, (h0, h0), flat, rnn.bias, rnn.num_layers, 0.0, False, rnn.bidirectional
        )
    else:
        out = torch._VF.gru(
            packed.data, packed.batch_sizes, h0, flat, rnn.bias, rnn.num_layers, 0.0, False, rnn.bidirectional
        )
    packed_out = nn.utils.rnn.PackedSequence(out[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    y, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=T)
    alive = (torch.arange(T, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
    return y * alive


class SpeechRecognizer(OnDatapath, nn.Module):
    """Frame stacking + recurrent stack (emulator LSTM/GRU) + linear CTC head.

    ``forward(features (B, T, F), lengths (B,), trace=None) -> (log_probs (B, T', V), out_lengths (B,))``
    with ``T' = ceil(T / stride)``. ``trace`` (emulate mode only) collects the recurrent layers'
    action counts.
    """

    def __init__(self, config: SpeechModelConfig):
        super().__init__()
        self.config = config
        c = config
        dirs = 2 if c.bidirectional else 1
        self.rnn = CELLS[c.cell](
            c.n_feats * c.stack, c.hidden_size, num_layers=c.num_layers, bidirectional=c.bidirectional, batch_first=True
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(dirs * c.hidden_size, c.vocab_size)
        #: float mode runs torch's fused kernel on the same parameters (3-4x faster to train;
        #: equal to the emulator's float path up to float rounding, tests/models check it)
        self.fast_float = True

    #: the one multi-layer stack on the datapath (set_mode / set_datapath: rnnaccel.models.accel)
    STACKS = ("rnn",)

    # ------------------------------------------------------------------ forward
    def forward(self, features: Tensor, lengths: Tensor, trace: Trace | None = None) -> tuple[Tensor, Tensor]:
        """``features`` (B, T, F) zero-padded, ``lengths`` (B,) -> ``(log_probs (B, T', V), out_lengths (B,))``."""
        if features.dim() != 3 or features.shape[-1] != self.config.n_feats:
            raise ValueError(f"expected features (batch, time, {self.config.n_feats}), got {tuple(features.shape)}")
        lengths = lengths.to(torch.int64)
        x, out_len = stack_frames(features, lengths, self.config.stack, self.config.stride)
        x = self.drop(x)
        if self.mode == "emulate":
            y, _ = self.rnn(x, lengths=out_len, trace=trace)
        elif self.mode == "float" and self.fast_float:
            y = torch_float_rnn(self.rnn, x, out_len)
        else:
            y, _ = self.rnn(x, lengths=out_len)
        logits = self.head(self.drop(y))  # (B, T', V)
        return logits.log_softmax(dim=-1), out_len

    def ctc_loss(self, features: Tensor, lengths: Tensor, targets: Tensor, target_lengths: Tensor) -> Tensor:
        """Mean CTC loss (blank 0, per-utterance loss divided by target length, ``zero_infinity``)."""
        log_probs, out_len = self(features, lengths)
        return nn.functional.ctc_loss(
            log_probs.transpose(0, 1), targets, out_len, target_lengths, blank=0, reduction="mean", zero_infinity=True
        )
