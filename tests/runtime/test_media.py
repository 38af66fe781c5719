"""MP4 writing with audio, read back and probed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime.media import Mp4Writer, contact_sheet, probe, read_mp4_frames


def test_mp4_round_trip_with_audio(tmp_path: Path) -> None:
    frames = []
    for i in range(50):
        f = np.zeros((64, 96, 3), np.uint8)
        f[:, : 2 * i] = (200, 120, 40)
        frames.append(f)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(32_000) / 16_000)).astype(np.float32)
    path = tmp_path / "clip.mp4"
    with Mp4Writer(path, fps=25.0, audio=tone, sample_rate=16_000) as w:
        for f in frames:
            w.write(f)
    info = probe(path)
    assert info["video_fps"] == pytest.approx(25.0)
    assert info["video_frames"] == 50
    assert abs(info["video_duration"] - info["audio_duration"]) <= 0.04
    back = list(read_mp4_frames(path))
    assert len(back) == 50
    err = np.mean(
        [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, back, strict=True)]
    )
    assert err < 6.0
    with pytest.raises(ValueError, match="even"):
        Mp4Writer(tmp_path / "odd.mp4").write(np.zeros((63, 64, 3), np.uint8))


def test_contact_sheet_layout() -> None:
    imgs = [np.full((100, 80, 3), i * 30, np.uint8) for i in range(7)]
    sheet = contact_sheet(imgs, [f"#{i}" for i in range(7)], columns=3, cell_size=60)
    assert sheet.shape[1] == 180 and sheet.shape[0] % 3 == 0 and sheet.ndim == 3
