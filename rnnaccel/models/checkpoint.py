"""Checkpoints: plain dicts of tensors and Python values, loadable with ``weights_only=True``.

Layout (``format: "rnnaccel.checkpoint/1"``)::

    state_dict   model parameters (float32, or float16 when ``storage`` says so)
    storage      "float32" or "float16" (absent: float32); loading always yields float32 parameters
    config       model architecture (plain dict, :class:`SpeechModelConfig` fields)
    vocab        {"kind": "word"|"char", "tokens": [...]}  (tokens without the blank)
    metrics      plain dict (e.g. {"val_wer": 0.012})
    datapath     per-recurrent-layer DatapathConfig.to_dict() list, or None (float only)
    extra        anything else plain (data config, training state: optimizer, step, epoch)
    digest       SHA-256 of everything above (:func:`content_digest`), checked on every load

A missing, empty, truncated, random-bytes or foreign file, or one whose content no longer matches
its digest (flipped bytes), raises one :class:`~rnnaccel.errors.RnnaccelError` line naming the
file and what to do (:func:`read_checkpoint`, shared by every rnnaccel checkpoint format). Files
written before digests existed load with a one-line warning; :func:`add_digest` re-saves such a
file losslessly with its digest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from ..datasets import CharVocab, Vocab, WordVocab
from ..emulator import DatapathConfig
from ..errors import RnnaccelError, one_line
from .speech import SpeechModelConfig, SpeechRecognizer

__all__ = [
    "FORMAT",
    "STORAGE",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "vocab_to_dict",
    "vocab_from_dict",
    "round_to_storage",
    "stored_state_dict",
    "read_checkpoint",
    "content_digest",
    "add_digest",
]

log = logging.getLogger("rnnaccel.checkpoint")

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
                raise ValueError(
                    f"{name}: values beyond the {storage} range (max |v| "
                    f"{t.abs().max().item():.3g}); keep storage=float32"
                )
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


def save_checkpoint(
    path: str | Path,
    model: SpeechRecognizer,
    vocab: Vocab,
    metrics: dict | None = None,
    datapath: list[DatapathConfig] | None = None,
    extra: dict | None = None,
    storage: str = "float32",
) -> Path:
    """Write a checkpoint atomically (temp file + rename, so an interrupted save never leaves a
    half-written ``path``). ``datapath`` None means "float model, no calibrated formats";
    ``storage``: see :data:`STORAGE` (round the model first with :func:`round_to_storage`)."""
    return write_checkpoint(
        path,
        FORMAT,
        model,
        storage,
        vocab_to_dict(vocab),
        metrics,
        [c.to_dict() for c in datapath] if datapath is not None else None,
        extra,
    )


def write_checkpoint(
    path: str | Path,
    fmt: str,
    model: torch.nn.Module,
    storage: str,
    vocab: dict,
    metrics: dict | None,
    datapath,
    extra: dict | None,
) -> Path:
    """The layout every rnnaccel checkpoint shares (``format, state_dict, storage, config, vocab,
    metrics, datapath, extra``), written atomically: temp file + rename, so an interrupted save
    never leaves a half-written ``path``."""
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
    return save_with_digest(obj, path)


def save_with_digest(obj: dict, path: str | Path) -> Path:
    """Write checkpoint dict ``obj`` with its :func:`content_digest`, atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obj = {k: v for k, v in obj.items() if k != "digest"}
    obj["digest"] = content_digest(obj)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def _feed(h, v) -> None:
    """Feed ``v`` (nested dicts, lists, tensors, plain scalars) into hash ``h`` canonically:
    dict keys sorted, tensors as dtype + shape + raw bytes, scalars as JSON."""
    if isinstance(v, torch.Tensor):
        t = v.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(v.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    elif isinstance(v, dict):
        h.update(b"{")
        for k in sorted(v, key=str):
            h.update(json.dumps(str(k)).encode() + b":")
            _feed(h, v[k])
        h.update(b"}")
    elif isinstance(v, (list, tuple)):
        h.update(b"[")
        for x in v:
            _feed(h, x)
            h.update(b",")
        h.update(b"]")
    else:
        h.update(json.dumps(v, default=repr).encode())


def content_digest(obj: dict) -> str:
    """SHA-256 (hex) of a checkpoint dict's content, every key but ``digest`` itself."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in obj.items() if k != "digest"})
    return h.hexdigest()


def _unreadable(path: Path, e: Exception) -> RnnaccelError:
    """Why ``torch.load`` failed, in words: truncated archive, foreign objects or not a torch file."""
    cause = one_line(e, 200).split(". ")[0]  # torch's first sentence is the cause, the rest is advice
    if not path.read_bytes()[:4].startswith(b"PK"):  # torch.save writes a zip archive
        return RnnaccelError(
            f"checkpoint {path}: not a PyTorch checkpoint (not a zip archive); give a file "
            f"written by rnnaccel (rnnaccel-train / rnnaccel-quantize)"
        )
    if "unsupported global" in str(e).lower():
        return RnnaccelError(
            f"checkpoint {path}: holds Python objects, not plain tensors and values (a pickled "
            f"model or another program's file?); rnnaccel reads only its own checkpoints "
            f"(rnnaccel-train / rnnaccel-quantize write them)"
        )
    return RnnaccelError(
        f"checkpoint {path}: truncated or damaged torch archive ({cause}); restore the file (copy or download it again)"
    )


_warned: set[str] = set()


def _verify_digest(path: Path, obj: dict) -> None:
    stored = obj.get("digest")
    if stored is None:
        if str(path) in _warned:
            return
        _warned.add(str(path))
        log.warning(
            "checkpoint %s: written before content digests, not verified; re-save it with "
            "rnnaccel.models.checkpoint.add_digest to protect it",
            path,
        )
        return
    actual = content_digest(obj)
    if stored != actual:
        raise RnnaccelError(
            f"checkpoint {path}: content does not match its digest (stored {str(stored)[:12]}, "
            f"computed {actual[:12]}): the file is corrupt or was edited; restore it from its source"
        )


def read_checkpoint(path: str | Path, formats: tuple[str, ...] | None = None) -> dict:
    """The checkpoint dict at ``path`` (``weights_only=True``: no code runs on load), digest verified.

    ``formats``: the accepted ``format`` values (None: any ``rnnaccel.*`` format).

    Raises:
        RnnaccelError: one line naming the file and what to do when it is missing, empty,
            truncated, not a torch file, foreign, of another format or corrupt (digest mismatch).
    """
    path = Path(path)
    if not path.is_file():
        raise RnnaccelError(f"checkpoint {path}: no such file; check the path")
    if path.stat().st_size == 0:
        raise RnnaccelError(f"checkpoint {path}: empty file (0 bytes), e.g. an interrupted copy; restore it")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle error, foreign object...
        raise _unreadable(path, e) from None
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if not isinstance(fmt, str) or not fmt.startswith("rnnaccel."):
        what = f"a dict with keys {sorted(map(str, obj))[:6]}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
        raise RnnaccelError(
            f"checkpoint {path}: not an rnnaccel checkpoint ({what}, no rnnaccel format tag); "
            f"give a file written by rnnaccel (rnnaccel-train / rnnaccel-quantize)"
        )
    if formats is not None and fmt not in formats:
        raise RnnaccelError(f"checkpoint {path}: a {fmt} file, expected {' or '.join(formats)}")
    _verify_digest(path, obj)
    return obj


def add_digest(path: str | Path) -> str:
    """Re-save the checkpoint at ``path`` with its content digest (tensors, dtypes and shared
    storages unchanged: a lossless rewrite). Returns the digest."""
    obj = read_checkpoint(path)
    save_with_digest(obj, path)
    return content_digest(obj)


def load_checkpoint(path: str | Path) -> dict:
    """Read and validate a speech checkpoint dict (:func:`read_checkpoint`, format :data:`FORMAT`).

    Raises:
        RnnaccelError: one line naming the file when it is missing, unreadable, corrupt or not a checkpoint.
    """
    obj = read_checkpoint(path, (FORMAT,))
    missing = [k for k in _KEYS if k not in obj]
    if missing:
        raise RnnaccelError(f"checkpoint {path}: missing key(s) {missing}; it was not written by rnnaccel-train")
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
        raise RnnaccelError(
            f"checkpoint {path}: inconsistent ({one_line(e, 200)}); it was not written by this version of rnnaccel"
        ) from None
    return model.eval(), vocab, ck
