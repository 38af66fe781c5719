"""ZeroMQ clients: a DEALER behind the blocking :class:`~bridge.client.Client`, and asyncio.

One thread owns the socket; callers hand messages over through a queue and an inproc wake-up.
See :mod:`bridge.zmq_server` for the wire shape and flow control.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np
import zmq
import zmq.asyncio
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

from bridge.client import Client, audio_message
from bridge.handler import ClientId
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
)
from bridge.zmq_common import (
    _MAX_POLL_S,
    _MONITOR_EVENTS,
    _RECV_BATCH,
    CLIENT_MAX_OUTGOING,
    ReplyT,
    _check_reply,
    _decode_incoming,
    _handshake_problem,
    _make_dealer,
    _new_routing_id,
    _snapshot_parts,
    _Waker,
)

log = logging.getLogger(__name__)

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
        encoding: str | None = None,
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
        await self._send(audio_message(SpeakAudio, session, samples, sample_rate, pts_us, format))

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
        await self._send(audio_message(ListenAudio, session, samples, sample_rate, pts_us, format))

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
