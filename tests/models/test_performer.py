"""The procedural performer: streaming parity, determinism, lip sync to loudness, rest pose,
blinks, gaze, listening backchannels and prompt emotes, on synthetic speech-like audio."""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence

import numpy as np
import pytest

from models.emotes import Emote, parse_prompt
from models.generator import CharacterConditioning, ChunkInputs, samples_per_frame
from models.motion import CURVE_MAX, CURVE_MIN, CURVE_NAMES, NUM_CURVES, idx
from models.performer import (
    PerformerConfig,
    PerformerState,
    ProceduralPerformer,
    perform,
)
from tests.models.test_audio_features import (
    frame_rms,
    fricative,
    hiss,
    speechlike,
    vowel,
)

FPS = 25
SPF = samples_per_frame(FPS)
DEG = math.pi / 180
MOUTH = [i for i, n in enumerate(CURVE_NAMES) if n.startswith(("jaw", "mouth", "cheek", "tongue"))]


def smiling_rest() -> np.ndarray:
    """A portrait that smiles with parted lips at rest."""
    rest = np.zeros(NUM_CURVES, np.float32)
    for name, value in {
        "jawOpen": 0.15,
        "mouthSmileLeft": 0.4,
        "mouthSmileRight": 0.4,
        "cheekSquintLeft": 0.1,
        "cheekSquintRight": 0.1,
        "headPitch": 0.05,
    }.items():
        rest[idx(name)] = value
    return rest


def run(
    speak: np.ndarray | None = None,
    listen: np.ndarray | None = None,
    prompts: str | Sequence[str | None] | None = None,
    seconds: float | None = None,
    seed: int = 0,
    rest: np.ndarray | None = None,
    chunk: int = 25,
    config: PerformerConfig | None = None,
) -> np.ndarray:
    """Curves ``[T, 61]`` for a clip; missing streams are silence."""
    performer = ProceduralPerformer(config)
    if speak is None:
        assert seconds is not None
        speak = np.zeros(round(seconds * FPS) * SPF, np.float32)
    character = CharacterConditioning() if rest is None else CharacterConditioning(rest)
    state = performer.init_state(character, seed=seed)
    return perform(performer, state, speak, listen, prompts, chunk)


def curve(curves: np.ndarray, name: str) -> np.ndarray:
    return curves[:, idx(name)].astype(np.float64)


# --- contract -----------------------------------------------------------------------------


def test_output_shape_dtype_range_and_finite() -> None:
    speak = speechlike(8.0, seed=1).audio
    listen = np.roll(speechlike(8.0, seed=2).audio, 3000)
    prompts = ["laughs very hard"] * 100 + ["surprised, then thinks"] * 100
    curves = run(speak, listen, prompts, rest=smiling_rest())
    assert curves.shape == (200, NUM_CURVES)
    assert curves.dtype == np.float32
    assert np.isfinite(curves).all()
    assert (curves >= CURVE_MIN).all() and (curves <= CURVE_MAX).all()


def schedule(total: int) -> list[str | None]:
    """A per-frame prompt schedule with changes at frames no chunking shares."""
    prompts: list[str | None] = [None] * total
    for start, stop, text in (
        (37, 130, "smiles broadly"),
        (130, 211, "nods, then laughs"),
        (211, 290, "frowns slightly"),
        (333, 420, "shakes head and thinks"),
        (420, 471, "looks up"),
    ):
        prompts[start:stop] = [text] * (stop - start)
    return prompts


@pytest.fixture(scope="module")
def parity_clip() -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    speak = speechlike(20.0, seed=3).audio
    listen = speechlike(20.0, seed=4, pause_s=(1.0, 2.0)).audio
    return speak, listen, schedule(500)


@pytest.mark.parametrize("chunk", [1, 4, 7, 25])
def test_streaming_in_chunks_equals_one_pass(
    parity_clip: tuple[np.ndarray, np.ndarray, list[str | None]], chunk: int
) -> None:
    speak, listen, prompts = parity_clip
    # One pass: a single step per prompt segment (a chunk carries one prompt).
    whole = run(speak, listen, prompts, seed=5, rest=smiling_rest(), chunk=10_000)
    chunked = run(speak, listen, prompts, seed=5, rest=smiling_rest(), chunk=chunk)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-5)
    # The clip exercises what carries state: speech, blinks, saccades, nods, emotes.
    assert np.ptp(curve(whole, "jawOpen")) > 0.3 and curve(whole, "eyeBlinkLeft").max() > 0.9
    assert (
        np.ptp(curve(whole, "leftEyeYaw")) > 4 * DEG and np.ptp(curve(whole, "headYaw")) > 5 * DEG
    )


def test_one_step_equals_frame_by_frame_without_prompts() -> None:
    speak = speechlike(6.0, seed=6).audio
    listen = speechlike(6.0, seed=7).audio
    performer = ProceduralPerformer()
    state0 = performer.init_state(CharacterConditioning(smiling_rest()), seed=2)
    whole, end_whole = performer.step(state0, ChunkInputs(150, speak, listen))
    state, parts = state0, []
    for f in range(150):
        a, b = f * SPF, (f + 1) * SPF
        out, state = performer.step(state, ChunkInputs(1, speak[a:b], listen[a:b]))
        parts.append(out)
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0, atol=1e-5)
    assert state.frame == end_whole.frame == 150
    assert state.motion == end_whole.motion
    assert state.rng_state == end_whole.rng_state


def _assert_states_equal(a: PerformerState, b: PerformerState) -> None:
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        elif hasattr(x, "__dataclass_fields__"):
            for sub in x.__dataclass_fields__:
                np.testing.assert_array_equal(getattr(x, sub), getattr(y, sub))
        else:
            assert x == y, name


def test_step_never_mutates_its_input_state() -> None:
    performer = ProceduralPerformer()
    state = performer.init_state(CharacterConditioning(smiling_rest()), seed=1)
    sp = speechlike(4.0, seed=8).audio[: 50 * SPF]
    state = performer.step(state, ChunkInputs(50, sp, sp, "smiles"))[1]
    snapshot = copy.deepcopy(state)
    chunk = ChunkInputs(25, sp[: 25 * SPF], sp[25 * SPF :], "nods")
    first, _ = performer.step(state, chunk)
    _assert_states_equal(state, snapshot)
    again, _ = performer.step(state, chunk)  # a kept state replays exactly (retry / branch)
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError):
        state.rest[0] = 1.0  # state arrays are read-only


def test_zero_length_chunks_are_no_ops() -> None:
    performer = ProceduralPerformer()
    state = performer.init_state(CharacterConditioning(), seed=3)
    sp = speechlike(4.0, seed=9).audio[: 50 * SPF]
    empty = ChunkInputs(0, np.zeros(0, np.float32), np.zeros(0, np.float32), "smiles")
    out, same = performer.step(state, empty)
    assert out.shape == (0, NUM_CURVES) and out.dtype == np.float32
    assert same is state
    direct, _ = performer.step(state, ChunkInputs(50, sp, sp))
    after_empty, _ = performer.step(same, ChunkInputs(50, sp, sp))
    np.testing.assert_array_equal(direct, after_empty)
    assert perform(performer, state, np.zeros(0, np.float32)).shape == (0, NUM_CURVES)


def test_bad_inputs_are_rejected() -> None:
    performer = ProceduralPerformer()
    state = performer.init_state(CharacterConditioning(), seed=0)
    with pytest.raises(ValueError, match="samples"):
        ChunkInputs(2, np.zeros(SPF, np.float32), np.zeros(2 * SPF, np.float32))
    with pytest.raises(ValueError, match="fps"):
        performer.step(state, ChunkInputs.silence(2, fps=50.0))
    with pytest.raises(ValueError, match="rest_curves"):
        performer.init_state(CharacterConditioning(np.zeros(52, np.float32)))
    with pytest.raises(ValueError, match="prompts"):
        perform(performer, state, np.zeros(4 * SPF, np.float32), prompts=["smile"] * 3)
    for bad in (
        {"jaw_gain": -0.1},
        {"jaw_release": 1.5},
        {"blink_close_s": (0.2, 0.1)},
        {"blink_rate_per_min": float("nan")},
        {"fps": 23.0},
        {"closure_profile": (1.0, -0.5)},
    ):
        with pytest.raises(ValueError):
            PerformerConfig(**bad)


def test_deterministic_under_a_seed_and_seeds_differ() -> None:
    sp = speechlike(8.0, seed=10).audio
    a = run(sp, seed=11)
    b = run(sp, seed=11)
    c = run(sp, seed=12)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.5  # different blink and saccade timing
    # ... while the lips are the audio's, whatever the seed.
    np.testing.assert_allclose(curve(a, "jawOpen"), curve(c, "jawOpen"), atol=1e-6)


# --- lips ---------------------------------------------------------------------------------


def test_jaw_tracks_the_loudness_envelope_and_closes_in_silence() -> None:
    sp = speechlike(30.0, seed=13)
    rest = smiling_rest()
    curves = run(sp.audio, rest=rest)
    jaw = curve(curves, "jawOpen")
    env = frame_rms(sp.audio)
    r = {lag: float(np.corrcoef(jaw[lag:], env[: env.shape[0] - lag])[0, 1]) for lag in (0, 1)}
    assert max(r.values()) >= 0.7, r
    peak = np.percentile(jaw[sp.voiced], 95) - rest[idx("jawOpen")]
    assert peak > 0.25
    # Within 3 frames (120 ms) of every phrase's end the jaw is back within 15 % of rest.
    assert len(sp.phrase_ends) >= 8
    for onset in sp.phrase_ends:
        assert abs(jaw[onset + 2] - rest[idx("jawOpen")]) <= 0.15 * peak, onset
        assert abs(jaw[onset + 2 : onset + 6] - rest[idx("jawOpen")]).max() <= 0.15 * peak


def test_mouth_returns_to_rest_within_three_frames_of_an_abrupt_stop() -> None:
    rest = smiling_rest()
    loud = vowel("a", 2.0, rms_db=-18.0)
    x = np.concatenate([loud, np.zeros(SPF * 25, np.float32)])
    curves = run(x, rest=rest)
    jaw = curve(curves, "jawOpen")
    onset = 50
    excursion = jaw[40:50].mean() - rest[idx("jawOpen")]
    assert excursion > 0.3  # a loud open vowel opens the mouth wide
    assert jaw[1] - rest[idx("jawOpen")] > 0.5 * excursion  # fast attack: open within a frame
    assert abs(jaw[onset + 2] - rest[idx("jawOpen")]) <= 0.15 * excursion
    np.testing.assert_allclose(curves[onset + 8 :, MOUTH], np.tile(rest[MOUTH], (17, 1)), atol=1e-3)


def test_quiet_and_loud_voices_both_open_the_mouth() -> None:
    means = []
    for level in (-42.0, -22.0, -10.0):
        sp = speechlike(12.0, seed=14, rms_db=level)
        jaw = curve(run(sp.audio), "jawOpen")
        late = sp.voiced.copy()
        late[: 5 * FPS] = False  # after the speech level has adapted
        means.append(jaw[late].mean())
    assert min(means) > 0.15
    assert max(means) / min(means) < 1.6, means


def test_hiss_and_hum_keep_the_mouth_at_rest() -> None:
    rest = smiling_rest()
    t = np.arange(10 * 16000) / 16000
    hum = (0.02 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)
    for noise in (hiss(10.0, -60.0), hiss(10.0, -38.0, seed=1), hum):
        curves = run(noise, rest=rest)
        np.testing.assert_allclose(curves[:, MOUTH], np.tile(rest[MOUTH], (250, 1)), atol=1e-6)


def test_rest_pose_is_kept_in_long_silence() -> None:
    rest = smiling_rest()
    curves = run(seconds=60.0, rest=rest, seed=2)
    # Mouth curves sit exactly at rest; eyes and head move around their rest values.
    np.testing.assert_allclose(curves[:, MOUTH], np.tile(rest[MOUTH], (1500, 1)), atol=1e-6)
    pitch = curve(curves, "headPitch")
    assert abs(np.median(pitch) - rest[idx("headPitch")]) < 1.5 * DEG
    assert np.ptp(pitch) > 0.3 * DEG  # breathing and sway: alive, not frozen
    assert np.ptp(curve(curves, "headYaw")) < 6 * DEG  # but idle sway is small


def _mean_over(curves: np.ndarray, name: str, frames: slice) -> float:
    return float(curve(curves, name)[frames].mean())


def test_visemes_follow_the_spectrum() -> None:
    lead = vowel("a", 2.0, rms_db=-22.0)  # lets the speech level settle on this voice
    clips = {
        name: run(np.concatenate([lead, vowel(name, 1.0, rms_db=-22.0)]))
        for name in ("a", "u", "i")
    }
    # /s/ between vowels ("asa"): frames 51-54 are the fricative's own.
    clips["s"] = run(np.concatenate([lead, fricative(0.2, -30.0), vowel("a", 0.8, rms_db=-22.0)]))
    late = slice(55, 75)

    def m(clip: str, name: str) -> float:
        return _mean_over(clips[clip], name, slice(51, 55) if clip == "s" else late)

    assert m("u", "mouthPucker") > 0.2 and m("u", "mouthFunnel") > 0.2
    assert m("u", "mouthPucker") > 3 * max(m("a", "mouthPucker"), m("i", "mouthPucker"), 0.02)
    assert m("i", "mouthStretchLeft") > 0.15
    assert m("i", "mouthStretchLeft") > 3 * max(m("a", "mouthStretchLeft"), 0.02)
    assert m("i", "mouthSmileLeft") > m("u", "mouthSmileLeft")
    assert m("a", "jawOpen") > m("i", "jawOpen") + 0.05  # open vowel vs close vowel
    # /s/: teeth nearly closed, upper lip up.
    assert m("s", "jawOpen") < 0.5 * m("a", "jawOpen")
    assert m("s", "mouthUpperUpLeft") > 0.1 > m("a", "mouthUpperUpLeft")


def test_stop_closures_inside_speech_press_the_lips() -> None:
    sp = speechlike(30.0, seed=15)
    rest = smiling_rest()
    curves = run(sp.audio, rest=rest)
    assert len(sp.closures) >= 10
    jaw, press = curve(curves, "jawOpen"), curve(curves, "mouthPressLeft")
    closing = [c for c in sp.closures if jaw[c - 1] > rest[idx("jawOpen")] + 0.1]
    assert len(closing) >= 0.8 * len(sp.closures)
    for c in closing:
        assert jaw[c] < rest[idx("jawOpen")] + 0.02, c  # lips meet: jaw to (below) rest
        assert press[c] > 0.2 and curve(curves, "mouthClose")[c] > 0.1
    # ... and only there: during vowels the lips are apart.
    assert np.median(press[sp.voiced]) < 0.01


def test_head_moves_more_while_speaking() -> None:
    sp = speechlike(30.0, seed=16, pause_s=(0.3, 0.5))
    talking = run(sp.audio, seed=4)
    idle = run(seconds=30.0, seed=4)

    def motion(curves: np.ndarray) -> float:
        head = curves[:, idx("headYaw") : idx("headRoll") + 1].astype(np.float64)
        return float(np.abs(np.diff(head, axis=0)).sum(axis=1).mean())

    assert motion(talking) > 1.5 * motion(idle)
    assert _mean_over(talking, "browInnerUp", slice(None)) > _mean_over(
        idle, "browInnerUp", slice(None)
    )  # accents flick the brows


# --- eyes ---------------------------------------------------------------------------------


def _blink_starts(curves: np.ndarray) -> np.ndarray:
    closed = curve(curves, "eyeBlinkLeft") > 0.5
    return np.flatnonzero(closed[1:] & ~closed[:-1]) + 1


def test_blinks_are_natural_over_five_minutes_of_silence() -> None:
    curves = run(seconds=300.0, seed=21)
    starts = _blink_starts(curves)
    rate = len(starts) / 5.0
    assert 12 <= rate <= 20, rate
    intervals = np.diff(np.concatenate([[0], starts, [curves.shape[0]]])) / FPS
    assert intervals.max() <= 8.0
    gaps = np.diff(starts) / FPS
    assert gaps.std() / gaps.mean() > 0.3  # never metronomic
    assert (gaps < 0.8).any()  # some double blinks
    # Both eyes together, fully closed at the peak, each blink about 250-450 ms.
    np.testing.assert_array_equal(curve(curves, "eyeBlinkLeft"), curve(curves, "eyeBlinkRight"))
    blink = curve(curves, "eyeBlinkLeft")
    for s in starts:
        assert blink[s - 1 : s + 4].max() >= 0.99
    moving = blink > 0.01
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], moving, [0]]).astype(int))))[::2]
    assert 5 <= np.median(runs) <= 9  # frames with the lid moving or shut (200-360 ms)


def test_saccades_jump_hold_and_return_to_camera() -> None:
    curves = run(seconds=120.0, seed=22)
    yaw, pitch = curve(curves, "leftEyeYaw"), curve(curves, "leftEyePitch")
    np.testing.assert_array_equal(yaw, curve(curves, "rightEyeYaw"))
    step = np.hypot(np.diff(yaw), np.diff(pitch))
    jumps = np.flatnonzero(step > 1.5 * DEG)
    holds = np.diff(jumps) / FPS
    assert 30 <= len(jumps) <= 150, len(jumps)  # a jump every ~0.5-3 s
    assert np.median(holds) >= 0.5 and holds.max() <= 6.0
    # A saccade lands in about one frame (~40 ms), then the eyes hold still.
    assert (step[jumps + 1] < 0.2 * step[jumps]).mean() > 0.9
    radius = np.hypot(yaw, pitch)
    assert radius.max() <= 9 * DEG
    assert (radius < 1.5 * DEG).mean() > 0.3  # back at the camera often
    assert (radius > 3 * DEG).mean() > 0.2  # and looks away too


def test_eye_look_blendshapes_follow_eye_rotation() -> None:
    curves = run(seconds=60.0, seed=23)
    yaw, pitch = curve(curves, "leftEyeYaw"), curve(curves, "leftEyePitch")
    full = PerformerConfig().eye_look_full_deg * DEG
    right, left = yaw > 2 * DEG, yaw < -2 * DEG
    assert right.any() and left.any()
    # Looking to the viewer's right: left eye out, right eye in; the other pair stays 0.
    np.testing.assert_allclose(curve(curves, "eyeLookOutLeft")[right], yaw[right] / full, atol=1e-5)
    np.testing.assert_allclose(curve(curves, "eyeLookInRight")[right], yaw[right] / full, atol=1e-5)
    assert (curve(curves, "eyeLookInLeft")[right] == 0).all()
    assert (curve(curves, "eyeLookOutRight")[right] == 0).all()
    np.testing.assert_allclose(curve(curves, "eyeLookInLeft")[left], -yaw[left] / full, atol=1e-5)
    np.testing.assert_allclose(curve(curves, "eyeLookOutRight")[left], -yaw[left] / full, atol=1e-5)
    down, up = pitch > 1 * DEG, pitch < -1 * DEG
    np.testing.assert_allclose(
        curve(curves, "eyeLookDownLeft")[down], pitch[down] / full, atol=1e-5
    )
    np.testing.assert_allclose(curve(curves, "eyeLookUpRight")[up], -pitch[up] / full, atol=1e-5)


# --- listening ----------------------------------------------------------------------------


def _nod_after(pitch: np.ndarray, onsets: np.ndarray, window_s: float = 1.2) -> np.ndarray:
    """Whether headPitch rises ≥ 3° above its value at each onset within the window."""
    w = round(window_s * FPS)
    return np.array([pitch[o : o + w].max() - pitch[o] >= 3 * DEG for o in onsets])


def test_phrase_ends_of_the_partner_get_a_nod() -> None:
    partner = speechlike(90.0, seed=24, phrase_s=(1.0, 2.5), pause_s=(1.6, 2.6))
    curves = run(listen=partner.audio, speak=np.zeros_like(partner.audio), seed=25)
    pitch = curve(curves, "headPitch")
    onsets = partner.phrase_ends[partner.phrase_ends + 30 < pitch.shape[0]]
    assert len(onsets) >= 20
    nodded = _nod_after(pitch, onsets)
    assert nodded.mean() >= 0.8, nodded.mean()
    # The same windows without a partner: no such nods (the test can fail).
    idle = curve(run(seconds=90.0, seed=25), "headPitch")
    assert _nod_after(idle, onsets).mean() < 0.2
    # Nods are 5-8° down and back.
    peaks = [pitch[o : o + 30].max() - pitch[o] for o in onsets[nodded]]
    assert 4 * DEG < np.median(peaks) < 9 * DEG


def test_attentive_while_the_partner_speaks() -> None:
    partner = speechlike(60.0, seed=26, pause_s=(0.3, 0.6))
    listening = run(listen=partner.audio, speak=np.zeros_like(partner.audio), seed=27)
    idle = run(seconds=60.0, seed=27)
    during = partner.voiced.copy()
    during[:50] = False

    def at_camera(curves: np.ndarray) -> float:
        r = np.hypot(curve(curves, "leftEyeYaw"), curve(curves, "leftEyePitch"))
        return float((r[during] < 1.5 * DEG).mean())

    assert at_camera(listening) > at_camera(idle) + 0.15
    assert curve(listening, "browInnerUp")[during].mean() > 0.05
    assert curve(idle, "browInnerUp").max() < 0.01


def test_no_backchannel_nods_while_talking_over_the_partner() -> None:
    partner = speechlike(40.0, seed=28, pause_s=(1.6, 2.6))
    own = vowel("a", 40.0, rms_db=-20.0)  # talking throughout
    cfg = PerformerConfig(accent_nod_prob=0.0)
    pitch = curve(run(own, partner.audio, seed=29, config=cfg), "headPitch")
    assert _nod_after(pitch, partner.phrase_ends[partner.phrase_ends + 30 < 1000]).mean() < 0.2


# --- emotes -------------------------------------------------------------------------------


def test_parse_prompt() -> None:
    assert parse_prompt("Smiles") == (Emote("smile", 0.8),)
    assert parse_prompt("nods, then smiles broadly") == (Emote("nod", 0.8), Emote("smile", 1.0))
    assert parse_prompt("a little annoyed") == (Emote("frown", 0.5),)
    assert parse_prompt("WOW") == (Emote("surprised", 0.8),)
    assert parse_prompt("shakes his head") == (Emote("shake", 0.8),)
    assert parse_prompt("disagrees") == (Emote("shake", 0.8),)
    assert parse_prompt("agrees") == (Emote("nod", 0.8),)
    assert parse_prompt("ponders; then laughing") == (Emote("think", 0.8), Emote("laugh", 0.8))
    assert parse_prompt("looks up at the sky") == (Emote("think", 0.8),)
    assert parse_prompt("very happy and then sad") == (Emote("smile", 1.0), Emote("frown", 0.8))
    assert parse_prompt("walks to the door") == ()
    assert parse_prompt("") == ()


EMOTE_EXPECTATIONS: dict[str, list[tuple[str, float]]] = {
    # prompt: (curve, signed minimum change vs no prompt) over the held part of the emote
    "smiles": [("mouthSmileLeft", 0.3), ("mouthSmileRight", 0.3), ("cheekSquintLeft", 0.15)],
    "frowns": [("mouthFrownLeft", 0.3), ("browDownLeft", 0.3), ("mouthPressRight", 0.1)],
    "looks surprised": [("browInnerUp", 0.4), ("eyeWideLeft", 0.3), ("jawOpen", 0.1)],
    "thinking": [
        ("leftEyePitch", -6 * DEG),
        ("eyeLookUpLeft", 0.2),
        ("browInnerUp", 0.1),
        ("headRoll", 2 * DEG),
        ("mouthPressLeft", 0.1),
    ],
    "laughs": [("mouthSmileLeft", 0.3), ("jawOpen", 0.08), ("eyeSquintLeft", 0.2)],
}


@pytest.mark.parametrize("prompt", sorted(EMOTE_EXPECTATIONS))
def test_expression_emotes_move_their_curves(prompt: str) -> None:
    rest = smiling_rest()
    rest[idx("mouthSmileLeft")] = rest[idx("mouthSmileRight")] = 0.1
    base = run(seconds=4.0, seed=30, rest=rest)
    emoting = run(prompts=prompt, seconds=4.0, seed=30, rest=rest)
    held = slice(8, 30)  # after the 200 ms attack, before the decay
    diff = (emoting - base).astype(np.float64)
    for name, minimum in EMOTE_EXPECTATIONS[prompt]:
        change = float(diff[held, idx(name)].mean())
        if minimum > 0:
            assert change >= minimum, (name, change)
        else:
            assert change <= minimum, (name, change)
    assert np.abs(diff[:1]).max() < 0.05  # starts from the current face (attack)


def test_gestures_play_once() -> None:
    base = run(seconds=4.0, seed=31)
    nod = run(prompts="nods", seconds=4.0, seed=31) - base
    shake = run(prompts="shakes head", seconds=4.0, seed=31) - base
    laugh = run(prompts="laughing", seconds=4.0, seed=31) - base
    nod_pitch = nod[:, idx("headPitch")]
    assert 5 * DEG < nod_pitch.max() < 8 * DEG and np.argmax(nod_pitch) < 12
    yaw = shake[:, idx("headYaw")]
    assert yaw.max() > 4 * DEG and yaw.min() < -4 * DEG
    signs = np.sign(yaw[:30][np.abs(yaw[:30]) > 1e-3])
    assert 4 <= np.count_nonzero(np.diff(signs)) <= 6  # ~2.5 Hz over ~1.2 s
    jaw = laugh[:, idx("jawOpen")]
    spectrum = np.abs(np.fft.rfft(jaw[:45] - jaw[:45].mean()))
    assert abs(np.fft.rfftfreq(45, 1 / FPS)[np.argmax(spectrum)] - 5.0) < 1.0  # "ha-ha-ha"
    for diff in (nod, shake, laugh):  # then done, while the prompt stays
        assert np.abs(diff[60:]).max() < 1e-5


def test_multi_step_prompt_runs_in_order() -> None:
    base = run(seconds=5.0, seed=32)
    diff = run(prompts="nods, then smiles", seconds=5.0, seed=32) - base
    nod_peak = int(np.argmax(diff[:, idx("headPitch")]))
    smile = diff[:, idx("mouthSmileLeft")]
    smile_start = int(np.argmax(smile > 0.1))
    assert nod_peak < 10 < smile_start
    assert smile[:20].max() < 0.05 and smile[40:60].mean() > 0.3
    reverse = run(prompts="smiles, then nods", seconds=5.0, seed=32) - base
    assert int(np.argmax(reverse[:, idx("headPitch")])) > int(
        np.argmax(reverse[:, idx("mouthSmileLeft")] > 0.1)
    )


def test_expressions_sustain_while_the_prompt_stays_then_release() -> None:
    prompts: list[str | None] = ["smiles"] * 150 + [None] * 50 + ["smiles"] * 50
    base = run(seconds=10.0, seed=33)
    diff = run(prompts=prompts, seconds=10.0, seed=33) - base
    smile = diff[:, idx("mouthSmileLeft")]
    full = 0.8 * 0.7
    assert smile[15:30].mean() == pytest.approx(full, abs=0.02)  # held
    assert smile[80:150].mean() == pytest.approx(0.4 * full, abs=0.02)  # sustain
    assert abs(smile[149] - smile[150]) < 0.05  # the release starts where it was
    assert np.abs(smile[162:200]).max() < 1e-6  # gone within ~0.4 s
    assert smile[215:225].mean() > 0.9 * full  # the same prompt again restarts it


def test_intensity_words_scale_the_emote() -> None:
    base = run(seconds=2.0, seed=34)

    def smile(prompt: str) -> float:
        return float((run(prompts=prompt, seconds=2.0, seed=34) - base)[10:25, 23].mean())

    slight, normal, broad = smile("smiles slightly"), smile("smiles"), smile("smiles broadly")
    assert slight == pytest.approx(0.5 * 0.7, abs=0.01)
    assert normal == pytest.approx(0.8 * 0.7, abs=0.01)
    assert broad == pytest.approx(1.0 * 0.7, abs=0.01)


def test_unknown_prompts_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    base = run(seconds=3.0, seed=35)
    with caplog.at_level(logging.DEBUG, logger="models.performer"):
        odd = run(prompts="walks to the door 🚪", seconds=3.0, seed=35)
    np.testing.assert_array_equal(odd, base)
    assert any("no known emote" in r.getMessage() for r in caplog.records)


# --- speed --------------------------------------------------------------------------------


def test_faster_than_real_time_by_far() -> None:
    speak = speechlike(20.0, seed=36).audio
    listen = speechlike(20.0, seed=37).audio
    performer = ProceduralPerformer()
    state = performer.init_state(CharacterConditioning(), seed=0)
    t0 = time.perf_counter()
    perform(performer, state, speak, listen, "smiles", chunk_frames=4)
    ms_per_s = 1000 * (time.perf_counter() - t0) / 20.0
    assert ms_per_s < 60.0, ms_per_s  # typically ~5-8 ms; loose for busy CI machines
