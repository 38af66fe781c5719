"""The Python client: one interface, three transports (in-process, ZeroMQ, gRPC).

:class:`Client` holds everything that does not depend on the wire: typed request methods,
the receive side (frames per session in order, latest-wins when the caller falls behind, events)
and errors raised as :class:`~bridge.protocol.ProtocolError`. A transport supplies two methods:
``_request_impl`` (send, wait for the reply with the same request id) and ``_send_impl``
(fire and forget: audio), and feeds what arrives through :meth:`Client._receive`.

:class:`InprocClient` talks to a handler in the same process: tests and notebooks.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from concurrent.futures import Future
from typing import TypeVar

import numpy as np

from bridge.handler import ClientId, Outbox, RuntimeHandler
from bridge.protocol import (
    Audio,
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

log = logging.getLogger(__name__)

ReplyT = TypeVar("ReplyT", bound=Message)
AudioT = TypeVar("AudioT", bound=Audio)


def audio_message(
    kind: type[AudioT],
    session: str,
    samples: np.ndarray,
    sample_rate: int,
    pts_us: int | None,
    format: str = "f32",
) -> AudioT:
    """A speak or listen message holding a copy of ``samples`` (the caller may reuse them)."""
    return kind(
        session=session,
        samples=np.array(samples, np.float32),
        sample_rate=sample_rate,
        pts_us=pts_us,
        format=format,
    )


class Client(ABC):
    """Blocking client. Thread-safe: audio may be pushed from one thread, frames read in another.

    ``max_frames``: frames kept per session for :meth:`next_frame`; older ones are dropped (and
    counted in ``dropped_frames``) when the caller reads slower than the server produces.
    """

    def __init__(self, *, timeout_s: float = 10.0, max_frames: int = 64) -> None:
        self.timeout_s = timeout_s
        self.max_frames = max_frames
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._frames: dict[str, deque[Frame]] = {}
        self._latest: dict[str, Frame] = {}
        self._events: deque[Event] = deque(maxlen=1024)
        self._errors: deque[ProtocolError] = deque(maxlen=256)
        self.dropped_frames = 0

    # --- requests ----------------------------------------------------------------------------

    def create_session(
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
        return self._request(msg, SessionInfo)

    def resume_session(self, session: str) -> SessionInfo:
        return self._request(ResumeSession(session=session), SessionInfo)

    def close_session(self, session: str) -> None:
        self._request(CloseSession(session=session), Reply)
        with self._lock:
            self._frames.pop(session, None)

    def subscribe(self, session: str) -> None:
        self._request(Subscribe(session=session), Reply)

    def set_prompt(self, session: str, prompt: str | None) -> None:
        self._request(SetPrompt(session=session, prompt=prompt), Reply)

    def trigger_emote(
        self, session: str, emote: str, *, intensity: float = 0.8, duration_s: float = 2.0
    ) -> None:
        msg = TriggerEmote(session=session, emote=emote, intensity=intensity, duration_s=duration_s)
        self._request(msg, Reply)

    def interrupt(self, session: str) -> None:
        self._request(Interrupt(session=session), Reply)

    def end_of_speech(self, session: str) -> None:
        self._send(EndOfSpeech(session=session))

    def stats(self, session: str) -> dict[str, float]:
        return dict(self._request(GetStats(session=session), Stats).values)

    def ping(self) -> Pong:
        return self._request(Ping(t_us=time.monotonic_ns() // 1000), Pong)

    def list_characters(self) -> Characters:
        return self._request(ListCharacters(), Characters)

    def prepare_character(
        self, name: str, image: bytes, *, face_index: int | None = None
    ) -> CharacterInfo:
        msg = PrepareCharacter(name=name, image=image, face_index=face_index)
        reply = self._request(msg, CharacterPrepared, timeout_s=max(self.timeout_s, 120.0))
        assert reply.character is not None
        return reply.character

    def push_speak(
        self,
        session: str,
        samples: np.ndarray,
        sample_rate: int,
        *,
        pts_us: int | None = None,
        format: str = "f32",
    ) -> None:
        """Send the NPC's voice (mono float samples in [-1, 1]); no reply unless refused."""
        self._send(audio_message(SpeakAudio, session, samples, sample_rate, pts_us, format))

    def push_listen(
        self,
        session: str,
        samples: np.ndarray,
        sample_rate: int,
        *,
        pts_us: int | None = None,
        format: str = "f32",
    ) -> None:
        """Send the player's voice as the NPC hears it."""
        self._send(audio_message(ListenAudio, session, samples, sample_rate, pts_us, format))

    # --- receiving ---------------------------------------------------------------------------

    def next_frame(self, session: str, timeout_s: float | None = None) -> Frame | None:
        """The oldest frame not yet taken for ``session``, waiting up to ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._lock:
            while True:
                ring = self._frames.get(session)
                if ring:
                    return ring.popleft()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._arrived.wait(remaining)

    def latest_frame(self, session: str) -> Frame | None:
        """The newest frame received for ``session`` (what a game shows when it falls behind)."""
        with self._lock:
            return self._latest.get(session)

    def events(self) -> list[Event]:
        """Events received since the last call, oldest first."""
        with self._lock:
            out = list(self._events)
            self._events.clear()
            return out

    def errors(self) -> list[ProtocolError]:
        """Refusals of audio and other unanswered messages since the last call, oldest first."""
        with self._lock:
            out = list(self._errors)
            self._errors.clear()
            return out

    def wait_event(self, name: str, timeout_s: float) -> Event | None:
        """Wait for an event called ``name`` (other events stay queued)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                for event in self._events:
                    if event.event == name:
                        self._events.remove(event)
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._arrived.wait(remaining)

    def close(self) -> None:
        """Release the transport; sessions stay on the server until closed or timed out."""
        self._close_impl()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- for transports ----------------------------------------------------------------------

    def _receive(self, message: Message) -> None:
        """A transport's receive loop hands every unsolicited message here."""
        with self._lock:
            if isinstance(message, Frame):
                ring = self._frames.setdefault(message.session, deque())
                if len(ring) >= self.max_frames:
                    ring.popleft()
                    self.dropped_frames += 1
                ring.append(message)
                self._latest[message.session] = message
            elif isinstance(message, Event):
                self._events.append(message)
            elif isinstance(message, Error):
                # Refusals of fire-and-forget messages (audio) arrive here, after the fact.
                log.warning("server error: %s", message.to_exception())
                self._errors.append(message.to_exception())
            self._arrived.notify_all()

    def _next_id(self) -> int:
        return next(self._ids)

    def _request(
        self, message: Message, expect: type[ReplyT], timeout_s: float | None = None
    ) -> ReplyT:
        object.__setattr__(message, "request_id", self._next_id())
        reply = self._request_impl(message, timeout_s or self.timeout_s)
        if isinstance(reply, Error):
            raise reply.to_exception()
        if not isinstance(reply, expect):
            raise ProtocolError(
                ErrorCode.INTERNAL,
                f"expected {expect.TYPE} in reply to {message.TYPE}, got {reply.TYPE}",
            )
        return reply

    def _send(self, message: Message) -> None:
        object.__setattr__(message, "request_id", self._next_id())
        self._send_impl(message)

    @abstractmethod
    def _request_impl(self, message: Message, timeout_s: float) -> Message:
        """Send ``message`` and return the reply carrying its request id (or an Error)."""

    @abstractmethod
    def _send_impl(self, message: Message) -> None:
        """Send ``message`` without waiting; a refusal arrives later as an Error message."""

    @abstractmethod
    def _close_impl(self) -> None:
        """Stop the receive side and release sockets."""


class InprocClient(Client):
    """A client that calls a handler directly: same semantics, no sockets."""

    _counter = itertools.count(1)

    def __init__(self, handler: RuntimeHandler, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._handler = handler
        self.client_id: ClientId = f"inproc:{next(self._counter)}"
        self._outbox = Outbox(max_frames=self.max_frames, on_ready=self._pump)
        self._pump_lock = threading.Lock()

    def _pump(self) -> None:
        # Runs on the runtime's thread: moving a few references is all it does.
        with self._pump_lock:
            for message in self._outbox.take(limit=1_000_000):
                self._receive(message)

    def _request_impl(self, message: Message, timeout_s: float) -> Message:
        try:
            reply = self._handler.handle(self.client_id, message, self._outbox)
            if isinstance(reply, Future):
                reply = reply.result(timeout=timeout_s)
        except ProtocolError as exc:
            return Error.from_exception(exc, message.request_id)
        if reply is None:
            return Reply(request_id=message.request_id)
        object.__setattr__(reply, "request_id", message.request_id)
        return reply

    def _send_impl(self, message: Message) -> None:
        try:
            self._handler.handle(self.client_id, message, self._outbox)
        except ProtocolError as exc:
            self._receive(Error.from_exception(exc, message.request_id))

    def _close_impl(self) -> None:
        self._outbox.close()
        self._handler.client_gone(self.client_id)
