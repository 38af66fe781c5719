"""The training voices of the corpus and their split (train / validation / test) by speaker.

Only engines that report exact phone timings are used: espeak-ng (through its library; an
accent times a voice variant), festival (kal, ked diphone voices; the slt HTS voice) and flite
(kal16, awb, rms, slt). Neural voices are kept out of the corpus altogether, for held-out
evaluation.

A split holds out whole **speakers**, not just voice ids: festival's ``slt`` and flite's ``slt``
come from the same recordings, as do festival's ``kal`` and flite's ``kal16``, so they share a
split. An espeak variant (``+m3``) is one speaker across all its accents.
"""

from __future__ import annotations

from dataclasses import dataclass

ENGINES: tuple[str, ...] = ("espeak", "festival", "flite")

ESPEAK_ACCENTS: tuple[str, ...] = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
ESPEAK_VARIANTS: tuple[str, ...] = (
    *(f"m{i}" for i in range(1, 9)),
    *(f"f{i}" for i in range(1, 6)),
    "Andy",
    "Annie",
    "adam",
    "belinda",
    "david",
    "grandpa",
    "john",
    "linda",
    "max",
    "shelby",
    "steph",
    "travis",
)
# festival voice → (Scheme function selecting it, speaker).
FESTIVAL_VOICES: dict[str, tuple[str, str]] = {
    "kal": ("voice_kal_diphone", "kal"),
    "ked": ("voice_ked_diphone", "ked"),
    "slt": ("voice_cmu_us_slt_arctic_hts", "slt"),
}
# flite voice → speaker (``kal`` at 8 kHz and the limited-domain ``awb_time`` are left out).
FLITE_VOICES: dict[str, str] = {"kal16": "kal", "awb": "awb", "rms": "rms", "slt": "slt"}

# Speakers held out of training. Everything else trains.
TEST_SPEAKERS = frozenset({"espeak+m3", "espeak+f2", "espeak+belinda", "espeak+david", "slt"})
VALIDATION_SPEAKERS = frozenset({"espeak+m6", "espeak+f4", "espeak+steph", "awb"})


@dataclass(frozen=True)
class Voice:
    """One synthetic voice: ``engine`` and the engine's own ``name`` for it."""

    engine: str
    name: str

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown speech engine {self.engine!r}; expected one of {ENGINES}")
        known = {
            "espeak": lambda n: (
                n.partition("+")[0] in ESPEAK_ACCENTS and n.partition("+")[2] in ESPEAK_VARIANTS
            ),
            "festival": lambda n: n in FESTIVAL_VOICES,
            "flite": lambda n: n in FLITE_VOICES,
        }[self.engine]
        if not known(self.name):
            raise ValueError(f"unknown {self.engine} voice {self.name!r}")

    @property
    def id(self) -> str:
        """``engine:name``, as stored in the corpus (``espeak:en-us+m3``, ``flite:slt``)."""
        return f"{self.engine}:{self.name}"

    @property
    def speaker(self) -> str:
        """Who the voice sounds like; voices of one speaker always share a split."""
        if self.engine == "espeak":
            return "espeak+" + self.name.partition("+")[2]
        if self.engine == "festival":
            return FESTIVAL_VOICES[self.name][1]
        return FLITE_VOICES[self.name]

    @property
    def split(self) -> str:
        if self.speaker in TEST_SPEAKERS:
            return "test"
        if self.speaker in VALIDATION_SPEAKERS:
            return "validation"
        return "train"

    @classmethod
    def parse(cls, voice_id: str) -> Voice:
        engine, sep, name = voice_id.partition(":")
        if not sep:
            raise ValueError(f"voice id {voice_id!r} must look like engine:name")
        return cls(engine, name)


def all_voices() -> list[Voice]:
    """Every corpus voice, in a fixed order."""
    voices = [Voice("espeak", f"{a}+{v}") for v in ESPEAK_VARIANTS for a in ESPEAK_ACCENTS]
    voices += [Voice("festival", name) for name in FESTIVAL_VOICES]
    voices += [Voice("flite", name) for name in FLITE_VOICES]
    return voices


def voices_by_split() -> dict[str, list[Voice]]:
    """The voice pool of each split (``train``, ``validation``, ``test``), fixed order."""
    pools: dict[str, list[Voice]] = {"train": [], "validation": [], "test": []}
    for voice in all_voices():
        pools[voice.split].append(voice)
    return pools
