"""Audio in and out: load any WAV (or what FFmpeg decodes), validate, resample once to 16 kHz.

Engines send mono PCM at whatever rate they run (DESIGN §3); the runtime resamples once, on
arrival, with a proper resampler (soxr, high quality).
"""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np
import soxr

log = logging.getLogger(__name__)

MODEL_RATE = 16_000
MIN_RATE, MAX_RATE = 8_000, 192_000


class AudioInputError(ValueError):
    """Audio that cannot be used (unreadable, not audio, empty, NaN, unsupported rate)."""


def validate_pcm(samples: np.ndarray, what: str = "audio") -> np.ndarray:
    """1-D finite float32 in -1..1 (values beyond are clipped with a warning)."""
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise AudioInputError(f"{what}: expected mono samples [N], got shape {arr.shape}")
    if arr.dtype == np.int16:
        arr = arr.astype(np.float32) / 32768.0
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise AudioInputError(f"{what}: contains NaN or Inf samples")
    peak = float(np.abs(arr).max(initial=0.0))
    if peak > 1.0:
        log.warning("%s: peak %.2f exceeds full scale; clipping", what, peak)
        arr = np.clip(arr, -1.0, 1.0)
    return arr


def to_model_rate(samples: np.ndarray, sample_rate: int, target: int = MODEL_RATE) -> np.ndarray:
    """Resample mono float audio to ``target`` Hz with soxr (HQ)."""
    if not MIN_RATE <= int(sample_rate) <= MAX_RATE:
        raise AudioInputError(
            f"unsupported sample rate {sample_rate} Hz (expected {MIN_RATE}..{MAX_RATE})"
        )
    arr = validate_pcm(samples)
    if int(sample_rate) == target:
        return arr
    return np.asarray(soxr.resample(arr, int(sample_rate), target, quality="HQ"), np.float32)


def _read_wave(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wf:
        channels, width, rate = wf.getnchannels(), wf.getsampwidth(), wf.getframerate()
        raw = wf.readframes(wf.getnframes())
    if width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        data = v.astype(np.float32) / float(1 << 23)
    elif width == 4:
        data = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise AudioInputError(f"{path.name}: unsupported sample width {width}")
    data = data[: len(data) // channels * channels].reshape(-1, channels).mean(axis=1)
    return data.astype(np.float32), rate


def _read_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioInputError(f"{path.name}: no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.rate or 0)
            parts = []
            for frame in container.decode(stream):
                arr = frame.to_ndarray().astype(np.float32)
                if frame.format.name in ("s16", "s16p"):
                    arr /= 32768.0
                elif frame.format.name in ("s32", "s32p"):
                    arr /= float(1 << 31)
                if not frame.format.is_planar:
                    arr = arr.reshape(-1, len(frame.layout.channels)).T
                parts.append(arr.mean(axis=0))
    except AudioInputError:
        raise
    except Exception as exc:  # PyAV raises many error types for undecodable input
        raise AudioInputError(f"{path.name}: not readable audio ({exc})") from None
    if not parts:
        raise AudioInputError(f"{path.name}: empty audio")
    return np.concatenate(parts).astype(np.float32), rate


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their sample rate from a WAV (PCM 8/16/24/32-bit) or any format
    FFmpeg decodes (float WAV, FLAC, MP3, Ogg …)."""
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"{path.name}: no such file")
    try:
        samples, rate = _read_wave(path)
    except (wave.Error, EOFError):
        samples, rate = _read_with_ffmpeg(path)
    if samples.size == 0:
        raise AudioInputError(f"{path.name}: empty audio")
    return validate_pcm(samples, path.name), rate


def save_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono 16-bit PCM."""
    pcm = np.clip(validate_pcm(samples) * 32767.0, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(int(sample_rate))
        wf.writeframes(pcm.tobytes())


def loudness_envelope(samples: np.ndarray, sample_rate: int, fps: float = 25.0) -> np.ndarray:
    """Linear RMS per video frame ``[T]``: frame ``t`` covers samples ``[t·spf, (t+1)·spf)``."""
    spf = sample_rate / fps
    n = int(len(samples) // spf)
    edges = np.round(np.arange(n + 1) * spf).astype(np.int64)
    sq = np.concatenate([[0.0], np.cumsum(np.asarray(samples, np.float64) ** 2)])
    counts = np.maximum(np.diff(edges), 1)
    return np.sqrt((sq[edges[1:]] - sq[edges[:-1]]) / counts)
