"""Live preview sessions of the studio: one real engine session per browser WebSocket, and the
take it records (curves of every frame, both voices on the session timeline) for export.

The browser talks a small protocol over one WebSocket (``/ws/live``):

* browser → server, text: ``{"type": "prompt", "text": ...}``, ``{"type": "emote", "emote":
  "smile", "intensity": 0.8}``, ``{"type": "end_of_speech"}``, ``{"type": "new_take"}``;
* browser → server, binary: one audio chunk, :data:`AUDIO_HEADER` (stream byte 1 = the NPC's
  voice, 2 = the player's; three zero bytes; sample rate uint32 little-endian) then mono
  float32 little-endian samples;
* server → browser, text: ``{"type": "session", ...}`` once, then events (``speak_scheduled``,
  ``state_changed``…) and ``{"type": "error", "message": ...}`` for refused input;
* server → browser, binary: one frame, a uint32 little-endian header length, the header (JSON:
  ``index``, ``pts_us``, ``state``, ``curves`` [61]) and the frame as JPEG.

Frames come from the same :class:`~runtime.engine.Engine` that ``lpm serve`` runs (generator,
renderer, pacing); the studio is just another client of it, in-process.
"""

from __future__ import annotations

import itertools
import json
import logging
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bridge.handler import Outbox
from bridge.protocol import (
    SUPPORTED_SAMPLE_RATES,
    Event,
    Frame,
    Message,
)
from models.audio_io import to_model_rate
from models.generator import SAMPLE_RATE
from models.motion import MotionClip, write_live_link_csv
from models.render.warp import WarpRenderer
from runtime.media import Mp4Writer

log = logging.getLogger(__name__)

AUDIO_HEADER = struct.Struct("<B3xI")  # stream (1 speak, 2 listen), sample rate in Hz
SPEAK, LISTEN = 1, 2
MAX_CHUNK_SECONDS = 10.0  # one audio message (the wire protocol's limit too)
MAX_TAKE_SECONDS = 600.0  # a take stops recording after ten minutes
MAX_TAKES = 16  # takes kept for export (oldest forgotten first)


class StudioInputError(ValueError):
    """Input from the browser that cannot be used (one readable line; the session goes on)."""


def parse_audio(data: bytes) -> tuple[int, int, np.ndarray]:
    """(stream, sample rate, mono float32 samples) of one binary audio message."""
    if len(data) < AUDIO_HEADER.size:
        raise StudioInputError(f"audio message of {len(data)} bytes has no header")
    stream, rate = AUDIO_HEADER.unpack_from(data)
    if stream not in (SPEAK, LISTEN):
        raise StudioInputError(f"audio stream must be 1 (NPC) or 2 (player), got {stream}")
    if rate not in SUPPORTED_SAMPLE_RATES:
        raise StudioInputError(f"sample rate {rate} Hz is not supported")
    body = data[AUDIO_HEADER.size :]
    if len(body) % 4:
        raise StudioInputError("audio payload is not whole float32 samples")
    samples = np.frombuffer(body, "<f4").astype(np.float32)
    if samples.size > MAX_CHUNK_SECONDS * rate:
        raise StudioInputError(f"more than {MAX_CHUNK_SECONDS:g} s of audio in one message")
    if not np.isfinite(samples).all():
        raise StudioInputError("audio contains NaN or Inf")
    return stream, rate, np.clip(samples, -1.0, 1.0)


def frame_message(frame: Frame) -> bytes:
    """A frame for the browser: header length, JSON header, JPEG (the RGB part)."""
    curves = np.frombuffer(frame.curves, "<f4")
    header = json.dumps(
        {
            "index": frame.index,
            "pts_us": frame.pts_us,
            "state": frame.state,
            "curves": [round(float(v), 4) for v in curves],
        },
        separators=(",", ":"),
    ).encode()
    return struct.pack("<I", len(header)) + header + bytes(frame.pixels[0])


@dataclass
class Take:
    """What one preview recorded: the curves of each frame and both voices, 16 kHz, on the
    session timeline (frame ``k`` starts at ``k / fps`` s)."""

    id: str
    character: str
    fps: float
    size: int
    first_index: int | None = None
    curves: list[np.ndarray] = field(default_factory=list)
    speak: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (start sample, pcm)
    listen: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return len(self.curves)

    def add_frame(self, index: int, curves: np.ndarray) -> None:
        if self.first_index is None:
            self.first_index = index
        expected = self.first_index + len(self.curves)
        if index < expected or len(self.curves) >= MAX_TAKE_SECONDS * self.fps:
            return
        while expected < index:  # frames the engine skipped: hold the last pose
            self.curves.append(self.curves[-1] if self.curves else curves)
            expected += 1
        self.curves.append(curves)

    def clip(self) -> MotionClip:
        if not self.curves:
            raise StudioInputError(f"take {self.id} has no frames yet")
        return MotionClip(np.stack(self.curves).astype(np.float32), self.fps)

    def audio(self) -> np.ndarray:
        """Both voices mixed as a bystander hears them, over the take's frames (16 kHz)."""
        spf = SAMPLE_RATE / self.fps
        start = round((self.first_index or 0) * spf)
        total = round(self.num_frames * spf)
        mix = np.zeros(total, np.float32)
        for pos, pcm in (*self.speak, *self.listen):
            a, b = pos - start, pos - start + len(pcm)
            lo, hi = max(a, 0), min(b, total)
            if hi > lo:
                mix[lo:hi] += pcm[lo - a : hi - a]
        peak = float(np.abs(mix).max(initial=0.0))
        return mix * (0.98 / peak) if peak > 0.98 else mix

    def write_csv(self, path: Path) -> Path:
        write_live_link_csv(self.clip(), path)
        return path

    def write_mp4(self, path: Path, renderer: WarpRenderer) -> Path:
        """Render the take's curves again (the renderer is deterministic: the frames the
        browser saw) with both voices."""
        clip = self.clip()
        size = self.size - self.size % 2
        with Mp4Writer(path, fps=self.fps, audio=self.audio(), sample_rate=SAMPLE_RATE) as out:
            for row in clip.curves:
                frame = renderer.render(row)
                if frame.shape[0] != size:
                    frame = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
                out.write(frame[..., :3])
        return path


class TakeStore:
    """The recent takes, by id (thread-safe)."""

    def __init__(self, limit: int = MAX_TAKES) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._takes: OrderedDict[str, Take] = OrderedDict()
        self._ids = itertools.count(1)

    def new(self, character: str, fps: float, size: int) -> Take:
        with self._lock:
            take = Take(f"take{next(self._ids)}", character, fps, size)
            self._takes[take.id] = take
            while len(self._takes) > self._limit:
                self._takes.popitem(last=False)
            return take

    def get(self, take_id: str) -> Take:
        with self._lock:
            take = self._takes.get(take_id)
        if take is None:
            raise KeyError(take_id)
        return take


class RecordingOutbox(Outbox):
    """The browser's outbox: records every frame's curves into the current take before the
    ring may drop it (a slow browser misses frames; the take does not), and notes where the
    engine placed each new utterance of the NPC's voice (its ``speak_scheduled`` event)."""

    def __init__(self, take: Take, max_frames: int, on_ready: Callable[[], None]) -> None:
        super().__init__(max_frames=max_frames, on_ready=on_ready)
        self.recording = take
        self._take_lock = threading.Lock()
        self.speak_end = -1  # timeline sample where the NPC's voice recorded so far ends

    def put(self, message: Message) -> None:
        if isinstance(message, Frame):
            with self._take_lock:
                self.recording.add_frame(message.index, np.frombuffer(message.curves, "<f4").copy())
        elif (
            isinstance(message, Event)
            and message.event == "speak_scheduled"
            and message.pts_us is not None
        ):
            with self._take_lock:
                self.speak_end = message.pts_us * SAMPLE_RATE // 1_000_000
        super().put(message)

    def record_speak(self, pcm16k: np.ndarray) -> None:
        """The chunk the engine just took: it continues the utterance (a new utterance's
        event, emitted while the engine took it, has already set where it starts)."""
        with self._take_lock:
            if self.speak_end >= 0:
                self.recording.speak.append((self.speak_end, pcm16k))
                self.speak_end += len(pcm16k)

    def record_listen(self, start: int, pcm16k: np.ndarray) -> None:
        with self._take_lock:
            self.recording.listen.append((start, pcm16k))

    def new_take(self, take: Take) -> None:
        with self._take_lock:
            self.recording = take


def resample_for_take(samples: np.ndarray, rate: int) -> np.ndarray:
    """16 kHz copy of a chunk, for the take's sound track."""
    return to_model_rate(samples, rate) if rate != SAMPLE_RATE else samples.astype(np.float32)
