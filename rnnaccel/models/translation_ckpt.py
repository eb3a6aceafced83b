"""Translator checkpoints (with their SentencePiece models) and post-training quantization.

Checkpoint layout (``format: "rnnaccel.translation/1"``), loadable with ``weights_only=True``::

    state_dict   Translator parameters (float32, or float16 per ``storage``; tied weights stored once)
    storage      "float32" or "float16" (absent: float32); see rnnaccel.models.checkpoint.STORAGE
    config       TranslatorConfig fields
    vocab        {"kind": "sentencepiece", "src": uint8 tensor (n,), "tgt": uint8 tensor (m,)}
    metrics      plain dict (BLEU/chrF per mode and search)
    datapath     {"encoder": [DatapathConfig dicts], "decoder": [...]} or None (float only)
    extra        plain dict (training command, time, data settings)

PTQ (:func:`calibrate_translator`) reuses :func:`rnnaccel.models.calibrate.formats_from_ranges`:
the float recurrences of the encoder (source embeddings) and of the decoder (teacher-forced target
embeddings) record each tensor class's largest magnitude per layer.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..datasets.subword import SubwordVocab
from ..emulator import DatapathConfig
from .accel import check_stack
from .calibrate import collect_stack_ranges, formats_from_ranges
from .checkpoint import read_checkpoint, write_checkpoint
from .translation import Translator, TranslatorConfig

__all__ = ["FORMAT", "save_translator", "load_translator", "collect_stack_ranges", "calibrate_translator"]

FORMAT = "rnnaccel.translation/1"


def save_translator(
    path: str | Path,
    model: Translator,
    src_vocab: SubwordVocab,
    tgt_vocab: SubwordVocab,
    metrics: dict | None = None,
    datapath: dict | None = None,
    extra: dict | None = None,
    storage: str = "float32",
) -> Path:
    """Write atomically (temp file + rename). ``datapath``: ``{"encoder": [cfg], "decoder": [cfg]}``;
    ``storage``: ``float32`` or ``float16`` (round the model first:
    :func:`rnnaccel.models.checkpoint.round_to_storage`)."""
    return write_checkpoint(
        path,
        FORMAT,
        model,
        storage,
        {"kind": "sentencepiece", "src": src_vocab.to_tensor(), "tgt": tgt_vocab.to_tensor()},
        metrics,
        None if datapath is None else {k: [c.to_dict() for c in v] for k, v in datapath.items()},
        extra,
    )


def load_translator(path: str | Path, use_datapath: bool = True) -> tuple[Translator, SubwordVocab, SubwordVocab, dict]:
    """Returns ``(model (eval, float mode), src_vocab, tgt_vocab, checkpoint dict)``.

    Raises:
        ValueError: one line naming the file when missing, unreadable or inconsistent.
    """
    path = Path(path)
    ck = read_checkpoint(path, (FORMAT,))  # missing, unreadable, foreign or corrupt: one line
    try:
        model = Translator(TranslatorConfig.from_dict(ck["config"]))
        model.load_state_dict(ck["state_dict"])
        src_vocab = SubwordVocab.from_tensor(ck["vocab"]["src"])
        tgt_vocab = SubwordVocab.from_tensor(ck["vocab"]["tgt"])
        if use_datapath and ck.get("datapath"):
            dp = ck["datapath"]
            model.set_datapath(
                [DatapathConfig.from_dict(d) for d in dp["encoder"]],
                [DatapathConfig.from_dict(d) for d in dp["decoder"]],
            )
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"checkpoint {path}: inconsistent ({msg[:200]})") from None
    return model.eval(), src_vocab, tgt_vocab, ck


@torch.no_grad()
def calibrate_translator(
    model: Translator, batches, bits: int = 16, margin: float = 0.25, base: DatapathConfig | None = None
) -> dict[str, list[DatapathConfig]]:
    """PTQ from ``batches`` of ``(src (B,S), src_len (B,), tgt_in (B,T), tgt_len (B,))``.

    Returns ``{"encoder": [cfg per layer], "decoder": [cfg per layer]}`` (model not modified; apply
    with ``model.set_datapath(d["encoder"], d["decoder"])``). ``margin`` widens the observed
    ranges (the free-running decoder may go a little beyond the teacher-forced one).
    """
    was = model.training
    model.eval()
    try:
        batches = list(batches)
        enc = collect_stack_ranges(model.encoder, [(model.src_emb(s), sl) for s, sl, _, _ in batches])
        dec = collect_stack_ranges(model.decoder, [(model.tgt_emb(t), tl) for _, _, t, tl in batches])
    finally:
        model.train(was)
    out = {
        "encoder": formats_from_ranges(enc, bits, margin, base),
        "decoder": formats_from_ranges(dec, bits, margin, base),
    }
    check_stack(model.encoder, out["encoder"])
    check_stack(model.decoder, out["decoder"])
    return out
