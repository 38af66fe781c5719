"""Wire messages of protocol version 1: one typed module for every transport (PROTOCOL.md).

A message on the ZeroMQ data plane is multipart ``[header, *payload]``:

* ``header``: a msgpack map with at least ``v`` (protocol version, int) and ``type`` (str);
  ``id`` (int) is the caller's request id, echoed on the reply or error;
* ``payload``: zero or more raw byte parts: PCM samples, pixels. They are never packed into
  msgpack, so a 256 KB frame is never copied into or out of a map.

The gRPC plane (``lpm.v1``) carries the same messages with the same field names and units.

Decoding validates everything a client controls: types, ranges, payload sizes, NaN/Inf in
audio. Every failure raises :class:`ProtocolError` with an :class:`ErrorCode` and one line of
text a person can act on; the transports send it back to the client that caused it.

Units: time in integer microseconds (``*_us``) on the session timeline (speak audio is the
master clock, DESIGN §3); sample rates in Hz; audio little-endian interleaved PCM.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import msgpack
import numpy as np

PROTOCOL_VERSION = 1
NUM_CURVES = 61  # ARKit blendshapes + head and eye angles, Live Link Face order (DESIGN §4)

# Limits a client can rely on (and the server enforces).
MAX_HEADER_BYTES = 64 * 1024
MAX_AUDIO_SECONDS = 10.0  # one audio message holds at most this much sound
MAX_PROMPT_CHARS = 500
MAX_ID_CHARS = 128
MAX_IMAGE_BYTES = 20 * 1024 * 1024
SUPPORTED_SAMPLE_RATES = (8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
MAX_CHANNELS = 8
SAMPLE_FORMATS: dict[str, np.dtype[Any]] = {"f32": np.dtype("<f4"), "s16": np.dtype("<i2")}
FRAME_ENCODINGS = ("rgba8", "jpeg")
SESSION_STATES = ("idle", "speak", "listen", "both")
Payload = Sequence[bytes | memoryview]  # raw parts after the header; transports avoid copies


class ErrorCode(enum.IntEnum):
    """Why a request failed. Codes are stable across versions; texts are for people."""

    BAD_VERSION = 1  # header ``v`` is not a version this server speaks
    MALFORMED = 2  # not a msgpack map, or the multipart shape is wrong
    UNKNOWN_TYPE = 3  # header ``type`` names no message
    BAD_FIELD = 4  # a field is missing, of the wrong type or out of range
    BAD_PAYLOAD = 5  # the payload's size does not match the header
    UNSUPPORTED_AUDIO = 6  # sample rate, channel count or sample format not supported
    NON_FINITE_AUDIO = 7  # NaN or Inf samples
    CHUNK_TOO_LARGE = 8  # more than MAX_AUDIO_SECONDS of audio, or an oversize message
    UNKNOWN_SESSION = 9  # no such session (never existed, closed, or timed out)
    NOT_OWNER = 10  # the session belongs to another client
    PROMPT_TOO_LONG = 11
    TOO_MANY_SESSIONS = 12  # server-wide or per-client quota reached
    UNKNOWN_CHARACTER = 13
    PREPARE_FAILED = 14  # the uploaded image could not be made into a character
    UNAUTHENTICATED = 15
    SHUTTING_DOWN = 16  # the server is draining; reconnect later
    INTERNAL = 17  # a bug on the server side; the session may continue


class ProtocolError(Exception):
    """A request the server refuses; carried to the client as an ``error`` message."""

    def __init__(self, code: ErrorCode, message: str, *, session: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.session = session

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Field validation


def _require(cond: bool, message: str, code: ErrorCode = ErrorCode.BAD_FIELD) -> None:
    if not cond:
        raise ProtocolError(code, message)


def _get(
    header: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...
) -> Any:
    """Field ``name`` of ``kind`` (bool is never accepted as int); ``default=...`` = required."""
    if name not in header or header[name] is None:
        _require(default is not ..., f"field {name!r} is required")
        return default
    value = header[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok and float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    _require(ok, f"field {name!r} must be {'/'.join(k.__name__ for k in kinds)}")
    if isinstance(value, float):
        _require(math.isfinite(value), f"field {name!r} must be finite")
    return value


def _get_id(header: Mapping[str, Any], name: str, default: Any = ...) -> Any:
    value = _get(header, name, str, default)
    if isinstance(value, str):
        _require(0 < len(value) <= MAX_ID_CHARS, f"field {name!r} must be 1..{MAX_ID_CHARS} chars")
    return value


def _get_prompt(header: Mapping[str, Any]) -> str | None:
    prompt = _get(header, "prompt", str, None)
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise ProtocolError(
            ErrorCode.PROMPT_TOO_LONG,
            f"prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}",
        )
    return prompt


def _in_range(name: str, value: float, lo: float, hi: float) -> None:
    _require(lo <= value <= hi, f"field {name!r} must be in [{lo}, {hi}], got {value}")


# ---------------------------------------------------------------------------------------------
# Messages


@dataclass(frozen=True)
class Message:
    """Base of every message. ``request_id`` is the header ``id`` (0 = none)."""

    TYPE: ClassVar[str] = ""
    PAYLOAD_PARTS: ClassVar[int] = 0  # raw byte parts after the header

    request_id: int = field(default=0, kw_only=True)

    def header(self) -> dict[str, Any]:
        """The msgpack map of this message (payload parts excluded)."""
        out: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": self.TYPE}
        if self.request_id:
            out["id"] = self.request_id
        for f in fields(self):
            if f.name == "request_id" or f.metadata.get("payload"):
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        return out

    def payload(self) -> list[bytes | memoryview]:
        return []

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> Message:
        raise NotImplementedError


# --- upstream: client → server ----------------------------------------------------------------


@dataclass(frozen=True)
class CreateSession(Message):
    """Start a session (one NPC). Every field is optional."""

    TYPE: ClassVar[str] = "create_session"
    character: str | None = None  # character id; None = the server's default character
    encoding: str | None = None  # "rgba8" or "jpeg" (+ separate alpha); None = server's default
    width: int | None = None  # output size in pixels; None = the server's default
    height: int | None = None
    jpeg_quality: int = 85
    prompt: str | None = None  # initial text prompt ("smiles warmly")
    seed: int = 0  # seeds blinks, gaze and idle motion, so a take can be reproduced

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> CreateSession:
        encoding = _get(header, "encoding", str, None)
        if encoding is not None:
            _require(encoding in FRAME_ENCODINGS, f"encoding must be one of {FRAME_ENCODINGS}")
        width = _get(header, "width", int, None)
        height = _get(header, "height", int, None)
        for name, value in (("width", width), ("height", height)):
            if value is not None:
                _in_range(name, value, 16, 2048)
        quality = _get(header, "jpeg_quality", int, 85)
        _in_range("jpeg_quality", quality, 1, 100)
        seed = _get(header, "seed", int, 0)
        _in_range("seed", seed, 0, 2**32 - 1)
        return cls(
            character=_get_id(header, "character", None),
            encoding=encoding,
            width=width,
            height=height,
            jpeg_quality=quality,
            prompt=_get_prompt(header),
            seed=seed,
        )


@dataclass(frozen=True)
class SessionRequest(Message):
    """A request naming one session and nothing else."""

    session: str = ""

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> Message:
        return cls(session=_get_id(header, "session"))


@dataclass(frozen=True)
class CloseSession(SessionRequest):
    TYPE: ClassVar[str] = "close_session"


@dataclass(frozen=True)
class ResumeSession(SessionRequest):
    """Take over a session after a reconnect (within the server's resume timeout)."""

    TYPE: ClassVar[str] = "resume_session"


@dataclass(frozen=True)
class Subscribe(SessionRequest):
    """Receive another session's frames too (a viewer, an editor preview)."""

    TYPE: ClassVar[str] = "subscribe"


@dataclass(frozen=True)
class Interrupt(SessionRequest):
    """Barge-in: drop the NPC's speak audio not yet played; the face stops talking."""

    TYPE: ClassVar[str] = "interrupt"


@dataclass(frozen=True)
class GetStats(SessionRequest):
    TYPE: ClassVar[str] = "get_stats"


@dataclass(frozen=True, eq=False)
class Audio(Message):
    """PCM for one stream of a session. Payload: one part, interleaved little-endian samples.

    ``pts_us``: where the first sample sits on the session timeline. Speak audio without it
    continues the current utterance, or starts a new one at ``now + latency`` (the server's
    ``speak_scheduled`` event says where). Listen audio without it is stamped on arrival.
    """

    PAYLOAD_PARTS: ClassVar[int] = 1
    session: str = ""
    sample_rate: int = 16_000
    channels: int = 1
    format: str = "f32"  # "f32" (float32 in [-1, 1]) or "s16" (int16)
    pts_us: int | None = None
    samples: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.float32), repr=False, metadata={"payload": True}
    )  # decoded: mono float32 at sample_rate (channels averaged)

    def payload(self) -> list[bytes | memoryview]:
        dtype = SAMPLE_FORMATS[self.format]
        if self.format == "s16":
            # The decoder's scale (÷32768), so -1.0 is sent as -32768 and a round trip is exact.
            data = np.clip(np.round(self.samples * 32768.0), -32768, 32767).astype(dtype)
        else:
            data = np.ascontiguousarray(self.samples, dtype=dtype)
        return [data.tobytes()] if not data.flags.c_contiguous else [data.data.cast("B")]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Audio)
        same = all(
            getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
            if f.name != "samples"
        )
        return same and np.array_equal(self.samples, other.samples)

    __hash__ = None  # type: ignore[assignment]  # holds an array

    def header(self) -> dict[str, Any]:
        out = super().header()
        out["channels"] = 1  # samples are mono by construction
        return out

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> Audio:
        session = _get_id(header, "session")
        rate = _get(header, "sample_rate", int)
        if rate not in SUPPORTED_SAMPLE_RATES:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_AUDIO,
                f"sample rate {rate} Hz is not supported; use one of {SUPPORTED_SAMPLE_RATES}",
            )
        channels = _get(header, "channels", int, 1)
        if not 1 <= channels <= MAX_CHANNELS:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_AUDIO, f"channels must be 1..{MAX_CHANNELS}, got {channels}"
            )
        fmt = _get(header, "format", str, "f32")
        if fmt not in SAMPLE_FORMATS:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_AUDIO, f"format must be one of {sorted(SAMPLE_FORMATS)}"
            )
        pts = _get(header, "pts_us", int, None)
        if pts is not None:
            _in_range("pts_us", pts, 0, 2**62)
        data = payload[0]
        frame_bytes = SAMPLE_FORMATS[fmt].itemsize * channels
        if len(data) % frame_bytes:
            raise ProtocolError(
                ErrorCode.BAD_PAYLOAD,
                f"{len(data)} payload bytes is not a whole number of {channels}-channel "
                f"{fmt} samples ({frame_bytes} bytes each)",
            )
        n = len(data) // frame_bytes
        if n > MAX_AUDIO_SECONDS * rate:
            raise ProtocolError(
                ErrorCode.CHUNK_TOO_LARGE,
                f"{n / rate:.2f} s of audio in one message; the limit is {MAX_AUDIO_SECONDS} s",
            )
        pcm = np.frombuffer(data, SAMPLE_FORMATS[fmt]).reshape(n, channels)
        if fmt == "s16":
            mono = pcm.astype(np.float32).mean(axis=1) / 32768.0
        else:
            if not np.isfinite(pcm).all():
                raise ProtocolError(ErrorCode.NON_FINITE_AUDIO, "audio contains NaN or Inf")
            mono = pcm.astype(np.float32).mean(axis=1)
        return cls(
            session=session,
            sample_rate=rate,
            channels=channels,
            format=fmt,
            pts_us=pts,
            samples=mono.astype(np.float32, copy=False),
        )


@dataclass(frozen=True, eq=False)
class SpeakAudio(Audio):
    """The NPC's own voice (its dialogue line): drives the lips; master clock."""

    TYPE: ClassVar[str] = "speak_audio"


@dataclass(frozen=True, eq=False)
class ListenAudio(Audio):
    """The player's voice as the NPC hears it: drives listening (nods, attention)."""

    TYPE: ClassVar[str] = "listen_audio"


@dataclass(frozen=True)
class EndOfSpeech(SessionRequest):
    """The NPC's line is complete: the last chunk may be shorter than a frame."""

    TYPE: ClassVar[str] = "end_of_speech"


@dataclass(frozen=True)
class SetPrompt(Message):
    """Replace the session's text prompt; ``prompt`` None or "" clears it."""

    TYPE: ClassVar[str] = "set_prompt"
    session: str = ""
    prompt: str | None = None

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> SetPrompt:
        return cls(session=_get_id(header, "session"), prompt=_get_prompt(header) or None)


@dataclass(frozen=True)
class TriggerEmote(Message):
    """Play a one-shot emote ("nods", "laughs") over the current prompt for ``duration_s``."""

    TYPE: ClassVar[str] = "trigger_emote"
    session: str = ""
    emote: str = ""
    intensity: float = 0.8
    duration_s: float = 2.0

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> TriggerEmote:
        emote = _get(header, "emote", str)
        _require(0 < len(emote) <= MAX_PROMPT_CHARS, "field 'emote' must be a non-empty prompt")
        intensity = _get(header, "intensity", float, 0.8)
        _in_range("intensity", intensity, 0.0, 1.0)
        duration = _get(header, "duration_s", float, 2.0)
        _in_range("duration_s", duration, 0.1, 60.0)
        return cls(
            session=_get_id(header, "session"),
            emote=emote,
            intensity=intensity,
            duration_s=duration,
        )


@dataclass(frozen=True)
class Ping(Message):
    """Keep-alive; the reply ``pong`` carries the server's clock for latency estimates."""

    TYPE: ClassVar[str] = "ping"
    t_us: int = 0  # the client's clock, echoed

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> Ping:
        return cls(t_us=_get(header, "t_us", int, 0))


@dataclass(frozen=True)
class ListCharacters(Message):
    TYPE: ClassVar[str] = "list_characters"

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> ListCharacters:
        return cls()


@dataclass(frozen=True)
class PrepareCharacter(Message):
    """Upload a portrait (PNG/JPEG bytes, one payload part) and build a character from it."""

    TYPE: ClassVar[str] = "prepare_character"
    PAYLOAD_PARTS: ClassVar[int] = 1
    name: str = ""  # becomes the character id (letters, digits, '-', '_')
    face_index: int | None = None  # which face when there are several; None = the largest
    image: bytes = field(default=b"", repr=False, metadata={"payload": True})

    def payload(self) -> list[bytes | memoryview]:
        return [self.image]

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> PrepareCharacter:
        name = _get_id(header, "name")
        _require(
            all(c.isascii() and (c.isalnum() or c in "-_") for c in name),
            "field 'name' may hold only ASCII letters, digits, '-' and '_'",
        )
        face_index = _get(header, "face_index", int, None)
        if face_index is not None:
            _in_range("face_index", face_index, 0, 64)
        image = bytes(payload[0])
        if not image:
            raise ProtocolError(ErrorCode.BAD_PAYLOAD, "the image payload is empty")
        if len(image) > MAX_IMAGE_BYTES:
            raise ProtocolError(
                ErrorCode.CHUNK_TOO_LARGE, f"image is {len(image)} bytes; limit {MAX_IMAGE_BYTES}"
            )
        return cls(name=name, face_index=face_index, image=image)


# --- downstream: server → client ---------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo(Message):
    """Reply to ``create_session`` and ``resume_session``.

    ``latency_us``: delay the NPC's audio playback by this much and show the frame whose pts
    matches the playback position: frames then arrive before they are due (DESIGN §3).
    """

    TYPE: ClassVar[str] = "session_info"
    session: str = ""
    character: str = ""
    fps: float = 25.0
    width: int = 0
    height: int = 0
    encoding: str = "rgba8"
    latency_us: int = 0
    chunk_frames: int = 1  # frames are generated this many at a time
    sample_rate: int = 16_000  # the runtime's internal rate (clients may send any supported)
    next_index: int = 0  # index of the next frame (non-zero after a resume)
    now_us: int = 0  # the session timeline's current position when this was sent
    resume_timeout_s: float = 0.0
    curve_names: tuple[str, ...] = ()

    def header(self) -> dict[str, Any]:
        out = super().header()
        out["curve_names"] = list(self.curve_names)
        return out


@dataclass(frozen=True)
class Reply(Message):
    """Acknowledges a request that returns nothing else (close, prompt, emote, subscribe...)."""

    TYPE: ClassVar[str] = "ok"
    session: str | None = None


@dataclass(frozen=True)
class Pong(Message):
    TYPE: ClassVar[str] = "pong"
    t_us: int = 0  # echoed client clock
    server_time_us: int = 0  # server's monotonic clock


@dataclass(frozen=True)
class CharacterInfo:
    id: str
    width: int
    height: int
    source: str = ""  # portrait file name it was prepared from

    def to_map(self) -> dict[str, Any]:
        return {"id": self.id, "width": self.width, "height": self.height, "source": self.source}


@dataclass(frozen=True)
class Characters(Message):
    TYPE: ClassVar[str] = "characters"
    default: str = ""
    items: tuple[CharacterInfo, ...] = ()

    def header(self) -> dict[str, Any]:
        out = super().header()
        out["items"] = [c.to_map() for c in self.items]
        return out


@dataclass(frozen=True)
class CharacterPrepared(Message):
    TYPE: ClassVar[str] = "character_prepared"
    character: CharacterInfo | None = None

    def header(self) -> dict[str, Any]:
        out = super().header()
        out["character"] = self.character.to_map() if self.character else None
        return out


@dataclass(frozen=True)
class Frame(Message):
    """One video frame and its 61 curves.

    Payload parts: ``rgba8``: one part, ``width*height*4`` bytes, rows top to bottom,
    straight (not premultiplied) alpha. ``jpeg``: two parts, a baseline JPEG of the RGB and a
    greyscale JPEG of the alpha plane, both ``width x height``.
    ``curves``: float32 little-endian ``[61]`` in the header (244 bytes of msgpack bin).
    """

    TYPE: ClassVar[str] = "frame"
    session: str = ""
    index: int = 0  # 0, 1, 2, ... per session; never repeats, may skip when frames are dropped
    pts_us: int = 0  # start of the frame on the session timeline: index * 1e6 / fps
    state: str = "idle"  # "idle", "speak", "listen" or "both" (the NPC talks over the player)
    encoding: str = "rgba8"
    width: int = 0
    height: int = 0
    curves: bytes = field(default=b"", repr=False)
    pixels: tuple[bytes | memoryview, ...] = field(
        default=(), repr=False, metadata={"payload": True}
    )

    def payload(self) -> list[bytes | memoryview]:
        return list(self.pixels)

    def curve_array(self) -> np.ndarray:
        return np.frombuffer(self.curves, "<f4")

    def rgba(self) -> np.ndarray:
        """Decode the pixels to ``[height, width, 4]`` uint8 (straight alpha)."""
        if self.encoding == "rgba8":
            return np.frombuffer(self.pixels[0], np.uint8).reshape(self.height, self.width, 4)
        import cv2  # only JPEG frames need it

        rgb = cv2.imdecode(np.frombuffer(self.pixels[0], np.uint8), cv2.IMREAD_COLOR)
        alpha = cv2.imdecode(np.frombuffer(self.pixels[1], np.uint8), cv2.IMREAD_GRAYSCALE)
        if rgb is None or alpha is None:
            raise ProtocolError(ErrorCode.BAD_PAYLOAD, "frame JPEG does not decode")
        if rgb.shape[:2] != (self.height, self.width) or alpha.shape != (self.height, self.width):
            raise ProtocolError(
                ErrorCode.BAD_PAYLOAD,
                f"frame JPEG is {rgb.shape[1]}x{rgb.shape[0]}, header says "
                f"{self.width}x{self.height}",
            )
        out = np.empty((self.height, self.width, 4), np.uint8)
        out[..., :3] = rgb[..., ::-1]
        out[..., 3] = alpha
        return out

    @classmethod
    def _from_header(cls, header: Mapping[str, Any], payload: Payload) -> Frame:
        encoding = _get(header, "encoding", str)
        _require(encoding in FRAME_ENCODINGS, f"encoding must be one of {FRAME_ENCODINGS}")
        width, height = _get(header, "width", int), _get(header, "height", int)
        curves = _get(header, "curves", bytes)
        _require(len(curves) == NUM_CURVES * 4, f"curves must be {NUM_CURVES} float32")
        parts = 1 if encoding == "rgba8" else 2
        if len(payload) != parts:
            raise ProtocolError(ErrorCode.MALFORMED, f"{encoding} frames have {parts} parts")
        if encoding == "rgba8" and len(payload[0]) != width * height * 4:
            raise ProtocolError(ErrorCode.BAD_PAYLOAD, "frame payload is not width*height*4")
        state = _get(header, "state", str, "idle")
        _require(state in SESSION_STATES, f"state must be one of {SESSION_STATES}")
        return cls(
            session=_get_id(header, "session"),
            index=_get(header, "index", int),
            pts_us=_get(header, "pts_us", int),
            state=state,
            encoding=encoding,
            width=width,
            height=height,
            curves=curves,
            pixels=tuple(payload),
            request_id=0,
        )


@dataclass(frozen=True)
class Event(Message):
    """Something happened to a session; ``event`` names it (PROTOCOL.md lists them).

    ``state_changed`` (``state``), ``speak_scheduled`` (``pts_us``, ``duration_us``: where an
    utterance landed on the timeline), ``session_closed`` (``reason``: "closed", "timeout",
    "shutdown"), ``late`` (``count``), ``shutdown`` (server draining; ``session`` is empty).
    """

    TYPE: ClassVar[str] = "event"
    event: str = ""
    session: str = ""
    state: str | None = None
    pts_us: int | None = None
    duration_us: int | None = None
    reason: str | None = None
    count: int | None = None


@dataclass(frozen=True)
class Stats(Message):
    TYPE: ClassVar[str] = "stats"
    session: str = ""
    values: Mapping[str, float] = field(default_factory=dict)

    def header(self) -> dict[str, Any]:
        out = super().header()
        out["values"] = dict(self.values)
        return out


@dataclass(frozen=True)
class Error(Message):
    TYPE: ClassVar[str] = "error"
    code: int = int(ErrorCode.INTERNAL)
    name: str = "INTERNAL"
    message: str = ""
    session: str | None = None

    @classmethod
    def from_exception(cls, exc: ProtocolError, request_id: int = 0) -> Error:
        return cls(
            code=int(exc.code),
            name=exc.code.name,
            message=exc.message,
            session=exc.session,
            request_id=request_id,
        )

    def to_exception(self) -> ProtocolError:
        try:
            code = ErrorCode(self.code)
        except ValueError:
            code = ErrorCode.INTERNAL
        return ProtocolError(code, self.message, session=self.session)


# ---------------------------------------------------------------------------------------------
# Codec

REQUESTS: dict[str, type[Message]] = {
    m.TYPE: m
    for m in (
        CreateSession,
        CloseSession,
        ResumeSession,
        Subscribe,
        Interrupt,
        GetStats,
        SpeakAudio,
        ListenAudio,
        EndOfSpeech,
        SetPrompt,
        TriggerEmote,
        Ping,
        ListCharacters,
        PrepareCharacter,
    )
}


def encode(message: Message) -> list[bytes | memoryview]:
    """Multipart parts of ``message``: packed header, then its payload parts (not copied)."""
    return [msgpack.packb(message.header(), use_bin_type=True), *message.payload()]


def decode_header(raw: bytes | memoryview) -> dict[str, Any]:
    """Unpack and check a header: a map with ``v`` == PROTOCOL_VERSION and a ``type``."""
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(ErrorCode.CHUNK_TOO_LARGE, f"header over {MAX_HEADER_BYTES} bytes")
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True, max_bin_len=MAX_HEADER_BYTES)
    except Exception as exc:  # msgpack raises many types (ExtraData, ValueError, ...)
        raise ProtocolError(ErrorCode.MALFORMED, f"header is not msgpack: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "header must be a msgpack map")
    version = header.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:  # not 1.0, not True
        raise ProtocolError(
            ErrorCode.BAD_VERSION,
            f"protocol version {version!r} is not supported; this server speaks {PROTOCOL_VERSION}",
        )
    if not isinstance(header.get("type"), str):
        raise ProtocolError(ErrorCode.MALFORMED, "header field 'type' (str) is missing")
    rid = header.get("id", 0)
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 <= rid < 2**63:
        raise ProtocolError(ErrorCode.BAD_FIELD, "header field 'id' must be a non-negative int")
    return header


def request_id_of(raw_header: bytes | memoryview) -> int:
    """Best-effort request id of a header that may not decode (to address an error reply)."""
    if len(raw_header) > MAX_HEADER_BYTES:
        return 0
    try:
        header = msgpack.unpackb(raw_header, raw=False)
        rid = header.get("id", 0) if isinstance(header, dict) else 0
        return rid if isinstance(rid, int) and not isinstance(rid, bool) and rid >= 0 else 0
    except Exception:
        return 0


def decode_request(parts: Sequence[bytes | memoryview]) -> Message:
    """Decode and validate one client → server multipart message."""
    if not parts:
        raise ProtocolError(ErrorCode.MALFORMED, "empty message")
    header = decode_header(parts[0])
    cls = REQUESTS.get(header["type"])
    if cls is None:
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {header['type']!r}; known: {', '.join(sorted(REQUESTS))}",
        )
    payload = parts[1:]
    if len(payload) != cls.PAYLOAD_PARTS:
        raise ProtocolError(
            ErrorCode.MALFORMED,
            f"{cls.TYPE} has {cls.PAYLOAD_PARTS} payload part(s), got {len(payload)}",
        )
    message = cls._from_header(header, payload)
    return _with_id(message, header.get("id", 0))


def _with_id(message: Message, request_id: int) -> Message:
    object.__setattr__(message, "request_id", request_id)
    return message


def _character(item: Mapping[str, Any]) -> CharacterInfo:
    """A character map; fields a newer server adds are ignored (section 2 of PROTOCOL.md)."""
    names = {f.name for f in fields(CharacterInfo)}
    return CharacterInfo(**{k: v for k, v in item.items() if k in names})


def decode_reply(parts: Sequence[bytes | memoryview]) -> Message:
    """Decode one server → client message (trusting the server; used by the Python client)."""
    if not parts:
        raise ProtocolError(ErrorCode.MALFORMED, "empty message")
    header = decode_header(parts[0])
    kind = header["type"]
    rid = header.get("id", 0)
    if kind == Frame.TYPE:
        return Frame._from_header(header, parts[1:])
    simple: dict[str, type[Message]] = {
        m.TYPE: m for m in (SessionInfo, Reply, Pong, Event, Stats, Error)
    }
    if kind in simple:
        cls = simple[kind]
        names = {f.name for f in fields(cls)} - {"request_id"}
        kwargs = {k: v for k, v in header.items() if k in names}
        if "curve_names" in kwargs:
            kwargs["curve_names"] = tuple(kwargs["curve_names"])
        return _with_id(cls(**kwargs), rid)
    if kind == Characters.TYPE:
        items = tuple(_character(item) for item in header.get("items", []))
        return _with_id(Characters(default=header.get("default", ""), items=items), rid)
    if kind == CharacterPrepared.TYPE:
        info = header.get("character")
        return _with_id(CharacterPrepared(character=_character(info) if info else None), rid)
    raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown reply type {kind!r}")
