"""Running one case with one generator, and the speed suites.

A case runs the same way for every generator: the audio front-end and the generator stream
over the case's timeline in chunks (as the runtime's engine does), the curves are scored
(:mod:`runtime.benchmark.metrics`), and the frames are rendered and measured with dlib
(:mod:`runtime.benchmark.pixels`). Which metrics apply depends on what the case contains:
lip sync where the character speaks, responsiveness where the partner does, controllability
where prompts carry expectations, identity and dynamics everywhere.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.audio_io import loudness_envelope
from models.face import inner_mouth_opening
from models.generator import SAMPLE_RATE, CharacterConditioning, ChunkInputs, samples_per_frame
from models.logmel import LogMelFrontEnd
from models.motion import CURVE_INDEX, NUM_BLENDSHAPES, NUM_CURVES
from models.render.asset import CharacterAsset
from models.render.warp import WarpRenderer
from runtime.benchmark import metrics as m
from runtime.benchmark.cases import Case, Timeline, VoiceCache, build_timeline
from runtime.benchmark.generators import GeneratorSpec
from runtime.benchmark.pixels import FrameMeasurer, PixelTrack, sample_frames, window_frames
from runtime.benchmark.targets import TargetFunction, phone_class_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchSettings:
    """How the benchmark measures (the defaults are the full run's)."""

    fps: float = 25.0  # video frames per second
    size: int = 512  # asset and frame size for the quality suites, pixels
    quick: bool = False  # the quick run: fewer cases, shorter speed suites, no server
    long_minutes: float = 10.0  # length of the long-horizon cases
    portraits_dir: Path | None = None  # the characters suite's portraits
    identity_every_s: float = 0.4  # descriptor sampling in ordinary cases, seconds
    long_identity_every_s: float = 3.0  # ... in long cases
    all_frames_up_to_s: float = 90.0  # clips up to this long are rendered whole ...
    window_s: float = 4.0  # ... longer ones in windows this long ...
    window_period_s: float = 30.0  # ... one every this many seconds
    speech_margin_s: float = 0.3  # lip sync is scored on speech ± this margin
    silence_min_s: float = 0.3  # silences at least this long count for "mouth closed"
    closed_tol_iod: float = 0.05  # mouth closed on pixels: opening ≤ rest + this (IOD)
    closed_tol_jaw: float = 0.05  # mouth closed on curves: jawOpen ≤ rest + this
    prompt_release_s: float = 0.5  # silences count from this long after a prompt ends
    max_lag: int = 5  # AV offsets searched within ± this many frames
    speed_seconds: float = 30.0  # audio timed in the in-process speed suite
    speed_sizes: tuple[int, ...] = (256, 512)  # frame sizes timed
    speed_chunk_frames: int = 1  # frames per step in the speed suite (the runtime's default)
    serve_seconds: float = 20.0  # length of the real-server run (full runs only)
    jpeg_quality: int = 85  # the wire's JPEG encoding, timed as "encode"
    max_clips: int | None = None  # MP4 clips written at most (None: every case marked clip)

    @classmethod
    def quick_run(cls, **changes: Any) -> BenchSettings:
        """Settings of ``lpm bench --quick``: everything runs, on less."""
        base: dict[str, Any] = {
            "quick": True,
            "size": 256,
            "long_minutes": 0.5,
            "identity_every_s": 3.0,
            "long_identity_every_s": 6.0,
            "all_frames_up_to_s": 2.0,
            "window_s": 2.0,
            "window_period_s": 15.0,
            "max_clips": 1,
            "speed_seconds": 6.0,
            "speed_sizes": (256,),
        }
        return cls(**{**base, **changes})


@dataclass
class CaseResult:
    """One case run by one generator: scalar metrics, nested details, series for the plots."""

    case: str
    suite: str
    generator: str
    portrait: str
    status: str = "ok"  # ok, refused (the portrait was turned down with a message), error
    message: str = ""
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    series: dict[str, np.ndarray] = field(default_factory=dict)  # not written to JSON

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "suite": self.suite,
            "generator": self.generator,
            "portrait": self.portrait,
            "status": self.status,
            "message": self.message,
            "seconds": round(self.seconds, 3),
            "metrics": {k: _finite(v) for k, v in self.metrics.items()},
            "details": self.details,
        }


def _finite(v: float) -> float | None:
    return round(float(v), 6) if v is not None and math.isfinite(float(v)) else None


def rss_mb() -> float:
    """Resident memory of this process in MB (NaN where /proc is not available)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return math.nan


class BenchContext:
    """What cases share within one run: voices, prepared characters, renderers, timelines."""

    def __init__(self, settings: BenchSettings, targets: TargetFunction | None = None) -> None:
        self.settings = settings
        self.targets = targets or phone_class_targets
        self.voices = VoiceCache()
        self.measurer = FrameMeasurer()
        self._assets: dict[tuple[str, int], CharacterAsset | ValueError] = {}
        self._renderers: dict[int, WarpRenderer] = {}
        self._rest: dict[int, tuple[float, float]] = {}
        self._timelines: dict[str, Timeline] = {}

    def character(self, portrait: str, size: int | None = None) -> CharacterAsset:
        """The prepared character for a portrait name; raises the preparation's ``ValueError``
        (one readable line) when the portrait is refused."""
        from models.render.prep import prepare_character, prepare_default_character

        key = (portrait, size or self.settings.size)
        if key not in self._assets:
            try:
                if portrait == "default":
                    self._assets[key] = prepare_default_character(size=key[1])
                else:
                    folder = self.settings.portraits_dir
                    if folder is None:
                        raise ValueError(f"{portrait}: no portraits folder (--portraits DIR)")
                    self._assets[key] = prepare_character(folder / portrait, size=key[1])
            except ValueError as exc:  # PortraitError, PrepError: the refusal is the result
                self._assets[key] = exc
        found = self._assets[key]
        if isinstance(found, ValueError):
            raise found
        return found

    def renderer(self, asset: CharacterAsset) -> WarpRenderer:
        if id(asset) not in self._renderers:
            self._renderers[id(asset)] = WarpRenderer(asset)
        return self._renderers[id(asset)]

    def rest_measures(self, asset: CharacterAsset) -> tuple[float, float]:
        """(mouth opening, identity distance) of the rendered rest pose (NaN without a face)."""
        if id(asset) not in self._rest:
            rgb = np.ascontiguousarray(self.renderer(asset).render(asset.rest_curves)[..., :3])
            points = self.measurer.landmarks(rgb)
            if points is None:
                self._rest[id(asset)] = (math.nan, math.nan)
            else:
                d = m.descriptor_distances(self.measurer.descriptor(rgb, points), asset.identity)
                self._rest[id(asset)] = (inner_mouth_opening(points), float(d[0]))
        return self._rest[id(asset)]

    def timeline(self, case: Case) -> Timeline:
        if case.name not in self._timelines:
            self._timelines[case.name] = build_timeline(
                case, self.settings.fps, self.voices, self.settings.long_minutes
            )
        return self._timelines[case.name]


# --- generation -----------------------------------------------------------------------------------


@dataclass
class Performance:
    """Curves of a whole timeline and what they cost."""

    curves: np.ndarray  # [T, 61] float32
    features_s: float  # seconds spent in the audio front-end (both streams)
    generator_s: float  # seconds spent in ``step``
    rss: list[tuple[float, float]] = field(default_factory=list)  # (media seconds, MB)


def perform(
    spec: GeneratorSpec,
    asset: CharacterAsset,
    timeline: Timeline,
    seed: int = 0,
    chunk_frames: int | None = None,
    rss_every_s: float | None = None,
) -> Performance:
    """Stream a timeline through a generator the way the engine does: log-mel features of both
    streams per chunk, then ``step``. ``rss_every_s`` samples this process's RSS.

    A generator that steps in whole model chunks (`model_chunk`) gets chunks of a multiple of
    them, a prompt change waits for the next chunk, the last chunk is padded with silence, and
    each chunk hears the timeline's speak audio ahead (as TTS audio is known ahead)."""
    generator = spec.factory()
    conditioning = CharacterConditioning(rest_curves=asset.rest_curves, identity=asset.identity)
    state = generator.init_state(conditioning, seed=seed)
    fe = LogMelFrontEnd(fps=timeline.fps)
    fe_state = (fe.init_state(), fe.init_state())
    multiple = model_chunk(spec, generator)
    chunk = _round_up(chunk_frames or spec.chunk_frames, multiple)
    total = timeline.num_frames
    out = np.empty((total, NUM_CURVES), np.float32)
    t_features = t_generator = 0.0
    rss: list[tuple[float, float]] = []
    next_rss = 0.0
    start = 0
    while start < total:
        stop = min(start + chunk, total)
        if multiple == 1:
            for f in range(start + 1, stop):  # a prompt change lands on its own frame
                if timeline.prompts[f] != timeline.prompts[start]:
                    stop = f
                    break
        n = _round_up(stop - start, multiple)
        speak, listen, ahead = _chunk_audio(timeline, start, n, _lookahead(generator))
        t0 = time.perf_counter()
        speak_f, s_state = fe.process(fe_state[0], speak)
        listen_f, l_state = fe.process(fe_state[1], listen)
        fe_state = (s_state, l_state)
        t1 = time.perf_counter()
        inputs = ChunkInputs(
            n,
            speak,
            listen,
            timeline.prompts[start],
            timeline.fps,
            features={"speak": speak_f, "listen": listen_f},
            speak_ahead=ahead,
        )
        curves, state = generator.step(state, inputs)
        t2 = time.perf_counter()
        t_features += t1 - t0
        t_generator += t2 - t1
        out[start:stop] = curves[: stop - start]
        if rss_every_s is not None and start / timeline.fps >= next_rss:
            rss.append((start / timeline.fps, rss_mb()))
            next_rss += rss_every_s
        start = stop
    return Performance(out, t_features, t_generator, rss)


def model_chunk(spec: GeneratorSpec, generator: Any) -> int:
    """Frames every ``step`` of this generator must be a multiple of (1: any number)."""
    return max(1, int(getattr(generator, "chunk_frames", spec.frame_multiple)))


def _lookahead(generator: Any) -> int:
    return int(getattr(generator, "lookahead_frames", 0))


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _chunk_audio(
    timeline: Timeline, start: int, n: int, ahead: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Speak and listen audio of frames ``[start, start+n)`` (silence past the timeline's end)
    and the speak audio of the ``ahead`` frames after them (None when there are none)."""
    spf = samples_per_frame(timeline.fps)
    a, b = start * spf, (start + n) * spf

    def cut(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
        if hi <= x.size:
            return x[lo:hi]
        out = np.zeros(hi - lo, np.float32)
        out[: max(0, x.size - lo)] = x[lo:]
        return out

    speak_ahead = cut(timeline.speak, b, b + ahead * spf) if ahead else None
    return cut(timeline.speak, a, b), cut(timeline.listen, a, b), speak_ahead


# --- one case -------------------------------------------------------------------------------------


def _speech_mask(timeline: Timeline, margin_s: float) -> np.ndarray:
    """Frames within ``margin_s`` of the character's own lines."""
    mask = np.zeros(timeline.num_frames, bool)
    for line in timeline.speak_lines:
        a = max(0, math.floor((line.start_s - margin_s) * timeline.fps))
        b = min(timeline.num_frames, math.ceil((line.end_s + margin_s) * timeline.fps))
        mask[a:b] = True
    return mask


def _prompted(timeline: Timeline, release_s: float) -> np.ndarray:
    """Frames with a prompt in force, or within ``release_s`` after one ended."""
    out = np.array([p is not None for p in timeline.prompts])
    for span in timeline.prompt_spans:
        out[span.stop : span.stop + round(release_s * timeline.fps)] = True
    return out


def _listen_events(
    timeline: Timeline, listen_env: np.ndarray, window_s: float, pause_s: float = 0.2
) -> tuple[list[int], list[int]]:
    """The partner's phrase ends, and control frames, for listening responsiveness.

    Phrase ends: the end of each of the partner's lines (frames), unless the character itself
    speaks within ``window_s`` after it. Controls: frames inside the partner's speech, one per
    ``window_s``, where no pause of ``pause_s`` or more, no line end and none of the
    character's own speech falls between 0.6 s before and ``window_s`` after: nothing there
    invites a backchannel, so answering there is chance (or a performer that nods at random).
    """
    fps = timeline.fps
    ends, controls = [], []
    for line in timeline.listen_lines:
        end = line.end_s
        busy = any(s.start_s < end + window_s and s.end_s > end for s in timeline.speak_lines)
        frame = round(end * fps)
        if not busy and frame < timeline.num_frames - 1:
            ends.append(frame)
    pauses = m.silence_runs(listen_env, m.silence_threshold(listen_env), round(pause_s * fps))
    speaking = np.zeros(timeline.num_frames, bool)
    for s in timeline.speak_lines:
        speaking[round(s.start_s * fps) : round(s.end_s * fps) + 1] = True
    before, after = round(0.6 * fps), round(window_s * fps)
    for line in timeline.listen_lines:
        f = round(line.start_s * fps) + before
        last = round(line.end_s * fps) - after
        while f < last:
            window = slice(f - before, f + after + 1)
            if not pauses[window].any() and not speaking[window].any():
                controls.append(f)
                f += after
            else:
                f += 1
    return ends, controls


def motion_metrics(
    result: CaseResult, curves: np.ndarray, rest: np.ndarray, timeline: Timeline, ctx: BenchContext
) -> None:
    """Curve-level scores: dynamics, motion-level lip sync, silence, listening."""
    s = ctx.settings
    fps = timeline.fps
    mins = timeline.num_frames / fps / 60.0
    std = m.curve_std(curves)
    blink = m.blink_signal(curves)
    blinks = m.count_blinks(blink)
    head = m.head_range_deg(curves)
    result.metrics.update(
        motion_std_mean=float(std[:NUM_BLENDSHAPES].mean()),
        blinks=float(blinks),
        minutes=mins,
        blink_rate_per_min=blinks / mins if mins > 0 else math.nan,
        head_range_yaw_deg=head["headYaw"],
        head_range_pitch_deg=head["headPitch"],
        head_range_roll_deg=head["headRoll"],
        frozen_share=m.frozen_share(curves, fps),
    )
    result.details["curve_std"] = {
        name: round(float(v), 5) for name, v in zip(CURVE_INDEX, std, strict=True)
    }
    result.series["curves"] = curves
    result.details["rest_jawOpen"] = round(float(rest[CURVE_INDEX["jawOpen"]]), 4)
    result.series["blink"] = blink

    speech = _speech_mask(timeline, s.speech_margin_s)
    env = loudness_envelope(timeline.speak, SAMPLE_RATE, fps)[: timeline.num_frames]
    result.series["speak_envelope"] = env
    result.series["listen_envelope"] = loudness_envelope(timeline.listen, SAMPLE_RATE, fps)[
        : timeline.num_frames
    ]
    result.series["speech_mask"] = speech
    lines = timeline.timed_lines()
    if lines:
        targets = ctx.targets(lines, timeline.num_frames, fps)
        result.series.update({f"target_{k}": v for k, v in targets.items()})
        per_curve: dict[str, dict[str, Any]] = {}
        for name, target in targets.items():
            x = np.where(speech, curves[:, CURVE_INDEX[name]], np.nan)
            off = m.av_offset(x, np.where(speech, target, np.nan), s.max_lag)
            per_curve[name] = {
                "r": _finite(off.r_at_zero),
                "r_best": _finite(off.r_at_lag),
                "lag_frames": off.lag_frames,
            }
        jaw = per_curve["jawOpen"]
        result.metrics.update(
            lipsync_motion_r=jaw["r"] if jaw["r"] is not None else math.nan,
            lipsync_motion_r_best=jaw["r_best"] if jaw["r_best"] is not None else math.nan,
            av_offset_motion_frames=float(jaw["lag_frames"] or 0),
            closure_motion_r=_nan(per_curve.get("mouthClose", {}).get("r")),
            rounding_motion_r=_nan(per_curve.get("mouthFunnel", {}).get("r")),
        )
        result.details["lipsync_motion"] = per_curve

    quiet = m.silence_runs(env, m.silence_threshold(env), round(s.silence_min_s * fps))
    quiet &= ~_prompted(timeline, s.prompt_release_s)
    result.series["silent"] = quiet
    jaw_rest = float(rest[CURVE_INDEX["jawOpen"]])
    result.metrics["silence_frames"] = float(quiet.sum())
    if quiet.any():
        jaw_curve = curves[:, CURVE_INDEX["jawOpen"]]
        closed = m.closed_share(jaw_curve, jaw_rest, quiet, s.closed_tol_jaw)
        result.metrics["silence_closed_motion"] = closed

    listen_env = result.series["listen_envelope"]
    ends, controls = _listen_events(timeline, listen_env, m.BackchannelRule().window_s)
    if ends:
        hits = [m.backchannel_after(curves, f, fps) for f in ends]
        result.metrics.update(
            phrase_ends=float(len(ends)),
            backchannels=float(sum(hits)),
            responsiveness=float(np.mean(hits)),
        )
        result.details["phrase_end_frames"] = ends
    if controls:
        control_hits = [m.backchannel_after(curves, f, fps) for f in controls]
        result.metrics["responsiveness_control"] = float(np.mean(control_hits))
        result.metrics["control_points"] = float(len(controls))
        result.metrics["control_hits"] = float(sum(control_hits))
        result.details["control_frames"] = controls


def _nan(v: float | None) -> float:
    return math.nan if v is None else float(v)


def control_metrics(
    result: CaseResult, spec: GeneratorSpec, asset: CharacterAsset, timeline: Timeline, case: Case
) -> None:
    """Text controllability: the case's prompts against the same run without prompts."""
    with_exp = [span for span in timeline.prompt_spans if span.prompt.expectations]
    if not with_exp:
        return
    base = perform(spec, asset, timeline.without_prompts(), seed=case.seed).curves
    curves = result.series["curves"]
    passed: list[dict[str, Any]] = []
    for span in with_exp:
        verdict = m.prompt_verdict(curves, base, span.expectations())
        passed.append(
            {
                "prompt": span.prompt.text,
                "at_s": round(span.start / timeline.fps, 2),
                "passed": verdict,
            }
        )
    judged = [p["passed"] for p in passed if p["passed"] is not None]
    result.metrics.update(
        prompts=float(len(judged)),
        prompts_passed=float(sum(judged)),
        prompts_saturated=float(len(passed) - len(judged)),
        controllability=float(np.mean(judged)) if judged else math.nan,
    )
    result.details["prompts"] = passed
    result.series["curves_no_prompt"] = base


def pixel_metrics(
    result: CaseResult,
    asset: CharacterAsset,
    timeline: Timeline,
    ctx: BenchContext,
    long_case: bool,
    progress: Callable[[], None] | None = None,
) -> PixelTrack:
    """Render the curves, measure with dlib: pixel lip sync, silence, identity, jitter."""
    s = ctx.settings
    fps = timeline.fps
    curves = result.series["curves"]
    n = timeline.num_frames
    renderer = ctx.renderer(asset)
    if timeline.seconds <= s.all_frames_up_to_s:
        frames = list(range(n))
    else:
        frames = window_frames(n, fps, s.window_s, s.window_period_s)
    every = round((s.long_identity_every_s if long_case else s.identity_every_s) * fps)
    identity = set(sample_frames(n, every))
    frames = sorted(identity.union(frames))  # identity samples are rendered even between windows
    track = ctx.measurer.measure(
        n, lambda i: renderer.render(curves[i])[..., :3], frames, identity, progress
    )
    rest_opening, rest_identity = ctx.rest_measures(asset)
    result.metrics.update(
        face_found=track.face_found,
        identity_rest_frame=rest_identity,
        rendered_frames=float(track.rendered.sum()),
    )
    result.series["opening"] = track.opening

    env = result.series["speak_envelope"]
    speech = result.series["speech_mask"]
    if timeline.speak_lines:
        off = m.av_offset(
            np.where(speech, track.opening, np.nan), np.where(speech, env, np.nan), s.max_lag
        )
        result.metrics.update(
            lipsync_pixel_r=off.r_at_lag,
            lipsync_pixel_r0=off.r_at_zero,
            av_offset_pixel_frames=float(off.lag_frames),
        )
    quiet = result.series["silent"]
    measured = quiet & np.isfinite(track.opening)
    if measured.any():
        closed = m.closed_share(track.opening, rest_opening, quiet, s.closed_tol_iod)
        result.metrics.update(
            silence_closed_pixel=closed,
            silence_measured_frames=float(measured.sum()),
            silence_closed_frames=float(round(closed * measured.sum())),
        )

    has_desc = np.isfinite(track.descriptors).all(axis=1)
    if has_desc.any():
        idx = np.flatnonzero(has_desc)
        dist = m.descriptor_distances(track.descriptors[idx], asset.identity)
        times = idx / fps
        rest_mask = m.near_rest(curves[idx], asset.rest_curves)
        result.metrics.update(
            identity_all=float(dist.mean()),
            identity_p95=float(np.percentile(dist, 95)),
            identity_max=float(dist.max()),
            identity_slope_per_min=m.slope_per_minute(times, dist),
            identity_frames=float(len(idx)),
            identity_near_rest_frames=float(rest_mask.sum()),
        )
        if rest_mask.any():
            result.metrics["identity_near_rest"] = float(dist[rest_mask].mean())
            if rest_mask.sum() >= 2:
                result.metrics["identity_near_rest_slope_per_min"] = m.slope_per_minute(
                    times[rest_mask], dist[rest_mask]
                )
        result.series["identity_t"] = times
        result.series["identity_d"] = dist
        result.series["identity_near_rest"] = rest_mask
    result.metrics["jitter_iod_per_frame2"] = m.landmark_jitter(track.landmarks, track.iod)
    return track


def run_case(
    ctx: BenchContext,
    case: Case,
    spec: GeneratorSpec,
    portrait: str | None = None,
    progress: Callable[[], None] | None = None,
) -> CaseResult:
    """One case, one generator. A refused portrait is a result, not an exception."""
    name = case.name if portrait is None else f"{case.name}/{Path(portrait).stem}"
    who = portrait or case.portrait
    result = CaseResult(name, case.suite, spec.name, who)
    try:
        asset = ctx.character(who)
    except ValueError as exc:
        result.status, result.message = "refused", str(exc)
        log.info("%s: refused: %s", name, exc)
        return result
    timeline = ctx.timeline(case)
    result.seconds = timeline.seconds
    long_case = case.suite == "long"
    perf = perform(spec, asset, timeline, seed=case.seed, rss_every_s=10.0 if long_case else None)
    media_s = timeline.seconds
    result.metrics.update(
        features_ms_per_frame=1000.0 * perf.features_s / timeline.num_frames,
        generator_ms_per_frame=1000.0 * perf.generator_s / timeline.num_frames,
        generator_rtf=(perf.features_s + perf.generator_s) / media_s,
    )
    if perf.rss:
        result.series["rss_t"] = np.array([t for t, _ in perf.rss])
        result.series["rss_mb"] = np.array([mb for _, mb in perf.rss])
        warm = [mb for t, mb in perf.rss if t >= min(60.0, 0.1 * media_s)] or [perf.rss[-1][1]]
        result.metrics.update(rss_start_mb=warm[0], rss_end_mb=perf.rss[-1][1])
    motion_metrics(result, perf.curves, asset.rest_curves, timeline, ctx)
    control_metrics(result, spec, asset, timeline, case)
    pixel_metrics(result, asset, timeline, ctx, long_case, progress)
    return result


# --- speed ----------------------------------------------------------------------------------------


def encode_jpeg(rgba: np.ndarray, quality: int) -> int:
    """Encode a frame as the wire's JPEG mode does (RGB and alpha planes); returns bytes."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    ok1, rgb = cv2.imencode(".jpg", cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2BGR), params)
    ok2, alpha = cv2.imencode(".jpg", np.ascontiguousarray(rgba[..., 3]), params)
    if not (ok1 and ok2):
        raise RuntimeError("JPEG encoding failed")
    return int(rgb.size + alpha.size)


def _clock() -> np.ndarray:
    """(wall, this thread's CPU) seconds now."""
    return np.array([time.perf_counter(), time.thread_time()])


def speed_suite(
    ctx: BenchContext, spec: GeneratorSpec, timeline: Timeline, size: int
) -> dict[str, float]:
    """Per-stage time per frame, one thread, one session, chunks of ``speed_chunk_frames``
    (rounded up to a learned model's chunk, reported as ``chunk_frames``): features (log-mel of
    both streams), generator, renderer, encode (JPEG); real-time factor and sessions one core
    holds at the timeline's fps.

    Stages are timed in this thread's CPU time, which other processes on a shared machine do
    not inflate; the wall-clock total is reported beside it.
    """
    s = ctx.settings
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        asset = ctx.character("default", size)
        renderer = WarpRenderer(asset)
        generator = spec.factory()
        conditioning = CharacterConditioning(asset.rest_curves, asset.identity)
        state = generator.init_state(conditioning, seed=0)
        fe = LogMelFrontEnd(fps=timeline.fps)
        fe_state = (fe.init_state(), fe.init_state())
        spf = samples_per_frame(timeline.fps)
        chunk = _round_up(s.speed_chunk_frames, model_chunk(spec, generator))
        ahead = _lookahead(generator)
        n = min(timeline.num_frames, int(s.speed_seconds * timeline.fps))
        warm = min(25, n // 4)
        rows = []  # per chunk: [wall, cpu] × [features, generator, renderer, encode], seconds
        for start in range(0, n - chunk + 1, chunk):
            a, b = start * spf, (start + chunk) * spf
            speak_ahead = _chunk_audio(timeline, start, chunk, ahead)[2]
            t0 = _clock()
            sf, s0 = fe.process(fe_state[0], timeline.speak[a:b])
            lf, s1 = fe.process(fe_state[1], timeline.listen[a:b])
            fe_state = (s0, s1)
            t1 = _clock()
            inputs = ChunkInputs(
                chunk,
                timeline.speak[a:b],
                timeline.listen[a:b],
                timeline.prompts[start],
                timeline.fps,
                features={"speak": sf, "listen": lf},
                speak_ahead=speak_ahead,
            )
            curves, state = generator.step(state, inputs)
            t2 = _clock()
            frames = [renderer.render(c) for c in curves]
            t3 = _clock()
            for f in frames:
                encode_jpeg(f, s.jpeg_quality)
            t4 = _clock()
            if start >= warm:
                rows.append(np.stack([t1 - t0, t2 - t1, t3 - t2, t4 - t3], axis=1) / chunk)
    finally:
        cv2.setNumThreads(threads)
    ms = np.array(rows) * 1000.0 if rows else np.zeros((1, 2, 4))  # [chunks, wall|cpu, stage]
    cpu = ms[:, 1].mean(axis=0)
    cpu_total = ms[:, 1].sum(axis=1)
    wall_total = ms[:, 0].sum(axis=1)
    frame_ms = 1000.0 / timeline.fps
    return {
        "features_ms": float(cpu[0]),
        "generator_ms": float(cpu[1]),
        "renderer_ms": float(cpu[2]),
        "encode_ms": float(cpu[3]),
        "total_ms": float(cpu_total.mean()),
        "total_p99_ms": float(np.percentile(cpu_total, 99)),
        "wall_ms": float(wall_total.mean()),
        "wall_p99_ms": float(np.percentile(wall_total, 99)),
        "rtf": float(cpu_total.mean() / frame_ms),
        "sessions_per_core": float(frame_ms / cpu_total.mean()),
        "frames": float(len(ms)),
        "chunk_frames": float(chunk),
    }


def serve_suite(seconds: float, size: int = 256) -> dict[str, Any]:
    """A real ``lpm serve`` process (its default generator) and one real-time client process
    (``lpm bench serve``): audio→frame latency p50/p99, the server's CPU and RSS over time."""
    import tempfile

    from runtime.bench_serve import bench_serve
    from runtime.config import DEFAULT_GENERATOR

    with tempfile.TemporaryDirectory(prefix="lpm-bench-chars-") as tmp:
        run = bench_serve(
            1, seconds, size=size, character_dir=Path(tmp), generator=DEFAULT_GENERATOR
        )
    row = run.row()
    receipts = [ms for r in run.results if not r.error for ms in r.receipt_ms]
    cpu = float(row["cpu_percent"])
    return {
        "generator": DEFAULT_GENERATOR,
        "row": {k: (_finite(v) if isinstance(v, float) else v) for k, v in row.items()},
        "receipt_ms": [round(float(v), 3) for v in receipts],
        "rss_mb": [[round(t, 2), round(mb, 2)] for t, mb in run.rss_mb],
        "sessions_per_core": 100.0 / cpu if cpu > 0 else None,
    }
