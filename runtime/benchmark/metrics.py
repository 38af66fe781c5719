"""The benchmark's metrics: pure numpy functions of curves, landmarks, descriptors and audio.

Each function states its formula and units; ``docs/metrics.md`` collects the definitions. Time
series are per video frame (``fps`` frames per second, 25 by default). Curves are ``[T, 61]`` in
the order of :mod:`models.motion` (blendshapes 0..1, angles in radians). Mouth openings are in
inter-ocular distances (IOD), the unit of :func:`models.face.inner_mouth_opening`.

Nothing here knows about generators, renderers or dlib: the suites measure, these functions
score, so every score can be checked on synthetic input with a known answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.motion import CURVE_INDEX, CURVE_MAX, CURVE_MIN, CURVE_NAMES, NUM_BLENDSHAPES

# --- correlation and offset -----------------------------------------------------------------------


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two series, NaNs skipped pairwise; NaN when either is constant or < 3 pairs.

    ``r = Σ (x - x̄)(y - ȳ) / sqrt(Σ (x - x̄)² Σ (y - ȳ)²)``, unitless in [-1, 1].
    """
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return math.nan
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else math.nan


def best_lag_correlation(x: np.ndarray, y: np.ndarray, max_lag: int = 5) -> tuple[float, int]:
    """Pearson r of ``x[t]`` with ``y[t - lag]`` maximised over ``|lag| ≤ max_lag``.

    A positive lag means ``x`` follows ``y`` (the mouth trails the voice by ``lag`` frames).
    NaNs in either series are skipped pairwise. Returns ``(-inf, 0)`` when no lag has enough
    varying pairs.
    """
    best_r, best_lag = -np.inf, 0
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            a, b = x[lag:], y[: len(y) - lag]
        else:
            a, b = x[:lag], y[-lag:]
        r = pearson(a, b)
        if math.isfinite(r) and r > best_r:
            best_r, best_lag = r, lag
    return float(best_r), best_lag


@dataclass(frozen=True)
class Offset:
    """Audio-visual offset: the lag (frames, + = picture after sound) of peak correlation."""

    lag_frames: int  # argmax over |lag| ≤ max_lag of r(x[t], y[t - lag])
    r_at_lag: float  # Pearson r at that lag
    r_at_zero: float  # Pearson r with no shift


def av_offset(picture: np.ndarray, sound: np.ndarray, max_lag: int = 5) -> Offset:
    """Offset of a picture-side series (mouth opening, jawOpen) against a sound-side one
    (loudness, a phone target): the lag of the peak of their cross-correlation, in frames."""
    r, lag = best_lag_correlation(picture, sound, max_lag)
    return Offset(lag, r if math.isfinite(r) else math.nan, pearson(picture, sound))


# --- silence --------------------------------------------------------------------------------------


def runs_of(mask: np.ndarray, min_frames: int) -> np.ndarray:
    """Boolean ``[T]``: frames inside runs of ``True`` at least ``min_frames`` long."""
    m = np.asarray(mask, bool)
    out = np.zeros_like(m)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], m.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= min_frames:
            out[start:stop] = True
    return out


def silence_runs(envelope: np.ndarray, threshold: float, min_frames: int) -> np.ndarray:
    """Boolean ``[T]``: frames inside runs of ≥ ``min_frames`` frames below ``threshold``."""
    return runs_of(np.asarray(envelope) < threshold, min_frames)


def silence_threshold(envelope: np.ndarray, share: float = 0.01, floor: float = 1e-3) -> float:
    """Loudness under which a frame is silent: ``max(share × p95(voiced envelope), floor)``.

    ``floor`` (linear RMS, 1e-3 = -60 dBFS) holds when the track has no speech at all.
    """
    env = np.asarray(envelope, np.float64)
    voiced = env[env > floor]
    peak = float(np.percentile(voiced, 95)) if voiced.size else 0.0
    return max(share * peak, floor)


def closed_share(opening: np.ndarray, rest: float, silent: np.ndarray, tolerance: float) -> float:
    """Share of ``silent`` frames whose mouth is closed: ``opening - rest ≤ tolerance``.

    ``opening`` ``[T]`` in any unit (IOD on pixels, jawOpen on curves), NaN where unmeasured
    (skipped). NaN when no silent frame was measured.
    """
    o = np.asarray(opening, np.float64)[np.asarray(silent, bool)]
    o = o[np.isfinite(o)]
    return float(np.mean(o - rest <= tolerance)) if o.size else math.nan


# --- identity -------------------------------------------------------------------------------------


def descriptor_distances(descriptors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Euclidean distance of each descriptor ``[N, 128]`` to ``reference`` ``[128]`` (dlib units:
    same person below 0.6); NaN rows stay NaN."""
    d = np.asarray(descriptors, np.float64).reshape(-1, np.asarray(reference).shape[-1])
    return np.linalg.norm(d - np.asarray(reference, np.float64), axis=1)


def slope_per_minute(times_s: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of ``values`` over time, per minute (value units / min); NaN when
    fewer than 2 finite points or no spread in time."""
    t, v = np.asarray(times_s, np.float64), np.asarray(values, np.float64)
    ok = np.isfinite(t) & np.isfinite(v)
    if ok.sum() < 2 or np.ptp(t[ok]) == 0:
        return math.nan
    t, v = t[ok] / 60.0, v[ok]
    tc = t - t.mean()
    return float((tc * (v - v.mean())).sum() / (tc * tc).sum())


# Blendshapes that only move the iris (gaze), left out of "near rest": the pupils' direction
# hardly moves a face descriptor, and a performer looks away often.
_GAZE_SHAPES = np.array(["eyeLook" in name for name in CURVE_NAMES[:NUM_BLENDSHAPES]])
_HEAD = [CURVE_INDEX[n] for n in ("headYaw", "headPitch", "headRoll")]


def near_rest(
    curves: np.ndarray, rest: np.ndarray, shape_tol: float = 0.1, head_tol_deg: float = 3.0
) -> np.ndarray:
    """Boolean ``[T]``: frames whose pose is close to the rest pose.

    Every blendshape except the eyeLook* gaze shapes within ``shape_tol`` of rest, and head yaw,
    pitch and roll within ``head_tol_deg`` degrees of rest. Eye rotations are not checked.
    """
    c = np.asarray(curves, np.float64)
    r = np.asarray(rest, np.float64)
    shapes = np.abs(c[:, :NUM_BLENDSHAPES] - r[:NUM_BLENDSHAPES])[:, ~_GAZE_SHAPES]
    head = np.abs(c[:, _HEAD] - r[_HEAD])
    return (shapes.max(axis=1) <= shape_tol) & (head.max(axis=1) <= math.radians(head_tol_deg))


# --- motion dynamics ------------------------------------------------------------------------------


def curve_std(curves: np.ndarray) -> np.ndarray:
    """Per-curve standard deviation over time ``[61]`` (blendshape units; radians for angles)."""
    return np.asarray(curves, np.float64).std(axis=0)


def blink_signal(curves: np.ndarray) -> np.ndarray:
    """Eyelid closure per frame ``[T]``: the mean of eyeBlinkLeft and eyeBlinkRight (0..1)."""
    c = np.asarray(curves, np.float64)
    return 0.5 * (c[:, CURVE_INDEX["eyeBlinkLeft"]] + c[:, CURVE_INDEX["eyeBlinkRight"]])


def count_blinks(signal: np.ndarray, threshold: float = 0.5) -> int:
    """Blinks in a lid-closure signal: upward crossings of ``threshold`` (a closure that starts
    above it, at frame 0, counts too)."""
    s = np.asarray(signal, np.float64) >= threshold
    return int(s[0]) + int(np.count_nonzero(s[1:] & ~s[:-1])) if s.size else 0


def blink_rate(signal: np.ndarray, fps: float, threshold: float = 0.5) -> float:
    """Blinks per minute: ``count_blinks / (T / fps / 60)``; NaN for an empty signal."""
    n = len(signal)
    return count_blinks(signal, threshold) * 60.0 * fps / n if n else math.nan


def head_range_deg(curves: np.ndarray, q: tuple[float, float] = (1.0, 99.0)) -> dict[str, float]:
    """Head-motion range per axis in degrees: the spread between the ``q`` percentiles (1st to
    99th by default: the range without single-frame outliers)."""
    c = np.asarray(curves, np.float64)
    out = {}
    for name in ("headYaw", "headPitch", "headRoll"):
        lo, hi = np.percentile(c[:, CURVE_INDEX[name]], q)
        out[name] = math.degrees(float(hi - lo))
    return out


def frozen_frames(
    curves: np.ndarray, fps: float, min_s: float = 1.0, eps: float = 1e-4
) -> np.ndarray:
    """Boolean ``[T]``: frames inside stretches of at least ``min_s`` seconds where no curve
    changes by more than ``eps`` from one frame to the next (a frozen face)."""
    c = np.asarray(curves, np.float64)
    if len(c) < 2:
        return np.zeros(len(c), bool)
    still = np.abs(np.diff(c, axis=0)).max(axis=1) <= eps  # [T-1]: frame t → t+1 unchanged
    # A still step t → t+1 freezes both frames; a run of k still steps spans k + 1 frames.
    steps = runs_of(still, max(1, round(min_s * fps) - 1))
    out = np.zeros(len(c), bool)
    out[:-1] |= steps
    out[1:] |= steps
    return out


def frozen_share(curves: np.ndarray, fps: float, min_s: float = 1.0, eps: float = 1e-4) -> float:
    """Share of frames inside frozen stretches (:func:`frozen_frames`), 0..1."""
    f = frozen_frames(curves, fps, min_s, eps)
    return float(f.mean()) if f.size else math.nan


# --- listening ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackchannelRule:
    """What counts as a visible acknowledgement after the partner's phrase end."""

    window_s: float = 1.2  # it must start within this long after the phrase end
    nod_deg: float = 2.0  # head pitch down by this much over its value at the phrase end ...
    brow: float = 0.1  # ... or browInnerUp up by this much ...
    smile: float = 0.1  # ... or the mean of mouthSmileLeft/Right up by this much


def backchannel_after(
    curves: np.ndarray, frame: int, fps: float, rule: BackchannelRule | None = None
) -> bool:
    """Whether a nod, brow raise or smile (``rule``) happens in frames ``(frame, frame + window]``
    relative to the pose at ``frame``."""
    rule = rule or BackchannelRule()
    c = np.asarray(curves, np.float64)
    if not 0 <= frame < len(c) - 1:
        return False
    stop = min(len(c), frame + 1 + round(rule.window_s * fps))
    seg = c[frame + 1 : stop]
    base = c[frame]
    pitch = CURVE_INDEX["headPitch"]
    brow = CURVE_INDEX["browInnerUp"]
    sl, sr = CURVE_INDEX["mouthSmileLeft"], CURVE_INDEX["mouthSmileRight"]
    nod = (seg[:, pitch] - base[pitch]).max() >= math.radians(rule.nod_deg)
    raise_ = (seg[:, brow] - base[brow]).max() >= rule.brow
    smile = (0.5 * (seg[:, sl] + seg[:, sr]) - 0.5 * (base[sl] + base[sr])).max() >= rule.smile
    return bool(nod or raise_ or smile)


def responsiveness(
    curves: np.ndarray, event_frames: Sequence[int], fps: float, rule: BackchannelRule | None = None
) -> float:
    """Share of events (the partner's phrase ends, as frame indices) followed by a backchannel
    within the rule's window, 0..1; NaN without events."""
    if not event_frames:
        return math.nan
    return float(np.mean([backchannel_after(curves, f, fps, rule) for f in event_frames]))


# --- text control ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expectation:
    """Curves a prompt should move, over frames ``[start, stop)``.

    ``direction``: ``up`` (mean rises), ``down`` (mean falls) or ``moves`` (the 5-95 % spread
    grows: gestures such as nods and head shakes).
    """

    curves: tuple[str, ...]
    direction: str
    start: int
    stop: int


def moved_as_expected(
    with_prompt: np.ndarray,
    without_prompt: np.ndarray,
    expectation: Expectation,
    shape_tol: float = 0.05,
    angle_tol_deg: float = 1.0,
) -> bool | None:
    """Whether every expected curve moved the expected way against the same run without the
    prompt: mean (``up``/``down``) or 5-95 % spread (``moves``) changed by at least
    ``shape_tol`` (blendshapes) or ``angle_tol_deg`` (angles, degrees).

    A curve with no room to move that way (its mean without the prompt already within the
    tolerance of the curve's limit: a portrait that smiles fully at rest cannot smile more) is
    left out; ``None`` when that leaves no curve to judge.
    """
    a = np.asarray(with_prompt, np.float64)[expectation.start : expectation.stop]
    b = np.asarray(without_prompt, np.float64)[expectation.start : expectation.stop]
    if not len(a):
        return False
    judged = 0
    for name in expectation.curves:
        i = CURVE_INDEX[name]
        tol = shape_tol if i < NUM_BLENDSHAPES else math.radians(angle_tol_deg)
        if expectation.direction == "moves":
            spread = np.subtract(*np.percentile(a[:, i], [95, 5]))
            base = np.subtract(*np.percentile(b[:, i], [95, 5]))
            ok = spread - base >= tol
        else:
            up = expectation.direction == "up"
            before = float(b[:, i].mean())
            if (before + tol > CURVE_MAX[i]) if up else (before - tol < CURVE_MIN[i]):
                continue  # saturated: nothing to see
            diff = float(a[:, i].mean()) - before
            ok = diff >= tol if up else diff <= -tol
        if not ok:
            return False
        judged += 1
    return True if judged else None


def controllability(
    with_prompt: np.ndarray,
    without_prompt: np.ndarray,
    prompts: Sequence[Sequence[Expectation]],
    shape_tol: float = 0.05,
    angle_tol_deg: float = 1.0,
) -> float:
    """Share of prompts all of whose judged expectations hold (:func:`moved_as_expected`),
    0..1; prompts with nothing to judge are left out; NaN when none is left."""
    verdicts = [
        prompt_verdict(with_prompt, without_prompt, p, shape_tol, angle_tol_deg) for p in prompts
    ]
    judged = [v for v in verdicts if v is not None]
    return float(np.mean(judged)) if judged else math.nan


def prompt_verdict(
    with_prompt: np.ndarray,
    without_prompt: np.ndarray,
    expectations: Sequence[Expectation],
    shape_tol: float = 0.05,
    angle_tol_deg: float = 1.0,
) -> bool | None:
    """One prompt: ``False`` if any judged expectation fails, ``True`` if at least one was
    judged and all held, ``None`` if nothing could be judged (every curve saturated)."""
    verdicts = [
        moved_as_expected(with_prompt, without_prompt, e, shape_tol, angle_tol_deg)
        for e in expectations
    ]
    if any(v is False for v in verdicts):
        return False
    return True if any(v is True for v in verdicts) else None


# --- pixels: jitter -------------------------------------------------------------------------------


def landmark_jitter(landmarks: np.ndarray, iod: np.ndarray) -> float:
    """Mean landmark acceleration on rendered frames, in IOD per frame².

    ``a_t = mean_k ‖p_k(t+1) - 2 p_k(t) + p_k(t-1)‖ / IOD(t)`` over the 68 points ``k``, averaged
    over every ``t`` whose three frames all have landmarks (NaN rows in ``landmarks`` ``[T, 68,
    2]`` or ``iod`` ``[T]`` mark frames without a face). NaN when no such triple exists.
    Constant-velocity motion scores 0; a still face scores 0.
    """
    p = np.asarray(landmarks, np.float64)
    s = np.asarray(iod, np.float64)
    if len(p) < 3:
        return math.nan
    acc = p[2:] - 2.0 * p[1:-1] + p[:-2]  # [T-2, 68, 2]
    mag = np.linalg.norm(acc, axis=2).mean(axis=1) / s[1:-1]
    mag = mag[np.isfinite(mag)]
    return float(mag.mean()) if mag.size else math.nan


# --- speed ----------------------------------------------------------------------------------------


def percentiles(
    values: Sequence[float] | np.ndarray, qs: Sequence[float] = (50, 99)
) -> list[float]:
    """Percentiles of ``values`` (NaN for none)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return [float(np.percentile(v, q)) if v.size else math.nan for q in qs]


def mean_of(values: Mapping[str, float] | Sequence[float]) -> float:
    """Mean of the finite values (NaN for none)."""
    seq = list(values.values()) if isinstance(values, Mapping) else list(values)
    finite = [float(v) for v in seq if v is not None and math.isfinite(float(v))]
    return float(np.mean(finite)) if finite else math.nan
