"""An attentional LSTM encoder-decoder translator (Luong et al., 2015) on the emulator's LSTM.

    src ids (B, S) ──► embedding (E) ──► bidirectional LSTM encoder [rnnaccel.emulator.LSTM]
        ──► memory (B, S, 2*He) ──► keys = memory @ W_a  (B, S, Hd)        ("general" attention)
    tgt ids (B, T) ──► embedding (E) ──► LSTM decoder [rnnaccel.emulator.LSTM] ──► h (B, T, Hd)
        score = h · keys  ──► masked softmax ──► context (B, T, 2*He)
        attentional = tanh(W_c [context; h])  (B, T, E) ──► dropout ──► W_out (tied to the target
        embedding when E matches) ──► logits (B, T, Vt)

No input feeding: the decoder's input is only the previous target token, so in float training the
whole target sequence runs through torch's fused kernel (:func:`~rnnaccel.models.speech.torch_float_rnn`)
and attention is one batched matmul. The decoder starts from zero state.

Only the two LSTM stacks run on the accelerator datapath (``set_mode``: ``float``, ``fakequant``,
``emulate``; ``set_datapath``: per-layer formats). Embeddings, attention, the combine layer and the
output projection stay float (host). One checkpoint serves every mode. In emulate mode decoding
calls the decoder one step at a time with its dequantized ``(h, c)``, which requantize exactly, so
the stepwise recurrence equals a whole-sequence emulation bit for bit.

Techniques (memoization, dynamic precision) act on both stacks: decoding
(:mod:`rnnaccel.models.beam_seq2seq`) runs inside a technique session
(:mod:`rnnaccel.emulator.session`), so the decoder's memo buffers and precision history carry from
one token's call to the next (and follow the hypotheses in beam search), and the trace names each
stack (``encoder:L0.d0``, ``decoder:L0.d0``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..datasets.subword import PAD
from ..emulator import LSTM, Trace
from .accel import OnDatapath
from .speech import torch_float_rnn

__all__ = ["TranslatorConfig", "Translator"]


@dataclass
class TranslatorConfig:
    """Architecture of :class:`Translator`.

    Attributes:
        src_vocab, tgt_vocab: vocabulary sizes (ids: pad 0, unk 1, bos 2, eos 3).
        emb_size: embedding size E (also the attentional vector size).
        enc_hidden: encoder units He per direction (bidirectional: memory has 2*He features).
        enc_layers: encoder layers.
        dec_hidden: decoder units Hd.
        dec_layers: decoder layers.
        dropout: on embeddings, encoder memory and the attentional vector (training only).
        tie_embeddings: share the target embedding with the output projection.
    """

    src_vocab: int = 8000
    tgt_vocab: int = 8000
    emb_size: int = 256
    enc_hidden: int = 256
    enc_layers: int = 1
    dec_hidden: int = 256
    dec_layers: int = 1
    dropout: float = 0.2
    tie_embeddings: bool = True

    def __post_init__(self):
        for name in ("src_vocab", "tgt_vocab", "emb_size", "enc_hidden", "enc_layers", "dec_hidden", "dec_layers"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"model.{name} must be a positive int, got {v!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "TranslatorConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"model: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**dict(d))


class Translator(OnDatapath, nn.Module):
    """Bidirectional-LSTM encoder, LSTM decoder with Luong "general" attention.

    ``forward(src (B,S), src_len (B,), tgt_in (B,T), tgt_len (B,)) -> logits (B, T, Vt)`` (teacher
    forcing). :meth:`encode` + :meth:`step` decode one token at a time (see
    :mod:`rnnaccel.models.beam_seq2seq`).
    """

    def __init__(self, config: TranslatorConfig):
        super().__init__()
        self.config = c = config
        self.src_emb = nn.Embedding(c.src_vocab, c.emb_size, padding_idx=PAD)
        self.tgt_emb = nn.Embedding(c.tgt_vocab, c.emb_size, padding_idx=PAD)
        self.encoder = LSTM(c.emb_size, c.enc_hidden, num_layers=c.enc_layers, bidirectional=True, batch_first=True)
        self.decoder = LSTM(c.emb_size, c.dec_hidden, num_layers=c.dec_layers, batch_first=True)
        self.attn = nn.Linear(2 * c.enc_hidden, c.dec_hidden, bias=False)
        self.combine = nn.Linear(2 * c.enc_hidden + c.dec_hidden, c.emb_size, bias=False)
        self.out = nn.Linear(c.emb_size, c.tgt_vocab)
        if c.tie_embeddings:
            self.out.weight = self.tgt_emb.weight
        self.drop = nn.Dropout(c.dropout)
        nn.init.normal_(self.src_emb.weight, 0.0, c.emb_size**-0.5)
        nn.init.normal_(self.tgt_emb.weight, 0.0, c.emb_size**-0.5)
        with torch.no_grad():
            self.src_emb.weight[PAD].zero_()
            self.tgt_emb.weight[PAD].zero_()
        #: float mode runs torch's fused LSTM kernel on the same parameters over whole sequences
        self.fast_float = True

    #: the two stacks on the datapath: ``set_datapath(encoder_cfgs, decoder_cfgs)`` (or one config
    #: for both); ``datapath`` is ``{"encoder": [...], "decoder": [...]}`` (rnnaccel.models.accel)
    STACKS = ("encoder", "decoder")

    # ------------------------------------------------------------------ pieces
    def _run(self, rnn: LSTM, x: Tensor, lengths: Tensor, trace: Trace | None = None) -> Tensor:
        """Whole-sequence recurrence from zero state: (B, T, D) -> (B, T, dirs*H), zero past lengths."""
        if rnn.mode == "float" and self.fast_float:
            return torch_float_rnn(rnn, x, lengths)
        if rnn.mode == "emulate":
            return rnn(x, lengths=lengths, trace=trace)[0]
        return rnn(x, lengths=lengths)[0]

    def encode(self, src: Tensor, src_len: Tensor, trace: Trace | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``src`` (B, S) ids, ``src_len`` (B,) -> ``(memory (B,S,2He), keys (B,S,Hd), mask (B,S) bool)``."""
        src_len = src_len.to(torch.int64)
        x = self.drop(self.src_emb(src))
        memory = self.drop(self._run(self.encoder, x, src_len, trace))
        mask = torch.arange(src.shape[1], device=src.device).unsqueeze(0) < src_len.unsqueeze(1)
        return memory, self.attn(memory), mask

    def attend(self, h: Tensor, memory: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``h`` (B, T, Hd) decoder outputs -> ``(attentional (B, T, E), weights (B, T, S))``."""
        scores = torch.bmm(h, keys.transpose(1, 2))  # (B, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = scores.softmax(dim=-1)
        context = torch.bmm(weights, memory)  # (B, T, 2He)
        return torch.tanh(self.combine(torch.cat([context, h], dim=-1))), weights

    def logits(self, attentional: Tensor) -> Tensor:
        """(…, E) -> (…, Vt)."""
        return self.out(self.drop(attentional))

    # ------------------------------------------------------------------ training
    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor, tgt_len: Tensor) -> Tensor:
        """Teacher forcing: ``tgt_in`` (B, T) starts with bos -> logits (B, T, Vt)."""
        memory, keys, mask = self.encode(src, src_len)
        y = self.drop(self.tgt_emb(tgt_in))
        h = self._run(self.decoder, y, tgt_len.to(torch.int64))
        att, _ = self.attend(h, memory, keys, mask)
        return self.logits(att)

    def loss(
        self,
        src: Tensor,
        src_len: Tensor,
        tgt_in: Tensor,
        tgt_out: Tensor,
        tgt_len: Tensor,
        label_smoothing: float = 0.0,
    ) -> Tensor:
        """Mean token cross-entropy over non-pad ``tgt_out`` (B, T) positions (ends with eos)."""
        logits = self(src, src_len, tgt_in, tgt_len)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=PAD, label_smoothing=label_smoothing
        )

    # ------------------------------------------------------------------ step-wise decoding
    def step(
        self, prev: Tensor, state, memory: Tensor, keys: Tensor, mask: Tensor, trace: Trace | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One decoder step for N hypotheses.

        ``prev`` (N,) previous token ids; ``state`` ``(h, c)`` each (dec_layers, N, Hd) or None
        (zero state); ``memory`` (N, S, 2He), ``keys`` (N, S, Hd), ``mask`` (N, S).
        Returns ``(log_probs (N, Vt), (h, c))``. Runs the decoder in its current mode.
        """
        x = self.tgt_emb(prev).unsqueeze(1)  # (N, 1, E)
        ones = torch.ones(prev.shape[0], dtype=torch.int64, device=prev.device)
        if self.decoder.mode == "emulate":
            out, state = self.decoder(x, state, lengths=ones, trace=trace)
        else:
            out, state = self.decoder(x, state, lengths=ones)
        att, _ = self.attend(out, memory, keys, mask)
        return self.logits(att[:, 0]).log_softmax(dim=-1), state
