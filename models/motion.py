"""The motion space: 61 ARKit / Live Link Face curves per frame (DESIGN §4).

Curves are stored in **Live Link Face CSV column order** and named in ARKit camelCase inside the
project (``eyeBlinkLeft`` …). The first 52 are blendshapes in ``[0, 1]``; the last 9 are head and
eye rotations in radians.

Rotation conventions (ARKit face-anchor frame: +x toward the viewer's right, +y up, +z toward the
viewer):

* ``headYaw`` > 0 turns the face toward the viewer's right, ``headPitch`` > 0 tilts it down (a
  nod), ``headRoll`` > 0 rolls it counter-clockwise on screen.
* ``*EyeYaw`` > 0 looks toward the viewer's right, ``*EyePitch`` > 0 looks down.

A :class:`MotionClip` holds ``curves`` of shape ``[T, 61]`` at ``fps`` frames per second.
Live Link Face CSV files are read and written with :func:`read_live_link_csv` and
:func:`write_live_link_csv`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Live Link Face CSV column order, in ARKit camelCase.
CURVE_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft",
    "eyeLookDownLeft",
    "eyeLookInLeft",
    "eyeLookOutLeft",
    "eyeLookUpLeft",
    "eyeSquintLeft",
    "eyeWideLeft",
    "eyeBlinkRight",
    "eyeLookDownRight",
    "eyeLookInRight",
    "eyeLookOutRight",
    "eyeLookUpRight",
    "eyeSquintRight",
    "eyeWideRight",
    "jawForward",
    "jawRight",
    "jawLeft",
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthRight",
    "mouthLeft",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "noseSneerLeft",
    "noseSneerRight",
    "tongueOut",
    "headYaw",
    "headPitch",
    "headRoll",
    "leftEyeYaw",
    "leftEyePitch",
    "leftEyeRoll",
    "rightEyeYaw",
    "rightEyePitch",
    "rightEyeRoll",
)
NUM_CURVES = len(CURVE_NAMES)
NUM_BLENDSHAPES = 52
CURVE_INDEX: dict[str, int] = {name: i for i, name in enumerate(CURVE_NAMES)}
ROTATION_NAMES = CURVE_NAMES[NUM_BLENDSHAPES:]

# Physical range per curve: blendshapes 0..1; head rotations ±45°; eye rotations ±30°.
_HEAD_LIMIT = math.radians(45.0)
_EYE_LIMIT = math.radians(30.0)
CURVE_MIN = np.array(
    [0.0] * NUM_BLENDSHAPES + [-_HEAD_LIMIT] * 3 + [-_EYE_LIMIT] * 6, dtype=np.float32
)
CURVE_MAX = np.array(
    [1.0] * NUM_BLENDSHAPES + [_HEAD_LIMIT] * 3 + [_EYE_LIMIT] * 6, dtype=np.float32
)
# Neutral pose: every blendshape relaxed, head and eyes straight ahead.
NEUTRAL = np.zeros(NUM_CURVES, dtype=np.float32)

# Live Link Face writes its timecode at the capture app's rate (60 fps by default).
LIVE_LINK_TIMECODE_RATE = 60.0
# A rotation column whose magnitude exceeds this many radians is taken to be in degrees.
_DEGREE_DETECT_THRESHOLD = math.pi

assert NUM_CURVES == 61


def idx(name: str) -> int:
    """Index of a curve by its ARKit camelCase name (case-insensitive)."""
    try:
        return CURVE_INDEX[name]
    except KeyError:
        lowered = {n.lower(): i for n, i in CURVE_INDEX.items()}
        if name.lower() in lowered:
            return lowered[name.lower()]
        raise KeyError(f"unknown curve {name!r}; expected one of the 61 ARKit names") from None


def clamp_curves(curves: np.ndarray) -> np.ndarray:
    """Clip curves ``[..., 61]`` into their physical ranges."""
    return np.clip(curves, CURVE_MIN, CURVE_MAX).astype(np.float32, copy=False)


@dataclass(frozen=True)
class MotionClip:
    """A stretch of performance: ``curves`` ``[T, 61]`` float32 sampled at ``fps``."""

    curves: np.ndarray
    fps: float = 25.0

    def __post_init__(self) -> None:
        curves = np.asarray(self.curves, dtype=np.float32)
        if curves.ndim != 2 or curves.shape[1] != NUM_CURVES:
            raise ValueError(f"curves must be [T, {NUM_CURVES}], got {curves.shape}")
        if not np.isfinite(curves).all():
            raise ValueError("curves contain NaN or Inf")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"fps must be positive, got {self.fps}")
        object.__setattr__(self, "curves", curves)

    @property
    def num_frames(self) -> int:
        return int(self.curves.shape[0])

    @property
    def duration(self) -> float:
        """Seconds covered by the clip (frame ``i`` covers ``[i/fps, (i+1)/fps)``)."""
        return self.num_frames / self.fps

    def times(self) -> np.ndarray:
        """Timestamp of each frame in seconds, ``[T]``."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def curve(self, name: str) -> np.ndarray:
        return self.curves[:, idx(name)]

    def resample(self, fps: float) -> MotionClip:
        """Linear resampling onto a new frame rate, keeping timing (frame i at i/fps seconds)."""
        if fps == self.fps:
            return self
        return resample_curves(self.curves, self.times(), fps)


def resample_curves(curves: np.ndarray, times: np.ndarray, fps: float) -> MotionClip:
    """Resample curves ``[T, 61]`` observed at ``times`` (seconds, increasing) onto a uniform grid.

    The output grid starts at ``times[0]`` and covers the same duration; each output frame is the
    linear interpolation of its two neighbours in time.
    """
    if curves.shape[0] == 0:
        return MotionClip(np.zeros((0, NUM_CURVES), np.float32), fps)
    if curves.shape[0] == 1:
        return MotionClip(curves.astype(np.float32), fps)
    t0 = float(times[0])
    # The source clip spans its last sample plus one source frame period.
    step = float(np.median(np.diff(times)))
    span = float(times[-1] - t0) + step
    n_out = max(1, round(span * fps))
    t_out = t0 + np.arange(n_out, dtype=np.float64) / fps
    out = np.empty((n_out, NUM_CURVES), dtype=np.float32)
    for c in range(NUM_CURVES):
        out[:, c] = np.interp(t_out, times, curves[:, c])
    return MotionClip(out, fps)


def format_timecode(seconds: float, rate: float = LIVE_LINK_TIMECODE_RATE) -> str:
    """Live Link Face timecode ``HH:MM:SS:FF.sss`` where FF counts frames at ``rate``."""
    whole = math.floor(seconds)
    frames_exact = (seconds - whole) * rate
    ff = math.floor(frames_exact + 1e-6)
    sub = max(0.0, frames_exact - ff)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{round(sub * 1000):03d}"


def parse_timecode(text: str, rate: float = LIVE_LINK_TIMECODE_RATE) -> float:
    """Seconds from a ``HH:MM:SS:FF[.sub]`` timecode counted at ``rate`` frames per second."""
    parts = text.strip().split(":")
    if len(parts) != 4:
        raise ValueError(f"bad timecode {text!r}: expected HH:MM:SS:FF.sub")
    h, m, s = int(parts[0]), int(parts[1]), int(parts[2])
    frame_field = parts[3]
    if "." in frame_field:
        ff_text, sub_text = frame_field.split(".", 1)
        sub = float("0." + sub_text) if sub_text else 0.0
    else:
        ff_text, sub = frame_field, 0.0
    return h * 3600 + m * 60 + s + (int(ff_text) + sub) / rate


def read_live_link_csv(
    path: str | Path,
    fps: float = 25.0,
    timecode_rate: float = LIVE_LINK_TIMECODE_RATE,
) -> MotionClip:
    """Read a Live Link Face CSV capture and resample it to ``fps``.

    Headers are matched case-insensitively (``BlendShapeCount`` and ``BlendshapeCount`` both
    occur). Missing curve columns are filled with neutral values; rotation columns holding
    degrees (any magnitude above π) are converted to radians. The output's first frame is the
    capture's first timecode.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty CSV") from None
        rows = [row for row in reader if row and any(cell.strip() for cell in row)]
    lower = [h.strip().lower() for h in header]
    if "timecode" not in lower:
        raise ValueError(f"{path}: no Timecode column; not a Live Link Face CSV")
    tc_col = lower.index("timecode")
    column_of = {name: lower.index(name.lower()) for name in CURVE_NAMES if name.lower() in lower}
    if not column_of:
        raise ValueError(f"{path}: none of the 61 ARKit curve columns found")
    times = np.empty(len(rows), dtype=np.float64)
    curves = np.tile(NEUTRAL, (len(rows), 1))
    for r, row in enumerate(rows):
        try:
            times[r] = parse_timecode(row[tc_col], timecode_rate)
            for name, col in column_of.items():
                curves[r, CURVE_INDEX[name]] = float(row[col])
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{path}: row {r + 2}: {exc}") from None
    if not np.isfinite(curves).all():
        raise ValueError(f"{path}: NaN or Inf values")
    for name in ROTATION_NAMES:
        c = CURVE_INDEX[name]
        if name in column_of and np.abs(curves[:, c]).max(initial=0.0) > _DEGREE_DETECT_THRESHOLD:
            curves[:, c] = np.radians(curves[:, c])
    order = np.argsort(times, kind="stable")
    times, curves = times[order], curves[order]
    # Captures that cross midnight or were stitched are not handled: timecodes must increase.
    keep = np.concatenate([[True], np.diff(times) > 0])
    times, curves = times[keep], curves[keep]
    return resample_curves(curves, times, fps)


def write_live_link_csv(
    clip: MotionClip,
    path: str | Path,
    start_seconds: float = 0.0,
    timecode_rate: float = LIVE_LINK_TIMECODE_RATE,
) -> None:
    """Write a clip as Live Link Face CSV (Timecode, BlendshapeCount, 61 PascalCase columns)."""
    header = ["Timecode", "BlendshapeCount", *(n[0].upper() + n[1:] for n in CURVE_NAMES)]
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i, row in enumerate(clip.curves):
            tc = format_timecode(start_seconds + i / clip.fps, timecode_rate)
            writer.writerow([tc, NUM_CURVES, *(f"{v:.6f}" for v in row)])
