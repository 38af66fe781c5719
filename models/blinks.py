"""A streaming blink layer for generators that do not blink on their own.

The distilled Online LPM blinks about once in ten minutes (its few-step sampler keeps the common
open-eyed mode of a sparse event), where people at rest blink 15–20 times a minute; a face that
never blinks reads as dead. This layer lays human blinks over any generator's curves: lognormal
inter-blink intervals with the configured mean rate (never metronomic), occasional double
blinks, a fast close and a slower reopening. The lids are the larger of the generator's own
``eyeBlink`` and the layer's, so blinks the model does make are kept.

Streaming like the generators: ``step(state, n) -> (lid[n], state)`` never changes ``state``,
and stepping one frame at a time gives the same lids as stepping many at once. The procedural
performer runs the same process frame by frame inside its own loop (``frame``), drawing from its
own generator.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.motion import idx

EYE_BLINK = (idx("eyeBlinkLeft"), idx("eyeBlinkRight"))


@dataclass(frozen=True)
class BlinkConfig:
    rate_per_min: float = 16.0  # adults at rest blink ~15-20 per minute
    interval_sigma: float = 0.45  # lognormal σ of the intervals between blinks
    interval_s: tuple[float, float] = (0.8, 7.0)  # intervals are clipped to this span
    double_prob: float = 0.12  # share of blinks followed at once by a second one
    double_gap_s: tuple[float, float] = (0.04, 0.12)  # open time between the two
    close_s: tuple[float, float] = (0.10, 0.15)  # lid closing time
    open_s: tuple[float, float] = (0.15, 0.25)  # lid reopening time

    def __post_init__(self) -> None:
        # Written so that NaN fails every test.
        if not (self.rate_per_min > 0 and self.interval_sigma >= 0 and 0 <= self.double_prob < 1):
            raise ValueError("rate_per_min must be > 0, interval_sigma ≥ 0, double_prob in [0, 1)")
        for name in ("interval_s", "double_gap_s", "close_s", "open_s"):
            lo, hi = getattr(self, name)
            if not (0 <= lo <= hi < math.inf) or (name == "interval_s" and lo == 0):
                raise ValueError(
                    f"{name} must be a finite span 0 <= low <= high (interval_s: low > 0), "
                    f"got {(lo, hi)}"
                )


@dataclass(frozen=True)
class BlinkState:
    wait_s: float  # time until the next blink may start
    frame: int  # frame within the current blink (1-based); -1 = eyes open
    close: int  # frames of the current blink's closing
    open: int  # frames of its reopening
    rng: np.random.Generator  # never drawn from in place: a step draws from a copy


class BlinkLayer:
    def __init__(self, fps: float, config: BlinkConfig | None = None) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.config = config or BlinkConfig()
        cfg = self.config
        mean_interval = 60.0 * (1.0 + cfg.double_prob) / cfg.rate_per_min
        self._mu = math.log(mean_interval) - 0.5 * cfg.interval_sigma**2

    def init_state(self, seed: int = 0) -> BlinkState:
        rng = np.random.default_rng([seed, 0xB11])
        return BlinkState(float(rng.uniform(0.5, 3.0)), -1, 1, 1, rng)

    def step(self, state: BlinkState, num_frames: int) -> tuple[np.ndarray, BlinkState]:
        """Lid closure ``[num_frames]`` in [0, 1] (1 = closed) and the next state."""
        rng = copy.deepcopy(state.rng)
        wait, k, close, opening = state.wait_s, state.frame, state.close, state.open
        lid = np.zeros(num_frames, np.float32)
        draw = lambda: rng  # noqa: E731 (the generator `frame` asks for when a blink starts)
        for i in range(num_frames):
            lid[i], wait, k, close, opening = self.frame(wait, k, close, opening, draw)
        return lid, BlinkState(wait, k, close, opening, rng)

    def frame(
        self, wait: float, k: int, close: int, opening: int, rng: Callable[[], np.random.Generator]
    ) -> tuple[float, float, int, int, int]:
        """One frame of the blink process, for callers that keep its state in their own loop:
        ``(lid, wait, k, close, opening)`` after the frame (fields as in `BlinkState`). ``rng``
        is called only when a blink starts (a caller may create its generator lazily)."""
        cfg = self.config
        if k >= 0:
            k += 1
            if k > close + opening:
                k = -1
        wait -= 1.0 / self.fps
        if wait <= 0.0 and k < 0:
            u = rng().random(4).tolist()
            k = 1
            close = max(1, round(_lerp(cfg.close_s, u[0]) * self.fps))
            opening = max(1, round(_lerp(cfg.open_s, u[1]) * self.fps))
            if u[2] < cfg.double_prob:
                wait = (close + opening) / self.fps + _lerp(cfg.double_gap_s, u[3])
            else:
                interval = math.exp(self._mu + cfg.interval_sigma * rng().standard_normal())
                wait = min(max(interval, cfg.interval_s[0]), cfg.interval_s[1])
        if k < 0:
            lid = 0.0
        elif k <= close:
            lid = _ease(k / close)
        else:
            lid = 1.0 - _ease((k - close) / opening)
        return lid, wait, k, close, opening

    @staticmethod
    def apply(curves: np.ndarray, lid: np.ndarray) -> np.ndarray:
        """``curves [n, 61]`` with both ``eyeBlink`` curves at least ``lid [n]`` (a copy)."""
        out = np.array(curves, np.float32)
        for i in EYE_BLINK:
            out[:, i] = np.maximum(out[:, i], lid)
        return out


def _lerp(span: tuple[float, float], u: float) -> float:
    return span[0] + (span[1] - span[0]) * u


def _ease(x: float) -> float:
    return x * x * (3.0 - 2.0 * x)
