"""Streaming log-mel, energy and pitch per video frame: the audio encoder's input (DESIGN §5).

80 mel bins on a 25 ms Hann window every 10 ms (4 hops per 40 ms frame at 16 kHz), HTK mel
scale 0-8 kHz, natural log of power with a floor. Energy is the frame's RMS in dBFS; pitch is
F0 from the normalised autocorrelation of the frame's last 40 ms (0 when unvoiced).

Streaming with explicit state: ``process(state, audio) -> (features, state)``. Audio is fed in
whole frames; a hop's window reaches back into earlier audio (carried in the state), never
ahead, so features of a frame do not depend on how the stream was chunked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.generator import DEFAULT_FPS, SAMPLE_RATE, samples_per_frame

_FLOOR = 1e-10


@dataclass(frozen=True)
class LogMelConfig:
    sample_rate: int = SAMPLE_RATE  # Hz
    n_mels: int = 80  # mel bins
    win: int = 400  # analysis window, samples (25 ms)
    hop: int = 160  # hop, samples (10 ms); must divide the samples of one video frame
    n_fft: int = 512
    f_max: float = 8000.0  # Hz
    pitch_range_hz: tuple[float, float] = (70.0, 400.0)
    voicing_threshold: float = 0.45  # autocorrelation peak above which a frame is voiced

    def __post_init__(self) -> None:
        if self.win > self.n_fft or self.hop <= 0 or self.n_mels <= 0:
            raise ValueError("need 0 < hop, win <= n_fft and n_mels > 0")


@dataclass(frozen=True)
class FrameFeatures:
    """Per-frame features of a chunk of ``n`` frames."""

    log_mel: np.ndarray  # [n, hops_per_frame, n_mels] float32, ln(power)
    energy_db: np.ndarray  # [n] float32, RMS of the frame's own samples in dBFS
    f0_hz: np.ndarray  # [n] float32, 0 where unvoiced
    voicing: np.ndarray  # [n] float32, autocorrelation peak 0..1


@dataclass(frozen=True)
class LogMelState:
    tail: np.ndarray  # [win] float32: the most recent samples, for windows reaching back


def _mel_filters(cfg: LogMelConfig) -> np.ndarray:
    """Triangular HTK mel filterbank ``[n_fft//2+1, n_mels]``."""

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(0.0, mel(np.array(cfg.f_max)), cfg.n_mels + 2))
    freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / np.maximum(mid - lo, 1e-9)
    down = (hi - freqs[None]) / np.maximum(hi - mid, 1e-9)
    return np.maximum(0.0, np.minimum(up, down)).T.astype(np.float32)


class LogMelFrontEnd:
    def __init__(self, config: LogMelConfig | None = None, fps: float = DEFAULT_FPS) -> None:
        self.config = cfg = config or LogMelConfig()
        self.spf = samples_per_frame(fps, cfg.sample_rate)
        if self.spf % cfg.hop:
            raise ValueError(f"hop {cfg.hop} must divide {self.spf} samples per frame")
        self.hops = self.spf // cfg.hop
        self._window = np.hanning(cfg.win + 2)[1:-1].astype(np.float32)
        self._filters = _mel_filters(cfg)
        lo, hi = cfg.pitch_range_hz
        self._lags = (int(cfg.sample_rate / hi), int(cfg.sample_rate / lo))

    def init_state(self) -> LogMelState:
        return LogMelState(tail=np.zeros(self.config.win, np.float32))

    def process(self, state: LogMelState, audio: np.ndarray) -> tuple[FrameFeatures, LogMelState]:
        """Features of ``len(audio) / spf`` whole frames (mono float32 at 16 kHz)."""
        cfg = self.config
        audio = np.asarray(audio, np.float32)
        if audio.ndim != 1 or audio.size % self.spf:
            raise ValueError(f"audio must be whole frames of {self.spf} samples")
        n = audio.size // self.spf
        full = np.concatenate([state.tail, audio])
        # Hop h of the chunk ends at sample (h+1)*hop of the chunk; its window reaches back.
        ends = cfg.win + (np.arange(n * self.hops) + 1) * cfg.hop
        idx = ends[:, None] - cfg.win + np.arange(cfg.win)[None]
        spec = np.fft.rfft(full[idx] * self._window, cfg.n_fft, axis=1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        log_mel = np.log(np.maximum(power @ self._filters, _FLOOR)).reshape(n, self.hops, -1)

        frames = audio.reshape(n, self.spf)
        rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
        energy_db = 20.0 * np.log10(np.maximum(rms, 1e-5))
        f0, voicing = self._pitch(frames)
        tail = full[-cfg.win :].copy()
        tail.flags.writeable = False
        return (
            FrameFeatures(
                log_mel=log_mel.astype(np.float32),
                energy_db=energy_db.astype(np.float32),
                f0_hz=f0,
                voicing=voicing,
            ),
            LogMelState(tail=tail),
        )

    def _pitch(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F0 by the normalised autocorrelation peak within the pitch range, per frame."""
        lo, hi = self._lags
        x = frames - frames.mean(axis=1, keepdims=True)
        nfft = 1 << int(np.ceil(np.log2(2 * x.shape[1])))
        spec = np.fft.rfft(x, nfft, axis=1)
        ac = np.fft.irfft(spec.real**2 + spec.imag**2, nfft, axis=1)[:, : hi + 1]
        norm = np.maximum(ac[:, :1], 1e-12)
        # The lag from the biased autocorrelation, whose taper favours the shortest period
        # (no octave errors at 2T); the strength from the unbiased one (no taper penalty).
        best = np.argmax(ac[:, lo : hi + 1], axis=1)
        unbiased = ac / (x.shape[1] - np.arange(hi + 1))[None] * x.shape[1]
        peak = np.clip(unbiased[np.arange(len(x)), lo + best] / norm[:, 0], 0.0, 1.0)
        f0 = self.config.sample_rate / (lo + best)
        voiced = peak >= self.config.voicing_threshold
        return np.where(voiced, f0, 0.0).astype(np.float32), peak.astype(np.float32)
