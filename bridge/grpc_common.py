"""Between protocol messages and their ``lpm.v1`` protobuf form, and error codes to statuses.

Requests are validated by the very code the ZeroMQ plane uses: a protobuf request becomes a
header map plus payload parts and goes through :func:`bridge.protocol.decode_request`, so the
two transports cannot disagree on what is valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
import msgpack

from bridge.lpm.v1 import lpm_pb2 as pb
from bridge.protocol import (
    PROTOCOL_VERSION,
    CharacterInfo,
    CharacterPrepared,
    Characters,
    Error,
    ErrorCode,
    Event,
    Frame,
    Message,
    Pong,
    Reply,
    SessionInfo,
    Stats,
    decode_request,
)

SERVICE = "lpm.v1.Lpm"
CLIENT_ID_KEY = "lpm-client-id"
ERROR_CODE_KEY = "lpm-error-code"

STATUS: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.BAD_VERSION: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.MALFORMED: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.UNKNOWN_TYPE: grpc.StatusCode.UNIMPLEMENTED,
    ErrorCode.BAD_FIELD: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.BAD_PAYLOAD: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.UNSUPPORTED_AUDIO: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.NON_FINITE_AUDIO: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.CHUNK_TOO_LARGE: grpc.StatusCode.OUT_OF_RANGE,
    ErrorCode.UNKNOWN_SESSION: grpc.StatusCode.NOT_FOUND,
    ErrorCode.NOT_OWNER: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.PROMPT_TOO_LONG: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.TOO_MANY_SESSIONS: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.UNKNOWN_CHARACTER: grpc.StatusCode.NOT_FOUND,
    ErrorCode.PREPARE_FAILED: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.SHUTTING_DOWN: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}

# Unary RPC name → protocol message type of its request.
UNARY: dict[str, str] = {
    "CreateSession": "create_session",
    "ResumeSession": "resume_session",
    "CloseSession": "close_session",
    "Subscribe": "subscribe",
    "SetPrompt": "set_prompt",
    "TriggerEmote": "trigger_emote",
    "Interrupt": "interrupt",
    "GetStats": "get_stats",
    "ListCharacters": "list_characters",
    "PrepareCharacter": "prepare_character",
}
# Perform stream oneof field → protocol message type.
STREAMED: dict[str, str] = {
    "speak_audio": "speak_audio",
    "listen_audio": "listen_audio",
    "end_of_speech": "end_of_speech",
    "set_prompt": "set_prompt",
    "trigger_emote": "trigger_emote",
    "interrupt": "interrupt",
    "ping": "ping",
}
_PAYLOAD_FIELD = {"speak_audio": "pcm", "listen_audio": "pcm", "prepare_character": "image"}


def to_message(kind: str, proto: Any, request_id: int = 0) -> Message:
    """Validate a protobuf request as protocol message ``kind`` (raises ProtocolError)."""
    header: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": kind}
    if request_id:
        header["id"] = request_id
    payload: list[bytes] = []
    blob = _PAYLOAD_FIELD.get(kind)
    for descriptor, value in proto.ListFields():  # set fields only: unset keeps defaults
        if descriptor.name == blob:
            continue
        if descriptor.type == descriptor.TYPE_FLOAT:
            value = round(value, 6)  # float32 on the wire; 0.8f is 0.800000011920929
        header[descriptor.name] = value
    if blob is not None:
        payload.append(getattr(proto, blob))
    return decode_request([msgpack.packb(header, use_bin_type=True), *payload])


def session_info(m: SessionInfo) -> pb.SessionInfo:
    return pb.SessionInfo(
        session=m.session,
        character=m.character,
        fps=m.fps,
        width=m.width,
        height=m.height,
        encoding=m.encoding,
        latency_us=m.latency_us,
        chunk_frames=m.chunk_frames,
        sample_rate=m.sample_rate,
        next_index=m.next_index,
        now_us=m.now_us,
        resume_timeout_s=m.resume_timeout_s,
        curve_names=list(m.curve_names),
    )


def from_session_info(p: pb.SessionInfo, request_id: int = 0) -> SessionInfo:
    return SessionInfo(
        session=p.session,
        character=p.character,
        fps=p.fps,
        width=p.width,
        height=p.height,
        encoding=p.encoding,
        latency_us=p.latency_us,
        chunk_frames=p.chunk_frames,
        sample_rate=p.sample_rate,
        next_index=p.next_index,
        now_us=p.now_us,
        resume_timeout_s=p.resume_timeout_s,
        curve_names=tuple(p.curve_names),
        request_id=request_id,
    )


def character_info(c: CharacterInfo) -> pb.CharacterInfo:
    return pb.CharacterInfo(id=c.id, width=c.width, height=c.height, source=c.source)


def from_character_info(p: pb.CharacterInfo) -> CharacterInfo:
    return CharacterInfo(p.id, p.width, p.height, p.source)


def unary_reply(reply: Message) -> Any:
    """The protobuf reply of a unary RPC for the handler's protocol reply."""
    if isinstance(reply, SessionInfo):
        return session_info(reply)
    if isinstance(reply, Reply):
        return pb.Ack(session=reply.session or "")
    if isinstance(reply, Stats):
        return pb.Stats(session=reply.session, values=dict(reply.values))
    if isinstance(reply, Characters):
        return pb.CharacterList(
            default=reply.default, items=[character_info(c) for c in reply.items]
        )
    if isinstance(reply, CharacterPrepared) and reply.character is not None:
        return character_info(reply.character)
    raise TypeError(f"no unary reply form for {reply.TYPE}")


def stream_response(message: Message) -> pb.PerformResponse:
    """A frame, event, error or reply as it goes down the Perform stream."""
    rid = message.request_id
    if isinstance(message, Frame):
        parts = list(message.pixels)
        frame = pb.Frame(
            session=message.session,
            index=message.index,
            pts_us=message.pts_us,
            state=message.state,
            encoding=message.encoding,
            width=message.width,
            height=message.height,
            curves=message.curves,
            pixels=bytes(parts[0]),
            alpha=bytes(parts[1]) if len(parts) > 1 else b"",
        )
        return pb.PerformResponse(frame=frame)
    if isinstance(message, Event):
        fields = {
            k: getattr(message, k)
            for k in ("state", "pts_us", "duration_us", "reason", "count")
            if getattr(message, k) is not None
        }
        event = pb.Event(event=message.event, session=message.session, **fields)
        return pb.PerformResponse(id=rid, event=event)
    if isinstance(message, Error):
        error = pb.Error(
            code=message.code, name=message.name, message=message.message,
            session=message.session or "",
        )  # fmt: skip
        return pb.PerformResponse(id=rid, error=error)
    if isinstance(message, Pong):
        pong = pb.Pong(t_us=message.t_us, server_time_us=message.server_time_us)
        return pb.PerformResponse(id=rid, pong=pong)
    if isinstance(message, Reply):
        return pb.PerformResponse(id=rid, ok=pb.Ack(session=message.session or ""))
    raise TypeError(f"{message.TYPE} does not go down the Perform stream")


def from_stream_response(r: pb.PerformResponse) -> Message:
    kind = r.WhichOneof("kind")
    if kind == "frame":
        f = r.frame
        pixels = (f.pixels, f.alpha) if f.encoding == "jpeg" else (f.pixels,)
        return Frame(
            session=f.session, index=f.index, pts_us=f.pts_us, state=f.state,
            encoding=f.encoding, width=f.width, height=f.height, curves=f.curves,
            pixels=pixels,
        )  # fmt: skip
    if kind == "event":
        e = r.event
        optional = {
            k: getattr(e, k)
            for k in ("state", "pts_us", "duration_us", "reason", "count")
            if e.HasField(k)
        }
        return Event(event=e.event, session=e.session, request_id=r.id, **optional)
    if kind == "error":
        return Error(
            code=r.error.code, name=r.error.name, message=r.error.message,
            session=r.error.session or None, request_id=r.id,
        )  # fmt: skip
    if kind == "pong":
        return Pong(t_us=r.pong.t_us, server_time_us=r.pong.server_time_us, request_id=r.id)
    if kind == "ok":
        return Reply(session=r.ok.session or None, request_id=r.id)
    raise ValueError(f"empty Perform response (kind {kind!r})")


def error_metadata(code: ErrorCode) -> tuple[tuple[str, str], ...]:
    return ((ERROR_CODE_KEY, str(int(code))),)


def metadata_map(pairs: Any) -> Mapping[str, str]:
    return {k: v for k, v in (pairs or ()) if isinstance(v, str)}
