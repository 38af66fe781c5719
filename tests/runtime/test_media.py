"""MP4 writing with audio (streamed, probed, read back), contact sheets and PNGs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from runtime import media
from runtime.media import (
    Mp4Writer,
    contact_sheet,
    probe,
    read_mp4_frames,
    save_png,
    write_mp4,
)

FPS = 25.0
RATE = 16_000


def _frame(i: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth gradient with a bar that moves one step per frame (codec-friendly content)."""
    y, x = np.mgrid[0:h, 0:w]
    f = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 90)], axis=2).astype(np.uint8)
    f[:, (2 * i) % w : (2 * i) % w + 8] = (230, 200, 40)
    return f


def _tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        parts = [f.to_ndarray()[0] for f in container.decode(stream)]
        return np.concatenate(parts), stream.rate


def test_two_second_clip_with_tone_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    pulled: list[int] = []
    reported: list[int] = []

    def frames() -> Iterator[np.ndarray]:
        for i in range(50):
            # Streaming: frame i is drawn only after frame i-1 was written.
            assert len(reported) == i
            pulled.append(i)
            yield _frame(i)

    n = write_mp4(
        path, frames(), fps=FPS, audio=_tone(2.0), sample_rate=RATE, progress=reported.append
    )
    assert n == 50 and reported == list(range(1, 51)) and len(pulled) == 50

    info = probe(path)
    assert info["video_fps"] == pytest.approx(25.0)
    assert info["video_frames"] == 50
    assert (info["width"], info["height"]) == (128, 96)
    assert info["audio_sample_rate"] == RATE
    assert info["video_duration"] == pytest.approx(2.0, abs=0.04)
    assert abs(info["video_duration"] - info["audio_duration"]) <= 0.04

    back = list(read_mp4_frames(path))
    assert len(back) == 50 and back[0].shape == (96, 128, 3) and back[0].dtype == np.uint8
    errors = [np.abs(a.astype(int) - _frame(i).astype(int)).mean() for i, a in enumerate(back)]
    assert max(errors) < 4.0
    # The bar really moves: frame 10 read back matches frame 10, not frame 0.
    assert np.abs(back[10].astype(int) - _frame(0).astype(int)).mean() > 3 * errors[10]

    audio, rate = _decoded_audio(path)
    assert rate == RATE
    mid = audio[RATE // 4 : RATE + RATE // 4]  # away from the encoder's start-up
    peak_hz = np.argmax(np.abs(np.fft.rfft(mid * np.hanning(len(mid))))) * RATE / len(mid)
    assert peak_hz == pytest.approx(440.0, abs=2.0)
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)


@pytest.mark.parametrize("audio_seconds", [1.3, 3.0])
def test_audio_is_fitted_to_the_video_length(tmp_path: Path, audio_seconds: float) -> None:
    path = tmp_path / "fit.mp4"
    with Mp4Writer(path, fps=FPS, audio=_tone(audio_seconds), sample_rate=RATE) as writer:
        for i in range(38):  # 1.52 s
            writer.write(np.dstack([_frame(i), np.full((96, 128), 255, np.uint8)]))  # RGBA
    info = probe(path)
    assert info["video_frames"] == 38
    assert info["video_duration"] == pytest.approx(1.52, abs=0.04)
    assert abs(info["video_duration"] - info["audio_duration"]) <= 0.04


def test_fallback_codecs_keep_streams_in_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a PyAV build without libx264 or AAC would use.
    monkeypatch.setattr(media, "VIDEO_CODECS", ("mpeg4",))
    monkeypatch.setattr(media, "AUDIO_CODECS", ("libmp3lame",))
    path = tmp_path / "fallback.mp4"
    write_mp4(path, (_frame(i) for i in range(50)), audio=_tone(2.0), sample_rate=RATE)
    info = probe(path)
    assert (info["video_codec"], info["audio_codec"]) == ("mpeg4", "mp3")
    assert info["video_frames"] == 50
    assert abs(info["video_duration"] - info["audio_duration"]) <= 0.04
    back = list(read_mp4_frames(path))
    assert np.abs(back[20].astype(int) - _frame(20).astype(int)).mean() < 6.0


def test_video_without_audio_and_other_frame_rates(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    write_mp4(path, (_frame(i, 64, 64) for i in range(30)), fps=30.0)
    info = probe(path)
    assert "audio_duration" not in info
    assert info["video_fps"] == pytest.approx(30.0)
    assert info["video_frames"] == 30
    assert info["video_duration"] == pytest.approx(1.0, abs=1 / 30)


def test_bad_frames_are_rejected_and_leave_no_file(tmp_path: Path) -> None:
    odd = tmp_path / "odd.mp4"
    with pytest.raises(ValueError, match="even"), Mp4Writer(odd) as writer:
        writer.write(np.zeros((63, 64, 3), np.uint8))
    assert not odd.exists()

    changed = tmp_path / "changed.mp4"
    with pytest.raises(ValueError, match="size changed"), Mp4Writer(changed) as writer:
        writer.write(np.zeros((64, 64, 3), np.uint8))
        writer.write(np.zeros((64, 32, 3), np.uint8))
    assert not changed.exists()

    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "float.mp4", [np.zeros((64, 64, 3), np.float32)])
    with pytest.raises(ValueError, match="no frames"):
        write_mp4(tmp_path / "none.mp4", [])


def test_contact_sheet_layout_and_labels() -> None:
    imgs = [np.full((100, 80, 3), 40 + i * 20, np.uint8) for i in range(7)]
    imgs[6] = np.full((100, 80, 4), 200, np.uint8)  # RGBA is accepted
    labels = [f"#{i}" for i in range(6)] + ["a much longer label that has to wrap"]
    sheet = contact_sheet(imgs, labels, columns=3, cell_size=60)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3 and sheet.shape[2] == 3
    assert sheet.shape[1] == 3 * 60
    rows = 3
    cell_h = sheet.shape[0] // rows
    assert sheet.shape[0] == rows * cell_h and cell_h > 75  # 75 px image + a label strip
    # Images sit at the top of each cell; the strip under them holds light text.
    assert sheet[10, 70, 0] == 60  # image 1
    strip = sheet[75:cell_h, 60:120]
    assert (strip > 180).any()
    # The empty cells of the last row stay black.
    assert not sheet[2 * cell_h :, 60:].any()
    unlabelled = contact_sheet(imgs, None, columns=3, cell_size=60)
    assert unlabelled.shape == (3 * 75, 180, 3)
    # The long label wrapped onto more lines than a short one needs.
    one_line = contact_sheet(imgs[:1], ["x"], columns=1, cell_size=60)
    assert cell_h > one_line.shape[0] > 75
    with pytest.raises(ValueError, match="labels"):
        contact_sheet(imgs, ["one"], columns=3)


def test_save_png_round_trip(tmp_path: Path) -> None:
    img = _frame(3)
    save_png(tmp_path / "a.png", img)
    back = cv2.cvtColor(cv2.imread(str(tmp_path / "a.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(back, img)
