"""Streaming log-mel, energy and pitch: chunking invariance and physical sense."""

from __future__ import annotations

import numpy as np

from models.logmel import LogMelConfig, LogMelFrontEnd, _mel_filters

SR = 16_000


def _stream(fe: LogMelFrontEnd, audio: np.ndarray, frames_per_chunk: int) -> np.ndarray:
    state = fe.init_state()
    out = []
    step = frames_per_chunk * fe.spf
    for i in range(0, audio.size, step):
        feats, state = fe.process(state, audio[i : i + step])
        out.append(feats.log_mel)
    return np.concatenate(out)


def test_chunking_does_not_change_features() -> None:
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(24 * 640)).astype(np.float32)
    fe = LogMelFrontEnd()
    whole = _stream(fe, audio, 24)
    assert whole.shape == (24, 4, 80)
    for chunk in (1, 3, 8):
        np.testing.assert_allclose(_stream(fe, audio, chunk), whole, rtol=1e-5, atol=1e-4)


def test_a_tone_lights_the_mel_bin_of_its_frequency() -> None:
    fe = LogMelFrontEnd()
    t = np.arange(10 * 640) / SR
    filters = _mel_filters(LogMelConfig())
    freqs = np.fft.rfftfreq(512, 1 / SR)
    for hz in (300.0, 1000.0, 4000.0):
        tone = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
        feats, _ = fe.process(fe.init_state(), tone)
        loudest = int(np.argmax(feats.log_mel[5:].mean(axis=(0, 1))))
        expected = int(np.argmax(filters[np.argmin(np.abs(freqs - hz))]))
        assert abs(loudest - expected) <= 1


def test_energy_and_pitch_of_a_voiced_sound_and_of_silence() -> None:
    fe = LogMelFrontEnd()
    t = np.arange(10 * 640) / SR
    f0 = 180.0
    voiced = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)).astype(np.float32) * 0.3
    feats, _ = fe.process(fe.init_state(), voiced)
    assert np.all(np.abs(feats.f0_hz - f0) < 8)
    assert np.all(feats.voicing > 0.8)
    quiet, _ = fe.process(fe.init_state(), np.zeros(640 * 4, np.float32))
    assert np.all(quiet.f0_hz == 0) and np.all(quiet.energy_db <= -99)
    assert feats.energy_db.min() > quiet.energy_db.max() + 60
