"""A small runtime stand-in for transport tests: real protocol semantics, trivial frames.

It implements :class:`bridge.handler.RuntimeHandler` the way the real runtime does at the wire
(session ids, ownership, resume, errors), and turns speak audio into frames synchronously: one
frame per 40 ms of audio at the session's rate, whose pixels are all ``index % 256`` and whose
curve 17 (jawOpen) is the chunk's RMS. That makes what a transport delivered checkable.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from bridge.handler import ClientId, Outbox
from bridge.protocol import (
    NUM_CURVES,
    Audio,
    CharacterInfo,
    CharacterPrepared,
    Characters,
    CloseSession,
    CreateSession,
    EndOfSpeech,
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

FPS = 25.0
JAW_OPEN = 17


@dataclass
class FakeSession:
    id: str
    owner: ClientId
    width: int
    height: int
    outboxes: list[Outbox] = field(default_factory=list)
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    rate: int = 16_000
    index: int = 0
    prompt: str | None = None
    listen_samples: int = 0


class FakeRuntime:
    def __init__(self, max_sessions: int = 8) -> None:
        self.max_sessions = max_sessions
        self.sessions: dict[str, FakeSession] = {}
        self.gone: list[ClientId] = []
        self.requests: list[tuple[ClientId, str]] = []
        self._lock = threading.Lock()
        self._n = 0

    def handle(self, client: ClientId, request: Message, outbox: Outbox) -> Message | None:
        with self._lock:
            self.requests.append((client, request.TYPE))
            return self._handle(client, request, outbox)

    def client_gone(self, client: ClientId) -> None:
        with self._lock:
            self.gone.append(client)

    def _session(self, client: ClientId, session_id: str, *, owner: bool = True) -> FakeSession:
        session = self.sessions.get(session_id)
        if session is None:
            raise ProtocolError(ErrorCode.UNKNOWN_SESSION, f"no session {session_id!r}")
        if owner and session.owner != client:
            raise ProtocolError(ErrorCode.NOT_OWNER, f"session {session_id!r} is not yours")
        return session

    def _info(self, session: FakeSession) -> SessionInfo:
        return SessionInfo(
            session=session.id,
            character="fake",
            fps=FPS,
            width=session.width,
            height=session.height,
            latency_us=80_000,
            next_index=session.index,
            resume_timeout_s=5.0,
            curve_names=tuple(f"c{i}" for i in range(NUM_CURVES)),
        )

    def _handle(self, client: ClientId, req: Message, outbox: Outbox) -> Message | None:
        if isinstance(req, CreateSession):
            if len(self.sessions) >= self.max_sessions:
                raise ProtocolError(ErrorCode.TOO_MANY_SESSIONS, "the fake holds few sessions")
            if req.character not in (None, "fake"):
                raise ProtocolError(ErrorCode.UNKNOWN_CHARACTER, f"no {req.character!r}")
            self._n += 1
            session = FakeSession(f"s{self._n}", client, req.width or 32, req.height or 32)
            session.outboxes.append(outbox)
            session.prompt = req.prompt
            self.sessions[session.id] = session
            return self._info(session)
        if isinstance(req, ResumeSession):
            session = self._session(client, req.session, owner=False)
            session.owner = client
            session.outboxes = [outbox]
            return self._info(session)
        if isinstance(req, Subscribe):
            self._session(client, req.session, owner=False).outboxes.append(outbox)
            return Reply(session=req.session)
        if isinstance(req, CloseSession):
            session = self._session(client, req.session)
            del self.sessions[session.id]
            for box in session.outboxes:
                box.put(Event(event="session_closed", session=session.id, reason="closed"))
            return Reply(session=req.session)
        if isinstance(req, SpeakAudio):
            self._speak(self._session(client, req.session), req)
            return None
        if isinstance(req, ListenAudio):
            self._session(client, req.session).listen_samples += req.samples.size
            return None
        if isinstance(req, EndOfSpeech | Interrupt):
            self._session(client, req.session).pending = np.zeros(0, np.float32)
            return None if isinstance(req, EndOfSpeech) else Reply(session=req.session)
        if isinstance(req, SetPrompt):
            self._session(client, req.session).prompt = req.prompt
            return Reply(session=req.session)
        if isinstance(req, TriggerEmote):
            self._session(client, req.session)
            return Reply(session=req.session)
        if isinstance(req, GetStats):
            session = self._session(client, req.session)
            return Stats(session=session.id, values={"frames": float(session.index)})
        if isinstance(req, Ping):
            return Pong(t_us=req.t_us, server_time_us=time.monotonic_ns() // 1000)
        if isinstance(req, ListCharacters):
            return Characters(default="fake", items=(CharacterInfo("fake", 32, 32),))
        if isinstance(req, PrepareCharacter):
            if not req.image.startswith(b"\x89PNG"):
                raise ProtocolError(ErrorCode.PREPARE_FAILED, "not a PNG")
            return CharacterPrepared(character=CharacterInfo(req.name, 32, 32, "upload.png"))
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"fake cannot handle {req.TYPE}")

    def _speak(self, session: FakeSession, req: Audio) -> None:
        session.rate = req.sample_rate
        spf = round(req.sample_rate / FPS)
        audio = np.concatenate([session.pending, req.samples])
        n = audio.size // spf
        for k in range(n):
            chunk = audio[k * spf : (k + 1) * spf]
            curves = np.zeros(NUM_CURVES, "<f4")
            curves[JAW_OPEN] = float(np.sqrt(np.mean(chunk**2)))
            pixels = np.full(session.width * session.height * 4, session.index % 256, np.uint8)
            frame = Frame(
                session=session.id,
                index=session.index,
                pts_us=round(session.index * 1e6 / FPS),
                state="speak",
                width=session.width,
                height=session.height,
                curves=curves.tobytes(),
                pixels=(pixels.tobytes(),),
            )
            session.index += 1
            for box in session.outboxes:
                box.put(frame)
        session.pending = audio[n * spf :]
