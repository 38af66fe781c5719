"""Sample recipes: a :class:`~models.corpus.plan.SampleSpec` and its synthesised lines → a
:class:`~models.corpus.schema.CorpusSample`.

Each kind lays its lines out on a timeline, with timing drawn from the spec's own seed:

* **speak**: the character says one or two lines between a silent lead-in and tail (so the
  model sees the mouth open from rest and close again), optionally under a mood prompt.
* **listen**: the partner says one to three lines; the character listens (the performer nods
  at phrase ends), smiles after a friendly line, frowns after a hostile one, raises the brows
  at a question. The caption says what it did.
* **conversation**: alternating turns with gaps; ``overlap`` lets one turn start before the
  other ends; ``barge_in`` has the partner cut in and the character stop mid-line;
  ``interrupts`` the reverse. Frames where both talk have state ``both``.
* **idle** / **emote**: no speech; an emote prompt (single or multi-step) starts after a short
  idle lead-in and is the caption.

Per-frame state comes from the phones: a stream is active from its first to its last
non-pause phone, pauses under 0.5 s (between the sentences of a turn) included.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.corpus.director import Timeline, direct
from models.corpus.dsp import normalize_speech_level
from models.corpus.engines import SpeechRequest, TimedSpeech
from models.corpus.phones import frame_activity, shift_phones, speech_intervals, truncate_phones
from models.corpus.plan import LineSpec, SampleSpec
from models.corpus.prosody import Utterance
from models.corpus.schema import (
    CLIP_SECONDS,
    FPS,
    SAMPLE_RATE_HZ,
    SAMPLES_PER_FRAME,
    CorpusSample,
    Phone,
    state_from_activity,
)
from models.corpus.voices import Voice
from models.motion import CURVE_INDEX

log = logging.getLogger(__name__)

_FADE_S = 0.025  # fade-out of a line cut short by an interruption
_IDLE_CAPTIONS = ("idles", "waits quietly", "stands idle, breathing calmly", "idles, at ease")
_LISTEN_CAPTIONS = ("listens", "listens attentively", "listens closely")
_MIN_TAIL_S = 0.3
_HEAD_PITCH = CURVE_INDEX["headPitch"]
_NOD_SEEN_RAD = math.radians(3.5)
_MOOD_REACTIONS = {"pos": ("smiles", 0.6), "neg": ("frowns", 0.45)}  # prompt, chance
_REACTION_S = 1.8  # a listener's smile or frown lasts at least this long
_REACTION_VISIBLE_S = 0.8  # reactions starting later than this before the clip end are dropped


@dataclass(frozen=True)
class Placed:
    """A line on the clip's timeline: its audio starts at ``start_s`` and, if cut, stops at
    ``start_s + cut_s``."""

    line: LineSpec
    speech: TimedSpeech
    start_s: float
    cut_s: float | None = None

    @property
    def length_s(self) -> float:
        return self.speech.duration_s if self.cut_s is None else self.cut_s

    @property
    def end_s(self) -> float:
        return self.start_s + self.length_s

    @property
    def speech_span(self) -> tuple[float, float]:
        """First to last non-pause phone, on the clip's timeline."""
        spoken = [p for p in self.phones() if p.viseme != "sil"]
        if not spoken:
            return self.start_s, self.end_s
        return spoken[0].start_s, spoken[-1].end_s

    def phones(self) -> list[Phone]:
        phones = list(self.speech.phones)
        if self.cut_s is not None:
            phones = truncate_phones(phones, self.cut_s)
        return shift_phones(phones, self.start_s, self.line.stream)


def _layout_speech(
    spec: SampleSpec, speech: Mapping[SpeechRequest, TimedSpeech], rng: np.random.Generator
) -> tuple[list[Placed], float]:
    """Place the spec's lines after a silent lead-in; returns them and the tail (seconds)."""
    kind = spec.kind
    items = [(line, speech[line.request]) for line in spec.lines]
    if kind == "listen":
        lead, tail = rng.uniform(0.2, 1.0), rng.uniform(1.2, 2.5)
    elif kind == "conversation":
        lead, tail = rng.uniform(0.2, 0.8), rng.uniform(0.6, 1.5)
    else:
        lead, tail = rng.uniform(0.3, 1.5), rng.uniform(0.4, 1.5)
    # The boundary that overlaps or interrupts (conversation variants), chosen once.
    special = -1
    if spec.variant in ("overlap", "barge_in", "interrupts") and len(items) >= 2:
        wanted = {"barge_in": ("speak", "listen"), "interrupts": ("listen", "speak")}.get(
            spec.variant
        )
        options = [
            k
            for k in range(1, len(items))
            if wanted is None or (items[k - 1][0].stream, items[k][0].stream) == wanted
        ]
        special = options[int(rng.integers(len(options)))] if options else -1
    placed: list[Placed] = []
    clock = lead
    for k, (line, synth) in enumerate(items):
        if k == 0:
            placed.append(Placed(line, synth, clock))
            continue
        prev = placed[-1]
        span_start, span_end = prev.speech_span
        if k == special and spec.variant == "overlap":
            start = span_end - rng.uniform(0.2, 0.6)
        elif k == special:  # barge_in / interrupts: cut in mid-line, the other stops soon
            start = span_start + rng.uniform(0.35, 0.7) * (span_end - span_start)
            react = rng.uniform(0.15, 0.4) if spec.variant == "barge_in" else rng.uniform(0.2, 0.5)
            cut = max(0.2, start + react - prev.start_s)
            if cut < prev.length_s:
                placed[-1] = Placed(prev.line, prev.speech, prev.start_s, cut)
        elif kind == "conversation":
            start = span_end + rng.uniform(0.15, 0.8)
        else:  # consecutive lines of one stream: a pause between them
            start = span_end + rng.uniform(0.4, 1.2 if kind == "listen" else 0.9)
        # Engines pad lines with silence: line up speech, not files, and never go backwards.
        start -= synth.phones[0].end_s if synth.phones[0].viseme == "sil" else 0.0
        placed.append(Placed(line, synth, max(start, prev.start_s + 0.3)))
    return placed, tail


def _fit(placed: list[Placed], tail: float) -> tuple[list[Placed], float]:
    """Keep the clip within :data:`CLIP_SECONDS`: shrink the tail, drop trailing lines, and as a
    last resort cut the last line short. Returns the lines and the clip length (seconds)."""
    lo, hi = CLIP_SECONDS
    while True:
        end = max(p.end_s for p in placed)
        if end + tail <= hi:
            return placed, max(lo, end + tail)
        if end + _MIN_TAIL_S <= hi:
            return placed, hi
        if len(placed) > 1:
            placed = placed[:-1]
            last = placed[-1]
            if last.cut_s is not None:  # it was cut by the line just dropped: let it finish
                placed[-1] = Placed(last.line, last.speech, last.start_s)
            continue
        only = placed[0]
        cut = hi - _MIN_TAIL_S - only.start_s
        log.debug("line %r cut to %.2f s to fit the clip", only.line.request.text, cut)
        return [Placed(only.line, only.speech, only.start_s, cut)], hi


def _render_audio(
    placed: Sequence[Placed], num_frames: int, spec: SampleSpec, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = num_frames * SAMPLES_PER_FRAME
    streams = {"speak": np.zeros(n, np.float32), "listen": np.zeros(n, np.float32)}
    levels = {"speak": spec.speak_level_db, "listen": spec.listen_level_db}
    for p in placed:
        audio = normalize_speech_level(p.speech.samples, levels[p.line.stream])
        if p.cut_s is not None:
            audio = audio[: round(p.cut_s * SAMPLE_RATE_HZ)].copy()
            fade = min(audio.size, round(_FADE_S * SAMPLE_RATE_HZ))
            if fade:
                audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        a = round(p.start_s * SAMPLE_RATE_HZ)
        b = min(n, a + audio.size)
        streams[p.line.stream][a:b] += audio[: b - a]
    listen = streams["listen"]
    if spec.listen_noise_db is not None:
        sigma = 10.0 ** (spec.listen_noise_db / 20.0)
        listen += (sigma * rng.standard_normal(n)).astype(np.float32)
    return np.clip(streams["speak"], -1.0, 1.0), np.clip(listen, -1.0, 1.0)


def _listen_reactions(
    spec: SampleSpec, placed: Sequence[Placed], clip_s: float, rng: np.random.Generator
) -> tuple[list[tuple[float, str | None]], list[float], list[str]]:
    """Prompts and question brow raises after the partner's lines, and caption clauses.

    A smile or frown lasts until the partner's next line has gone on a while (at least
    ``_REACTION_S``) or the next reaction replaces it; reactions too close to the clip's end
    to be seen are left out (and not captioned).
    """
    reactions: list[tuple[float, str, float]] = []  # (start, prompt, earliest release)
    questions: list[float] = []
    clauses: list[str] = []
    for k, p in enumerate(placed):
        end = p.speech_span[1]
        next_start = placed[k + 1].speech_span[0] if k + 1 < len(placed) else clip_s
        u = rng.random(2)
        at = end + 0.1 + 0.4 * u[1]
        if at > clip_s - _REACTION_VISIBLE_S:
            continue
        if p.line.request.text.rstrip().endswith("?") and u[0] < 0.8:
            questions.append(at)
            clauses.append("raises brows at the question")
        elif p.line.mood in _MOOD_REACTIONS and u[0] < _MOOD_REACTIONS[p.line.mood][1]:
            prompt = _MOOD_REACTIONS[p.line.mood][0]
            reactions.append((at, prompt, max(next_start + 0.5, at + _REACTION_S)))
            clauses.append(prompt)
    prompts: list[tuple[float, str | None]] = []
    for i, (at, prompt, release) in enumerate(reactions):
        prompts.append((at, prompt))
        following = reactions[i + 1][0] if i + 1 < len(reactions) else clip_s
        if release < following:
            prompts.append((release, None))
    unique = [c for i, c in enumerate(clauses) if i == 0 or clauses[i - 1] != c]
    return prompts, questions, unique


def _nodded(motion: np.ndarray) -> bool:
    """Whether the head nodded (a backchannel nod is 5-8° down; sway stays under 2°)."""
    return bool(motion[:, _HEAD_PITCH].max() > _NOD_SEEN_RAD)


def _caption(
    spec: SampleSpec, clauses: Sequence[str], nodded: bool, rng: np.random.Generator
) -> str:
    if spec.kind in ("speak", "emote"):
        return spec.prompt or ""
    if spec.kind == "idle":
        return _IDLE_CAPTIONS[int(rng.integers(len(_IDLE_CAPTIONS)))]
    if spec.kind == "listen":
        base = _LISTEN_CAPTIONS[int(rng.integers(len(_LISTEN_CAPTIONS)))]
        base += " and nods" if nodded else ""
        return ", then ".join([base, *clauses])
    return {
        "turns": "talks with the player, taking turns",
        "overlap": "talks with the player, voices overlapping",
        "barge_in": "is interrupted, stops talking and listens",
        "interrupts": "interrupts the player",
    }[spec.variant]


def realize(spec: SampleSpec, speech: Mapping[SpeechRequest, TimedSpeech]) -> CorpusSample:
    """Make the sample ``spec`` describes from its synthesised lines (deterministic)."""
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0x7A11]))
    placed: list[Placed] = []
    if spec.lines:
        placed, tail = _layout_speech(spec, speech, rng)
        placed, clip_s = _fit(placed, tail)
    else:
        clip_s = min(max(spec.duration_s, CLIP_SECONDS[0]), CLIP_SECONDS[1])
    num_frames = int(np.ceil(clip_s * FPS - 1e-9))
    speak, listen = _render_audio(placed, num_frames, spec, rng)
    phones = tuple(p for item in placed for p in item.phones())

    prompts: list[tuple[float, str | None]] = []
    questions: list[float] = []
    clauses: list[str] = []
    if spec.kind == "listen":
        prompts, questions, clauses = _listen_reactions(spec, placed, clip_s, rng)
    elif spec.kind == "emote":
        prompts = [(float(rng.uniform(0.3, 1.2)), spec.prompt)]
    elif spec.kind == "speak" and spec.prompt:
        prompts = [(0.0, spec.prompt)]
    utterances = tuple(
        Utterance(p.start_s, p.end_s, p.line.request.text.rstrip().endswith("?"))
        for p in placed
        if p.line.stream == "speak"
    )
    timeline = Timeline(
        num_frames,
        speak,
        listen,
        phones,
        utterances,
        tuple(prompts),
        tuple(questions),
    )
    motion, events = direct(timeline, spec.seed, spec.articulation)
    speak_on = frame_activity(speech_intervals(phones, "speak"), num_frames, FPS)
    listen_on = frame_activity(speech_intervals(phones, "listen"), num_frames, FPS)
    state = state_from_activity(speak_on, listen_on)

    speak_lines = [p for p in placed if p.line.stream == "speak"]
    listen_lines = [p for p in placed if p.line.stream == "listen"]
    first = speak_lines[0].line.request if speak_lines else None
    meta: dict[str, Any] = {
        "seed": spec.seed,
        "variant": spec.variant,
        "engine": Voice.parse(first.voice).engine if first else "",
        "rate": first.rate if first else None,
        "pitch": first.pitch if first else None,
        "listen_voice": listen_lines[0].line.request.voice if listen_lines else "",
        "listen_text": " ".join(p.line.request.text for p in listen_lines),
        "articulation": spec.articulation,
        "speak_level_db": spec.speak_level_db,
        "listen_level_db": spec.listen_level_db,
        "listen_noise_db": spec.listen_noise_db,
        "prompts": [[round(t, 3), prompt] for t, prompt in prompts],
        "turns": [
            {
                "stream": p.line.stream,
                "voice": p.line.request.voice,
                "text": p.line.request.text,
                "mood": p.line.mood,
                "rate": p.line.request.rate,
                "pitch": p.line.request.pitch,
                "start_s": round(p.start_s, 4),
                "end_s": round(p.end_s, 4),
                "cut": p.cut_s is not None,
            }
            for p in placed
        ],
        "events": events,
    }
    return CorpusSample(
        id=spec.id,
        kind=spec.kind,
        split=spec.split,
        speak=speak,
        listen=listen,
        motion=motion,
        state=state,
        caption=_caption(spec, clauses, _nodded(motion), rng),
        voice=first.voice if first else "",
        text=" ".join(p.line.request.text for p in speak_lines),
        phones=phones,
        meta=meta,
    )
