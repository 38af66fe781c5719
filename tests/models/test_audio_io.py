"""Audio loading (WAV flavours, FFmpeg formats), validation, resampling, saving, loudness."""

from __future__ import annotations

import logging
import struct
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from models.audio_io import (
    AudioInputError,
    load_audio,
    loudness_envelope,
    save_wav,
    to_model_rate,
    validate_pcm,
)
from models.generator import SAMPLE_RATE, samples_per_frame


def _tone(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def _write_pcm_wav(path: Path, frames: np.ndarray, rate: int, width: int) -> None:
    """Integer WAV of ``frames`` ``[N, C]`` in -1..1 with ``width`` bytes per sample."""
    if width == 1:
        raw = np.round(frames * 127 + 128).astype(np.uint8).tobytes()
    elif width == 3:
        v = np.round(frames * (2**23 - 1)).astype("<i4").reshape(-1, 1).view(np.uint8)
        raw = v.reshape(-1, 4)[:, :3].tobytes()
    else:
        raw = np.round(frames * (2 ** (8 * width - 1) - 1)).astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(frames.shape[1])
        wf.setsampwidth(width)
        wf.setframerate(rate)
        wf.writeframes(raw)


def _write_float_wav(path: Path, frames: np.ndarray, rate: int) -> None:
    """IEEE-float WAV (format 3), which the stdlib ``wave`` module cannot read."""
    data = frames.astype("<f4").tobytes()
    ch = frames.shape[1]
    fmt = struct.pack("<HHIIHH", 3, ch, rate, rate * ch * 4, ch * 4, 32)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_save_load_round_trip(tmp_path: Path) -> None:
    x = _tone(440, 16_000, 1.0, amp=0.3)
    save_wav(tmp_path / "a.wav", x, 16_000)
    y, rate = load_audio(tmp_path / "a.wav")
    assert rate == 16_000 and y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() <= 1.0 / 32767
    with wave.open(str(tmp_path / "a.wav")) as wf:
        assert (wf.getnchannels(), wf.getsampwidth()) == (1, 2)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_widths_and_channels_average_to_mono(tmp_path: Path, width: int) -> None:
    x = _tone(300, 22_050, 0.5)
    stereo = np.stack([x, 0.5 * x], axis=1)
    _write_pcm_wav(tmp_path / "s.wav", stereo, 22_050, width)
    y, rate = load_audio(tmp_path / "s.wav")
    assert rate == 22_050 and y.shape == x.shape
    step = 2.0 / 2 ** (8 * width)  # one quantisation step
    np.testing.assert_allclose(y, 0.75 * x, atol=2 * step)


def test_float_wav_and_flac_are_read_through_ffmpeg(tmp_path: Path) -> None:
    x = _tone(500, 48_000, 0.5)
    three = np.stack([x, -x, x], axis=1)  # averages to x / 3
    _write_float_wav(tmp_path / "f.wav", three, 48_000)
    y, rate = load_audio(tmp_path / "f.wav")
    assert rate == 48_000
    np.testing.assert_allclose(y, x / 3, atol=1e-6)

    pcm = np.round(x * 32767).astype(np.int16)
    with av.open(str(tmp_path / "t.flac"), "w") as container:
        stream = container.add_stream("flac", rate=48_000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = 48_000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    y, rate = load_audio(tmp_path / "t.flac")
    assert rate == 48_000 and y.shape == x.shape
    np.testing.assert_allclose(y, pcm / 32768.0, atol=1e-6)


def test_bad_files_raise_audio_input_error(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "notes.txt").write_text("not audio at all")
    with pytest.raises(AudioInputError, match=r"notes\.txt"):
        load_audio(tmp_path / "notes.txt")
    (tmp_path / "zero.wav").write_bytes(b"")
    with pytest.raises(AudioInputError, match=r"zero\.wav"):
        load_audio(tmp_path / "zero.wav")
    _write_pcm_wav(tmp_path / "empty.wav", np.zeros((0, 1)), 16_000, 2)
    with pytest.raises(AudioInputError, match="empty"):
        load_audio(tmp_path / "empty.wav")
    _write_pcm_wav(tmp_path / "slow.wav", np.zeros((100, 1)), 4_000, 2)
    with pytest.raises(AudioInputError, match="sample rate"):
        load_audio(tmp_path / "slow.wav")
    for bad in (np.nan, np.inf):
        x = _tone(440, 16_000, 0.1)[:, None].copy()
        x[100] = bad
        _write_float_wav(tmp_path / "bad.wav", x, 16_000)
        with pytest.raises(AudioInputError, match="NaN or Inf"):
            load_audio(tmp_path / "bad.wav")


@pytest.mark.parametrize("rate", [22_050, 44_100, 48_000])
@pytest.mark.parametrize("freq", [440.0, 3_000.0])
def test_resampling_keeps_duration_and_frequency(rate: int, freq: float) -> None:
    x = _tone(freq, rate, 2.0)
    y = to_model_rate(x, rate)
    assert y.dtype == np.float32
    assert abs(len(y) - 2 * SAMPLE_RATE) < samples_per_frame()
    assert abs(len(y) - 2 * SAMPLE_RATE) <= 1
    assert _peak_hz(y, SAMPLE_RATE) == pytest.approx(freq, abs=1.0)
    # A proper resampler: the tone keeps its level (no aliasing or droop at 3 kHz).
    mid = y[1000:-1000]
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resampling_removes_content_above_the_new_nyquist() -> None:
    x = _tone(10_000, 48_000, 1.0)  # above 8 kHz: must vanish, not alias to 6 kHz
    y = to_model_rate(x, 48_000)
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) < 0.01


def test_rate_and_sample_validation(caplog: pytest.LogCaptureFixture) -> None:
    x = _tone(440, 16_000, 0.1)
    assert to_model_rate(x, 16_000) is not None
    np.testing.assert_array_equal(to_model_rate(x, 16_000), x)
    for bad_rate in (1_000, 400_000, 22_050.5):
        with pytest.raises(AudioInputError, match="sample rate"):
            to_model_rate(x, bad_rate)
    with pytest.raises(AudioInputError, match="NaN"):
        to_model_rate(np.array([0.0, np.nan], np.float32), 16_000)
    with pytest.raises(AudioInputError, match="mono"):
        validate_pcm(np.zeros((10, 2), np.float32))
    np.testing.assert_allclose(validate_pcm(np.array([16384, -32768], np.int16)), [0.5, -1.0])
    with caplog.at_level(logging.WARNING, logger="models.audio_io"):
        clipped = validate_pcm(np.array([0.5, 1.5, -2.0], np.float32))
    np.testing.assert_array_equal(clipped, [0.5, 1.0, -1.0])
    assert "clipping" in caplog.text


def test_loudness_envelope_is_rms_per_video_frame() -> None:
    spf = samples_per_frame()
    x = np.zeros(10 * spf + 100, np.float32)  # 10 whole frames and a partial one
    x[3 * spf : 4 * spf] = _tone(500, SAMPLE_RATE, spf / SAMPLE_RATE, amp=0.8)  # 20 cycles
    x[7 * spf : 8 * spf] = 0.25
    env = loudness_envelope(x, SAMPLE_RATE, fps=25)
    assert env.shape == (10,)
    assert env[3] == pytest.approx(0.8 / np.sqrt(2), rel=1e-3)
    assert env[7] == pytest.approx(0.25, rel=1e-6)
    assert np.all(np.delete(env, [3, 7]) < 1e-6)
    # At another rate and frame rate the frames still span 1/fps seconds each.
    assert loudness_envelope(np.ones(44_100), 44_100, fps=30).shape == (30,)
