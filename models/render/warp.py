"""The weight-free warp renderer: ``character asset + 61 curves -> RGBA frame`` (DESIGN §5).

Per frame (everything below is precomputed once per asset):

1. ``offsets = curves - rest_curves`` ``[61]``.
2. Forward displacement on a coarse grid over the moving region: one matrix-vector product of the
   offsets with the per-curve dense fields ``[61, 2·Gh·Gw]``. Expression fields are the rig's
   control-point displacements interpolated piecewise-linearly over its triangulation; head
   rotation fields come from the rig's depth model (depth-aware yaw/pitch, roll about the neck).
3. Invert the forward field by fixed-point iteration (``y = x - D(y)``) on the grid, upsample
   bilinearly to a dense backward map, and ``cv2.remap`` the character layer (closed plate +
   alpha) once.
4. Composite over the background plate (revealed by head motion), then draw the eyeballs (iris
   shifted by gaze) through the current lid openings and the mouth interior (cavity, skull-fixed
   upper teeth, jaw-fixed tongue and lower teeth) through the current inner-lip outline.

Drawn eyes (assets with ``eye_*_cover`` and ``eye_*_lash`` sprites: faces set up from key
points) blink without the warp: stretching a drawing's thick outline between the lid and the
brow smears it into "V" shapes and drags the brow. Instead the drawing's own upper lid line
(``lash``) slides down column by column as the upper lid sweeps the opening, lid skin fills the
eye behind it, and at full closure the lid covers the whole drawn eye, outline included.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.motion import CURVE_INDEX, NUM_CURVES, clamp_curves
from models.render.asset import CharacterAsset
from models.render.rig import EYE_L, EYE_R, FaceRig, depth_at, head_weight, roll_center
from models.render.textures import closed_curve, closed_lid, upper_lid_rows

_HEAD = [CURVE_INDEX[n] for n in ("headYaw", "headPitch", "headRoll")]
_TONGUE_OUT = CURVE_INDEX["tongueOut"]
_GAZE = {
    "r": (CURVE_INDEX["rightEyeYaw"], CURVE_INDEX["rightEyePitch"]),
    "l": (CURVE_INDEX["leftEyeYaw"], CURVE_INDEX["leftEyePitch"]),
}
_INNER_PAIRS = ((61, 67), (62, 66), (63, 65))
_BLINK = {"r": CURVE_INDEX["eyeBlinkRight"], "l": CURVE_INDEX["eyeBlinkLeft"]}
_LASH_RGB = (45, 32, 28)  # lash line colour where the lids meet


@dataclass(frozen=True)
class RendererConfig:
    grid_step: int = 4  # pixels between samples of the dense displacement fields
    inverse_iterations: int = 3  # fixed-point steps to invert the forward field
    gaze_gain: float = 0.6  # iris travel in eye widths per radian of eye rotation

    def __post_init__(self) -> None:
        if self.grid_step < 1 or self.inverse_iterations < 1:
            raise ValueError("grid_step and inverse_iterations must be ≥ 1")


def _barycentric_weights(
    points: np.ndarray, triangles: np.ndarray, query: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each query point ``[G, 2]``: vertex indices ``[G, 3]`` and weights ``[G, 3]`` of the
    triangle that contains it (nearest triangle for points outside every triangle)."""
    a = points[triangles[:, 0]].astype(np.float64)
    b = points[triangles[:, 1]].astype(np.float64)
    c = points[triangles[:, 2]].astype(np.float64)
    m = np.stack([b - a, c - a], axis=-1)  # [K, 2, 2]
    det = np.linalg.det(m)
    ok = np.abs(det) > 1e-9
    inv = np.zeros_like(m)
    inv[ok] = np.linalg.inv(m[ok])
    best = np.full(len(query), -1, np.int64)
    best_score = np.full(len(query), -np.inf)
    best_uv = np.zeros((len(query), 2))
    for start in range(0, len(triangles), 64):
        sl = slice(start, start + 64)
        rel = query[None, :, :] - a[sl, None, :]  # [k, G, 2]
        uv = np.einsum("kij,kgj->kgi", inv[sl], rel)
        w0 = 1.0 - uv[..., 0] - uv[..., 1]
        score = np.minimum(np.minimum(uv[..., 0], uv[..., 1]), w0)  # ≥ 0 inside
        score[~ok[sl]] = -np.inf
        k_best = np.argmax(score, axis=0)
        s_best = score[k_best, np.arange(len(query))]
        better = s_best > best_score
        best[better] = k_best[better] + start
        best_score[better] = s_best[better]
        best_uv[better] = uv[k_best[better], np.flatnonzero(better)]
    weights = np.stack([1.0 - best_uv[:, 0] - best_uv[:, 1], best_uv[:, 0], best_uv[:, 1]], 1)
    return triangles[best].astype(np.int64), weights


def _translate(sprite: np.ndarray, dx: float, dy: float, size: tuple[int, int]) -> np.ndarray:
    """Place ``sprite`` at sub-pixel offset (dx, dy) in a transparent canvas of ``size`` (w, h)."""
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    return cv2.warpAffine(
        sprite, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


class WarpRenderer:
    """Renders frames of one character asset. ``render(curves[61]) -> RGBA uint8 [H, W, 4]``."""

    def __init__(
        self,
        asset: CharacterAsset,
        output_size: int | None = None,
        config: RendererConfig | None = None,
    ) -> None:
        self.asset = asset
        self.config = config or RendererConfig()
        self.output_size = output_size
        rig = asset.rig
        self._rig = rig
        self._rest = asset.rest_curves.astype(np.float32)
        w, h = asset.size
        g = self.config.grid_step

        # Region that can move: points any curve displaces, plus the head's rotation region.
        moving = np.abs(rig.deltas).max(axis=(0, 2)) > 0.05
        pts = rig.points[moving]
        ys, xs = np.mgrid[0:h:8, 0:w:8]
        grid8 = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
        hw = head_weight(grid8, rig.head_center, rig.head_radii, rig.neck_pivot) > 0
        pts = np.concatenate([pts, grid8[hw]]) if hw.any() else pts
        x0 = max(0, int(np.floor(pts[:, 0].min())) - 2 * g)
        y0 = max(0, int(np.floor(pts[:, 1].min())) - 2 * g)
        x1 = min(w, int(np.ceil(pts[:, 0].max())) + 2 * g)
        y1 = min(h, int(np.ceil(pts[:, 1].max())) + 2 * g)
        gw, gh = max(1, (x1 - x0) // g), max(1, (y1 - y0) // g)
        x1, y1 = x0 + gw * g, y0 + gh * g
        self._roi = (x0, y0, x1, y1)
        self._grid_shape = (gh, gw)
        # Grid sample positions follow cv2.resize's pixel-centre convention so that upsampling
        # the coarse map with INTER_LINEAR lands every sample where it was computed.
        gx = x0 + (np.arange(gw) + 0.5) * g - 0.5
        gy = y0 + (np.arange(gh) + 0.5) * g - 0.5
        self._grid_origin = np.array([gx[0], gy[0]], np.float32)
        gxx, gyy = np.meshgrid(gx, gy)
        grid = np.stack([gxx.ravel(), gyy.ravel()], 1)
        self._grid_xy = np.stack([gxx, gyy], -1).astype(np.float32)  # [gh, gw, 2]

        # Dense per-curve fields [61, gh, gw, 2].
        # Dense per-curve fields [61, gh·gw·2]: expression fields interpolate the rig's point
        # displacements piecewise-linearly over its triangles; head rotation fields come from
        # the depth model. One dense matrix-vector product per frame beats a sparse one here.
        verts, weights = _barycentric_weights(rig.points, rig.triangles, grid)
        fields = np.einsum("cgkd,gk->cgd", rig.deltas[:, verts, :], weights)
        depth = depth_at(grid, rig.head_center, rig.head_radii, rig.points[30], rig.iod)
        hwgt = head_weight(grid, rig.head_center, rig.head_radii, rig.neck_pivot)
        yaw, pitch, roll = _HEAD
        fields[[yaw, pitch, roll]] = 0.0
        fields[yaw, :, 0] = depth * hwgt
        fields[pitch, :, 1] = depth * hwgt
        rel = grid - roll_center(rig.head_center, rig.neck_pivot)
        fields[roll, :, 0] = rel[:, 1] * hwgt
        fields[roll, :, 1] = -rel[:, 0] * hwgt
        # A drawn eye blinks in the eye layer (module docstring): its blink moves no pixels.
        # There the upper lid sweeps down to the closed lid's arc by full blink and the lower
        # lid (the drawing's lower outline) stays: ``_drawn_blink`` replaces the rig's blink
        # motion of the eye's landmarks, [6, 2] px per unit of blink above rest.
        self._drawn_blink: dict[str, np.ndarray] = {}
        self._drawn_full: dict[str, float] = {}  # blink above rest that shuts the eye
        for side, eye in (("r", EYE_R), ("l", EYE_L)):
            if f"eye_{side}_lash" not in asset.textures:
                continue
            fields[_BLINK[side]] = 0.0
            to_go = 1.0 - min(float(self._rest[_BLINK[side]]), 0.9)
            sweep = (closed_lid(rig.points[eye]) - rig.points[eye]) / to_go
            self._drawn_blink[side] = sweep - rig.deltas[_BLINK[side]][eye]
            self._drawn_full[side] = to_go
        self._fields = np.ascontiguousarray(fields.reshape(NUM_CURVES, -1), dtype=np.float32)

        # Layers.
        # The character layer is premultiplied by its alpha: interpolating it is then exact at
        # the silhouette, and compositing over the plate is one multiply-add in uint8.
        a = asset.alpha.astype(np.float32)[..., None] / 255.0
        premultiplied = (asset.closed_plate.astype(np.float32) * a + 0.5).astype(np.uint8)
        self._char = np.ascontiguousarray(np.dstack([premultiplied, asset.alpha]))
        bg = asset.background[y0:y1, x0:x1]
        self._bg_roi = np.ascontiguousarray(np.dstack([bg, np.full(bg.shape[:2], 255, np.uint8)]))
        self._base = np.dstack([asset.image, asset.alpha])
        self._tex = dict(asset.textures)
        self._rest_points = rig.points.astype(np.float32)
        for side in ("r", "l"):
            for part in ("ball", "lid"):
                key = f"eye_{side}_{part}"
                if key in self._tex:  # opaque sprites: keep them 3-channel for uint8 blends
                    self._tex[key] = np.ascontiguousarray(self._tex[key][..., :3])
        self._eye_rest_area = {
            "r": _area(self._rest_points[EYE_R]),
            "l": _area(self._rest_points[EYE_L]),
        }
        # The inner-lip outline is drawn tighter so lips that meet show no cavity line; for a
        # portrait whose mouth is closed at rest, by the whole rest gap the landmarks leave.
        down = self._face_down()
        self._down = down
        open_at_rest = bool(self._tex.get("mouth_open_at_rest", np.ones(1))[0])
        self._lip_tighten = np.zeros((3, 2), np.float32)
        for k, (up, lo) in enumerate(_INNER_PAIRS):
            gap = (
                0.0
                if open_at_rest
                else float(np.dot(self._rest_points[lo] - self._rest_points[up], down))
            )
            self._lip_tighten[k] = down * (0.6 + max(gap, 0.0) / 2)

    def _face_down(self) -> np.ndarray:
        lm = self._rest_points
        ex = lm[42:48].mean(0) - lm[36:42].mean(0)
        ex /= max(float(np.linalg.norm(ex)), 1e-6)
        return np.array([-ex[1], ex[0]], np.float32)

    @property
    def size(self) -> tuple[int, int]:
        if self.output_size:
            return self.output_size, self.output_size
        return self.asset.size

    # ---------------------------------------------------------------------------------------
    def render(self, curves: np.ndarray) -> np.ndarray:
        """RGBA uint8 frame ``[H, W, 4]`` for one frame of curves ``[61]``."""
        curves = np.asarray(curves, np.float32)
        if curves.shape != (NUM_CURVES,):
            raise ValueError(f"curves must be [{NUM_CURVES}], got {curves.shape}")
        if not np.isfinite(curves).all():
            raise ValueError("curves contain NaN or Inf")
        offsets = clamp_curves(curves) - self._rest
        x0, y0, x1, y1 = self._roi
        gh, gw = self._grid_shape
        g = self.config.grid_step

        forward = (offsets @ self._fields).reshape(gh, gw, 2)
        # Invert: find y with y + D(y) = x, sampling D bilinearly on the coarse grid.
        back = -forward
        for _ in range(self.config.inverse_iterations - 1):
            src = self._grid_xy + back
            idx = (src - self._grid_origin) / g
            sampled = cv2.remap(
                forward, idx[..., 0], idx[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            back = -sampled
        # Absolute source positions upsample exactly (the identity part is linear).
        dense_map = cv2.resize(
            self._grid_xy + back, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR
        )
        char = cv2.remap(
            self._char, dense_map, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        alpha = char[..., 3].copy()
        behind = cv2.bitwise_not(alpha)
        out = cv2.add(char, cv2.multiply(self._bg_roi, cv2.merge((behind,) * 4), scale=1.0 / 255))
        rgb = out[..., :3]

        posed = self._rest_points + np.tensordot(offsets, self._rig.deltas, axes=(0, 0))
        self._draw_eyes(rgb, posed, offsets)
        self._draw_mouth(rgb, posed, offsets)

        frame = self._base.copy()
        out[..., 3] = alpha
        frame[y0:y1, x0:x1] = out
        if self.output_size and self.output_size != frame.shape[0]:
            interp = cv2.INTER_AREA if self.output_size < frame.shape[0] else cv2.INTER_CUBIC
            frame = cv2.resize(frame, (self.output_size, self.output_size), interpolation=interp)
        return frame

    # ---------------------------------------------------------------------------------------
    def _box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int, int, int] | None:
        """Integer box in ROI coordinates covering [lo, hi] (asset px), clipped to the ROI."""
        x0, y0, x1, y1 = self._roi
        bx0 = max(int(np.floor(lo[0])) - 2, x0)
        by0 = max(int(np.floor(lo[1])) - 2, y0)
        bx1 = min(int(np.ceil(hi[0])) + 3, x1)
        by1 = min(int(np.ceil(hi[1])) + 3, y1)
        if bx1 <= bx0 or by1 <= by0:
            return None
        return bx0 - x0, by0 - y0, bx1 - x0, by1 - y0

    def _sprite(self, name: str, shift: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Texture ``name`` moved by ``shift`` (px), cropped to ``box`` (ROI coordinates)."""
        origin = self._tex[f"{name}.origin"]
        bx0, by0, bx1, by1 = box
        dx = float(origin[0] + shift[0] - (bx0 + self._roi[0]))
        dy = float(origin[1] + shift[1] - (by0 + self._roi[1]))
        return _translate(self._tex[name], dx, dy, (bx1 - bx0, by1 - by0))

    def _draw_eyes(self, rgb: np.ndarray, posed: np.ndarray, offsets: np.ndarray) -> None:
        """Eyeballs through the current lid openings; lid skin and lashes where lids closed.

        Works on small boxes in uint8 with OpenCV blends: this runs twice per frame."""
        rest = self._rest_points
        for side, eye in (("r", EYE_R), ("l", EYE_L)):
            if f"eye_{side}_ball" not in self._tex:
                continue
            # The eyeball rides with the skull: the mean motion of the two eye corners.
            c0, c1 = int(eye[0]), int(eye[3])
            skull = (posed[c0] + posed[c1] - rest[c0] - rest[c1]) * 0.5
            ball = self._tex[f"eye_{side}_ball"]
            origin = self._tex[f"eye_{side}_ball.origin"] + skull
            box = self._box(origin, origin + np.array([ball.shape[1], ball.shape[0]]))
            if box is None:
                continue
            bx0, by0, bx1, by1 = box
            box_origin = np.array([bx0 + self._roi[0], by0 + self._roi[1]], np.float32)
            shape = (by1 - by0, bx1 - bx0)
            drawn = side in self._drawn_blink
            lids = posed[eye]
            if drawn:
                lids = lids + float(offsets[_BLINK[side]]) * self._drawn_blink[side]
            poly = closed_curve(lids, 4) - box_origin
            mask8 = _fill(shape, poly)
            region = np.ascontiguousarray(rgb[by0:by1, bx0:bx1])
            # Lids closed over part of the rest opening: lid skin there, then the lash line.
            closing = min(max(1.0 - _area(lids) / max(self._eye_rest_area[side], 1e-3), 0.0), 1.0)
            # A drawn eye's lower part (eyeball and lower outline) goes under the lid from 70 %
            # to 95 % of a blink, where the upper lid nears the closed lid's arc.
            under = 0.0
            if drawn:
                shut = float(offsets[_BLINK[side]]) / self._drawn_full[side]
                under = float(np.clip((shut - 0.7) / 0.25, 0.0, 1.0))
            if closing > 0.01:
                lid = self._sprite(f"eye_{side}_lid", skull, box)
                if drawn:
                    lid_w = self._drawn_lid_weights(side, skull, box, lids, under)
                else:
                    rest_mask8 = _fill(shape, closed_curve(rest[eye] + skull, 4) - box_origin)
                    lid_w = cv2.subtract(rest_mask8, mask8).astype(np.float32) * (1.0 / 255.0)
                region = cv2.blendLinear(lid, region, lid_w, 1.0 - lid_w)
            if mask8.any() and under < 1.0:
                content = self._sprite(f"eye_{side}_ball", skull, box)
                gain = self.config.gaze_gain * float(self._tex[f"eye_{side}_width"][0])
                yaw, pitch = self._gaze(side, offsets)
                gaze = np.array([yaw * gain, pitch * gain * 0.7], np.float32)
                iris = self._sprite(f"eye_{side}_iris", skull + gaze, box)
                ia = iris[..., 3].astype(np.float32) * (1.0 / 255.0)
                content = cv2.blendLinear(
                    np.ascontiguousarray(iris[..., :3]), content, ia, 1.0 - ia
                )
                m = mask8.astype(np.float32) * ((1.0 - under) / 255.0)
                region = cv2.blendLinear(content, region, m, 1.0 - m)
            if drawn and closing > 0.01:
                region = _over_u8(
                    region, self._drawn_lash(side, skull, box, rest[eye] + skull, lids)
                )
            elif closing > 0.05:
                line = np.zeros(shape, np.uint8)
                width = max(1, round(0.02 * self._rig.iod))
                upper = _upper_lid(poly, len(eye))
                cv2.polylines(
                    line, [np.round(upper * 16).astype(np.int32)], False, 255, width, cv2.LINE_AA, 4
                )
                w = line.astype(np.float32) * (0.6 * min(1.0, 2.0 * closing) / 255.0)
                lash = np.full((*shape, 3), _LASH_RGB, np.uint8)
                region = cv2.blendLinear(lash, region, w, 1.0 - w)
            rgb[by0:by1, bx0:bx1] = region

    def _box_columns(self, box: tuple[int, int, int, int]) -> tuple[float, int]:
        """Asset x of a box's first column, and its width."""
        return float(box[0] + self._roi[0]), box[2] - box[0]

    def _drawn_lid_weights(
        self,
        side: str,
        skull: np.ndarray,
        box: tuple[int, int, int, int],
        lids: np.ndarray,
        under: float,
    ) -> np.ndarray:
        """Lid weights ``float32 [h, w]`` over a drawn eye: its cover above the current upper
        lid (where the lid has swept), and ``under`` (0..1) of all of it."""
        cover = self._sprite(f"eye_{side}_cover", skull, box).astype(np.float32) * (1.0 / 255.0)
        x0, width = self._box_columns(box)
        top = float(box[1] + self._roi[1])
        lid_y = upper_lid_rows(lids, x0, width)[None, :] - top
        rows = np.arange(box[3] - box[1], dtype=np.float32)[:, None]
        swept = np.clip(lid_y - rows + 0.5, 0.0, 1.0)
        return np.ascontiguousarray(cover * np.maximum(swept, under), np.float32)

    def _drawn_lash(
        self,
        side: str,
        skull: np.ndarray,
        box: tuple[int, int, int, int],
        rest_eye: np.ndarray,
        lids: np.ndarray,
    ) -> np.ndarray:
        """The drawing's upper lid line (RGBA ``[h, w, 4]``), each column moved down as far as
        the upper lid has come down there."""
        lash = self._sprite(f"eye_{side}_lash", skull, box)
        x0, width = self._box_columns(box)
        drop = upper_lid_rows(lids, x0, width) - upper_lid_rows(rest_eye, x0, width)
        h = box[3] - box[1]
        map_x = np.broadcast_to(np.arange(width, dtype=np.float32)[None, :], (h, width))
        map_y = np.arange(h, dtype=np.float32)[:, None] - drop[None, :]
        return cv2.remap(
            lash,
            np.ascontiguousarray(map_x),
            np.ascontiguousarray(map_y, np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )

    def _gaze(self, side: str, offsets: np.ndarray) -> tuple[float, float]:
        """Eye rotation offsets (yaw right+, pitch down+) in radians. The rotation curves drive
        the iris; captures that carry only the ``eyeLook*`` blendshapes drive it through those
        (full look ≈ 25° sideways, 20° up/down)."""
        yaw_i, pitch_i = _GAZE[side]
        yaw, pitch = float(offsets[yaw_i]), float(offsets[pitch_i])
        if abs(yaw) < 1e-4 and abs(pitch) < 1e-4:
            s = "Left" if side == "l" else "Right"
            look = {
                k: float(offsets[CURVE_INDEX[f"eyeLook{k}{s}"]])
                for k in ("In", "Out", "Up", "Down")
            }
            # The character's left eye looking out turns toward the viewer's right.
            outward = 1.0 if side == "l" else -1.0
            yaw = outward * (look["Out"] - look["In"]) * 0.44
            pitch = (look["Down"] - look["Up"]) * 0.35
        return yaw, pitch

    def _draw_mouth(self, rgb: np.ndarray, posed: np.ndarray, offsets: np.ndarray) -> None:
        if "mouth_upper" not in self._tex:
            return
        rest = self._rest_points
        inner = posed[60:68].copy()
        # Tighten the outline so lips that meet leave no cavity line.
        for k, (up, lo) in enumerate(_INNER_PAIRS):
            i, j = up - 60, lo - 60
            inner[i] += self._lip_tighten[k]
            inner[j] -= self._lip_tighten[k]
            gap = float(np.dot(inner[j] - inner[i], self._down))
            if gap < 0:
                mid = (inner[i] + inner[j]) / 2
                inner[i] = mid
                inner[j] = mid
        # Lips that meet draw nothing (a degenerate polygon would still rasterise its outline).
        if _area(inner) < 1.0:
            return
        lo_xy = posed[48:60].min(axis=0)
        hi_xy = posed[48:60].max(axis=0)
        box = self._box(lo_xy, hi_xy)
        if box is None:
            return
        bx0, by0, bx1, by1 = box
        origin = np.array([bx0 + self._roi[0], by0 + self._roi[1]], np.float32)
        shape = (by1 - by0, bx1 - bx0)
        mask8 = _fill(shape, closed_curve(inner, 4) - origin)
        if not mask8.any():
            return
        skull = posed[33] - rest[33]
        jaw = posed[8] - rest[8]
        # The cavity darkens away from the lips (depth): a vertical falloff across the box.
        rows = np.abs(np.linspace(-1.0, 1.0, shape[0], dtype=np.float32))[:, None, None]
        cavity = self._tex["mouth_cavity"].astype(np.float32) * (0.75 + 0.25 * rows)
        content = np.ascontiguousarray(np.broadcast_to(cavity, (*shape, 3)).astype(np.uint8))
        tongue_out = float(max(offsets[_TONGUE_OUT], 0.0))
        tongue_shift = jaw + np.array([0.0, -0.12 * self._rig.iod * tongue_out], np.float32)
        tongue = self._sprite("mouth_tongue", tongue_shift, box)
        lower = self._sprite("mouth_lower", jaw, box)
        layers = (lower, tongue) if tongue_out > 0.3 else (tongue, lower)
        for layer in (*layers, self._sprite("mouth_upper", skull, box)):
            content = _over_u8(content, layer)
        m = mask8.astype(np.float32) * (1.0 / 255.0)
        region = np.ascontiguousarray(rgb[by0:by1, bx0:bx1])
        rgb[by0:by1, bx0:bx1] = cv2.blendLinear(content, region, m, 1.0 - m)


def _over_u8(dst: np.ndarray, src_rgba: np.ndarray) -> np.ndarray:
    """``src`` RGBA composited over ``dst`` RGB, both uint8 of the same size."""
    a = src_rgba[..., 3].astype(np.float32) * (1.0 / 255.0)
    return cv2.blendLinear(np.ascontiguousarray(src_rgba[..., :3]), dst, a, 1.0 - a)


def _fill(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    """Anti-aliased uint8 mask ``[h, w]`` of a polygon (sub-pixel vertices)."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return mask


def _area(polygon: np.ndarray) -> float:
    """Shoelace area of a small polygon ``[N, 2]`` in px² (plain floats: N is 6 to 8)."""
    pts = polygon.tolist()
    total = 0.0
    x0, y0 = pts[-1]
    for x1, y1 in pts:
        total += x0 * y1 - x1 * y0
        x0, y0 = x1, y1
    return 0.5 * abs(total)


def _upper_lid(poly: np.ndarray, n_landmarks: int) -> np.ndarray:
    """The upper-lid half of a densified eye outline (landmark 0 → 3 for dlib's eye order)."""
    per = len(poly) // n_landmarks
    return poly[: 3 * per + 1]


def neutral_for(asset: CharacterAsset) -> np.ndarray:
    """The asset's rest pose ``[61]`` (renders as the portrait itself)."""
    return asset.rest_curves.astype(np.float32).copy()


__all__ = ["FaceRig", "RendererConfig", "WarpRenderer", "neutral_for"]
