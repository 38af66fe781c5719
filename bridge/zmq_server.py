"""ZeroMQ data plane (DESIGN §7): the ROUTER server.

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

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, cast

import zmq
import zmq.asyncio
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from bridge.handler import ClientId, Outbox, RuntimeHandler
from bridge.protocol import (
    Error,
    ErrorCode,
    Event,
    Message,
    ProtocolError,
    decode_request,
    encode,
    request_id_of,
)
from bridge.zmq_common import (
    _MAX_POLL_S,
    _RECV_BATCH,
    _SEND_BATCH,
    _ZAP_DOMAIN,
    DEFAULT_ENDPOINT,
    MAX_MESSAGE_BYTES,
    SERVER_SNDHWM,
    SHUTDOWN_FLUSH_S,
    CurveConfig,
    _AllowedKeys,
    _Waker,
)

log = logging.getLogger(__name__)

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
