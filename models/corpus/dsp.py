"""Signal processing for the corpus: timing-preserving pitch shift, F0 track, loudness.

Pitch is shifted by WSOLA time-stretching (waveform-similarity overlap-add: each output frame
is the input frame, within a small tolerance, that best continues the previous one) followed by
resampling back to the original length. Every input instant lands within the WSOLA tolerance
(±8 ms, a fifth of a video frame) of where it was, so phone timings stay valid.
"""

from __future__ import annotations

import math

import numpy as np
import soxr

_WIN_S = 0.03  # WSOLA frame: about three pitch periods of a low voice
_TOLERANCE_S = 0.008  # how far a frame may slide to line up with the previous one


def time_stretch(samples: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """WSOLA: ``samples`` made ``factor`` times longer (``> 1`` slower) at the same pitch."""
    x = np.asarray(samples, np.float32)
    if factor <= 0 or not math.isfinite(factor):
        raise ValueError(f"stretch factor must be positive, got {factor}")
    win = max(16, round(_WIN_S * sample_rate)) // 2 * 2
    hop = win // 2
    tol = round(_TOLERANCE_S * sample_rate)
    n_out = round(x.size * factor)
    if abs(factor - 1.0) < 1e-6:
        return x.copy()
    if x.size < 2 * win:  # too short to overlap-add: plain resampling (shifts pitch a little)
        stretched = np.asarray(soxr.resample(x, sample_rate, sample_rate * factor), np.float32)
        return np.pad(stretched, (0, max(0, n_out - stretched.size)))[:n_out]
    pad = np.concatenate([np.zeros(tol + win, np.float32), x, np.zeros(2 * win + tol, np.float32)])
    offset = tol + win  # index of x[0] inside pad
    window = np.hanning(win + 2)[1:-1].astype(np.float32)  # sums to ~1 at 50 % overlap
    out = np.zeros(n_out + 2 * win, np.float32)
    weight = np.zeros_like(out)
    prev = offset  # input position of the previous frame's start
    for k in range(0, n_out + win, hop):
        nominal = offset + round(k / factor)
        if k == 0:
            pos = nominal
        else:
            # The natural continuation of the previous frame, and the candidates around nominal.
            target = pad[prev + hop : prev + hop + win]
            lo = max(0, nominal - tol)
            region = pad[lo : nominal + tol + win]
            if region.size < win or not target.any():
                pos = nominal
            else:
                score = np.correlate(region, target, mode="valid")
                pos = lo + int(np.argmax(score))
        frame = pad[pos : pos + win]
        if frame.size < win:
            break
        out[k : k + win] += frame * window
        weight[k : k + win] += window
        prev = pos
    return (out[:n_out] / np.maximum(weight[:n_out], 1e-3)).astype(np.float32)


def pitch_shift(samples: np.ndarray, semitones: float, sample_rate: int) -> np.ndarray:
    """Shift pitch (and formants with it) by ``semitones``, keeping length and timing.

    Output has exactly ``len(samples)`` samples.
    """
    x = np.asarray(samples, np.float32)
    if abs(semitones) < 1e-3 or x.size == 0:
        return x.copy()
    ratio = 2.0 ** (semitones / 12.0)
    stretched = time_stretch(x, ratio, sample_rate)
    # Played back ``ratio`` times faster: original length, pitch × ratio.
    shifted = np.asarray(soxr.resample(stretched, sample_rate * ratio, sample_rate), np.float32)
    if shifted.size >= x.size:
        return shifted[: x.size]
    return np.pad(shifted, (0, x.size - shifted.size))


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """High-quality resampling, float32 out."""
    if rate_in == rate_out:
        return np.asarray(samples, np.float32)
    return np.asarray(soxr.resample(np.asarray(samples, np.float32), rate_in, rate_out, "HQ"))


def frame_level_db(samples: np.ndarray, frame: int) -> np.ndarray:
    """RMS level (dBFS) of consecutive ``frame``-sample blocks; the tail block is zero-padded."""
    x = np.asarray(samples, np.float64)
    n = -(-x.size // frame)
    padded = np.pad(x, (0, n * frame - x.size)).reshape(n, frame)
    return 10.0 * np.log10(np.mean(padded**2, axis=1) + 1e-12)


def normalize_speech_level(samples: np.ndarray, target_db: float, peak: float = 0.95) -> np.ndarray:
    """Scale speech so its active part (blocks within 35 dB of the loudest) sits at
    ``target_db`` dBFS RMS, with peaks no higher than ``peak``."""
    x = np.asarray(samples, np.float32)
    level = frame_level_db(x, 320)
    if level.size == 0 or level.max() < -90.0:
        return x.copy()
    active = level > level.max() - 35.0
    power = np.mean(10.0 ** (level[active] / 10.0))
    gain = 10.0 ** ((target_db - 10.0 * math.log10(power + 1e-12)) / 20.0)
    top = float(np.abs(x).max()) * gain
    if top > peak:
        gain *= peak / top
    return (x * gain).astype(np.float32)


def f0_track(
    samples: np.ndarray,
    sample_rate: int,
    hop_s: float = 0.01,
    win_s: float = 0.04,
    f0_range_hz: tuple[float, float] = (70.0, 400.0),
    voicing_threshold: float = 0.45,
) -> tuple[np.ndarray, np.ndarray]:
    """Fundamental frequency by normalised autocorrelation: ``(f0_hz [n], voiced [n])``.

    Frame ``i`` is centred at ``i * hop_s`` seconds; unvoiced frames have ``f0 = 0``.
    """
    x = np.asarray(samples, np.float64)
    hop = round(hop_s * sample_rate)
    win = round(win_s * sample_rate)
    n = max(1, -(-x.size // hop))
    padded = np.pad(x, (win // 2, win + n * hop))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[::hop][:n]
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = frames * np.hanning(win)
    n_fft = 1 << (2 * win - 1).bit_length()
    spec = np.fft.rfft(frames, n_fft, axis=1)
    acf = np.fft.irfft(spec * spec.conj(), n_fft, axis=1)[:, :win]
    energy = acf[:, :1]
    acf = acf / np.maximum(energy, 1e-12)
    lo = max(2, int(sample_rate / f0_range_hz[1]))
    hi = min(win - 2, int(sample_rate / f0_range_hz[0]))
    region = acf[:, lo:hi]
    lag = lo + np.argmax(region, axis=1)
    peak = acf[np.arange(n), lag]
    # Parabolic interpolation around the peak for sub-sample lags.
    left, right = acf[np.arange(n), lag - 1], acf[np.arange(n), lag + 1]
    denom = left - 2.0 * peak + right
    safe = np.abs(denom) > 1e-9
    delta = np.zeros(n)
    np.divide(0.5 * (left - right), denom, out=delta, where=safe)
    level = 10.0 * np.log10(energy[:, 0] / win + 1e-12)
    voiced = (peak > voicing_threshold) & (level > level.max(initial=-120.0) - 40.0)
    f0 = np.where(voiced, sample_rate / (lag + np.clip(delta, -1.0, 1.0)), 0.0)
    return f0, voiced
