"""The demo end to end on a short conversation: real speech, real performer, real renderer,
real MP4 — then measured with dlib on the decoded frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.audio_io import load_audio
from models.motion import read_live_link_csv
from models.render.prep import prepare_default_character
from runtime.bench import best_lag_correlation, measure_lipsync, silence_runs
from runtime.demo import build_script, run_demo
from runtime.media import probe


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("demo") / "short.mp4"
    asset = prepare_default_character(size=256)
    asset.save(out.with_suffix(".lpmchar"))
    script = build_script(
        npc_text="Yes, the harbour is just down that road, past the old mill.",
        player_text="Where is the harbour?",
        prompt="smiles",
    )
    return run_demo(asset, script, out, size=256)


def test_demo_writes_video_audio_csv_and_sheet(demo_files: dict[str, Path]) -> None:
    info = probe(demo_files["video"])
    assert info["video_fps"] == pytest.approx(25.0)
    assert abs(info["video_duration"] - info["audio_duration"]) <= 1 / 25.0 + 1e-6
    samples, rate = load_audio(demo_files["npc_wav"])
    assert abs(len(samples) / rate - info["video_duration"]) <= 1 / 25.0 + 1e-6
    clip = read_live_link_csv(demo_files["csv"], fps=25.0)
    assert abs(clip.num_frames - info["video_frames"]) <= 1
    assert demo_files["sheet"].stat().st_size > 10_000


def test_demo_lip_sync_measured_on_pixels(demo_files: dict[str, Path]) -> None:
    report = measure_lipsync(demo_files["video"], demo_files["npc_wav"])
    detected = float(report["face detected"].split("%")[0])
    assert detected >= 95.0, report
    r = float(report["mouth vs loudness r"].split()[0])
    lag = int(report["mouth vs loudness r"].split("lag")[1].split()[0])
    assert r >= 0.5 and lag in (0, 1), report
    closed = float(report["closed in silences >300ms"].split("%")[0])
    assert closed >= 80.0, report


def test_measurement_helpers_recover_known_answers() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    x = np.roll(y, 2)  # x follows y by two frames
    x[:2] = 0
    r, lag = best_lag_correlation(x, y)
    assert lag == 2 and r > 0.99
    env = np.ones(40)
    env[10:20] = 0.0  # 10 quiet frames: a silence of 400 ms at 25 fps
    env[30:33] = 0.0  # 3 quiet frames: too short
    runs = silence_runs(env, 0.5, min_frames=8)
    assert runs[10:20].all() and not runs[30:33].any() and runs.sum() == 10
