"""Key points placed by hand: a small named set a person can place in a minute, and the fit from
those points to the 68 landmarks the rig is built from.

Detectors find photographed human faces; anime, cartoon, low-poly and animal faces they do not.
For those, a person places :data:`KEYPOINT_NAMES` (eye corners and lid tops/bottoms, brow ends,
nose tip, mouth corners and lip centres, chin, jaw sides and face outline) and
:func:`fit_landmarks` completes the 68-point iBUG layout (:mod:`models.face`), so the rig,
textures and renderer are the same as on the detector path. :func:`keypoints_from_landmarks` goes
the other way (detected landmarks → key points), which pre-fills the set for correction.

The fit: every landmark that is not itself a key point is an *affine combination* of a few
nearby key points, with weights solved once on a mean face (:data:`MEAN_FACE`). Affine
combinations follow any local stretch, shear or rotation of the key points, so big anime eyes,
a tiny drawn mouth or a long cartoon chin each keep their own proportions, while the shape
between key points (the lid curve, the Cupid's bow, the jaw's bulge) comes from the mean face.
Brows, fixed only by their two ends, follow a similarity (their arch scales with their length).

File format (``points.json``; see ``docs/keypoints.md``)::

    {"format": "lpm-keypoints", "version": 1, "image_size": [W, H],
     "points": {"eye_r_outer": [x, y], ...}}

Coordinates are source-image pixels, x right, y down, integer values at pixel centres. ``r`` and
``l`` are the character's own right and left (its right eye is on the image's left).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "lpm-keypoints"
FORMAT_VERSION = 1

# name → (landmarks it stands for (their mean), what a person is told to click).
KEYPOINTS: dict[str, tuple[tuple[int, ...], str]] = {
    "brow_r_outer": ((17,), "outer end of the character's right brow (image left)"),
    "brow_r_inner": ((21,), "inner end of the right brow"),
    "brow_l_inner": ((22,), "inner end of the character's left brow (image right)"),
    "brow_l_outer": ((26,), "outer end of the left brow"),
    "eye_r_outer": ((36,), "outer corner of the right eye"),
    "eye_r_top": ((37, 38), "top of the right eye's opening (upper lid edge, centre)"),
    "eye_r_inner": ((39,), "inner corner of the right eye"),
    "eye_r_bottom": ((40, 41), "bottom of the right eye's opening (lower lid edge, centre)"),
    "eye_l_inner": ((42,), "inner corner of the left eye"),
    "eye_l_top": ((43, 44), "top of the left eye's opening"),
    "eye_l_outer": ((45,), "outer corner of the left eye"),
    "eye_l_bottom": ((46, 47), "bottom of the left eye's opening"),
    "nose_tip": ((30,), "tip of the nose"),
    "mouth_r": ((48,), "right corner of the mouth"),
    "mouth_l": ((54,), "left corner of the mouth"),
    "lip_top": ((51,), "top edge of the upper lip, centre"),
    "lip_upper_inner": ((62,), "bottom edge of the upper lip, centre (where the lips meet)"),
    "lip_lower_inner": ((66,), "top edge of the lower lip, centre (same place if closed)"),
    "lip_bottom": ((57,), "bottom edge of the lower lip, centre"),
    "chin": ((8,), "bottom of the chin"),
    "chin_r": ((6,), "face outline below the right mouth corner"),
    "chin_l": ((10,), "face outline below the left mouth corner"),
    "jaw_r": ((3,), "right side of the jaw, about level with the nose tip"),
    "jaw_l": ((13,), "left side of the jaw, about level with the nose tip"),
    "face_r": ((0,), "right edge of the face at eye level (by the ear)"),
    "face_l": ((16,), "left edge of the face at eye level (by the ear)"),
}
KEYPOINT_NAMES: tuple[str, ...] = tuple(KEYPOINTS)

# The mean of four photographed faces' dlib landmarks (astronaut, Obama, Grace Hopper, Mona
# Lisa from the test portraits), each aligned to eye centres at (∓0.5, 0), averaged with its
# mirror image. Units: inter-ocular distances, x right, y down. Only local shape between key
# points is taken from it, so its exact proportions matter little.
MEAN_FACE = np.array(
    [
        (-1.136, 0.047), (-1.115, 0.349), (-1.077, 0.648), (-1.019, 0.940),
        (-0.914, 1.217), (-0.746, 1.459), (-0.524, 1.657), (-0.281, 1.811),
        (0.000, 1.849), (0.281, 1.811), (0.524, 1.657), (0.746, 1.459),
        (0.914, 1.217), (1.019, 0.940), (1.077, 0.648), (1.115, 0.349),
        (1.136, 0.047), (-0.941, -0.141), (-0.806, -0.283), (-0.607, -0.340),
        (-0.392, -0.323), (-0.202, -0.247), (0.202, -0.247), (0.392, -0.323),
        (0.607, -0.340), (0.806, -0.283), (0.941, -0.141), (0.000, -0.024),
        (0.000, 0.194), (0.000, 0.410), (0.000, 0.621), (-0.257, 0.719),
        (-0.131, 0.761), (0.000, 0.806), (0.131, 0.761), (0.257, 0.719),
        (-0.693, 0.003), (-0.572, -0.068), (-0.427, -0.069), (-0.297, 0.034),
        (-0.436, 0.051), (-0.576, 0.048), (0.297, 0.034), (0.427, -0.069),
        (0.572, -0.068), (0.693, 0.003), (0.576, 0.048), (0.436, 0.051),
        (-0.485, 1.028), (-0.312, 0.987), (-0.134, 0.970), (0.000, 1.004),
        (0.134, 0.970), (0.312, 0.987), (0.485, 1.028), (0.319, 1.193),
        (0.142, 1.278), (0.000, 1.296), (-0.142, 1.278), (-0.319, 1.193),
        (-0.425, 1.043), (-0.134, 1.052), (0.000, 1.072), (0.134, 1.052),
        (0.425, 1.043), (0.137, 1.147), (0.000, 1.171), (-0.137, 1.147),
    ],
    np.float64,
)  # fmt: skip

_SIMILARITY = "similarity"  # marker: the landmark follows a similarity of its two anchors


def _anchors(i: int) -> tuple[str, ...]:
    """The key points landmark ``i`` is built from (it lies among them on the mean face)."""
    outline = {0: "face_r", 3: "jaw_r", 6: "chin_r", 8: "chin", 10: "chin_l", 13: "jaw_l"}
    outline[16] = "face_l"
    if i <= 16:  # the jaw between two outline key points, bulging like the mean face's
        lo = max(j for j in outline if j < i)
        hi = min(j for j in outline if j > i)
        return outline[lo], outline[hi], "nose_tip"
    if 17 <= i <= 21:
        return "brow_r_outer", "brow_r_inner", _SIMILARITY
    if 22 <= i <= 26:
        return "brow_l_inner", "brow_l_outer", _SIMILARITY
    if 27 <= i <= 29:
        return "eye_r_inner", "eye_l_inner", "nose_tip"
    if 31 <= i <= 35:
        return "eye_r_inner", "eye_l_inner", "nose_tip", "lip_top"
    lids = {
        (37, 38): ("eye_r_outer", "eye_r_top", "eye_r_inner"),
        (40, 41): ("eye_r_outer", "eye_r_bottom", "eye_r_inner"),
        (43, 44): ("eye_l_inner", "eye_l_top", "eye_l_outer"),
        (46, 47): ("eye_l_inner", "eye_l_bottom", "eye_l_outer"),
        (49, 50): ("mouth_r", "lip_top", "lip_upper_inner"),
        (52, 53): ("mouth_l", "lip_top", "lip_upper_inner"),
        (58, 59): ("mouth_r", "lip_bottom", "lip_lower_inner"),
        (55, 56): ("mouth_l", "lip_bottom", "lip_lower_inner"),
        (60, 64): ("mouth_r", "mouth_l", "lip_upper_inner", "lip_lower_inner"),
        (61, 63): ("mouth_r", "lip_upper_inner", "mouth_l"),
        (65, 67): ("mouth_r", "lip_lower_inner", "mouth_l"),
    }
    for group, anchors in lids.items():
        if i in group:
            return anchors
    raise KeyError(i)


def _direct() -> dict[int, str]:
    return {idx[0]: name for name, (idx, _) in KEYPOINTS.items() if len(idx) == 1}


def _mean_keypoints() -> dict[str, np.ndarray]:
    return {name: MEAN_FACE[list(idx)].mean(axis=0) for name, (idx, _) in KEYPOINTS.items()}


def _affine_weights(anchors: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weights ``w`` (summing to 1) with ``w @ anchors == target``: minimum-norm when there
    are more than three anchors. ``anchors`` ``[k, 2]``, ``target`` ``[2]``."""
    system = np.vstack([anchors.T, np.ones((1, len(anchors)))])  # [3, k]
    rhs = np.r_[target, 1.0]
    return np.linalg.pinv(system) @ rhs


@dataclass(frozen=True)
class _Recipe:
    landmark: int
    anchors: tuple[str, ...]
    weights: np.ndarray  # [k] affine weights, or the mean-face point for a similarity
    similarity: bool = False


def _recipes() -> tuple[dict[int, str], list[_Recipe]]:
    direct = _direct()
    mean_kp = _mean_keypoints()
    recipes = []
    for i in range(68):
        if i in direct:
            continue
        anchors = _anchors(i)
        if anchors[-1] == _SIMILARITY:
            recipes.append(_Recipe(i, anchors[:2], MEAN_FACE[i].copy(), similarity=True))
        else:
            pts = np.stack([mean_kp[a] for a in anchors])
            recipes.append(_Recipe(i, anchors, _affine_weights(pts, MEAN_FACE[i])))
    return direct, recipes


_DIRECT, _RECIPES = _recipes()
_MEAN_KP = _mean_keypoints()


class KeyPointsError(ValueError):
    """Key points that cannot be used (one readable line)."""


@dataclass(frozen=True)
class KeyPoints:
    """The named key points of one face, in source-image pixels (x right, y down)."""

    points: Mapping[str, tuple[float, float]]
    image_size: tuple[int, int] | None = None  # (width, height) they were placed on, if known

    def array(self) -> np.ndarray:
        """``[len(KEYPOINT_NAMES), 2]`` float64 in :data:`KEYPOINT_NAMES` order."""
        return np.array([self.points[n] for n in KEYPOINT_NAMES], np.float64)

    def to_json(self, image: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
        if image is not None:
            out["image"] = image
        if self.image_size is not None:
            out["image_size"] = [int(self.image_size[0]), int(self.image_size[1])]
        out["points"] = {
            n: [round(float(self.points[n][0]), 2), round(float(self.points[n][1]), 2)]
            for n in KEYPOINT_NAMES
        }
        return out

    def save(self, path: str | Path, image: str | None = None) -> Path:
        path = Path(path)
        data = self.to_json(image)
        points = data.pop("points")
        # One line per field and per point: easy to read and to correct by hand.
        head = "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items())
        lines = [f'    "{n}": [{xy[0]:g}, {xy[1]:g}]' for n, xy in points.items()]
        body = ',\n  "points": {\n' + ",\n".join(lines) + "\n  }\n}\n"
        path.write_text(head + body, encoding="utf-8")
        return path

    def check_image(self, size: tuple[int, int], name: str = "the portrait") -> None:
        """Raise :class:`KeyPointsError` unless the points belong on an image of ``size``
        (width, height): same size as recorded, and every point inside it."""
        w, h = size
        if self.image_size is not None and tuple(self.image_size) != (w, h):
            iw, ih = self.image_size
            raise KeyPointsError(
                f"the key points were placed on a {iw}×{ih} image but {name} is {w}×{h}"
            )
        # A point on the very edge is fine; a little slack for clicks on the border pixel.
        slack = 0.02 * max(w, h)
        for n in KEYPOINT_NAMES:
            x, y = self.points[n]
            if not (-slack <= x <= w - 1 + slack and -slack <= y <= h - 1 + slack):
                raise KeyPointsError(
                    f"key point {n!r} at ({x:.0f}, {y:.0f}) lies outside {name} ({w}×{h})"
                )


def _number_pair(name: str, value: Any, source: str) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise KeyPointsError(
            f"{source}: key point {name!r} must be [x, y] (two numbers), got {value!r}"
        )
    x, y = float(value[0]), float(value[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise KeyPointsError(f"{source}: key point {name!r} is not finite: {value!r}")
    return x, y


def keypoints_from_mapping(data: Any, source: str = "key points") -> KeyPoints:
    """Validate a decoded points document (see the module docstring) into :class:`KeyPoints`.

    Raises :class:`KeyPointsError` naming the problem: wrong format or version, missing or
    unknown names (with the nearest valid name), values that are not two finite numbers,
    swapped sides or a degenerate face.
    """
    if not isinstance(data, dict):
        raise KeyPointsError(f"{source}: expected a JSON object with a 'points' object")
    fmt = data.get("format", FORMAT_NAME)
    if fmt != FORMAT_NAME:
        raise KeyPointsError(f"{source}: format {fmt!r} is not {FORMAT_NAME!r}")
    version = data.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise KeyPointsError(
            f"{source}: key points version {version!r}; this build reads version {FORMAT_VERSION}"
        )
    points = data.get("points")
    if not isinstance(points, dict):
        raise KeyPointsError(f"{source}: no 'points' object (name → [x, y])")
    unknown = sorted(set(points) - set(KEYPOINT_NAMES))
    if unknown:
        bad = unknown[0]
        near = difflib.get_close_matches(str(bad), KEYPOINT_NAMES, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise KeyPointsError(f"{source}: unknown key point {bad!r}{hint}")
    missing = [n for n in KEYPOINT_NAMES if n not in points]
    if missing:
        raise KeyPointsError(
            f"{source}: {len(missing)} key point{'s' if len(missing) > 1 else ''} missing: "
            f"{', '.join(missing)}"
        )
    parsed = {n: _number_pair(n, points[n], source) for n in KEYPOINT_NAMES}
    size = data.get("image_size")
    image_size: tuple[int, int] | None = None
    if size is not None:
        if (
            not isinstance(size, list)
            or len(size) != 2
            or not all(isinstance(v, int) and v > 0 for v in size)
        ):
            raise KeyPointsError(f"{source}: image_size must be [width, height], got {size!r}")
        image_size = (size[0], size[1])
    kp = KeyPoints(parsed, image_size)
    _check_geometry(kp, source)
    return kp


def load_keypoints(path: str | Path) -> KeyPoints:
    """Read a points JSON file; :class:`KeyPointsError` with a one-line reason otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyPointsError(f"{path}: no such key points file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyPointsError(f"{path}: cannot read it ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyPointsError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    return keypoints_from_mapping(data, source=path.name)


def _check_geometry(kp: KeyPoints, source: str) -> None:
    """Catch the mistakes a person makes: sides swapped, everything on one spot, a face upside
    down (the mouth above the eyes)."""
    p = kp.points
    eye_r = (np.add(p["eye_r_outer"], p["eye_r_inner"])) / 2
    eye_l = (np.add(p["eye_l_outer"], p["eye_l_inner"])) / 2
    across = eye_l - eye_r
    iod = float(np.hypot(*across))
    if iod < 2.0:
        raise KeyPointsError(f"{source}: the two eyes are on the same spot ({iod:.1f} px apart)")
    down = np.array([-across[1], across[0]]) / iod
    below = float(np.dot(np.add(p["mouth_r"], p["mouth_l"]) / 2 - (eye_r + eye_l) / 2, down))
    if below <= 0:
        raise KeyPointsError(
            f"{source}: the mouth is not below the eyes as the eye points run; the '_r' points "
            "are the character's right (on the image's LEFT) — are the sides swapped?"
        )
    if float(np.dot(np.subtract(p["chin"], p["nose_tip"]), down)) <= 0:
        raise KeyPointsError(f"{source}: the chin is not below the nose tip")


def keypoints_from_landmarks(
    landmarks: np.ndarray, image_size: tuple[int, int] | None = None
) -> KeyPoints:
    """The key points of a face with 68 ``landmarks`` ``[68, 2]`` (e.g. detected)."""
    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise ValueError(f"expected finite landmarks [68, 2], got {lm.shape}")
    points = {
        name: (float(lm[list(idx)].mean(axis=0)[0]), float(lm[list(idx)].mean(axis=0)[1]))
        for name, (idx, _) in KEYPOINTS.items()
    }
    return KeyPoints(points, image_size)


def fit_landmarks(keypoints: KeyPoints) -> np.ndarray:
    """The 68 landmarks ``float64 [68, 2]`` completed from the key points (module docstring).

    Key points that stand for one landmark are copied; lid landmarks 37/38 (and the other lids)
    are placed on the lid curve through the corners and the lid's top or bottom key point."""
    p = {n: np.asarray(v, np.float64) for n, v in keypoints.points.items()}
    out = np.zeros((68, 2), np.float64)
    for i, name in _DIRECT.items():
        out[i] = p[name]
    for r in _RECIPES:
        if r.similarity:
            a, b = (complex(*p[n]) for n in r.anchors)
            ma, mb = (complex(*_MEAN_KP[n]) for n in r.anchors)
            scale = (b - a) / (mb - ma) if mb != ma else 0j
            z = a + scale * (complex(*r.weights) - ma)
            out[r.landmark] = (z.real, z.imag)
        else:
            out[r.landmark] = r.weights @ np.stack([p[n] for n in r.anchors])
    return out


def template_keypoints(box: tuple[float, float, float, float]) -> KeyPoints:
    """The mean face's key points fitted into ``box`` (left, top, right, bottom): where to
    start when nothing was detected."""
    x0, y0, x1, y1 = box
    pts = _MEAN_KP
    arr = np.stack([pts[n] for n in KEYPOINT_NAMES])
    lo, hi = arr.min(axis=0), arr.max(axis=0)
    scale = min((x1 - x0) / (hi[0] - lo[0]), (y1 - y0) / (hi[1] - lo[1]))
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    mid = (lo + hi) / 2
    placed = {n: tuple(float(v) for v in centre + (pts[n] - mid) * scale) for n in KEYPOINT_NAMES}
    return KeyPoints({n: (xy[0], xy[1]) for n, xy in placed.items()})
