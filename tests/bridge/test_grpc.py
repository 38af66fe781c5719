"""The gRPC plane over real sockets, with the fake runtime behind it."""

from __future__ import annotations

import asyncio
import filecmp
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from bridge.grpc_client import AsyncGrpcClient, GrpcClient
from bridge.grpc_common import CLIENT_ID_KEY
from bridge.grpc_server import GrpcServer
from bridge.lpm.v1 import lpm_pb2 as pb
from bridge.lpm.v1 import lpm_pb2_grpc
from bridge.protocol import ErrorCode, ProtocolError
from tests.bridge.fake_runtime import JAW_OPEN, FakeRuntime

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def served() -> Iterator[tuple[GrpcServer, FakeRuntime]]:
    runtime = FakeRuntime()
    # The fake makes a whole utterance's frames at once: room for all of them.
    server = GrpcServer(runtime, "127.0.0.1:0", max_frames_per_session=64).start()
    yield server, runtime
    server.stop(grace_s=0.2)


def client_for(server: GrpcServer, **kwargs: object) -> GrpcClient:
    return GrpcClient(f"127.0.0.1:{server.port}", timeout_s=3.0, max_frames=200, **kwargs)  # type: ignore[arg-type]


def test_speech_becomes_frames_in_order(served: tuple[GrpcServer, FakeRuntime]) -> None:
    server, _ = served
    rate = 48_000
    rng = np.random.default_rng(0)
    audio = (0.2 * rng.standard_normal(2 * rate)).astype(np.float32)
    with client_for(server) as client:
        info = client.create_session(width=16, height=16)
        client.push_speak(info.session, audio, rate)
        frames = [client.next_frame(info.session, timeout_s=3.0) for _ in range(50)]
    assert all(f is not None for f in frames)
    spf = rate // 25
    for k, frame in enumerate(frames):
        assert frame is not None and frame.index == k
        assert frame.rgba()[0, 0, 0] == k % 256
        rms = float(np.sqrt(np.mean(audio[k * spf : (k + 1) * spf] ** 2)))
        assert frame.curve_array()[JAW_OPEN] == pytest.approx(rms, rel=1e-3)


def test_errors_carry_their_codes_and_the_stream_goes_on(
    served: tuple[GrpcServer, FakeRuntime],
) -> None:
    server, _ = served
    with client_for(server) as owner, client_for(server) as other:
        sid = owner.create_session().session
        for call, code in (
            (lambda: other.set_prompt(sid, "smiles"), ErrorCode.NOT_OWNER),
            (lambda: owner.set_prompt("ghost", "smiles"), ErrorCode.UNKNOWN_SESSION),
            (lambda: owner.set_prompt(sid, "x" * 600), ErrorCode.PROMPT_TOO_LONG),
            (lambda: owner.create_session("nobody"), ErrorCode.UNKNOWN_CHARACTER),
        ):
            with pytest.raises(ProtocolError) as err:
                call()
            assert err.value.code == code
        # Refusals of streamed audio come back down the stream; the stream keeps working.
        owner.push_speak(sid, np.full(640, np.nan, np.float32), 16_000)
        owner.push_speak(sid, np.zeros(640, np.float32), 7_000)
        owner.push_speak(sid, np.ones(640, np.float32) * 0.1, 16_000)
        assert owner.next_frame(sid, timeout_s=3.0) is not None
        codes = {e.code for e in owner.errors()}
        assert {ErrorCode.NON_FINITE_AUDIO, ErrorCode.UNSUPPORTED_AUDIO} <= codes
        assert owner.ping().TYPE == "pong"


def test_health_and_reflection(served: tuple[GrpcServer, FakeRuntime]) -> None:
    server, _ = served
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service="lpm.v1.Lpm"), timeout=3)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=3)))
        names = {s.name for s in reply.list_services_response.service}
        assert "lpm.v1.Lpm" in names and "grpc.health.v1.Health" in names


def test_a_vanished_client_is_reported_gone(served: tuple[GrpcServer, FakeRuntime]) -> None:
    server, runtime = served
    client = client_for(server)
    client.create_session()
    client.ping()  # the Perform stream is open
    client.close()  # cancels it, as a crashed game would
    deadline = time.monotonic() + 3
    while not runtime.gone and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runtime.gone == [f"grpc:{client.client_id}"]


def test_shutdown_reaches_an_open_stream(served: tuple[GrpcServer, FakeRuntime]) -> None:
    server, _ = served
    with client_for(server) as client:
        client.create_session()
        client.ping()
        server.stop(grace_s=0.5, reason="maintenance")
        event = client.wait_event("shutdown", 3.0)
    assert event is not None and event.reason == "maintenance"


def test_missing_or_wrong_token_is_refused() -> None:
    runtime = FakeRuntime()
    server = GrpcServer(runtime, "127.0.0.1:0", token="s3cret").start()
    try:
        with client_for(server, token="s3cret") as ok:
            assert ok.list_characters().default == "fake"
        for token in (None, "guess"):
            with client_for(server, token=token) as bad, pytest.raises(ProtocolError) as err:
                bad.list_characters()
            assert err.value.code == ErrorCode.UNAUTHENTICATED
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:  # health stays open
            status = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=3
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
        assert runtime.requests == [(runtime.requests[0][0], "list_characters")]
    finally:
        server.stop(grace_s=0.2)


def test_raw_stub_with_explicit_client_id(served: tuple[GrpcServer, FakeRuntime]) -> None:
    """What a plugin author writes against the .proto, without the Python client."""
    server, runtime = served
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = lpm_pb2_grpc.LpmStub(channel)
        meta = ((CLIENT_ID_KEY, "unreal-editor-1"),)
        info = stub.CreateSession(pb.CreateSessionRequest(width=16, height=16), metadata=meta)
        audio = pb.Audio(
            session=info.session, sample_rate=16_000, channels=1, format="s16",
            pcm=np.full(1280, 1000, "<i2").tobytes(),
        )  # fmt: skip
        responses = stub.Perform(iter([pb.PerformRequest(id=7, speak_audio=audio)]), metadata=meta)
        frames = []
        for response in responses:
            if response.WhichOneof("kind") == "frame":
                frames.append(response.frame)
            if len(frames) == 2:
                responses.cancel()
                break
    assert [f.index for f in frames] == [0, 1]
    assert len(frames[0].pixels) == 16 * 16 * 4 and len(frames[0].curves) == 61 * 4
    assert runtime.sessions[info.session].owner == "grpc:unreal-editor-1"


def test_async_client_streams_frames(served: tuple[GrpcServer, FakeRuntime]) -> None:
    server, _ = served

    async def run() -> list[int]:
        async with AsyncGrpcClient(f"127.0.0.1:{server.port}", timeout_s=3.0) as client:
            info = await client.create_session(width=16, height=16)
            await client.push_speak(info.session, np.ones(3200, np.float32) * 0.1, 16_000)
            frames = [await client.next_frame(info.session, timeout_s=3.0) for _ in range(5)]
            assert (await client.list_characters()).default == "fake"
            await client.trigger_emote(info.session, "nods")
            await client.interrupt(info.session)
            await client.push_speak(info.session, np.full(640, np.nan, np.float32), 16_000)
            await client.end_of_speech(info.session)
            for _ in range(50):
                errors = client.errors()
                if errors:
                    assert errors[0].code == ErrorCode.NON_FINITE_AUDIO
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the refusal of NaN audio never arrived")
            with pytest.raises(ProtocolError):
                await client.prepare_character("x", b"not a png")
            return [f.index for f in frames if f is not None]

    assert asyncio.run(run()) == [0, 1, 2, 3, 4]


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    proto = Path("bridge/lpm/v1/lpm.proto")
    (tmp_path / proto.parent).mkdir(parents=True)
    (tmp_path / proto).write_bytes((REPO / proto).read_bytes())
    cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--pyi_out=."]
    subprocess.run(
        [
            *cmd,
            "--grpc_python_out=.",
            str(proto),
        ],
        cwd=tmp_path,
        check=True,
    )
    for name in ("lpm_pb2.py", "lpm_pb2.pyi", "lpm_pb2_grpc.py"):
        fresh, committed = tmp_path / proto.parent / name, REPO / proto.parent / name
        assert filecmp.cmp(fresh, committed, shallow=False), f"{name}: run `make proto`"


def test_a_second_stream_of_the_same_client_takes_over(
    served: tuple[GrpcServer, FakeRuntime],
) -> None:
    server, _ = served
    meta = ((CLIENT_ID_KEY, "editor-7"),)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = lpm_pb2_grpc.LpmStub(channel)
        info = stub.CreateSession(pb.CreateSessionRequest(width=16, height=16), metadata=meta)
        ping = pb.PerformRequest(id=1, ping=pb.Ping())
        first = stub.Perform(iter([ping]), metadata=meta, timeout=5)
        assert next(first).WhichOneof("kind") == "pong"
        audio = pb.Audio(
            session=info.session, sample_rate=16_000, channels=1, format="f32",
            pcm=np.full(3 * 640, 0.1, "<f4").tobytes(),
        )  # fmt: skip
        request = pb.PerformRequest(id=2, speak_audio=audio)
        second = stub.Perform(iter([request]), metadata=meta, timeout=5)
        indices = []
        for response in second:
            if response.WhichOneof("kind") == "frame":
                indices.append(response.frame.index)
            if len(indices) == 3:
                second.cancel()
                break
        assert indices == [0, 1, 2]  # every frame on the newer stream, none lost to the old
        assert list(first) == []  # the old stream ended without taking anything
