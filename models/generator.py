"""One streaming interface for every performance generator (procedural, Base, Online; DESIGN §2).

A generator turns chunks of conditioning into chunks of motion. Its streaming state is an
explicit value: ``step(state, chunk) -> (curves, state)``. The input state is never mutated, so a
caller may keep it (to retry, to branch, or to checkpoint a session) and the same code path
exports to ONNX for the learned models.

Time base: video at ``fps`` frames per second, audio mono float32 at :data:`SAMPLE_RATE` Hz.
A chunk of ``n`` frames carries exactly ``n * samples_per_frame(fps)`` samples of speak audio and
of listen audio (silence is zeros).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from models.motion import NUM_CURVES

SAMPLE_RATE = 16_000  # Hz; the runtime resamples every stream to this once, on arrival.
DEFAULT_FPS = 25.0


def samples_per_frame(fps: float = DEFAULT_FPS, sample_rate: int = SAMPLE_RATE) -> int:
    """Audio samples per video frame (640 at 25 fps and 16 kHz); the rate must divide evenly."""
    spf = sample_rate / fps
    if abs(spf - round(spf)) > 1e-9:
        raise ValueError(f"{sample_rate} Hz does not divide into frames at {fps} fps")
    return round(spf)


@dataclass(frozen=True)
class ChunkInputs:
    """Conditioning for one chunk of ``num_frames`` frames.

    ``speak``: the character's own voice, float32 ``[num_frames * spf]`` at 16 kHz.
    ``listen``: the other party's voice, same shape (zeros when nobody talks).
    ``prompt``: the text prompt in force for this chunk ("smiles warmly", "nods"); a change of
    prompt between chunks starts the new emote at the chunk's first frame. ``None`` = no prompt.
    ``features``: optional per-frame log-mel, energy and pitch of each stream.
    ``speak_ahead``: the speak audio of the frames right after the chunk, as far as the caller
    knows it (a generator with a look-ahead reads as many frames as it hears ahead; ``None`` or
    zeros where not known yet). Whole frames, float32 at 16 kHz; it is heard, never consumed:
    the next chunk brings the same audio again as its own ``speak``.
    """

    num_frames: int
    speak: np.ndarray
    listen: np.ndarray
    prompt: str | None = None
    fps: float = DEFAULT_FPS
    # Per-frame features of each stream ("speak", "listen": models.logmel.FrameFeatures) when
    # the caller's front-end computed them; learned backends read log-mel from here.
    features: Mapping[str, Any] | None = None
    speak_ahead: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.num_frames * samples_per_frame(self.fps)
        for name in ("speak", "listen"):
            arr = np.asarray(getattr(self, name), dtype=np.float32)
            if arr.shape != (n,):
                raise ValueError(
                    f"{name} audio must be [{n}] samples for {self.num_frames} frames, "
                    f"got {arr.shape}"
                )
            if not np.isfinite(arr).all():
                raise ValueError(f"{name} audio contains NaN or Inf")
            object.__setattr__(self, name, arr)
        if self.speak_ahead is not None:
            ahead = np.asarray(self.speak_ahead, dtype=np.float32)
            spf = samples_per_frame(self.fps)
            if ahead.ndim != 1 or ahead.size % spf:
                raise ValueError(
                    f"speak_ahead must be whole frames of {spf} samples (1-D), got {ahead.shape}"
                )
            if not np.isfinite(ahead).all():
                raise ValueError("speak_ahead audio contains NaN or Inf")
            object.__setattr__(self, "speak_ahead", ahead)

    @classmethod
    def silence(
        cls, num_frames: int, prompt: str | None = None, fps: float = DEFAULT_FPS
    ) -> ChunkInputs:
        n = num_frames * samples_per_frame(fps)
        z = np.zeros(n, np.float32)
        return cls(num_frames, z, z, prompt, fps)


@dataclass(frozen=True)
class CharacterConditioning:
    """What a generator knows of the character: its rest pose and identity.

    ``rest_curves``: ``[61]`` the portrait's own expression fitted at asset preparation; idle
    and silence return to it (a smiling portrait keeps its smile at rest).
    ``identity``: optional ``[128]`` face descriptor, for learned models that condition on it.
    """

    rest_curves: np.ndarray = field(default_factory=lambda: np.zeros(NUM_CURVES, np.float32))
    identity: np.ndarray | None = None


StateT = TypeVar("StateT")


class PerformanceGenerator(Protocol[StateT]):
    """Streaming generator contract shared by every backend.

    ``step`` returns curves ``[num_frames, 61]`` float32 (ARKit order, blendshapes 0..1, angles
    in radians) and the next state. Streaming a sequence in chunks of any size gives the same
    curves as one pass over the whole sequence.
    """

    fps: float

    def init_state(self, character: CharacterConditioning, seed: int = 0) -> StateT: ...

    def step(self, state: StateT, chunk: ChunkInputs) -> tuple[np.ndarray, StateT]: ...
