"""A session's audio front-end: resample on arrival, place on the timeline, voice activity.

Each stream (speak, listen) of a session owns a :class:`StreamFrontEnd`. Audio arrives in
chunks at the engine's rate (16-48 kHz, already mono); it is resampled once, here, to 16 kHz with
soxr (a streaming polyphase resampler, so chunk boundaries leave no clicks), placed on the
session timeline (a sample index at 16 kHz) and run through silero-vad. The per-window speech
probability is stored beside the samples so the scheduler can tell speak / listen / idle / both
per frame without looking at audio again.

Voice activity uses silero-vad's ONNX model (it ships inside the ``silero-vad`` wheel) under
onnxruntime with its recurrent state passed in and out explicitly: 512-sample windows (32 ms),
a 64-sample context from the previous window, state ``[2, 1, 128]``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib import resources

import numpy as np
import soxr

from models.generator import SAMPLE_RATE

log = logging.getLogger(__name__)

VAD_WINDOW = 512  # samples at 16 kHz (32 ms): the window silero-vad is trained on
VAD_CONTEXT = 64  # samples of the previous window prepended to each window
# soxr's low-quality preset is still a band-limited polyphase filter (no aliasing into speech
# bands) and holds back 6-12 ms of output; its high-quality preset holds back up to 33 ms in
# FFT blocks, which a real-time stream would have to wait for on every packet.
RESAMPLER_QUALITY = "LQ"


class SileroVad:
    """silero-vad under onnxruntime; one inference session shared by every stream.

    onnxruntime sessions are thread-safe for ``run``; the state is the caller's.
    """

    _shared: SileroVad | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        import onnxruntime as ort

        model = resources.files("silero_vad").joinpath("data/silero_vad.onnx").read_bytes()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._sr = np.array(SAMPLE_RATE, np.int64)

    @classmethod
    def shared(cls) -> SileroVad:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @staticmethod
    def init_state() -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((2, 1, 128), np.float32), np.zeros(VAD_CONTEXT, np.float32)

    def run(
        self, windows: np.ndarray, state: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Speech probability per window ``[n]`` for ``windows`` ``[n, 512]`` in order."""
        rnn, context = state
        probs = np.empty(len(windows), np.float32)
        for i, window in enumerate(windows):
            x = np.concatenate([context, window])[None].astype(np.float32)
            out, rnn = self._session.run(None, {"input": x, "state": rnn, "sr": self._sr})
            probs[i] = float(out[0, 0])
            context = window[-VAD_CONTEXT:]
        return probs, (rnn, context)


@dataclass
class Placed:
    """Where a chunk of audio landed on the timeline (16 kHz sample positions)."""

    start: int
    end: int
    dropped: int  # samples that fell before the generation cursor and were discarded


class StreamFrontEnd:
    """One audio stream of a session on the timeline: samples and speech probability.

    The buffer keeps samples from ``origin`` on (older ones are released as frames are made);
    positions not covered read as silence. Not thread-safe: the session serialises access.
    """

    def __init__(
        self, vad: SileroVad | None, max_seconds: float = 30.0, speech_threshold: float = 0.5
    ) -> None:
        self._vad = vad
        self._threshold = speech_threshold
        # End of the latest VAD window heard as speech (timeline sample; -1 = none yet): lets
        # the scheduler ask "did this stream just carry speech?" without reading audio back.
        self.last_speech_end = -1
        self._max = int(max_seconds * SAMPLE_RATE)
        self.origin = 0  # timeline position of _samples[0]
        self._samples = np.zeros(0, np.float32)
        self._covered = np.zeros(0, bool)  # which samples were actually sent (not gaps)
        self._speech = np.zeros(0, np.float32)  # VAD probability per sample (window value)
        self.end = 0  # one past the last sample placed
        self._resampler: soxr.ResampleStream | None = None
        self._in_rate = 0
        self._resampled_end: int | None = None  # where the resampler's output continues
        # Where the next contiguous input sample lands on the timeline (the resampler holds
        # back a few ms of output, so this runs slightly ahead of ``_resampled_end``).
        self.input_end = -1
        self._vad_state = SileroVad.init_state()
        self._vad_pending = np.zeros(0, np.float32)
        self._vad_pos = 0  # timeline position of the first sample of _vad_pending

    def place(self, samples: np.ndarray, rate: int, pos: int | None, floor: int) -> Placed:
        """Resample ``samples`` (mono float32 at ``rate``) and write them at ``pos``.

        ``pos`` None continues where the previous chunk of this stream ended (the resampler's
        history carries over); a given ``pos`` starts a new segment. Samples before ``floor``
        (the generation cursor: those frames exist already) are dropped.
        """
        # A chunk whose stated position continues the previous one (within 2 ms of rounding
        # and clock jitter) keeps the resampler's history: no click, no lost samples.
        contiguous = pos is None or (self.input_end >= 0 and abs(pos - self.input_end) <= 32)
        if contiguous and pos is not None:
            pos = None
        if rate != self._in_rate or self._resampler is None or not contiguous:
            self._resampler = None
            if rate != SAMPLE_RATE:
                self._resampler = soxr.ResampleStream(
                    rate, SAMPLE_RATE, 1, dtype="float32", quality=RESAMPLER_QUALITY
                )
            self._in_rate = rate
            self._vad_state = SileroVad.init_state()
            self._vad_pending = np.zeros(0, np.float32)
        if pos is None:
            pos = self._resampled_end if self._resampled_end is not None else floor
        if not contiguous or self.input_end < 0:
            self.input_end = pos
        self.input_end += samples.size * SAMPLE_RATE // rate
        audio = (
            self._resampler.resample_chunk(np.ascontiguousarray(samples, np.float32))
            if self._resampler is not None
            else np.asarray(samples, np.float32)
        )
        audio = np.clip(audio, -1.0, 1.0)
        start = pos
        self._resampled_end = pos + audio.size
        dropped = max(0, min(audio.size, floor - start))
        if dropped:
            audio = audio[dropped:]
            start += dropped
        end = start + audio.size
        if audio.size:
            self._write(start, audio)
            self._run_vad(start, audio)
        return Placed(start=start, end=end, dropped=dropped)

    def flush(self, floor: int) -> Placed:
        """Drain the resampler's held-back tail (the end of an utterance)."""
        if self._resampler is None or self._resampled_end is None:
            return Placed(self.end, self.end, 0)
        tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
        self._resampler = None
        self._in_rate = 0
        start = self._resampled_end
        self._resampled_end = start + tail.size
        dropped = max(0, min(tail.size, floor - start))
        tail, start = tail[dropped:], start + dropped
        if tail.size:
            self._write(start, np.clip(tail, -1.0, 1.0))
            self._run_vad(start, tail)
        return Placed(start, start + tail.size, dropped)

    def _write(self, start: int, audio: np.ndarray) -> None:
        if start < self.origin:  # cannot happen above the floor; guard anyway
            audio, start = audio[self.origin - start :], self.origin
        need = start + audio.size - self.origin
        if need > self._samples.size:
            grow = need - self._samples.size
            self._samples = np.concatenate([self._samples, np.zeros(grow, np.float32)])
            self._covered = np.concatenate([self._covered, np.zeros(grow, bool)])
            self._speech = np.concatenate([self._speech, np.zeros(grow, np.float32)])
        a = start - self.origin
        self._samples[a : a + audio.size] = audio
        self._covered[a : a + audio.size] = True
        self.end = max(self.end, start + audio.size)
        if self._samples.size > self._max:
            self.release(self.origin + self._samples.size - self._max)

    def _run_vad(self, start: int, audio: np.ndarray) -> None:
        if self._vad is None:
            return
        if self._vad_pending.size == 0 or self._vad_pos + self._vad_pending.size != start:
            self._vad_pending, self._vad_pos = np.zeros(0, np.float32), start
        pending = np.concatenate([self._vad_pending, audio])
        n = pending.size // VAD_WINDOW
        if n:
            probs, self._vad_state = self._vad.run(
                pending[: n * VAD_WINDOW].reshape(n, VAD_WINDOW), self._vad_state
            )
            voiced = np.flatnonzero(probs >= self._threshold)
            if voiced.size:
                end = self._vad_pos + (int(voiced[-1]) + 1) * VAD_WINDOW
                self.last_speech_end = max(self.last_speech_end, end)
            per_sample = np.repeat(probs, VAD_WINDOW)
            a = self._vad_pos - self.origin
            lo = max(0, -a)
            hi = min(per_sample.size, self._speech.size - a)
            if hi > lo:
                self._speech[a + lo : a + hi] = per_sample[lo:hi]
        self._vad_pending = pending[n * VAD_WINDOW :].copy()
        self._vad_pos += n * VAD_WINDOW

    def read(self, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``[start, start+n)`` and their speech probability (zeros where empty)."""
        out = np.zeros(n, np.float32)
        speech = np.zeros(n, np.float32)
        a, b = max(start, self.origin), min(start + n, self.origin + self._samples.size)
        if b > a:
            out[a - start : b - start] = self._samples[a - self.origin : b - self.origin]
            speech[a - start : b - start] = self._speech[a - self.origin : b - self.origin]
        return out, speech

    def covered_until(self, start: int) -> int:
        """First position at or after ``start`` that no audio has been sent for."""
        if start < self.origin or start >= self.origin + self._covered.size:
            return start
        rel = self._covered[start - self.origin :]
        gaps = np.flatnonzero(~rel)
        return start + (int(gaps[0]) if gaps.size else rel.size)

    def truncate(self, pos: int) -> int:
        """Forget audio at and after ``pos`` (barge-in); returns samples removed."""
        if pos >= self.end:
            return 0
        a = max(0, pos - self.origin)
        removed = int(self._covered[a:].sum())
        self._samples, self._covered, self._speech = (
            self._samples[:a],
            self._covered[:a],
            self._speech[:a],
        )
        self.end = max(self.origin, pos)
        self._resampled_end = None
        self.input_end = -1
        self._vad_pending = np.zeros(0, np.float32)
        return removed

    def release(self, pos: int) -> None:
        """Drop samples before ``pos`` (their frames were made)."""
        k = min(max(0, pos - self.origin), self._samples.size)
        if k:
            self._samples = self._samples[k:]
            self._covered = self._covered[k:]
            self._speech = self._speech[k:]
            self.origin += k
