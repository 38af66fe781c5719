from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateSessionRequest(_message.Message):
    __slots__ = ("character", "encoding", "width", "height", "jpeg_quality", "prompt", "seed")
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    JPEG_QUALITY_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    character: str
    encoding: str
    width: int
    height: int
    jpeg_quality: int
    prompt: str
    seed: int
    def __init__(self, character: _Optional[str] = ..., encoding: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., jpeg_quality: _Optional[int] = ..., prompt: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class SessionRef(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: str
    def __init__(self, session: _Optional[str] = ...) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("session", "character", "fps", "width", "height", "encoding", "latency_us", "chunk_frames", "sample_rate", "next_index", "now_us", "resume_timeout_s", "curve_names")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    LATENCY_US_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FRAMES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    NEXT_INDEX_FIELD_NUMBER: _ClassVar[int]
    NOW_US_FIELD_NUMBER: _ClassVar[int]
    RESUME_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    CURVE_NAMES_FIELD_NUMBER: _ClassVar[int]
    session: str
    character: str
    fps: float
    width: int
    height: int
    encoding: str
    latency_us: int
    chunk_frames: int
    sample_rate: int
    next_index: int
    now_us: int
    resume_timeout_s: float
    curve_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session: _Optional[str] = ..., character: _Optional[str] = ..., fps: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., encoding: _Optional[str] = ..., latency_us: _Optional[int] = ..., chunk_frames: _Optional[int] = ..., sample_rate: _Optional[int] = ..., next_index: _Optional[int] = ..., now_us: _Optional[int] = ..., resume_timeout_s: _Optional[float] = ..., curve_names: _Optional[_Iterable[str]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: str
    def __init__(self, session: _Optional[str] = ...) -> None: ...

class SetPromptRequest(_message.Message):
    __slots__ = ("session", "prompt")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    session: str
    prompt: str
    def __init__(self, session: _Optional[str] = ..., prompt: _Optional[str] = ...) -> None: ...

class TriggerEmoteRequest(_message.Message):
    __slots__ = ("session", "emote", "intensity", "duration_s")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    EMOTE_FIELD_NUMBER: _ClassVar[int]
    INTENSITY_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    session: str
    emote: str
    intensity: float
    duration_s: float
    def __init__(self, session: _Optional[str] = ..., emote: _Optional[str] = ..., intensity: _Optional[float] = ..., duration_s: _Optional[float] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("session", "values")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SESSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    session: str
    values: _containers.ScalarMap[str, float]
    def __init__(self, session: _Optional[str] = ..., values: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ListCharactersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CharacterInfo(_message.Message):
    __slots__ = ("id", "width", "height", "source")
    ID_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    width: int
    height: int
    source: str
    def __init__(self, id: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., source: _Optional[str] = ...) -> None: ...

class CharacterList(_message.Message):
    __slots__ = ("default", "items")
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    default: str
    items: _containers.RepeatedCompositeFieldContainer[CharacterInfo]
    def __init__(self, default: _Optional[str] = ..., items: _Optional[_Iterable[_Union[CharacterInfo, _Mapping]]] = ...) -> None: ...

class PrepareCharacterRequest(_message.Message):
    __slots__ = ("name", "face_index", "image")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    face_index: int
    image: bytes
    def __init__(self, name: _Optional[str] = ..., face_index: _Optional[int] = ..., image: _Optional[bytes] = ...) -> None: ...

class Audio(_message.Message):
    __slots__ = ("session", "sample_rate", "channels", "format", "pts_us", "pcm")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    PTS_US_FIELD_NUMBER: _ClassVar[int]
    PCM_FIELD_NUMBER: _ClassVar[int]
    session: str
    sample_rate: int
    channels: int
    format: str
    pts_us: int
    pcm: bytes
    def __init__(self, session: _Optional[str] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., format: _Optional[str] = ..., pts_us: _Optional[int] = ..., pcm: _Optional[bytes] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ("t_us",)
    T_US_FIELD_NUMBER: _ClassVar[int]
    t_us: int
    def __init__(self, t_us: _Optional[int] = ...) -> None: ...

class Pong(_message.Message):
    __slots__ = ("t_us", "server_time_us")
    T_US_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_US_FIELD_NUMBER: _ClassVar[int]
    t_us: int
    server_time_us: int
    def __init__(self, t_us: _Optional[int] = ..., server_time_us: _Optional[int] = ...) -> None: ...

class PerformRequest(_message.Message):
    __slots__ = ("id", "speak_audio", "listen_audio", "end_of_speech", "set_prompt", "trigger_emote", "interrupt", "ping")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEAK_AUDIO_FIELD_NUMBER: _ClassVar[int]
    LISTEN_AUDIO_FIELD_NUMBER: _ClassVar[int]
    END_OF_SPEECH_FIELD_NUMBER: _ClassVar[int]
    SET_PROMPT_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_EMOTE_FIELD_NUMBER: _ClassVar[int]
    INTERRUPT_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    id: int
    speak_audio: Audio
    listen_audio: Audio
    end_of_speech: SessionRef
    set_prompt: SetPromptRequest
    trigger_emote: TriggerEmoteRequest
    interrupt: SessionRef
    ping: Ping
    def __init__(self, id: _Optional[int] = ..., speak_audio: _Optional[_Union[Audio, _Mapping]] = ..., listen_audio: _Optional[_Union[Audio, _Mapping]] = ..., end_of_speech: _Optional[_Union[SessionRef, _Mapping]] = ..., set_prompt: _Optional[_Union[SetPromptRequest, _Mapping]] = ..., trigger_emote: _Optional[_Union[TriggerEmoteRequest, _Mapping]] = ..., interrupt: _Optional[_Union[SessionRef, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("session", "index", "pts_us", "state", "encoding", "width", "height", "curves", "pixels", "alpha")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PTS_US_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CURVES_FIELD_NUMBER: _ClassVar[int]
    PIXELS_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    session: str
    index: int
    pts_us: int
    state: str
    encoding: str
    width: int
    height: int
    curves: bytes
    pixels: bytes
    alpha: bytes
    def __init__(self, session: _Optional[str] = ..., index: _Optional[int] = ..., pts_us: _Optional[int] = ..., state: _Optional[str] = ..., encoding: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., curves: _Optional[bytes] = ..., pixels: _Optional[bytes] = ..., alpha: _Optional[bytes] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event", "session", "state", "pts_us", "duration_us", "reason", "count")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PTS_US_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    event: str
    session: str
    state: str
    pts_us: int
    duration_us: int
    reason: str
    count: int
    def __init__(self, event: _Optional[str] = ..., session: _Optional[str] = ..., state: _Optional[str] = ..., pts_us: _Optional[int] = ..., duration_us: _Optional[int] = ..., reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "name", "message", "session")
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    code: int
    name: str
    message: str
    session: str
    def __init__(self, code: _Optional[int] = ..., name: _Optional[str] = ..., message: _Optional[str] = ..., session: _Optional[str] = ...) -> None: ...

class PerformResponse(_message.Message):
    __slots__ = ("id", "frame", "event", "error", "pong", "ok")
    ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    id: int
    frame: Frame
    event: Event
    error: Error
    pong: Pong
    ok: Ack
    def __init__(self, id: _Optional[int] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ..., event: _Optional[_Union[Event, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., ok: _Optional[_Union[Ack, _Mapping]] = ...) -> None: ...
