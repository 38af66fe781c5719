"""The director: a clip's audio, phones and prompts → its 61-curve performance.

The procedural performer (:mod:`models.performer`) plays the whole clip — blinks, gaze, head
sway and breathing, nods and brow raises at the partner's phrase ends, emotes from the prompts —
hearing both streams, so its gaze and head follow who is talking. Its own loudness-driven
visemes and accent gestures are replaced where the speech's exact phones say better:

* mouth, jaw, cheek and tongue curves = the performer's expression layer (rest pose, emotes,
  backchannel smiles: a second run that hears the partner but not the character's voice)
  + dominance-blended visemes from the speak phones (:mod:`models.corpus.articulation`);
* brows and head get prosody gestures from the speak audio (:mod:`models.corpus.prosody`);
* listening reactions the performer has no rule for (brows raised at a partner's question) are
  added as pulses.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.corpus.articulation import mouth_offsets
from models.corpus.prosody import ProsodyConfig, Utterance, prosody_offsets
from models.corpus.schema import FPS, SAMPLES_PER_FRAME, Phone
from models.generator import CharacterConditioning
from models.motion import CURVE_INDEX, CURVE_NAMES, clamp_curves
from models.performer import PerformerConfig, ProceduralPerformer, perform

# Curves owned by the expression layer + visemes while the character speaks.
MOUTH_LAYER: tuple[int, ...] = tuple(
    i for i, name in enumerate(CURVE_NAMES) if name.startswith(("mouth", "jaw", "cheek", "tongue"))
)
_BROWS = (
    CURVE_INDEX["browInnerUp"],
    CURVE_INDEX["browOuterUpLeft"],
    CURVE_INDEX["browOuterUpRight"],
)
_QUESTION_BROW_S = 0.9  # a listener's brow raise at a question, seconds
_QUESTION_BROW = (0.2, 0.4)  # browInnerUp amount (outer brows 60 % of it)


@functools.cache
def director_performer() -> ProceduralPerformer:
    """The performer used as director: its accent gestures are off (prosody replaces them)."""
    return ProceduralPerformer(PerformerConfig(accent_nod_prob=0.0, accent_brow_prob=0.0))


@dataclass(frozen=True, eq=False)
class Timeline:
    """A clip laid out in time: both audio streams ``[num_frames * 640]`` float32, the phones of
    both streams, the character's utterances, prompt changes ``(start_s, prompt or None)`` and
    question ends the character reacts to while listening (seconds)."""

    num_frames: int
    speak: np.ndarray
    listen: np.ndarray
    phones: tuple[Phone, ...] = ()
    utterances: tuple[Utterance, ...] = ()
    prompts: tuple[tuple[float, str | None], ...] = ()
    question_reactions: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        n = self.num_frames * SAMPLES_PER_FRAME
        if self.speak.shape != (n,) or self.listen.shape != (n,):
            raise ValueError(f"timeline audio must be [{n}] samples per stream")


def frame_prompts(
    prompts: Sequence[tuple[float, str | None]], num_frames: int, fps: float = FPS
) -> list[str | None]:
    """The prompt in force at each frame (a change lands on the first frame starting after it)."""
    out: list[str | None] = [None] * num_frames
    for start_s, prompt in sorted(prompts, key=lambda item: item[0]):
        first = max(0, int(np.ceil(start_s * fps - 1e-6)))
        out[first:] = [prompt] * (num_frames - first)
    return out


def direct(
    timeline: Timeline,
    seed: int,
    articulation: float = 1.0,
    prosody: ProsodyConfig | None = None,
) -> tuple[np.ndarray, list[dict[str, float | str]]]:
    """The clip's motion ``[T, 61]`` float32 (clipped to the curve ranges) and gesture events."""
    performer = director_performer()
    n = timeline.num_frames
    prompts = frame_prompts(timeline.prompts, n)
    state = performer.init_state(CharacterConditioning(), seed=seed)
    chunk = max(1, n)
    motion = perform(performer, state, timeline.speak, timeline.listen, prompts, chunk).astype(
        np.float64
    )
    events: list[dict[str, float | str]] = []
    speak_phones = [p for p in timeline.phones if p.stream == "speak"]
    if speak_phones:
        silent = np.zeros_like(timeline.speak)
        layer = perform(performer, state, silent, timeline.listen, prompts, chunk)
        visemes = mouth_offsets(speak_phones, n, FPS, articulation)
        cols = list(MOUTH_LAYER)
        motion[:, cols] = layer[:, cols] + visemes[:, cols]
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9505]))
        gestures, events = prosody_offsets(
            timeline.speak, speak_phones, timeline.utterances, n, rng, prosody
        )
        motion += gestures
    if timeline.question_reactions:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB20]))
        t = (np.arange(n) + 0.5) / FPS
        for at in timeline.question_reactions:
            amount = rng.uniform(*_QUESTION_BROW)
            x = (t - at) / _QUESTION_BROW_S
            bump = np.where((x >= 0) & (x <= 1), np.sin(np.pi * np.clip(x, 0.0, 1.0)) ** 2, 0.0)
            motion[:, _BROWS[0]] += amount * bump
            motion[:, _BROWS[1]] += 0.6 * amount * bump
            motion[:, _BROWS[2]] += 0.6 * amount * bump
            events.append({"event": "question_brow", "time_s": round(at, 3)})
    return clamp_curves(motion.astype(np.float32)), events
