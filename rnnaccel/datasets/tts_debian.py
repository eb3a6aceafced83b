"""Optional Debian text-to-speech voices: flite and festival, used only when installed.

``apt-get install flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k`` gives the
flite voices kal (8 kHz), kal16, awb, rms, slt (16 kHz) and the festival voices
``cmu_us_slt_arctic_hts`` (HTS, 32 kHz), ``kal_diphone`` and ``ked_diphone`` (16 kHz). Both
programs are deterministic: the same text and settings give the same samples, whatever was
spoken before. Speaking rate is set by a duration stretch (> 1 is slower); pitch is left as is.

Each function returns a list of ``(samples int16 (samples,), sample_rate)``, one per request.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from .tts_espeak import TTSError

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("cmu_us_slt_arctic_hts", "kal_diphone", "ked_diphone")
FESTIVAL_VOICE_DIRS = (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices"))


def flite_voices() -> list[str]:
    """:data:`FLITE_VOICES` that ``flite -lv`` lists (empty when flite is not installed)."""
    if shutil.which("flite") is None:
        return []
    try:
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    names = set(listed.replace(":", " ").split())
    return [v for v in FLITE_VOICES if v in names]


def festival_voices() -> list[str]:
    """:data:`FESTIVAL_VOICES` installed for festival (empty when festival is not installed)."""
    if shutil.which("festival") is None:
        return []
    return [v for v in FESTIVAL_VOICES if any(any(d.glob(f"*/{v}")) for d in FESTIVAL_VOICE_DIRS)]


def version(program: str) -> str:
    """``<program> --version`` first line, or ``"absent"``."""
    if shutil.which(program) is None:
        return "absent"
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = (out.stdout + out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def _read(path: Path, what: str) -> tuple[np.ndarray, int]:
    try:
        data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise TTSError(f"{what}: no readable output ({err})") from None
    if data.shape[0] == 0:
        raise TTSError(f"{what}: empty output")
    return data[:, 0].copy(), int(rate)


def flite_synth(requests: Sequence[tuple[str, str, float]]) -> list[tuple[np.ndarray, int]]:
    """``(text, voice, stretch)`` requests, one ``flite`` run each."""
    out = []
    with tempfile.TemporaryDirectory(prefix="rnnaccel-flite-") as tmp:
        for k, (text, voice, stretch) in enumerate(requests):
            what = f"flite voice {voice!r} on {text!r}"
            wav = Path(tmp) / f"{k}.wav"
            cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.4f}", "-t", text, "-o", str(wav)]
            try:
                subprocess.run(cmd, check=True, capture_output=True, timeout=300)
            except (OSError, subprocess.SubprocessError) as err:
                raise TTSError(f"{what} failed: {err}") from None
            out.append(_read(wav, what))
    return out


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", " ").replace('"', " ") + '"'


def festival_synth(requests: Sequence[tuple[str, str, float]]) -> list[tuple[np.ndarray, int]]:
    """``(text, voice, stretch)`` requests; one ``festival -b`` run per voice for the whole batch."""
    results: list[tuple[np.ndarray, int] | None] = [None] * len(requests)
    with tempfile.TemporaryDirectory(prefix="rnnaccel-festival-") as tmp:
        for voice in sorted({r[1] for r in requests}):
            lines = [f"(voice_{voice})"]
            todo = [k for k, r in enumerate(requests) if r[1] == voice]
            for k in todo:
                text, _, stretch = requests[k]
                lines.append(f"(Parameter.set 'Duration_Stretch {stretch:.4f})")
                lines.append(
                    f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
                    f"{_scheme_string(str(Path(tmp) / f'{k}.wav'))} 'riff)"
                )
            script = Path(tmp) / f"{voice}.scm"
            script.write_text("\n".join(lines) + "\n", encoding="utf-8")
            try:
                subprocess.run(
                    ["festival", "-b", str(script)], check=True, capture_output=True, timeout=60 + 30 * len(todo)
                )
            except (OSError, subprocess.SubprocessError) as err:
                raise TTSError(f"festival voice {voice!r} failed: {err}") from None
            for k in todo:
                results[k] = _read(Path(tmp) / f"{k}.wav", f"festival voice {voice!r} on {requests[k][0]!r}")
    return results  # type: ignore[return-value]
