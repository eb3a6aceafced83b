"""The voices of the synthesized corpus and how whole voices are held out.

A voice is ``<engine>:<name>``:

- ``espeak:<accent>`` or ``espeak:<accent>+<variant>`` -- an espeak-ng English accent (``en``,
  ``en-US``, ``en-GB-scotland``, ...) with a voice variant (``m3``, ``f2``, ``croak``,
  ``whisper``, ...), always available (PyPI ``espeakng-loader``);
- ``flite:<voice>`` and ``festival:<voice>`` -- Debian voices, used when installed.

Splits are disjoint by voice, and for espeak-ng by BOTH accent and variant: a test voice's accent
and its variant are never heard in training (nor in validation). Debian voices are grouped by the
person recorded (flite kal/kal16 and festival kal_diphone are one speaker, as are flite slt and
festival's slt HTS), and whole speakers are held out.
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("train", "val", "test")
ENGINES = ("espeak", "flite", "festival")

# espeak-ng accents (lang/gmw/en*, Shavian script excluded).
ESPEAK_ACCENTS = {
    "train": ("en", "en-US", "en-GB-x-rp", "en-GB-x-gbclan", "en-029"),
    "val": ("en-GB-x-gbcwmd",),
    "test": ("en-GB-scotland", "en-US-nyc"),
}
# espeak-ng variants (voices/!v) that sound like people; "" is the accent's own default voice.
# Left out: robots and effects (robosoft*, UniRobot, anikaRobot, announcer, RicishayMax*, Demonic,
# Tweaky, Mr serious, fast, caleb, kaukovalta, Storm) and a few with uncommented templates.
ESPEAK_VARIANTS = {
    "train": (
        "",
        "m1",
        "m2",
        "m4",
        "m5",
        "m8",
        "f1",
        "f3",
        "Alex",
        "Alicia",
        "Andrea",
        "Annie",
        "Denis",
        "Diogo",
        "Gene",
        "Gene2",
        "Henrique",
        "Hugo",
        "Jacky",
        "Lee",
        "Mario",
        "Mike",
        "Nguyen",
        "Reed",
        "adam",
        "anika",
        "antonio",
        "aunty",
        "benjamin",
        "boris",
        "david",
        "ed",
        "edward",
        "edward2",
        "grandma",
        "grandpa",
        "gustave",
        "iven",
        "iven2",
        "iven4",
        "klatt",
        "klatt3",
        "klatt5",
        "klatt6",
        "linda",
        "marcelo",
        "max",
        "michel",
        "miguel",
        "mike2",
        "pedro",
        "quincy",
        "rob",
        "robert",
        "sandro",
        "steph",
        "steph3",
        "travis",
        "victor",
        "whisper",
        "zac",
    ),
    "val": ("m6", "f4", "Andy", "steph2", "iven3", "klatt4"),
    "test": ("m3", "m7", "f2", "f5", "croak", "whisperf", "Michael", "belinda", "klatt2", "paul"),
}
# Debian voices: split -> {voice: speaker}.
DEBIAN_VOICES = {
    "train": {
        "flite:kal": "kal",
        "flite:kal16": "kal",
        "festival:kal_diphone": "kal",
        "flite:slt": "slt",
        "festival:cmu_us_slt_arctic_hts": "slt",
    },
    "val": {"flite:awb": "awb"},
    "test": {"flite:rms": "rms", "festival:ked_diphone": "ked"},
}


@dataclass(frozen=True)
class Voice:
    """One voice: ``engine`` (espeak/flite/festival), ``name`` (engine's own name), ``speaker``
    (the person or variant behind it), ``split``."""

    engine: str
    name: str
    speaker: str
    split: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"


def espeak_voices(split: str) -> list[Voice]:
    """Every ``accent+variant`` of the split (accent x variant of that split)."""
    out = []
    for accent in ESPEAK_ACCENTS[split]:
        for variant in ESPEAK_VARIANTS[split]:
            name = f"{accent}+{variant}" if variant else accent
            out.append(Voice("espeak", name, variant or "default", split))
    return out


def voices_for(
    split: str, engines: tuple[str, ...], installed: dict[str, list[str]], only: tuple[str, ...] | None = None
) -> list[Voice]:
    """The split's voices for ``engines``, in a fixed order.

    Args:
        installed: engine -> installed voice names (flite/festival; espeak needs no entry).
        only: keep only these voice ids (e.g. ``("espeak:en-US+m1", "espeak:en-US-nyc+m3")``);
            each keeps its own split.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    voices = espeak_voices(split) if "espeak" in engines else []
    for vid, speaker in DEBIAN_VOICES[split].items():
        engine, name = vid.split(":", 1)
        if engine in engines and name in installed.get(engine, ()):
            voices.append(Voice(engine, name, speaker, split))
    if only is not None:
        voices = [v for v in voices if v.id in only]
    return voices


def split_of_voice(voice_id: str) -> str:
    """The split a voice id belongs to.

    Raises:
        ValueError: the voice is not in the inventory (names it).
    """
    for split in SPLITS:
        if voice_id in DEBIAN_VOICES[split] or voice_id in {v.id for v in espeak_voices(split)}:
            return split
    raise ValueError(f"voice {voice_id!r} is not one of the corpus voices (see rnnaccel.datasets.synth_voices)")


def check_disjoint() -> None:
    """Assert the split tables hold no accent, variant, voice or speaker twice."""
    for table in (ESPEAK_ACCENTS, ESPEAK_VARIANTS):
        flat = [x for split in SPLITS for x in table[split]]
        assert len(flat) == len(set(flat)), "an espeak accent or variant appears in two splits"
    speakers = [{s for s in DEBIAN_VOICES[split].values()} for split in SPLITS]
    assert not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])
