"""Phones → mouth curves: per-viseme ARKit targets blended by dominance (coarticulation).

Each phone is a segment with a target per mouth channel and a dominance function per channel
group (Cohen & Massaro 1993, with exponent c = 2): constant ``alpha`` inside the segment,
falling off before it (anticipation, time constant ``tau_ant``) and after it (carry-over,
``tau_car``); ``d`` is the distance in seconds to the segment, 0 inside it::

    D_s(t) = alpha_s · exp(-(d_before(t) / tau_ant_s)² - (d_after(t) / tau_car_s)²)
    y(t)   = Σ_s D_s(t) · target_s / Σ_s D_s(t)

A segment's influence reaches about ``2 · tau`` away: ~100 ms of anticipation by default.

Strong segments win where they overlap weak ones: bilabials (/p b m/) and labiodentals (/f v/)
close the lips whatever surrounds them; rounded vowels reach ~100 ms back over consonants whose
lips are free (anticipatory rounding, "s-t-oo"); alveolars and velars leave the lips to their
neighbours. Silences are segments too, so the mouth settles at rest in pauses and clip edges.

Curves are computed on a 2 ms grid and **averaged over each 40 ms video frame** (what a camera
integrates), not sampled at frame instants. Diphthongs glide: their second 45 % takes the
viseme they end on. Output: offsets ``[T, 61]`` on the mouth curves only (the rest are 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.corpus.phones import DIPHTHONG_END, VISEMES
from models.corpus.schema import FPS, Phone
from models.motion import CURVE_INDEX, NUM_CURVES

# Mouth channels; a symmetric channel drives both the Left and Right curve.
CHANNELS: tuple[str, ...] = (
    "jaw",
    "close",
    "funnel",
    "pucker",
    "stretch",
    "roll_lower",
    "roll_upper",
    "press",
    "lower_down",
    "upper_up",
    "smile",
    "tongue",
)
_CHANNEL_CURVES: dict[str, tuple[str, ...]] = {
    "jaw": ("jawOpen",),
    "close": ("mouthClose",),
    "funnel": ("mouthFunnel",),
    "pucker": ("mouthPucker",),
    "stretch": ("mouthStretchLeft", "mouthStretchRight"),
    "roll_lower": ("mouthRollLower",),
    "roll_upper": ("mouthRollUpper",),
    "press": ("mouthPressLeft", "mouthPressRight"),
    "lower_down": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "upper_up": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "tongue": ("tongueOut",),
}
# Every curve a viseme may move (the director's expression layer owns them outside speech).
MOUTH_CURVES: tuple[str, ...] = tuple(c for names in _CHANNEL_CURVES.values() for c in names)
# Dominance groups: the jaw (with the lip corners it carries), the lips, the tongue tip.
_GROUP_OF_CHANNEL = {
    "jaw": 0,
    "lower_down": 0,
    "upper_up": 0,
    "close": 1,
    "funnel": 1,
    "pucker": 1,
    "stretch": 1,
    "roll_lower": 1,
    "roll_upper": 1,
    "press": 1,
    "smile": 1,
    "tongue": 2,
}
NUM_GROUPS = 3

# Targets at full articulation (neutral rest = 0). Values follow Live Link Face captures of
# ordinary speech: jawOpen peaks near 0.5 on /a/, lips press to ~0.5 on /p b m/. "close" is the
# degree of lip closure (0..1): ARKit's mouthClose brings the lips together *against* an open
# jaw, so the curve is that degree times the jaw opening at the moment.
_TARGETS: dict[str, dict[str, float]] = {
    "sil": {},
    "PP": {"jaw": 0.06, "close": 1.0, "press": 0.55, "roll_lower": 0.2, "roll_upper": 0.12},
    "FF": {"jaw": 0.08, "roll_lower": 0.45, "upper_up": 0.25, "press": 0.08, "funnel": 0.05},
    "TH": {"jaw": 0.12, "tongue": 0.3, "lower_down": 0.1, "upper_up": 0.05, "stretch": 0.05},
    "DD": {"jaw": 0.14, "lower_down": 0.12, "upper_up": 0.05, "stretch": 0.1},
    "kk": {"jaw": 0.2, "lower_down": 0.12, "stretch": 0.1},
    "CH": {"jaw": 0.1, "funnel": 0.45, "pucker": 0.3, "upper_up": 0.25, "lower_down": 0.25},
    "SS": {"jaw": 0.05, "stretch": 0.3, "smile": 0.08, "upper_up": 0.15, "lower_down": 0.15},
    "nn": {"jaw": 0.12, "lower_down": 0.1, "stretch": 0.08},
    "RR": {"jaw": 0.14, "funnel": 0.3, "pucker": 0.25, "upper_up": 0.08},
    "aa": {"jaw": 0.55, "lower_down": 0.3, "upper_up": 0.12, "stretch": 0.08},
    "E": {"jaw": 0.32, "lower_down": 0.2, "stretch": 0.22, "smile": 0.06, "upper_up": 0.06},
    "ih": {"jaw": 0.18, "stretch": 0.42, "smile": 0.18, "lower_down": 0.1, "upper_up": 0.06},
    "oh": {"jaw": 0.4, "funnel": 0.55, "pucker": 0.25, "lower_down": 0.1},
    "ou": {"jaw": 0.15, "funnel": 0.35, "pucker": 0.7},
}


@dataclass(frozen=True)
class Dominance:
    """Dominance of a viseme per group (jaw, lips, tongue): strength and time constants (s)."""

    alpha: tuple[float, float, float]
    tau_ant: tuple[float, float, float]
    tau_car: tuple[float, float, float]


def _dom(alpha: tuple[float, float, float], ant: float = 0.05, car: float = 0.04) -> Dominance:
    return Dominance(alpha, (ant, ant, ant), (car, car, car))


_DOMINANCE: dict[str, Dominance] = {
    "sil": _dom((0.5, 0.5, 0.5), ant=0.06, car=0.05),
    # Lip closure must happen: strong on the lips, starting ~100 ms ahead, released fast.
    "PP": Dominance((1.5, 3.0, 0.3), (0.05, 0.045, 0.05), (0.04, 0.03, 0.04)),
    "FF": Dominance((0.8, 2.5, 0.3), (0.05, 0.045, 0.05), (0.04, 0.03, 0.04)),
    "TH": _dom((0.6, 0.3, 2.0)),
    "DD": _dom((0.6, 0.25, 0.5)),
    "kk": _dom((0.5, 0.2, 0.3)),
    "CH": _dom((0.8, 1.5, 0.5)),
    "SS": _dom((1.2, 0.6, 0.5)),  # teeth nearly closed for frication
    "nn": _dom((0.5, 0.2, 0.4)),
    "RR": _dom((0.6, 0.9, 0.3)),
    "aa": _dom((1.0, 0.6, 0.3)),
    "E": _dom((1.0, 0.6, 0.3)),
    "ih": _dom((1.0, 0.7, 0.3)),
    # Rounded vowels: lip rounding anticipated far ahead over free consonants.
    "oh": Dominance((1.0, 1.5, 0.3), (0.05, 0.1, 0.05), (0.04, 0.05, 0.04)),
    "ou": Dominance((1.0, 1.5, 0.3), (0.05, 0.1, 0.05), (0.04, 0.05, 0.04)),
}

GRID_HZ = 500.0  # evaluation grid before frame integration (2 ms)
_REACH_S = 0.35  # beyond this distance a segment's dominance is negligible (< e^-12 of alpha)


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    nv, nc = len(VISEMES), len(CHANNELS)
    targets = np.zeros((nv, nc))
    alpha = np.zeros((nv, NUM_GROUPS))
    tau_ant = np.zeros((nv, NUM_GROUPS))
    tau_car = np.zeros((nv, NUM_GROUPS))
    for v, name in enumerate(VISEMES):
        for channel, value in _TARGETS[name].items():
            targets[v, CHANNELS.index(channel)] = value
        d = _DOMINANCE[name]
        alpha[v], tau_ant[v], tau_car[v] = d.alpha, d.tau_ant, d.tau_car
    expand = np.zeros((nc, NUM_CURVES))  # channel → curves
    for c, channel in enumerate(CHANNELS):
        for curve in _CHANNEL_CURVES[channel]:
            expand[c, CURVE_INDEX[curve]] = 1.0
    return targets, alpha, tau_ant, tau_car, expand


_TARGET_TABLE, _ALPHA, _TAU_ANT, _TAU_CAR, _EXPAND = _tables()
_GROUP = np.array([_GROUP_OF_CHANNEL[c] for c in CHANNELS])
_VISEME_INDEX = {name: i for i, name in enumerate(VISEMES)}
_CLOSE, _JAW_CHANNEL = CHANNELS.index("close"), CHANNELS.index("jaw")


def viseme_target(viseme: str) -> np.ndarray:
    """The full-articulation offsets ``[61]`` of one viseme (its target, before blending)."""
    row = _TARGET_TABLE[_VISEME_INDEX[viseme]].copy()
    row[_CLOSE] *= row[_JAW_CHANNEL]
    return row @ _EXPAND


def _segments(phones: Sequence[Phone], duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``(bounds [N, 2], viseme index [N])`` covering ``[0, duration_s]``: phones (diphthongs
    split), and silence wherever no phone is."""
    bounds: list[tuple[float, float]] = []
    index: list[int] = []
    clock = 0.0
    for p in sorted(phones, key=lambda q: q.start_s):
        start, end = max(p.start_s, clock), min(p.end_s, duration_s)
        if end <= start:
            continue
        if start > clock + 1e-6:
            bounds.append((clock, start))
            index.append(_VISEME_INDEX["sil"])
        glide = DIPHTHONG_END.get(p.phone)
        if glide is not None and end - start > 0.06:
            mid = start + 0.55 * (end - start)
            bounds += [(start, mid), (mid, end)]
            index += [_VISEME_INDEX[p.viseme], _VISEME_INDEX[glide]]
        else:
            bounds.append((start, end))
            index.append(_VISEME_INDEX[p.viseme])
        clock = end
    if clock < duration_s - 1e-6 or not bounds:
        bounds.append((clock, max(duration_s, clock + 1e-3)))
        index.append(_VISEME_INDEX["sil"])
    return np.asarray(bounds, np.float64), np.asarray(index, np.int64)


def mouth_offsets(
    phones: Sequence[Phone],
    num_frames: int,
    fps: float = FPS,
    articulation: float = 1.0,
) -> np.ndarray:
    """Mouth curve offsets ``[num_frames, 61]`` float32 for one stream's phones.

    ``phones``: on the clip's timeline (seconds); time without phones is silence.
    ``articulation``: scales every target (hypo- vs hyper-articulated speech).
    Frame ``t`` averages the blended curves over ``[t / fps, (t + 1) / fps)``.
    """
    duration = num_frames / fps
    if num_frames == 0:
        return np.zeros((0, NUM_CURVES), np.float32)
    bounds, vis = _segments(phones, duration)
    per_frame = max(1, round(GRID_HZ / fps))
    t = (np.arange(num_frames * per_frame) + 0.5) / (per_frame * fps)  # [M] sub-frame centres
    start, end = bounds[:, 0], bounds[:, 1]
    # Only segments within reach of a chunk of the grid contribute; chunks keep memory small.
    out = np.zeros((t.size, len(CHANNELS)))
    chunk = 2048
    for a in range(0, t.size, chunk):
        tc = t[a : a + chunk]
        near = (end > tc[0] - _REACH_S) & (start < tc[-1] + _REACH_S)
        s, e, v = start[near], end[near], vis[near]
        before = np.maximum(s[None, :] - tc[:, None], 0.0)[:, :, None]  # [m, n, 1]
        after = np.maximum(tc[:, None] - e[None, :], 0.0)[:, :, None]
        dom = _ALPHA[v][None] * np.exp(
            -((before / _TAU_ANT[v][None]) ** 2) - (after / _TAU_CAR[v][None]) ** 2
        )
        dom_c = dom[:, :, _GROUP]  # [m, n, C]
        num = np.einsum("mnc,nc->mc", dom_c, _TARGET_TABLE[v])
        out[a : a + chunk] = num / np.maximum(dom_c.sum(axis=1), 1e-12)
    out[:, _CLOSE] *= out[:, _JAW_CHANNEL]  # closure degree → mouthClose against the jaw
    frames = out.reshape(num_frames, per_frame, len(CHANNELS)).mean(axis=1)
    return (articulation * frames @ _EXPAND).astype(np.float32)
