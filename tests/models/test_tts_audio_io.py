"""Speech synthesis through the espeak-ng library, and audio loading/resampling."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from models.audio_io import (
    AudioInputError,
    load_audio,
    loudness_envelope,
    save_wav,
    to_model_rate,
)
from models.tts import SpeechSynthesisError, synthesize


def test_speech_has_audio_and_timings() -> None:
    s = synthesize("Follow the coast road north, past the harbour.", sample_rate=16_000)
    assert s.sample_rate == 16_000
    assert 1.0 < s.duration < 6.0
    rms = float(np.sqrt(np.mean(s.samples**2)))
    assert 0.02 < rms < 0.5
    assert [w.text for w in s.words][:3] == ["Follow", "the", "coast"]
    starts = [p.start for p in s.phonemes]
    assert len(starts) > 20 and starts == sorted(starts) and starts[-1] <= s.duration + 0.005
    # The words' timings line up with where the audio actually has energy.
    env = loudness_envelope(s.samples, 16_000)
    for w in s.words[1:]:
        frame = int(w.start * 25)
        assert env[frame : frame + 8].max() > 0.02, w


def test_voices_differ_and_errors_are_clear() -> None:
    a = synthesize("Hello there.", voice="en-us")
    b = synthesize("Hello there.", voice="en-us+f3", pitch=70)
    assert a.samples.shape != b.samples.shape or not np.allclose(a.samples, b.samples)
    with pytest.raises(SpeechSynthesisError, match="voice"):
        synthesize("Hello.", voice="xx-nothing")
    with pytest.raises(SpeechSynthesisError, match="no text"):
        synthesize("   ")
    # Voice settings do not leak between calls (espeak-ng's noise sources vary a few samples).
    again = synthesize("Hello there.", voice="en-us")
    assert abs(again.duration - a.duration) < 0.01


@pytest.mark.parametrize("rate", [22_050, 44_100, 48_000])
def test_resampling_keeps_duration_and_pitch(rate: int) -> None:
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    out = to_model_rate(tone, rate)
    assert abs(len(out) - 32_000) <= 1
    spectrum = np.abs(np.fft.rfft(out))
    peak_hz = np.argmax(spectrum) * 16_000 / len(out)
    assert abs(peak_hz - 440.0) < 1.0


def test_wav_round_trip_stereo_and_bad_files(tmp_path: Path) -> None:
    x = (0.3 * np.sin(np.linspace(0, 200, 16_000))).astype(np.float32)
    save_wav(tmp_path / "a.wav", x, 16_000)
    y, rate = load_audio(tmp_path / "a.wav")
    assert rate == 16_000 and np.abs(y - x).max() < 1e-4
    stereo = np.stack([x, -x * 0 + x], 1)
    with wave.open(str(tmp_path / "s.wav"), "wb") as wf:
        wf.setnchannels(2)
        wf.setsampwidth(2)
        wf.setframerate(48_000)
        wf.writeframes((stereo * 32767).astype("<i2").tobytes())
    mono, rate = load_audio(tmp_path / "s.wav")
    assert rate == 48_000 and mono.shape == (16_000,)
    (tmp_path / "n.txt").write_text("not audio at all")
    with pytest.raises(AudioInputError, match=r"n\.txt"):
        load_audio(tmp_path / "n.txt")
    with pytest.raises(AudioInputError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioInputError, match="NaN"):
        to_model_rate(np.array([0.0, np.nan], np.float32), 16_000)
    with pytest.raises(AudioInputError, match="sample rate"):
        to_model_rate(x, 1_000)
