"""Measurements on rendered frames with a model independent of every generator: dlib.

The HOG detector runs on a copy scaled to :data:`DETECT_SIDE` pixels (a head-and-shoulders crop
puts the face at ~100 px there, above the detector's ~80 px minimum), the 68-point predictor on
the full frame inside the scaled-back box (so openings keep full-resolution precision), and the
128-d ResNet descriptor on the frames chosen for identity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from models.face import (
    FaceModels,
    detect_faces,
    face_descriptor,
    inner_mouth_opening,
    inter_ocular_distance,
    landmarks68,
)

DETECT_SIDE = 256  # px: the detector's input size


@dataclass
class PixelTrack:
    """Per-frame measurements ``[T]`` of a rendered clip; NaN where a frame was not rendered,
    not measured, or had no face."""

    landmarks: np.ndarray  # [T, 68, 2] pixels
    iod: np.ndarray  # [T] inter-ocular distance, pixels
    opening: np.ndarray  # [T] inner-lip gap over IOD
    descriptors: np.ndarray  # [T, 128]; rows outside the identity sample are NaN
    rendered: np.ndarray  # [T] bool: the frame was rendered and looked at

    @property
    def face_found(self) -> float:
        """Share of rendered frames on which dlib found a face."""
        n = int(self.rendered.sum())
        return float(np.isfinite(self.iod[self.rendered]).sum() / n) if n else math.nan


class FrameMeasurer:
    """dlib on RGB frames: landmarks, mouth opening, identity descriptor."""

    def __init__(self, models: FaceModels | None = None) -> None:
        self.models = models or FaceModels.default()

    def landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """68 landmarks ``[68, 2]`` of the largest face, or ``None`` when dlib finds none."""
        h, w = rgb.shape[:2]
        scale = min(1.0, DETECT_SIDE / max(h, w))
        small = (
            rgb
            if scale == 1.0
            else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        faces = detect_faces(small, upsample=0, models=self.models)
        if not faces:
            faces = detect_faces(small, upsample=1, models=self.models)
        if not faces:
            return None
        box = tuple(v / scale for v in faces[0].box)
        return landmarks68(rgb, (box[0], box[1], box[2], box[3]), models=self.models)

    def descriptor(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """128-d descriptor of the face at ``landmarks``."""
        return face_descriptor(rgb, landmarks, models=self.models)

    def measure(
        self,
        num_frames: int,
        render: Callable[[int], np.ndarray],
        frames: Iterable[int],
        identity_frames: set[int],
        progress: Callable[[], None] | None = None,
    ) -> PixelTrack:
        """Render and measure the listed ``frames`` of a ``num_frames`` clip; descriptors for
        those also in ``identity_frames``. ``render(i)`` returns frame ``i`` as RGB."""
        lm = np.full((num_frames, 68, 2), np.nan)
        iod = np.full(num_frames, np.nan)
        opening = np.full(num_frames, np.nan)
        desc = np.full((num_frames, 128), np.nan)
        rendered = np.zeros(num_frames, bool)
        for i in frames:
            rgb = np.ascontiguousarray(render(i))
            rendered[i] = True
            points = self.landmarks(rgb)
            if points is not None:
                lm[i] = points
                iod[i] = inter_ocular_distance(points)
                opening[i] = inner_mouth_opening(points)
                if i in identity_frames:
                    desc[i] = self.descriptor(rgb, points)
            if progress is not None:
                progress()
        return PixelTrack(lm, iod, opening, desc, rendered)


def sample_frames(num_frames: int, every: int) -> list[int]:
    """Every ``every``-th frame from 0, as a sorted list."""
    return list(range(0, num_frames, max(1, every)))


def window_frames(num_frames: int, fps: float, window_s: float, period_s: float) -> list[int]:
    """Frames in windows of ``window_s`` seconds starting every ``period_s`` seconds (for long
    clips, where rendering and measuring every frame would take longer than it tells)."""
    w, p = max(3, round(window_s * fps)), max(1, round(period_s * fps))
    out: list[int] = []
    for start in range(0, num_frames, p):
        out.extend(range(start, min(num_frames, start + w)))
    return out
