"""The one error type of the project and the boundary that turns it into one line.

A wrong input or setting (a bad value, a file that is missing, truncated or foreign, audio that
cannot be decoded, an empty corpus, a checkpoint trained on other data) raises
:class:`RnnaccelError` whose message says what is wrong and what to do. It subclasses
``ValueError``, so library callers that catch ``ValueError`` keep working.

Every app runs its work through :func:`app_boundary`: an ``RnnaccelError`` prints
``rnnaccel-<app>: <message>`` on stderr and exits with status 2 (the usual "usage error" code);
any other exception is a bug and keeps its traceback. ``RNNACCEL_DEBUG=1`` re-raises the
project error too, so its traceback shows where it came from.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, TypeVar

__all__ = ["RnnaccelError", "DEBUG_ENV", "EXIT_USAGE", "debug_enabled", "app_boundary", "one_line"]

DEBUG_ENV = "RNNACCEL_DEBUG"
EXIT_USAGE = 2

T = TypeVar("T")


class RnnaccelError(ValueError):
    """A wrong input or setting; the message names it and says what to do (one line)."""


def debug_enabled() -> bool:
    """``RNNACCEL_DEBUG`` set to anything but empty, ``0``, ``false`` or ``no``."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def one_line(e: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name when it has none), at most ``limit`` chars."""
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    return first if len(first) <= limit else first[: limit - 3] + "..."


def app_boundary(app: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """Run ``fn``; an :class:`RnnaccelError` becomes ``rnnaccel-<app>: <message>`` and exit 2."""
    try:
        return fn(*args, **kwargs)
    except RnnaccelError as e:
        if debug_enabled():
            raise
        print(f"rnnaccel-{app}: {one_line(e, 2000)}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE) from None
