"""Result files of the applications: config hashes, atomic JSON writes, resume and the baseline cache.

A result JSON is written once, whole: to a temporary file in the same directory, flushed and
fsynced, then renamed over the target (``os.replace`` is atomic on POSIX), so a crashed or killed
run leaves either the previous file or none, never half of one. Every result carries
``complete: true`` and the ``config_hash`` of the settings that determine it; :func:`load_complete`
accepts a file only when both match, which is what makes a rerun of a sweep skip finished runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "RESULT_FORMAT",
    "VOLATILE",
    "atomic_write_json",
    "atomic_write_bytes",
    "config_hash",
    "file_sha256",
    "load_complete",
    "package_version",
    "semantic_config",
    "output_path",
    "flatten",
    "differences",
    "refuse_other_run",
]

RESULT_FORMAT = "rnnaccel.eval/2"


def output_path(explicit: str | None, name: str, fallback: str) -> Path:
    """Where an app writes its result: ``explicit`` when given, else ``name`` in hydra's run (or
    multirun job) directory, else ``fallback`` (called outside hydra, e.g. from tests)."""
    if explicit:
        return Path(explicit)
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return Path(HydraConfig.get().runtime.output_dir) / name
    except Exception:
        pass
    return Path(fallback)


#: settings that do not change a result (where it is written, how it is shown, how fast it runs)
VOLATILE = {
    "eval": ("output", "resume", "trace_output", "threads", "progress", "cache_dir", "budget", "penalty"),
    "data": ("cache_dir", "root"),
}


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("rnnaccel")
    except Exception:  # not installed (source tree on sys.path)
        from .. import __version__

        return __version__


@lru_cache(maxsize=32)
def _sha_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    st = os.stat(path)
    return _sha_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def semantic_config(cfg: dict, volatile: dict = VOLATILE) -> dict:
    """A copy of a plain config dict without the :data:`VOLATILE` keys."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}
    for section, keys in volatile.items():
        if isinstance(out.get(section), dict):
            for k in keys:
                out[section].pop(k, None)
    return out


def config_hash(obj: Any) -> str:
    """16 hex digits of the SHA-256 of ``obj`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 minus the umask (0644 under the usual 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` atomically (temp file + fsync + rename) with the mode a plain write would
    give (``mkstemp`` creates 0600 files)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (temp file + fsync + rename)."""
    return atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True, default=_jsonable) + "\n").encode())


def _jsonable(v):
    if hasattr(v, "item"):  # numpy / torch scalars
        return v.item()
    if hasattr(v, "tolist"):
        return v.tolist()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def load_complete(path: str | Path, expected_hash: str | None = None) -> dict | None:
    """The result at ``path`` when it is a complete result (and has ``expected_hash``), else None.
    Unreadable or truncated files count as absent."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        obj = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(obj, dict) or obj.get("complete") is not True:
        return None
    if expected_hash is not None and obj.get("config_hash") != expected_hash:
        return None
    return obj


def flatten(d: Any, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def differences(old: dict, new: dict, limit: int = 3) -> str:
    """``"k: old -> new, ..."`` for the first ``limit`` differing flattened keys (and how many more)."""
    a, b = flatten(old), flatten(new)
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    text = ", ".join(f"{k}: {a.get(k)} -> {b.get(k)}" for k in keys[:limit])
    return text + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


#: train settings that do not change what a resumed run computes
TRAIN_VOLATILE = ("resume", "progress", "threads", "checkpoint_every", "export", "max_steps", "out_dir")


def refuse_other_run(last: Path, ck: dict, model_config: dict, extra: dict) -> None:
    """Resuming from ``last`` (a ``last.pt`` of ``train.out_dir``) is refused with one line when it
    was written by another model, data or training config, instead of a wall of size mismatches
    or a silent resume of the other run."""
    from ..errors import RnnaccelError

    def run_of(model: dict, ex: dict) -> dict:
        train = {k: v for k, v in (ex.get("train") or {}).items() if k not in TRAIN_VOLATILE}
        data = {k: v for k, v in (ex.get("data") or {}).items() if k not in VOLATILE["data"]}
        return {"model": model, "data": data, "train": train}

    before = run_of(ck.get("config") or {}, ck.get("extra") or {})
    now = run_of(model_config, extra)
    if before != now:
        raise RnnaccelError(
            f"{last} is a run of another config ({differences(before, now)}); pass "
            f"train.resume=false to start over there, or another train.out_dir"
        )
