"""Loading a portrait, choosing the face in it, and cropping head and shoulders — with errors a
user can act on.

Every failure is a :class:`PortraitError` whose message is one line that starts with the file
name, so the CLI prints it as is:

* :class:`UnreadableImageError` — missing, unreadable, empty, corrupt or not an image;
* :class:`ImageTooSmallError` — shorter side below :data:`MIN_SIDE` px;
* :class:`NoFaceError` — the detector found no face (stylised faces: anime, cartoon, low-poly);
* :class:`FaceCutOffError` — the face runs off an edge of the image;
* :class:`FaceIndexError` — ``--face-index`` names a face that does not exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.face import FaceDetection, FaceModels, detect_faces, landmarks68

MIN_SIDE = 128  # px; dlib's detector needs faces of ~40 px even with one upsampling
DETECT_MAX_SIDE = 1024  # px; larger images are detected on a downscaled copy (speed, memory)
DETECT_UPSAMPLE = 1  # detector upsamplings on the (downscaled) image: faces down to ~40 px
CUT_OFF_MARGIN = 0.15  # of face width around the face box that must lie inside the image
SPURIOUS_AREA = 0.10  # detections smaller than this share of the largest box are dropped
SPURIOUS_SCORE = 0.25  # detections scoring below this share of the best score are dropped
CROP_SCALE = 2.6  # square crop side over face size (head and shoulders)
CROP_SHIFT_DOWN = 0.15  # crop centre below the face centre, in face sizes (shows shoulders)

DETECTOR_NAME = "dlib HOG frontal face detector (68-point landmarks)"
# How to set up a face the detector does not find ({portrait}: the portrait's file name).
MANUAL_ROUTE = (
    "to rig such a face, place its key points by hand: lpm prep {portrait} --points points.json "
    "(format in docs/keypoints.md), or use lpm studio"
)


# --- errors ------------------------------------------------------------------------------------


class PortraitError(ValueError):
    """The portrait cannot be used; ``str(err)`` is one line starting with the file name."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(" ".join(f"{name}: {problem}".split()))


class UnreadableImageError(PortraitError):
    """Missing, unreadable, empty, corrupt or not an image."""


class ImageTooSmallError(PortraitError):
    """Shorter side below :data:`MIN_SIDE`."""


class NoFaceError(PortraitError):
    """The face detector found no (plausible) face."""


class FaceCutOffError(PortraitError):
    """The chosen face plus a margin leaves the image."""


class FaceIndexError(PortraitError):
    """The requested face index does not exist."""


# --- loading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Portrait:
    """A decoded portrait: RGB pixels, the alpha channel if the file has one, and provenance."""

    rgb: np.ndarray  # uint8 [H, W, 3]
    alpha: np.ndarray | None  # uint8 [H, W] (255 = opaque), None if the file has no alpha
    sha256: str  # of the file bytes (or of the pixels for an in-memory portrait)
    path: Path | None  # where it was loaded from; None for an in-memory portrait
    size: tuple[int, int]  # (width, height) in pixels

    @property
    def name(self) -> str:
        """The file name, for messages."""
        return self.path.name if self.path is not None else "<portrait>"


def _to_uint8(pixels: np.ndarray) -> np.ndarray | None:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if pixels.dtype in (np.float32, np.float64):  # float TIFF/EXR: nominal range 0..1
        return (np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return None


def _decode(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Bytes → (RGB uint8 [H, W, 3], alpha uint8 [H, W] or None)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_UNCHANGED keeps alpha and 16-bit depth but ignores the EXIF orientation; images
    # without alpha that carry EXIF are decoded again with the orientation applied (phone
    # photos are often stored sideways).
    raw = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if raw is None or raw.size == 0:
        raise UnreadableImageError(name, "not an image OpenCV can decode (corrupt or truncated?)")
    has_alpha = raw.ndim == 3 and raw.shape[2] in (2, 4)
    if not has_alpha and (b"Exif" in data[:65536] or b"eXIf" in data):
        oriented = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
        if oriented is not None:
            raw = oriented
    pixels = _to_uint8(raw)
    if pixels is None:
        raise UnreadableImageError(name, f"unsupported pixel type {raw.dtype}")
    alpha = None
    if pixels.ndim == 2:
        rgb = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    elif pixels.shape[2] == 1:
        rgb = cv2.cvtColor(pixels[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif pixels.shape[2] == 2:  # grey + alpha
        rgb, alpha = cv2.cvtColor(pixels[:, :, 0], cv2.COLOR_GRAY2RGB), pixels[:, :, 1]
    elif pixels.shape[2] == 3:
        rgb = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    elif pixels.shape[2] == 4:
        rgb, alpha = cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB), pixels[:, :, 3]
    else:
        raise UnreadableImageError(name, f"unsupported image with {pixels.shape[2]} channels")
    return np.ascontiguousarray(rgb), None if alpha is None else np.ascontiguousarray(alpha)


def load_portrait(path: str | Path) -> Portrait:
    """Read and decode a portrait file (any format OpenCV reads: PNG, JPEG, WebP, TIFF, …).

    Grey and 16-bit images become RGB ``uint8``; an alpha channel is kept as ``alpha``.
    Raises :class:`UnreadableImageError` or :class:`ImageTooSmallError`.
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableImageError(name, f"file not found ({path})") from None
    except IsADirectoryError:
        raise UnreadableImageError(name, f"is a folder, not an image file ({path})") from None
    except OSError as exc:
        raise UnreadableImageError(name, f"cannot read the file ({exc.strerror})") from None
    if not data:
        raise UnreadableImageError(name, "the file is empty")
    rgb, alpha = _decode(data, name)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageTooSmallError(
            name, f"image is {w}×{h} px; the shorter side must be at least {MIN_SIDE} px"
        )
    return Portrait(
        rgb=rgb, alpha=alpha, sha256=hashlib.sha256(data).hexdigest(), path=path, size=(w, h)
    )


# --- choosing the face -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChosenFace:
    """The face a character is built from."""

    index: int  # position in ``faces``
    box: tuple[float, float, float, float]  # (left, top, right, bottom), source pixels
    score: float  # detector confidence
    landmarks: np.ndarray  # float32 [68, 2], (x, y) source pixels
    faces: tuple[FaceDetection, ...]  # every plausible face, largest first
    rejected: int  # detections dropped as spurious (tiny or weak next to the best face)


def find_faces(
    image: np.ndarray, models: FaceModels | None = None
) -> tuple[list[FaceDetection], int]:
    """Plausible faces in an RGB image, largest first, and how many detections were dropped.

    Images larger than :data:`DETECT_MAX_SIDE` are scanned downscaled (boxes are returned in
    full-resolution pixels). A detection is spurious when it is under :data:`SPURIOUS_AREA` of
    the largest box or scores under :data:`SPURIOUS_SCORE` of the best score: on the astronaut
    portrait the HOG detector also fires on the mission patch, at the face's size but with a
    tenth of its score.
    """
    h, w = image.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = image
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    found = detect_faces(small, DETECT_UPSAMPLE, models=models)
    if scale < 1.0:
        found = [
            FaceDetection(
                box=(f.box[0] / scale, f.box[1] / scale, f.box[2] / scale, f.box[3] / scale),
                score=f.score,
                sub_detector=f.sub_detector,
            )
            for f in found
        ]
    if not found:
        return [], 0
    largest = max(f.area for f in found)
    best = max(f.score for f in found)
    kept = [
        f for f in found if f.area >= SPURIOUS_AREA * largest and f.score >= SPURIOUS_SCORE * best
    ]
    return sorted(kept, key=lambda f: f.area, reverse=True), len(found) - len(kept)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def choose_face(
    portrait: Portrait, face_index: int | None = None, models: FaceModels | None = None
) -> ChosenFace:
    """Detect the faces, pick one (``None`` = the largest, else the index in largest-first
    order), find its 68 landmarks and check it is not cut off by the image border.

    Raises :class:`NoFaceError`, :class:`FaceIndexError` or :class:`FaceCutOffError`.
    """
    models = models or FaceModels.default()
    name = portrait.name
    faces, rejected = find_faces(portrait.rgb, models)
    if not faces:
        raise NoFaceError(
            name,
            f"no human face found by the {DETECTOR_NAME}; it needs a roughly frontal human face "
            "in a photo or realistic painting (anime, cartoon, low-poly and animal faces are not "
            f"found) — {MANUAL_ROUTE.format(portrait=name)}",
        )
    index = 0 if face_index is None else face_index
    if not 0 <= index < len(faces):
        also = f" (and {_plural(rejected, 'spurious detection')} ignored)" if rejected else ""
        raise FaceIndexError(
            name,
            f"face index {index} does not exist: {_plural(len(faces), 'face')} found{also}, "
            f"valid indices 0..{len(faces) - 1} (largest first)",
        )
    face = faces[index]
    landmarks = landmarks68(portrait.rgb, face, models=models)
    _check_not_cut_off(face, landmarks, portrait.size, name, index)
    return ChosenFace(
        index=index,
        box=face.box,
        score=face.score,
        landmarks=landmarks,
        faces=tuple(faces),
        rejected=rejected,
    )


def _check_not_cut_off(
    face: FaceDetection, landmarks: np.ndarray, size: tuple[int, int], name: str, index: int
) -> None:
    """The face box plus :data:`CUT_OFF_MARGIN` must lie inside the image, and so must every
    landmark (the box can end above a chin that the image cuts off; the shape predictor then
    places the chin outside the image)."""
    w, h = size
    margin = CUT_OFF_MARGIN * face.width
    left, top, right, bottom = face.box
    (lm_left, lm_top), (lm_right, lm_bottom) = landmarks.min(axis=0), landmarks.max(axis=0)
    sides = [
        side
        for side, out in (
            ("left", min(left - margin, lm_left) < 0),
            ("top", min(top - margin, lm_top) < 0),
            ("right", max(right + margin, lm_right) > w - 1),
            ("bottom", max(bottom + margin, lm_bottom) > h - 1),
        )
        if out
    ]
    if sides:
        raise FaceCutOffError(
            name,
            f"face {index} is cut off at the {' and '.join(sides)} edge of the image "
            f"(face box {left:.0f},{top:.0f},{right:.0f},{bottom:.0f} in a {w}×{h} image needs "
            f"{margin:.0f} px of margin); use a photo with space around the head",
        )


# --- head-and-shoulders crop -------------------------------------------------------------------


@dataclass(frozen=True)
class SquareCrop:
    """A square head-and-shoulders crop and the map from source pixels to crop pixels."""

    image: np.ndarray  # uint8 [size, size, 3] RGB
    alpha: np.ndarray | None  # uint8 [size, size], None when the source has no alpha
    affine: np.ndarray  # float64 [2, 3]: crop_xy = affine[:, :2] @ source_xy + affine[:, 2]
    source_square: tuple[int, int, int]  # (x0, y0, side) of the square in source pixels

    def map_points(self, points: np.ndarray) -> np.ndarray:
        """Source pixel points ``[..., 2]`` → crop pixel points (float64)."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.affine[:, :2].T + self.affine[:, 2]

    def unmap_points(self, points: np.ndarray) -> np.ndarray:
        """Crop pixel points ``[..., 2]`` → source pixel points (float64)."""
        inverse = cv2.invertAffineTransform(self.affine)
        p = np.asarray(points, dtype=np.float64)
        return p @ inverse[:, :2].T + inverse[:, 2]


def _place(start: float, side: int, limit: int, lo_keep: float, hi_keep: float) -> int:
    """Integer start of a ``side``-long window in ``[0, limit)`` nearest ``start``, keeping
    ``[lo_keep, hi_keep]`` inside it when that is possible."""
    lo, hi = 0, limit - side
    keep_lo, keep_hi = max(lo, int(np.ceil(hi_keep)) - side + 1), min(hi, int(np.floor(lo_keep)))
    if keep_lo <= keep_hi:
        lo, hi = keep_lo, keep_hi
    return int(np.clip(round(start), lo, hi))


def crop_square(
    source: Portrait | np.ndarray,
    landmarks: np.ndarray,
    size: int,
    *,
    scale: float = CROP_SCALE,
    shift_down: float = CROP_SHIFT_DOWN,
    alpha: np.ndarray | None = None,
) -> SquareCrop:
    """Square head-and-shoulders crop centred on the face, resized to ``size``×``size``.

    The face size is the larger side of the landmarks' bounding box (jaw width or brow-to-chin);
    the square's side is ``scale`` × that, centred ``shift_down`` face sizes below the face
    centre. The square is moved (not shrunk) to stay inside the image; if the image is smaller
    than the square, the largest square that fits is used, placed to contain the face. A
    ``Portrait`` brings its own alpha; with a bare RGB array pass ``alpha`` if there is one.
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if isinstance(source, Portrait):
        image, alpha = source.rgb, source.alpha
    else:
        image = source
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != 2 or not np.isfinite(lm).all():
        raise ValueError(f"expected finite landmarks [N, 2], got {lm.shape}")
    h, w = image.shape[:2]
    (x0, y0), (x1, y1) = lm.min(axis=0), lm.max(axis=0)
    face = max(x1 - x0, y1 - y0, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + shift_down * face
    side = int(min(round(scale * face), w, h))
    left = _place(cx - side / 2, side, w, x0, x1)
    top = _place(cy - side / 2, side, h, y0, y1)

    s = size / side
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC

    def resize(pixels: np.ndarray) -> np.ndarray:
        window = pixels[top : top + side, left : left + side]
        return np.ascontiguousarray(cv2.resize(window, (size, size), interpolation=interp))

    # cv2.resize maps pixel centres: dst = (src - left + 0.5) * s - 0.5.
    affine = np.array(
        [[s, 0.0, (0.5 - left) * s - 0.5], [0.0, s, (0.5 - top) * s - 0.5]], dtype=np.float64
    )
    return SquareCrop(
        image=resize(image),
        alpha=None if alpha is None else resize(alpha),
        affine=affine,
        source_square=(left, top, side),
    )
