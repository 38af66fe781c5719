"""gRPC clients for ``lpm.v1``: blocking :class:`GrpcClient` and asyncio :class:`AsyncGrpcClient`.

Control requests are unary RPCs. Audio and keep-alives go up one ``Perform`` stream per client,
opened on first use; frames, events and errors come down it to :meth:`Client._receive`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import uuid
from concurrent.futures import Future
from typing import Any

import grpc
import grpc.aio
import numpy as np

from bridge.client import Client, audio_message
from bridge.grpc_common import (
    CLIENT_ID_KEY,
    ERROR_CODE_KEY,
    STREAMED,
    UNARY,
    from_character_info,
    from_session_info,
    from_stream_response,
)
from bridge.lpm.v1 import lpm_pb2 as pb
from bridge.lpm.v1 import lpm_pb2_grpc
from bridge.protocol import (
    Audio,
    CharacterInfo,
    CharacterPrepared,
    Characters,
    Error,
    ErrorCode,
    Event,
    Frame,
    Message,
    Ping,
    ProtocolError,
    Reply,
    SessionInfo,
    Stats,
)

log = logging.getLogger(__name__)

_RPC_OF = {kind: rpc for rpc, kind in UNARY.items()}
_STREAM_OF = {kind: name for name, kind in STREAMED.items()}
_REQUEST_TYPES = {
    "CreateSession": pb.CreateSessionRequest,
    "ResumeSession": pb.SessionRef,
    "CloseSession": pb.SessionRef,
    "Subscribe": pb.SessionRef,
    "SetPrompt": pb.SetPromptRequest,
    "TriggerEmote": pb.TriggerEmoteRequest,
    "Interrupt": pb.SessionRef,
    "GetStats": pb.SessionRef,
    "ListCharacters": pb.ListCharactersRequest,
    "PrepareCharacter": pb.PrepareCharacterRequest,
}
_STREAM_TYPES = {
    "speak_audio": pb.Audio,
    "listen_audio": pb.Audio,
    "end_of_speech": pb.SessionRef,
    "set_prompt": pb.SetPromptRequest,
    "trigger_emote": pb.TriggerEmoteRequest,
    "interrupt": pb.SessionRef,
    "ping": pb.Ping,
}


def _to_proto(message: Message, proto_type: Any) -> Any:
    """Fill a protobuf request from a protocol message's header fields and payload."""
    header = message.header()
    known = {f.name for f in proto_type.DESCRIPTOR.fields}
    kwargs = {k: v for k, v in header.items() if k in known}
    if isinstance(message, Audio):
        kwargs["pcm"] = b"".join(bytes(p) for p in message.payload())
    if message.TYPE == "prepare_character":
        kwargs["image"] = bytes(message.payload()[0])
    return proto_type(**kwargs)


def _from_unary(rpc: str, reply: Any, request_id: int) -> Message:
    if rpc in ("CreateSession", "ResumeSession"):
        return from_session_info(reply, request_id)
    if rpc == "GetStats":
        return Stats(session=reply.session, values=dict(reply.values), request_id=request_id)
    if rpc == "ListCharacters":
        items = tuple(from_character_info(c) for c in reply.items)
        return Characters(default=reply.default, items=items, request_id=request_id)
    if rpc == "PrepareCharacter":
        return CharacterPrepared(character=from_character_info(reply), request_id=request_id)
    return Reply(session=reply.session or None, request_id=request_id)


def _error_of(exc: grpc.RpcError, request_id: int) -> Error:
    """The protocol error a failed RPC carries (its code in the trailing metadata)."""
    code = ErrorCode.INTERNAL
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == ERROR_CODE_KEY:
            with contextlib.suppress(ValueError):
                code = ErrorCode(int(value))
    status = exc.code() if hasattr(exc, "code") else None
    if status == grpc.StatusCode.UNAUTHENTICATED:
        code = ErrorCode.UNAUTHENTICATED
    elif status == grpc.StatusCode.UNAVAILABLE and code == ErrorCode.INTERNAL:
        raise TimeoutError(f"the server is unreachable: {exc.details()}") from None
    elif status == grpc.StatusCode.DEADLINE_EXCEEDED:
        raise TimeoutError("no reply from the server in time") from None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    message = details.split(": ", 1)[1] if details and ": " in details else details or ""
    return Error(code=int(code), name=code.name, message=message, request_id=request_id)


def _channel(target: str, root_cert_pem: bytes | None) -> grpc.Channel:
    options = [("grpc.max_receive_message_length", 32 * 1024 * 1024)]
    if root_cert_pem is not None:
        creds = grpc.ssl_channel_credentials(root_certificates=root_cert_pem)
        return grpc.secure_channel(target, creds, options=options)
    return grpc.insecure_channel(target, options=options)


class GrpcClient(Client):
    """Blocking client; one Perform stream (opened lazily) carries audio up and frames down."""

    def __init__(
        self,
        target: str = "127.0.0.1:7700",
        *,
        root_cert_pem: bytes | None = None,
        token: str | None = None,
        timeout_s: float = 10.0,
        max_frames: int = 64,
        heartbeat_s: float = 1.0,
    ) -> None:
        super().__init__(timeout_s=timeout_s, max_frames=max_frames)
        self.target = target
        self.client_id = uuid.uuid4().hex
        self._metadata = [(CLIENT_ID_KEY, self.client_id)]
        if token:
            self._metadata.append(("authorization", f"Bearer {token}"))
        self._channel = _channel(target, root_cert_pem)
        self._stub = lpm_pb2_grpc.LpmStub(self._channel)
        self._up: queue.Queue[Any] = queue.Queue(maxsize=1024)
        self._stream: Any = None
        self._reader: threading.Thread | None = None
        self._pending: dict[int, Future[Message]] = {}
        self._stream_lock = threading.Lock()
        self._closed = threading.Event()
        self._heartbeat_s = heartbeat_s

    # --- transport ----------------------------------------------------------------------------

    def _request_impl(self, message: Message, timeout_s: float) -> Message:
        rpc = _RPC_OF.get(message.TYPE)
        if rpc is None:  # stream-only request (ping): wait for the reply by id
            future: Future[Message] = Future()
            with self._stream_lock:
                self._pending[message.request_id] = future
            self._send_impl(message)
            try:
                return future.result(timeout=timeout_s)
            except TimeoutError:
                raise TimeoutError(f"no reply to {message.TYPE} within {timeout_s} s") from None
            finally:
                with self._stream_lock:
                    self._pending.pop(message.request_id, None)
        request = _to_proto(message, _REQUEST_TYPES[rpc])
        try:
            reply = getattr(self._stub, rpc)(request, timeout=timeout_s, metadata=self._metadata)
        except grpc.RpcError as exc:
            return _error_of(exc, message.request_id)
        if rpc in ("CreateSession", "ResumeSession", "Subscribe"):
            self._ensure_stream()  # frames of this session come down the stream
        return _from_unary(rpc, reply, message.request_id)

    def _send_impl(self, message: Message) -> None:
        name = _STREAM_OF.get(message.TYPE)
        if name is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"{message.TYPE} cannot be streamed")
        self._ensure_stream()
        request = pb.PerformRequest(id=message.request_id)
        getattr(request, name).CopyFrom(_to_proto(message, _STREAM_TYPES[name]))
        try:
            self._up.put(request, timeout=self.timeout_s)
        except queue.Full:
            raise TimeoutError("the Perform stream is not draining") from None

    def _ensure_stream(self) -> None:
        with self._stream_lock:
            if self._reader is not None and self._reader.is_alive():
                return
            self._stream = self._stub.Perform(self._requests(), metadata=self._metadata)
            self._reader = threading.Thread(target=self._read, name="lpm-grpc-down", daemon=True)
            self._reader.start()

    def _requests(self) -> Any:
        while not self._closed.is_set():
            try:
                yield self._up.get(timeout=self._heartbeat_s)
            except queue.Empty:
                yield pb.PerformRequest(ping=pb.Ping(t_us=0))  # keep-alive

    def _read(self) -> None:
        try:
            for response in self._stream:
                message = from_stream_response(response)
                future = None
                if message.request_id and not isinstance(message, Frame | Event):
                    with self._stream_lock:
                        future = self._pending.get(message.request_id)
                if future is not None:
                    future.set_result(message)
                elif message.request_id == 0 and not isinstance(message, Frame | Event | Error):
                    continue  # a keep-alive's pong
                else:
                    self._receive(message)
        except grpc.RpcError as exc:
            if not self._closed.is_set():
                log.warning(
                    "Perform stream ended: %s", exc.details() if hasattr(exc, "details") else exc
                )

    def _close_impl(self) -> None:
        self._closed.set()
        if self._stream is not None:
            self._stream.cancel()
        self._channel.close()


class AsyncGrpcClient:
    """asyncio client on ``grpc.aio`` with the blocking client's method names as coroutines."""

    def __init__(
        self,
        target: str = "127.0.0.1:7700",
        *,
        root_cert_pem: bytes | None = None,
        token: str | None = None,
        timeout_s: float = 10.0,
        max_frames: int = 64,
    ) -> None:
        self.timeout_s = timeout_s
        self.client_id = uuid.uuid4().hex
        self._metadata: list[tuple[str, str]] = [(CLIENT_ID_KEY, self.client_id)]
        if token:
            self._metadata.append(("authorization", f"Bearer {token}"))
        options = [("grpc.max_receive_message_length", 32 * 1024 * 1024)]
        self._channel = (
            grpc.aio.secure_channel(
                target, grpc.ssl_channel_credentials(root_cert_pem), options=options
            )
            if root_cert_pem is not None
            else grpc.aio.insecure_channel(target, options=options)
        )
        self._stub = lpm_pb2_grpc.LpmStub(self._channel)
        self._up: asyncio.Queue[Any] = asyncio.Queue(maxsize=1024)
        self._frames: dict[str, asyncio.Queue[Frame]] = {}
        self._events: list[Event] = []
        self._errors: list[ProtocolError] = []
        self._max_frames = max_frames
        self._call: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = 0

    async def _unary(self, rpc: str, message: Message) -> Message:
        self._ids += 1
        request = _to_proto(message, _REQUEST_TYPES[rpc])
        try:
            reply = await getattr(self._stub, rpc)(
                request, timeout=self.timeout_s, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            raise _error_of(exc, self._ids).to_exception() from None
        return _from_unary(rpc, reply, self._ids)

    async def _stream(self, message: Message) -> None:
        await self._ensure_stream()
        name = _STREAM_OF[message.TYPE]
        request = pb.PerformRequest()
        getattr(request, name).CopyFrom(_to_proto(message, _STREAM_TYPES[name]))
        await self._up.put(request)

    async def _ensure_stream(self) -> None:
        if self._reader is not None:
            return

        async def requests() -> Any:
            while True:
                yield await self._up.get()

        self._call = self._stub.Perform(requests(), metadata=self._metadata)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for response in self._call:
                message = from_stream_response(response)
                if isinstance(message, Frame):
                    q = self._frames.setdefault(message.session, asyncio.Queue())
                    if q.qsize() >= self._max_frames:
                        q.get_nowait()  # latest wins
                    q.put_nowait(message)
                elif isinstance(message, Event):
                    self._events.append(message)
                elif isinstance(message, Error):
                    log.warning("server error: %s", message.to_exception())
                    self._errors.append(message.to_exception())
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass

    async def create_session(self, character: str | None = None, **kwargs: Any) -> SessionInfo:
        from bridge.protocol import CreateSession

        reply = await self._unary("CreateSession", CreateSession(character=character, **kwargs))
        await self._ensure_stream()
        assert isinstance(reply, SessionInfo)
        return reply

    async def close_session(self, session: str) -> None:
        from bridge.protocol import CloseSession

        await self._unary("CloseSession", CloseSession(session=session))

    async def set_prompt(self, session: str, prompt: str | None) -> None:
        from bridge.protocol import SetPrompt

        await self._unary("SetPrompt", SetPrompt(session=session, prompt=prompt))

    async def list_characters(self) -> Characters:
        from bridge.protocol import ListCharacters

        reply = await self._unary("ListCharacters", ListCharacters())
        assert isinstance(reply, Characters)
        return reply

    async def stats(self, session: str) -> dict[str, float]:
        from bridge.protocol import GetStats

        reply = await self._unary("GetStats", GetStats(session=session))
        assert isinstance(reply, Stats)
        return dict(reply.values)

    async def push_speak(
        self, session: str, samples: np.ndarray, sample_rate: int, *, pts_us: int | None = None
    ) -> None:
        from bridge.protocol import SpeakAudio

        await self._stream(audio_message(SpeakAudio, session, samples, sample_rate, pts_us))

    async def push_listen(
        self, session: str, samples: np.ndarray, sample_rate: int, *, pts_us: int | None = None
    ) -> None:
        from bridge.protocol import ListenAudio

        await self._stream(audio_message(ListenAudio, session, samples, sample_rate, pts_us))

    async def resume_session(self, session: str) -> SessionInfo:
        from bridge.protocol import ResumeSession

        reply = await self._unary("ResumeSession", ResumeSession(session=session))
        await self._ensure_stream()
        assert isinstance(reply, SessionInfo)
        return reply

    async def trigger_emote(
        self, session: str, emote: str, *, intensity: float = 0.8, duration_s: float = 2.0
    ) -> None:
        from bridge.protocol import TriggerEmote

        msg = TriggerEmote(session=session, emote=emote, intensity=intensity, duration_s=duration_s)
        await self._unary("TriggerEmote", msg)

    async def interrupt(self, session: str) -> None:
        from bridge.protocol import Interrupt

        await self._unary("Interrupt", Interrupt(session=session))

    async def end_of_speech(self, session: str) -> None:
        from bridge.protocol import EndOfSpeech

        await self._stream(EndOfSpeech(session=session))

    async def prepare_character(
        self, name: str, image: bytes, *, face_index: int | None = None
    ) -> CharacterInfo:
        from bridge.protocol import PrepareCharacter

        msg = PrepareCharacter(name=name, image=image, face_index=face_index)
        reply = await self._unary("PrepareCharacter", msg)
        assert isinstance(reply, CharacterPrepared) and reply.character is not None
        return reply.character

    def errors(self) -> list[ProtocolError]:
        """Refusals of streamed messages since the last call."""
        out, self._errors = self._errors, []
        return out

    async def ping(self) -> None:
        await self._stream(Ping())

    async def next_frame(self, session: str, timeout_s: float | None = None) -> Frame | None:
        q = self._frames.setdefault(session, asyncio.Queue())
        try:
            return await asyncio.wait_for(q.get(), timeout_s)
        except TimeoutError:
            return None

    def events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    async def close(self) -> None:
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            self._reader.cancel()
        await self._channel.close()

    async def __aenter__(self) -> AsyncGrpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
