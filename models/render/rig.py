"""The per-character face rig: control points, triangulation and one displacement per curve.

Built once at asset preparation from dlib's 68 landmarks. The rig is what lets 61 ARKit curves
move a 2-D portrait:

* ``points`` ``[P, 2]`` — control points in asset pixels (x right, y down): the 68 landmarks,
  plus forehead rows, lid creases, under-eye skin, cheeks, nasolabial folds, chin, a ring outside
  the jaw and fixed border points.
* ``triangles`` ``[K, 3]`` — a constrained Delaunay triangulation of the points with the lip and
  eye outlines as edges, so the lips and lids separate cleanly.
* ``deltas`` ``[61, P, 2]`` — the displacement of every control point per unit of each curve,
  in pixels. Expression displacements are authored in a face frame scaled by the inter-ocular
  distance (IOD), so they fit any face size; lid travel is measured from this face's own lids.
  Head rotations (``headYaw/Pitch/Roll``) move points by a depth model (ellipsoid head + nose);
  eye rotations move no points (the renderer shifts the irises).
* ``depth`` ``[P]`` — distance in pixels in front of the head's vertical axis (for yaw/pitch).

Displacement is linear in ``curves - rest_curves``: the portrait's own expression is the rest pose,
so a smiling portrait closes its mouth with ``jawOpen`` below its rest value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import triangle

from models.motion import CURVE_INDEX, NUM_CURVES

# dlib 68-point landmark indices (0-based). "R" = the character's right = image left.
JAW = np.arange(0, 17)
BROW_R = np.arange(17, 22)
BROW_L = np.arange(22, 27)
NOSE_BRIDGE = np.arange(27, 31)
NOSE_BASE = np.arange(31, 36)
EYE_R = np.arange(36, 42)  # 36 outer corner, 37-38 upper lid, 39 inner corner, 40-41 lower lid
EYE_L = np.arange(42, 48)  # 42 inner corner, 43-44 upper lid, 45 outer corner, 46-47 lower lid
OUTER_LIPS = np.arange(48, 60)  # 48 right corner, 49-53 upper, 54 left corner, 55-59 lower
INNER_LIPS = np.arange(60, 68)  # 60 right corner, 61-63 upper, 64 left corner, 65-67 lower
NOSE_TIP = 30
CHIN = 8

# Upper-lid landmark -> the lower-lid landmark below it.
_LID_PAIRS_R = ((37, 41), (38, 40))
_LID_PAIRS_L = ((43, 47), (44, 46))


@dataclass(frozen=True)
class FaceFrame:
    """Orthonormal face frame: origin between the eyes, ``ex`` toward image right along the eye
    line, ``ey`` down the face; ``iod`` = inter-ocular distance in pixels (eye centre to eye
    centre)."""

    origin: np.ndarray
    ex: np.ndarray
    ey: np.ndarray
    iod: float

    @staticmethod
    def from_landmarks(lm: np.ndarray) -> FaceFrame:
        eye_r = lm[EYE_R].mean(axis=0)
        eye_l = lm[EYE_L].mean(axis=0)
        ex = eye_l - eye_r
        iod = float(np.linalg.norm(ex))
        if iod < 1e-3:
            raise ValueError("degenerate landmarks: both eyes at the same place")
        ex = ex / iod
        ey = np.array([-ex[1], ex[0]])
        return FaceFrame((eye_r + eye_l) / 2, ex, ey, iod)

    def vec(self, u: float, v: float) -> np.ndarray:
        """Pixel vector of ``u`` IOD to the image right and ``v`` IOD down the face."""
        return (u * self.ex + v * self.ey) * self.iod


@dataclass(frozen=True)
class FaceRig:
    """Control points, triangles, per-curve displacements and depth (see module docstring)."""

    points: np.ndarray  # [P, 2] float32, asset pixels
    triangles: np.ndarray  # [K, 3] int32
    deltas: np.ndarray  # [61, P, 2] float32, pixels per unit curve
    depth: np.ndarray  # [P] float32, pixels in front of the head axis
    groups: dict[str, np.ndarray] = field(default_factory=dict)  # named point index sets
    head_center: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    head_radii: np.ndarray = field(default_factory=lambda: np.ones(2, np.float32))
    neck_pivot: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    iod: float = 1.0

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])

    def posed_points(self, delta_curves: np.ndarray) -> np.ndarray:
        """Control point positions ``[P, 2]`` for curve offsets from rest ``[61]``."""
        return self.points + np.tensordot(delta_curves, self.deltas, axes=(0, 0))


def _lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return a + (b - a) * t


class _PointSet:
    """Accumulates named control points."""

    def __init__(self, landmarks: np.ndarray) -> None:
        self.pts: list[np.ndarray] = [p.astype(np.float64) for p in landmarks]
        self.groups: dict[str, list[int]] = {}

    def add(self, group: str, p: np.ndarray) -> int:
        self.pts.append(np.asarray(p, np.float64))
        i = len(self.pts) - 1
        self.groups.setdefault(group, []).append(i)
        return i


def _separate_inner_lips(lm: np.ndarray, min_gap: float) -> np.ndarray:
    """Pull coincident upper/lower inner-lip landmarks apart so the outline is a valid polygon."""
    lm = lm.copy()
    frame = FaceFrame.from_landmarks(lm)
    for up, lo in ((61, 67), (62, 66), (63, 65)):
        gap = float(np.dot(lm[lo] - lm[up], frame.ey))
        if gap < min_gap:
            shift = (min_gap - gap) / 2
            lm[up] -= frame.ey * shift
            lm[lo] += frame.ey * shift
    return lm


def build_rig(landmarks: np.ndarray, size: tuple[int, int]) -> FaceRig:
    """Build the rig for a face with 68 ``landmarks`` ``[68, 2]`` in an image of ``size`` (w, h)."""
    width, height = size
    lm = _separate_inner_lips(np.asarray(landmarks, np.float64), min_gap=1.0)
    fr = FaceFrame.from_landmarks(lm)
    ps = _PointSet(lm)
    d = fr.iod

    # Forehead: two rows above the brows, then an outer row that stays fixed.
    for b in np.concatenate([BROW_R, BROW_L]):
        ps.add("forehead_low", lm[b] + fr.vec(0, -0.35))
    for b in np.concatenate([BROW_R, BROW_L]):
        ps.add("forehead_high", lm[b] + fr.vec(0, -0.8))
    # Lid creases above the upper lids and skin below the lower lids.
    for up, lo in (*_LID_PAIRS_R, *_LID_PAIRS_L):
        gap = max(float(np.dot(lm[lo] - lm[up], fr.ey)), 0.05 * d)
        side = "r" if up < 42 else "l"
        # The crease stays below the brow (drawn faces put big eyes right under their brows:
        # a crease at or above the brow would drag the brow down in every blink).
        brow = lm[BROW_R if side == "r" else BROW_L]
        nearest = brow[np.argmin(np.abs((brow - lm[up]) @ fr.ex))]
        room = float(np.dot(lm[up] - nearest, fr.ey))
        rise = 0.6 * gap + 0.06 * d
        if room > 0:
            rise = min(rise, 0.5 * room)
        ps.add(f"crease_{side}", lm[up] - fr.ey * rise)
        ps.add(f"undereye_{side}", lm[lo] + fr.ey * (0.5 * gap + 0.08 * d))
    # Cheeks, nasolabial folds, chin, philtrum.
    for side, (jaw_hi, jaw_mid, nose, corner, lower_lid) in {
        "r": (1, 3, 31, 48, 41),
        "l": (15, 13, 35, 54, 46),
    }.items():
        sgn = -1.0 if side == "r" else 1.0
        ps.add(f"cheek_{side}", _lerp(lm[jaw_hi], lm[nose], 0.45))
        ps.add(f"cheek_{side}", _lerp(lm[jaw_mid], lm[corner], 0.45))
        ps.add(f"cheek_{side}", _lerp(lm[jaw_hi], lm[lower_lid], 0.5))
        ps.add(f"fold_{side}", _lerp(lm[nose], lm[corner], 0.5) + fr.vec(sgn * 0.1, 0))
        ps.add(f"fold_{side}", lm[corner] + fr.vec(sgn * 0.14, 0.02))
    for a, b in ((58, 7), (57, 8), (56, 9)):
        ps.add("chin", _lerp(lm[a], lm[b], 0.5))
    ps.add("philtrum", _lerp(lm[33], lm[51], 0.5))
    # A ring outside the jaw and above the forehead that bounds every expression displacement.
    center = lm[np.concatenate([JAW, BROW_R, BROW_L])].mean(axis=0)
    for j in JAW:
        out = lm[j] - center
        out /= max(np.linalg.norm(out), 1e-6)
        ps.add("ring", lm[j] + out * 0.35 * d)
    for b in (17, 19, 21, 22, 24, 26):
        ps.add("ring", lm[b] + fr.vec(0, -1.35))
    # Fixed border points.
    for t in np.linspace(0.0, 1.0, 5):
        for p in (
            (t * (width - 1), 0.0),
            (t * (width - 1), height - 1.0),
            (0.0, t * (height - 1)),
            (width - 1.0, t * (height - 1)),
        ):
            ps.add("border", np.array(p))

    points = np.stack(ps.pts)
    # Drop points outside the image (ring / forehead can leave it on tight crops) and duplicates.
    points[:, 0] = np.clip(points[:, 0], 0, width - 1)
    points[:, 1] = np.clip(points[:, 1], 0, height - 1)
    groups = {k: np.asarray(v, np.int64) for k, v in ps.groups.items()}

    tris = _triangulate(points)
    head_center, head_radii, neck_pivot = _head_geometry(lm, fr)
    depth = depth_at(points, head_center, head_radii, lm[NOSE_TIP], d)
    deltas = np.zeros((NUM_CURVES, len(points), 2), np.float64)
    _author_expressions(deltas, lm, fr, groups, points)
    _head_rotations(deltas, points, depth, neck_pivot, head_center, head_radii)
    deltas[:, groups["border"]] = 0.0
    return FaceRig(
        points=points.astype(np.float32),
        triangles=tris,
        deltas=deltas.astype(np.float32),
        depth=depth.astype(np.float32),
        groups=groups,
        head_center=head_center.astype(np.float32),
        head_radii=head_radii.astype(np.float32),
        neck_pivot=neck_pivot.astype(np.float32),
        iod=float(d),
    )


def _loop(idx: np.ndarray) -> list[tuple[int, int]]:
    return [(int(idx[i]), int(idx[(i + 1) % len(idx)])) for i in range(len(idx))]


def _triangulate(points: np.ndarray) -> np.ndarray:
    """Constrained Delaunay triangulation with lip and eye outlines as edges (no new points)."""
    segments = _loop(OUTER_LIPS) + _loop(INNER_LIPS) + _loop(EYE_R) + _loop(EYE_L)
    result = triangle.triangulate(
        {"vertices": points.astype(np.float64), "segments": np.asarray(segments, np.int32)},
        "pcQ",
    )
    tris = np.asarray(result["triangles"], np.int32)
    if len(result["vertices"]) != len(points):
        # Segment crossings forced new vertices: fall back to unconstrained triangulation.
        tris = np.asarray(
            triangle.triangulate({"vertices": points.astype(np.float64)}, "Q")["triangles"],
            np.int32,
        )
    return tris


def _head_geometry(lm: np.ndarray, fr: FaceFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ellipse of the skull seen from the front (centre, radii in px) and the neck pivot."""
    jaw_width = float(np.linalg.norm(lm[16] - lm[0]))
    brow_mid = lm[np.concatenate([BROW_R, BROW_L])].mean(axis=0)
    chin = lm[CHIN]
    face_height = float(np.linalg.norm(chin - brow_mid))
    center = _lerp(brow_mid, chin, 0.35)
    radii = np.array([0.55 * jaw_width, 0.5 * face_height * 1.55])
    neck = chin + fr.ey * 0.6 * face_height
    return center, radii, neck


def depth_at(
    points: np.ndarray, center: np.ndarray, radii: np.ndarray, nose_tip: np.ndarray, iod: float
) -> np.ndarray:
    """Depth in front of the head's rotation axis: an ellipsoid with the nose standing out."""
    rel = (points - center) / radii
    r2 = (rel**2).sum(axis=1)
    z = radii[0] * np.sqrt(np.clip(1.0 - r2, 0.0, None))
    nose = np.exp(-((points - nose_tip) ** 2).sum(axis=1) / (2 * (0.22 * iod) ** 2))
    return z + 0.3 * iod * nose


def _head_rotations(
    deltas: np.ndarray,
    points: np.ndarray,
    depth: np.ndarray,
    pivot: np.ndarray,
    center: np.ndarray,
    radii: np.ndarray,
) -> None:
    """Small-angle displacement per radian of head yaw, pitch and roll (orthographic)."""
    weight = head_weight(points, center, radii, pivot)
    deltas[CURVE_INDEX["headYaw"], :, 0] = depth * weight
    deltas[CURVE_INDEX["headPitch"], :, 1] = depth * weight
    rel = points - roll_center(center, pivot)
    # Counter-clockwise on screen with y down: dx = y_rel·θ, dy = -x_rel·θ.
    deltas[CURVE_INDEX["headRoll"], :, 0] = rel[:, 1] * weight
    deltas[CURVE_INDEX["headRoll"], :, 1] = -rel[:, 0] * weight


def roll_center(center: np.ndarray, neck_pivot: np.ndarray) -> np.ndarray:
    """Where the head rolls about: the top of the neck (about chin level), not the base of it,
    so a tilt turns the head rather than swinging it sideways."""
    return center + 0.55 * (neck_pivot - center)


def head_weight(
    xy: np.ndarray, center: np.ndarray, radii: np.ndarray, pivot: np.ndarray
) -> np.ndarray:
    """How much of the head's rotation a point follows: 1 on the head and hair, fading to 0 down
    the neck (the shoulders stay) and far outside the skull ellipse."""
    rel = (xy - center) / radii
    r = np.sqrt((rel**2).sum(axis=-1))
    radial = np.clip((1.8 - r) / 0.45, 0.0, 1.0)  # full out to 1.35 radii (hair), 0 beyond 1.8
    chin_y = center[1] + 0.75 * radii[1] * 0.65
    vertical = np.clip((pivot[1] - xy[..., 1]) / max(pivot[1] - chin_y, 1.0), 0.0, 1.0)
    return radial * vertical


# Mouth proportions below which a face counts as stylised (photographed faces measure about 0.9
# to 1.0 IOD mouth width and 1.1 to 1.4 IOD nose-tip-to-chin).
_SMALL_MOUTH_IOD = 0.75
_SHORT_LOWER_FACE_IOD = 1.0


def mouth_scale(lm: np.ndarray, fr: FaceFrame) -> tuple[float, float]:
    """(horizontal, vertical) scale of mouth and jaw motion for this face's proportions.

    Expression displacements are authored in IOD units for photographed proportions. Drawn faces
    often have big eyes far apart over a tiny mouth and a short lower face (anime): there a jaw
    drop of half an IOD would pull the chin far below the face and the mouth corners would meet.
    Both scales are 1 for photographed proportions, smaller for a small mouth or a short chin.
    """
    width = float(np.linalg.norm(lm[54] - lm[48])) / fr.iod
    lower = float(np.dot(lm[CHIN] - lm[NOSE_TIP], fr.ey)) / fr.iod
    sx = float(np.clip(width / _SMALL_MOUTH_IOD, 0.25, 1.0))
    sy = float(np.clip(lower / _SHORT_LOWER_FACE_IOD, 0.3, 1.0))
    return sx, sy


_MOUTH_CURVES = ("jaw", "mouth", "tongue")


def _author_expressions(
    deltas: np.ndarray,
    lm: np.ndarray,
    fr: FaceFrame,
    groups: dict[str, np.ndarray],
    points: np.ndarray,
) -> None:
    """Per-curve control point displacements (FACS-like, in IOD units of this face; mouth and
    jaw motion scaled by :func:`mouth_scale`)."""
    msx, msy = mouth_scale(lm, fr)

    def mv(curve: str, idx: np.ndarray | list[int] | int, u: float, v: float) -> None:
        if curve.startswith(_MOUTH_CURVES):
            u, v = u * msx, v * msy
        deltas[CURVE_INDEX[curve], idx] += fr.vec(u, v)

    def lid_gap(up: int, lo: int) -> float:
        return max(float(np.dot(lm[lo] - lm[up], fr.ey)) / fr.iod, 0.02)

    g = groups
    upper_outer = [49, 50, 51, 52, 53]
    lower_outer = [55, 56, 57, 58, 59]
    upper_inner = [61, 62, 63]
    lower_inner = [65, 66, 67]
    side_pts = {
        # character's left (image right) / right (image left) halves of the mouth
        "Left": {"corner": [54, 64], "up": [52, 53, 63], "lo": [55, 56, 65]},
        "Right": {"corner": [48, 60], "up": [49, 50, 61], "lo": [58, 59, 67]},
    }
    sgn = {"Left": 1.0, "Right": -1.0}  # +u is the character's left

    # --- jaw -------------------------------------------------------------------------------
    jaw_drop = 0.5
    mv("jawOpen", lower_inner, 0, jaw_drop)
    mv("jawOpen", lower_outer, 0, jaw_drop * 0.95)
    mv("jawOpen", [60, 64], 0, jaw_drop * 0.3)
    mv("jawOpen", [48, 54], 0, jaw_drop * 0.28)
    mv("jawOpen", [48, 60], 0.06, 0)
    mv("jawOpen", [54, 64], -0.06, 0)
    mv("jawOpen", upper_inner, 0, -0.02)
    for j in JAW:
        # The jaw hinges near the ears: the chin drops most, the angles of the jaw barely.
        t = 1.0 - abs(int(j) - 8) / 8.0
        mv("jawOpen", int(j), 0, jaw_drop * 0.9 * t**1.5)
    mv("jawOpen", g["chin"], 0, jaw_drop * 0.92)
    for side in ("r", "l"):
        mv("jawOpen", g[f"fold_{side}"][1:], 0, jaw_drop * 0.3)
        mv("jawOpen", g[f"cheek_{side}"][1:2], 0, jaw_drop * 0.25)
    mv("jawForward", [*lower_outer, *lower_inner, CHIN, *g["chin"]], 0, 0.03)
    for curve, s in (("jawLeft", 1.0), ("jawRight", -1.0)):
        for j in JAW:
            t = 1.0 - abs(int(j) - 8) / 8.0
            mv(curve, int(j), s * 0.12 * t, 0)
        mv(curve, [*lower_outer, *lower_inner, *g["chin"]], s * 0.12, 0)
        mv(curve, [48, 54, 60, 64], s * 0.05, 0)

    # --- lips ------------------------------------------------------------------------------
    mv("mouthClose", upper_inner, 0, 0.1)
    mv("mouthClose", lower_inner, 0, -jaw_drop * 0.75)
    mv("mouthClose", lower_outer, 0, -jaw_drop * 0.55)
    mv("mouthClose", [60, 64], 0, -jaw_drop * 0.3)

    for s_name, s in (("Left", 1.0), ("Right", -1.0)):
        corner = side_pts[s_name]["corner"]
        up = side_pts[s_name]["up"]
        lo = side_pts[s_name]["lo"]
        side = "l" if s_name == "Left" else "r"
        cheeks = g[f"cheek_{side}"]
        folds = g[f"fold_{side}"]
        und = g[f"undereye_{side}"]
        # Smile: corners up and out, cheeks lift, folds deepen, lower lids push up a little.
        mv(f"mouthSmile{s_name}", corner, s * 0.09, -0.13)
        mv(f"mouthSmile{s_name}", up[:2], s * 0.04, -0.05)
        mv(f"mouthSmile{s_name}", lo[:2], s * 0.04, -0.06)
        mv(f"mouthSmile{s_name}", cheeks, s * 0.02, -0.06)
        mv(f"mouthSmile{s_name}", folds, s * 0.04, -0.06)
        mv(f"mouthSmile{s_name}", und, 0, -0.02)
        # Frown: corners down.
        mv(f"mouthFrown{s_name}", corner, s * 0.02, 0.1)
        mv(f"mouthFrown{s_name}", lo[:2], 0, 0.03)
        mv(f"mouthFrown{s_name}", folds[1:], 0, 0.04)
        mv(f"mouthDimple{s_name}", corner, s * 0.06, 0.0)
        mv(f"mouthStretch{s_name}", corner, s * 0.1, 0.05)
        mv(f"mouthStretch{s_name}", lo, s * 0.03, 0.04)
        mv(f"mouthStretch{s_name}", folds[1:], s * 0.04, 0.03)
        mv(f"mouthPress{s_name}", up, 0, 0.025)
        mv(f"mouthPress{s_name}", lo, 0, -0.03)
        mv(f"mouthPress{s_name}", [p for p in up if p < 60], 0, 0.02)
        mv(f"mouthPress{s_name}", [p for p in lo if p < 60], 0, -0.02)
        mv(f"mouthLowerDown{s_name}", lo, 0, 0.1)
        mv(f"mouthLowerDown{s_name}", corner, 0, 0.03)
        mv(f"mouthUpperUp{s_name}", up, 0, -0.08)
        mv(f"mouthUpperUp{s_name}", corner, 0, -0.02)
        # Cheek squint: cheeks and lower lids rise.
        mv(f"cheekSquint{s_name}", cheeks, 0, -0.06)
        mv(f"cheekSquint{s_name}", und, 0, -0.04)
        # Nose sneer: nostril wing and upper lip of that side lift.
        wing = [35, 34] if s_name == "Left" else [31, 32]
        mv(f"noseSneer{s_name}", wing, 0, -0.06)
        mv(f"noseSneer{s_name}", folds[:1], 0, -0.05)
        mv(f"noseSneer{s_name}", up[:2], 0, -0.03)

    # Whole-mouth slide toward the character's left / right.
    mouth = [*OUTER_LIPS, *INNER_LIPS]
    mv("mouthLeft", mouth, 0.12, 0)
    mv("mouthRight", mouth, -0.12, 0)
    for name, s in sgn.items():
        mv("mouthLeft" if name == "Left" else "mouthRight", g["philtrum"], s * 0.04, 0)

    mouth_center = lm[INNER_LIPS].mean(axis=0)

    def toward_center(curve: str, idx: list[int], amount: float, vert: float = 0.0) -> None:
        for i in idx:
            rel = (mouth_center - points[i]) / fr.iod
            u, v = float(np.dot(rel, fr.ex)), float(np.dot(rel, fr.ey))
            deltas[CURVE_INDEX[curve], i] += fr.vec(u * amount, v * vert)

    # Funnel: corners in, lips flare open into a rounded opening.
    toward_center("mouthFunnel", [48, 54, 60, 64], 0.35)
    mv("mouthFunnel", upper_inner, 0, -0.05)
    mv("mouthFunnel", lower_inner, 0, 0.07)
    mv("mouthFunnel", [50, 51, 52], 0, -0.04)
    mv("mouthFunnel", [56, 57, 58], 0, 0.05)
    # Pucker: mouth narrows a lot, lips pushed together and forward (rounder outline).
    toward_center("mouthPucker", [48, 54, 60, 64], 0.38)
    toward_center("mouthPucker", [*g["fold_r"], *g["fold_l"]], 0.12)
    toward_center("mouthPucker", [49, 53, 55, 59, 61, 63, 65, 67], 0.3)
    toward_center("mouthPucker", upper_inner + lower_inner, 0.0, 0.6)
    mv("mouthPucker", [50, 51, 52], 0, -0.02)
    mv("mouthPucker", [56, 57, 58], 0, 0.02)
    # Rolls: the outer lip edge turns inward, the lip gets thinner.
    mv("mouthRollLower", [56, 57, 58], 0, -0.07)
    mv("mouthRollLower", [55, 59], 0, -0.04)
    mv("mouthRollUpper", [50, 51, 52], 0, 0.06)
    mv("mouthRollUpper", [49, 53], 0, 0.035)
    # Shrugs: lower lip (and chin boss) push up; upper lip lifts.
    mv("mouthShrugLower", [*lower_outer, *lower_inner], 0, -0.07)
    mv("mouthShrugLower", g["chin"], 0, -0.05)
    mv("mouthShrugUpper", [*upper_outer, *upper_inner], 0, -0.04)

    # --- cheeks ----------------------------------------------------------------------------
    for side, s in (("r", -1.0), ("l", 1.0)):
        mv("cheekPuff", g[f"cheek_{side}"], s * 0.1, 0)
        mv("cheekPuff", g[f"fold_{side}"], s * 0.06, 0)
    mv("cheekPuff", [3, 4, 5], -0.05, 0)
    mv("cheekPuff", [11, 12, 13], 0.05, 0)
    mv("cheekPuff", [*upper_inner, *lower_inner], 0, 0)
    toward_center("cheekPuff", [48, 54], 0.06)

    # --- eyes ------------------------------------------------------------------------------
    for s_name, pairs, corners in (
        ("Left", _LID_PAIRS_L, (42, 45)),
        ("Right", _LID_PAIRS_R, (36, 39)),
    ):
        side = "l" if s_name == "Left" else "r"
        crease = g[f"crease_{side}"]
        under = g[f"undereye_{side}"]
        for k, (lid_up, lid_lo) in enumerate(pairs):
            gap = lid_gap(lid_up, lid_lo)
            # A crease held down under a low brow (see build_rig) travels less, in proportion,
            # so the brow above it is not dragged along.
            rise = float(np.dot(lm[lid_up] - points[int(crease[k])], fr.ey)) / fr.iod
            cg = gap * min(1.0, max(rise, 0.0) / (0.6 * gap + 0.06))
            # Blink: the upper lid travels 90% of the opening, the lower lid 10%.
            mv(f"eyeBlink{s_name}", lid_up, 0, 0.9 * gap)
            mv(f"eyeBlink{s_name}", lid_lo, 0, -0.1 * gap)
            mv(f"eyeBlink{s_name}", int(crease[k]), 0, 0.45 * cg)
            mv(f"eyeWide{s_name}", lid_up, 0, -0.35 * gap)
            mv(f"eyeWide{s_name}", int(crease[k]), 0, -0.2 * cg)
            mv(f"eyeSquint{s_name}", lid_lo, 0, -0.3 * gap)
            mv(f"eyeSquint{s_name}", lid_up, 0, 0.1 * gap)
            mv(f"eyeSquint{s_name}", int(under[k]), 0, -0.15 * gap)
            mv(f"eyeLookUp{s_name}", lid_up, 0, -0.12 * gap)
            mv(f"eyeLookUp{s_name}", int(crease[k]), 0, -0.08 * cg)
            mv(f"eyeLookDown{s_name}", lid_up, 0, 0.3 * gap)
            mv(f"eyeLookDown{s_name}", lid_lo, 0, 0.05 * gap)
            mv(f"eyeLookDown{s_name}", int(crease[k]), 0, 0.15 * cg)
        # Looking in/out drags the lids' apex a little the same way.
        lids = [p for pr in pairs for p in pr]
        mv(f"eyeLookOut{s_name}", lids, sgn[s_name] * 0.02, 0)
        mv(f"eyeLookIn{s_name}", lids, -sgn[s_name] * 0.02, 0)
        mv(f"eyeSquint{s_name}", corners[1] if s_name == "Left" else corners[0], 0, -0.02)

    # --- brows -----------------------------------------------------------------------------
    for s_name, brow, fh in (("Left", BROW_L, "forehead_low"), ("Right", BROW_R, "forehead_low")):
        # Forehead points belonging to this brow: the low row is ordered like the brows.
        row = g[fh][5:] if s_name == "Left" else g[fh][:5]
        crease = g["crease_l" if s_name == "Left" else "crease_r"]
        inner_first = brow if s_name == "Left" else brow[::-1]  # inner end first
        for k, b in enumerate(inner_first):
            t = k / 4.0  # 0 at the inner end, 1 at the outer end
            mv(f"browDown{s_name}", int(b), -sgn[s_name] * 0.04 * (1 - t), 0.12 - 0.04 * t)
            mv(f"browOuterUp{s_name}", int(b), 0, -0.14 * t**1.2)
            mv("browInnerUp", int(b), 0, -0.16 * (1 - t) ** 1.2)
        for k, p in enumerate(row if s_name == "Left" else row[::-1]):
            t = k / 4.0
            mv(f"browDown{s_name}", int(p), 0, 0.05)
            mv(f"browOuterUp{s_name}", int(p), 0, -0.08 * t)
            mv("browInnerUp", int(p), 0, -0.08 * (1 - t))
        mv(f"browDown{s_name}", crease, 0, 0.04)
        mv(f"browOuterUp{s_name}", crease, 0, -0.02)
        mv("browInnerUp", crease, 0, -0.02)

    # --- tongue ----------------------------------------------------------------------------
    # The tongue itself is drawn by the mouth layer; the lower lip makes room for it.
    mv("tongueOut", [*lower_inner, *lower_outer], 0, 0.05)
    mv("tongueOut", lower_inner, 0, 0.05)

    # The ring outside the jaw bounds every expression: it never moves for one.
    deltas[: CURVE_INDEX["headYaw"], g["ring"]] = 0.0


def fit_rest_curves(landmarks: np.ndarray) -> np.ndarray:
    """The portrait's own expression ``[61]`` read off its landmarks (the rig's rest pose).

    Measured in the same IOD units the rig's displacements are authored in, so driving a curve
    from its rest value to 0 undoes exactly what the portrait shows: ``jawOpen`` from the inner
    lip gap, ``mouthSmile``/``mouthFrown`` from the lift of the mouth corners above the lip line,
    ``eyeBlink`` from lids already half shut.
    """
    lm = np.asarray(landmarks, np.float64)
    fr = FaceFrame.from_landmarks(lm)
    rest = np.zeros(NUM_CURVES, np.float32)

    def v(p: np.ndarray) -> float:
        return float(np.dot(p - fr.origin, fr.ey)) / fr.iod

    _, msy = mouth_scale(lm, fr)  # the rig's mouth motion is scaled so; its measure is too
    gap = v(lm[[65, 66, 67]].mean(axis=0)) - v(lm[[61, 62, 63]].mean(axis=0))
    rest[CURVE_INDEX["jawOpen"]] = float(np.clip(gap / (0.5 * msy), 0.0, 1.0))
    lip_line = (v(lm[62]) + v(lm[66])) / 2
    for name, corner in (("Right", 48), ("Left", 54)):
        # Neutral mouths hold their corners about 0.02 IOD above the lip line.
        lift = (lip_line - v(lm[corner])) / msy - 0.02
        rest[CURVE_INDEX[f"mouthSmile{name}"]] = float(np.clip(lift / 0.13, 0.0, 1.0))
        rest[CURVE_INDEX[f"mouthFrown{name}"]] = float(np.clip(-lift / 0.1, 0.0, 1.0))
    for name, pairs in (("Right", _LID_PAIRS_R), ("Left", _LID_PAIRS_L)):
        width = float(np.linalg.norm(lm[pairs[0][0] - 1] - lm[pairs[0][0] + 2]))
        opening = np.mean([v(lm[lo]) - v(lm[up]) for up, lo in pairs]) * fr.iod
        ratio = opening / max(width, 1e-6)
        # Open eyes have an opening of ~0.3 of their width; below 0.15 they look half shut.
        rest[CURVE_INDEX[f"eyeBlink{name}"]] = float(np.clip((0.2 - ratio) / 0.2, 0.0, 0.9))
    return rest
