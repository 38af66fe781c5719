"""Prosody → brows and head while speaking: pitch accents, phrase ends, questions.

Pitch accents are read from the audio: each vowel's prominence combines its mean F0, loudness
and length, each as a z-score within the utterance. Prominent vowels that stand out from their
neighbours get, by chance, a brow flick and a small nod timed on the vowel (speakers mark
accents with the brows and the head). At the end of a phrase (a pause of at least
``min_pause_s``, or the end of the utterance) the head settles down a little; a question
instead ends with raised brows and the head lifted.

Output: offsets ``[T, 61]`` on browInnerUp, browOuterUp* and headPitch, and a list of the events
placed (for the sample's metadata).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.corpus.dsp import f0_track, frame_level_db
from models.corpus.phones import VOWEL_VISEMES
from models.corpus.schema import FPS, SAMPLE_RATE_HZ, Phone
from models.emotes import DEG
from models.motion import CURVE_INDEX, NUM_CURVES

_BROW_INNER = CURVE_INDEX["browInnerUp"]
_BROW_OUTER = (CURVE_INDEX["browOuterUpLeft"], CURVE_INDEX["browOuterUpRight"])
_HEAD_PITCH = CURVE_INDEX["headPitch"]


@dataclass(frozen=True)
class ProsodyConfig:
    """Gestures that follow the speech melody; times in seconds, angles in degrees."""

    accent_threshold: float = 0.7  # prominence (z units) a vowel needs to carry an accent
    accent_spacing_s: float = 0.35  # at most one accent this close to another
    min_vowel_s: float = 0.04  # shorter vowels are not considered
    brow_prob: float = 0.5  # chance an accent lifts the brows ...
    brow_amount: tuple[float, float] = (0.08, 0.22)  # ... by this much browInnerUp ...
    brow_s: float = 0.45  # ... for this long
    brow_outer_share: float = 0.6  # browOuterUp moves this share of browInnerUp
    nod_prob: float = 0.6  # chance an accent brings a small nod ...
    nod_deg: tuple[float, float] = (1.0, 2.5)  # ... of this size ...
    nod_s: float = 0.35  # ... lasting this long
    min_pause_s: float = 0.15  # a pause this long ends a phrase
    settle_prob: float = 0.8  # chance the head settles at a statement's phrase end ...
    settle_deg: tuple[float, float] = (0.8, 2.0)  # ... dipping this far ...
    settle_s: tuple[float, float, float] = (0.25, 0.2, 0.6)  # ... attack, hold, release
    question_brow: tuple[float, float] = (0.15, 0.3)  # brows raised at a question's end ...
    question_lift_deg: tuple[float, float] = (1.0, 2.5)  # ... and the head lifted
    question_s: float = 0.9  # length of the question gesture, centred on the last syllable

    def __post_init__(self) -> None:
        for name in ("brow_prob", "nod_prob", "settle_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        for name in ("accent_spacing_s", "brow_s", "nod_s", "question_s", "min_pause_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True)
class Utterance:
    """One spoken line on the clip's timeline and whether it asks a question."""

    start_s: float
    end_s: float
    question: bool


def _bell(t: np.ndarray, start: float, length: float) -> np.ndarray:
    """sin² bump from ``start`` over ``length`` seconds, 0 outside."""
    x = (t - start) / length
    return np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0.0, 1.0)) ** 2, 0.0)


def _envelope(
    t: np.ndarray, start: float, attack: float, hold: float, release: float
) -> np.ndarray:
    """Smooth rise, hold, smooth fall."""
    up = np.clip((t - start) / attack, 0.0, 1.0)
    down = np.clip((t - start - attack - hold) / release, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * up)) * (0.5 + 0.5 * np.cos(np.pi * down))


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def _accents(
    phones: Sequence[Phone],
    f0: np.ndarray,
    voiced: np.ndarray,
    level: np.ndarray,
    cfg: ProsodyConfig,
) -> list[tuple[float, float]]:
    """``(vowel start, prominence)`` of the accented vowels of one utterance."""
    vowels = [p for p in phones if p.viseme in VOWEL_VISEMES and p.duration_s >= cfg.min_vowel_s]
    if len(vowels) < 3:
        return []
    pitch, loud, dur = [], [], []
    for p in vowels:
        a, b = int(p.start_s * 100), max(int(p.start_s * 100) + 1, int(p.end_s * 100))
        sel = voiced[a:b]
        pitch.append(
            12.0 * math.log2(float(np.mean(f0[a:b][sel])) / 100.0) if sel.any() else math.nan
        )
        loud.append(float(np.mean(level[a:b])) if b <= level.size else float(level[-1]))
        dur.append(p.duration_s)
    pitch_arr = np.asarray(pitch)
    if np.isnan(pitch_arr).all():
        pitch_arr = np.zeros(len(vowels))
    pitch_arr = np.where(np.isnan(pitch_arr), np.nanmin(pitch_arr), pitch_arr)
    prom = (
        0.5 * _zscore(pitch_arr)
        + 0.3 * _zscore(np.asarray(loud))
        + 0.2 * _zscore(np.log(np.asarray(dur)))
    )
    candidates = [
        i
        for i in range(len(vowels))
        if prom[i] > cfg.accent_threshold
        and prom[i] >= prom[max(0, i - 1)]
        and prom[i] >= prom[min(len(vowels) - 1, i + 1)]
    ]
    chosen: list[tuple[float, float]] = []
    for i in sorted(candidates, key=lambda k: -prom[k]):
        if all(abs(vowels[i].start_s - s) >= cfg.accent_spacing_s for s, _ in chosen):
            chosen.append((vowels[i].start_s, float(prom[i])))
    return sorted(chosen)


def _phrase_ends(phones: Sequence[Phone], utt: Utterance, min_pause_s: float) -> list[float]:
    """End times of the phrases of one utterance (last non-pause phone before a long pause)."""
    inside = [p for p in phones if p.start_s >= utt.start_s - 1e-6 and p.end_s <= utt.end_s + 1e-6]
    ends: list[float] = []
    last_speech: float | None = None
    pause = 0.0
    for p in inside:
        if p.viseme == "sil":
            pause += p.duration_s
            if (
                last_speech is not None
                and pause >= min_pause_s
                and (not ends or ends[-1] != last_speech)
            ):
                ends.append(last_speech)
        else:
            last_speech, pause = p.end_s, 0.0
    if last_speech is not None and (not ends or ends[-1] != last_speech):
        ends.append(last_speech)
    return ends


def prosody_offsets(
    speak: np.ndarray,
    phones: Sequence[Phone],
    utterances: Sequence[Utterance],
    num_frames: int,
    rng: np.random.Generator,
    config: ProsodyConfig | None = None,
    fps: float = FPS,
) -> tuple[np.ndarray, list[dict[str, float | str]]]:
    """Brow and head offsets ``[num_frames, 61]`` float32 from the speak stream's prosody.

    ``speak``: the clip's speak audio at 16 kHz; ``phones``: its speak-stream phones;
    ``utterances``: the lines spoken, in order. Draws from ``rng`` in a fixed order.
    """
    cfg = config or ProsodyConfig()
    out = np.zeros((num_frames, NUM_CURVES), np.float64)
    events: list[dict[str, float | str]] = []
    if num_frames == 0 or not utterances:
        return out.astype(np.float32), events
    t = (np.arange(num_frames) + 0.5) / fps
    f0, voiced = f0_track(speak, SAMPLE_RATE_HZ, hop_s=0.01)
    level = frame_level_db(speak, SAMPLE_RATE_HZ // 100)
    brow = np.zeros(num_frames)
    pitch = np.zeros(num_frames)
    for utt in utterances:
        own = [p for p in phones if utt.start_s - 1e-6 <= p.start_s < utt.end_s]
        for start, prom in _accents(own, f0, voiced, level, cfg):
            u = rng.random(4)
            strength = min(1.0, prom / 2.0)
            if u[0] < cfg.brow_prob:
                lo, hi = cfg.brow_amount
                amount = (lo + (hi - lo) * u[1]) * (0.6 + 0.4 * strength)
                brow += amount * _bell(t, start - 0.1, cfg.brow_s)
                events.append({"event": "accent_brow", "time_s": round(start, 3)})
            if u[2] < cfg.nod_prob:
                lo, hi = cfg.nod_deg
                angle = (lo + (hi - lo) * u[3]) * DEG
                x = (t - (start - 0.05)) / cfg.nod_s
                pitch += angle * np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0, 1)), 0)
                events.append({"event": "accent_nod", "time_s": round(start, 3)})
        ends = _phrase_ends(phones, utt, cfg.min_pause_s)
        for k, end in enumerate(ends):
            u = rng.random(3)
            if utt.question and k == len(ends) - 1:
                lo, hi = cfg.question_brow
                brow += (lo + (hi - lo) * u[0]) * _bell(
                    t, end - 0.5 * cfg.question_s, cfg.question_s
                )
                lo, hi = cfg.question_lift_deg
                lift = (lo + (hi - lo) * u[1]) * DEG
                pitch -= lift * _bell(t, end - 0.5 * cfg.question_s, cfg.question_s)
                events.append({"event": "question_end", "time_s": round(end, 3)})
            elif u[0] < cfg.settle_prob:
                lo, hi = cfg.settle_deg
                attack, hold, release = cfg.settle_s
                dip = (lo + (hi - lo) * u[1]) * DEG
                pitch += dip * _envelope(t, end - 0.15, attack, hold, release)
                events.append({"event": "phrase_settle", "time_s": round(end, 3)})
    out[:, _BROW_INNER] = brow
    out[:, _BROW_OUTER[0]] = out[:, _BROW_OUTER[1]] = cfg.brow_outer_share * brow
    out[:, _HEAD_PITCH] = pitch
    return out.astype(np.float32), events
