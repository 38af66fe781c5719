"""Prompt emotes: text → emote steps → curve offsets over time (DESIGN §5, procedural performer).

:func:`parse_prompt` reads a designer's prompt ("nods, then smiles warmly") as a sequence of
:class:`Emote` steps; :func:`emote_offsets` turns them into ``[n, 61]`` curve offsets at given
times since the prompt began. Expressions (smile, frown, surprised, think) rise, hold and
settle to a sustained level; gestures (nod, shake, laugh) play once. The curve tables here are
shared with the performer's visemes and pulses.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np

from models.motion import CURVE_INDEX, NUM_CURVES

DEG = math.pi / 180.0
_I = CURVE_INDEX
_JAW = _I["jawOpen"]


class EmoteTiming(Protocol):
    """The envelope settings of expressions (PerformerConfig has them)."""

    @property
    def emote_attack_s(self) -> float: ...
    @property
    def emote_hold_s(self) -> float: ...
    @property
    def emote_decay_s(self) -> float: ...
    @property
    def emote_sustain(self) -> float: ...
    @property
    def emote_fade_s(self) -> float: ...


def curve_vector(weights: dict[str, float]) -> np.ndarray:
    """``[61]`` float64 offsets from ``{curve name: value}`` (angles already in radians)."""
    vec = np.zeros(NUM_CURVES, np.float64)
    for name, value in weights.items():
        vec[CURVE_INDEX[name]] = value
    vec.flags.writeable = False
    return vec


def pair(stem: str, value: float) -> dict[str, float]:
    """Both sides of a symmetric blendshape (``mouthSmile`` → Left and Right)."""
    return {f"{stem}Left": value, f"{stem}Right": value}


# Expression emotes at intensity 1.
_SMILE = {
    **pair("mouthSmile", 0.7),
    **pair("cheekSquint", 0.35),
    **pair("eyeSquint", 0.2),
    **pair("mouthDimple", 0.1),
}
_EMOTE_SHAPES: dict[str, np.ndarray] = {
    "smile": curve_vector(_SMILE),
    "frown": curve_vector(
        {
            **pair("mouthFrown", 0.55),
            **pair("browDown", 0.6),
            **pair("mouthPress", 0.3),
            "mouthShrugLower": 0.2,
        }
    ),
    "surprised": curve_vector(
        {"browInnerUp": 0.7, **pair("browOuterUp", 0.7), **pair("eyeWide", 0.6), "jawOpen": 0.25}
    ),
    # Eyes up and to the viewer's right, head tilted and slightly raised, lips pressed.
    "think": curve_vector(
        {
            "browInnerUp": 0.25,
            **pair("mouthPress", 0.25),
            "mouthLeft": 0.1,
            "leftEyePitch": -12.0 * DEG,
            "rightEyePitch": -12.0 * DEG,
            "leftEyeYaw": 5.0 * DEG,
            "rightEyeYaw": 5.0 * DEG,
            "headRoll": 4.0 * DEG,
            "headPitch": -2.0 * DEG,
        }
    ),
    "laugh": curve_vector(
        {**_SMILE, **pair("eyeSquint", 0.45), **pair("mouthSmile", 0.85), "headPitch": -3 * DEG}
    ),
}
EXPRESSIONS = frozenset({"smile", "frown", "surprised", "think"})
GESTURES = frozenset({"nod", "shake", "laugh"})

# Gesture timing (s) and sizes at intensity 1.
_NOD_S = 1.0  # two nods ...
_NOD_BEAT_S = 0.5  # ... of 0.5 s each (down and up) ...
_NOD_SECOND = 0.6  # ... the second this much of the first ...
_NODDEG = 8.0  # ... which is 8° (6.4° at the default intensity 0.8)
_SHAKE_S = 1.2  # three cycles at 2.5 Hz
_SHAKE_HZ = 2.5
_SHAKEDEG = 10.0
_LAUGH_S = 1.8
_LAUGH_ATTACK_S = 0.15  # laughs burst in ...
_LAUGH_RELEASE_S = 0.5  # ... and trail off
_LAUGH_HZ = 5.0  # "ha-ha-ha" syllable rate
_LAUGH_JAW = 0.3
_LAUGH_BOBDEG = 1.5
_GESTURE_S = {"nod": _NOD_S, "shake": _SHAKE_S, "laugh": _LAUGH_S}


# --- prompt parsing ---------------------------------------------------------------------------


class Emote(NamedTuple):
    """One step of a prompt: an emote kind (see :data:`EXPRESSIONS`, :data:`GESTURES`) at an
    intensity in [0, 1]."""

    kind: str
    intensity: float


_KEYWORDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        (
            "shake",
            r"\bshak(?:e|es|ing|en)\s+(?:(?:his|her|their|its|the|one's)\s+)?head\b"
            r"|\bhead\s*shak\w*|\bdisagree\w*|\bno\b",
        ),
        ("nod", r"\bnod(?:s|ded|ding)?\b|\bagree(?:s|d|ing)?\b|\byes\b"),
        ("laugh", r"\blaugh\w*|\bchuckl\w*|\bgiggl\w*"),
        ("smile", r"\bsmil(?:e|es|ed|ing)\b|\bhapp(?:y|ily)\b|\bgrin\w*"),
        ("frown", r"\bfrown\w*|\bannoyed\b|\bangr(?:y|ily)\b|\bsad(?:ly)?\b"),
        ("surprised", r"\bsurpris\w*|\bshock\w*|\bwow\b|\bastonish\w*"),
        ("think", r"\bthink\w*|\bthought\w*|\blook(?:s|ing)?\s+up\b|\bponder\w*"),
    )
)
_CLAUSE_SPLIT = re.compile(r"[,;.!?]|\bthen\b|\band\b|\bafter that\b")
_SOFT = re.compile(r"\b(?:slightly|slight|a little|a bit|subtly|faintly|small)\b")
_STRONG = re.compile(r"\b(?:very|big|broadly|broad|widely|hugely|huge|really|strongly)\b")
SOFT_INTENSITY = 0.5  # "slightly", "a little"
STRONG_INTENSITY = 1.0  # "very", "big", "broadly"


@functools.lru_cache(maxsize=512)
def parse_prompt(text: str, default_intensity: float = 0.8) -> tuple[Emote, ...]:
    """Emotes named in a prompt, in the order they should play.

    Case-insensitive keywords with synonyms; clauses split at punctuation, "then" and "and" run
    in sequence ("nods, then smiles"). Each clause's intensity: "slightly"/"a little" → 0.5,
    "very"/"big"/"broadly" → 1.0, otherwise ``default_intensity``. Unknown text yields ``()``.
    """
    steps: list[Emote] = []
    for clause in _CLAUSE_SPLIT.split(text.lower()):
        found = sorted(
            (m.start(), kind) for kind, pattern in _KEYWORDS if (m := pattern.search(clause))
        )
        if not found:
            continue
        if _STRONG.search(clause):
            intensity = STRONG_INTENSITY
        elif _SOFT.search(clause):
            intensity = SOFT_INTENSITY
        else:
            intensity = default_intensity
        steps.extend(Emote(kind, intensity) for _, kind in found)
    return tuple(steps)


def clip01(x: np.ndarray) -> np.ndarray:
    """``np.clip(x, 0, 1)`` without its Python-level overhead (matters for 1-frame chunks)."""
    return np.minimum(np.maximum(x, 0.0), 1.0)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = clip01(x)
    return x * x * (3.0 - 2.0 * x)


def emote_offsets(emotes: Sequence[Emote], t: np.ndarray, cfg: EmoteTiming) -> np.ndarray:
    """Curve offsets ``[n, 61]`` of a prompt's emotes at ``t`` ``[n]`` seconds since it began.

    Steps play one after another: an expression's turn lasts attack + hold, a gesture's its
    length. An expression then decays to ``emote_sustain`` and stays there until a later
    expression starts (then it fades out over ``emote_fade_s``); gestures play once.
    """
    out = np.zeros((t.shape[0], NUM_CURVES), np.float64)
    main_s = cfg.emote_attack_s + cfg.emote_hold_s
    starts: list[float] = []
    clock = 0.0
    for emote in emotes:
        starts.append(clock)
        clock += main_s if emote.kind in EXPRESSIONS else _GESTURE_S[emote.kind]
    for k, (emote, start) in enumerate(zip(emotes, starts, strict=True)):
        u = t - start
        amp = emote.intensity
        if emote.kind in EXPRESSIONS:
            env = smoothstep(u / cfg.emote_attack_s) * (u >= 0)
            after = u - main_s
            env = env - (1.0 - cfg.emote_sustain) * smoothstep(after / cfg.emote_decay_s)
            later = [
                s
                for e, s in zip(emotes[k + 1 :], starts[k + 1 :], strict=True)
                if e.kind in EXPRESSIONS
            ]
            if later:
                env = env * (1.0 - smoothstep((t - later[0]) / cfg.emote_fade_s))
            out += np.outer(amp * env, _EMOTE_SHAPES[emote.kind])
            continue
        inside = (u >= 0) & (u <= _GESTURE_S[emote.kind])
        if emote.kind == "nod":
            # Down-and-up twice, the second nod smaller (headPitch > 0 = down).
            first = np.sin(np.pi * clip01(u / _NOD_BEAT_S))
            second = _NOD_SECOND * np.sin(np.pi * clip01((u - _NOD_BEAT_S) / _NOD_BEAT_S))
            out[:, _I["headPitch"]] += amp * _NODDEG * DEG * (first + second) * inside
        elif emote.kind == "shake":
            taper = np.sin(np.pi * clip01(u / _SHAKE_S))
            wave = np.sin(2.0 * np.pi * _SHAKE_HZ * u) * taper * inside
            out[:, _I["headYaw"]] += amp * _SHAKEDEG * DEG * wave
        else:  # laugh: smile + rhythmic jaw + head bobs, faded in and out
            fade_in = smoothstep(u / _LAUGH_ATTACK_S)
            fade_out = 1.0 - smoothstep((u - _LAUGH_S + _LAUGH_RELEASE_S) / _LAUGH_RELEASE_S)
            env = fade_in * fade_out * inside
            ha = 0.5 - 0.5 * np.cos(2.0 * np.pi * _LAUGH_HZ * u)
            out += np.outer(amp * env, _EMOTE_SHAPES["laugh"])
            out[:, _JAW] += amp * _LAUGH_JAW * env * ha
            out[:, _I["headPitch"]] += amp * _LAUGH_BOBDEG * DEG * env * ha
    return out
