"""Asset preparation (``lpm prep``): portrait → :class:`CharacterAsset`.

Steps: load and validate the image, detect the face (dlib), crop head and shoulders to a square
of the asset size, find the 68 landmarks again on the crop, fit the rest pose, build the rig,
the alpha mask, background plate, closed plate and the mouth/eye textures, and the identity
descriptor. Optional reference images (``mouth_open``, ``eyes_closed``) of the same character
replace the synthesised mouth interior and eyelid skin.

Faces no detector finds (anime, cartoon, low-poly, animals) are set up from key points placed by
hand (:mod:`models.render.keypoints`): the 68 landmarks are fitted to them and everything after
that is the same as on the detector path.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import platform
from pathlib import Path

import cv2
import numpy as np

from models.face import FaceModels, detect_faces, face_descriptor, landmarks68
from models.portrait import (
    Portrait,
    choose_face,
    crop_square,
    load_portrait,
)
from models.render import textures as tex
from models.render.asset import FORMAT_VERSION, CharacterAsset
from models.render.keypoints import (
    KeyPoints,
    fit_landmarks,
    keypoints_from_landmarks,
)
from models.render.rig import EYE_L, EYE_R, INNER_LIPS, build_rig, fit_rest_curves

log = logging.getLogger(__name__)

MIN_ASSET_SIZE = 128
MAX_ASSET_SIZE = 2048
REFERENCE_KINDS = ("mouth_open", "eyes_closed")


class PrepError(ValueError):
    """Asset preparation failed for a reason the user can act on (one readable line)."""


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "opencv": cv2.__version__}
    for dist in ("numpy", "dlib-bin", "triangle", "lpm-runtime"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def prepare_character(
    source: str | Path | Portrait,
    size: int = 512,
    face_index: int | None = None,
    refs: dict[str, Path] | None = None,
    name: str | None = None,
    points: KeyPoints | None = None,
) -> CharacterAsset:
    """Build the character asset for a portrait file (or an already loaded portrait).

    With ``points`` (key points placed by hand, in source pixels) no detector runs: the 68
    landmarks are fitted to the points. Without, the face is detected; a portrait with no face
    the detector finds raises :class:`~models.portrait.NoFaceError` naming the key-point route.
    """
    if not MIN_ASSET_SIZE <= size <= MAX_ASSET_SIZE:
        raise PrepError(f"--size {size} is out of range ({MIN_ASSET_SIZE}..{MAX_ASSET_SIZE})")
    refs = dict(refs or {})
    unknown = sorted(set(refs) - set(REFERENCE_KINDS))
    if unknown:
        raise PrepError(
            f"unknown reference kind {unknown[0]!r}; supported: {', '.join(REFERENCE_KINDS)}"
        )
    portrait = source if isinstance(source, Portrait) else load_portrait(Path(source))
    models = FaceModels.default()
    if points is not None:
        points.check_image(portrait.size, portrait.name)
        source_lm = fit_landmarks(points)
        (bx0, by0), (bx1, by1) = source_lm.min(axis=0), source_lm.max(axis=0)
        face_box = (float(bx0), float(by0), float(bx1), float(by1))
        crop = crop_square(portrait, source_lm, size)
        lm = crop.map_points(source_lm)
        setup = "keypoints"
    else:
        chosen = choose_face(portrait, face_index, models)
        face_box = chosen.box
        crop = crop_square(portrait, chosen.landmarks, size)
        # Landmarks again on the crop at asset resolution: sharper than mapping the source ones.
        lm = _refine_landmarks(crop.image, crop.map_points(chosen.landmarks), models)
        setup = "detector"
        points = keypoints_from_landmarks(chosen.landmarks, portrait.size)
    image = crop.image

    rig = build_rig(lm, (size, size))
    rest = fit_rest_curves(lm)
    alpha, background = _alpha_and_background(image, crop.alpha, lm, rig.iod, setup)
    # Faces set up by hand are drawn, rendered or not human: their lids and eye fills are
    # painted in their own skin colour rather than inpainted from lash lines and outlines.
    skin = tex.skin_colour(image, lm) if setup == "keypoints" else None
    closed = tex.closed_plate(image, lm, skin)
    textures = {**tex.mouth_textures(image, lm, skin), **tex.eye_textures(image, lm, skin)}
    for kind, path in refs.items():
        textures.update(_reference_textures(kind, path, image, lm, rest, rig, models))
    identity = face_descriptor(image, lm, models=models)
    label = name or portrait.path.stem if portrait.path is not None else (name or "character")
    manifest = {
        "format_version": FORMAT_VERSION,
        "source": {
            "file": portrait.path.name if portrait.path is not None else None,
            "sha256": portrait.sha256,
            "size": list(portrait.size),
            "face_box": [float(v) for v in face_box],
        },
        "params": {"size": size, "face_index": face_index, "refs": sorted(refs)},
        # How the face was found, and its key points in source pixels (to correct them later).
        "setup": setup,
        "keypoints": points.to_json()["points"],
        "versions": _versions(),
        "rest_curves_nonzero": {
            k: round(float(v), 4)
            for k, v in zip(_curve_names(), rest, strict=True)
            if abs(float(v)) > 1e-3
        },
    }
    log.info(
        "prepared %s: %d control points, %d triangles", label, rig.num_points, len(rig.triangles)
    )
    return CharacterAsset(
        name=str(label),
        image=image,
        alpha=alpha,
        background=background,
        closed_plate=closed,
        rig=rig,
        rest_curves=rest,
        landmarks=lm.astype(np.float32),
        identity=identity.astype(np.float32),
        textures=textures,
        manifest=manifest,
    )


def _alpha_and_background(
    image: np.ndarray, source_alpha: np.ndarray | None, lm: np.ndarray, iod: float, setup: str
) -> tuple[np.ndarray, np.ndarray]:
    """The character's alpha and the background plate behind it.

    Transparency in the source is kept: set up by hand it is the alpha as drawn; on the
    detector path it also bounds the head-and-shoulders cut-out. A flat background colour
    (drawings and renders on a solid fill) is keyed out, so line art keeps its outlines and
    the plate behind a moving head is that colour, clean. Otherwise the head-and-shoulders
    cut-out over an inpainted plate.
    """
    has_alpha = source_alpha is not None and int(source_alpha.min()) < 250
    if has_alpha and setup == "keypoints":
        assert source_alpha is not None
        clear = source_alpha < 8
        colour = (
            np.median(image[clear], axis=0) if clear.any() else np.zeros(3, np.float32)
        ).astype(np.uint8)
        return source_alpha.copy(), tex.flat_background_plate(image, colour)
    fill = tex.solid_background(image)
    if fill is not None:
        alpha = tex.keyed_alpha(image, fill)
        if has_alpha:
            assert source_alpha is not None
            alpha = np.minimum(alpha, source_alpha)
        return alpha, tex.flat_background_plate(image, fill)
    alpha = tex.head_and_shoulders_alpha(image, lm)
    if has_alpha:
        # The source had transparency: it is the truth about what is background.
        assert source_alpha is not None
        alpha = np.minimum(alpha, source_alpha)
    return alpha, tex.background_plate(image, alpha, iod)


def detect_keypoints(
    source: str | Path | Portrait, face_index: int | None = None
) -> tuple[KeyPoints, Portrait]:
    """Key points of the detected face (source pixels), to pre-fill a hand setup; raises the
    detector path's :class:`~models.portrait.PortraitError` when there is none."""
    portrait = source if isinstance(source, Portrait) else load_portrait(Path(source))
    chosen = choose_face(portrait, face_index, FaceModels.default())
    return keypoints_from_landmarks(chosen.landmarks, portrait.size), portrait


def prepare_default_character(size: int = 512) -> CharacterAsset:
    """The embedded default: scikit-image's ``astronaut`` portrait (public domain, NASA)."""
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut())
    digest = hashlib.sha256(rgb.tobytes()).hexdigest()
    portrait = Portrait(
        rgb=rgb, alpha=None, sha256=digest, path=None, size=(rgb.shape[1], rgb.shape[0])
    )
    return prepare_character(portrait, size=size, name="astronaut")


def _curve_names() -> tuple[str, ...]:
    from models.motion import CURVE_NAMES

    return CURVE_NAMES


def _refine_landmarks(image: np.ndarray, mapped: np.ndarray, models: FaceModels) -> np.ndarray:
    """Landmarks found again on the crop; the mapped source landmarks if the face is not found."""
    faces = detect_faces(image, upsample=0, models=models) or detect_faces(
        image, upsample=1, models=models
    )
    if faces:
        centre = mapped.mean(axis=0)

        def dist(f: object) -> float:
            box = f.box  # type: ignore[attr-defined]
            c = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
            return float(np.linalg.norm(c - centre))

        best = min(faces, key=dist)
        lm = landmarks68(image, best.box, models=models)
        # Accept only if it agrees with the mapped landmarks (same face, sane fit).
        iod = np.linalg.norm(mapped[42:48].mean(0) - mapped[36:42].mean(0))
        if np.median(np.linalg.norm(lm - mapped, axis=1)) < 0.15 * iod:
            return lm.astype(np.float64)
    return mapped.astype(np.float64)


def _reference_textures(
    kind: str,
    path: Path,
    image: np.ndarray,
    lm: np.ndarray,
    rest: np.ndarray,
    rig: object,
    models: FaceModels,
) -> dict[str, np.ndarray]:
    """Textures from a reference photo of the same character, aligned onto the asset."""
    ref = load_portrait(path)
    try:
        chosen = choose_face(ref, None, models)
    except ValueError as exc:
        raise PrepError(f"reference {kind}={path.name}: {exc}") from None
    ref_lm = chosen.landmarks
    # Similarity transform from the reference onto the asset by the stable points (eyes, nose).
    stable = np.r_[EYE_R, EYE_L, 27:36]
    m, _ = cv2.estimateAffinePartial2D(
        ref_lm[stable].astype(np.float32), lm[stable].astype(np.float32)
    )
    if m is None:
        raise PrepError(f"reference {kind}={path.name}: could not align it to the portrait")
    h, w = image.shape[:2]
    warped = cv2.warpAffine(
        ref.rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    ref_on_asset = ref_lm @ m[:, :2].T + m[:, 2]
    if kind == "eyes_closed":
        out: dict[str, np.ndarray] = {}
        for side, _eye in (("r", EYE_R), ("l", EYE_L)):
            name = f"eye_{side}_lid"
            origin = _asset_texture_origin(image, lm, name)
            if origin is None:
                continue
            x0, y0, sw, sh = origin
            lid = np.dstack([warped[y0 : y0 + sh, x0 : x0 + sw], np.full((sh, sw), 255, np.uint8)])
            out[name] = lid
        return out
    # mouth_open: its interior above the opening's midline rides with the skull, below with
    # the jaw, anchored so the composite reproduces the reference at its own opening.
    poly = tex.closed_curve(ref_on_asset[INNER_LIPS])
    inside = tex.polygon_mask((h, w), poly)
    upper_y = ref_on_asset[[61, 62, 63], 1].mean()
    lower_y = ref_on_asset[[65, 66, 67], 1].mean()
    if lower_y - upper_y < 0.1 * rig.iod:  # type: ignore[attr-defined]
        raise PrepError(f"reference mouth_open={path.name}: the mouth is not open in that image")
    mid = (upper_y + lower_y) / 2
    ref_rest = fit_rest_curves(ref_on_asset)
    from models.motion import CURVE_INDEX

    jaw_i = CURVE_INDEX["jawOpen"]
    chin_shift = (ref_rest[jaw_i] - rest[jaw_i]) * rig.deltas[jaw_i, 8]  # type: ignore[attr-defined]
    x0 = int(np.floor(poly[:, 0].min())) - 2
    x1 = int(np.ceil(poly[:, 0].max())) + 3
    y0 = int(np.floor(upper_y - 0.3 * rig.iod))  # type: ignore[attr-defined]
    y1 = int(np.ceil(lower_y + 0.1 * rig.iod))  # type: ignore[attr-defined]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    region = warped[y0:y1, x0:x1]
    mask = inside[y0:y1, x0:x1]
    rows = np.arange(y0, y1, dtype=np.float32)[:, None]
    upper_a = mask * np.clip((mid - rows) / 2.0 + 0.5, 0, 1)
    lower_a = mask * np.clip((rows - mid) / 2.0 + 0.5, 0, 1)
    upper = np.dstack([region, (upper_a * 255).astype(np.uint8)])
    lower = np.dstack([region, (lower_a * 255).astype(np.uint8)])
    return {
        "mouth_upper": upper,
        "mouth_upper.origin": np.array([x0, y0], np.float32),
        "mouth_lower": lower,
        "mouth_lower.origin": np.array([x0 - chin_shift[0], y0 - chin_shift[1]], np.float32),
    }


def _asset_texture_origin(
    image: np.ndarray, lm: np.ndarray, name: str
) -> tuple[int, int, int, int] | None:
    textures = tex.eye_textures(image, lm)
    if name not in textures:
        return None
    o = textures[f"{name}.origin"]
    sprite = textures[name]
    return int(o[0]), int(o[1]), int(sprite.shape[1]), int(sprite.shape[0])


def load_character(source: str | Path | None, size: int = 512) -> CharacterAsset:
    """A character from a ``.lpmchar`` file, a portrait to prepare, or (``None``) the default."""
    if source is None:
        return prepare_default_character(size=size)
    path = Path(source)
    if path.suffix == ".lpmchar":
        return CharacterAsset.load(path)
    return prepare_character(path, size=size)
