"""espeak-ng through ctypes, isolated so that every utterance is reproducible on its own.

The library comes from the PyPI package ``espeakng-loader`` (``libespeak-ng.so`` + its data), used
in synchronous mode: ``espeak_Initialize`` -> ``espeak_SetSynthCallback`` ->
``espeak_SetVoiceByName`` -> ``espeak_SetParameter`` (rate, pitch) -> ``espeak_Synth``; it returns
22,050 Hz int16 samples.

espeak-ng keeps state between utterances (pitch flutter phase, echo buffer, noise generator), so
the same call gives different samples depending on what was spoken before. To make utterance ``i``
depend only on its own arguments, :class:`Espeak` runs a small helper process (this file run as a
script: no torch, cheap to fork) that initializes the library once and then forks a child per
utterance: each child starts from the same pristine state, seeds the noise generator with
``espeak_ng_SetRandSeed`` and exits after speaking.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_CHARS_UTF8, ESPEAK_ENDPAUSE, POS_CHARACTER = 1, 0x1000, 1
ESPEAK_RATE, ESPEAK_PITCH = 1, 3
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class TTSError(RuntimeError):
    """A text-to-speech engine failed (the message names the engine, voice and text)."""


def _paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as err:
        raise TTSError(
            "espeak-ng needs the PyPI package espeakng-loader==0.2.4 (pip install espeakng-loader==0.2.4)"
        ) from err
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def english_voices() -> list[str]:
    """English espeak-ng voices in the bundled data (``lang/gmw/en*``; Shavian script excluded)."""
    lang = Path(_paths()[1]) / "lang" / "gmw"
    return sorted(p.name for p in lang.glob("en*") if p.name != "en-Shaw")


def variants() -> list[str]:
    """Voice variants in the bundled data (``voices/!v``), used as ``<voice>+<variant>``."""
    return sorted(p.name for p in (Path(_paths()[1]) / "voices" / "!v").iterdir())


# ---------------------------------------------------------------- helper process (no torch)
def _load() -> tuple[ctypes.CDLL, int, str]:
    lib_path, data_path = _paths()
    lib = ctypes.CDLL(lib_path)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
    if rate <= 0:
        raise TTSError(f"espeak_Initialize failed ({rate}) with data at {data_path}")
    return lib, int(rate), lib.espeak_Info(None).decode()


def _speak(lib: ctypes.CDLL, req: dict) -> bytes:
    """One utterance in this (forked) process: raw little-endian int16 bytes."""
    chunks: list[bytes] = []

    def collect(wav, numsamples, events):  # noqa: ARG001 - the C signature
        if numsamples > 0:
            chunks.append(ctypes.string_at(wav, 2 * numsamples))
        return 0

    callback = _CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(req["voice"].encode()) != 0:
        raise TTSError(f"espeak-ng has no voice {req['voice']!r}")
    lib.espeak_SetParameter(ESPEAK_RATE, int(req["rate"]), 0)
    lib.espeak_SetParameter(ESPEAK_PITCH, int(req["pitch"]), 0)
    lib.espeak_ng_SetRandSeed(int(req["seed"]))
    data = req["text"].encode("utf-8") + b"\0"
    err = lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8 | ESPEAK_ENDPAUSE, None, None)
    if err != 0 or not chunks:
        raise TTSError(f"espeak-ng failed (error {err}) on voice {req['voice']!r}, text {req['text']!r}")
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _complete(reply: bytes) -> bool:
    head, sep, body = reply.partition(b"\n")
    if head.startswith(b"OK ") and head[3:].isdigit():
        return int(head[3:]) == len(body)
    return head.startswith(b"ERR ") and bool(sep) and not body


def _serve() -> None:
    """Helper loop: one JSON request per stdin line; per request, a forked child speaks and
    replies ``OK <nbytes>\\n`` + the samples, or ``ERR <message>\\n``, which goes to stdout."""
    out = sys.stdout.fileno()
    try:
        lib, rate, version = _load()
    except Exception as err:  # noqa: BLE001 - reported to the parent
        _write_all(out, f"ERR {err}\n".encode())
        return
    _write_all(out, f"READY {rate} {version}\n".encode())
    for line in sys.stdin.buffer:
        req = json.loads(line)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(read_end)
                try:
                    pcm = _speak(lib, req)
                    _write_all(write_end, f"OK {len(pcm)}\n".encode() + pcm)
                except Exception as err:  # noqa: BLE001 - reported to the parent
                    _write_all(write_end, f"ERR {' '.join(str(err).split())}\n".encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            reply = f.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not _complete(reply):
            reply = (
                f"ERR espeak-ng died (wait status {status}) on voice {req.get('voice')!r}, text {req.get('text')!r}\n"
            ).encode()
        _write_all(out, reply)


# ---------------------------------------------------------------- client
class Espeak:
    """espeak-ng voices, each utterance synthesized from the same pristine library state.

    Use as a context manager (or call :meth:`close`): it owns a helper process.

    Attributes:
        sample_rate: 22050.
        version: the library version (``espeak_Info``).
    """

    def __init__(self) -> None:
        if not hasattr(os, "fork"):
            raise TTSError("reproducible espeak-ng synthesis needs os.fork (Linux or macOS)")
        _paths()
        self._proc = subprocess.Popen(
            [sys.executable, "-P", os.path.abspath(__file__)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        words = self._read_line().split(" ", 2)
        if words[0] != "READY":
            self.close()
            raise TTSError(f"espeak-ng helper failed to start: {' '.join(words[1:])}")
        self.sample_rate, self.version = int(words[1]), words[2]

    def _read_line(self) -> str:
        line = self._proc.stdout.readline()
        if not line:
            raise TTSError(f"espeak-ng helper exited (code {self._proc.poll()})")
        return line.decode().rstrip("\n")

    def synth(self, text: str, voice: str, rate: int = 175, pitch: int = 50, seed: int = 0) -> tuple[np.ndarray, int]:
        """Speak ``text`` with ``voice`` (``"en-US"``, ``"en-US+m3"``).

        Args:
            rate: words per minute (espeak-ng accepts 80-450; default 175).
            pitch: 0-99; 50 is the voice's own pitch.
            seed: seed of espeak-ng's noise generator (breathy and whispered variants).

        Returns:
            ``(samples int16 (samples,), 22050)``; the same arguments give the same samples.
        """
        req = {"text": text, "voice": voice, "rate": int(rate), "pitch": int(pitch), "seed": int(seed)}
        self._proc.stdin.write(json.dumps(req).encode() + b"\n")
        self._proc.stdin.flush()
        status, _, rest = self._read_line().partition(" ")
        if status != "OK":
            raise TTSError(rest)
        pcm = self._proc.stdout.read(int(rest))
        return np.frombuffer(pcm, dtype="<i2").astype(np.int16), self.sample_rate

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait(timeout=30)

    def __enter__(self) -> Espeak:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    _serve()
