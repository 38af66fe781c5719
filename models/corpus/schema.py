"""The performance corpus's data contract (DESIGN §6): one paired sample and the manifest.

A :class:`CorpusSample` pairs, on one timeline, the character's own voice (``speak``), the other
party's voice as the character hears it (``listen``), the 61 ARKit curves of the performance at
25 fps (``motion``, curve order of :mod:`models.motion`), a per-frame interaction state and a text
caption of the behaviour. Frame ``t`` owns audio samples ``[t * 640, (t + 1) * 640)`` of both
streams, so ``len(speak) == len(listen) == num_frames * 640`` always holds.

``phones`` carries the exact phone timing of every synthesised utterance of both streams (seconds
on the sample's timeline, contiguous within an utterance); time outside every phone is silence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.generator import DEFAULT_FPS, SAMPLE_RATE, samples_per_frame
from models.motion import NUM_CURVES

# Per-frame interaction state (``CorpusSample.state``).
STATE_IDLE, STATE_SPEAK, STATE_LISTEN, STATE_BOTH = 0, 1, 2, 3
STATE_NAMES: tuple[str, ...] = ("idle", "speak", "listen", "both")

KINDS: tuple[str, ...] = ("speak", "listen", "conversation", "idle", "emote", "capture")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
STREAMS: tuple[str, ...] = ("speak", "listen")

FPS = DEFAULT_FPS  # video frames per second of every sample
SAMPLE_RATE_HZ = SAMPLE_RATE  # audio rate of both streams
SAMPLES_PER_FRAME = samples_per_frame(FPS, SAMPLE_RATE)  # 640
CLIP_SECONDS = (3.0, 12.0)  # length of a synthetic clip, seconds (captures are cut to fit too)
CORPUS_VERSION = 1  # bumped when the storage layout or the meaning of a field changes
CORPUS_FORMAT = "lpm-performance-corpus"


@dataclass(frozen=True)
class Phone:
    """One phone of an utterance: ``[start_s, end_s)`` on the sample's timeline.

    ``phone``: the engine's own label (ARPAbet for festival and flite, the espeak-ng mnemonic
    without stress marks for espeak); ``viseme``: its class in the shared viseme set
    (:data:`models.corpus.phones.VISEMES`); ``stream``: ``"speak"`` or ``"listen"``.
    """

    start_s: float
    end_s: float
    phone: str
    viseme: str
    stream: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)):
            raise ValueError(f"phone {self.phone!r} has a non-finite time")
        if self.end_s < self.start_s:
            raise ValueError(f"phone {self.phone!r} ends before it starts")
        if self.stream not in STREAMS:
            raise ValueError(f"phone stream must be one of {STREAMS}, got {self.stream!r}")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_json(self) -> list[Any]:
        """``[start_s, end_s, phone, viseme, stream]`` with times rounded to 0.1 ms."""
        return [round(self.start_s, 4), round(self.end_s, 4), self.phone, self.viseme, self.stream]

    @classmethod
    def from_json(cls, row: list[Any]) -> Phone:
        start, end, phone, viseme, stream = row
        return cls(float(start), float(end), str(phone), str(viseme), str(stream))


@dataclass(frozen=True, eq=False)
class CorpusSample:
    """One paired training sample; arrays are validated on construction.

    ``speak`` / ``listen``: float32 ``[S]`` at 16 kHz (zeros when silent); ``motion``: float32
    ``[T, 61]`` at 25 fps; ``state``: uint8 ``[T]`` of ``STATE_*``; ``S == T * 640``.
    ``voice``: the speak voice id (``"espeak:en-us+m3"``, ``"festival:kal"``, ``"flite:slt"``;
    ``""`` when the character does not speak); the listen voice and everything else about how
    the sample was made is in ``meta``.
    """

    id: str
    kind: str
    split: str
    speak: np.ndarray
    listen: np.ndarray
    motion: np.ndarray
    state: np.ndarray
    caption: str
    voice: str
    text: str
    phones: tuple[Phone, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.id}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.split not in SPLITS:
            raise ValueError(f"{self.id}: split must be one of {SPLITS}, got {self.split!r}")
        motion = np.asarray(self.motion, dtype=np.float32)
        if motion.ndim != 2 or motion.shape[1] != NUM_CURVES:
            raise ValueError(f"{self.id}: motion must be [T, {NUM_CURVES}], got {motion.shape}")
        frames = motion.shape[0]
        state = np.asarray(self.state)
        if state.dtype != np.uint8 or state.shape != (frames,):
            raise ValueError(f"{self.id}: state must be uint8 [{frames}], got {state.dtype}")
        if int(state.max(initial=0)) > STATE_BOTH:
            raise ValueError(f"{self.id}: state values must be 0..{STATE_BOTH}")
        for name in STREAMS:
            audio = np.asarray(getattr(self, name), dtype=np.float32)
            if audio.shape != (frames * SAMPLES_PER_FRAME,):
                raise ValueError(
                    f"{self.id}: {name} must be [{frames * SAMPLES_PER_FRAME}] samples for "
                    f"{frames} frames, got {audio.shape}"
                )
            object.__setattr__(self, name, audio)
        if not np.isfinite(motion).all():
            raise ValueError(f"{self.id}: motion has NaN or Inf")
        object.__setattr__(self, "motion", motion)
        object.__setattr__(self, "phones", tuple(self.phones))

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_frames / FPS

    def stream_phones(self, stream: str) -> tuple[Phone, ...]:
        """The phones of one stream, in time order."""
        return tuple(p for p in self.phones if p.stream == stream)


@dataclass(frozen=True)
class ShardInfo:
    """One shard file of a corpus: its name, SHA-256 of its bytes and how many samples it holds."""

    name: str
    sha256: str
    num_samples: int


@dataclass(frozen=True)
class CorpusManifest:
    """What ``manifest.json`` says about a whole corpus (the per-sample records live beside it).

    ``hours``: audio actually built; ``hours_requested``: what ``--hours`` asked for.
    ``content_hash``: SHA-256 over the bytes of every shard in order. ``counts``: samples per
    split and kind (``counts["train"]["speak"]``); ``voices``: the voice ids (speak and listen)
    used by each split.
    """

    version: int
    seed: int
    hours: float
    hours_requested: float
    content_hash: str
    counts: dict[str, dict[str, int]]
    voices: dict[str, list[str]]
    shards: tuple[ShardInfo, ...]
    fps: float = FPS
    sample_rate: int = SAMPLE_RATE_HZ

    @property
    def hash(self) -> str:
        """The content hash (same as :attr:`content_hash`): identifies the corpus's data."""
        return self.content_hash

    @property
    def num_samples(self) -> int:
        return sum(s.num_samples for s in self.shards)

    def counts_per_split(self) -> dict[str, int]:
        return {split: sum(kinds.values()) for split, kinds in self.counts.items()}

    def counts_per_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kinds in self.counts.values():
            for kind, n in kinds.items():
                out[kind] = out.get(kind, 0) + n
        return out


def state_from_activity(speak_active: np.ndarray, listen_active: np.ndarray) -> np.ndarray:
    """Per-frame ``STATE_*`` (uint8 ``[T]``) from two boolean ``[T]`` activity masks."""
    speak_active = np.asarray(speak_active, dtype=bool)
    listen_active = np.asarray(listen_active, dtype=bool)
    return (speak_active.astype(np.uint8) * STATE_SPEAK) + (
        listen_active.astype(np.uint8) * STATE_LISTEN
    )
