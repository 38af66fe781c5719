"""Motion space: names and order, Live Link Face CSV round trip, resampling keeps timing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from models.motion import (
    CURVE_INDEX,
    CURVE_NAMES,
    NUM_CURVES,
    MotionClip,
    format_timecode,
    idx,
    parse_timecode,
    read_live_link_csv,
    write_live_link_csv,
)


def test_sixty_one_curves_in_live_link_order() -> None:
    assert NUM_CURVES == 61
    assert CURVE_NAMES[0] == "eyeBlinkLeft"
    assert CURVE_NAMES[17] == "jawOpen"
    assert CURVE_NAMES[51] == "tongueOut"
    assert CURVE_NAMES[52:55] == ("headYaw", "headPitch", "headRoll")
    assert CURVE_NAMES[-1] == "rightEyeRoll"
    assert len(set(CURVE_NAMES)) == 61
    assert idx("JAWOPEN") == CURVE_INDEX["jawOpen"]
    with pytest.raises(KeyError):
        idx("notACurve")


def test_timecode_round_trip() -> None:
    for seconds in (0.0, 1.5, 59.999, 3600 + 61.25, 45296.0 + 7 / 60):
        tc = format_timecode(seconds)
        assert abs(parse_timecode(tc) - seconds) < 1e-3, tc
    assert format_timecode(12 * 3600 + 34 * 60 + 56 + 7.5 / 60) == "12:34:56:07.500"


def _smooth_clip(frames: int, fps: float, seed: int = 0) -> MotionClip:
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / fps
    f = rng.uniform(0.2, 1.5, (1, NUM_CURVES))
    curves = 0.5 + 0.4 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (1, NUM_CURVES)))
    curves[:, 52:] = (curves[:, 52:] - 0.5) * 0.6  # radians
    return MotionClip(curves.astype(np.float32), fps)


def test_csv_round_trip(tmp_path: Path) -> None:
    clip = _smooth_clip(120, 25.0)
    path = tmp_path / "take.csv"
    write_live_link_csv(clip, path)
    header = path.read_text().splitlines()[0].split(",")
    assert header[:3] == ["Timecode", "BlendshapeCount", "EyeBlinkLeft"]
    assert len(header) == 2 + 61
    back = read_live_link_csv(path, fps=25.0)
    assert back.num_frames == clip.num_frames
    np.testing.assert_allclose(back.curves, clip.curves, atol=1e-5)


def test_sixty_fps_capture_resampled_keeps_timing(tmp_path: Path) -> None:
    # A 60 fps capture with a single blink peak at exactly 1.0 s, headers in the other casing.
    fps_in, seconds = 60.0, 3.0
    n = int(fps_in * seconds)
    t = np.arange(n) / fps_in
    blink = np.exp(-(((t - 1.0) / 0.05) ** 2))
    yaw_deg = 10.0 * np.sin(2 * np.pi * 0.5 * t)  # degrees, to be detected and converted
    lines = ["Timecode,BlendShapeCount," + ",".join(n_[0].upper() + n_[1:] for n_ in CURVE_NAMES)]
    for i in range(n):
        row = np.zeros(NUM_CURVES)
        row[CURVE_INDEX["eyeBlinkLeft"]] = blink[i]
        row[CURVE_INDEX["headYaw"]] = yaw_deg[i] * 10  # up to 100: clearly degrees
        tc = format_timecode(10 * 3600 + t[i])
        lines.append(f"{tc},61," + ",".join(f"{v:.6f}" for v in row))
    path = tmp_path / "capture60.csv"
    path.write_text("\n".join(lines) + "\n")
    clip = read_live_link_csv(path, fps=25.0)
    assert clip.fps == 25.0
    assert abs(clip.duration - seconds) <= 1 / 25.0
    peak_t = np.argmax(clip.curve("eyeBlinkLeft")) / 25.0
    assert abs(peak_t - 1.0) <= 0.5 / 25.0
    yaw = clip.curve("headYaw")
    assert np.abs(yaw).max() == pytest.approx(math.radians(100.0), rel=0.02)


def test_missing_columns_are_neutral_and_bad_rows_rejected(tmp_path: Path) -> None:
    path = tmp_path / "partial.csv"
    path.write_text(
        "timecode,blendshapecount,jawopen\n00:00:00:00.000,1,0.5\n00:00:00:01.000,1,0.7\n"
    )
    clip = read_live_link_csv(path, fps=60.0)
    assert clip.curve("jawOpen")[0] == pytest.approx(0.5)
    assert np.all(clip.curves[:, CURVE_INDEX["eyeBlinkLeft"]] == 0)
    bad = tmp_path / "bad.csv"
    bad.write_text("Timecode,JawOpen\n00:00:00:00.000,abc\n")
    with pytest.raises(ValueError, match="row 2"):
        read_live_link_csv(bad)
    with pytest.raises(ValueError, match="Timecode"):
        (tmp_path / "x.csv").write_text("a,b\n1,2\n")
        read_live_link_csv(tmp_path / "x.csv")


def test_clip_validates_shape_and_values() -> None:
    with pytest.raises(ValueError):
        MotionClip(np.zeros((4, 60), np.float32))
    with pytest.raises(ValueError):
        MotionClip(np.full((4, 61), np.nan, np.float32))
    clip = _smooth_clip(50, 25.0)
    assert clip.resample(25.0) is clip
    up = clip.resample(50.0)
    assert up.num_frames == 100
    assert abs(up.duration - clip.duration) < 1e-9
