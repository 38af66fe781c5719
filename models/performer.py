"""The procedural performer: a rule-based ``PerformanceGenerator`` (DESIGN §5).

It is the fallback backend, the baseline row of every benchmark and the "director" that writes
synthetic training data. No learning: signal processing on the two audio streams plus a small
stochastic state machine, all of it streaming.

Per video frame (``1/fps`` s; 640 samples of each stream at 16 kHz and 25 fps) it produces the
61 ARKit curves (:mod:`models.motion`) as **offsets around the character's rest pose**
(``CharacterConditioning.rest_curves``): in silence and idle every mouth curve sits at rest.

* **Visemes** from the speak stream (:mod:`models.audio_features`): loudness normalised by the
  speaker's tracked level → jaw opening (instant attack, ~35 %/frame release, so the mouth is back
  at rest 3 frames into silence), scaled by the first-formant share (open vs close vowels); little
  energy above 1.2 kHz → rounded lips (mouthFunnel/Pucker); a high second formant → spread lips
  (mouthStretch, a little mouthSmile); strong unvoiced high-band energy (/s f/) → teeth nearly
  closed, mouthUpperUp; a sudden dip right after speech → lips meet for ≤ 2 frames (/p b m/).
* **Prosody**: loudness accents trigger small nods and brow flicks; head sway grows while talking.
* **Blinks**: lognormal inter-blink intervals (16/min by default), occasional double blinks; both
  eyes, ~120 ms close + ~200 ms reopen.
* **Gaze**: saccades every 0.5-3 s to targets within ±8°, ~40 ms moves, returns to camera often.
* **Idle**: head sway (sum of slow sinusoids with random frequencies and phases) and breathing.
* **Listening**: the listen stream's phrase ends (≥ 0.6 s voice, then ≥ 250 ms silence) trigger a
  backchannel within ~1 s (nod, brow raise, small smile); attentive gaze and brows meanwhile.
* **Prompt emotes** parsed from text (:func:`parse_prompt`): smile, frown, surprised, think
  (expressions: attack, hold, decay to a sustain held while the prompt stays) and nod, shake head,
  laugh (gestures, played once). "nods, then smiles" runs in sequence.

Gaze → blendshape mapping (ARKit; ``*EyeYaw`` > 0 looks toward the **viewer's right**, which is
the character's left; ``*EyePitch`` > 0 looks down; :data:`models.motion` conventions):

=====================  =====================================================
eye rotation offset    blendshapes (each ``|angle| / eye_look_full_deg``)
=====================  =====================================================
yaw > 0 (viewer right) ``eyeLookOutLeft``, ``eyeLookInRight``
yaw < 0 (viewer left)  ``eyeLookInLeft``, ``eyeLookOutRight``
pitch > 0 (down)       ``eyeLookDownLeft``, ``eyeLookDownRight`` (+ lids follow)
pitch < 0 (up)         ``eyeLookUpLeft``, ``eyeLookUpRight``
=====================  =====================================================

Streaming: everything stateful is carried in :class:`PerformerState` (audio tails, VAD trackers,
envelopes, timers, the RNG's bit-generator state); random draws happen in a per-frame loop in a
fixed order, so any chunking gives the same curves as one pass.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from models.audio_features import (
    AudioFeatures,
    AudioFrontEnd,
    FeatureConfig,
    FrontEndState,
    VadConfig,
    VadOutput,
    VadState,
    VoiceActivityDetector,
)
from models.blinks import BlinkConfig, BlinkLayer
from models.emotes import (
    DEG,
    Emote,
    clip01,
    curve_vector,
    emote_offsets,
    pair,
    parse_prompt,
    smoothstep,
)
from models.generator import (
    DEFAULT_FPS,
    SAMPLE_RATE,
    CharacterConditioning,
    ChunkInputs,
    PerformanceGenerator,
    samples_per_frame,
)
from models.motion import CURVE_INDEX, CURVE_MAX, CURVE_MIN, NUM_CURVES

logger = logging.getLogger(__name__)


def _positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be positive and finite, got {value}")


def _unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def _span(name: str, value: tuple[float, float]) -> None:
    if len(value) != 2 or not 0.0 <= value[0] <= value[1] or not math.isfinite(value[1]):
        raise ValueError(f"{name} must be a (lo, hi) pair with 0 <= lo <= hi, got {value}")


_BLINKS = BlinkConfig()


@dataclass(frozen=True)
class PerformerConfig:
    """Every tunable of :class:`ProceduralPerformer`; times in seconds, angles in degrees."""

    fps: float = DEFAULT_FPS  # video frames per second; 16 kHz must divide into whole frames
    features: FeatureConfig = field(default_factory=FeatureConfig)  # audio analysis (both streams)
    speak_vad: VadConfig = field(default_factory=VadConfig)  # voice activity of the NPC's own voice
    listen_vad: VadConfig = field(default_factory=VadConfig)  # ... of the partner (player mic)

    # --- visemes -----------------------------------------------------------------------------
    jaw_gain: float = 0.5  # jawOpen added at full openness (speech captures peak near 0.4-0.6)
    loudness_range_db: float = 30.0  # openness rises 0 → 1 over this range below the speech level
    loudness_headroom_db: float = 3.0  # ... reaching 1 this far above the tracked speech level
    jaw_attack: float = 0.9  # share of a rise followed per frame: jaw lags loudness ≤ 1 frame
    jaw_release: float = 0.65  # share of a fall followed per frame: 0.35³ ≈ 4 % left after 3
    shape_follow: float = 0.65  # share of lip-shape change followed per frame (same as release)
    close_vowel_jaw: float = 0.55  # jaw scale for a close vowel /i u/ (open /a/ gets 1)
    f1_ratio_span: tuple[float, float] = (0.3, 0.8)  # F1-band share mapped onto close → open
    rounded_f2_db: float = -18.0  # F2-band share (dB) under which lips start to round ...
    rounded_span_db: float = 8.0  # ... fully rounded this many dB lower (/u o/: -23..-28 dB)
    spread_f2_hz: float = 1750.0  # upper-F2 centroid above which lips start to spread ...
    spread_span_hz: float = 400.0  # ... fully spread this much higher (/i/: F2 ≈ 2300 Hz)
    spread_min_f2_db: float = -22.0  # spreading needs at least this much F2-band energy share ...
    spread_ramp_db: float = 4.0  # ... and is fully allowed this many dB above it
    fricative_hf_span: tuple[float, float] = (0.35, 0.7)  # high-band share → frication 0 → 1
    fricative_jaw_cut: float = 0.7  # frication keeps the teeth nearly closed: jaw × (1 - this)
    dip_db: float = 18.0  # a frame this far under the speech level right after speech: lips meet
    closure_profile: tuple[float, ...] = (1.0, 0.6)  # lip closure on dip frames 1, 2, …; then rest

    # --- prosody -----------------------------------------------------------------------------
    accent_rise_db: float = 6.0  # level jump over its recent average that marks an accent ...
    accent_window_s: float = 0.2  # ... that average's time constant (about a syllable) ...
    accent_near_db: float = 4.0  # ... at a frame no more than this under the speech level
    accent_refractory_s: float = 0.5  # at most one accent per this long (about one per word)
    accent_nod_prob: float = 0.6  # chance an accent brings a small nod ...
    accent_nod_deg: tuple[float, float] = (1.5, 3.0)  # ... of this many degrees ...
    accent_nod_s: float = 0.35  # ... lasting this long
    accent_brow_prob: float = 0.4  # chance an accent lifts the brows ...
    accent_brow: tuple[float, float] = (0.1, 0.2)  # ... by this much browInnerUp ...
    accent_brow_s: float = 0.5  # ... for this long

    # --- blinks (models.blinks: the defaults and their meaning are BlinkConfig's) -------------
    blink_rate_per_min: float = _BLINKS.rate_per_min
    blink_interval_sigma: float = _BLINKS.interval_sigma
    blink_interval_s: tuple[float, float] = _BLINKS.interval_s
    double_blink_prob: float = _BLINKS.double_prob
    double_blink_gap_s: tuple[float, float] = _BLINKS.double_gap_s
    blink_close_s: tuple[float, float] = _BLINKS.close_s
    blink_open_s: tuple[float, float] = _BLINKS.open_s
    lid_follow: float = 0.3  # eyeBlink added per unit of eyeLookDown (upper lid follows the eye)

    # --- gaze --------------------------------------------------------------------------------
    saccade_hold_median_s: float = 1.2  # median fixation between saccades ...
    saccade_hold_sigma: float = 0.5  # ... lognormal σ ...
    saccade_hold_s: tuple[float, float] = (0.5, 3.0)  # ... clipped to this range
    saccade_tau_s: float = 0.012  # time constant of a saccade: done in ~40 ms
    gaze_radius_deg: tuple[float, float] = (4.0, 8.0)  # distance of a look-away target
    gaze_vertical_ratio: float = 0.6  # vertical extent of look-aways relative to horizontal
    camera_jitter_deg: float = 0.6  # σ of "at camera" targets (not a frozen stare)
    camera_prob_idle: float = 0.45  # chance a saccade returns to the camera when idle ...
    camera_prob_speaking: float = 0.4  # ... while speaking (speakers look away more) ...
    camera_prob_listening: float = 0.8  # ... while the partner speaks (attentive)
    eye_look_full_deg: float = 25.0  # eye rotation at which eyeLook* reaches 1.0

    # --- head --------------------------------------------------------------------------------
    sway_deg: tuple[float, float, float] = (1.5, 1.0, 0.8)  # idle sway bound, yaw/pitch/roll
    sway_hz: tuple[float, float] = (0.04, 0.35)  # sway component frequencies, log-uniform
    sway_components: int = 3  # sinusoids per axis (incommensurate: never repeats)
    speaking_sway_gain: float = 1.0  # sway scaled by 1 + this while speaking
    breath_hz: tuple[float, float] = (0.2, 0.3)  # breathing rate (12-18 breaths per minute) ...
    breath_pitch_deg: float = 0.3  # ... showing as this much head pitch
    activity_tau_s: float = 0.4  # smoothing of speaking / listening activity (0..1)

    # --- listening ---------------------------------------------------------------------------
    backchannel_delay_s: tuple[float, float] = (0.05, 0.35)  # after the phrase end is detected
    backchannel_nod_prob: float = 0.95  # chance of a nod at a partner's phrase end ...
    backchannel_nod_deg: tuple[float, float] = (5.0, 8.0)  # ... of this size ...
    backchannel_nod_s: float = 0.5  # ... down and up in this long
    backchannel_brow_prob: float = 0.45  # chance of a brow raise with the nod (always without)
    backchannel_brow: tuple[float, float] = (0.2, 0.35)  # ... of this much browInnerUp ...
    backchannel_brow_s: float = 0.8  # ... for this long
    backchannel_smile_prob: float = 0.35  # chance of a small smile ...
    backchannel_smile: tuple[float, float] = (0.15, 0.3)  # ... of this much mouthSmile ...
    backchannel_smile_s: float = 1.4  # ... for this long ...
    backchannel_smile_lag_s: float = 0.2  # ... starting this much after the nod
    listen_brow: float = 0.08  # browInnerUp while the partner speaks (attentive)
    listen_roll_deg: float = 1.5  # head tilt while the partner speaks

    # --- prompt emotes -----------------------------------------------------------------------
    emote_attack_s: float = 0.2  # expression rises in this long ...
    emote_hold_s: float = 1.0  # ... holds at full ...
    emote_decay_s: float = 0.6  # ... decays in this long ...
    emote_sustain: float = 0.4  # ... to this share, held while the same prompt stays
    emote_fade_s: float = 0.4  # an emote replaced or dropped fades out in this long
    default_intensity: float = 0.8  # intensity without "slightly" (0.5) or "very" (1.0)

    def __post_init__(self) -> None:
        samples_per_frame(self.fps, self.features.sample_rate)  # raises if it does not divide
        if self.features.sample_rate != SAMPLE_RATE:
            raise ValueError(f"features.sample_rate must be {SAMPLE_RATE} (ChunkInputs' rate)")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("sway_deg", "closure_profile"):
                if not all(0.0 <= v < math.inf for v in value) or not value:
                    raise ValueError(f"{f.name} must hold finite values >= 0, got {value}")
            elif isinstance(value, tuple):
                _span(f.name, value)
            elif isinstance(value, int | float):
                if not math.isfinite(value):
                    raise ValueError(f"{f.name} must be finite, got {value}")
                if f.name.endswith("_prob") or f.name in _UNIT_FIELDS:
                    _unit(f.name, value)
                elif f.name in _ZERO_OK_FIELDS and value < 0:
                    raise ValueError(f"{f.name} must be >= 0, got {value}")
                elif f.name not in _ZERO_OK_FIELDS | _SIGNED_FIELDS:
                    _positive(f.name, value)
        if len(self.sway_deg) != 3:
            raise ValueError(f"sway_deg must be (yaw, pitch, roll), got {self.sway_deg}")
        for name in ("f1_ratio_span", "fricative_hf_span"):
            if getattr(self, name)[1] <= getattr(self, name)[0]:
                raise ValueError(f"{name} must not be an empty range")
        for name in ("blink_interval_s", "saccade_hold_s", "sway_hz"):
            if getattr(self, name)[0] <= 0:
                raise ValueError(f"{name} must start above 0")


# Validation groups of PerformerConfig's numeric fields (all others must be > 0).
_UNIT_FIELDS = frozenset(
    [
        "jaw_attack",
        "jaw_release",
        "shape_follow",
        "close_vowel_jaw",
        "fricative_jaw_cut",
        "emote_sustain",
        "default_intensity",
        "gaze_vertical_ratio",
    ]
)  # shares and per-frame follow fractions, in [0, 1]
_ZERO_OK_FIELDS = frozenset(
    [
        "loudness_headroom_db",
        "lid_follow",
        "breath_pitch_deg",
        "speaking_sway_gain",
        "listen_brow",
        "listen_roll_deg",
        "camera_jitter_deg",
        "emote_hold_s",
        "accent_near_db",
        "backchannel_smile_lag_s",
    ]
)  # may be switched off with 0
_SIGNED_FIELDS = frozenset({"rounded_f2_db", "spread_min_f2_db"})  # dB shares, below 0


# --- curve tables -----------------------------------------------------------------------------


_I = CURVE_INDEX
_JAW = _I["jawOpen"]


def _columns(*names: str) -> slice:
    """Evenly spaced curve columns as a strided slice (a view: no fancy-indexing copies)."""
    cols = [CURVE_INDEX[name] for name in names]
    step = cols[1] - cols[0]
    if step <= 0 or cols != list(range(cols[0], cols[-1] + 1, step)):
        raise ValueError(f"{names} are not evenly spaced columns")
    return slice(cols[0], cols[-1] + 1, step)


_EYE_BLINK = _columns("eyeBlinkLeft", "eyeBlinkRight")
_EYE_WIDE = _columns("eyeWideLeft", "eyeWideRight")
_EYE_YAW = _columns("leftEyeYaw", "rightEyeYaw")
_EYE_PITCH = _columns("leftEyePitch", "rightEyePitch")
# eyeLook* columns (left eye, right eye) for looking to the viewer's right / left / down / up.
_LOOK_VIEWER_RIGHT = _columns("eyeLookOutLeft", "eyeLookInRight")
_LOOK_VIEWER_LEFT = _columns("eyeLookInLeft", "eyeLookOutRight")
_LOOK_DOWN = _columns("eyeLookDownLeft", "eyeLookDownRight")
_LOOK_UP = _columns("eyeLookUpLeft", "eyeLookUpRight")
_HEAD = _columns("headYaw", "headPitch", "headRoll")

# Viseme offsets per unit of each speech control (jawOpen itself is handled apart).
_V_JAW_LIPS = curve_vector(pair("mouthLowerDown", 0.25))  # lower lip follows the jaw
_V_CLOSE = curve_vector(
    {"mouthClose": 0.2, "mouthRollLower": 0.1, **pair("mouthPress", 0.35)}
)  # lips meet and press: /p b m/
_V_ROUND = curve_vector({"mouthFunnel": 0.45, "mouthPucker": 0.5})  # /u o w/
_V_SPREAD = curve_vector({**pair("mouthStretch", 0.3), **pair("mouthSmile", 0.1)})  # /i e/
_V_FRICATIVE = curve_vector(
    {**pair("mouthUpperUp", 0.25), **pair("mouthLowerDown", 0.1)}
)  # /s f/: teeth shown
_V_VISEMES = np.stack([_V_JAW_LIPS, _V_CLOSE, _V_ROUND, _V_SPREAD, _V_FRICATIVE])

# Pulse shapes triggered by accents and backchannels.
_P_BROW = curve_vector({"browInnerUp": 1.0, **pair("browOuterUp", 0.6)})
_P_SMILE = curve_vector({**pair("mouthSmile", 1.0), **pair("cheekSquint", 0.4)})

# --- state ------------------------------------------------------------------------------------

# Pulse slots: gestures triggered by events, each a (time since start, amplitude) pair.
_ACCENT_NOD, _ACCENT_BROW, _BC_NOD, _BC_BROW, _BC_SMILE = range(5)
_NUM_PULSES = 5
_PULSE_IS_NOD = np.array([True, False, True, False, False])  # nod-shaped (else bell-shaped)
_PULSE_IDLE = math.inf  # time of a slot with nothing playing
_PULSE_FORGET_S = 5.0  # a pulse this old is over (longest lasts 1.4 s)
_NOD_REBOUND = 0.25  # a nod pulse ends with a small upward overshoot of this share ...
_NOD_REBOUND_LEN = 0.5  # ... lasting this share of the nod


@dataclass(frozen=True)
class MotionState:
    """Scalars of the per-frame state machine (units: 0..1 unless noted)."""

    jaw: float = 0.0  # smoothed jaw opening before jaw_gain
    rounded: float = 0.0  # smoothed lip rounding
    spread: float = 0.0  # smoothed lip spreading
    fricative: float = 0.0  # smoothed frication
    dip_run: int = 0  # consecutive frames of a post-speech dip
    slow_level_db: float = -100.0  # ~200 ms average of the speak level, for accents
    since_accent: int = 1 << 30  # frames since the last accent
    speaking: float = 0.0  # smoothed speak activity
    listening: float = 0.0  # smoothed listen activity
    blink_wait_s: float = 2.0  # time until the next blink may start
    blink_frame: int = -1  # frame within the current blink; -1 = eyes open
    blink_close: int = 3  # frames of the current blink's closing
    blink_open: int = 5  # frames of its reopening
    gaze_yaw: float = 0.0  # radians, > 0 toward the viewer's right
    gaze_pitch: float = 0.0  # radians, > 0 down
    target_yaw: float = 0.0
    target_pitch: float = 0.0
    saccade_wait_s: float = 1.0  # time until the next saccade
    pulse_t: tuple[float, ...] = (_PULSE_IDLE,) * _NUM_PULSES  # seconds since each pulse began
    pulse_amp: tuple[float, ...] = (0.0,) * _NUM_PULSES  # amplitudes (radians or blendshape)


@dataclass(frozen=True)
class PerformerState:
    """Everything :class:`ProceduralPerformer` carries between chunks; never mutated.

    Arrays are read-only. ``rng_state`` is the PCG64 bit-generator state (a plain dict).
    """

    frame: int  # frames generated so far (the next frame's index)
    rest: np.ndarray  # [61] float32 rest pose, clipped to the curve ranges
    rng_state: Mapping[str, Any]
    speak_audio: FrontEndState
    listen_audio: FrontEndState
    speak_vad: VadState
    listen_vad: VadState
    motion: MotionState
    sway_hz: np.ndarray  # [3, K] sway frequencies, Hz (yaw, pitch, roll)
    sway_phase: np.ndarray  # [3, K] radians
    sway_weight: np.ndarray  # [3, K] radians; each row's |weights| sum to that axis' bound
    breath_hz: float
    breath_phase: float
    prompt: str | None = None  # prompt of the last chunk
    prompt_frame: int = 0  # frames since that prompt began
    emote_last: np.ndarray = field(default_factory=lambda: _frozen(np.zeros(NUM_CURVES)))
    release_from: np.ndarray = field(default_factory=lambda: _frozen(np.zeros(NUM_CURVES)))


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


class _LazyGenerator:
    """The numpy Generator behind a stored PCG64 state, built on first use: building one costs
    ~35 µs and most short chunks draw nothing."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self._state = state
        self._rng: np.random.Generator | None = None

    def get(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.Generator(np.random.PCG64())
            self._rng.bit_generator.state = dict(self._state)
        return self._rng

    def state(self) -> Mapping[str, Any]:
        """The bit-generator state after the draws made so far."""
        return self._state if self._rng is None else self._rng.bit_generator.state


# --- the performer ----------------------------------------------------------------------------


class ProceduralPerformer(PerformanceGenerator[PerformerState]):
    """Rule-based streaming performer: ``step(state, chunk) -> (curves [n, 61] float32, state)``.

    Output: ARKit curves in Live Link Face order, blendshapes 0..1, angles in radians, clipped
    to :data:`models.motion.CURVE_MIN`/``CURVE_MAX``. Deterministic for a seed; chunk-invariant.
    """

    def __init__(self, config: PerformerConfig | None = None) -> None:
        self.config = config or PerformerConfig()
        cfg = self.config
        self.fps = cfg.fps
        self.spf = samples_per_frame(cfg.fps)
        self._front = AudioFrontEnd(cfg.features, cfg.fps)
        self._speak_vad = VoiceActivityDetector(cfg.speak_vad, cfg.fps)
        self._listen_vad = VoiceActivityDetector(cfg.listen_vad, cfg.fps)
        self._blinks = BlinkLayer(
            cfg.fps,
            BlinkConfig(
                rate_per_min=cfg.blink_rate_per_min,
                interval_sigma=cfg.blink_interval_sigma,
                interval_s=cfg.blink_interval_s,
                double_prob=cfg.double_blink_prob,
                double_gap_s=cfg.double_blink_gap_s,
                close_s=cfg.blink_close_s,
                open_s=cfg.blink_open_s,
            ),
        )
        self._pulse_s = np.array(
            [
                cfg.accent_nod_s,
                cfg.accent_brow_s,
                cfg.backchannel_nod_s,
                cfg.backchannel_brow_s,
                cfg.backchannel_smile_s,
            ]
        )  # [pulses] seconds, in slot order

    def init_state(self, character: CharacterConditioning, seed: int = 0) -> PerformerState:
        """Fresh state for a character: rest pose, silent audio history, seeded randomness."""
        cfg = self.config
        rest = np.asarray(character.rest_curves, dtype=np.float32)
        if rest.shape != (NUM_CURVES,) or not np.isfinite(rest).all():
            raise ValueError(
                f"rest_curves must be a finite [{NUM_CURVES}] vector, got {rest.shape}"
            )
        rng = np.random.default_rng(seed)
        k = cfg.sway_components
        lo, hi = cfg.sway_hz
        sway_hz = np.exp(rng.uniform(math.log(lo), math.log(hi), (3, k)))
        sway_phase = rng.uniform(0.0, 2.0 * np.pi, (3, k))
        weights = rng.uniform(0.3, 1.0, (3, k))  # no component negligible, none dominant
        weights *= (np.asarray(cfg.sway_deg) * DEG / weights.sum(axis=1))[:, None]
        motion = MotionState(  # first blink and saccade soon, at a random moment
            blink_wait_s=float(rng.uniform(0.5, 3.0)),
            saccade_wait_s=float(rng.uniform(0.3, 1.5)),
        )
        breath_hz = float(rng.uniform(*cfg.breath_hz))
        breath_phase = float(rng.uniform(0.0, 2.0 * np.pi))
        return PerformerState(
            frame=0,
            rest=_frozen(np.clip(rest, CURVE_MIN, CURVE_MAX)),
            rng_state=rng.bit_generator.state,
            speak_audio=self._front.init_state(),
            listen_audio=self._front.init_state(),
            speak_vad=self._speak_vad.init_state(),
            listen_vad=self._listen_vad.init_state(),
            motion=motion,
            sway_hz=_frozen(sway_hz),
            sway_phase=_frozen(sway_phase),
            sway_weight=_frozen(weights),
            breath_hz=breath_hz,
            breath_phase=breath_phase,
        )

    def step(self, state: PerformerState, chunk: ChunkInputs) -> tuple[np.ndarray, PerformerState]:
        """Curves ``[chunk.num_frames, 61]`` float32 and the next state; ``state`` is untouched."""
        if abs(chunk.fps - self.fps) > 1e-9:
            raise ValueError(f"chunk is at {chunk.fps} fps, the performer at {self.fps}")
        n = chunk.num_frames
        if n == 0:
            return np.zeros((0, NUM_CURVES), np.float32), state
        cfg = self.config
        speak, speak_audio = self._front.process(state.speak_audio, chunk.speak)
        listen, listen_audio = self._front.process(state.listen_audio, chunk.listen)
        speak_vad, speak_vad_state = self._speak_vad.process(
            state.speak_vad, speak.level_db, speak.voicing
        )
        listen_vad, listen_vad_state = self._listen_vad.process(
            state.listen_vad, listen.level_db, listen.voicing
        )
        targets = self._viseme_targets(speak, speak_vad)
        rng = _LazyGenerator(state.rng_state)
        ctrl, motion = self._run_frames(state.motion, rng, speak, speak_vad, listen_vad, targets)

        # Prompt emotes: a prompt that differs from the last chunk's starts at this frame and
        # the old one's offsets fade out from where they were.
        if chunk.prompt != state.prompt:
            prompt_frame0, release_from = 0, state.emote_last
            if chunk.prompt is not None and not self._emotes(chunk.prompt):
                logger.debug("prompt %r names no known emote; ignored", chunk.prompt)
        else:
            prompt_frame0, release_from = state.prompt_frame, state.release_from
        frames = np.arange(n, dtype=np.float64)
        t_prompt = (prompt_frame0 + frames) / self.fps
        emote = emote_offsets(self._emotes(chunk.prompt), t_prompt, cfg)
        if t_prompt[0] < cfg.emote_fade_s:  # later the release factor is exactly 0
            emote += np.outer(1.0 - smoothstep(t_prompt / cfg.emote_fade_s), release_from)

        curves = self._compose(state, ctrl, emote, (state.frame + frames) / self.fps)
        new_state = PerformerState(
            frame=state.frame + n,
            rest=state.rest,
            rng_state=rng.state(),
            speak_audio=speak_audio,
            listen_audio=listen_audio,
            speak_vad=speak_vad_state,
            listen_vad=listen_vad_state,
            motion=motion,
            sway_hz=state.sway_hz,
            sway_phase=state.sway_phase,
            sway_weight=state.sway_weight,
            breath_hz=state.breath_hz,
            breath_phase=state.breath_phase,
            prompt=chunk.prompt,
            prompt_frame=prompt_frame0 + n,
            emote_last=_frozen(emote[-1].copy()),
            release_from=release_from,
        )
        return curves, new_state

    # --- stages ------------------------------------------------------------------------------

    def _emotes(self, prompt: str | None) -> tuple[Emote, ...]:
        if prompt is None:
            return ()
        return parse_prompt(prompt, self.config.default_intensity)

    def _viseme_targets(self, f: AudioFeatures, vad: VadOutput) -> dict[str, np.ndarray]:
        """Per-frame (memoryless) speech targets ``[n]`` from features and VAD decisions."""
        cfg = self.config
        speech = vad.speech.astype(np.float64)
        # Openness: level between a floor (the gate, or loudness_range_db under the speaker's
        # level, whichever is higher) and just above the speaker's level → 0..1.
        floor = np.maximum(vad.gate_db, vad.speech_db - cfg.loudness_range_db)
        top = vad.speech_db + cfg.loudness_headroom_db
        openness = clip01((f.level_db - floor) / np.maximum(top - floor, 1.0)) * speech
        lo, hi = cfg.f1_ratio_span
        openish = clip01((f.f1_ratio - lo) / (hi - lo))
        jaw_scale = cfg.close_vowel_jaw + (1.0 - cfg.close_vowel_jaw) * openish
        lo, hi = cfg.fricative_hf_span
        fricative = clip01((f.hf_ratio - lo) / (hi - lo)) * (1.0 - f.voicing) * speech
        f2_db = 10.0 * np.log10(f.f2_ratio + 1e-12)
        rounded = clip01((cfg.rounded_f2_db - f2_db) / cfg.rounded_span_db)
        spread = clip01((f.f2_hz - cfg.spread_f2_hz) / cfg.spread_span_hz)
        spread = spread * clip01((f2_db - cfg.spread_min_f2_db) / cfg.spread_ramp_db)
        # Lip shapes only mean something on voiced speech: full from half openness down to 0
        # at closure, none on frication (whose spectrum says nothing about the lips).
        voiced = np.minimum(1.0, 2.0 * openness) * (1.0 - fricative)
        return {
            "jaw": openness * jaw_scale * (1.0 - cfg.fricative_jaw_cut * fricative),
            "rounded": rounded * voiced,
            "spread": spread * voiced,
            "fricative": fricative,
            # A quiet frame right after speech is a closure unless it is mostly frication.
            "dip": vad.active & (f.level_db < vad.speech_db - cfg.dip_db) & (fricative < 0.5),
            "accent_ok": vad.speech & (f.level_db > vad.speech_db - cfg.accent_near_db),
        }

    def _run_frames(
        self,
        m: MotionState,
        rng: _LazyGenerator,
        speak: AudioFeatures,
        speak_vad: VadOutput,
        listen_vad: VadOutput,
        targets: dict[str, np.ndarray],
    ) -> tuple[np.ndarray, MotionState]:
        """The per-frame state machine. Returns controls ``[n, 10 + 2 * pulses]`` (see
        :meth:`_compose`) and the new :class:`MotionState`. Draws from ``rng`` in frame order."""
        cfg = self.config
        dt = 1.0 / self.fps
        act_a = 1.0 - math.exp(-dt / cfg.activity_tau_s)
        slow_a = 1.0 - math.exp(-dt / cfg.accent_window_s)
        saccade_a = 1.0 - math.exp(-dt / cfg.saccade_tau_s)
        refractory = round(cfg.accent_refractory_s * self.fps)
        closure = cfg.closure_profile
        hold_mu = math.log(cfg.saccade_hold_median_s)

        jaw, rnd, spr, fri = m.jaw, m.rounded, m.spread, m.fricative
        dip_run, slow, since_accent = m.dip_run, m.slow_level_db, m.since_accent
        speaking, listening = m.speaking, m.listening
        blink_wait, blink_k, blink_c, blink_o = (
            m.blink_wait_s,
            m.blink_frame,
            m.blink_close,
            m.blink_open,
        )
        gy, gp, ty, tp, saccade_wait = (
            m.gaze_yaw,
            m.gaze_pitch,
            m.target_yaw,
            m.target_pitch,
            m.saccade_wait_s,
        )
        pt, pa = list(m.pulse_t), list(m.pulse_amp)

        rows: list[tuple[float, ...]] = []
        cols = zip(
            targets["jaw"].tolist(),
            targets["rounded"].tolist(),
            targets["spread"].tolist(),
            targets["fricative"].tolist(),
            targets["dip"].tolist(),
            targets["accent_ok"].tolist(),
            speak.level_db.tolist(),
            speak_vad.active.tolist(),
            listen_vad.active.tolist(),
            listen_vad.phrase_end.tolist(),
            strict=True,
        )
        for tj, tr, ts, tf, dip, accent_ok, level, s_active, l_active, phrase_end in cols:
            # Speech envelopes: fast attack, quick release (back at rest ≤ 3 frames).
            jaw += (cfg.jaw_attack if tj > jaw else cfg.jaw_release) * (tj - jaw)
            rnd += cfg.shape_follow * (tr - rnd)
            spr += cfg.shape_follow * (ts - spr)
            fri += cfg.shape_follow * (tf - fri)
            dip_run = dip_run + 1 if dip else 0
            close = closure[dip_run - 1] if 0 < dip_run <= len(closure) else 0.0
            speaking += act_a * (float(s_active) - speaking)
            listening += act_a * (float(l_active) - listening)

            for k in range(_NUM_PULSES):
                pt[k] = pt[k] + dt if pt[k] < _PULSE_FORGET_S else _PULSE_IDLE

            # Accents: a jump in loudness near the speaker's level → small nod / brow flick.
            since_accent += 1
            if accent_ok and level - slow > cfg.accent_rise_db and since_accent >= refractory:
                since_accent = 0
                u_nod, u_brow, a_nod, a_brow = rng.get().random(4).tolist()
                if u_nod < cfg.accent_nod_prob:
                    lo, hi = cfg.accent_nod_deg
                    pt[_ACCENT_NOD], pa[_ACCENT_NOD] = 0.0, (lo + (hi - lo) * a_nod) * DEG
                if u_brow < cfg.accent_brow_prob:
                    lo, hi = cfg.accent_brow
                    pt[_ACCENT_BROW], pa[_ACCENT_BROW] = 0.0, lo + (hi - lo) * a_brow
            slow += slow_a * (level - slow)

            # Backchannel at the partner's phrase end (not while talking over them); a negative
            # pulse time is a delay before it plays.
            if phrase_end and not s_active:
                u = rng.get().random(7).tolist()
                lo, hi = cfg.backchannel_delay_s
                delay = lo + (hi - lo) * u[0]
                nods = u[1] < cfg.backchannel_nod_prob
                if nods:
                    lo, hi = cfg.backchannel_nod_deg
                    pt[_BC_NOD], pa[_BC_NOD] = -delay, (lo + (hi - lo) * u[2]) * DEG
                if u[3] < cfg.backchannel_brow_prob or not nods:  # always some acknowledgement
                    lo, hi = cfg.backchannel_brow
                    pt[_BC_BROW], pa[_BC_BROW] = -delay, lo + (hi - lo) * u[4]
                if u[5] < cfg.backchannel_smile_prob:
                    lo, hi = cfg.backchannel_smile
                    start = -delay - cfg.backchannel_smile_lag_s
                    pt[_BC_SMILE], pa[_BC_SMILE] = start, lo + (hi - lo) * u[6]

            # Blinks (models.blinks), drawing from this performer's generator.
            blink, blink_wait, blink_k, blink_c, blink_o = self._blinks.frame(
                blink_wait, blink_k, blink_c, blink_o, rng.get
            )

            # Gaze: hold, then a fast saccade to the camera or a small look-away.
            saccade_wait -= dt
            if saccade_wait <= 0.0:
                u = rng.get().random(3).tolist()
                z = rng.get().standard_normal(3).tolist()
                hold = math.exp(hold_mu + cfg.saccade_hold_sigma * z[0])
                saccade_wait = min(max(hold, cfg.saccade_hold_s[0]), cfg.saccade_hold_s[1])
                if listening > 0.5:
                    p_camera = cfg.camera_prob_listening
                elif speaking > 0.5:
                    p_camera = cfg.camera_prob_speaking
                else:
                    p_camera = cfg.camera_prob_idle
                if u[0] < p_camera:
                    ty = cfg.camera_jitter_deg * DEG * z[1]
                    tp = cfg.camera_jitter_deg * DEG * z[2]
                else:
                    radius = _lerp(cfg.gaze_radius_deg, u[1]) * DEG
                    angle = 2.0 * math.pi * u[2]
                    ty = radius * math.cos(angle)
                    tp = radius * cfg.gaze_vertical_ratio * math.sin(angle)
            gy += saccade_a * (ty - gy)
            gp += saccade_a * (tp - gp)

            rows.append((jaw, close, rnd, spr, fri, speaking, listening, blink, gy, gp, *pt, *pa))

        motion = MotionState(
            jaw=jaw,
            rounded=rnd,
            spread=spr,
            fricative=fri,
            dip_run=dip_run,
            slow_level_db=slow,
            since_accent=since_accent,
            speaking=speaking,
            listening=listening,
            blink_wait_s=blink_wait,
            blink_frame=blink_k,
            blink_close=blink_c,
            blink_open=blink_o,
            gaze_yaw=gy,
            gaze_pitch=gp,
            target_yaw=ty,
            target_pitch=tp,
            saccade_wait_s=saccade_wait,
            pulse_t=tuple(pt),
            pulse_amp=tuple(pa),
        )
        return np.asarray(rows, dtype=np.float64), motion

    def _compose(
        self, state: PerformerState, ctrl: np.ndarray, emote: np.ndarray, t: np.ndarray
    ) -> np.ndarray:
        """Rest pose + offsets → clipped curves ``[n, 61]`` float32.

        ``ctrl`` columns: jaw, close, rounded, spread, fricative, speaking, listening, blink,
        gaze yaw, gaze pitch, then pulse times and pulse amplitudes. ``t``: ``[n]`` seconds.
        """
        cfg = self.config
        rest = state.rest.astype(np.float64)
        jaw, close, rnd, spr, fri, speaking, listening, blink, gaze_yaw, gaze_pitch = ctrl[:, :10].T
        pulse_t = ctrl[:, 10 : 10 + _NUM_PULSES]
        pulse_amp = ctrl[:, 10 + _NUM_PULSES :]
        out = rest + emote

        # Visemes: jaw opening around rest; a lip closure pulls the jaw below rest toward 0.
        out[:, _JAW] += cfg.jaw_gain * jaw * (1.0 - close) - rest[_JAW] * close
        viseme_ctrl = np.stack([jaw * (1.0 - close), close, rnd, spr, fri], axis=1)
        out += viseme_ctrl @ _V_VISEMES

        # Head: sway (louder while speaking), breathing, pulses, attentive tilt.
        phase = 2.0 * np.pi * t[:, None, None] * state.sway_hz + state.sway_phase  # [n, 3, K]
        sway = (np.sin(phase) * state.sway_weight).sum(axis=2)  # [n, 3]
        out[:, _HEAD] += sway * (1.0 + cfg.speaking_sway_gain * speaking)[:, None]
        breath = np.sin(2.0 * np.pi * state.breath_hz * t + state.breath_phase)
        out[:, _I["headPitch"]] += cfg.breath_pitch_deg * DEG * breath
        out[:, _I["headRoll"]] += cfg.listen_roll_deg * DEG * listening
        out[:, _I["browInnerUp"]] += cfg.listen_brow * listening

        if np.isfinite(pulse_t).any():  # otherwise nothing plays and the shapes are all 0
            x = pulse_t / self._pulse_s
            inside = (x >= 0) & (x <= 1)
            after = (x > 1) & (x <= 1 + _NOD_REBOUND_LEN)
            rebound = -_NOD_REBOUND * np.sin(np.pi * clip01((x - 1) / _NOD_REBOUND_LEN))
            nod = np.where(inside, np.sin(np.pi * clip01(x)), np.where(after, rebound, 0.0))
            bell = np.where(inside, np.sin(np.pi * clip01(x)) ** 2, 0.0)
            shaped = pulse_amp * np.where(_PULSE_IS_NOD, nod, bell)
            out[:, _I["headPitch"]] += shaped[:, _ACCENT_NOD] + shaped[:, _BC_NOD]
            out += np.outer(shaped[:, _ACCENT_BROW] + shaped[:, _BC_BROW], _P_BROW)
            out += np.outer(shaped[:, _BC_SMILE], _P_SMILE)

        # Eyes: gaze rotation, then eyeLook* from the rotation offset (see the module doc).
        out[:, _EYE_YAW] += gaze_yaw[:, None]
        out[:, _EYE_PITCH] += gaze_pitch[:, None]
        yaw = (out[:, _EYE_YAW] - rest[_EYE_YAW]) / (cfg.eye_look_full_deg * DEG)
        pitch = (out[:, _EYE_PITCH] - rest[_EYE_PITCH]) / (cfg.eye_look_full_deg * DEG)
        out[:, _LOOK_VIEWER_RIGHT] += np.maximum(yaw, 0.0)
        out[:, _LOOK_VIEWER_LEFT] += np.maximum(-yaw, 0.0)
        out[:, _LOOK_DOWN] += np.maximum(pitch, 0.0)
        out[:, _LOOK_UP] += np.maximum(-pitch, 0.0)
        out[:, _EYE_BLINK] += cfg.lid_follow * np.maximum(pitch, 0.0)
        lids = clip01(out[:, _EYE_BLINK])
        out[:, _EYE_BLINK] = lids + (1.0 - lids) * blink[:, None]
        out[:, _EYE_WIDE] *= (1.0 - blink)[:, None]
        return np.minimum(np.maximum(out, CURVE_MIN), CURVE_MAX).astype(np.float32)


def _lerp(span: tuple[float, float], u: float) -> float:
    return span[0] + (span[1] - span[0]) * u


def perform(
    performer: PerformanceGenerator[Any],
    state: Any,
    speak: np.ndarray,
    listen: np.ndarray | None = None,
    prompts: str | Sequence[str | None] | None = None,
    chunk_frames: int = 25,
) -> np.ndarray:
    """Run a whole clip through any generator in chunks; returns curves ``[T, 61]`` float32.

    ``speak`` / ``listen``: mono float32 at 16 kHz (``listen`` ``None`` = silence); a partial last
    frame is padded with silence, so ``T = ceil(len(speak) / spf)``. ``prompts``: one prompt for
    the whole clip, or one per frame ``[T]``; chunks are cut at ``chunk_frames`` and also where
    the per-frame prompt changes, so a change lands exactly on its frame.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    spf = samples_per_frame(performer.fps)
    speak = np.asarray(speak, dtype=np.float32)
    total = -(-speak.shape[0] // spf)
    speak = np.pad(speak, (0, total * spf - speak.shape[0]))
    if listen is None:
        listen = np.zeros_like(speak)
    listen = np.asarray(listen, dtype=np.float32)
    if listen.shape[0] > speak.shape[0]:
        raise ValueError(f"listen has {listen.shape[0]} samples, speak only {speak.shape[0]}")
    listen = np.pad(listen, (0, speak.shape[0] - listen.shape[0]))
    if prompts is None or isinstance(prompts, str):
        per_frame: Sequence[str | None] = [prompts] * total
    else:
        per_frame = prompts
        if len(per_frame) != total:
            raise ValueError(f"prompts has {len(per_frame)} entries for {total} frames")
    out: list[np.ndarray] = []
    start = 0
    while start < total:
        stop = min(start + chunk_frames, total)
        for f in range(start + 1, stop):
            if per_frame[f] != per_frame[start]:
                stop = f
                break
        a, b = start * spf, stop * spf
        chunk = ChunkInputs(stop - start, speak[a:b], listen[a:b], per_frame[start], performer.fps)
        curves, state = performer.step(state, chunk)
        out.append(curves)
        start = stop
    return np.concatenate(out) if out else np.zeros((0, NUM_CURVES), np.float32)
