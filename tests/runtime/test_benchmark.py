"""``lpm bench``: every metric on synthetic input with a known answer, the case files, and one
quick run end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from models.audio_io import save_wav
from models.motion import CURVE_INDEX, NUM_CURVES
from models.tts import TimedUnit
from runtime.benchmark import metrics as m
from runtime.benchmark.cases import (
    SUITES,
    CaseError,
    build_timeline,
    load_cases,
    parse_case,
)
from runtime.benchmark.generators import available_generators, select_generators
from runtime.benchmark.tables import HEADLINES, pooled
from runtime.benchmark.targets import TimedLine, phone_class_targets

FPS = 25.0
RNG = np.random.default_rng(7)


def _still(frames: int) -> np.ndarray:
    return np.zeros((frames, NUM_CURVES), np.float32)


# --- lip sync ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [-3, -1, 0, 2, 4])
def test_a_known_av_offset_is_recovered_exactly(shift: int) -> None:
    sound = np.convolve(RNG.random(400), np.ones(3) / 3, mode="same")
    picture = np.roll(sound, shift)  # the picture lags the sound by `shift` frames
    off = m.av_offset(picture[10:-10], sound[10:-10], max_lag=5)
    assert off.lag_frames == shift
    assert off.r_at_lag > 0.999


def test_offset_ignores_frames_outside_the_scored_span() -> None:
    sound = RNG.random(200)
    picture = np.roll(sound, 1)
    picture[:50] = np.nan  # not scored
    assert m.av_offset(picture, sound).lag_frames == 1


def test_pearson_of_constant_or_short_series_is_nan() -> None:
    assert math.isnan(m.pearson(np.ones(10), np.arange(10.0)))
    assert math.isnan(m.pearson(np.arange(2.0), np.arange(2.0)))
    assert m.pearson(np.arange(10.0), 3 * np.arange(10.0) + 1) == pytest.approx(1.0)


def test_phone_targets_follow_the_phone_classes_frame_by_frame() -> None:
    # Pause 0-40 ms, /m/ 40-120 ms, /a/ 120-200 ms, /u:/ 200-280 ms; line ends at 280 ms.
    units = (TimedUnit(0.0, "_"), TimedUnit(0.04, "m"), TimedUnit(0.12, "'a"), TimedUnit(0.2, "u:"))
    line = TimedLine(start_s=0.4, end_s=0.68, phonemes=units)  # placed 10 frames in
    t = phone_class_targets([line], 20, FPS)
    jaw, close, rnd = t["jawOpen"], t["mouthClose"], t["mouthFunnel"]
    assert jaw[:11].max() == 0.0  # before the line, the pause, and /m/ frames
    np.testing.assert_allclose(close[11:13], 1.0)
    np.testing.assert_allclose(jaw[13:15], 1.0)  # /a/
    np.testing.assert_allclose(jaw[15:17], 0.6)  # /u:/: a close vowel
    np.testing.assert_allclose(rnd[15:17], 1.0)  # ... and rounded
    assert jaw[17:].max() == 0.0 and rnd[:15].max() == 0.0


# --- silence -------------------------------------------------------------------------------------


def test_silence_runs_and_closed_share() -> None:
    env = np.ones(40)
    env[10:20] = 0.0  # 400 ms: counts
    env[30:33] = 0.0  # 120 ms: too short
    quiet = m.silence_runs(env, 0.5, min_frames=8)
    assert quiet.sum() == 10 and quiet[10:20].all()
    opening = np.full(40, 0.3)
    opening[10:15] = 0.12  # closed (rest 0.1, tolerance 0.05)
    opening[15:17] = np.nan  # not measured
    assert m.closed_share(opening, rest=0.1, silent=quiet, tolerance=0.05) == pytest.approx(5 / 8)


def test_silence_threshold_has_a_floor_without_speech() -> None:
    assert m.silence_threshold(np.zeros(50)) == pytest.approx(1e-3)
    env = np.r_[np.zeros(10), np.full(40, 0.2)]
    assert m.silence_threshold(env) == pytest.approx(0.002)


# --- identity ------------------------------------------------------------------------------------


def test_identical_descriptors_give_distance_zero() -> None:
    ref = RNG.normal(size=128)
    d = m.descriptor_distances(np.stack([ref, ref, ref]), ref)
    np.testing.assert_array_equal(d, 0.0)
    shifted = ref.copy()
    shifted[0] += 0.3
    assert m.descriptor_distances(shifted, ref)[0] == pytest.approx(0.3)


def test_drift_is_the_slope_per_minute() -> None:
    t = np.arange(0, 600, 3.0)  # 10 minutes, one sample every 3 s
    d = 0.1 + 0.002 * t / 60.0
    assert m.slope_per_minute(t, d) == pytest.approx(0.002)
    assert math.isnan(m.slope_per_minute(np.ones(3), np.arange(3.0)))


def test_near_rest_ignores_gaze_but_not_expressions() -> None:
    rest = np.zeros(NUM_CURVES)
    c = _still(3)
    c[1, CURVE_INDEX["eyeLookOutLeft"]] = 0.5  # looking away: still near rest
    c[2, CURVE_INDEX["mouthSmileLeft"]] = 0.5  # smiling: not
    assert m.near_rest(c, rest).tolist() == [True, True, False]
    c[0, CURVE_INDEX["headYaw"]] = math.radians(5)
    assert not m.near_rest(c, rest)[0]


# --- motion dynamics -----------------------------------------------------------------------------


def test_a_clip_with_known_blinks_gives_the_known_rate() -> None:
    frames = int(30 * FPS)  # 30 s
    c = _still(frames)
    starts = [30, 200, 205 + 10, 400, 600, 700]  # 6 blinks (one right after another)
    for s in starts:
        for k, v in enumerate([0.3, 0.8, 1.0, 0.7, 0.3]):
            c[s + k, CURVE_INDEX["eyeBlinkLeft"]] = v
            c[s + k, CURVE_INDEX["eyeBlinkRight"]] = v
    assert m.count_blinks(m.blink_signal(c)) == 6
    assert m.blink_rate(m.blink_signal(c), FPS) == pytest.approx(12.0)


def test_a_frozen_clip_is_flagged() -> None:
    frames = 250
    t = np.arange(frames) / FPS
    c = np.tile(0.3 + 0.1 * np.sin(2 * np.pi * 0.37 * t)[:, None], (1, NUM_CURVES))
    assert m.frozen_share(c, FPS) == 0.0
    c[100:150] = c[100]  # 2 s without any change
    c[200:210] = c[200]  # 0.4 s: too short to count
    frozen = m.frozen_frames(c, FPS)
    assert frozen[100:150].all() and frozen.sum() == 50
    assert m.frozen_share(_still(100), FPS) == 1.0


def test_head_range_in_degrees() -> None:
    c = _still(101)
    c[:, CURVE_INDEX["headYaw"]] = np.radians(np.linspace(-5, 5, 101))
    r = m.head_range_deg(c, q=(0, 100))
    assert r["headYaw"] == pytest.approx(10.0) and r["headPitch"] == 0.0


# --- listening and prompts -----------------------------------------------------------------------


def test_responsiveness_counts_backchannels_within_the_window() -> None:
    c = _still(200)
    pitch = CURVE_INDEX["headPitch"]
    c[20:30, pitch] = math.radians(4)  # a nod 5 frames after the event at 15
    c[140:150, pitch] = math.radians(4)  # too late for the event at 100 (window 1.2 s = 30)
    c[170:180, CURVE_INDEX["browInnerUp"]] = 0.3  # a brow raise after the event at 160
    assert m.responsiveness(c, [15, 100, 160], FPS) == pytest.approx(2 / 3)
    assert math.isnan(m.responsiveness(c, [], FPS))


def test_controllability_compares_with_the_run_without_prompts() -> None:
    base = _still(100)
    base[:, CURVE_INDEX["mouthSmileLeft"]] = 0.2
    prompted = base.copy()
    prompted[10:40, CURVE_INDEX["mouthSmileLeft"]] = 0.6  # smiles: up
    yaw = CURVE_INDEX["headYaw"]
    prompted[50:80, yaw] = np.radians(8) * np.sin(np.linspace(0, 6 * np.pi, 30))  # shakes
    smile = [m.Expectation(("mouthSmileLeft",), "up", 10, 40)]
    shake = [m.Expectation(("headYaw",), "moves", 50, 80)]
    frown = [m.Expectation(("mouthFrownLeft",), "up", 80, 100)]  # never happens
    assert m.controllability(prompted, base, [smile, shake, frown]) == pytest.approx(2 / 3)


def test_a_saturated_curve_cannot_be_judged() -> None:
    base = _still(50)
    base[:, CURVE_INDEX["mouthSmileLeft"]] = 1.0  # the portrait smiles fully at rest
    up = [m.Expectation(("mouthSmileLeft",), "up", 0, 50)]
    assert m.prompt_verdict(base, base, up) is None
    assert math.isnan(m.controllability(base, base, [up]))


# --- pixels: jitter ------------------------------------------------------------------------------


def test_jitter_is_zero_for_still_and_constant_velocity_faces() -> None:
    base = RNG.uniform(100, 300, (68, 2))
    iod = np.full(20, 50.0)
    still = np.repeat(base[None], 20, axis=0)
    assert m.landmark_jitter(still, iod) == 0.0
    moving = base[None] + np.arange(20)[:, None, None] * np.array([1.5, -0.5])
    assert m.landmark_jitter(moving, iod) == pytest.approx(0.0, abs=1e-12)


def test_jitter_of_a_known_acceleration_and_missing_faces() -> None:
    pts = np.zeros((5, 68, 2))
    pts[2, :, 0] = 1.0  # one frame one pixel off: |a| = 1, 2, 1 px for t = 1, 2, 3
    iod = np.full(5, 10.0)
    assert m.landmark_jitter(pts, iod) == pytest.approx((0.1 + 0.2 + 0.1) / 3)
    iod[3] = np.nan  # no face on frame 3: only t = 1 remains (frames 0-2 have a face)
    pts[3] = np.nan
    assert m.landmark_jitter(pts, iod) == pytest.approx(0.1)


# --- cases ---------------------------------------------------------------------------------------


def test_every_shipped_case_loads_and_every_suite_is_covered() -> None:
    cases = load_cases()
    assert {c.suite for c in cases} == set(SUITES)
    assert {c.suite for c in cases if c.quick} == set(SUITES)
    for case in cases:
        for p in case.prompts:
            for _, curves in p.expectations:
                assert all(name in CURVE_INDEX for name in curves)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"suite": "singing"}, "suite must be one of"),
        ({"suite": "idle", "sconds": 3}, "unknown key 'sconds'"),
        ({"suite": "speaking", "speak": [{"at": 1}]}, "exactly one of text or wav"),
        (
            {"suite": "emotes", "prompt": [{"text": "smiles", "up": ["mouthSmile"]}]},
            "unknown curve",
        ),
        ({"suite": "long"}, "repeat_s"),
        ({"suite": "characters"}, "portraits"),
    ],
)
def test_a_malformed_case_is_refused_with_its_problem(data: dict, problem: str) -> None:
    with pytest.raises(CaseError, match=problem):
        parse_case(data, "broken")


def test_timeline_places_recordings_cuts_lines_and_repeats_long_cases(tmp_path: Path) -> None:
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(24_000) / 48_000).astype(np.float32)
    save_wav(tmp_path / "npc.wav", tone, 48_000)  # 0.5 s at 48 kHz
    case = parse_case(
        {
            "suite": "conversation",
            "speak": [{"at": 0.2, "wav": "npc.wav"}, {"at": 1.0, "wav": "npc.wav", "cut_at": 0.2}],
            "prompt": [{"at": 1.5, "until": 2.0, "text": "nods", "moves": ["headPitch"]}],
            "seconds": 2.4,
        },
        "wav_case",
        tmp_path / "wav_case.toml",
    )
    tl = build_timeline(case, FPS)
    assert tl.num_frames == 60 and tl.speak.shape == (60 * 640,)
    assert [round(s.end_s - s.start_s, 2) for s in tl.speak_lines] == [0.5, 0.2]
    assert not tl.timed_lines()  # recordings have no phone timings
    assert tl.prompts[37] is None and tl.prompts[38] == "nods" and tl.prompts[50] is None
    assert np.abs(tl.speak[int(1.3 * 16_000) :]).max() == 0.0  # the cut line stopped at 1.2 s

    loop = parse_case(
        {"suite": "long", "repeat_s": 10.0, "prompt": [{"at": 1.0, "until": 2.0, "text": "nods"}]},
        "loop",
    )
    tl = build_timeline(loop, FPS, long_minutes=0.5)
    assert tl.seconds == pytest.approx(30.0)
    assert [s.start for s in tl.prompt_spans] == [25, 275, 525]


def test_generators_registry() -> None:
    assert "procedural" in available_generators()
    assert [s.name for s in select_generators("procedural")] == ["procedural"]
    with pytest.raises(ValueError, match="available in this build"):
        select_generators("procedural,teleport")


def test_headline_pools_counts_over_cases() -> None:
    def case(**metrics: float) -> dict:
        return {"generator": "g", "status": "ok", "suite": "listening", "metrics": metrics}

    answered = next(h for h in HEADLINES if h.ratio == ("backchannels", "phrase_ends"))
    cases = [case(backchannels=3, phrase_ends=4), case(backchannels=0, phrase_ends=1)]
    assert pooled(cases, answered) == [pytest.approx(0.6)]


# --- end to end ----------------------------------------------------------------------------------


def test_quick_bench_writes_a_report_that_parses(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from runtime.cli import app

    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["bench", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "quick" and report["errors"] == []
    assert {c["suite"] for c in report["cases"]} == set(SUITES)
    assert report["serve"]["status"] == "not run in quick mode"
    statuses = {Path(c["portrait"]).name: c["status"] for c in report["cases"]}
    assert statuses.get("negative_cat_chelsea.jpg") == "refused"
    labels = [row["label"] for row in report["headline"]]
    assert any(label.startswith("lip sync, pixels") for label in labels)
    text = (out / "report.md").read_text()
    assert "## Headline" in text and "not run in quick mode" in text
    for _, rel in report["plots"]:
        assert (out / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["plots"] and report["clips"]
    assert all((out / rel).stat().st_size > 10_000 for _, rel in report["clips"])
