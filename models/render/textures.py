"""Textures a character asset needs beyond the portrait itself (asset preparation, offline).

* head-and-shoulders alpha (GrabCut seeded from the landmarks), and the background plate behind
  it (inpainted), so head motion reveals background rather than holes;
* the "closed plate": the portrait with the mouth interior painted over with lip colour and the
  eye openings with eyelid skin — the warp samples it, and the mouth and eye layers draw what is
  behind the lips and lids through the *current* openings;
* mouth interior sprites: an upper layer fixed to the skull (upper teeth; taken from the photo
  when teeth show) and a lower layer fixed to the jaw (tongue and lower teeth), drawn over a
  cavity colour — together they work at any jaw opening;
* eyeball sprites: the sclera with the iris removed, and the iris as a separate disc that moves
  with gaze; for drawn eyes (faces set up from key points) also the eye's ``cover`` (opening,
  outline and what it encloses: ``uint8 [h, w]``, what a shut lid hides) and its ``lash`` (the
  drawn line above the opening, RGBA: the lid line a blink slides down).

Every sprite is RGBA with its top-left ``origin`` in asset pixels (key ``<name>.origin``).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from models.render.rig import EYE_L, EYE_R, INNER_LIPS, OUTER_LIPS, FaceFrame

TextureSet = dict[str, np.ndarray]


@functools.lru_cache(maxsize=32)
def _catmull_rom_basis(n: int, samples_per_segment: int) -> np.ndarray:
    """Matrix ``[n*s, n]`` that samples a closed Catmull-Rom spline through ``n`` points."""
    t = np.linspace(0.0, 1.0, samples_per_segment, endpoint=False)
    coeffs = 0.5 * np.stack(
        [
            -t + 2 * t**2 - t**3,  # p[i-1]
            2 - 5 * t**2 + 3 * t**3,  # p[i]
            t + 4 * t**2 - 3 * t**3,  # p[i+1]
            -(t**2) + t**3,  # p[i+2]
        ],
        axis=1,
    )
    basis = np.zeros((n * samples_per_segment, n), np.float32)
    for i in range(n):
        rows = slice(i * samples_per_segment, (i + 1) * samples_per_segment)
        for k, off in enumerate((-1, 0, 1, 2)):
            basis[rows, (i + off) % n] += coeffs[:, k]
    return basis


def closed_curve(points: np.ndarray, samples_per_segment: int = 4) -> np.ndarray:
    """Densify a closed polygon ``[N, 2]`` with a Catmull-Rom spline, ``[N*s, 2]``."""
    p = np.asarray(points, np.float32)
    return _catmull_rom_basis(len(p), samples_per_segment) @ p


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray, feather: float = 0.0) -> np.ndarray:
    """Float mask ``[H, W]`` in 0..1 of an anti-aliased polygon, optionally feathered (px)."""
    mask = np.zeros(shape, np.uint8)
    pts = np.round(polygon * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    m = mask.astype(np.float32) / 255.0
    if feather > 0:
        m = cv2.GaussianBlur(m, (0, 0), feather)
    return m


# --- alpha and background -------------------------------------------------------------------


def head_and_shoulders_alpha(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Soft alpha ``[H, W]`` uint8 of head, hair, neck and shoulders (GrabCut from landmarks)."""
    h, w = image.shape[:2]
    fr = FaceFrame.from_landmarks(landmarks)
    d = fr.iod
    mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    # Probably foreground: a generous head ellipse and a shoulder trapezoid below the chin.
    center = landmarks.mean(axis=0)
    cv2.ellipse(
        mask,
        (int(center[0]), int(center[1] - 0.4 * d)),
        (int(1.6 * d), int(2.1 * d)),
        0,
        0,
        360,
        int(cv2.GC_PR_FGD),
        -1,
    )
    chin = landmarks[8]
    shoulders = np.array(
        [
            [chin[0] - 0.9 * d, chin[1]],
            [chin[0] + 0.9 * d, chin[1]],
            [chin[0] + 3.0 * d, h],
            [chin[0] - 3.0 * d, h],
        ],
        np.int32,
    )
    cv2.fillConvexPoly(mask, shoulders, int(cv2.GC_PR_FGD))
    # Certainly foreground: the face itself (landmark hull, pulled in a little) and the neck.
    hull = cv2.convexHull(landmarks.astype(np.float32)).reshape(-1, 2)
    hull = center + (hull - center) * 0.9
    cv2.fillConvexPoly(mask, hull.astype(np.int32), int(cv2.GC_FGD))
    neck = np.array(
        [
            [chin[0] - 0.45 * d, chin[1] - 0.3 * d],
            [chin[0] + 0.45 * d, chin[1] - 0.3 * d],
            [chin[0] + 0.45 * d, min(h - 1, chin[1] + 0.6 * d)],
            [chin[0] - 0.45 * d, min(h - 1, chin[1] + 0.6 * d)],
        ],
        np.int32,
    )
    cv2.fillConvexPoly(mask, neck, int(cv2.GC_FGD))
    # Certainly background: the top border strip and the upper side strips.
    border = max(2, int(0.02 * min(h, w)))
    mask[:border, :] = cv2.GC_BGD
    top_half = int(chin[1] - 0.5 * d)
    mask[:top_half, :border] = cv2.GC_BGD
    mask[:top_half, -border:] = cv2.GC_BGD
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    cv2.grabCut(bgr, mask, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    fg = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    # Keep the component that holds the face; close small gaps.
    n, labels = cv2.connectedComponents(fg)
    if n > 1:
        face_label = labels[int(landmarks[30, 1]), int(landmarks[30, 0])]
        if face_label > 0:
            fg = (labels == face_label).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    soft = cv2.GaussianBlur(fg.astype(np.float32), (0, 0), 1.2)
    return np.clip(soft * 255.0 + 0.5, 0, 255).astype(np.uint8)


# A background counts as one flat colour when this share of the border pixels lies within
# BACKGROUND_TOLERANCE (per channel, 0..255) of their median: drawings and renders on a solid
# fill do, photographs do not (the test photos: at most 0.27).
SOLID_BORDER_SHARE = 0.6
BACKGROUND_TOLERANCE = 12


def solid_background(image: np.ndarray) -> np.ndarray | None:
    """The background colour ``uint8 [3]`` when the image's border is one flat colour, else
    None."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.int16)
    colour = np.median(border, axis=0)
    close = np.abs(border - colour).max(axis=1) <= BACKGROUND_TOLERANCE
    if close.mean() < SOLID_BORDER_SHARE:
        return None
    return np.asarray(np.round(colour), np.uint8)


def keyed_alpha(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Alpha ``uint8 [H, W]`` of everything but the flat background of ``colour`` that reaches
    the image border. Line art stays whole: its dark outlines are far from any fill colour, and
    regions of the fill colour enclosed by the character (a white collar) stay opaque."""
    dist = np.abs(image.astype(np.int16) - colour.astype(np.int16)).max(axis=2)
    near = (dist <= BACKGROUND_TOLERANCE).astype(np.uint8)
    _, labels = cv2.connectedComponents(near, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, edge[edge > 0])
    # Anti-aliased edges: the pixels next to the fill are partly fill; their coverage is how far
    # their colour is from the fill (up to 4 tolerances away counts as opaque).
    ring = cv2.dilate(background.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ring &= ~background
    alpha = np.where(background, 0.0, 1.0)
    alpha[ring] = np.clip(dist[ring] / (4.0 * BACKGROUND_TOLERANCE), 0.0, 1.0)
    return np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)


def flat_background_plate(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """A background plate of one colour (the fill behind a drawing, or behind transparency)."""
    return np.ascontiguousarray(np.broadcast_to(colour.astype(np.uint8), image.shape))


def background_plate(image: np.ndarray, alpha: np.ndarray, iod: float) -> np.ndarray:
    """The scene behind the character: alpha region (dilated) inpainted from its surroundings.

    Inpainting runs at reduced resolution (the revealed slivers are thin and soft), then the plate
    keeps the original pixels wherever the character was not.
    """
    h, w = image.shape[:2]
    hole = (alpha > 8).astype(np.uint8)
    grow = max(3, int(0.08 * iod)) | 1
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    scale = 4
    small = cv2.resize(image, (w // scale, h // scale), interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole, (w // scale, h // scale), interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_hole * 255, 5, cv2.INPAINT_TELEA)
    filled = cv2.GaussianBlur(filled, (0, 0), 1.5)
    up = cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC)
    out = image.copy()
    out[hole > 0] = up[hole > 0]
    return out


# --- the closed plate -----------------------------------------------------------------------


def _inner_mouth_polygon(lm: np.ndarray) -> np.ndarray:
    return closed_curve(lm[INNER_LIPS])


def _eye_polygon(lm: np.ndarray, eye: np.ndarray) -> np.ndarray:
    return closed_curve(lm[eye])


def skin_colour(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The face's skin colour ``float32 [3]``: the median of the cheeks between the lower lids,
    the nose and the mouth corners, leaving out drawn lines and shadows (the darkest third)."""
    h, w = image.shape[:2]
    region = np.zeros((h, w), np.uint8)
    for lid, nose, corner in (((40, 41), 31, 48), ((46, 47), 35, 54)):
        tri = np.array([landmarks[lid[0]], landmarks[lid[1]], landmarks[corner], landmarks[nose]])
        cv2.fillConvexPoly(region, np.round(tri).astype(np.int32), 1)
    px = image[region > 0].astype(np.float32)
    if len(px) < 8:
        px = image[max(int(landmarks[30, 1]), 0) : int(landmarks[30, 1]) + 1].reshape(-1, 3)
        px = px.astype(np.float32)
    lum = px.mean(axis=1)
    lit = px[lum >= np.percentile(lum, 33)]
    return np.median(lit if len(lit) else px, axis=0).astype(np.float32)


def closed_plate(
    image: np.ndarray, landmarks: np.ndarray, skin: np.ndarray | None = None
) -> np.ndarray:
    """Portrait with mouth interior and eye openings painted over with lip and lid skin.

    ``skin``: for drawn faces, the eye openings are filled with this flat colour rather than
    inpainted from their surroundings (thick lash lines and outlines would smear into them)."""
    h, w = image.shape[:2]
    d = FaceFrame.from_landmarks(landmarks).iod
    out = image.copy()
    holes = np.zeros((h, w), np.uint8)
    eyes = np.zeros((h, w), np.uint8)
    for poly in (_eye_polygon(landmarks, EYE_R), _eye_polygon(landmarks, EYE_L)):
        eyes = np.maximum(eyes, (polygon_mask((h, w), poly) > 0.02).astype(np.uint8))
    mouth = (polygon_mask((h, w), _inner_mouth_polygon(landmarks)) > 0.02).astype(np.uint8)
    holes = cv2.dilate(np.maximum(mouth, eyes if skin is None else 0), np.ones((3, 3), np.uint8))
    if holes.any():
        radius = max(3, int(0.06 * d))
        out = cv2.inpaint(out, holes * 255, radius, cv2.INPAINT_TELEA)
    if skin is not None:
        out[eyes > 0] = np.clip(skin, 0, 255).astype(np.uint8)
    return out


# --- mouth interior -------------------------------------------------------------------------


def _teeth_band(
    width: int, height: int, lower: bool, shade: float, tint: np.ndarray | None = None
) -> np.ndarray:
    """A synthetic row of teeth ``[height, width, 4]`` RGBA: incisors in front, shadowed sides,
    thin gaps, edge curving with the dental arch."""
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    base = np.array([236, 230, 214], np.float32)
    if tint is not None:
        # Lit like the rest of the picture: pulled a quarter of the way toward its tone.
        base = 0.75 * base + 0.25 * np.clip(tint.astype(np.float32) * 1.35, 0, 255)
    base = base * shade
    # Tooth boundaries: central incisors widest, narrowing toward the sides (canines, premolars);
    # each tooth is brighter in its middle (rounded enamel) with a thin dark gap at its edges.
    edges = np.array([0.0, 0.22, 0.4, 0.56, 0.7, 0.82, 0.92])
    edges = np.concatenate([-edges[::-1][:-1], edges])
    k = np.clip(np.searchsorted(edges, x) - 1, 0, len(edges) - 2)
    left, right = edges[k], edges[k + 1]
    phase = np.clip((x - left) / np.maximum(right - left, 1e-6), 0.0, 1.0)
    rounded = 0.9 + 0.1 * np.sin(np.pi * phase) ** 0.6
    gaps = rounded * (1.0 - 0.14 * np.exp(-((np.minimum(phase, 1 - phase) / 0.05) ** 2)))
    # Teeth are never identical: a small fixed per-tooth variation in shade.
    gaps *= 1.0 + 0.04 * np.sin(7.3 * k + 1.1)
    side_shadow = 1.0 - 0.55 * np.abs(x) ** 2.2
    # The cutting edge follows the arch: long in front, shorter at the sides.
    edge_len = 1.0 - 0.35 * x**2
    if lower:
        tooth = (1.0 - y) <= edge_len[None, :]
        vertical = 0.75 + 0.25 * (1.0 - y)
    else:
        tooth = y <= edge_len[None, :]
        vertical = 0.8 + 0.2 * y
    rgb = base[None, None, :] * (gaps * side_shadow)[None, :, None] * vertical[..., None]
    rgb = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 0.5)
    a = tooth.astype(np.float32)
    a = cv2.GaussianBlur(a, (0, 0), 0.6)
    out = np.zeros((height, width, 4), np.uint8)
    out[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(a * 255, 0, 255).astype(np.uint8)
    return out


def _paste_rgba(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    """Alpha-composite ``src`` RGBA onto ``dst`` RGBA at (x, y), clipped (``over`` operator)."""
    h, w = src.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, dst.shape[1]), min(y + h, dst.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    s = src[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    d = dst[y0:y1, x0:x1].astype(np.float32)
    sa = s[..., 3:4] / 255.0
    da = d[..., 3:4] / 255.0
    oa = sa + da * (1 - sa)
    rgb = (s[..., :3] * sa + d[..., :3] * da * (1 - sa)) / np.maximum(oa, 1e-6)
    dst[y0:y1, x0:x1, :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    dst[y0:y1, x0:x1, 3] = np.clip(oa[..., 0] * 255, 0, 255).astype(np.uint8)


def mouth_textures(
    image: np.ndarray, landmarks: np.ndarray, skin: np.ndarray | None = None
) -> TextureSet:
    """Upper (skull-fixed) and lower (jaw-fixed) mouth interior sprites and the cavity colour.

    ``skin`` (drawn faces): the cavity takes its hue from the drawing's mouth line."""
    h, w = image.shape[:2]
    fr = FaceFrame.from_landmarks(landmarks)
    d = fr.iod
    mouth_w = float(np.linalg.norm(landmarks[54] - landmarks[48]))
    upper_y = float(landmarks[[61, 62, 63], 1].mean())
    lower_y = float(landmarks[[65, 66, 67], 1].mean())
    cx = float(landmarks[[48, 54], 0].mean())
    # Sprite boxes span the mouth and what a wide-open jaw can reveal.
    x0 = int(np.floor(cx - 0.65 * mouth_w))
    x1 = int(np.ceil(cx + 0.65 * mouth_w))
    sw = x1 - x0
    poly = _inner_mouth_polygon(landmarks)
    interior = polygon_mask((h, w), poly) > 0.5
    around = polygon_mask((h, w), closed_curve(landmarks[OUTER_LIPS])) > 0.5
    tint = image[around].reshape(-1, 3).mean(axis=0) if around.any() else None
    area = int(interior.sum())

    # Cavity colour: the darkest visible interior pixels, or a default dark red.
    cavity = np.array([58, 18, 24], np.float32)
    teeth_visible = False
    if area > 0.02 * d * d:
        px = image[interior].astype(np.float32)
        lum = px.mean(axis=1)
        dark = px[lum <= np.percentile(lum, 20)]
        if len(dark):
            cavity = 0.5 * cavity + 0.5 * dark.mean(axis=0) * 0.8
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)[interior]
        bright = (hsv[:, 2] > 140) & (hsv[:, 1] < 90)
        teeth_visible = bright.mean() > 0.2
    elif skin is not None and around.any():
        # A drawn mouth shut at rest is a line (or thin lips): its darkest pixels give the hue.
        px = image[around].astype(np.float32)
        lum = px.mean(axis=1)
        line = px[lum <= np.percentile(lum, 15)].mean(axis=0)
        cavity = 0.5 * cavity + 0.5 * np.minimum(line * 0.6, skin * 0.45)

    # Upper layer, fixed to the skull.
    uy0 = int(np.floor(upper_y - 0.3 * d))
    uh = int(np.ceil(0.3 * d + max(lower_y - upper_y, 0) + 0.05 * d))
    upper = np.zeros((uh, sw, 4), np.uint8)
    if teeth_visible:
        # The photo's own interior (rest pose exact), extended upward by edge replication so a
        # lifting upper lip uncovers more of the same teeth.
        src = np.zeros((uh, sw, 4), np.uint8)
        ys, xs = np.clip(np.arange(uy0, uy0 + uh), 0, h - 1), np.clip(np.arange(x0, x1), 0, w - 1)
        src[..., :3] = image[np.ix_(ys, xs)]
        m = np.zeros((uh, sw), np.float32)
        m[...] = polygon_mask((h, w), poly)[np.ix_(ys, xs)]
        top_row = np.argmax(m > 0.5, axis=0)
        cols = np.where(m.max(axis=0) > 0.5)[0]
        for c in cols:
            r = int(top_row[c]) + 1
            src[:r, c, :3] = src[min(r + 1, uh - 1), c, :3]
            m[:r, c] = 1.0
        # Opaque down to the lower lip: at rest the interior is exactly the photograph's.
        src[..., 3] = np.clip(m * 255, 0, 255).astype(np.uint8)
        upper = src
    else:
        tw = int(0.85 * mouth_w)
        th = max(3, int(0.16 * d))
        teeth = _teeth_band(tw, th, lower=False, shade=0.95, tint=tint)
        _paste_rgba(upper, teeth, int(cx - tw / 2) - x0, int(upper_y - 0.04 * d) - uy0)

    # Jaw-fixed layers: the tongue (drawn behind the lower teeth unless it sticks out) and the
    # lower teeth.
    ly0 = int(np.floor(lower_y - 0.35 * d))
    lh = int(np.ceil(0.6 * d))
    tongue = np.zeros((lh, sw, 4), np.uint8)
    tcx, tcy = int(cx - x0), int(lower_y - ly0 + 0.02 * d)
    cv2.ellipse(
        tongue,
        (tcx, tcy),
        (max(2, int(0.36 * mouth_w)), max(2, int(0.16 * d))),
        0,
        180,
        360,
        (176, 84, 92, 255),
        -1,
        cv2.LINE_AA,
    )
    tongue = cv2.GaussianBlur(tongue, (0, 0), 1.0)
    lower = np.zeros((lh, sw, 4), np.uint8)
    # Lower incisors sit mostly behind the lower lip: only their edges show as the jaw drops.
    tw = int(0.62 * mouth_w)
    th = max(3, int(0.1 * d))
    lteeth = _teeth_band(tw, th, lower=True, shade=0.8, tint=tint)
    lteeth[..., 3] = (lteeth[..., 3].astype(np.float32) * 0.9).astype(np.uint8)
    _paste_rgba(lower, lteeth, int(cx - tw / 2) - x0, int(lower_y - 0.04 * d) - ly0)

    return {
        "mouth_upper": upper,
        "mouth_upper.origin": np.array([x0, uy0], np.float32),
        "mouth_lower": lower,
        "mouth_lower.origin": np.array([x0, ly0], np.float32),
        "mouth_tongue": tongue,
        "mouth_tongue.origin": np.array([x0, ly0], np.float32),
        "mouth_cavity": np.clip(cavity, 0, 255).astype(np.uint8),
        "mouth_teeth_from_photo": np.array([1 if teeth_visible else 0], np.uint8),
        # Whether the portrait shows its mouth interior at rest (else the lips are taken as
        # closed at rest whatever small gap the landmarks leave).
        "mouth_open_at_rest": np.array([1 if area > 0.02 * d * d else 0], np.uint8),
    }


# --- eyes -----------------------------------------------------------------------------------

# A drawn eye is more than its opening: the dark outline and lash line around it and what they
# enclose. Outline pixels are darker than DRAWN_LINE_LUM of the skin's luminance and reach at
# most DRAWN_EYE_REACH_IOD beyond the opening (brows and hair stay out: they are lighter, or
# separated from the eye by skin).
DRAWN_LINE_LUM = 0.55
DRAWN_EYE_REACH_IOD = 0.12


def drawn_eye_cover(
    crop: np.ndarray, opening: np.ndarray, skin: np.ndarray, iod: float
) -> np.ndarray:
    """Coverage ``float32 [h, w]`` in 0..1 of a drawn eye in ``crop`` ``[h, w, 3]``: the opening
    (``opening``, coverage of the landmark outline), grown through the dark outline pixels
    connected to it, holes enclosed by the outline filled, anti-aliased by a pixel."""
    lum = crop.astype(np.float32).mean(axis=2)
    dark = (lum < DRAWN_LINE_LUM * float(np.mean(skin))).astype(np.uint8)
    cover = (opening > 0.5).astype(np.uint8)
    step = np.ones((3, 3), np.uint8)
    for _ in range(max(1, round(DRAWN_EYE_REACH_IOD * iod))):  # geodesic growth, 1 px a step
        grown = cv2.dilate(cover, step) & np.maximum(dark, cover)
        if np.array_equal(grown, cover):
            break
        cover = grown
    # What the outline encloses (sclera and iris the landmark outline missed) is eye too.
    h, w = cover.shape
    flood = np.pad(1 - cover, 1, constant_values=1)
    reach = np.zeros((h + 4, w + 4), np.uint8)
    cv2.floodFill(flood, reach, (0, 0), 2)
    cover = np.maximum(cover, (flood[1:-1, 1:-1] == 1).astype(np.uint8))
    cover = np.maximum(cover, (opening > 0.02).astype(np.uint8))
    cover = cv2.dilate(cover, step).astype(np.float32)
    return np.asarray(cv2.GaussianBlur(cover, (0, 0), 0.7), np.float32)


# Pixels within this distance (per channel, 0..255) of the skin colour are skin to a drawn lid.
LID_SKIN_TOLERANCE = 48

# Where a drawn eye's upper lid comes to rest when shut: the chord between the corners sagging
# this share of the way toward the lower lid (a gentle arc, not the lower lid's deep curve).
CLOSED_LID_SAG = 0.2


def closed_lid(eye: np.ndarray) -> np.ndarray:
    """Where the landmarks of a drawn eye ``[6, 2]`` (dlib order) lie when it is shut: ``[6, 2]``
    with the upper lid's (1 and 2) moved onto the closed lid's arc, the rest unchanged."""
    eye = np.asarray(eye, np.float32)
    out = eye.copy()
    a, chord = eye[0], eye[3] - eye[0]
    for up, lo in ((1, 5), (2, 4)):
        t = float(np.dot(eye[up] - a, chord) / max(float(np.dot(chord, chord)), 1e-6))
        on_chord = a + float(np.clip(t, 0.0, 1.0)) * chord
        out[up] = on_chord
        out[up, 1] += CLOSED_LID_SAG * max(float(eye[lo, 1] - on_chord[1]), 0.0)
    return out


def upper_lid_rows(eye: np.ndarray, x0: float, width: int) -> np.ndarray:
    """Height ``float32 [width]`` of an eye's upper lid (its densified outline from landmark 0 to
    landmark 3, dlib's eye order; ``eye`` ``[6, 2]``) at the columns x0 … x0 + width - 1; beyond
    the corners, the corners' own height."""
    curve = closed_curve(eye, 4)[: 3 * 4 + 1]
    order = np.argsort(curve[:, 0])
    xs = x0 + np.arange(width, dtype=np.float32)
    return np.interp(xs, curve[order, 0], curve[order, 1]).astype(np.float32)


def _drawn_lid(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    pts: np.ndarray,
    opening: np.ndarray,
    skin: np.ndarray,
    iod: float,
    cover: np.ndarray,
) -> np.ndarray:
    """Lid sprite ``uint8 [h, w, 3]`` for a drawn eye: the skin around the drawn eye (its
    ``cover``, outline included) continued over it, and the closed lid's line (in the colour of
    the drawing's lash line) where the upper lid comes to rest in a blink."""
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1].astype(np.float32)
    # The lash line: the dark band just above the opening.
    lash_px = max(2, round(0.08 * iod))
    kernel = np.zeros((2 * lash_px + 1, 3), np.uint8)
    kernel[lash_px:, :] = 1
    band = (cv2.dilate((opening > 0.5).astype(np.uint8), kernel) > 0) & (opening <= 0.5)
    if band.any():
        px = crop[band]
        lash = px[px.mean(axis=1) <= np.percentile(px.mean(axis=1), 20)].mean(axis=0)
        lash = np.minimum(lash, skin * 0.4)
    else:
        lash = skin * 0.3
    # The skin around the cover is the lid's colour and shading: a normalised convolution of the
    # skin-coloured pixels outside it (brows, hair and lines left out), the skin colour where
    # none is near.
    hole = cv2.dilate((cover > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    near_skin = np.abs(crop - skin).max(axis=2) <= LID_SKIN_TOLERANCE
    known = (near_skin & ~hole).astype(np.float32)
    sigma = max(2.0, 0.1 * iod)
    weight = cv2.GaussianBlur(known, (0, 0), sigma)[..., None] + 1e-3
    smooth = (cv2.GaussianBlur(crop * known[..., None], (0, 0), sigma) + 1e-3 * skin) / weight
    lid = np.where(hole[..., None], smooth, crop)
    # dlib eye order: 0 and 3 are the corners, 1-2 the upper lid over 5-4 the lower lid; a
    # drawn eye shuts along the closed lid's arc (the renderer's blink).
    closed = closed_lid(pts)[:4] - np.array([x0, y0], np.float32)
    width = max(2, round(0.035 * iod))
    cv2.polylines(
        lid,
        [np.round(closed * 16).astype(np.int32)],
        False,
        tuple(float(c) for c in lash),
        width,
        cv2.LINE_AA,
        4,
    )
    return np.clip(lid + 0.5, 0, 255).astype(np.uint8)


def eye_textures(
    image: np.ndarray, landmarks: np.ndarray, skin: np.ndarray | None = None
) -> TextureSet:
    """Per eye: eyeball sprite (sclera, iris removed, extended under the lids) and iris sprite.

    ``skin`` (drawn faces): the iris is sized from the drawing (anime irises fill most of the
    opening) and the lid is flat skin with the closed lid's line, not inpainted from the
    surroundings (which are thick lash lines and outlines in a drawing)."""
    h, w = image.shape[:2]
    d = FaceFrame.from_landmarks(landmarks).iod
    out: TextureSet = {}
    for side, eye in (("r", EYE_R), ("l", EYE_L)):
        pts = landmarks[eye]
        ew = float(np.linalg.norm(pts[3] - pts[0]))
        # A drawn eye's sprites also hold its outline, up to DRAWN_EYE_REACH_IOD beyond.
        margin = 0 if skin is None else int(np.ceil(DRAWN_EYE_REACH_IOD * d)) + 3
        x0 = int(np.floor(pts[:, 0].min() - 0.15 * ew)) - margin
        x1 = int(np.ceil(pts[:, 0].max() + 0.15 * ew)) + margin
        cy = float(pts[:, 1].mean())
        y0 = int(np.floor(cy - 0.45 * ew)) - margin
        y1 = int(np.ceil(cy + 0.45 * ew)) + margin
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        crop = image[y0:y1, x0:x1].astype(np.float32)
        poly = closed_curve(pts) - np.array([x0, y0], np.float32)
        ap = polygon_mask((y1 - y0, x1 - x0), poly)
        inside = ap > 0.5
        lum = crop.mean(axis=2)
        # Iris: the dark disc inside the opening — darkness-weighted centroid, radius from width.
        r_iris = 0.21 * ew
        if inside.sum() >= 4:
            if skin is not None:
                # The iris is the darker half of the opening; its area gives the radius.
                vals = lum[inside]
                dark = inside & (lum < (np.percentile(vals, 5) + np.percentile(vals, 95)) / 2)
                r_iris = float(np.clip(np.sqrt(dark.sum() / np.pi), 0.21 * ew, 0.45 * ew))
            darkness = np.where(inside, np.clip(lum.max() - lum, 0, None), 0.0) ** 2
            yy, xx = np.mgrid[0 : y1 - y0, 0 : x1 - x0]
            tot = darkness.sum()
            icx = float((darkness * xx).sum() / tot) if tot > 0 else poly[:, 0].mean()
            icy = float((darkness * yy).sum() / tot) if tot > 0 else poly[:, 1].mean()
            sclera_px = crop[inside & (lum >= np.percentile(lum[inside], 92))]
            measured = sclera_px.mean(axis=0) if len(sclera_px) else np.array([220, 215, 210])
            # Small, shadowed openings under-read the sclera: lean toward a warm white.
            sclera = 0.5 * measured + 0.5 * np.array([228.0, 222.0, 216.0])
        else:
            icx, icy = float(poly[:, 0].mean()), float(poly[:, 1].mean())
            sclera = np.array([220.0, 215.0, 210.0])
        # Keep the iris centre within the opening horizontally.
        icx = float(np.clip(icx, poly[:, 0].min() + r_iris * 0.6, poly[:, 0].max() - r_iris * 0.6))
        yy, xx = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float32)
        disc = np.clip(r_iris + 0.5 - np.hypot(xx - icx, yy - icy), 0.0, 1.0)
        # Eyeball: the opening as photographed with the iris painted out row by row (linear
        # between the sclera on either side of it), and sclera continued under the lids.
        iris_mask = cv2.dilate((disc > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        ball = crop.copy()
        for row in range(ball.shape[0]):
            cols = np.flatnonzero(iris_mask[row] & inside[row])
            if len(cols) == 0:
                continue
            left, right = cols[0] - 1, cols[-1] + 1
            have_l = left >= 0 and inside[row, left]
            have_r = right < ball.shape[1] and inside[row, right]
            cl = crop[row, left] if have_l else (crop[row, right] if have_r else sclera)
            cr = crop[row, right] if have_r else cl
            t = (cols - left) / max(right - left, 1)
            ball[row, cols] = cl[None, :] * (1 - t[:, None]) + cr[None, :] * t[:, None]
        # Photo pixels are kept over the whole anti-aliased rim of the opening (the renderer's
        # feathered mask reaches there), sclera beyond it.
        keep = cv2.dilate((ap > 0.01).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        ball[~keep] = sclera
        ball = np.where(keep[..., None], ball, cv2.GaussianBlur(ball, (0, 0), max(1.0, 0.05 * ew)))
        shade = 0.82 + 0.18 * np.clip((yy - (icy - r_iris)) / (2 * r_iris), 0.0, 1.0)
        ball = ball * np.where(keep, 1.0, shade)[..., None]
        ball_rgba = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
        ball_rgba[..., :3] = np.clip(ball, 0, 255).astype(np.uint8)
        ball_rgba[..., 3] = 255
        # Lid skin over the same box: the opening and the lash line above it painted from the
        # skin around them (what a closed lid shows).
        lash = max(2, round(0.06 * d))
        kernel = np.zeros((2 * lash + 1, 3), np.uint8)
        kernel[lash:, :] = 1  # a kernel hanging below its anchor grows the mask upward
        hole = cv2.dilate((ap > 0.02).astype(np.uint8), kernel)
        if skin is None:
            lid = cv2.inpaint(image[y0:y1, x0:x1], hole * 255, max(3, lash), cv2.INPAINT_TELEA)
        else:
            cover = drawn_eye_cover(crop, ap, skin, d)
            lid = _drawn_lid(image, (x0, y0, x1, y1), pts, ap, skin, d, cover)
        lid_rgba = np.dstack([lid, np.full(lid.shape[:2], 255, np.uint8)])
        out[f"eye_{side}_lid"] = lid_rgba
        out[f"eye_{side}_lid.origin"] = np.array([x0, y0], np.float32)
        if skin is not None:
            # A drawn eye closes under a lid drawn over all of it (cover, ``[h, w]`` uint8),
            # and its lid line is the drawing's own: the outline above the opening (lash).
            rows = np.arange(y1 - y0, dtype=np.float32)[:, None]
            lid_y = upper_lid_rows(pts, x0, x1 - x0)[None, :] - y0
            above = np.clip(lid_y - rows + 0.5, 0.0, 1.0)
            out[f"eye_{side}_cover"] = np.clip(cover * 255 + 0.5, 0, 255).astype(np.uint8)
            out[f"eye_{side}_cover.origin"] = np.array([x0, y0], np.float32)
            # Only the line itself slides with the lid: iris or sclera above the landmark
            # outline goes under the lid like the rest of the opening.
            line = np.clip((DRAWN_LINE_LUM - lum / float(np.mean(skin))) / 0.15, 0.0, 1.0)
            lash_a = np.clip(cover * above * line * 255 + 0.5, 0, 255).astype(np.uint8)
            out[f"eye_{side}_lash"] = np.dstack([image[y0:y1, x0:x1], lash_a])
            out[f"eye_{side}_lash.origin"] = np.array([x0, y0], np.float32)
        # Iris sprite: the photo's iris where visible, its mean colour where the lids hid it.
        ir = int(np.ceil(r_iris)) + 1
        ix0, iy0 = int(np.floor(icx)) - ir, int(np.floor(icy)) - ir
        size = 2 * ir + 1
        iris = np.zeros((size, size, 4), np.uint8)
        visible_iris = inside & (disc > 0.5)
        iris_color = (
            crop[visible_iris].mean(axis=0) if visible_iris.any() else np.array([70, 55, 45.0])
        )
        for yy_i in range(size):
            for xx_i in range(size):
                sy, sx = iy0 + yy_i, ix0 + xx_i
                if 0 <= sy < y1 - y0 and 0 <= sx < x1 - x0:
                    a = disc[sy, sx]
                    if a <= 0:
                        continue
                    c = crop[sy, sx] if inside[sy, sx] else iris_color * 0.8
                    iris[yy_i, xx_i, :3] = np.clip(c, 0, 255).astype(np.uint8)
                    iris[yy_i, xx_i, 3] = int(a * 255)
        out[f"eye_{side}_ball"] = ball_rgba
        out[f"eye_{side}_ball.origin"] = np.array([x0, y0], np.float32)
        out[f"eye_{side}_iris"] = iris
        out[f"eye_{side}_iris.origin"] = np.array([x0 + ix0, y0 + iy0], np.float32)
        out[f"eye_{side}_width"] = np.array([ew], np.float32)
    return out
