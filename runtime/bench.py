"""Benchmarks that print numbers: renderer and performer speed, and lip sync measured on pixels.

Lip sync is measured by a model independent of the generator: dlib's 68-point landmarks on the
rendered frames give the mouth opening (inner-lip distance over inter-ocular distance), which is
compared with the loudness envelope of the NPC's own voice.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

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
