"""Synthesized English speech: Multi30k sentences spoken by many text-to-speech voices.

Generate once (cached; a no-op when nothing changed)::

    python scripts/make_synth_corpus.py --out ~/.cache/rnnaccel/synth --seed 0 --hours 4
    python -m rnnaccel.datasets.synth --hours 4            # same, default --out

then read a split with :class:`SynthSpeech`. The default corpus directory is
``$RNNACCEL_CACHE/synth`` if ``RNNACCEL_CACHE`` is set, else ``~/.cache/rnnaccel/synth``.
Voices, held-out voices and parameters: :mod:`rnnaccel.datasets.synth_voices`,
:class:`~rnnaccel.datasets.synth_generate.SynthConfig` and ``docs/data.md``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from torch.utils.data import Dataset

from .audio import SpeechItem, load_audio
from .paths import DataError
from .synth_generate import SynthConfig, generate_corpus
from .synth_voices import ENGINES, SPLITS

CACHE_ENV = "RNNACCEL_CACHE"
COMMAND = "python scripts/make_synth_corpus.py --out {out} --seed 0 --hours 4"


def default_cache_dir() -> Path:
    """``$RNNACCEL_CACHE/synth``, else ``~/.cache/rnnaccel/synth``."""
    base = os.environ.get(CACHE_ENV)
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "rnnaccel") / "synth"


def read_manifest(root: str | os.PathLike | None = None) -> list[dict]:
    """All records of ``<root>/manifest.jsonl``.

    Raises:
        FileNotFoundError: no manifest; the message names the command that generates it.
        DataError: a line is not a JSON object with the expected fields (names file and line).
    """
    root = default_cache_dir() if root is None else Path(root).expanduser()
    path = root / "manifest.jsonl"
    if not path.is_file():
        how = COMMAND.format(out=root)
        if (root / "manifest.partial.jsonl").is_file():
            raise FileNotFoundError(
                f"synthesized corpus at {root} is incomplete (generation was "
                f"stopped): re-run `{how}` with the same arguments to finish it"
            )
        raise FileNotFoundError(
            f"no synthesized corpus at {root} ({path.name} missing): generate it "
            f"with `{how}` (or `python -m rnnaccel.datasets.synth --out {root}`)"
        )
    records = []
    needed = {"utt_id", "path", "split", "transcript", "voice", "sample_rate"}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: not JSON ({err.msg})") from None
            if not isinstance(rec, dict) or not needed <= rec.keys():
                raise DataError(f"{path}:{lineno}: a record needs the fields {sorted(needed)}")
            records.append(rec)
    return records


class SynthSpeech(Dataset[SpeechItem]):
    """One split of a generated synthesized-speech corpus.

    Items are :class:`SpeechItem`: ``waveform`` ``(samples,)`` float32 at 16 kHz, ``transcript``
    normalized (lowercase letters, apostrophe, space), ``speaker`` the voice id
    (``"espeak:en-US+m3"``, ``"flite:slt"``) and ``utt_id`` ``"synth-<split>-<i>"``.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (disjoint by voice and by sentence).
        root: corpus directory (default :func:`default_cache_dir`).
        noisy: ``True`` keeps only noise-augmented utterances, ``False`` only clean ones.
        max_items: keep the first ``max_items`` (``None`` = all).

    Attributes:
        records: the manifest records of the split (``voice``, ``rate``, ``pitch``, ``noise``,
            ``snr_db``, ``duration_s``, ...).

    Raises:
        FileNotFoundError: the manifest is missing (names the command to generate it), or, when an
            item is read, its audio file is missing (names the file).
        DataError: corrupt audio or a sample rate other than the manifest's (names the file).
    """

    def __init__(
        self,
        split: str = "train",
        root: str | os.PathLike | None = None,
        *,
        noisy: bool | None = None,
        max_items: int | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.root = default_cache_dir() if root is None else Path(root).expanduser()
        records = [r for r in read_manifest(self.root) if r["split"] == split]
        if noisy is not None:
            records = [r for r in records if (r.get("noise") is not None) == noisy]
        self.split = split
        self.records = records if max_items is None else records[:max_items]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def hours(self) -> float:
        return sum(r.get("duration_s", 0.0) for r in self.records) / 3600.0

    def __getitem__(self, i: int) -> SpeechItem:
        rec = self.records[i]
        path = self.root / rec["path"]
        wave, rate = load_audio(path)
        if rate != rec["sample_rate"]:
            raise DataError(f"audio file {path}: sample rate {rate} Hz, manifest says {rec['sample_rate']} Hz")
        return SpeechItem(wave, rate, rec["transcript"], rec["voice"], rec["utt_id"])


def _pair(text: str, kind=float) -> tuple:
    lo, _, hi = text.partition(",")
    return kind(lo), kind(hi or lo)


def _weights(text: str) -> dict[str, float]:
    """``"espeak=0.4,flite=0.3"`` -> ``{"espeak": 0.4, "flite": 0.3}`` (one line naming a bad item)."""
    out = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"make_synth_corpus: --engine-weights item {item!r}: give engine=weight") from None
    return out


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, SynthConfig]:
    d = SynthConfig()
    p = argparse.ArgumentParser(prog="make_synth_corpus", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None, help=f"corpus directory (default: {default_cache_dir()})")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--hours", type=float, default=d.hours, help="train audio, hours (default %(default)s)")
    p.add_argument("--train-utts", type=int, default=None, help="exact train utterances (overrides --hours)")
    p.add_argument("--val-utts", type=int, default=d.val_utterances)
    p.add_argument(
        "--test-utts", type=int, default=d.test_utterances, help="default: every test_2016_flickr sentence once"
    )
    p.add_argument("--engines", default="auto", help=f"'auto' or a comma list of {','.join(ENGINES)}")
    p.add_argument(
        "--engine-weights",
        default=",".join(f"{k}={v:g}" for k, v in d.engine_weights.items()),
        help="chance of each engine per utterance, e.g. espeak=0.4,flite=0.3,festival=0.3 (default %(default)s)",
    )
    p.add_argument("--voices", default=None, help="comma list of voice ids to keep (e.g. espeak:en-US+m1)")
    p.add_argument("--rate", default="%d,%d" % d.rate_wpm, help="words/min range (default %(default)s)")
    p.add_argument("--pitch", default="%d,%d" % d.pitch, help="espeak pitch range 0-99 (default %(default)s)")
    p.add_argument("--noise-prob", type=float, default=d.noise_prob)
    p.add_argument("--snr", default="%g,%g" % d.snr_db, help="noise SNR range, dB (default %(default)s)")
    p.add_argument("--format", choices=("flac", "wav"), default=d.audio_format)
    p.add_argument("--data-root", default=None, help="data root holding multi30k/ (default: shared data)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    config = SynthConfig(
        seed=a.seed,
        hours=a.hours,
        train_utterances=a.train_utts,
        val_utterances=a.val_utts,
        test_utterances=a.test_utts,
        engines=None if a.engines == "auto" else tuple(e.strip() for e in a.engines.split(",")),
        engine_weights=_weights(a.engine_weights),
        voices=None if a.voices is None else tuple(v.strip() for v in a.voices.split(",")),
        rate_wpm=_pair(a.rate, int),
        pitch=_pair(a.pitch, int),
        noise_prob=a.noise_prob,
        snr_db=_pair(a.snr),
        audio_format=a.format,
    )
    return a, config


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    out = default_cache_dir() if args.out is None else args.out
    manifest = generate_corpus(out, config, data_root=args.data_root, log=not args.quiet)
    print(manifest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
