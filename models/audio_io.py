"""Audio in and out: load any WAV (or what FFmpeg decodes), validate, resample once to 16 kHz.

Engines send mono PCM at whatever rate they run (DESIGN §3); the runtime resamples once, on
arrival, with a proper resampler (soxr, high quality). Samples are float32 in -1..1 throughout.
"""

from __future__ import annotations

import logging
import struct
import wave
from pathlib import Path

import numpy as np
import soxr

log = logging.getLogger(__name__)

MODEL_RATE = 16_000  # Hz, the rate every model input runs at (models.generator.SAMPLE_RATE)
MIN_RATE, MAX_RATE = 8_000, 192_000  # Hz, plausible rates for engine or file audio

# Full-scale value of each integer sample format PyAV decodes to (names without the planar "p").
_PYAV_FULL_SCALE = {"s16": 2.0**15, "s32": 2.0**31, "s64": 2.0**63}


class AudioInputError(ValueError):
    """Audio that cannot be used (unreadable, not audio, empty, NaN, unsupported rate)."""


def _check_rate(sample_rate: float, what: str = "audio") -> int:
    """A whole number of Hz within ``MIN_RATE..MAX_RATE``."""
    rate = int(sample_rate)
    if rate != sample_rate or not MIN_RATE <= rate <= MAX_RATE:
        raise AudioInputError(
            f"{what}: unsupported sample rate {sample_rate} Hz (expected whole Hz in "
            f"{MIN_RATE}..{MAX_RATE})"
        )
    return rate


def validate_pcm(samples: np.ndarray, what: str = "audio") -> np.ndarray:
    """Mono samples ``[N]`` as finite float32 in -1..1.

    int16 input is scaled by 1/32768; float values beyond full scale are clipped, with a
    warning. Raises :class:`AudioInputError` for other shapes and for NaN or Inf.
    """
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise AudioInputError(f"{what}: expected mono samples [N], got shape {arr.shape}")
    if arr.dtype == np.int16:
        arr = arr.astype(np.float32) / 32768.0
    elif not (np.issubdtype(arr.dtype, np.floating) or arr.size == 0):
        raise AudioInputError(f"{what}: expected float32 or int16 samples, got {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise AudioInputError(f"{what}: contains NaN or Inf samples")
    peak = float(np.abs(arr).max(initial=0.0))
    if peak > 1.0:
        log.warning("%s: peak %.2f exceeds full scale; clipping to -1..1", what, peak)
        arr = np.clip(arr, -1.0, 1.0)
    return arr


def to_model_rate(samples: np.ndarray, sample_rate: float, target: int = MODEL_RATE) -> np.ndarray:
    """Validated mono float32 ``[N * target / sample_rate]`` resampled with soxr (HQ).

    ``sample_rate`` must be a whole number of Hz in 8000..192000 (else :class:`AudioInputError`).
    """
    rate = _check_rate(sample_rate)
    arr = validate_pcm(samples)
    if rate == target:
        return arr
    return np.asarray(soxr.resample(arr, rate, target, quality="HQ"), np.float32)


def _read_wave(path: Path) -> tuple[np.ndarray, int]:
    """Integer-PCM WAV through the stdlib (8/16/24/32-bit, any channel count → mean)."""
    with wave.open(str(path), "rb") as wf:
        channels, width, rate = wf.getnchannels(), wf.getsampwidth(), wf.getframerate()
        raw = wf.readframes(wf.getnframes())
    if width == 1:  # 8-bit WAV is unsigned
        data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8)
        b = b[: len(b) // 3 * 3].reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        data = v.astype(np.float32) / float(1 << 23)
    elif width == 4:
        data = (np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    else:
        raise AudioInputError(f"{path.name}: unsupported sample width {width} bytes")
    data = data[: len(data) // channels * channels].reshape(-1, channels).mean(axis=1)
    return data.astype(np.float32), rate


def _read_with_pyav(path: Path) -> tuple[np.ndarray, int]:
    """Whatever FFmpeg decodes (float or extensible WAV, FLAC, MP3, Ogg/Opus …), first audio
    stream, channels averaged."""
    import av

    parts: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioInputError(f"{path.name}: no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.rate or 0)
            for frame in container.decode(stream):
                fmt = frame.format.name.rstrip("p")
                arr = frame.to_ndarray().astype(np.float64)
                if fmt == "u8":
                    arr = (arr - 128.0) / 128.0
                elif fmt in _PYAV_FULL_SCALE:
                    arr /= _PYAV_FULL_SCALE[fmt]
                if not frame.format.is_planar:  # packed: [1, samples * channels]
                    arr = arr.reshape(-1, len(frame.layout.channels)).T
                parts.append(arr.mean(axis=0).astype(np.float32))
    except AudioInputError:
        raise
    except Exception as exc:  # PyAV raises many error types for undecodable input
        raise AudioInputError(f"{path.name}: not readable as audio ({exc})") from None
    if not parts:
        raise AudioInputError(f"{path.name}: empty audio")
    return np.concatenate(parts), rate


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples ``[N]`` in -1..1 and their sample rate (Hz) from an audio file.

    Integer-PCM WAV is read with the stdlib; anything else FFmpeg decodes (float WAV, FLAC,
    MP3, Ogg …) through PyAV. Several channels are averaged. Raises :class:`AudioInputError`
    for a missing or unreadable file, a file that is not audio, empty audio, NaN/Inf samples,
    or a sample rate outside 8000..192000 Hz.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"{path.name}: no such file ({path})")
    try:
        samples, rate = _read_wave(path)
    except (wave.Error, EOFError, struct.error):
        # Not a WAV, or a WAV flavour the stdlib does not read (float, WAVE_FORMAT_EXTENSIBLE).
        samples, rate = _read_with_pyav(path)
    except OSError as exc:
        raise AudioInputError(f"{path.name}: cannot read ({exc.strerror or exc})") from None
    if samples.size == 0:
        raise AudioInputError(f"{path.name}: empty audio")
    _check_rate(rate, path.name)
    return validate_pcm(samples, path.name), rate


def save_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono samples ``[N]`` (float in -1..1, or int16) as 16-bit PCM WAV."""
    rate = int(sample_rate)
    if rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    pcm = np.clip(np.round(validate_pcm(samples) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(pcm.tobytes())


def loudness_envelope(samples: np.ndarray, sample_rate: int, fps: float = 25.0) -> np.ndarray:
    """Linear RMS (full scale = 1) per video frame, float64 ``[T]``, ``T = N // spf``.

    Frame ``t`` covers samples ``[t·spf, (t+1)·spf)`` with ``spf = sample_rate / fps`` (640 at
    16 kHz and 25 fps; a fractional ``spf`` rounds each edge); a trailing partial frame is
    dropped. Linear rather than dB so silence is 0 and correlations with mouth opening are
    not dominated by the noise floor.
    """
    x = np.asarray(samples, np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples [N], got shape {x.shape}")
    if fps <= 0 or sample_rate <= 0:
        raise ValueError(f"fps and sample_rate must be positive, got {fps}, {sample_rate}")
    spf = sample_rate / fps
    n = int(len(x) // spf)
    edges = np.round(np.arange(n + 1) * spf).astype(np.int64)
    sq = np.concatenate([[0.0], np.cumsum(x**2)])
    counts = np.maximum(np.diff(edges), 1)
    return np.sqrt(np.maximum(sq[edges[1:]] - sq[edges[:-1]], 0.0) / counts)
