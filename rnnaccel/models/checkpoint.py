"""Checkpoints: plain dicts of tensors and Python values, loadable with ``weights_only=True``.

Layout (``format: "rnnaccel.checkpoint/1"``)::

    state_dict   model parameters (float32, or float16 when ``storage`` says so)
    storage      "float32" or "float16" (absent: float32); loading always yields float32 parameters
    config       model architecture (plain dict, :class:`SpeechModelConfig` fields)
    vocab        {"kind": "word"|"char", "tokens": [...]}  (tokens without the blank)
    metrics      plain dict (e.g. {"val_wer": 0.012})
    datapath     per-recurrent-layer DatapathConfig.to_dict() list, or None (float only)
    extra        anything else plain (data config, training state: optimizer, step, epoch)

A missing, truncated or foreign file raises one ``ValueError`` line naming the file.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..datasets import CharVocab, Vocab, WordVocab
from ..emulator import DatapathConfig
from .speech import SpeechModelConfig, SpeechRecognizer

__all__ = ["FORMAT", "STORAGE", "save_checkpoint", "load_checkpoint", "load_model", "vocab_to_dict",
           "vocab_from_dict", "round_to_storage", "stored_state_dict"]

FORMAT = "rnnaccel.checkpoint/1"
_KEYS = ("state_dict", "config", "vocab", "metrics", "datapath")
#: how floating tensors are written; float16 halves a file, and the model is first rounded to it
#: (:func:`round_to_storage`) so that what is evaluated is exactly what is shipped
STORAGE = {"float32": torch.float32, "float16": torch.float16}


def _storage_dtype(storage: str) -> torch.dtype:
    if storage not in STORAGE:
        raise ValueError(f"storage={storage!r} unknown; choose one of {sorted(STORAGE)}")
    return STORAGE[storage]


@torch.no_grad()
def round_to_storage(model: torch.nn.Module, storage: str) -> torch.nn.Module:
    """Round every floating parameter and buffer of ``model`` in place to the nearest value
    ``storage`` holds (float32: unchanged), so the in-memory model equals the file it is saved to.

    Raises:
        ValueError: unknown ``storage``, or a finite value that ``storage`` cannot hold (overflow).
    """
    dtype = _storage_dtype(storage)
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and t.dtype != dtype:
            r = t.to(dtype)
            if not bool(torch.isfinite(r).all()) and bool(torch.isfinite(t).all()):
                raise ValueError(f"{name}: values beyond the {storage} range (max |v| "
                                 f"{t.abs().max().item():.3g}); keep storage=float32")
            t.copy_(r)
    return model


def stored_state_dict(model: torch.nn.Module, storage: str = "float32") -> dict:
    """``model.state_dict()`` detached on the CPU with floating tensors in ``storage``'s dtype;
    tensors that share memory (tied weights) stay shared, so they are written once."""
    dtype = _storage_dtype(storage)
    out, seen = {}, {}
    for k, v in model.state_dict().items():
        key = (v.data_ptr(), v.dtype, tuple(v.shape), v.stride())
        if key not in seen:
            v = v.detach().cpu()
            seen[key] = v.to(dtype) if v.is_floating_point() else v.clone()
        out[k] = seen[key]
    return out


def vocab_to_dict(vocab: Vocab) -> dict:
    kind = "char" if isinstance(vocab, CharVocab) else "word"
    return {"kind": kind, "tokens": list(vocab.tokens[1:]), "lowercase": bool(vocab.lowercase)}


def vocab_from_dict(d: dict) -> Vocab:
    if d["kind"] == "char":
        return CharVocab("".join(d["tokens"]), lowercase=d.get("lowercase", True))
    if d["kind"] == "word":
        return WordVocab(d["tokens"], lowercase=d.get("lowercase", True))
    raise ValueError(f"unknown vocab kind {d['kind']!r}")


def save_checkpoint(path: str | Path, model: SpeechRecognizer, vocab: Vocab, metrics: dict | None = None,
                    datapath: list[DatapathConfig] | None = None, extra: dict | None = None,
                    storage: str = "float32") -> Path:
    """Write a checkpoint atomically (temp file + rename, so an interrupted save never leaves a
    half-written ``path``). ``datapath`` None means "float model, no calibrated formats";
    ``storage``: see :data:`STORAGE` (round the model first with :func:`round_to_storage`)."""
    return write_checkpoint(path, FORMAT, model, storage, vocab_to_dict(vocab), metrics,
                            [c.to_dict() for c in datapath] if datapath is not None else None, extra)


def write_checkpoint(path: str | Path, fmt: str, model: torch.nn.Module, storage: str, vocab: dict,
                     metrics: dict | None, datapath, extra: dict | None) -> Path:
    """The layout every rnnaccel checkpoint shares (``format, state_dict, storage, config, vocab,
    metrics, datapath, extra``), written atomically: temp file + rename, so an interrupted save
    never leaves a half-written ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {
        "format": fmt,
        "state_dict": stored_state_dict(model, storage),
        "storage": storage,
        "config": model.config.to_dict(),
        "vocab": vocab,
        "metrics": dict(metrics or {}),
        "datapath": datapath,
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read and validate a checkpoint dict (``weights_only=True``: no code runs on load).

    Raises:
        ValueError: one line naming the file when it is missing, unreadable or not a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle error, foreign object...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"checkpoint {path}: unreadable ({type(e).__name__}: {msg[:200]})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path}: not an {FORMAT} file")
    missing = [k for k in _KEYS if k not in obj]
    if missing:
        raise ValueError(f"checkpoint {path}: missing key(s) {missing}")
    return obj


def load_model(path: str | Path, use_datapath: bool = True) -> tuple[SpeechRecognizer, Vocab, dict]:
    """Build the model of a checkpoint (float mode, eval). Its stored datapath is applied when
    ``use_datapath`` and present. Returns ``(model, vocab, checkpoint_dict)``."""
    ck = load_checkpoint(path)
    try:
        model = SpeechRecognizer(SpeechModelConfig.from_dict(ck["config"]))
        model.load_state_dict(ck["state_dict"])
        vocab = vocab_from_dict(ck["vocab"])
        if use_datapath and ck["datapath"] is not None:
            model.set_datapath([DatapathConfig.from_dict(d) for d in ck["datapath"]])
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"checkpoint {path}: inconsistent ({msg[:200]})") from None
    return model.eval(), vocab, ck
