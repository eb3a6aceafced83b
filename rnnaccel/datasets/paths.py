"""Where the offline corpora live.

Nothing here downloads: every corpus is read from a directory that already exists. The shared data
directory is found, in order, from

1. the ``RNNACCEL_DATA`` environment variable (used as is, and an error if it does not exist);
2. a ``shared/data`` directory beside the repository, found by walking up from this package
   (``<repo>/../shared/data`` in a checkout, as on CI) and then from the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "RNNACCEL_DATA"


class DataError(ValueError):
    """A corpus file exists but its content is unusable (corrupt audio, NaN, empty or misaligned
    lines). The message always names the offending file."""


def _candidates() -> list[Path]:
    starts = [Path(__file__).resolve().parent, Path.cwd().resolve()]
    found: list[Path] = []
    for start in starts:
        for parent in (start, *start.parents):
            found.append(parent / "shared" / "data")
    return found


def default_data_root() -> Path:
    """The shared data directory (see the module docstring for the search order).

    Raises:
        FileNotFoundError: naming ``$RNNACCEL_DATA`` when it is set to a missing path, or else the
            repository-relative path that was expected.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"${ENV_VAR} points to {root}, which is not a directory")
        return root
    for candidate in _candidates():
        if candidate.is_dir():
            return candidate
    expected = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    raise FileNotFoundError(
        f"shared data directory not found: expected {expected} (the repository's ../shared/data); "
        f"set ${ENV_VAR} or pass root= explicitly"
    )


def corpus_dir(root: str | os.PathLike | None, *parts: str) -> Path:
    """``root/parts...`` (``root`` defaults to :func:`default_data_root`), checked to exist.

    Raises:
        FileNotFoundError: naming the missing directory.
    """
    base = default_data_root() if root is None else Path(root).expanduser()
    path = base.joinpath(*parts)
    if not path.is_dir():
        raise FileNotFoundError(f"corpus directory not found: {path}")
    return path
