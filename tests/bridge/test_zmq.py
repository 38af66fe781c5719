"""ZeroMQ data plane over real sockets on 127.0.0.1 (random ports), FakeRuntime behind it.

Raw ``zmq.DEALER`` sockets stand in for clients that send hand-built or malformed bytes (a C++
plugin, an attacker); :class:`ZmqClient` / :class:`AsyncZmqClient` are the Python clients.
Every wait has a deadline, so a hang fails the test instead of blocking the run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import zmq

from bridge.handler import ClientId, Outbox
from bridge.protocol import (
    Error,
    ErrorCode,
    Event,
    Frame,
    Message,
    PrepareCharacter,
    ProtocolError,
    SessionInfo,
    SetPrompt,
    decode_reply,
)
from bridge.zmq_client import AsyncZmqClient, ZmqClient
from bridge.zmq_common import CurveConfig, generate_keypair, load_keys, save_keys
from bridge.zmq_server import ZmqServer
from tests.bridge.fake_runtime import FPS, JAW_OPEN, FakeRuntime

WAIT_S = 3.0  # longest any single wait may take before the test fails


# ---------------------------------------------------------------------------------------------
# helpers


@contextmanager
def running_server(runtime: Any | None = None, **kwargs: Any) -> Iterator[tuple[ZmqServer, Any]]:
    runtime = runtime if runtime is not None else FakeRuntime()
    server = ZmqServer(runtime, "tcp://127.0.0.1:0", **kwargs).start()
    try:
        yield server, runtime
    finally:
        server.stop()


@contextmanager
def zmq_client(endpoint: str, **kwargs: Any) -> Iterator[ZmqClient]:
    kwargs.setdefault("timeout_s", WAIT_S)
    client = ZmqClient(endpoint, **kwargs)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def raw_dealer(
    endpoint: str, identity: bytes | None = None, **options: int
) -> Iterator[zmq.Socket[Any]]:
    sock: zmq.Socket[Any] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, int(WAIT_S * 1000))
    if identity is not None:
        sock.setsockopt(zmq.ROUTING_ID, identity)
    for name, value in options.items():
        sock.setsockopt(getattr(zmq, name), value)
    sock.connect(endpoint)
    try:
        yield sock
    finally:
        sock.close(linger=0)


def pack(**header: Any) -> bytes:
    return msgpack.packb({"v": 1, **header}, use_bin_type=True)


def raw_reply(sock: zmq.Socket[Any], request_id: int) -> Message:
    """The next non-frame, non-event message answering ``request_id`` (fails after WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        message = decode_reply(sock.recv_multipart())
        if not isinstance(message, Frame | Event) and message.request_id == request_id:
            return message
    raise AssertionError(f"no reply to request {request_id}")


def raw_error(sock: zmq.Socket[Any], parts: list[bytes], request_id: int = 0) -> Error:
    sock.send_multipart(parts)
    reply = raw_reply(sock, request_id)
    assert isinstance(reply, Error), reply
    return reply


def raw_frames(sock: zmq.Socket[Any], count: int) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + WAIT_S
    while len(frames) < count and time.monotonic() < deadline:
        message = decode_reply(sock.recv_multipart())
        if isinstance(message, Frame):
            frames.append(message)
    return frames


def client_frames(client: ZmqClient, session: str, count: int) -> list[Frame]:
    frames: list[Frame] = []
    deadline = time.monotonic() + WAIT_S
    while len(frames) < count:
        frame = client.next_frame(session, timeout_s=max(deadline - time.monotonic(), 0.0))
        if frame is None:
            break
        frames.append(frame)
    return frames


def wait_until(cond: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def stereo_s16(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """``[n, 2]`` int16: two different tones with a varying envelope, so RMS varies per frame."""
    t = np.arange(round(seconds * rate)) / rate
    envelope = 0.2 + 0.7 * np.abs(np.sin(2 * np.pi * 0.7 * t + seed))
    left = envelope * np.sin(2 * np.pi * 220 * t)
    right = 0.5 * envelope * np.sin(2 * np.pi * 330 * t)
    return np.round(np.stack([left, right], axis=1) * 20000).astype(np.int16)


def expected_rms(mono: np.ndarray, rate: int, count: int) -> np.ndarray:
    spf = round(rate / FPS)
    return np.array(
        [np.sqrt(np.mean(mono[k * spf : (k + 1) * spf] ** 2)) for k in range(count)], np.float32
    )


def check_frames(frames: list[Frame], mono: np.ndarray, rate: int, count: int) -> None:
    assert [f.index for f in frames] == list(range(count))
    for frame in frames:
        pixels = frame.rgba()
        assert pixels.shape == (frame.height, frame.width, 4)
        assert (pixels == frame.index % 256).all()
    rms = np.array([f.curve_array()[JAW_OPEN] for f in frames])
    np.testing.assert_allclose(rms, expected_rms(mono, rate, count), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# data path


def test_bound_endpoint_has_real_port() -> None:
    with running_server() as (server, _):
        assert server.bound_endpoint.startswith("tcp://127.0.0.1:")
        assert not server.bound_endpoint.endswith((":0", ":*"))


def test_start_raises_when_the_port_is_taken() -> None:
    with running_server() as (server, _):
        second = ZmqServer(FakeRuntime(), server.bound_endpoint)
        with pytest.raises(zmq.ZMQError):
            second.start()
        second.stop()  # harmless after a failed start


def test_speak_audio_frames_arrive_in_order_with_pixels_and_rms() -> None:
    rate, pcm = 48_000, stereo_s16(2.0, 48_000)
    mono = pcm.astype(np.float32).mean(axis=1) / 32768.0
    with (
        running_server(max_frames_per_session=64) as (server, _),
        zmq_client(server.bound_endpoint) as client,
    ):
        info = client.create_session()
        half = rate // 2  # 0.5 s per message: chunk edges fall inside frames
        for start in range(0, mono.size, half):
            client.push_speak(info.session, mono[start : start + half], rate)
        check_frames(client_frames(client, info.session, 50), mono, rate, 50)
        assert client.next_frame(info.session, timeout_s=0.05) is None  # and no more


def test_raw_s16_stereo_message_from_a_native_client() -> None:
    rate, pcm = 48_000, stereo_s16(2.0, 48_000, seed=1)
    mono = pcm.astype(np.float32).mean(axis=1) / 32768.0
    with (
        running_server(max_frames_per_session=64) as (server, _),
        raw_dealer(server.bound_endpoint) as sock,
    ):
        sock.send_multipart([pack(type="create_session", id=1, width=16, height=16)])
        info = raw_reply(sock, 1)
        assert isinstance(info, SessionInfo)
        header = pack(
            type="speak_audio",
            id=2,
            session=info.session,
            sample_rate=rate,
            channels=2,
            format="s16",
        )
        sock.send_multipart([header, pcm.astype("<i2").tobytes()])
        frames = raw_frames(sock, 50)
        check_frames(frames, mono, rate, 50)
        assert all(f.width == 16 and f.height == 16 for f in frames)


# ---------------------------------------------------------------------------------------------
# bad input


def test_every_bad_input_gets_its_error_and_the_server_keeps_serving() -> None:
    with (
        running_server() as (server, _),
        zmq_client(server.bound_endpoint) as owner,
        raw_dealer(server.bound_endpoint) as bad,
    ):
        others = owner.create_session().session
        bad.send_multipart([pack(type="create_session", id=1)])
        mine = raw_reply(bad, 1)
        assert isinstance(mine, SessionInfo)
        sid = mine.session

        def speak(rid: int, payload: bytes, **fields: Any) -> list[bytes]:
            fields = {"session": sid, "sample_rate": 16_000, **fields}
            return [pack(type="speak_audio", id=rid, **fields), payload]

        ok_pcm = np.zeros(640, "<f4").tobytes()
        cases: list[tuple[str, list[bytes], int, ErrorCode]] = [
            ("not msgpack", [b"\xc1\xc1"], 0, ErrorCode.MALFORMED),
            ("empty header", [b""], 0, ErrorCode.MALFORMED),
            ("header not a map", [msgpack.packb([1, "ping"])], 0, ErrorCode.MALFORMED),
            ("wrong version", [msgpack.packb({"v": 2, "type": "ping", "id": 3})], 3,
             ErrorCode.BAD_VERSION),
            ("unknown type", [pack(type="dance", id=4)], 4, ErrorCode.UNKNOWN_TYPE),
            ("missing field", [pack(type="speak_audio", id=5, sample_rate=16_000), ok_pcm],
             5, ErrorCode.BAD_FIELD),
            ("wrong part count", speak(6, ok_pcm)[:1], 6, ErrorCode.MALFORMED),
            ("extra part", [*speak(7, ok_pcm), b"x"], 7, ErrorCode.MALFORMED),
            ("NaN samples", speak(8, np.full(640, np.nan, "<f4").tobytes()), 8,
             ErrorCode.NON_FINITE_AUDIO),
            ("wrong payload size", speak(9, b"\x00" * 5), 9, ErrorCode.BAD_PAYLOAD),
            ("odd s16 stereo size", speak(10, b"\x00" * 6, channels=2, format="s16"), 10,
             ErrorCode.BAD_PAYLOAD),
            ("unsupported rate", speak(11, ok_pcm, sample_rate=12_345), 11,
             ErrorCode.UNSUPPORTED_AUDIO),
            ("unknown session", speak(12, ok_pcm, session="nope"), 12,
             ErrorCode.UNKNOWN_SESSION),
            ("another client's session", speak(13, ok_pcm, session=others), 13,
             ErrorCode.NOT_OWNER),
            ("set_prompt on another's", [pack(type="set_prompt", id=14, session=others)], 14,
             ErrorCode.NOT_OWNER),
        ]  # fmt: skip
        for name, parts, rid, code in cases:
            error = raw_error(bad, parts, rid)
            assert error.code == code, f"{name}: got {error.name} ({error.message})"
            assert error.message, name
        # Still serving both clients, and the owner's session is intact.
        bad.send_multipart([pack(type="ping", id=99, t_us=5)])
        assert raw_reply(bad, 99).TYPE == "pong"
        owner.push_speak(others, np.full(1280, 0.5, np.float32), 16_000)
        frames = client_frames(owner, others, 2)
        assert [f.index for f in frames] == [0, 1]


def test_handler_crash_is_an_internal_error_and_the_thread_survives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Crashing(FakeRuntime):
        def handle(self, client: ClientId, request: Message, outbox: Outbox) -> Message | None:
            if isinstance(request, SetPrompt) and request.prompt == "boom":
                raise RuntimeError("bug in the runtime")
            return super().handle(client, request, outbox)

    with running_server(Crashing()) as (server, _), zmq_client(server.bound_endpoint) as client:
        sid = client.create_session().session
        with (
            caplog.at_level(logging.ERROR, logger="bridge.zmq_server"),
            pytest.raises(ProtocolError) as info,
        ):
            client.set_prompt(sid, "boom")
        assert info.value.code == ErrorCode.INTERNAL
        assert "bug in the runtime" in caplog.text  # logged with its traceback
        client.set_prompt(sid, "smiles")
        assert client.ping().TYPE == "pong"


def test_garbage_client_does_not_disturb_a_healthy_session() -> None:
    with running_server(max_frames_per_session=64) as (server, _):
        stop = threading.Event()

        def spam() -> None:
            with raw_dealer(server.bound_endpoint) as sock:
                n = 0
                while not stop.is_set() and n < 2000:
                    junk = [os.urandom(n % 64 + 1)] if n % 2 else [pack(type="x", id=n), b"y"]
                    sock.send_multipart(junk)
                    n += 1
                    if n % 50 == 0:
                        time.sleep(0.001)

        spammer = threading.Thread(target=spam, daemon=True)
        with zmq_client(server.bound_endpoint) as client:
            sid = client.create_session().session
            spammer.start()
            mono = np.sin(np.linspace(0, 200, 16_000)).astype(np.float32) * 0.3
            for start in range(0, mono.size, 1600):
                client.push_speak(sid, mono[start : start + 1600], 16_000)
            frames = client_frames(client, sid, 25)
            stop.set()
            spammer.join(WAIT_S)
            check_frames(frames, mono, 16_000, 25)
            assert client.dropped_frames == 0


# ---------------------------------------------------------------------------------------------
# flow control and liveness


def test_slow_consumer_is_bounded_and_does_not_starve_others() -> None:
    max_frames = 32
    # A native client that reads its session reply and then never reads again; tiny kernel and
    # libzmq receive buffers so the stall shows after a few frames.
    with (
        running_server(max_frames_per_session=max_frames, client_timeout_s=10.0) as (server, rt),
        raw_dealer(server.bound_endpoint, b"\x01slow", RCVHWM=1, RCVBUF=4096) as slow,
    ):
        slow.send_multipart([pack(type="create_session", id=1, width=64, height=64)])
        sid = raw_reply(slow, 1).session  # type: ignore[attr-defined]
        outbox = server.outbox("zmq:" + b"\x01slow".hex())
        assert outbox is not None
        chunk = np.full(round(0.8 * 16_000), 0.1, "<f4").tobytes()  # 20 frames each
        peak = 0
        for rid in range(2, 27):  # 25 × 20 = 500 frames of 64×64 RGBA (8 MB)
            header = pack(type="speak_audio", id=rid, session=sid, sample_rate=16_000)
            slow.send_multipart([header, chunk])
            time.sleep(0.002)
            peak = max(peak, outbox.pending())
        assert wait_until(lambda: rt.sessions[sid].index == 500)

        with zmq_client(server.bound_endpoint) as healthy:
            hid = healthy.create_session(width=64, height=64).session
            mono = np.full(1600, 0.25, np.float32)
            frames: list[Frame] = []
            for _ in range(25):  # 50 frames, read as they come
                healthy.push_speak(hid, mono, 16_000)
                frames += client_frames(healthy, hid, 2)
                peak = max(peak, outbox.pending())
            assert [f.index for f in frames] == list(range(50))

        peak = max(peak, outbox.pending())
        assert peak <= max_frames, peak  # server memory for the stalled peer is bounded
        assert outbox.dropped_frames > 0  # it really stalled: old frames were dropped
        assert not outbox.overflowed
        assert "zmq:" + b"\x01slow".hex() in server.client_ids()  # stalled, not dropped


def test_silent_client_is_reported_gone_after_the_timeout() -> None:
    silent_id = b"\x01silent"
    with (
        running_server(client_timeout_s=0.5) as (server, rt),
        zmq_client(server.bound_endpoint, heartbeat_s=0.1) as alive,
        raw_dealer(server.bound_endpoint, silent_id) as silent,
    ):
        silent.send_multipart([pack(type="ping", id=1)])
        assert raw_reply(silent, 1).TYPE == "pong"
        t0 = time.monotonic()
        gone = "zmq:" + silent_id.hex()
        assert wait_until(lambda: gone in rt.gone)
        assert time.monotonic() - t0 >= 0.4
        assert rt.gone.count(gone) == 1
        assert gone not in server.client_ids()
        time.sleep(0.3)  # the pinging client outlives the timeout
        assert alive.client_id not in rt.gone
        assert alive.client_id in server.client_ids()
        assert alive.last_heard is not None and time.monotonic() - alive.last_heard < 1.0


def test_reconnect_resume_session_from_a_new_socket() -> None:
    with (
        running_server() as (server, _),
        zmq_client(server.bound_endpoint) as first,
    ):
        sid = first.create_session().session
        first.push_speak(sid, np.full(640 * 3, 0.2, np.float32), 16_000)
        assert len(client_frames(first, sid, 3)) == 3
        with zmq_client(server.bound_endpoint) as second:
            info = second.resume_session(sid)
            assert info.session == sid and info.next_index == 3
            second.push_speak(sid, np.full(640 * 2, 0.2, np.float32), 16_000)
            assert [f.index for f in client_frames(second, sid, 2)] == [3, 4]


def test_request_to_no_server_times_out_with_a_clear_message() -> None:
    with running_server() as (server, _):
        endpoint = server.bound_endpoint
    with zmq_client(endpoint, timeout_s=0.3) as client:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="is the server running"):
            client.ping()
        assert time.monotonic() - t0 < 1.0


# ---------------------------------------------------------------------------------------------
# CURVE


def test_keys_round_trip_and_secret_file_is_private(tmp_path: Path) -> None:
    public, secret = generate_keypair()
    save_keys(tmp_path / "server.key_secret", public, secret)
    save_keys(tmp_path / "server.key", public)
    assert load_keys(tmp_path / "server.key_secret") == (public, secret)
    assert load_keys(tmp_path / "server.key") == (public, None)
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(tmp_path / "server.key_secret").st_mode) == 0o600
    with pytest.raises(ValueError):
        CurveConfig(server_secret_key=b"short", server_public_key=public)


def test_curve_allows_listed_keys_and_refuses_others() -> None:
    server_public, server_secret = generate_keypair()
    allowed = generate_keypair()
    stranger = generate_keypair()
    security = CurveConfig(server_secret, server_public, allowed_client_keys=[allowed[0]])
    with running_server(security=security) as (server, rt):
        endpoint = server.bound_endpoint
        with zmq_client(endpoint, server_public_key=server_public, client_keys=allowed) as good:
            sid = good.create_session().session
            good.push_speak(sid, np.full(640, 0.3, np.float32), 16_000)
            assert len(client_frames(good, sid, 1)) == 1
            good_requests = len(rt.requests)

        with zmq_client(endpoint, timeout_s=0.5) as plain, pytest.raises(TimeoutError):
            plain.ping()  # no CURVE at all
        with (
            zmq_client(
                endpoint, timeout_s=0.5, server_public_key=server_public, client_keys=stranger
            ) as unlisted,
            pytest.raises(TimeoutError, match="refused this client's CURVE key"),
        ):
            unlisted.ping()
        wrong_server_key = generate_keypair()[0]
        with (
            zmq_client(
                endpoint, timeout_s=0.5, server_public_key=wrong_server_key, client_keys=allowed
            ) as confused,
            pytest.raises(TimeoutError),
        ):
            confused.ping()
        assert len(rt.requests) == good_requests  # nothing of theirs reached the runtime
        assert all(client == good.client_id for client, _ in rt.requests)


def test_curve_without_allow_list_lets_in_any_key_holder() -> None:
    server_public, server_secret = generate_keypair()
    with (
        running_server(security=CurveConfig(server_secret, server_public)) as (server, _),
        zmq_client(server.bound_endpoint, server_public_key=server_public) as client,
    ):
        assert client.ping().TYPE == "pong"


# ---------------------------------------------------------------------------------------------
# shutdown, slow requests, asyncio


def test_stop_sends_shutdown_event_to_connected_clients() -> None:
    server = ZmqServer(FakeRuntime(), "tcp://127.0.0.1:0").start()
    runtime = server.handler
    assert isinstance(runtime, FakeRuntime)
    with zmq_client(server.bound_endpoint) as client:
        client.ping()
        t0 = time.monotonic()
        server.stop(reason="maintenance")
        assert time.monotonic() - t0 < 2.0
        event = client.wait_event("shutdown", WAIT_S)
        assert event is not None and event.reason == "maintenance"
        assert client.shutdown_event == event
        assert client.client_id in runtime.gone
        server.stop()  # idempotent


def test_slow_request_future_does_not_block_frames() -> None:
    release = threading.Event()

    class SlowPrepare(FakeRuntime):
        def handle(  # type: ignore[override]  # the handler protocol allows a Future
            self, client: ClientId, request: Message, outbox: Outbox
        ) -> Message | Future[Message] | None:
            if not isinstance(request, PrepareCharacter):
                return super().handle(client, request, outbox)
            future: Future[Message] = Future()

            def work() -> None:
                release.wait(WAIT_S)
                try:
                    future.set_result(super(SlowPrepare, self).handle(client, request, outbox))  # type: ignore[arg-type]
                except ProtocolError as exc:
                    future.set_exception(exc)

            threading.Thread(target=work, daemon=True).start()
            return future

    with running_server(SlowPrepare()) as (server, _), zmq_client(server.bound_endpoint) as client:
        sid = client.create_session().session
        result: list[Any] = []
        waiter = threading.Thread(
            target=lambda: result.append(client.prepare_character("hero", b"\x89PNG...")),
            daemon=True,
        )
        waiter.start()
        client.push_speak(sid, np.full(1280, 0.1, np.float32), 16_000)  # served meanwhile
        assert len(client_frames(client, sid, 2)) == 2
        assert client.ping().TYPE == "pong"
        release.set()
        waiter.join(WAIT_S)
        assert result and result[0].id == "hero"
        with pytest.raises(ProtocolError) as info:
            client.prepare_character("villain", b"GIF89a")
        assert info.value.code == ErrorCode.PREPARE_FAILED


def test_async_client_session_audio_frames() -> None:
    async def scenario(endpoint: str) -> None:
        async with AsyncZmqClient(endpoint, timeout_s=WAIT_S, heartbeat_s=0.2) as client:
            assert (await client.ping()).TYPE == "pong"
            characters = await client.list_characters()
            assert characters.default == "fake"
            info = await client.create_session(width=16, height=16, prompt="calm")
            mono = (np.sin(np.linspace(0, 80, 16_000)) * 0.4).astype(np.float32)
            for start in range(0, mono.size, 4000):
                await client.push_speak(info.session, mono[start : start + 4000], 16_000)
            frames = []
            for _ in range(25):
                frame = await client.next_frame(info.session, timeout_s=WAIT_S)
                assert frame is not None
                frames.append(frame)
            check_frames(frames, mono, 16_000, 25)
            assert await client.latest_frame(info.session) is frames[-1]
            await client.set_prompt(info.session, "angry")
            await client.trigger_emote(info.session, "nods")
            assert (await client.stats(info.session))["frames"] == 25.0
            with pytest.raises(ProtocolError) as error:
                await client.close_session("nope")
            assert error.value.code == ErrorCode.UNKNOWN_SESSION
            await client.close_session(info.session)
            event = await client.wait_event("session_closed", WAIT_S)
            assert event is not None and event.session == info.session
            assert await client.next_frame(info.session, timeout_s=0.05) is None

    with running_server() as (server, _):
        asyncio.run(asyncio.wait_for(scenario(server.bound_endpoint), 4 * WAIT_S))


def test_async_client_times_out_without_server() -> None:
    async def scenario(endpoint: str) -> None:
        async with AsyncZmqClient(endpoint, timeout_s=0.3) as client:
            with pytest.raises(TimeoutError, match="is the server running"):
                await client.ping()

    with running_server() as (server, _):
        endpoint = server.bound_endpoint
    asyncio.run(asyncio.wait_for(scenario(endpoint), WAIT_S))
