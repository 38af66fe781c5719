"""One session per NPC: its character, generator state, audio streams, clocks and state machine.

Time (DESIGN §3): each session has a timeline that starts at 0 when the session is created and
runs in real time. Positions are 16 kHz sample indices (``*_s``) or microseconds (``*_us``);
frame ``k`` covers samples ``[k*spf, (k+1)*spf)`` and has ``pts_us = k * 1e6 / fps``. Speak audio
is the master clock: its samples sit at the positions the client plays them (client playback
is delayed by the session's latency, so the frame for a sample is ready before it is heard).

A session is plain data plus small methods; the engine serialises access under its lock.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bridge.handler import ClientId, Outbox
from models.generator import SAMPLE_RATE, CharacterConditioning, PerformanceGenerator
from models.logmel import LogMelFrontEnd
from runtime.frontend import SileroVad, StreamFrontEnd

SPEECH_ON = 0.5  # silero probability above which a frame is speech
SPEECH_OFF = 0.35  # ...and below which, for the hangover, it is not
HANGOVER_FRAMES = 5  # 200 ms at 25 fps: short pauses inside a phrase keep the state


@dataclass(frozen=True)
class Pacing:
    """Timing rules of every session (derived from the server config)."""

    fps: float = 25.0  # video frames per second
    chunk_frames: int = 1  # frames per generator step
    # Wait this long past a chunk's end for audio streamed in real time: a 20 ms packet
    # arrives 20 ms after its first sample, and the resampler releases output in ~30 ms blocks.
    grace_us: int = 60_000
    budget_us: int = 40_000  # time allowed to generate, render, encode and deliver a chunk
    horizon_us: int = 500_000  # speak frames may be made this far ahead of real time
    lookahead_frames: int = 0  # speak audio needed past a chunk's end before it runs early
    max_behind_us: int = 1_000_000  # further behind than this, frames are skipped, not made

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.chunk_frames < 1:
            raise ValueError("fps must be positive and chunk_frames at least 1")
        if min(self.grace_us, self.budget_us, self.horizon_us, self.lookahead_frames) < 0:
            raise ValueError("pacing times must not be negative")

    @property
    def spf(self) -> int:
        """Audio samples (16 kHz) per video frame."""
        return round(SAMPLE_RATE / self.fps)

    @property
    def chunk_us(self) -> int:
        return round(self.chunk_frames * 1e6 / self.fps)

    @property
    def lookahead_us(self) -> int:
        return round(self.lookahead_frames * 1e6 / self.fps)

    @property
    def latency_us(self) -> int:
        """How long after real time a frame is guaranteed: a chunk, its grace, the speak
        look-ahead a speaking chunk waits for, its budget."""
        return self.chunk_us + self.grace_us + self.lookahead_us + self.budget_us

    def pts_us(self, index: int) -> int:
        return round(index * 1e6 / self.fps)


@dataclass
class SessionStats:
    frames: int = 0
    chunks: int = 0
    late_chunks: int = 0
    late_frames: int = 0
    skipped_frames: int = 0
    regenerated_frames: int = 0
    speak_samples: int = 0
    listen_samples: int = 0
    speak_dropped_samples: int = 0  # arrived for frames already made
    listen_dropped_samples: int = 0
    latencies_us: collections.deque[int] = field(
        default_factory=lambda: collections.deque(maxlen=2000)
    )

    def summary(self) -> dict[str, float]:
        lat = np.array(self.latencies_us, np.float64) if self.latencies_us else None
        out = {
            "frames": float(self.frames),
            "chunks": float(self.chunks),
            "late_chunks": float(self.late_chunks),
            "late_frames": float(self.late_frames),
            "skipped_frames": float(self.skipped_frames),
            "regenerated_frames": float(self.regenerated_frames),
            "speak_seconds": self.speak_samples / SAMPLE_RATE,
            "listen_seconds": self.listen_samples / SAMPLE_RATE,
            "speak_dropped_seconds": self.speak_dropped_samples / SAMPLE_RATE,
            "listen_dropped_seconds": self.listen_dropped_samples / SAMPLE_RATE,
        }
        if lat is not None:
            out["latency_p50_ms"] = float(np.percentile(lat, 50)) / 1000
            out["latency_p99_ms"] = float(np.percentile(lat, 99)) / 1000
        return out


class Session:
    """State of one NPC. Every method expects the caller to hold the engine lock."""

    def __init__(
        self,
        session_id: str,
        owner: ClientId,
        character_id: str,
        conditioning: CharacterConditioning,
        generator: PerformanceGenerator[Any],
        pacing: Pacing,
        *,
        width: int,
        height: int,
        encoding: str,
        jpeg_quality: int,
        prompt: str | None,
        seed: int,
        vad: SileroVad | None,
        features: LogMelFrontEnd,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.id = session_id
        self.owner = owner
        self.character_id = character_id
        self.generator = generator
        self.gen_state: Any = generator.init_state(conditioning, seed)
        self.features = features
        self.feature_state = (features.init_state(), features.init_state())  # speak, listen
        self.pacing = pacing
        self.width, self.height = width, height
        self.encoding = encoding
        self.jpeg_quality = jpeg_quality
        self.prompt = prompt
        self.emote: tuple[str, int] | None = None  # (prompt text, until timeline sample)
        self._clock = clock
        self.created_ns = clock()
        self.last_seen_ns = self.created_ns
        self.speak = StreamFrontEnd(vad, speech_threshold=SPEECH_ON)
        self.listen = StreamFrontEnd(vad, speech_threshold=SPEECH_ON)
        self.cursor = 0  # next frame to generate (timeline frame number)
        self.next_index = 0  # wire index of the next frame published (never repeats)
        self.epoch = 0  # bumped by an interrupt: in-flight chunks of an older epoch are void
        # (first frame, snapshot()) of recent chunks: an interrupt rolls back to one of them.
        self.history: collections.deque[tuple[int, tuple[Any, Any]]] = collections.deque()
        self.outboxes: list[Outbox] = []
        self.state = "idle"
        self._speaking = False
        self._listening = False
        self._speak_off = 0
        self._listen_off = 0
        # (end sample, arrival ns) of recent audio per stream, for audio→frame latency.
        self.arrivals: dict[str, collections.deque[tuple[int, int]]] = {
            "speak": collections.deque(maxlen=512),
            "listen": collections.deque(maxlen=512),
        }
        self.stats = SessionStats()
        self.late_event_ns = 0  # when the last ``late`` event went out
        self.closed = False

    # --- clocks -------------------------------------------------------------------------------

    def now_s(self, now_ns: int | None = None) -> int:
        """The timeline position now, in 16 kHz samples."""
        ns = self._clock() if now_ns is None else now_ns
        return (ns - self.created_ns) * SAMPLE_RATE // 1_000_000_000

    def now_us(self, now_ns: int | None = None) -> int:
        ns = self._clock() if now_ns is None else now_ns
        return (ns - self.created_ns) // 1000

    def ns_at(self, pos_s: int) -> int:
        """Monotonic time at which the timeline reaches sample ``pos_s``."""
        return self.created_ns + pos_s * 1_000_000_000 // SAMPLE_RATE

    # --- input --------------------------------------------------------------------------------

    def touch(self) -> None:
        self.last_seen_ns = self._clock()

    def push_speak(
        self, samples: np.ndarray, rate: int, pts_us: int | None
    ) -> tuple[int, int] | None:
        """Place the NPC's voice; returns (pts_us, duration_us) when a new utterance starts."""
        now = self.now_s()
        floor = self.cursor * self.pacing.spf
        pos = None if pts_us is None else pts_us * SAMPLE_RATE // 1_000_000
        # Audio streamed in real time arrives about when its position comes; allow it to be
        # up to one latency late and still continue the line (it is still ahead of playback).
        tolerance = self.pacing.latency_us * SAMPLE_RATE // 1_000_000
        new_utterance = pos is None and (
            self.speak.input_end < 0 or self.speak.input_end < now - tolerance
        )
        if new_utterance:
            pos = max(now, floor)
        placed = self.speak.place(samples, rate, pos, floor)
        self.stats.speak_samples += placed.end - placed.start
        self.stats.speak_dropped_samples += placed.dropped
        self.arrivals["speak"].append((placed.end, self._clock()))
        starts = new_utterance or pts_us is not None
        if starts:
            return (
                placed.start * 1_000_000 // SAMPLE_RATE,
                (placed.end - placed.start) * 1_000_000 // SAMPLE_RATE,
            )
        return None

    def push_listen(self, samples: np.ndarray, rate: int, pts_us: int | None) -> None:
        """Place the player's voice at its capture time (default: arrival minus its length)."""
        floor = self.cursor * self.pacing.spf
        if pts_us is None:
            if self.listen.end >= self.now_s() - SAMPLE_RATE // 5:
                pos = None  # continues the stream: arrival jitter does not move it
            else:
                duration = samples.size * SAMPLE_RATE // max(rate, 1)
                pos = max(0, self.now_s() - duration)
        else:
            pos = pts_us * SAMPLE_RATE // 1_000_000
        placed = self.listen.place(samples, rate, pos, floor)
        self.stats.listen_samples += placed.end - placed.start
        self.stats.listen_dropped_samples += placed.dropped
        self.arrivals["listen"].append((placed.end, self._clock()))

    def end_of_speech(self) -> None:
        """The line is complete: flush the resampler; the next line starts a new utterance."""
        placed = self.speak.flush(self.cursor * self.pacing.spf)
        self.stats.speak_samples += placed.end - placed.start
        self.speak.input_end = -1

    def interrupt(self) -> int:
        """Barge-in: forget speak audio from the playhead on and regenerate those frames.

        Returns the number of frames that will be made again. The generator state is rolled
        back to the first chunk at or after the playhead, which the history keeps.
        """
        playhead = max(0, self.now_s() - self.pacing.latency_us * SAMPLE_RATE // 1_000_000)
        self.speak.truncate(max(playhead, self.speak.origin))
        self.epoch += 1
        spf = self.pacing.spf
        made = self.cursor
        while self.history and self.history[-1][0] * spf >= playhead:
            self.cursor, snapshot = self.history.pop()
            self.restore(snapshot)
        redo = made - self.cursor
        self.stats.regenerated_frames += redo
        return redo

    def player_talking(self, now_s: int, window_s: int = SAMPLE_RATE // 2) -> bool:
        """Did the listen stream carry speech in the last ``window_s`` samples before now?

        While the player talks, frames are made in real time only: a frame made early could
        not react to what the player says next.
        """
        end = self.listen.last_speech_end
        return end >= 0 and end > now_s - window_s

    def snapshot(self) -> tuple[Any, Any]:
        """Streaming state before a chunk (immutable values: keeping them costs no copy)."""
        return self.gen_state, self.feature_state

    def restore(self, snapshot: tuple[Any, Any]) -> None:
        self.gen_state, self.feature_state = snapshot

    def effective_prompt(self, pos_s: int) -> str | None:
        if self.emote is not None:
            text, until = self.emote
            if pos_s < until:
                return text
            self.emote = None
        return self.prompt

    # --- state machine ------------------------------------------------------------------------

    def frame_states(self, speak_prob: np.ndarray, listen_prob: np.ndarray) -> list[str]:
        """Per-frame state from per-frame speech probabilities, with hysteresis and hangover."""
        out = []
        for ps, pl in zip(speak_prob, listen_prob, strict=True):
            self._speaking, self._speak_off = _hysteresis(ps, self._speaking, self._speak_off)
            self._listening, self._listen_off = _hysteresis(pl, self._listening, self._listen_off)
            if self._speaking and self._listening:
                out.append("both")
            elif self._speaking:
                out.append("speak")
            elif self._listening:
                out.append("listen")
            else:
                out.append("idle")
        return out

    def arrival_ns(self, pos_s: int) -> int | None:
        """When the audio that completed a chunk ending at ``pos_s`` arrived (either stream).

        The latest of the two streams' first arrivals reaching ``pos_s``; None when no audio
        covers it (idle frames have no audio to measure latency from).
        """
        latest = None
        for arrivals in self.arrivals.values():
            while arrivals and arrivals[0][0] < pos_s - SAMPLE_RATE:
                arrivals.popleft()
            t = next((t for end, t in arrivals if end >= pos_s), None)
            if t is not None and (latest is None or t > latest):
                latest = t
        return latest


def _hysteresis(p: float, on: bool, off_count: int) -> tuple[bool, int]:
    """Turn on above SPEECH_ON; turn off after HANGOVER_FRAMES frames below SPEECH_OFF."""
    if p >= SPEECH_ON:
        return True, 0
    if not on:
        return False, 0
    if p >= SPEECH_OFF:
        return True, 0
    return off_count + 1 < HANGOVER_FRAMES, off_count + 1
