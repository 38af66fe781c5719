"""The Online LPM in the runtime: settings, pacing in model chunks with the speak look-ahead, the
engine batching due sessions into one model call, and ``lpm serve --generator online`` as a
real subprocess streaming a WAV to a real client on loopback."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bridge.client import InprocClient
from models.audio_io import load_audio, save_wav
from models.generator import CharacterConditioning, ChunkInputs
from models.online_generator import OnlineGenerator, OnlineGenState
from models.online_lpm import OnlineLPM, online_tiny, save_online
from runtime.config import DEFAULT_GENERATOR, ServerConfig
from runtime.engine import Engine
from runtime.remote import connect, record_take
from tests.models.test_online_lpm import _randomised
from tests.runtime.conftest import TEST_SIZE
from tests.runtime.test_engine import drain
from tests.runtime.test_serve import start_server, stop_server

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained (randomised) Online LPM saved as a checkpoint."""
    torch.manual_seed(0)
    model = OnlineLPM(online_tiny())
    _randomised(model)
    return save_online(model, tmp_path_factory.mktemp("online") / "online_tiny", {})


def test_settings_choose_the_generator_and_its_backend(tmp_path: Path) -> None:
    assert DEFAULT_GENERATOR in ("procedural", "online")
    cfg = ServerConfig(generator="online", online_checkpoint=Path("~/x.safetensors"))
    assert cfg.online_checkpoint == Path.home() / "x.safetensors"
    assert cfg.online_backend == "onnx"
    toml = tmp_path / "lpm.toml"
    toml.write_text('generator = "online"\nonline_backend = "torch"\n')
    assert ServerConfig.load(toml).online_backend == "torch"
    with pytest.raises(ValueError, match="available: procedural, online"):
        ServerConfig(generator="neural")
    with pytest.raises(ValueError, match="onnx, torch"):
        ServerConfig(online_backend="tflite")
    # A generator stepping in chunks of 4 rounds the session's chunk up and hears 2 ahead.
    assert ServerConfig().pacing(4, 2).chunk_frames == 4
    assert ServerConfig(chunk_frames=6).pacing(4, 2).chunk_frames == 8
    assert ServerConfig().pacing(4, 2).lookahead_frames == 2
    assert ServerConfig().pacing() == ServerConfig().pacing(1, 0)  # procedural: as before


class Recording(OnlineGenerator):
    """The real generator, remembering how the engine called it."""

    calls: list[list[ChunkInputs]]

    def step_many(
        self, states: Sequence[OnlineGenState], chunks: Sequence[ChunkInputs]
    ) -> list[tuple[np.ndarray, OnlineGenState]]:
        self.calls.append(list(chunks))
        return super().step_many(states, chunks)


def test_the_engine_batches_due_sessions_and_passes_the_look_ahead(
    character_dir: Path, checkpoint: Path
) -> None:
    from models.online_lpm import load_online

    gen = Recording.from_model(load_online(checkpoint))
    assert isinstance(gen, Recording)
    gen.calls = []
    cfg = ServerConfig(character_dir=character_dir, width=TEST_SIZE, height=TEST_SIZE)
    eng = Engine(cfg, generator=gen)
    assert (eng.pacing.chunk_frames, eng.pacing.lookahead_frames) == (4, 2)
    client = InprocClient(eng, max_frames=1000)
    a, _ = client.create_session(), client.create_session()
    assert a.chunk_frames == 4
    rate = 16_000
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)
    client.push_speak(a.session, tone, rate)  # one second of voice, sent at once
    time.sleep(0.4)  # both sessions have chunks due when the loop starts: one batch
    eng.start()
    try:
        frames = drain(client, a.session, 1_200_000, timeout_s=4)
    finally:
        eng.stop()
    pts = [f.pts_us for f in frames]
    assert pts[0] == 0 and np.all(np.diff(pts) == 40_000)
    assert all(np.isfinite(f.curve_array()).all() for f in frames)
    assert all(c.num_frames == 4 for call in gen.calls for c in call)
    assert max(len(call) for call in gen.calls) == 2  # both sessions in one model call
    heard_ahead = [
        c for call in gen.calls for c in call
        if c.speak_ahead is not None and np.abs(c.speak_ahead).max() > 0.1
    ]  # fmt: skip
    assert heard_ahead and all(c.speak_ahead.shape == (2 * 640,) for c in heard_ahead)


def test_lpm_serve_with_the_online_generator_streams_frames_in_order(
    character_dir: Path,
    checkpoint: Path,
    line: tuple[np.ndarray, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    samples, rate = line
    wav = tmp_path / "line.wav"
    save_wav(wav, samples[: int(1.2 * rate)], rate)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the export goes here
    proc, port = start_server(
        character_dir, "--generator", "online", "--online-checkpoint", str(checkpoint)
    )
    try:
        speak = load_audio(wav)
        t0 = time.monotonic()
        with connect("zmq", "127.0.0.1", port, max_frames=1000) as client:
            take = record_take(client, speak, tail_s=0.4)
        elapsed = time.monotonic() - t0
    finally:
        log = stop_server(proc)
    assert "Traceback" not in log, log
    assert "online (onnx, chunks of 4 frames)" in log, log
    assert list((tmp_path / "cache" / "lpm" / "onnx").iterdir())  # exported once, cached
    pts = np.array(sorted(take.frames))
    assert pts[0] == 0 and np.all(np.diff(pts) == 40_000)  # every frame, on the 40 ms grid
    indices = [take.frames[p].index for p in pts]
    assert indices == sorted(indices)  # and in order
    assert pts[-1] >= 1_200_000  # the whole line came back
    curves = np.stack([take.frames[p].curve_array() for p in pts])
    assert curves.shape[1] == 61 and np.isfinite(curves).all()
    assert curves.std(axis=0).max() > 0.01  # the face moves
    assert take.frames[int(pts[0])].rgba().shape == (TEST_SIZE, TEST_SIZE, 4)
    assert elapsed < 20, elapsed
    print(f"{len(pts)} frames, server stats: {take.stats}", file=sys.stderr)


def test_the_benchmark_streams_a_timeline_through_the_online_model(checkpoint: Path) -> None:
    """Whole model chunks however the timeline is cut (prompt changes, a ragged end), and the
    timeline's own speak audio as the look-ahead: equal to streaming it by hand."""
    from models.online_lpm import load_online
    from runtime.benchmark.cases import Timeline
    from runtime.benchmark.generators import GeneratorSpec
    from runtime.benchmark.suites import perform

    gen = OnlineGenerator.from_model(load_online(checkpoint))
    spec = GeneratorSpec("online", lambda: gen, "tiny", chunk_frames=4, frame_multiple=4)
    frames, spf = 30, 640  # not a multiple of 4
    rng = np.random.default_rng(0)
    speak = (0.2 * rng.standard_normal(frames * spf)).astype(np.float32)
    listen = np.zeros_like(speak)
    prompts: list[str | None] = [None] * 9 + [""] * (frames - 9)  # a change inside a chunk
    timeline = Timeline(25.0, speak, listen, prompts)

    class Rest:  # all that perform reads of a character asset
        rest_curves = np.zeros(61, np.float32)
        identity = None

    asset: Any = Rest()
    curves = perform(spec, asset, timeline).curves
    assert curves.shape == (frames, 61) and np.isfinite(curves).all()

    padded = np.zeros(34 * spf, np.float32)
    padded[: speak.size] = speak
    state = gen.init_state(CharacterConditioning(), seed=0)
    by_hand = []
    for k in range(0, 32, 4):
        a, b = k * spf, (k + 4) * spf
        chunk = ChunkInputs(
            4, padded[a:b], np.zeros(b - a), None, speak_ahead=padded[b : b + 2 * spf]
        )
        out, state = gen.step(state, chunk)
        by_hand.append(out)
    assert np.abs(np.concatenate(by_hand)[:frames] - curves).max() < 1e-5
