"""ZeroMQ data plane (DESIGN §7): a ROUTER server and DEALER clients (blocking and asyncio).

Wire shape, both directions: multipart ``[header, *payload]`` as :func:`bridge.protocol.encode`
makes it; the ROUTER sees ``[routing id, header, *payload]``. Pixels and PCM travel as their own
parts and are sent without copying them into msgpack.

Threading: a zmq socket is not thread-safe, so each side has exactly ONE thread that touches its
socket. Other threads (the runtime producing frames, a game pushing audio) hand work over through
a thread-safe structure (the :class:`~bridge.handler.Outbox`, a deque) and wake the socket thread
through an inproc PAIR pair (:class:`_Waker`), so nothing busy-waits.

Flow control: the server keeps libzmq's per-peer queue short (``SNDHWM`` = 16 messages) and sends
with ``NOBLOCK``; when a peer's pipe is full it stops sending to that peer and leaves the rest in
the peer's outbox, whose per-session frame ring drops the oldest frames. A slow consumer therefore
costs at most ``max_frames_per_session`` frames of server memory per session and never slows the
runtime or another client.

Liveness: clients ping every ``heartbeat_s``; a peer silent for ``client_timeout_s`` (or whose
outbox overflowed with control messages) is dropped and reported to
:meth:`~bridge.handler.RuntimeHandler.client_gone` once.

Security: CurveZMQ, off by default (loopback). :class:`CurveConfig` turns it on; keys are Z85
text (40 characters), stored in ZeroMQ certificate files (:func:`save_keys`, :func:`load_keys`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import zmq
import zmq.asyncio
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils.monitor import recv_monitor_message

from bridge.client import Client
from bridge.handler import ClientId, Outbox, RuntimeHandler
from bridge.protocol import (
    CharacterInfo,
    CharacterPrepared,
    Characters,
    CloseSession,
    CreateSession,
    EndOfSpeech,
    Error,
    ErrorCode,
    Event,
    Frame,
    GetStats,
    Interrupt,
    ListCharacters,
    ListenAudio,
    Message,
    Ping,
    Pong,
    PrepareCharacter,
    ProtocolError,
    Reply,
    ResumeSession,
    SessionInfo,
    SetPrompt,
    SpeakAudio,
    Stats,
    Subscribe,
    TriggerEmote,
    decode_reply,
    decode_request,
    encode,
    request_id_of,
)

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7701"
SERVER_SNDHWM = 16  # messages libzmq may queue per peer; the rest waits in the peer's outbox
MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # per part; libzmq disconnects a peer that sends more
CLIENT_MAX_OUTGOING = 1024  # messages a client buffers when libzmq's own queue (HWM) is full
SHUTDOWN_FLUSH_S = 1.0  # how long stop() tries to deliver the shutdown event to each client
_ZAP_DOMAIN = "lpm"  # the authenticator's rules are per domain; this server uses one
_RECV_BATCH = 128  # messages read per loop turn before the server flushes outboxes (fairness)
_SEND_BATCH = 256  # messages sent to one peer per loop turn
_MAX_POLL_S = 0.25
_MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)

ReplyT = TypeVar("ReplyT", bound=Message)


# ---------------------------------------------------------------------------------------------
# CURVE keys


@dataclass(frozen=True)
class CurveConfig:
    """CurveZMQ settings of a server. Keys are Z85 text (40 bytes each).

    ``allowed_client_keys``: public keys of the clients let in; None lets in any client that
    knows the server's public key (encryption without client authentication).
    """

    server_secret_key: bytes
    server_public_key: bytes
    allowed_client_keys: list[bytes] | None = None

    def __post_init__(self) -> None:
        keys = [self.server_secret_key, self.server_public_key, *(self.allowed_client_keys or [])]
        for key in keys:
            _check_z85_key(key)


def _check_z85_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != 40:
        raise ValueError("CURVE keys are 40-byte Z85 text (as zmq.curve_keypair() returns)")


def generate_keypair() -> tuple[bytes, bytes]:
    """A new CURVE key pair ``(public, secret)``, Z85 text."""
    public, secret = zmq.curve_keypair()
    return public, secret


def save_keys(path: str | os.PathLike[str], public: bytes, secret: bytes | None = None) -> None:
    """Write a ZeroMQ certificate file (czmq/pyzmq ``zcert`` format) with Z85 keys.

    With ``secret`` the file is created with mode 0600 (only the owner may read it); without,
    it is a public certificate meant to be handed to the other side.
    """
    _check_z85_key(public)
    lines = [
        "#   ZeroMQ CURVE certificate written by lpm bridge",
        "#   DO NOT SHARE a file that holds a secret-key.",
        "metadata",
        "curve",
        f'    public-key = "{public.decode("ascii")}"',
    ]
    if secret is not None:
        _check_z85_key(secret)
        lines.append(f'    secret-key = "{secret.decode("ascii")}"')
    text = "\n".join(lines) + "\n"
    mode = 0o600 if secret is not None else 0o644
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    os.chmod(path, mode)  # O_CREAT's mode does not apply to a file that already existed


def load_keys(path: str | os.PathLike[str]) -> tuple[bytes, bytes | None]:
    """Read ``(public, secret or None)`` from a certificate file written by :func:`save_keys`."""
    public, secret = zmq.auth.load_certificate(Path(path))
    _check_z85_key(public)
    if secret is not None:
        _check_z85_key(secret)
    return public, secret


class _AllowedKeys:
    """ZAP credentials provider for ThreadAuthenticator: a fixed set of client public keys."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = frozenset(keys)

    def callback(self, domain: str, key: bytes) -> bool:
        allowed = key in self._keys
        if not allowed:
            log.warning("CURVE client key refused: %s", key.decode("ascii", "replace"))
        return allowed


# ---------------------------------------------------------------------------------------------
# Shared plumbing


class _Waker:
    """Wakes the thread that owns a socket, from any thread: an inproc PAIR pair.

    At most one wake-up byte is in flight (``_pending``), so producers never block and the
    pipe never fills. The owner polls :attr:`receiver` and calls :meth:`drain` BEFORE looking at
    the shared structures, so a wake-up after the drain is never lost.
    """

    def __init__(self, ctx: zmq.Context[Any]) -> None:
        address = f"inproc://lpm-wake-{uuid.uuid4().hex}"
        self.receiver: zmq.Socket[Any] = ctx.socket(zmq.PAIR)
        self.receiver.bind(address)
        self._sender: zmq.Socket[Any] = ctx.socket(zmq.PAIR)
        self._sender.connect(address)
        self._lock = threading.Lock()  # the sender is used from many threads, one at a time
        self._pending = False
        self._closed = False

    def wake(self) -> None:
        with self._lock:
            if self._pending or self._closed:
                return
            self._pending = True
            with contextlib.suppress(zmq.ZMQError):
                self._sender.send(b"", zmq.NOBLOCK)

    def drain(self) -> None:
        with self._lock:
            self._pending = False
        while True:
            try:
                self.receiver.recv(zmq.NOBLOCK)
            except zmq.Again:
                return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._sender.close(linger=0)
        self.receiver.close(linger=0)


def _new_routing_id() -> bytes:
    """16 random bytes; libzmq reserves routing ids that start with a zero byte."""
    rid = bytearray(uuid.uuid4().bytes)
    rid[0] = rid[0] or 1
    return bytes(rid)


def _snapshot_parts(message: Message) -> list[bytes]:
    """Encoded parts as owned bytes.

    The caller's numpy audio buffer may be reused as soon as ``push_speak`` returns, while the
    socket thread sends later: copy it now (audio chunks are kilobytes).
    """
    return [p if isinstance(p, bytes) else bytes(p) for p in encode(message)]


def _decode_incoming(frames: Sequence[zmq.Frame]) -> Message | None:
    """Decode a server → client message without copying payload parts (None: undecodable)."""
    if not frames:
        return None
    parts = [frames[0].bytes, *(f.buffer for f in frames[1:])]
    try:
        return decode_reply(cast(list[bytes], parts))
    except (ProtocolError, TypeError, ValueError, KeyError) as exc:
        log.warning("undecodable message from the server: %s", exc)
        return None


def _make_dealer(
    sock: zmq.Socket[Any],
    endpoint: str,
    routing_id: bytes,
    server_public_key: bytes | None,
    client_keys: tuple[bytes, bytes] | None,
) -> None:
    """Configure and connect a client DEALER (blocking or asyncio flavour)."""
    sock.setsockopt(zmq.ROUTING_ID, routing_id)
    sock.setsockopt(zmq.LINGER, 0)
    if server_public_key is not None:
        _check_z85_key(server_public_key)
        public, secret = client_keys if client_keys is not None else generate_keypair()
        _check_z85_key(public)
        _check_z85_key(secret)
        sock.setsockopt(zmq.CURVE_SERVERKEY, server_public_key)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    elif client_keys is not None:
        raise ValueError("client_keys need server_public_key (CURVE is enabled by the server key)")
    sock.connect(endpoint)


def _check_reply(request: Message, reply: Message, expect: type[ReplyT]) -> ReplyT:
    if isinstance(reply, Error):
        raise reply.to_exception()
    if not isinstance(reply, expect):
        raise ProtocolError(
            ErrorCode.INTERNAL,
            f"expected {expect.TYPE} in reply to {request.TYPE}, got {reply.TYPE}",
        )
    return reply


def _handshake_problem(event: int, value: int) -> str | None:
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return f"the server refused this client's CURVE key (ZAP status {value})"
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        return "security handshake failed: client and server disagree on CURVE keys or mechanism"
    if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        return "security handshake failed (wrong server public key?)"
    return None


# ---------------------------------------------------------------------------------------------
# Server


@dataclass
class _Peer:
    """What the server knows of one DEALER (routing id)."""

    identity: bytes
    client_id: ClientId
    outbox: Outbox
    last_seen: float
    stalled: Message | None = None  # taken from the outbox but refused by libzmq (pipe full)
    retry_at: float = 0.0
    backoff_s: float = 0.0
    sent: int = 0
    stalls: int = 0


class ZmqServer:
    """ROUTER endpoint serving a :class:`~bridge.handler.RuntimeHandler`.

    ``endpoint``: where to bind; port 0 (or ``*``) picks a free port, see :attr:`bound_endpoint`.
    ``client_timeout_s``: a client that sent nothing (not even a ping) for this long is dropped.
    ``max_frames_per_session``: frames each client's outbox keeps per session before dropping
    the oldest (server memory per slow client is bounded by this).
    """

    def __init__(
        self,
        handler: RuntimeHandler,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        security: CurveConfig | None = None,
        client_timeout_s: float = 5.0,
        max_frames_per_session: int = 32,
    ) -> None:
        if client_timeout_s <= 0:
            raise ValueError("client_timeout_s must be positive")
        self.handler = handler
        self.endpoint = endpoint
        self.security = security
        self.client_timeout_s = client_timeout_s
        self.max_frames_per_session = max_frames_per_session
        self._ctx: zmq.Context[Any] | None = None
        self._router: zmq.Socket[Any] | None = None
        self._waker: _Waker | None = None
        self._auth: ThreadAuthenticator | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._stopping = threading.Event()
        self._stop_reason = "shutdown"
        self._bound_endpoint: str | None = None
        self._peers: dict[bytes, _Peer] = {}
        self._peers_lock = threading.Lock()  # readers on other threads: outbox(), client_ids()
        self._dirty: set[bytes] = set()  # peers whose outbox got something (from on_ready)
        self._dirty_lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> ZmqServer:
        """Bind and start the socket thread; returns once bound (raises if binding failed)."""
        if self._thread is not None:
            raise RuntimeError("ZmqServer.start() called twice")
        self._thread = threading.Thread(target=self._run, name="lpm-zmq-server", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise TimeoutError(f"ZeroMQ server did not bind {self.endpoint} in {timeout_s} s")
        if self._start_error is not None:
            self._thread.join()
            raise self._start_error
        return self

    @property
    def bound_endpoint(self) -> str:
        """The endpoint actually bound (with the real port when port 0 was asked for)."""
        if self._bound_endpoint is None:
            raise RuntimeError("the server is not started")
        return self._bound_endpoint

    def stop(self, reason: str = "shutdown") -> None:
        """Tell every client ``Event(event="shutdown", reason=reason)``, flush ~1 s, close.

        Idempotent; safe from any thread except the socket thread itself.
        """
        if not self._stopping.is_set():
            self._stop_reason = reason
            self._stopping.set()
        if self._waker is not None:
            self._waker.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=SHUTDOWN_FLUSH_S + 5.0)
            if self._thread.is_alive():
                log.error("ZeroMQ server thread did not stop")

    def __enter__(self) -> ZmqServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- introspection (any thread) ----------------------------------------------------------

    def client_ids(self) -> list[ClientId]:
        """Clients the server currently knows (connected and not timed out)."""
        with self._peers_lock:
            return [p.client_id for p in self._peers.values()]

    def outbox(self, client_id: ClientId) -> Outbox | None:
        """The outbox of a known client (diagnostics and tests: its size is server memory)."""
        with self._peers_lock:
            for peer in self._peers.values():
                if peer.client_id == client_id:
                    return peer.outbox
        return None

    # --- socket thread -----------------------------------------------------------------------

    def _open(self) -> None:
        self._ctx = ctx = zmq.Context()
        router = ctx.socket(zmq.ROUTER)
        self._router = router
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # unknown peer → EHOSTUNREACH, HWM → EAGAIN
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reconnect with the same id takes over
        router.setsockopt(zmq.SNDHWM, SERVER_SNDHWM)
        router.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        router.setsockopt(zmq.LINGER, 0)
        if self.security is not None:
            self._auth = ThreadAuthenticator(ctx, log=logging.getLogger(__name__ + ".auth"))
            self._auth.start()
            allowed = self.security.allowed_client_keys
            if allowed is None:
                self._auth.configure_curve(domain=_ZAP_DOMAIN, location=zmq.auth.CURVE_ALLOW_ANY)
            else:
                provider = _AllowedKeys(allowed)
                self._auth.configure_curve_callback(_ZAP_DOMAIN, credentials_provider=provider)
            router.setsockopt(zmq.CURVE_SERVER, 1)
            router.setsockopt(zmq.CURVE_SECRETKEY, self.security.server_secret_key)
            router.setsockopt(zmq.CURVE_PUBLICKEY, self.security.server_public_key)
            router.setsockopt(zmq.ZAP_DOMAIN, _ZAP_DOMAIN.encode())
        endpoint = self.endpoint
        if endpoint.startswith("tcp://") and endpoint.endswith(":0"):
            endpoint = endpoint[:-2] + ":*"
        router.bind(endpoint)
        last = router.getsockopt(zmq.LAST_ENDPOINT)
        self._bound_endpoint = last.decode() if isinstance(last, bytes) else str(last)
        self._waker = _Waker(ctx)
        log.info(
            "ZeroMQ data plane on %s (CURVE %s)",
            self._bound_endpoint,
            "on" if self.security is not None else "off",
        )

    def _run(self) -> None:
        try:
            self._open()
        except BaseException as exc:
            self._start_error = exc
            self._close_sockets(linger_ms=0)
            self._started.set()
            return
        self._started.set()
        try:
            self._loop()
        finally:
            self._shutdown()

    def _loop(self) -> None:
        assert self._router is not None and self._waker is not None
        router, waker = self._router, self._waker
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(waker.receiver, zmq.POLLIN)
        sweep_every = min(self.client_timeout_s / 4, _MAX_POLL_S)
        next_sweep = time.monotonic() + sweep_every
        while not self._stopping.is_set():
            try:
                timeout_s = self._poll_timeout(time.monotonic(), next_sweep)
                ready = dict(poller.poll(round(timeout_s * 1000.0)))
                if waker.receiver in ready:
                    waker.drain()
                if router in ready:
                    self._receive_batch(router)
                self._flush(time.monotonic())
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + sweep_every
            except zmq.ContextTerminated:
                return
            except Exception:  # a bug here must not take every client down with it
                log.exception("ZeroMQ server loop error (continuing)")
                time.sleep(0.01)

    def _poll_timeout(self, now: float, next_sweep: float) -> float:
        with self._dirty_lock:
            if self._dirty:
                return 0.0
        deadline = next_sweep
        for peer in self._peers.values():
            if peer.stalled is not None:
                deadline = min(deadline, peer.retry_at)
        return min(max(deadline - now, 0.0), _MAX_POLL_S)

    def _receive_batch(self, router: zmq.Socket[Any]) -> None:
        for _ in range(_RECV_BATCH):
            try:
                frames = router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._on_message(frames[0].bytes, frames[1:])

    def _peer(self, identity: bytes, now: float) -> _Peer:
        known = self._peers.get(identity)
        if known is not None:
            known.last_seen = now
            return known

        def on_ready(identity: bytes = identity) -> None:
            # Runs on whichever thread put into the outbox: mark the peer, wake the socket.
            with self._dirty_lock:
                self._dirty.add(identity)
            if self._waker is not None:
                self._waker.wake()

        outbox = Outbox(max_frames=self.max_frames_per_session, on_ready=on_ready)
        peer = _Peer(identity, "zmq:" + identity.hex(), outbox, now)
        with self._peers_lock:
            self._peers[identity] = peer
        log.info("client %s connected", peer.client_id)
        return peer

    def _on_message(self, identity: bytes, frames: Sequence[zmq.Frame]) -> None:
        peer = self._peer(identity, time.monotonic())
        header = frames[0].bytes if frames else b""
        try:
            # Payload parts stay in libzmq's buffers (memoryviews); decoding copies only what
            # it keeps (the mono float32 samples).
            parts = [header, *(f.buffer for f in frames[1:])] if frames else []
            message = decode_request(cast(list[bytes], parts))
        except ProtocolError as exc:
            # debug, not info: a broken or hostile client must not be able to flood the log;
            # the client itself gets the full explanation.
            log.debug("refused message from %s: %s", peer.client_id, exc)
            peer.outbox.put(Error.from_exception(exc, request_id_of(header)))
            return
        except Exception:
            log.exception("decoding a message from %s failed", peer.client_id)
            peer.outbox.put(self._internal_error(request_id_of(header), "decoding"))
            return
        self._handle(peer, message)

    def _handle(self, peer: _Peer, message: Message) -> None:
        try:
            reply = self.handler.handle(peer.client_id, message, peer.outbox)
        except ProtocolError as exc:
            log.debug("refused %s from %s: %s", message.TYPE, peer.client_id, exc)
            reply = Error.from_exception(exc, message.request_id)
        except Exception:
            log.exception("handler failed on %s from %s", message.TYPE, peer.client_id)
            reply = self._internal_error(message.request_id, message.TYPE)
        if isinstance(reply, Future):
            # A slow request (preparing a character): never wait on the socket thread; the
            # outcome goes through the outbox, which wakes this thread, when it is ready.
            reply.add_done_callback(
                lambda done: self._deliver(peer, message, self._outcome(peer, message, done))
            )
        else:
            self._deliver(peer, message, reply)

    def _outcome(self, peer: _Peer, message: Message, done: Future[Message]) -> Message | None:
        try:
            return done.result()
        except ProtocolError as exc:
            log.debug("refused %s from %s: %s", message.TYPE, peer.client_id, exc)
            return Error.from_exception(exc, message.request_id)
        except BaseException:  # includes CancelledError: the caller must hear something
            log.exception("handler failed on %s from %s", message.TYPE, peer.client_id)
            return self._internal_error(message.request_id, message.TYPE)

    @staticmethod
    def _deliver(peer: _Peer, message: Message, reply: Message | None) -> None:
        if reply is None:
            return
        if reply.request_id != message.request_id:
            reply = dataclasses.replace(reply, request_id=message.request_id)
        peer.outbox.put(reply)

    @staticmethod
    def _internal_error(request_id: int, what: str) -> Error:
        code = ErrorCode.INTERNAL
        text = f"internal server error while handling {what}; see the server log"
        return Error(code=int(code), name=code.name, message=text, request_id=request_id)

    def _flush(self, now: float) -> None:
        with self._dirty_lock:
            due, self._dirty = self._dirty, set()
        for stalled in list(self._peers.values()):
            if stalled.stalled is not None and stalled.retry_at <= now:
                due.add(stalled.identity)
        for identity in due:
            peer = self._peers.get(identity)
            if peer is None or (peer.stalled is not None and peer.retry_at > now):
                continue
            self._flush_peer(peer, now)

    def _flush_peer(self, peer: _Peer, now: float) -> None:
        assert self._router is not None
        for _ in range(_SEND_BATCH):
            message = peer.stalled
            if message is None:
                taken = peer.outbox.take(limit=1)
                if not taken:
                    return
                message = taken[0]
            try:
                self._router.send_multipart(
                    [peer.identity, *encode(message)], flags=zmq.NOBLOCK, copy=False
                )
            except zmq.Again:
                # Peer pipe full (slow consumer): keep this one message, retry with backoff;
                # everything else waits in the outbox, whose frame ring drops the oldest.
                if peer.stalled is None:
                    peer.stalls += 1
                peer.stalled = message
                peer.backoff_s = min(max(peer.backoff_s * 2, 0.002), 0.05)
                peer.retry_at = now + peer.backoff_s
                return
            except zmq.ZMQError as exc:
                if exc.errno == zmq.EHOSTUNREACH:
                    self._drop(peer, "disconnected")
                    return
                raise
            peer.stalled = None
            peer.backoff_s = 0.0
            peer.sent += 1
        with self._dirty_lock:  # more to send: come back next turn, after reading
            self._dirty.add(peer.identity)

    def _sweep(self, now: float) -> None:
        for peer in list(self._peers.values()):
            if peer.outbox.overflowed:
                self._drop(peer, "stopped reading (control messages overflowed)")
            elif now - peer.last_seen > self.client_timeout_s:
                self._drop(peer, f"silent for {now - peer.last_seen:.1f} s")

    def _drop(self, peer: _Peer, why: str) -> None:
        with self._peers_lock:
            if self._peers.get(peer.identity) is not peer:
                return
            del self._peers[peer.identity]
        log.info("client %s gone: %s", peer.client_id, why)
        peer.outbox.close()
        try:
            self.handler.client_gone(peer.client_id)
        except Exception:
            log.exception("handler.client_gone(%s) failed", peer.client_id)

    def _shutdown(self) -> None:
        """Socket thread, last act: shutdown event to everyone, bounded flush, close."""
        router = self._router
        deadline = time.monotonic() + SHUTDOWN_FLUSH_S
        peers = list(self._peers.values())
        if router is not None and peers:
            event = encode(Event(event="shutdown", reason=self._stop_reason))
            waiting = list(peers)
            while waiting and time.monotonic() < deadline:
                still: list[_Peer] = []
                for peer in waiting:
                    try:
                        router.send_multipart([peer.identity, *event], flags=zmq.NOBLOCK)
                    except zmq.Again:
                        still.append(peer)
                    except zmq.ZMQError:
                        pass  # gone already
                waiting = still
                if waiting:
                    time.sleep(0.005)
            if waiting:
                log.warning("%d client(s) did not take the shutdown event", len(waiting))
        for peer in peers:
            self._drop(peer, "server shutdown")
        remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
        self._close_sockets(linger_ms=remaining_ms)
        log.info("ZeroMQ data plane on %s stopped", self._bound_endpoint)

    def _close_sockets(self, linger_ms: int) -> None:
        if self._router is not None:
            self._router.close(linger=linger_ms)  # lets libzmq write what it already holds
            self._router = None
        if self._waker is not None:
            self._waker.close()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None


# ---------------------------------------------------------------------------------------------
# Blocking client


class ZmqClient(Client):
    """DEALER client of a :class:`ZmqServer`; see :class:`bridge.client.Client` for the API.

    One background thread owns the socket; the caller's threads hand it messages through a
    deque and a wake-up, and wait for replies on futures keyed by request id. Frames, events and
    refusals of fire-and-forget messages go to the receive side (:meth:`next_frame`,
    :meth:`events`). A ``Ping`` every ``heartbeat_s`` keeps the server from dropping this client.

    CURVE: pass the server's public key (Z85); ``client_keys`` = ``(public, secret)`` of this
    client (a fresh pair is made when omitted, which a server with an allow-list refuses).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        server_public_key: bytes | None = None,
        client_keys: tuple[bytes, bytes] | None = None,
        timeout_s: float = 10.0,
        max_frames: int = 64,
        heartbeat_s: float = 1.0,
    ) -> None:
        super().__init__(timeout_s=timeout_s, max_frames=max_frames)
        if heartbeat_s <= 0:
            raise ValueError("heartbeat_s must be positive")
        self.endpoint = endpoint
        self.heartbeat_s = heartbeat_s
        self.routing_id = _new_routing_id()
        self.curve = server_public_key is not None
        self.last_heard: float | None = None  # time.monotonic() of the last server message
        self.shutdown_event: Event | None = None  # set when the server announced a shutdown
        self.handshake_problem: str | None = None  # last CURVE handshake failure, if any
        self._ctx: zmq.Context[Any] = zmq.Context.instance()
        self._outgoing: deque[list[bytes]] = deque()
        self._pending: dict[int, Future[Message]] = {}
        self._pending_lock = threading.Lock()
        self._closing = threading.Event()
        self._sock: zmq.Socket[Any] = self._ctx.socket(zmq.DEALER)
        try:
            self._monitor = self._sock.get_monitor_socket(_MONITOR_EVENTS)
            _make_dealer(self._sock, endpoint, self.routing_id, server_public_key, client_keys)
            self._waker = _Waker(self._ctx)
        except BaseException:
            self._sock.close(linger=0)
            raise
        # The socket was made here; from now on only the thread touches it (Thread.start()
        # is the memory barrier libzmq asks for when a socket changes threads).
        self._thread = threading.Thread(target=self._run, name="lpm-zmq-client", daemon=True)
        self._thread.start()

    @property
    def client_id(self) -> ClientId:
        """How the server names this client (``zmq:<routing id hex>``)."""
        return "zmq:" + self.routing_id.hex()

    @property
    def connected(self) -> bool:
        """Heard from the server within three heartbeats."""
        heard = self.last_heard
        return heard is not None and time.monotonic() - heard < 3 * self.heartbeat_s

    # --- transport ---------------------------------------------------------------------------

    def _request_impl(self, message: Message, timeout_s: float) -> Message:
        future: Future[Message] = Future()
        with self._pending_lock:
            self._pending[message.request_id] = future
        try:
            self._enqueue(_snapshot_parts(message))
            return future.result(timeout_s)
        except FutureTimeout:
            hint = self.handshake_problem or (
                "is the server running and reachable"
                + (", and does it accept this client's CURVE key?" if self.curve else "?")
            )
            raise TimeoutError(
                f"no reply to {message.TYPE} (request {message.request_id}) from "
                f"{self.endpoint} within {timeout_s:.1f} s: {hint}"
            ) from None
        finally:
            with self._pending_lock:
                self._pending.pop(message.request_id, None)

    def _send_impl(self, message: Message) -> None:
        self._enqueue(_snapshot_parts(message))

    def _enqueue(self, parts: list[bytes]) -> None:
        if self._closing.is_set():
            raise ConnectionError("the ZeroMQ client is closed")
        if len(self._outgoing) >= CLIENT_MAX_OUTGOING:
            raise ConnectionError(
                f"{len(self._outgoing)} messages wait to be sent to {self.endpoint}: "
                "the server is not reading"
            )
        self._outgoing.append(parts)
        self._waker.wake()

    def _close_impl(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self._waker.wake()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    # --- socket thread -----------------------------------------------------------------------

    def _run(self) -> None:
        sock, waker, monitor = self._sock, self._waker, self._monitor
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(waker.receiver, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        next_ping = time.monotonic()
        retry_send = False
        try:
            while not self._closing.is_set():
                now = time.monotonic()
                if now >= next_ping:
                    ping = Ping(t_us=time.monotonic_ns() // 1000, request_id=self._next_id())
                    self._outgoing.append(_snapshot_parts(ping))
                    next_ping = now + self.heartbeat_s
                timeout_s = min(next_ping - now, 0.005 if retry_send else _MAX_POLL_S)
                try:
                    ready = dict(poller.poll(round(max(timeout_s, 0.0) * 1000.0)))
                    if waker.receiver in ready:
                        waker.drain()
                    if monitor in ready:
                        self._read_monitor(monitor)
                    if sock in ready:
                        self._receive_batch(sock)
                    retry_send = not self._send_outgoing(sock)
                except zmq.ContextTerminated:
                    return
                except Exception:
                    log.exception("ZeroMQ client loop error (continuing)")
                    time.sleep(0.01)
        finally:
            with self._pending_lock:
                pending, self._pending = list(self._pending.values()), {}
            for future in pending:
                if not future.done():
                    future.set_exception(ConnectionError("the ZeroMQ client was closed"))
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)
            waker.close()

    def _send_outgoing(self, sock: zmq.Socket[Any]) -> bool:
        """Send what callers queued; False when libzmq's queue is full (retry shortly)."""
        while self._outgoing:
            parts = self._outgoing[0]
            try:
                sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return False
            self._outgoing.popleft()
        return True

    def _receive_batch(self, sock: zmq.Socket[Any]) -> None:
        for _ in range(_RECV_BATCH):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            message = _decode_incoming(frames)
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: Message) -> None:
        self.last_heard = time.monotonic()
        self.handshake_problem = None
        if not isinstance(message, Frame | Event) and message.request_id:
            with self._pending_lock:
                future = self._pending.pop(message.request_id, None)
            if future is not None:
                if not future.done():
                    future.set_result(message)
                return
            if not isinstance(message, Error):
                return  # a heartbeat's pong, or a reply that came after its caller gave up
        if isinstance(message, Event) and message.event == "shutdown":
            self.shutdown_event = message
            log.warning("server %s is shutting down (%s)", self.endpoint, message.reason)
        self._receive(message)

    def _read_monitor(self, monitor: zmq.Socket[Any]) -> None:
        while True:
            try:
                info = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            problem = _handshake_problem(int(info["event"]), int(info.get("value") or 0))
            if problem is not None:
                if problem != self.handshake_problem:
                    log.warning("%s: %s", self.endpoint, problem)
                self.handshake_problem = problem
            elif info["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.handshake_problem = None


# ---------------------------------------------------------------------------------------------
# asyncio client


class AsyncZmqClient:
    """asyncio flavour of :class:`ZmqClient`: the same methods, as coroutines.

    Everything runs on the event loop that first uses the client (zmq.asyncio); a receive task
    matches replies to request ids and keeps frames per session (the oldest are dropped past
    ``max_frames``) and events; a heartbeat task pings every ``heartbeat_s``. Use it as
    ``async with AsyncZmqClient(...) as client:`` or call :meth:`close`.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        server_public_key: bytes | None = None,
        client_keys: tuple[bytes, bytes] | None = None,
        timeout_s: float = 10.0,
        max_frames: int = 64,
        heartbeat_s: float = 1.0,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.max_frames = max_frames
        self.heartbeat_s = heartbeat_s
        self.routing_id = _new_routing_id()
        self.curve = server_public_key is not None
        self.dropped_frames = 0
        self.last_heard: float | None = None
        self.shutdown_event: Event | None = None
        self._ctx = zmq.asyncio.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        try:
            _make_dealer(self._sock, endpoint, self.routing_id, server_public_key, client_keys)
        except BaseException:
            self._sock.close(linger=0)
            raise
        self._next = 0
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._frames: dict[str, deque[Frame]] = {}
        self._latest: dict[str, Frame] = {}
        self._events: deque[Event] = deque(maxlen=1024)
        self._arrived: asyncio.Condition | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @property
    def client_id(self) -> ClientId:
        return "zmq:" + self.routing_id.hex()

    async def __aenter__(self) -> AsyncZmqClient:
        self._ensure_started()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- requests ----------------------------------------------------------------------------

    async def create_session(
        self,
        character: str | None = None,
        *,
        encoding: str = "rgba8",
        width: int | None = None,
        height: int | None = None,
        jpeg_quality: int = 85,
        prompt: str | None = None,
        seed: int = 0,
    ) -> SessionInfo:
        msg = CreateSession(
            character=character,
            encoding=encoding,
            width=width,
            height=height,
            jpeg_quality=jpeg_quality,
            prompt=prompt,
            seed=seed,
        )
        return await self._request(msg, SessionInfo)

    async def resume_session(self, session: str) -> SessionInfo:
        return await self._request(ResumeSession(session=session), SessionInfo)

    async def close_session(self, session: str) -> None:
        await self._request(CloseSession(session=session), Reply)
        self._frames.pop(session, None)

    async def subscribe(self, session: str) -> None:
        await self._request(Subscribe(session=session), Reply)

    async def set_prompt(self, session: str, prompt: str | None) -> None:
        await self._request(SetPrompt(session=session, prompt=prompt), Reply)

    async def trigger_emote(
        self, session: str, emote: str, *, intensity: float = 0.8, duration_s: float = 2.0
    ) -> None:
        msg = TriggerEmote(session=session, emote=emote, intensity=intensity, duration_s=duration_s)
        await self._request(msg, Reply)

    async def interrupt(self, session: str) -> None:
        await self._request(Interrupt(session=session), Reply)

    async def end_of_speech(self, session: str) -> None:
        await self._send(EndOfSpeech(session=session))

    async def stats(self, session: str) -> dict[str, float]:
        return dict((await self._request(GetStats(session=session), Stats)).values)

    async def ping(self) -> Pong:
        return await self._request(Ping(t_us=time.monotonic_ns() // 1000), Pong)

    async def list_characters(self) -> Characters:
        return await self._request(ListCharacters(), Characters)

    async def prepare_character(
        self, name: str, image: bytes, *, face_index: int | None = None
    ) -> CharacterInfo:
        msg = PrepareCharacter(name=name, image=image, face_index=face_index)
        reply = await self._request(msg, CharacterPrepared, max(self.timeout_s, 120.0))
        if reply.character is None:
            raise ProtocolError(ErrorCode.PREPARE_FAILED, "the server returned no character")
        return reply.character

    async def push_speak(
        self,
        session: str,
        samples: np.ndarray,
        sample_rate: int,
        *,
        pts_us: int | None = None,
        format: str = "f32",
    ) -> None:
        """Send the NPC's voice (mono float samples in [-1, 1]); no reply unless refused."""
        samples = np.asarray(samples, np.float32)
        msg = SpeakAudio(
            session=session, samples=samples, sample_rate=sample_rate, pts_us=pts_us, format=format
        )
        await self._send(msg)

    async def push_listen(
        self,
        session: str,
        samples: np.ndarray,
        sample_rate: int,
        *,
        pts_us: int | None = None,
        format: str = "f32",
    ) -> None:
        """Send the player's voice as the NPC hears it."""
        samples = np.asarray(samples, np.float32)
        msg = ListenAudio(
            session=session, samples=samples, sample_rate=sample_rate, pts_us=pts_us, format=format
        )
        await self._send(msg)

    # --- receiving ---------------------------------------------------------------------------

    async def next_frame(self, session: str, timeout_s: float | None = None) -> Frame | None:
        """The oldest frame not yet taken for ``session``, waiting up to ``timeout_s``."""
        arrived = self._ensure_started()
        try:
            async with asyncio.timeout(timeout_s), arrived:
                await arrived.wait_for(lambda: bool(self._frames.get(session)))
                return self._frames[session].popleft()
        except TimeoutError:
            return None

    async def latest_frame(self, session: str) -> Frame | None:
        """The newest frame received for ``session``."""
        return self._latest.get(session)

    async def events(self) -> list[Event]:
        """Events received since the last call, oldest first."""
        out = list(self._events)
        self._events.clear()
        return out

    async def wait_event(self, name: str, timeout_s: float) -> Event | None:
        """Wait for an event called ``name`` (other events stay queued)."""
        arrived = self._ensure_started()
        found: list[Event] = []

        def pick() -> bool:
            for event in self._events:
                if event.event == name:
                    self._events.remove(event)
                    found.append(event)
                    return True
            return False

        try:
            async with asyncio.timeout(timeout_s), arrived:
                await arrived.wait_for(pick)
                return found[0]
        except TimeoutError:
            return None

    async def close(self) -> None:
        """Stop the tasks and close the socket (linger 0); sessions stay on the server."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the ZeroMQ client was closed"))
        self._pending.clear()
        self._sock.close(linger=0)

    # --- internals ---------------------------------------------------------------------------

    def _ensure_started(self) -> asyncio.Condition:
        if self._closed:
            raise ConnectionError("the ZeroMQ client is closed")
        if self._arrived is None:
            self._arrived = asyncio.Condition()
            self._tasks = [
                asyncio.create_task(self._receive_loop(), name="lpm-zmq-async-recv"),
                asyncio.create_task(self._heartbeat_loop(), name="lpm-zmq-async-ping"),
            ]
        return self._arrived

    def _stamp(self, message: Message) -> int:
        self._next += 1
        object.__setattr__(message, "request_id", self._next)
        return self._next

    async def _request(
        self, message: Message, expect: type[ReplyT], timeout_s: float | None = None
    ) -> ReplyT:
        self._ensure_started()
        timeout_s = timeout_s or self.timeout_s
        request_id = self._stamp(message)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            async with asyncio.timeout(timeout_s):
                await self._sock.send_multipart(_snapshot_parts(message), copy=False)
                reply = await future
        except TimeoutError:
            hint = "is the server running and reachable" + (
                ", and does it accept this client's CURVE key?" if self.curve else "?"
            )
            raise TimeoutError(
                f"no reply to {message.TYPE} (request {request_id}) from {self.endpoint} "
                f"within {timeout_s:.1f} s: {hint}"
            ) from None
        finally:
            self._pending.pop(request_id, None)
        return _check_reply(message, reply, expect)

    async def _send(self, message: Message) -> None:
        self._ensure_started()
        self._stamp(message)
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._sock.send_multipart(_snapshot_parts(message), copy=False)
        except TimeoutError:
            raise TimeoutError(
                f"could not queue {message.TYPE} for {self.endpoint} within {self.timeout_s} s: "
                "the server is not reading"
            ) from None

    async def _heartbeat_loop(self) -> None:
        while True:
            ping = Ping(t_us=time.monotonic_ns() // 1000)
            self._stamp(ping)
            try:
                async with asyncio.timeout(self.heartbeat_s):
                    await self._sock.send_multipart(_snapshot_parts(ping))
            except TimeoutError:
                log.debug("heartbeat to %s not sent (queue full)", self.endpoint)
            await asyncio.sleep(self.heartbeat_s)

    async def _receive_loop(self) -> None:
        assert self._arrived is not None
        while True:
            try:
                frames = await self._sock.recv_multipart(copy=False)
            except asyncio.CancelledError:
                raise
            except zmq.ZMQError as exc:
                log.warning("ZeroMQ receive failed: %s", exc)
                return
            message = _decode_incoming(frames)
            if message is None:
                continue
            self.last_heard = time.monotonic()
            if not isinstance(message, Frame | Event) and message.request_id:
                future = self._pending.pop(message.request_id, None)
                if future is not None:
                    if not future.done():
                        future.set_result(message)
                    continue
                if not isinstance(message, Error):
                    continue
            async with self._arrived:
                self._store(message)
                self._arrived.notify_all()

    def _store(self, message: Message) -> None:
        if isinstance(message, Frame):
            ring = self._frames.setdefault(message.session, deque())
            if len(ring) >= self.max_frames:
                ring.popleft()
                self.dropped_frames += 1
            ring.append(message)
            self._latest[message.session] = message
        elif isinstance(message, Event):
            if message.event == "shutdown":
                self.shutdown_event = message
                log.warning("server %s is shutting down (%s)", self.endpoint, message.reason)
            self._events.append(message)
        elif isinstance(message, Error):
            log.warning("server error: %s", message.to_exception())


__all__ = [
    "DEFAULT_ENDPOINT",
    "AsyncZmqClient",
    "CurveConfig",
    "ZmqClient",
    "ZmqServer",
    "generate_keypair",
    "load_keys",
    "save_keys",
]
