"""Benchmarks that print numbers: renderer and performer speed, and lip sync measured on pixels.

Lip sync is measured by a model independent of the generator: dlib's 68-point landmarks on the
rendered frames give the mouth opening (inner-lip distance over inter-ocular distance), which is
compared with the loudness envelope of the NPC's own voice.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.audio_io import load_audio, loudness_envelope, to_model_rate
from models.generator import SAMPLE_RATE, CharacterConditioning, ChunkInputs, samples_per_frame
from models.motion import CURVE_MAX, CURVE_MIN, NUM_BLENDSHAPES, NUM_CURVES
from models.render.asset import CharacterAsset
from models.render.warp import WarpRenderer
from runtime.benchmark.metrics import best_lag_correlation, silence_runs

log = logging.getLogger(__name__)

# Shared with the full benchmark (``lpm bench``), whose metrics module defines them.
__all__ = [
    "bench_online",
    "bench_performer",
    "bench_renderer",
    "best_lag_correlation",
    "changing_curves",
    "measure_lipsync",
    "mouth_openings",
    "silence_runs",
]


def _percentiles(ms: np.ndarray) -> str:
    return (
        f"median {np.median(ms):6.2f} ms  p90 {np.percentile(ms, 90):6.2f} ms  "
        f"p99 {np.percentile(ms, 99):6.2f} ms  ({1000.0 / np.median(ms):6.0f} fps)"
    )


def changing_curves(rest: np.ndarray, frames: int, seed: int = 0) -> np.ndarray:
    """``[frames, 61]`` curves where every curve moves every frame: smooth random walks around
    rest, blendshapes within 0..0.7, head ±10°, eyes ±12°."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / 25.0
    freq = rng.uniform(0.3, 3.0, (1, NUM_CURVES))
    phase = rng.uniform(0, 2 * np.pi, (1, NUM_CURVES))
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * freq * t + phase)
    amp = np.full(NUM_CURVES, 0.7, np.float32)
    amp[NUM_BLENDSHAPES : NUM_BLENDSHAPES + 3] = np.radians(20.0)
    amp[NUM_BLENDSHAPES + 3 :] = np.radians(24.0)
    curves = wave * amp
    curves[:, NUM_BLENDSHAPES:] -= amp[NUM_BLENDSHAPES:] / 2
    curves[:, :NUM_BLENDSHAPES] = np.maximum(curves[:, :NUM_BLENDSHAPES], rest[:NUM_BLENDSHAPES])
    return np.clip(curves, CURVE_MIN, CURVE_MAX).astype(np.float32)


def bench_renderer(portrait: Path | None, frames: int, sizes: list[int]) -> list[str]:
    """Time ``render`` per frame at each asset size (preparation excluded), one thread."""
    from models.render.prep import load_character

    cv2.setNumThreads(1)
    rows = []
    for size in sizes:
        t0 = time.perf_counter()
        asset = load_character(portrait, size=size)
        prep_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        renderer = WarpRenderer(asset)
        init_s = time.perf_counter() - t0
        curves = changing_curves(asset.rest_curves, frames + 20)
        for c in curves[:20]:  # warm caches
            renderer.render(c)
        ms = np.empty(frames)
        for i, c in enumerate(curves[20:]):
            t0 = time.perf_counter()
            renderer.render(c)
            ms[i] = (time.perf_counter() - t0) * 1000.0
        rows.append(
            f"render {size}x{size}: {_percentiles(ms)}  [prep {prep_s:.2f} s, "
            f"renderer init {init_s * 1000:.0f} ms, {frames} frames, all curves changing]"
        )
    return rows


def bench_performer(seconds: float) -> str:
    """Procedural performer: ms of compute per second of (speech + listen) audio."""
    from models.performer import ProceduralPerformer
    from models.tts import synthesize

    speech = synthesize(
        "Follow the coast road north, past the harbour, and watch the tide.", sample_rate=16000
    ).samples
    n_frames = int(seconds * 25)
    spf = samples_per_frame(25.0)
    speak = np.resize(np.concatenate([speech, np.zeros(8000, np.float32)]), n_frames * spf)
    listen = np.roll(speak, len(speak) // 2)
    performer = ProceduralPerformer()
    state = performer.init_state(CharacterConditioning(), seed=0)
    chunk = 4
    t0 = time.perf_counter()
    for start in range(0, n_frames, chunk):
        a, b = start * spf, (start + chunk) * spf
        _, state = performer.step(
            state, ChunkInputs(chunk, speak[a:b].astype(np.float32), listen[a:b].astype(np.float32))
        )
    elapsed = time.perf_counter() - t0
    return (
        f"performer: {1000.0 * elapsed / seconds:.2f} ms per second of audio "
        f"({seconds:.0f} s of speak + listen audio in {chunk}-frame chunks, "
        f"{seconds / elapsed:.0f}x real time)"
    )


def _online_generators(
    checkpoint: Path | None, preset: str | None, backends: list[str], tmp: Path
) -> dict[str, Any]:
    """One Online generator per backend: a checkpoint's, or an untrained ``preset`` model's."""
    from models.online_export import export_onnx
    from models.online_generator import OnlineGenerator, load_online_generator
    from models.online_lpm import PRESETS, OnlineLPM

    if preset is None:
        return {
            b: load_online_generator(checkpoint, backend=b, threads=1, cache_dir=tmp)
            for b in backends
        }
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (available: {', '.join(PRESETS)})")
    model = OnlineLPM(PRESETS[preset]()).eval()
    out: dict[str, Any] = {}
    for b in backends:
        if b == "torch":
            out[b] = OnlineGenerator.from_model(model)
        else:
            export_onnx(model, tmp / "onnx")
            out[b] = OnlineGenerator.from_onnx(tmp / "onnx", threads=1)
    return out


def bench_online(
    checkpoint: Path | None = None,
    preset: str | None = None,
    backends: tuple[str, ...] = ("onnx", "torch"),
    chunks: int = 200,
    sessions: int = 16,
    batched_steps: int = 25,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Online LPM speed per backend, one thread: model latency per chunk at batch 1
    (median/p90/p99 ms, wall clock, and median CPU ms), the whole ``step`` of one session
    (features, text, noise and model) as a multiple of real time, and ``step_many`` over
    ``sessions`` sessions at once (chunks per second, sessions held in real time).

    ``preset`` benches an untrained model of that size (speed does not depend on training);
    otherwise ``checkpoint`` (default: the shipped one). Audio is random noise, no prompt."""
    import tempfile

    import torch

    unknown = sorted(set(backends) - {"onnx", "torch"})
    if unknown or not backends:
        raise ValueError(f"unknown backend {', '.join(unknown) or backends!r}: use onnx, torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="lpm-bench-online-") as tmp:
            generators = _online_generators(checkpoint, preset, list(backends), Path(tmp))
            for name, gen in generators.items():
                rows.append(_bench_one_online(name, gen, chunks, sessions, batched_steps, seed))
    finally:
        torch.set_num_threads(threads)
    return rows


def _bench_one_online(
    name: str, gen: Any, chunks: int, sessions: int, batched_steps: int, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    c, la, spf = gen.chunk_frames, gen.lookahead_frames, gen.spf
    chunk_s = c / gen.fps
    warm = 10

    def inputs() -> ChunkInputs:
        speak, listen, ahead = (
            (0.1 * rng.standard_normal(k * spf)).astype(np.float32) for k in (c, c, la)
        )
        return ChunkInputs(c, speak, listen, None, gen.fps, speak_ahead=ahead if la else None)

    # Model latency: the backend's step alone, a stream past its window fill.
    state = gen.init_state(CharacterConditioning(), seed=seed)
    wall, cpu = [], []
    for k in range(warm + chunks):
        prepared = gen.prepare(state, inputs())
        feed = gen.model_inputs([prepared], 0)
        t0, c0 = time.perf_counter(), time.thread_time()
        _, model = gen.backend.run(state.model, feed)
        t1, c1 = time.perf_counter(), time.thread_time()
        state = dataclasses.replace(
            state, model=model, speak_fe=prepared.speak_fe, listen_fe=prepared.listen_fe,
            rng=prepared.rng,
        )  # fmt: skip
        if k >= warm:
            wall.append(t1 - t0)
            cpu.append(c1 - c0)
    lat = np.array(wall) * 1000.0

    # One session, the whole step (features, text, noise, model), as a multiple of real time.
    state = gen.init_state(CharacterConditioning(), seed=seed)
    spent = 0.0
    for k in range(warm + chunks):
        chunk = inputs()
        t0 = time.perf_counter()
        _, state = gen.step(state, chunk)
        if k >= warm:
            spent += time.perf_counter() - t0
    realtime_x = chunks * chunk_s / spent

    # Many sessions in one model call per chunk.
    states = [gen.init_state(CharacterConditioning(), seed=seed + i) for i in range(sessions)]
    spent = 0.0
    for k in range(3 + batched_steps):
        batch = [inputs() for _ in range(sessions)]
        t0 = time.perf_counter()
        results = gen.step_many(states, batch)
        if k >= 3:
            spent += time.perf_counter() - t0
        states = [st for _, st in results]
    chunks_per_s = sessions * batched_steps / spent
    return {
        "backend": name,
        "chunk_frames": c,
        "latency_median_ms": float(np.median(lat)),
        "latency_p90_ms": float(np.percentile(lat, 90)),
        "latency_p99_ms": float(np.percentile(lat, 99)),
        "latency_cpu_median_ms": float(np.median(cpu) * 1000.0),
        "session_realtime_x": float(realtime_x),
        "batch_sessions": sessions,
        "batch_chunks_per_s": float(chunks_per_s),
        "batch_realtime_sessions": float(chunks_per_s * chunk_s),
    }


def mouth_openings(frames: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """dlib mouth opening per RGB frame (NaN where no face) and the share of frames with a face."""
    from models.face import FaceModels, detect_faces, inner_mouth_opening, landmarks68

    models = FaceModels.default()
    out = np.full(len(frames), np.nan)
    for i, frame in enumerate(frames):
        faces = detect_faces(frame, upsample=0, models=models)
        if not faces:
            faces = detect_faces(frame, upsample=1, models=models)
        if faces:
            lm = landmarks68(frame, faces[0].box, models=models)
            out[i] = inner_mouth_opening(lm)
    return out, float(np.isfinite(out).mean()) if len(out) else 0.0


def measure_lipsync(video: Path, npc_wav: Path, fps: float = 25.0) -> dict[str, str]:
    """Lip sync of a rendered video against the NPC's voice, measured on pixels with dlib."""
    from runtime.media import probe, read_mp4_frames

    frames = list(read_mp4_frames(video))
    samples, rate = load_audio(npc_wav)
    voice = to_model_rate(samples, rate)
    env = loudness_envelope(voice, SAMPLE_RATE, fps)
    n = min(len(frames), len(env))
    frames, env = frames[:n], env[:n]
    opening, detected = mouth_openings(frames)
    r, lag = best_lag_correlation(opening, env)
    peak = float(np.percentile(env, 95))
    speaking = env > 0.1 * peak
    silent = silence_runs(env, 0.01 * peak, min_frames=round(0.3 * fps))
    asset_path = Path(str(video.with_suffix("")) + ".lpmchar")
    if asset_path.exists():
        rest_img = CharacterAsset.load(asset_path).image
        rest_open, _ = mouth_openings([rest_img])
        rest = float(rest_open[0])
        rest_from = f"portrait ({asset_path.name})"
    else:
        rest = float(np.nanmedian(opening[:5]))
        rest_from = "first frames"
    speak_median = float(np.nanmedian(opening[speaking])) if speaking.any() else float("nan")
    tol = 0.15 * abs(speak_median - rest)
    in_sil = opening[silent]
    closed = np.abs(in_sil[np.isfinite(in_sil)] - rest) <= tol
    info = probe(video)
    return {
        "frames": str(n),
        "video": f"{info.get('video_fps')} fps, {info.get('video_duration'):.3f} s, "
        f"audio {info.get('audio_duration'):.3f} s",
        "face detected": f"{100 * detected:.1f}% of frames",
        "mouth vs loudness r": f"{r:.3f} at lag {lag:+d} frames (mouth after voice if +)",
        "rest opening": f"{rest:.4f} ({rest_from})",
        "speaking median opening": f"{speak_median:.4f}",
        "closed in silences >300ms": f"{100 * closed.mean() if closed.size else float('nan'):.1f}% "
        f"of {int(silent.sum())} frames (within {tol:.4f} of rest)",
    }
