"""Streaming audio front-end of the procedural performer (DESIGN §5): per-frame features and VAD.

Two stages, both streaming with explicit state (``process(state, audio) -> (out, state)``), both
exactly chunk-invariant (every frame sees the same samples and the same recursion, whatever the
chunking):

* :class:`AudioFrontEnd` turns mono float32 audio at 16 kHz into one row of features per video
  frame. Frame ``t`` owns samples ``[t*spf, (t+1)*spf)`` (``spf`` = 640 at 25 fps). Its level is
  measured on those samples alone; its spectrum and periodicity on a longer window that *ends*
  at the frame's last sample and reaches back into earlier audio (the tail is carried in
  :class:`FrontEndState`). Nothing looks ahead.
* :class:`VoiceActivityDetector` gates the features into speech / not speech with an adaptive
  noise floor, tracks the speaker's typical level (so quiet and loud voices are normalised alike),
  adds a hangover, and marks phrase ends (voice for ≥ 0.6 s, then ≥ 250 ms of silence).

Per-frame features (:class:`AudioFeatures`, every field ``[n]`` float64):

``level_db``  RMS of the frame's own samples in dBFS (full-scale sine ≈ -3 dB); floored.
``f1_ratio``  share of the 80 Hz-4 kHz energy that lies in the first-formant band (250-900 Hz):
              high for open vowels /a/, low for close ones /i u/ and for fricatives.
``centroid_hz`` power-weighted centroid of 250-3000 Hz: low (≈400-600) for rounded vowels
              /u o/, whose energy sits in F1 and a low F2; ≈800-1100 for /a e i/.
``f2_hz``     power-weighted centroid of the upper second-formant band (1200-3000 Hz): high
              (≈2000+) for spread vowels /i e/ with a high F2.
``f2_ratio``  share of the 80 Hz-4 kHz energy in that band (how much F2 there is to speak of).
``hf_ratio``  share of 80 Hz-8 kHz energy above 3.5 kHz: sibilants and fricatives /s f ʃ/.
``voicing``   peak of the normalised autocorrelation over F0 lags (70-400 Hz), 0..1: ≈0.9 for a
              steady voiced vowel, ≈0.1-0.2 for noise (hiss, /s/).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.generator import DEFAULT_FPS, SAMPLE_RATE, samples_per_frame

_TINY_POWER = 1e-20  # guards log10 and divisions on digital silence


@dataclass(frozen=True)
class FeatureConfig:
    """Analysis settings of :class:`AudioFrontEnd`."""

    sample_rate: int = SAMPLE_RATE  # Hz; the runtime resamples every stream to this on arrival
    window: int = 1024  # spectral window in samples (64 ms), ends at the frame's last sample
    n_fft: int = 2048  # zero-padded FFT size: ≥ 2·window keeps the autocorrelation linear
    floor_db: float = -100.0  # level reported for digital silence, dBFS
    f1_band_hz: tuple[float, float] = (250.0, 900.0)  # adult first-formant range → jaw opening
    centroid_band_hz: tuple[float, float] = (250.0, 3000.0)  # F1+F2 range: low centroid = rounded
    f2_band_hz: tuple[float, float] = (1200.0, 3000.0)  # upper F2 range: high centroid = spread
    speech_band_hz: tuple[float, float] = (80.0, 4000.0)  # reference for f1_ratio (vowel energy)
    full_band_hz: tuple[float, float] = (80.0, 8000.0)  # reference for hf_ratio (all energy)
    hf_band_hz: tuple[float, float] = (3500.0, 8000.0)  # frication: /s/ peaks at 4-8 kHz
    pitch_range_hz: tuple[float, float] = (70.0, 400.0)  # F0 search range of the voicing measure

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.window < 2:
            raise ValueError("sample_rate must be positive and window at least 2 samples")
        if self.n_fft < 2 * self.window:
            raise ValueError("n_fft must be at least 2 * window (linear autocorrelation)")
        nyquist = self.sample_rate / 2
        for name in (
            "f1_band_hz",
            "centroid_band_hz",
            "f2_band_hz",
            "speech_band_hz",
            "full_band_hz",
            "hf_band_hz",
        ):
            lo, hi = getattr(self, name)
            if not 0 <= lo < hi <= nyquist:
                raise ValueError(f"{name} must satisfy 0 <= lo < hi <= {nyquist}, got {(lo, hi)}")
        f0_lo, f0_hi = self.pitch_range_hz
        if not 0 < f0_lo < f0_hi or self.sample_rate / f0_lo >= self.window:
            raise ValueError(
                f"pitch_range_hz {self.pitch_range_hz} needs 0 < lo < hi and a window longer "
                f"than one period of the lowest F0"
            )


@dataclass(frozen=True)
class AudioFeatures:
    """Per-frame features of a chunk; every field is ``[n]`` float64 (see the module doc)."""

    level_db: np.ndarray
    f1_ratio: np.ndarray
    centroid_hz: np.ndarray
    f2_hz: np.ndarray
    f2_ratio: np.ndarray
    hf_ratio: np.ndarray
    voicing: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.level_db.shape[0])


@dataclass(frozen=True)
class FrontEndState:
    """Streaming state of :class:`AudioFrontEnd`: the last ``window - spf`` samples heard."""

    tail: np.ndarray  # [max(window - spf, 0)] float32, read-only


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


class AudioFrontEnd:
    """Streaming per-frame features at ``fps`` frames per second; vectorised over a chunk."""

    def __init__(self, config: FeatureConfig | None = None, fps: float = DEFAULT_FPS) -> None:
        self.config = config or FeatureConfig()
        cfg = self.config
        self.fps = fps
        self.spf = samples_per_frame(fps, cfg.sample_rate)  # raises when it does not divide
        if cfg.window > 8 * self.spf:
            raise ValueError(f"window {cfg.window} is longer than 8 frames of {self.spf} samples")
        self.tail_len = max(cfg.window - self.spf, 0)
        # Periodic Hann: the usual analysis window; its own autocorrelation divides out the
        # taper's bias on the signal's autocorrelation (Boersma 1993, eq. 9).
        n = np.arange(cfg.window)
        self._hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / cfg.window)
        win_ac = np.fft.irfft(np.abs(np.fft.rfft(self._hann, cfg.n_fft)) ** 2, cfg.n_fft)
        self._lag_lo = max(1, math.floor(cfg.sample_rate / cfg.pitch_range_hz[1]))
        self._lag_hi = math.ceil(cfg.sample_rate / cfg.pitch_range_hz[0])
        # One lag either side of the search range, so interior local maxima can be found.
        lags = slice(self._lag_lo - 1, self._lag_hi + 2)
        self._lags = lags
        self._win_ac = win_ac[lags] / win_ac[0]
        freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate)
        self._freqs = freqs

        def band(lo_hi: tuple[float, float]) -> slice:
            lo, hi = lo_hi
            return slice(int(np.searchsorted(freqs, lo)), int(np.searchsorted(freqs, hi, "right")))

        self._f1 = band(cfg.f1_band_hz)
        self._cen = band(cfg.centroid_band_hz)
        self._f2 = band(cfg.f2_band_hz)
        self._speech = band(cfg.speech_band_hz)
        self._full = band(cfg.full_band_hz)
        self._hf = band(cfg.hf_band_hz)
        self._f2_freqs = freqs[self._f2]
        self._cen_freqs = freqs[self._cen]

    def init_state(self) -> FrontEndState:
        """Silence before the first sample."""
        return FrontEndState(_readonly(np.zeros(self.tail_len, np.float32)))

    def process(
        self, state: FrontEndState, audio: np.ndarray
    ) -> tuple[AudioFeatures, FrontEndState]:
        """Features of ``audio`` (float32 ``[n * spf]`` at ``sample_rate``) → ``[n]`` per field."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or audio.shape[0] % self.spf:
            raise ValueError(f"audio must be [n * {self.spf}] samples, got {audio.shape}")
        n = audio.shape[0] // self.spf
        cfg = self.config
        buf = np.concatenate([state.tail, audio])
        new_tail = _readonly(buf[buf.shape[0] - self.tail_len :].copy())
        if n == 0:
            e = np.zeros(0, np.float64)
            return AudioFeatures(e, e, e, e, e, e, e), FrontEndState(new_tail)

        own = audio.reshape(n, self.spf).astype(np.float64)
        power = np.mean(own * own, axis=1)
        level_db = np.maximum(10.0 * np.log10(power + _TINY_POWER), cfg.floor_db)

        # Window for frame t ends at sample (t+1)*spf of this chunk (buffer index tail + ...).
        offset = self.tail_len + self.spf - cfg.window
        step = buf.strides[0]
        frames = np.lib.stride_tricks.as_strided(
            buf[offset:], shape=(n, cfg.window), strides=(self.spf * step, step), writeable=False
        )  # [n, window] view; row t ends at the frame's last sample
        spec = np.fft.rfft(frames.astype(np.float64) * self._hann, cfg.n_fft, axis=1)
        psd = spec.real**2 + spec.imag**2  # [n, n_fft/2 + 1]

        # Band sums over contiguous bins (row-wise reductions: identical whatever n is).
        e_f1 = psd[:, self._f1].sum(axis=1)
        e_speech = psd[:, self._speech].sum(axis=1) + _TINY_POWER
        e_full = psd[:, self._full].sum(axis=1) + _TINY_POWER
        e_hf = psd[:, self._hf].sum(axis=1)
        centroid_hz, _ = self._centroid(psd[:, self._cen], self._cen_freqs)
        f2_hz, e_f2 = self._centroid(psd[:, self._f2], self._f2_freqs)

        # Normalised autocorrelation (Wiener-Khinchin), corrected for the Hann taper; voicing is
        # the highest *local* maximum in the F0 lag range, so a low hum whose autocorrelation
        # merely decays from lag 0 does not count as voice.
        ac = np.fft.irfft(psd, cfg.n_fft, axis=1)
        r0 = ac[:, :1]
        r = ac[:, self._lags] / np.maximum(r0, _TINY_POWER) / self._win_ac
        interior = r[:, 1:-1]
        peaks = (interior >= r[:, :-2]) & (interior >= r[:, 2:])
        voicing = np.where(peaks, interior, 0.0).max(axis=1)
        voicing = np.where(r0[:, 0] > _TINY_POWER, np.minimum(np.maximum(voicing, 0.0), 1.0), 0.0)

        feats = AudioFeatures(
            level_db=level_db,
            f1_ratio=e_f1 / e_speech,
            centroid_hz=centroid_hz,
            f2_hz=f2_hz,
            f2_ratio=e_f2 / e_speech,
            hf_ratio=e_hf / e_full,
            voicing=voicing,
        )
        return feats, FrontEndState(new_tail)

    @staticmethod
    def _centroid(psd: np.ndarray, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Power-weighted mean frequency ``[n]`` (band middle when silent) and band energy."""
        energy = psd.sum(axis=1)
        mid = 0.5 * (freqs[0] + freqs[-1])
        weighted = (psd * freqs).sum(axis=1)
        centroid = np.where(energy > _TINY_POWER, weighted / np.maximum(energy, _TINY_POWER), mid)
        return centroid, energy


# --- voice activity -------------------------------------------------------------------------


@dataclass(frozen=True)
class VadConfig:
    """Settings of :class:`VoiceActivityDetector`; times in seconds, levels in dBFS."""

    abs_gate_db: float = -60.0  # never speech below this (dither); hiss is told by its voicing
    snr_db: float = 8.0  # speech stands at least this far above the tracked noise floor
    rel_gate_db: float = 35.0  # ... and is gated when more than this below the speech level
    voicing_min: float = 0.4  # periodicity that marks a frame as voiced (noise scores ≈0.1-0.2)
    unvoiced_bridge_s: float = 0.3  # unvoiced sound this close after voicing counts (fricatives)
    noise_init_db: float = -80.0  # initial noise floor
    noise_rise_db_per_s: float = 3.0  # floor creeps up this fast (minimum statistics) ...
    noise_fall: float = 0.5  # ... and falls this fraction of the way per frame toward a quieter one
    noise_below_speech_db: float = 20.0  # floor capped this far under the speech level
    speech_init_db: float = -26.0  # initial speech level: typical dialogue / TTS RMS
    speech_attack_s: float = 0.15  # speech level rises toward louder voiced frames (peak-ish) ...
    speech_release_s: float = 1.5  # ... and sinks toward quieter ones slowly (adapts to a voice)
    hangover_s: float = 0.2  # "active" stays on this long after the last speech frame
    phrase_min_s: float = 0.6  # a phrase is at least this long from first to last speech frame
    phrase_gap_s: float = 0.25  # ... and ends after this much silence

    def __post_init__(self) -> None:
        for name in (
            "snr_db",
            "rel_gate_db",
            "noise_rise_db_per_s",
            "noise_below_speech_db",
            "speech_attack_s",
            "speech_release_s",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("unvoiced_bridge_s", "hangover_s", "phrase_min_s", "phrase_gap_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.noise_fall <= 1:
            raise ValueError(f"noise_fall must be in (0, 1], got {self.noise_fall}")
        if not 0 <= self.voicing_min <= 1:
            raise ValueError(f"voicing_min must be in [0, 1], got {self.voicing_min}")


@dataclass(frozen=True)
class VadState:
    """Streaming state of :class:`VoiceActivityDetector` (levels in dBFS, counts in frames)."""

    noise_db: float
    speech_db: float
    since_voiced: int  # frames since the last periodic frame above the gate
    since_speech: int  # frames since the last speech frame
    phrase_frames: int  # frames from the current phrase's first to last speech frame; -1 = none


@dataclass(frozen=True)
class VadOutput:
    """Per-frame decisions for a chunk; every field ``[n]``.

    ``speech``: frame is speech (above the gate, and voiced or just after voice), bool.
    ``active``: speech, or within the hangover after it, bool.
    ``gate_db``: the level threshold in force, float64 dBFS.
    ``speech_db``: the speaker's tracked typical level after this frame, float64 dBFS.
    ``phrase_end``: this frame completes ``phrase_gap_s`` of silence after a phrase, bool.
    """

    speech: np.ndarray
    active: np.ndarray
    gate_db: np.ndarray
    speech_db: np.ndarray
    phrase_end: np.ndarray


_NEVER = 1 << 30  # "frames since" for something that has not happened


class VoiceActivityDetector:
    """Energy + periodicity VAD with adaptive floor, speech level tracker, hangover, phrase ends.

    A per-frame recursion over Python floats (a few µs per frame); exact under any chunking.
    """

    def __init__(self, config: VadConfig | None = None, fps: float = DEFAULT_FPS) -> None:
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be positive, got {fps}")
        self.config = config or VadConfig()
        self.fps = fps
        cfg = self.config
        dt = 1.0 / fps
        self._noise_rise = cfg.noise_rise_db_per_s * dt
        self._attack = 1.0 - math.exp(-dt / cfg.speech_attack_s)
        self._release = 1.0 - math.exp(-dt / cfg.speech_release_s)
        self._bridge = round(cfg.unvoiced_bridge_s * fps)
        self._hang = round(cfg.hangover_s * fps)
        self._phrase_min = math.ceil(cfg.phrase_min_s * fps - 1e-9)
        self._gap = max(1, math.ceil(cfg.phrase_gap_s * fps - 1e-9))

    def init_state(self) -> VadState:
        cfg = self.config
        return VadState(cfg.noise_init_db, cfg.speech_init_db, _NEVER, _NEVER, -1)

    def process(
        self, state: VadState, level_db: np.ndarray, voicing: np.ndarray
    ) -> tuple[VadOutput, VadState]:
        """Decide ``[n]`` frames from their levels (dBFS) and voicing (0..1)."""
        cfg = self.config
        n = int(level_db.shape[0])
        speech = np.zeros(n, bool)
        active = np.zeros(n, bool)
        phrase_end = np.zeros(n, bool)
        gate_out = np.empty(n, np.float64)
        speech_out = np.empty(n, np.float64)
        noise, sp_db = state.noise_db, state.speech_db
        since_voiced, since_speech, phrase = (
            state.since_voiced,
            state.since_speech,
            state.phrase_frames,
        )
        for i, (lev, voi) in enumerate(zip(level_db.tolist(), voicing.tolist(), strict=True)):
            gate = max(cfg.abs_gate_db, noise + cfg.snr_db, sp_db - cfg.rel_gate_db)
            loud = lev > gate
            voiced = loud and voi >= cfg.voicing_min
            since_voiced = 0 if voiced else min(since_voiced + 1, _NEVER)
            is_speech = loud and since_voiced <= self._bridge
            # Noise floor: minimum statistics (fast down, slow up), never within
            # noise_below_speech_db of the speech level so that speech cannot gate itself.
            if lev < noise:
                noise += cfg.noise_fall * (lev - noise)
            else:
                noise = min(noise + self._noise_rise, lev)
            noise = min(noise, sp_db - cfg.noise_below_speech_db)
            # Speech level follows voiced frames only (hiss never drags it down).
            if voiced:
                sp_db += (self._attack if lev > sp_db else self._release) * (lev - sp_db)
            if is_speech:
                phrase = 0 if phrase < 0 else phrase + since_speech + 1
                since_speech = 0
            else:
                since_speech = min(since_speech + 1, _NEVER)
                if phrase >= 0 and since_speech >= self._gap:
                    phrase_end[i] = phrase + 1 >= self._phrase_min
                    phrase = -1
            speech[i] = is_speech
            active[i] = since_speech <= self._hang
            gate_out[i] = gate
            speech_out[i] = sp_db
        out = VadOutput(speech, active, gate_out, speech_out, phrase_end)
        return out, VadState(noise, sp_db, since_voiced, since_speech, phrase)
