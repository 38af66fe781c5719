"""The gRPC plane's edges, seen from the wire: statuses, trailers, stream errors, TLS, shutdown.

``test_grpc.py`` covers the happy path through :class:`~bridge.grpc_client.GrpcClient`. These
tests talk to :class:`~bridge.grpc_server.GrpcServer` mostly through the raw ``lpm.v1`` stub,
the way a Unity or Unreal plugin written from the ``.proto`` alone would, and check what such a
plugin relies on: the gRPC status and the ``lpm-error-code`` trailer of every refusal, the
request id echoed on stream errors, the stream outliving bad input, health during shutdown,
TLS plus token without a subprocess, and the stream bookkeeping behind ``client_gone``.
Every call has a deadline; every test takes well under 5 s.

Three tests pin down races of the stream bookkeeping: frames queued before a half-close, the
shutdown event against a slow health update, and a session created as the old stream dies.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bridge.grpc_client import GrpcClient
from bridge.grpc_common import CLIENT_ID_KEY, ERROR_CODE_KEY
from bridge.grpc_server import GrpcServer, TlsConfig
from bridge.lpm.v1 import lpm_pb2 as pb
from bridge.lpm.v1 import lpm_pb2_grpc
from bridge.protocol import ErrorCode, ProtocolError
from tests.bridge.fake_runtime import FakeRuntime

DEADLINE_S = 3.0  # every RPC in this file; a hang fails fast instead of stalling the suite


@pytest.fixture
def served() -> Iterator[tuple[GrpcServer, FakeRuntime]]:
    runtime = FakeRuntime()
    server = GrpcServer(runtime, "127.0.0.1:0", max_frames_per_session=64).start()
    yield server, runtime
    server.stop(grace_s=0.2)


@pytest.fixture
def stub(served: tuple[GrpcServer, FakeRuntime]) -> Iterator[Any]:
    with grpc.insecure_channel(f"127.0.0.1:{served[0].port}") as channel:
        yield lpm_pb2_grpc.LpmStub(channel)


def meta(client: str) -> tuple[tuple[str, str], ...]:
    return ((CLIENT_ID_KEY, client),)


def pcm_s16(seconds: float, rate: int = 16_000, level: int = 1000) -> bytes:
    """Constant little-endian s16 mono PCM: ``seconds`` long at ``rate`` Hz."""
    return np.full(round(seconds * rate), level, "<i2").tobytes()


def refusal(call: Callable[[], Any]) -> tuple[grpc.StatusCode, ErrorCode, str]:
    """Run a unary call that must fail: its gRPC status, ``lpm-error-code`` and details."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    trailer = dict(err.trailing_metadata() or ())
    return err.code(), ErrorCode(int(trailer[ERROR_CODE_KEY])), err.details()


class Upstream:
    """A Perform request iterator fed from a queue; it stays open (no half-close) until ended."""

    def __init__(self) -> None:
        self._q: queue.Queue[pb.PerformRequest | None] = queue.Queue()

    def send(self, request: pb.PerformRequest) -> None:
        self._q.put(request)

    def end(self) -> None:
        self._q.put(None)

    def __iter__(self) -> Iterator[pb.PerformRequest]:
        while (request := self._q.get()) is not None:
            yield request


def read_until(
    call: Any, done: Callable[[list[pb.PerformResponse]], bool]
) -> list[pb.PerformResponse]:
    """Responses of a Perform call up to and including the one that makes ``done`` true."""
    got: list[pb.PerformResponse] = []
    for response in call:
        got.append(response)
        if done(got):
            return got
    raise AssertionError(f"the stream ended after {len(got)} responses")


# --- unary refusals ------------------------------------------------------------------------------


def test_refusals_are_grpc_statuses_with_the_code_in_a_trailer(
    served: tuple[GrpcServer, FakeRuntime], stub: Any
) -> None:
    owner, other = meta("owner"), meta("other")
    sid = stub.CreateSession(pb.CreateSessionRequest(), metadata=owner, timeout=DEADLINE_S).session
    cases: list[tuple[Callable[[], Any], grpc.StatusCode, ErrorCode]] = [
        (
            lambda: stub.SetPrompt(
                pb.SetPromptRequest(session="ghost", prompt="hi"),
                metadata=owner,
                timeout=DEADLINE_S,
            ),
            grpc.StatusCode.NOT_FOUND,
            ErrorCode.UNKNOWN_SESSION,
        ),
        (
            lambda: stub.CloseSession(
                pb.SessionRef(session=sid), metadata=other, timeout=DEADLINE_S
            ),
            grpc.StatusCode.PERMISSION_DENIED,
            ErrorCode.NOT_OWNER,
        ),
        (
            lambda: stub.SetPrompt(
                pb.SetPromptRequest(session=sid, prompt="x" * 501),
                metadata=owner,
                timeout=DEADLINE_S,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.PROMPT_TOO_LONG,
        ),
        (
            lambda: stub.CreateSession(
                pb.CreateSessionRequest(width=8), metadata=owner, timeout=DEADLINE_S
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.BAD_FIELD,
        ),
        (
            lambda: stub.TriggerEmote(
                pb.TriggerEmoteRequest(session=sid, emote="nods", intensity=2.0),
                metadata=owner,
                timeout=DEADLINE_S,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.BAD_FIELD,
        ),
        (
            lambda: stub.CreateSession(
                pb.CreateSessionRequest(character="nobody"), metadata=owner, timeout=DEADLINE_S
            ),
            grpc.StatusCode.NOT_FOUND,
            ErrorCode.UNKNOWN_CHARACTER,
        ),
    ]
    for call, status, code in cases:
        got_status, got_code, details = refusal(call)
        assert (got_status, got_code) == (status, code), details
        assert details.startswith(f"{code.name}: ")
    # Nothing above harmed the session or the server.
    ack = stub.SetPrompt(
        pb.SetPromptRequest(session=sid, prompt="smiles"), metadata=owner, timeout=DEADLINE_S
    )
    assert ack.session == sid
    assert served[1].sessions[sid].prompt == "smiles"


def test_too_many_sessions_is_resource_exhausted(stub: Any) -> None:
    for _ in range(8):  # the fake's quota
        stub.CreateSession(pb.CreateSessionRequest(), metadata=meta("c"), timeout=DEADLINE_S)
    status, code, _ = refusal(
        lambda: stub.CreateSession(
            pb.CreateSessionRequest(), metadata=meta("c"), timeout=DEADLINE_S
        )
    )
    assert (status, code) == (grpc.StatusCode.RESOURCE_EXHAUSTED, ErrorCode.TOO_MANY_SESSIONS)


def test_uploads_over_either_limit_are_refused_and_the_server_keeps_serving(stub: Any) -> None:
    m = meta("uploader")
    # Over the protocol's 20 MiB image limit, under gRPC's 32 MiB message limit.
    big = pb.PrepareCharacterRequest(name="big", image=b"\x89PNG" + bytes(21 * 1024 * 1024))
    status, code, _ = refusal(lambda: stub.PrepareCharacter(big, metadata=m, timeout=DEADLINE_S))
    assert (status, code) == (grpc.StatusCode.OUT_OF_RANGE, ErrorCode.CHUNK_TOO_LARGE)
    # Over gRPC's message limit: refused by gRPC itself (no lpm trailer), before any handler.
    huge = pb.PrepareCharacterRequest(name="huge", image=bytes(33 * 1024 * 1024))
    with pytest.raises(grpc.RpcError) as err:
        stub.PrepareCharacter(huge, metadata=m, timeout=DEADLINE_S)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status, code, _ = refusal(
        lambda: stub.PrepareCharacter(
            pb.PrepareCharacterRequest(name="jpeg", image=b"\xff\xd8"),
            metadata=m,
            timeout=DEADLINE_S,
        )
    )
    assert (status, code) == (grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.PREPARE_FAILED)
    ok = stub.PrepareCharacter(
        pb.PrepareCharacterRequest(name="ok", image=b"\x89PNG...."), metadata=m, timeout=DEADLINE_S
    )
    assert ok.id == "ok"
    assert (
        stub.ListCharacters(pb.ListCharactersRequest(), metadata=m, timeout=DEADLINE_S).default
        == "fake"
    )


def test_calls_without_a_client_id_are_strangers_to_each_other(stub: Any) -> None:
    """No ``lpm-client-id``: every call is its own client (peer + counter), so it owns nothing."""
    sid = stub.CreateSession(pb.CreateSessionRequest(), timeout=DEADLINE_S).session
    status, code, _ = refusal(
        lambda: stub.Interrupt(pb.SessionRef(session=sid), timeout=DEADLINE_S)
    )
    assert (status, code) == (grpc.StatusCode.PERMISSION_DENIED, ErrorCode.NOT_OWNER)


# --- the Perform stream ---------------------------------------------------------------------------


def test_stream_errors_echo_the_request_id_and_the_stream_goes_on(
    served: tuple[GrpcServer, FakeRuntime], stub: Any
) -> None:
    m = meta("plugin")
    sid = stub.CreateSession(
        pb.CreateSessionRequest(width=16, height=16), metadata=m, timeout=DEADLINE_S
    ).session

    def audio(**fields: Any) -> pb.Audio:
        base: dict[str, Any] = {
            "session": sid, "sample_rate": 16_000, "channels": 1, "format": "s16",
            "pcm": pcm_s16(0.04),
        }  # fmt: skip
        return pb.Audio(**{**base, **fields})

    up = Upstream()
    call = stub.Perform(iter(up), metadata=m, timeout=DEADLINE_S)
    try:
        nan = np.full(640, np.nan, "<f4").tobytes()
        up.send(pb.PerformRequest(id=1, speak_audio=audio(format="f32", pcm=nan)))
        up.send(pb.PerformRequest(id=2, speak_audio=audio(sample_rate=7_000)))
        up.send(pb.PerformRequest(id=3))  # no oneof set
        up.send(pb.PerformRequest(id=4, listen_audio=audio(session="ghost")))
        up.send(pb.PerformRequest(id=5, speak_audio=audio(pcm=b"\x00")))  # half a sample
        up.send(pb.PerformRequest(id=6, set_prompt=pb.SetPromptRequest(session=sid, prompt="hm")))
        up.send(pb.PerformRequest(id=7, ping=pb.Ping(t_us=123)))
        up.send(pb.PerformRequest(id=8, speak_audio=audio(pcm=pcm_s16(0.08))))
        got = read_until(call, lambda rs: sum(r.HasField("frame") for r in rs) == 2)
    finally:
        call.cancel()
        up.end()
    errors = {r.id: ErrorCode(r.error.code) for r in got if r.HasField("error")}
    assert errors == {
        1: ErrorCode.NON_FINITE_AUDIO,
        2: ErrorCode.UNSUPPORTED_AUDIO,
        3: ErrorCode.MALFORMED,
        4: ErrorCode.UNKNOWN_SESSION,
        5: ErrorCode.BAD_PAYLOAD,
    }
    for r in got:
        if r.HasField("error"):
            assert r.error.name == ErrorCode(r.error.code).name and r.error.message
    assert [r.ok.session for r in got if r.HasField("ok") and r.id == 6] == [sid]
    assert [r.pong.t_us for r in got if r.HasField("pong") and r.id == 7] == [123]
    assert [r.frame.index for r in got if r.HasField("frame")] == [0, 1]
    assert served[1].sessions[sid].prompt == "hm"


def test_one_stream_carries_every_session_of_its_client(stub: Any) -> None:
    m = meta("two-npcs")
    sids = [
        stub.CreateSession(
            pb.CreateSessionRequest(width=16, height=16), metadata=m, timeout=DEADLINE_S
        ).session
        for _ in range(2)
    ]
    up = Upstream()
    call = stub.Perform(iter(up), metadata=m, timeout=DEADLINE_S)
    try:
        for n, sid in enumerate(sids, 1):
            speech = pb.Audio(
                session=sid, sample_rate=16_000, channels=1, format="s16", pcm=pcm_s16(0.2)
            )
            up.send(pb.PerformRequest(id=n, speak_audio=speech))
        got = read_until(call, lambda rs: sum(r.HasField("frame") for r in rs) == 10)
    finally:
        call.cancel()
        up.end()
    for sid in sids:
        assert [r.frame.index for r in got if r.frame.session == sid] == [0, 1, 2, 3, 4]


def test_a_slow_reader_gets_the_latest_frames_in_order(
    served: tuple[GrpcServer, FakeRuntime], stub: Any
) -> None:
    """The outbox drops the oldest frames, never the newest, and never reorders."""
    m = meta("slow")
    sid = stub.CreateSession(
        pb.CreateSessionRequest(width=16, height=16), metadata=m, timeout=DEADLINE_S
    ).session
    speech = pb.Audio(session=sid, sample_rate=16_000, channels=1, format="s16", pcm=pcm_s16(8))
    up = Upstream()
    call = stub.Perform(iter(up), metadata=m, timeout=DEADLINE_S)
    try:
        up.send(pb.PerformRequest(id=1, speak_audio=speech))  # 200 frames at once, ring of 64
        got = read_until(call, lambda rs: rs[-1].HasField("frame") and rs[-1].frame.index == 199)
    finally:
        call.cancel()
        up.end()
    indices = [r.frame.index for r in got if r.HasField("frame")]
    assert indices == sorted(set(indices)) and indices[-1] == 199
    assert len(indices) >= 64


def test_frames_queued_before_a_half_close_are_delivered(stub: Any) -> None:
    """A client that sends its audio and half-closes still receives every frame it caused.

    Three rounds: with the bug, one round in twenty happens to deliver everything.
    """
    for attempt in range(3):
        m = meta(f"half-close-{attempt}")  # a fresh client each round: see the next test
        sid = stub.CreateSession(
            pb.CreateSessionRequest(width=16, height=16), metadata=m, timeout=DEADLINE_S
        ).session
        speech = pb.Audio(
            session=sid, sample_rate=16_000, channels=1, format="s16", pcm=pcm_s16(0.2)
        )
        requests = [pb.PerformRequest(id=k + 1, speak_audio=speech) for k in range(10)]
        call = stub.Perform(iter(requests), metadata=m, timeout=DEADLINE_S)
        frames: list[int] = []
        try:
            for response in call:  # ends early when the server drops the stream at half-close
                if response.HasField("frame"):
                    frames.append(response.frame.index)
                if len(frames) == 50:
                    break
        finally:
            call.cancel()
        assert frames == list(range(50))


def test_a_session_created_as_the_old_stream_dies_streams_on_the_new_one(stub: Any) -> None:
    """What a game does after a hiccup: drop the stream, create a session, open a new stream."""
    m = meta("again")
    old = Upstream()
    call = stub.Perform(iter(old), metadata=m, timeout=DEADLINE_S)
    old.send(pb.PerformRequest(id=1, ping=pb.Ping()))
    read_until(call, lambda rs: rs[-1].HasField("pong"))
    call.cancel()
    old.end()
    sid = stub.CreateSession(
        pb.CreateSessionRequest(width=16, height=16), metadata=m, timeout=DEADLINE_S
    ).session
    time.sleep(0.3)  # the server has seen the old stream end by now
    speech = pb.Audio(session=sid, sample_rate=16_000, channels=1, format="s16", pcm=pcm_s16(0.2))
    up = Upstream()
    call = stub.Perform(iter(up), metadata=m, timeout=1.0)
    try:
        up.send(pb.PerformRequest(id=2, speak_audio=speech))
        got = read_until(call, lambda rs: sum(r.HasField("frame") for r in rs) == 5)
    finally:
        call.cancel()
        up.end()
    assert [r.frame.index for r in got if r.HasField("frame")] == [0, 1, 2, 3, 4]


def test_client_gone_only_when_the_last_stream_of_a_client_ends(
    served: tuple[GrpcServer, FakeRuntime], stub: Any
) -> None:
    """A reconnect's new stream takes over from the old one without the client counting as gone."""
    _, runtime = served
    m = meta("twice")
    ups = [Upstream(), Upstream()]
    calls = []

    def pings_seen(n: int) -> bool:
        return sum(kind == "ping" for _, kind in runtime.requests) == n

    try:
        for n, up in enumerate(ups, 1):
            calls.append(stub.Perform(iter(up), metadata=m, timeout=DEADLINE_S))
            up.send(pb.PerformRequest(id=n, ping=pb.Ping(t_us=n)))
            wait_for(functools.partial(pings_seen, n))  # this stream is the client's now
        time.sleep(0.3)  # the first stream has ended, taken over
        assert runtime.gone == []
        calls[1].cancel()
        wait_for(lambda: bool(runtime.gone))
        time.sleep(0.1)  # a second, wrong notification would show up here
        assert runtime.gone == ["grpc:twice"]
    finally:
        for call, up in zip(calls, ups, strict=False):
            call.cancel()
            up.end()


def wait_for(condition: Callable[[], bool], timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- health, shutdown ---------------------------------------------------------------------------


def test_health_turns_not_serving_when_the_server_stops(
    served: tuple[GrpcServer, FakeRuntime],
) -> None:
    server, _ = served
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "lpm.v1.Lpm"):
            check = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=DEADLINE_S)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(
            health_pb2.HealthCheckRequest(service="lpm.v1.Lpm"), timeout=DEADLINE_S
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        stopper = threading.Thread(target=server.stop, kwargs={"grace_s": 0.5})
        stopper.start()
        try:
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        finally:
            watch.cancel()
            stopper.join(DEADLINE_S)
        assert not stopper.is_alive()


def test_the_shutdown_event_reaches_a_stream_however_slow_the_health_update(
    served: tuple[GrpcServer, FakeRuntime], stub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    health = server._health
    original = health.enter_graceful_shutdown

    def slow() -> None:  # widens the window a busy machine opens now and then
        time.sleep(0.3)
        original()

    monkeypatch.setattr(health, "enter_graceful_shutdown", slow)
    up = Upstream()
    call = stub.Perform(iter(up), metadata=meta("listener"), timeout=DEADLINE_S)
    up.send(pb.PerformRequest(id=1, ping=pb.Ping()))
    read_until(call, lambda rs: rs[-1].HasField("pong"))
    stopper = threading.Thread(target=server.stop, kwargs={"grace_s": 0.5, "reason": "deploy"})
    stopper.start()
    try:
        last = read_until(call, lambda rs: rs[-1].HasField("event"))[-1]
        assert (last.event.event, last.event.reason) == ("shutdown", "deploy")
    finally:
        call.cancel()
        up.end()
        stopper.join(DEADLINE_S)


# --- TLS + token, in process ---------------------------------------------------------------------


def self_signed() -> tuple[bytes, bytes]:
    """A certificate for localhost and 127.0.0.1 and its key, both PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_tls_and_token_admit_only_the_authorised_client() -> None:
    pytest.importorskip("cryptography")
    cert, key = self_signed()
    runtime = FakeRuntime()
    server = GrpcServer(
        runtime,
        "127.0.0.1:0",
        tls=TlsConfig(cert, key),
        token="open-sesame",
        max_frames_per_session=64,
    ).start()
    target = f"127.0.0.1:{server.port}"
    try:
        with GrpcClient(target, root_cert_pem=cert, token="open-sesame", timeout_s=3) as ok:
            info = ok.create_session(width=16, height=16)
            ok.push_speak(info.session, np.full(3200, 0.1, np.float32), 16_000)
            frames = [ok.next_frame(info.session, timeout_s=DEADLINE_S) for _ in range(5)]
            assert [f.index for f in frames if f is not None] == [0, 1, 2, 3, 4]
        for token in (None, "guess"):
            with GrpcClient(target, root_cert_pem=cert, token=token, timeout_s=3) as bad:
                with pytest.raises(ProtocolError) as err:
                    bad.list_characters()
                assert err.value.code == ErrorCode.UNAUTHENTICATED
        with (
            GrpcClient(target, token="open-sesame", timeout_s=1.5) as plaintext,
            pytest.raises((ProtocolError, TimeoutError)),
        ):
            plaintext.list_characters()
        creds = grpc.ssl_channel_credentials(root_certificates=cert)
        with grpc.secure_channel(target, creds) as channel:
            # The token is checked before any handler runs; health stays open for probes.
            stub = lpm_pb2_grpc.LpmStub(channel)
            status, code, _ = refusal(
                lambda: stub.ListCharacters(
                    pb.ListCharactersRequest(),
                    metadata=(("authorization", "Bearer guess"),),
                    timeout=DEADLINE_S,
                )
            )
            assert (status, code) == (grpc.StatusCode.UNAUTHENTICATED, ErrorCode.UNAUTHENTICATED)
            check = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="lpm.v1.Lpm"), timeout=DEADLINE_S
            )
            assert check.status == health_pb2.HealthCheckResponse.SERVING
        assert all(kind != "list_characters" for _, kind in runtime.requests)
    finally:
        server.stop(grace_s=0.2)
