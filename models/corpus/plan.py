"""The corpus plan: which samples to make, decided from the seed alone, before any synthesis.

:func:`plan_corpus` draws sample specifications until the estimated audio reaches the requested
hours, in the mix of DESIGN §6 (by duration: ~45 % speak, 20 % listen, 20 % conversation,
15 % idle and emotes). Every spec names its split first; its voices and lines then come from
that split's pools only (:mod:`models.corpus.voices`, :mod:`models.corpus.texts`), so no
evaluation sample shares a voice or a text with training. A spec carries its own seed: what
happens inside the clip (timing, gestures) is drawn from it when the sample is made, so a
sample does not depend on which worker makes it or on its neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.corpus.engines import SpeechRequest
from models.corpus.schema import CLIP_SECONDS
from models.corpus.texts import CorpusLine, lines_by_split
from models.corpus.voices import ENGINES, Voice, voices_by_split
from models.emotes import parse_prompt

# Share of the corpus's duration per kind ("idle" and "emote" together make 15 %).
KIND_SHARES: dict[str, float] = {
    "speak": 0.45,
    "listen": 0.20,
    "conversation": 0.20,
    "idle": 0.05,
    "emote": 0.10,
}
SPLIT_SHARES: dict[str, float] = {"train": 0.8, "validation": 0.1, "test": 0.1}
ENGINE_SHARES: dict[str, float] = {"espeak": 0.5, "festival": 0.25, "flite": 0.25}
# Speech duration estimate per line: intercept (leading and trailing pauses) + s per character.
_EST_INTERCEPT_S = {"espeak": 0.2, "festival": 0.65, "flite": 0.55}
_EST_S_PER_CHAR = 0.052
# Built length / planned length per kind, measured on a 1 h build (layout gaps and overlaps).
_KIND_CALIBRATION = {"speak": 1.055, "listen": 0.91, "conversation": 0.87}
RATE_RANGE = (0.82, 1.22)  # speaking rate relative to the voice's normal
PITCH_RANGE_ST = (-2.5, 2.5)  # pitch shift, semitones
SPEAK_LEVEL_DB = (-26.0, -16.0)  # RMS of the character's voice
LISTEN_LEVEL_DB = (-32.0, -18.0)  # RMS of the partner's voice at the character's microphone
LISTEN_NOISE_DB = (-72.0, -55.0)  # microphone noise floor, when there is one
LISTEN_NOISE_PROB = 0.5
SPEECH_BUDGET_S = 9.5  # estimated speech per clip, leaving room for lead-in and tail

# Prompts of the emote samples (each parses into known emotes; see models.emotes) and the
# speak prompts that go with a line's mood.
EMOTE_PROMPTS: tuple[str, ...] = (
    "smiles",
    "smiles warmly",
    "smiles broadly",
    "smiles slightly",
    "frowns",
    "frowns, annoyed",
    "looks angry",
    "looks sad",
    "looks surprised",
    "very surprised",
    "thinks",
    "ponders quietly",
    "nods",
    "nods slightly",
    "agrees",
    "shakes head",
    "disagrees",
    "laughs",
    "chuckles",
    "giggles",
)
_STEP_VERBS: tuple[str, ...] = (
    "nods",
    "smiles",
    "laughs",
    "frowns",
    "shakes head",
    "looks surprised",
    "thinks",
)
SPEAK_PROMPTS: dict[str, tuple[str, ...]] = {
    "pos": ("smiles", "smiles warmly", "speaks happily"),
    "neg": ("frowns", "frowns, annoyed", "speaks angrily"),
    "neu": ("thinks",),
}
SPEAK_PROMPT_PROB = {"pos": 0.4, "neg": 0.4, "neu": 0.1}
CONVERSATION_VARIANTS: dict[str, float] = {
    "turns": 0.5,
    "overlap": 0.25,
    "barge_in": 0.15,  # the partner interrupts the character, who stops
    "interrupts": 0.10,  # the character interrupts the partner, who stops
}


@dataclass(frozen=True)
class LineSpec:
    """One line in a sample: who says it (``stream``), how, and its mood."""

    stream: str
    request: SpeechRequest
    mood: str


@dataclass(frozen=True)
class SampleSpec:
    """Everything decided about a sample before synthesis.

    ``lines``: in turn order. ``variant``: conversation style (see
    :data:`CONVERSATION_VARIANTS`) or ``single`` / ``multi`` for emotes. ``prompt``: the
    behaviour prompt of speak and emote samples. ``duration_s``: clip length of idle and emote
    samples (speech samples take theirs from the speech). ``estimate_s``: planned length.
    """

    id: str
    kind: str
    split: str
    seed: int
    lines: tuple[LineSpec, ...] = ()
    variant: str = ""
    prompt: str | None = None
    duration_s: float = 0.0
    articulation: float = 1.0
    speak_level_db: float = -20.0
    listen_level_db: float = -24.0
    listen_noise_db: float | None = None
    estimate_s: float = 0.0

    def requests(self) -> list[SpeechRequest]:
        return [line.request for line in self.lines]


def estimate_speech_s(text: str, voice: str, rate: float) -> float:
    """Planned length of a line, seconds (measured fit per engine, ±0.3 s)."""
    engine = Voice.parse(voice).engine
    return _EST_INTERCEPT_S[engine] + _EST_S_PER_CHAR * len(text) / rate


def multi_step_prompts() -> tuple[str, ...]:
    """Two-step prompts, ``"nods, then smiles"``, over every ordered pair of distinct steps."""
    return tuple(f"{a}, then {b}" for a in _STEP_VERBS for b in _STEP_VERBS if a != b)


class _Planner:
    def __init__(self, seed: int, lines: dict[str, list[CorpusLine]]) -> None:
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1C0]))
        self.lines = lines
        self.voices = voices_by_split()
        for split in SPLIT_SHARES:
            if not self.lines.get(split):
                raise ValueError(f"no corpus lines in the {split} split")

    def _pick(self, items: Sequence[object]) -> int:
        return int(self.rng.integers(len(items)))

    def voice(self, split: str, exclude: str = "") -> Voice:
        engines = [e for e in ENGINES if any(v.engine == e for v in self.voices[split])]
        p = np.array([ENGINE_SHARES[e] for e in engines])
        while True:
            engine = engines[int(self.rng.choice(len(engines), p=p / p.sum()))]
            pool = [v for v in self.voices[split] if v.engine == engine]
            voice = pool[self._pick(pool)]
            if voice.id != exclude:
                return voice

    def request(self, voice: Voice, line: CorpusLine) -> SpeechRequest:
        rate = float(self.rng.uniform(*RATE_RANGE))
        pitch = float(self.rng.uniform(*PITCH_RANGE_ST))
        return SpeechRequest(voice.id, line.text, round(rate, 3), round(pitch, 2))

    def line(self, split: str, max_s: float, voice: Voice) -> CorpusLine:
        pool = self.lines[split]
        for _ in range(20):
            line = pool[self._pick(pool)]
            if estimate_speech_s(line.text, voice.id, RATE_RANGE[0]) <= max_s:
                return line
        return min(pool, key=lambda item: len(item.text))

    def common(self) -> dict[str, Any]:
        noise = None
        if self.rng.random() < LISTEN_NOISE_PROB:
            noise = round(float(self.rng.uniform(*LISTEN_NOISE_DB)), 1)
        return {
            "seed": int(self.rng.integers(2**62)),
            "articulation": round(float(self.rng.uniform(0.8, 1.15)), 3),
            "speak_level_db": round(float(self.rng.uniform(*SPEAK_LEVEL_DB)), 1),
            "listen_level_db": round(float(self.rng.uniform(*LISTEN_LEVEL_DB)), 1),
            "listen_noise_db": noise,
        }

    def speech_lines(
        self, split: str, streams: Sequence[str], budget_s: float
    ) -> tuple[tuple[LineSpec, ...], float]:
        """Lines for ``streams`` (one voice per stream), within an estimated speech budget."""
        speak_voice = self.voice(split)
        listen_voice = self.voice(split, exclude=speak_voice.id)
        out: list[LineSpec] = []
        total = 0.0
        for k, stream in enumerate(streams):
            voice = speak_voice if stream == "speak" else listen_voice
            left = budget_s - total
            if k > 0 and left < 1.5:
                break
            line = self.line(split, left, voice)
            req = self.request(voice, line)
            total += estimate_speech_s(line.text, voice.id, req.rate)
            out.append(LineSpec(stream, req, line.mood))
        return tuple(out), total

    def spec(self, kind: str, index: int) -> SampleSpec:
        splits = list(SPLIT_SHARES)
        split = splits[int(self.rng.choice(len(splits), p=list(SPLIT_SHARES.values())))]
        fields = self.common()
        lo = CLIP_SECONDS[0]
        if kind == "speak":
            n = 1 + int(self.rng.random() < 0.35)
            lines, est = self.speech_lines(split, ["speak"] * n, SPEECH_BUDGET_S)
            mood = lines[0].mood
            if self.rng.random() < SPEAK_PROMPT_PROB[mood]:
                options = SPEAK_PROMPTS[mood]
                fields["prompt"] = options[self._pick(options)]
            fields.update(lines=lines, estimate_s=max(lo, est + 1.8))
        elif kind == "listen":
            n = 1 + self._pick(range(3))
            lines, est = self.speech_lines(split, ["listen"] * n, SPEECH_BUDGET_S - 1.5)
            fields.update(lines=lines, estimate_s=max(lo, est + 0.8 * n + 2.2))
        elif kind == "conversation":
            variants = list(CONVERSATION_VARIANTS)
            p = np.array(list(CONVERSATION_VARIANTS.values()))
            variant = variants[int(self.rng.choice(len(variants), p=p))]
            turns = 2 + self._pick(range(3))
            first = "speak" if self.rng.random() < 0.5 else "listen"
            if variant == "barge_in":
                first = "speak"  # the character talks first and is interrupted
            elif variant == "interrupts":
                first = "listen"
            other = "listen" if first == "speak" else "speak"
            streams = [first if k % 2 == 0 else other for k in range(turns)]
            lines, est = self.speech_lines(split, streams, SPEECH_BUDGET_S + 0.5)
            fields.update(
                lines=lines,
                variant=variant if len(lines) >= 2 else "turns",
                estimate_s=max(lo, est + 0.4 * len(lines) + 1.5),
            )
        elif kind == "idle":
            duration = round(float(self.rng.uniform(lo, 10.0)), 2)
            fields.update(duration_s=duration, estimate_s=duration)
        elif kind == "emote":
            multi = self.rng.random() < 0.35
            options = multi_step_prompts() if multi else EMOTE_PROMPTS
            duration = round(float(self.rng.uniform(5.0 if multi else 4.0, 10.0)), 2)
            fields.update(
                variant="multi" if multi else "single",
                prompt=options[self._pick(options)],
                duration_s=duration,
                estimate_s=duration,
            )
        else:
            raise ValueError(f"unknown sample kind {kind!r}")
        fields["estimate_s"] *= _KIND_CALIBRATION.get(kind, 1.0)
        return SampleSpec(id=f"{kind}-{index:06d}", kind=kind, split=split, **fields)


def plan_corpus(
    seed: int, hours: float, lines: dict[str, list[CorpusLine]] | None = None
) -> list[SampleSpec]:
    """Sample specs whose estimated durations add up to ``hours`` of audio, in the kind mix.

    Kinds are interleaved: each next sample's kind is the one furthest below its share.
    Deterministic for ``(seed, hours)``; a longer corpus with the same seed starts with the
    same samples.
    """
    if not hours > 0:
        raise ValueError(f"hours must be positive, got {hours}")
    planner = _Planner(seed, lines if lines is not None else lines_by_split())
    target = hours * 3600.0
    done = dict.fromkeys(KIND_SHARES, 0.0)
    specs: list[SampleSpec] = []
    total = 0.0
    while total < target:
        # The kind with the largest deficit against its share of what is planned so far.
        kind = max(KIND_SHARES, key=lambda k: KIND_SHARES[k] * (total + 1.0) - done[k])
        spec = planner.spec(kind, len(specs))
        specs.append(spec)
        done[kind] += spec.estimate_s
        total += spec.estimate_s
    return specs


def check_prompts() -> None:
    """Raise if a planned prompt names no emote the performer knows (a caption would lie)."""
    prompts = [*EMOTE_PROMPTS, *multi_step_prompts()]
    prompts += [p for options in SPEAK_PROMPTS.values() for p in options]
    for prompt in prompts:
        if not parse_prompt(prompt):
            raise ValueError(f"prompt {prompt!r} names no known emote")
