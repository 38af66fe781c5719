"""The engine through the in-process client: real sessions, generator, renderer and pacing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bridge.client import InprocClient
from bridge.protocol import ErrorCode, Frame, ProtocolError
from models.generator import ChunkInputs
from models.motion import idx
from models.performer import ProceduralPerformer
from runtime.config import ServerConfig
from runtime.engine import Engine
from tests.portraits import PORTRAITS
from tests.runtime.conftest import TEST_SIZE

JAW = idx("jawOpen")


@pytest.fixture
def engine(character_dir: Path) -> Iterator[Engine]:
    cfg = ServerConfig(
        character_dir=character_dir,
        width=TEST_SIZE,
        height=TEST_SIZE,
        max_sessions=3,
        max_sessions_per_client=2,
        session_timeout_s=1.0,
    )
    eng = Engine(cfg)
    eng.start()
    yield eng
    eng.stop()


def drain(client: InprocClient, session: str, until_pts_us: int, timeout_s: float) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        client.ping()  # a client that reads is alive: keep the session from timing out
        frame = client.next_frame(session, timeout_s=0.2)
        if frame is None:
            continue
        frames.append(frame)
        if frame.pts_us >= until_pts_us:
            break
    return frames


def test_a_line_of_speech_opens_the_mouth_and_silence_closes_it(
    engine: Engine, line: tuple[np.ndarray, int]
) -> None:
    samples, rate = line
    client = InprocClient(engine, max_frames=1000)
    info = client.create_session()
    assert info.latency_us > 0 and info.width == TEST_SIZE and len(info.curve_names) == 61
    silence = np.zeros(rate // 2, np.float32)
    time.sleep(0.3)  # some idle frames first
    client.push_speak(info.session, np.concatenate([samples, silence]), rate)
    client.end_of_speech(info.session)
    scheduled = client.wait_event("speak_scheduled", 2.0)
    assert scheduled is not None and scheduled.pts_us is not None
    assert scheduled.duration_us is not None
    end = scheduled.pts_us + scheduled.duration_us
    frames = drain(client, info.session, end, timeout_s=end / 1e6 + 3)
    assert frames[-1].pts_us >= end, (frames[-1].pts_us, end)
    pts = np.array([f.pts_us for f in frames])
    assert np.all(np.diff(pts) == 40_000) and pts[0] == 0  # in order, on the 40 ms grid
    assert [f.index for f in frames] == list(range(len(frames)))
    assert frames[0].rgba().shape == (TEST_SIZE, TEST_SIZE, 4)

    jaw = np.array([f.curve_array()[JAW] for f in frames])
    t = pts + 20_000
    speech_span = (t >= scheduled.pts_us + 300_000) & (t < end - 700_000)
    after = t >= end - 300_000  # the trailing half second of silence
    before = t < scheduled.pts_us  # nothing said yet
    assert jaw[speech_span].max() > jaw[before].max() + 0.2
    assert abs(jaw[after][-3:].mean() - jaw[before].mean()) < 0.05
    states = np.array([f.state for f in frames])
    assert np.mean(states[speech_span] == "speak") > 0.6  # silero-vad hears the NPC talk
    assert states[0] == "idle" and states[-1] == "idle"
    stats = client.stats(info.session)  # lateness is the benchmark's business, not a test's
    assert stats["speak_dropped_seconds"] == 0
    assert abs(stats["speak_seconds"] - (samples.size + silence.size) / rate) < 0.01


def test_interrupt_stops_the_lips_and_remakes_future_frames(
    engine: Engine, line: tuple[np.ndarray, int]
) -> None:
    samples, rate = line
    client = InprocClient(engine, max_frames=1000)
    info = client.create_session()
    long_line = np.concatenate([samples, samples])
    client.push_speak(info.session, long_line, rate)
    time.sleep(0.8)
    client.interrupt(info.session)
    t_int = time.monotonic()
    frames = drain(client, info.session, 10**12, timeout_s=1.2)
    by_pts: dict[int, Frame] = {}
    remade = 0
    for f in frames:
        if f.pts_us in by_pts:
            assert f.index > by_pts[f.pts_us].index  # re-sent frames carry a higher index
            remade += 1
        by_pts[f.pts_us] = f
    assert remade > 0
    assert client.stats(info.session)["regenerated_frames"] >= remade
    # After the interrupt the newest frames are silent: mouth back to rest.
    rest = engine.registry.get(None).asset.rest_curves[JAW]
    latest = [by_pts[p] for p in sorted(by_pts)][-5:]
    assert all(abs(f.curve_array()[JAW] - rest) < 0.08 for f in latest)
    assert time.monotonic() - t_int < 3


def test_errors_go_to_the_caller_and_harm_nothing_else(engine: Engine) -> None:
    a, b = InprocClient(engine), InprocClient(engine)
    sa = a.create_session().session
    with pytest.raises(ProtocolError) as err:
        b.set_prompt(sa, "smiles")
    assert err.value.code == ErrorCode.NOT_OWNER
    with pytest.raises(ProtocolError) as err:
        b.set_prompt("no-such-session", "smiles")
    assert err.value.code == ErrorCode.UNKNOWN_SESSION
    with pytest.raises(ProtocolError) as err:
        a.create_session("nobody")
    assert err.value.code == ErrorCode.UNKNOWN_CHARACTER
    a.create_session()
    with pytest.raises(ProtocolError) as err:
        a.create_session()  # per-client quota of 2
    assert err.value.code == ErrorCode.TOO_MANY_SESSIONS
    b.create_session()
    with pytest.raises(ProtocolError) as err:
        b.create_session()  # server-wide quota of 3
    assert err.value.code == ErrorCode.TOO_MANY_SESSIONS
    # Audio for another client's session is refused as an error message, not a crash.
    b.push_speak(sa, np.zeros(640, np.float32), 16_000)
    a.set_prompt(sa, "smiles warmly")
    assert a.next_frame(sa, timeout_s=1.0) is not None


def test_silent_owner_times_out_and_a_resume_takes_over(engine: Engine) -> None:
    a, b = InprocClient(engine, max_frames=1000), InprocClient(engine, max_frames=1000)
    first = a.create_session()
    second = a.create_session()
    time.sleep(0.5)
    info = b.resume_session(first.session)
    assert info.next_index > 0
    frame = b.next_frame(first.session, timeout_s=1.0)
    assert frame is not None and frame.index >= info.next_index
    for _ in range(8):  # the new owner keeps it alive; the old owner's other one lapses
        b.ping()
        time.sleep(0.2)
    assert b.stats(first.session)["frames"] > 0
    closed = a.wait_event("session_closed", 1.0)
    assert closed is not None and closed.session == second.session and closed.reason == "timeout"
    with pytest.raises(ProtocolError):
        a.stats(second.session)


def test_emote_moves_the_expected_curves(engine: Engine) -> None:
    client = InprocClient(engine, max_frames=1000)
    info = client.create_session()
    time.sleep(0.3)
    client.trigger_emote(info.session, "surprised", intensity=1.0, duration_s=1.0)
    frames = drain(client, info.session, 1_400_000, timeout_s=3)
    brow = np.array([f.curve_array()[idx("browInnerUp")] for f in frames])
    pts = np.array([f.pts_us for f in frames])
    assert brow[(pts > 700_000) & (pts < 1_200_000)].mean() > brow[pts < 200_000].mean() + 0.2


def test_upload_a_portrait_to_make_a_character(engine: Engine) -> None:
    client = InprocClient(engine)
    image = (PORTRAITS / "photo_grace_hopper.jpg").read_bytes()
    info = client.prepare_character("hopper", image)
    assert (info.width, info.height) == (TEST_SIZE, TEST_SIZE)
    assert "hopper" in [c.id for c in client.list_characters().items]
    session = client.create_session("hopper")
    assert session.character == "hopper"
    with pytest.raises(ProtocolError) as err:
        client.prepare_character("broken", b"not an image at all")
    assert err.value.code == ErrorCode.PREPARE_FAILED


def test_jpeg_frames_carry_colour_and_alpha_planes(engine: Engine) -> None:
    client = InprocClient(engine, max_frames=100)
    raw = client.create_session(width=96, height=96)
    jpeg = client.create_session(encoding="jpeg", jpeg_quality=90, width=96, height=96)
    a = client.next_frame(raw.session, timeout_s=2.0)
    b = client.next_frame(jpeg.session, timeout_s=2.0)
    assert a is not None and b is not None
    assert len(b.pixels) == 2 and sum(len(p) for p in b.pixels) < 96 * 96 * 4 / 4
    ra, rb = a.rgba().astype(int), b.rgba().astype(int)
    assert rb.shape == (96, 96, 4)
    assert np.abs(ra - rb).mean() < 4  # same picture, JPEG error only
    assert np.abs(ra[..., 3] - rb[..., 3]).mean() < 4  # the alpha plane survives


class RecordingPerformer(ProceduralPerformer):
    """The real performer, remembering the features each chunk arrived with."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, float]] = []  # (speak f0, listen energy) per frame

    def step(self, state: Any, chunk: ChunkInputs) -> tuple[np.ndarray, Any]:
        assert chunk.features is not None
        speak, listen = chunk.features["speak"], chunk.features["listen"]
        assert speak.log_mel.shape == (chunk.num_frames, 4, 80)
        self.seen += list(zip(speak.f0_hz.tolist(), listen.energy_db.tolist(), strict=True))
        return super().step(state, chunk)


def test_generators_get_log_mel_pitch_and_energy_of_both_streams(character_dir: Path) -> None:
    performer = RecordingPerformer()
    cfg = ServerConfig(character_dir=character_dir, width=TEST_SIZE, height=TEST_SIZE)
    eng = Engine(cfg, generator=performer)
    eng.start()
    try:
        client = InprocClient(eng, max_frames=1000)
        info = client.create_session()
        rate = 24_000
        t = np.arange(rate) / rate
        voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6)) * 0.2
        client.push_speak(info.session, voiced.astype(np.float32), rate)
        drain(client, info.session, 1_300_000, timeout_s=3)
    finally:
        eng.stop()
    f0 = np.array([f for f, _ in performer.seen])
    assert np.median(f0[f0 > 0]) == pytest.approx(150, abs=5)
    assert np.sum(f0 > 0) >= 20  # the second of voice
    assert max(e for _, e in performer.seen) <= -99  # nobody spoke to the NPC


def test_the_server_default_encoding_applies_when_a_session_names_none(
    character_dir: Path,
) -> None:
    cfg = ServerConfig(character_dir=character_dir, width=64, height=64, encoding="jpeg")
    eng = Engine(cfg)
    client = InprocClient(eng)
    assert client.create_session().encoding == "jpeg"
    assert client.create_session(encoding="rgba8").encoding == "rgba8"
