"""The wire codec of protocol version 1 (bridge/protocol.py) and the per-client Outbox.

Property-based (hypothesis) and example tests:

* every request type survives ``encode`` → ``decode_request`` with its fields intact;
* whatever a client sends (random bytes, random msgpack values, valid maps with fields of the
  wrong type, wrong payload shapes) decoding either succeeds or raises ``ProtocolError`` with an
  ``ErrorCode``, never anything else;
* audio: channels are averaged, sizes/rates/formats/NaN are refused with their own codes;
* every ``ErrorCode`` the decoder can raise is reached by an example that asserts the code;
* frames (rgba8 and jpeg) and every other reply round-trip through ``decode_reply``;
* the Outbox: per-session frame ring, control first, overflow, sessions taking turns.

The last section pins down edges that were once wrong: session starvation in the outbox,
unknown fields in character maps, float versions, the s16 scale, audio equality, empty replies
and JPEGs of the wrong size.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.handler import Outbox
from bridge.protocol import (
    FRAME_ENCODINGS,
    MAX_AUDIO_SECONDS,
    MAX_CHANNELS,
    MAX_HEADER_BYTES,
    MAX_ID_CHARS,
    MAX_IMAGE_BYTES,
    MAX_PROMPT_CHARS,
    NUM_CURVES,
    PROTOCOL_VERSION,
    REQUESTS,
    SESSION_STATES,
    SUPPORTED_SAMPLE_RATES,
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
    decode_header,
    decode_reply,
    decode_request,
    encode,
    request_id_of,
)
from models.motion import CURVE_NAMES

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROTOCOL_SOURCE = Path(__file__).resolve().parents[2] / "bridge" / "protocol.py"


def _packed(header: object) -> bytes:
    return msgpack.packb(header, use_bin_type=True)


def _parts(message: Message) -> list[bytes]:
    """Encoded parts as plain bytes, as a transport receives them."""
    return [bytes(p) for p in encode(message)]


def _refused(parts: list[bytes]) -> ErrorCode:
    with pytest.raises(ProtocolError) as err:
        decode_request(parts)
    assert isinstance(err.value.code, ErrorCode)
    assert err.value.message and "\n" not in err.value.message
    return err.value.code


# ---------------------------------------------------------------------------------------------
# Strategies: valid field values

ids = st.text(min_size=1, max_size=MAX_ID_CHARS)
prompts = st.text(min_size=1, max_size=MAX_PROMPT_CHARS)
request_ids = st.integers(0, 2**63 - 1)
sizes = st.integers(16, 2048)
unit = st.floats(0.0, 1.0, allow_nan=False)
names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=1,
    max_size=MAX_ID_CHARS,
)


def _session_request(cls: type[Message]) -> st.SearchStrategy[Message]:
    return st.builds(cls, session=ids, request_id=request_ids)


def _audio_request(cls: type[Audio]) -> st.SearchStrategy[Message]:
    samples = st.lists(st.floats(-1.0, 1.0, width=32), max_size=64).map(
        lambda xs: np.array(xs, np.float32)
    )
    return st.builds(
        cls,
        session=ids,
        sample_rate=st.sampled_from(SUPPORTED_SAMPLE_RATES),
        format=st.just("f32"),
        pts_us=st.none() | st.integers(0, 2**62),
        samples=samples,
        request_id=request_ids,
    )


REQUEST_STRATEGIES: dict[str, st.SearchStrategy[Message]] = {
    "create_session": st.builds(
        CreateSession,
        character=st.none() | ids,
        encoding=st.none() | st.sampled_from(FRAME_ENCODINGS),
        width=st.none() | sizes,
        height=st.none() | sizes,
        jpeg_quality=st.integers(1, 100),
        prompt=st.none() | prompts,
        seed=st.integers(0, 2**32 - 1),
        request_id=request_ids,
    ),
    "close_session": _session_request(CloseSession),
    "resume_session": _session_request(ResumeSession),
    "subscribe": _session_request(Subscribe),
    "interrupt": _session_request(Interrupt),
    "get_stats": _session_request(GetStats),
    "end_of_speech": _session_request(EndOfSpeech),
    "speak_audio": _audio_request(SpeakAudio),
    "listen_audio": _audio_request(ListenAudio),
    "set_prompt": st.builds(
        SetPrompt, session=ids, prompt=st.none() | prompts, request_id=request_ids
    ),
    "trigger_emote": st.builds(
        TriggerEmote,
        session=ids,
        emote=prompts,
        intensity=unit,
        duration_s=st.floats(0.1, 60.0),
        request_id=request_ids,
    ),
    "ping": st.builds(Ping, t_us=st.integers(-(2**63), 2**64 - 1), request_id=request_ids),
    "list_characters": st.builds(ListCharacters, request_id=request_ids),
    "prepare_character": st.builds(
        PrepareCharacter,
        name=names,
        face_index=st.none() | st.integers(0, 64),
        image=st.binary(min_size=1, max_size=256),
        request_id=request_ids,
    ),
}
any_request = st.one_of(*REQUEST_STRATEGIES.values())


def _same_message(a: Message, b: Message) -> None:
    """Field-by-field equality (numpy sample arrays compared as arrays)."""
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y, f.name


def test_every_request_type_has_a_strategy() -> None:
    assert set(REQUEST_STRATEGIES) == set(REQUESTS)


# ---------------------------------------------------------------------------------------------
# Round trips


@FUZZ
@given(any_request)
def test_every_request_round_trips(message: Message) -> None:
    parts = _parts(message)
    assert len(parts) == 1 + message.PAYLOAD_PARTS
    header = msgpack.unpackb(parts[0])
    assert header["v"] == PROTOCOL_VERSION and header["type"] == message.TYPE
    assert header.get("id", 0) == message.request_id  # id 0 (none) is left out
    decoded = decode_request(parts)
    _same_message(decoded, message)


@PROPS
@given(
    any_request,
    st.dictionaries(st.text(min_size=1, max_size=10), st.integers(-(2**63), 2**63), max_size=3),
)
def test_unknown_header_fields_are_ignored(message: Message, extra: dict[str, int]) -> None:
    parts = _parts(message)
    header = msgpack.unpackb(parts[0])
    header = {**{f"x_{k}": v for k, v in extra.items()}, **header}  # a later minor revision
    decoded = decode_request([_packed(header), *parts[1:]])
    _same_message(decoded, message)


def test_encode_never_copies_payload_parts() -> None:
    pixels = bytes(4 * 4 * 4)
    frame = Frame(session="s", width=4, height=4, curves=bytes(244), pixels=(pixels,))
    assert encode(frame)[1] is pixels
    image = b"\x89PNG..."
    assert encode(PrepareCharacter(name="n", image=image))[1] is image


def test_header_keys_and_msgpack_types() -> None:
    raw = _parts(SpeakAudio(session="s1", sample_rate=48_000, format="s16", request_id=7))[0]
    assert msgpack.unpackb(raw) == {
        "v": 1, "type": "speak_audio", "id": 7, "session": "s1",
        "sample_rate": 48_000, "channels": 1, "format": "s16",
    }  # fmt: skip
    no_id = msgpack.unpackb(_parts(Ping())[0])
    assert no_id == {"v": 1, "type": "ping", "t_us": 0}
    frame = Frame(session="s", curves=np.zeros(NUM_CURVES, "<f4").tobytes(), pixels=(b"",))
    assert b"\xa6curves\xc4\xf4" in _parts(frame)[0]  # curves: bin 8, 244 bytes


# ---------------------------------------------------------------------------------------------
# Fuzzing: only ProtocolError ever comes out

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(width=32),
    st.text(max_size=30),
    st.binary(max_size=30),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.lists(st.binary(max_size=96), max_size=4)


def _never_crashes(parts: list[bytes]) -> None:
    try:
        decoded = decode_request(parts)
    except ProtocolError as exc:
        assert isinstance(exc.code, ErrorCode) and exc.message
    else:
        assert isinstance(decoded, Message) and decoded.TYPE in REQUESTS


@FUZZ
@given(st.binary(max_size=300))
def test_decode_header_on_random_bytes(raw: bytes) -> None:
    try:
        header = decode_header(raw)
    except ProtocolError as exc:
        assert isinstance(exc.code, ErrorCode)
    else:
        assert header["v"] == PROTOCOL_VERSION and isinstance(header["type"], str)
    rid = request_id_of(raw)
    assert isinstance(rid, int) and rid >= 0


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=5))
def test_decode_request_on_random_parts(parts: list[bytes]) -> None:
    _never_crashes(parts)


@FUZZ
@given(values, payloads)
def test_decode_request_on_random_msgpack_values(value: object, payload: list[bytes]) -> None:
    _never_crashes([_packed(value), *payload])


@FUZZ
@given(
    any_request,
    st.dictionaries(
        st.sampled_from(
            ["v", "type", "id", "session", "sample_rate", "channels", "format", "pts_us",
             "prompt", "emote", "intensity", "duration_s", "width", "height", "encoding",
             "jpeg_quality", "seed", "character", "name", "face_index", "t_us"]
        ),
        values,
        max_size=5,
    ),
    st.sets(st.text(max_size=12), max_size=2),
    st.one_of(st.none(), payloads),
)  # fmt: skip
def test_valid_maps_with_wrong_field_types_never_crash(
    message: Message,
    overrides: dict[str, object],
    removed: set[str],
    payload: list[bytes] | None,
) -> None:
    parts = _parts(message)
    header = {k: v for k, v in msgpack.unpackb(parts[0]).items() if k not in removed}
    header.update(overrides)
    _never_crashes([_packed(header), *(parts[1:] if payload is None else payload)])


@FUZZ
@given(
    st.sampled_from(["speak_audio", "listen_audio"]),
    st.sampled_from(SUPPORTED_SAMPLE_RATES),
    st.integers(1, MAX_CHANNELS),
    st.sampled_from(["f32", "s16"]),
    st.integers(0, 3),
    st.binary(max_size=257),
)
def test_audio_with_random_payload_shapes(
    kind: str, rate: int, channels: int, fmt: str, count: int, data: bytes
) -> None:
    header = {"v": 1, "type": kind, "session": "s", "sample_rate": rate}
    header |= {"channels": channels, "format": fmt}
    try:
        message = decode_request([_packed(header), *([data] * count)])
    except ProtocolError as exc:
        frame_bytes = channels * (4 if fmt == "f32" else 2)
        if count != 1:
            assert exc.code == ErrorCode.MALFORMED
        elif len(data) % frame_bytes:
            assert exc.code == ErrorCode.BAD_PAYLOAD
        else:
            assert exc.code == ErrorCode.NON_FINITE_AUDIO and fmt == "f32"
    else:
        assert isinstance(message, Audio) and count == 1
        assert message.samples.dtype == np.float32
        assert message.samples.size * channels * (4 if fmt == "f32" else 2) == len(data)


# ---------------------------------------------------------------------------------------------
# Audio


def _audio_header(**fields: object) -> dict[str, object]:
    return {"v": 1, "type": "speak_audio", "session": "s", "sample_rate": 16_000, **fields}


@PROPS
@given(
    kind=st.sampled_from(["speak_audio", "listen_audio"]),
    rate=st.sampled_from(SUPPORTED_SAMPLE_RATES),
    channels=st.integers(1, MAX_CHANNELS),
    fmt=st.sampled_from(["f32", "s16"]),
    n=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_decoded_mono_is_the_channel_mean(
    kind: str, rate: int, channels: int, fmt: str, n: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    pcm = rng.uniform(-1.0, 1.0, (n, channels)).astype(np.float32)
    if fmt == "s16":
        ints = np.clip(np.round(pcm.astype(np.float64) * 32768), -32768, 32767).astype("<i2")
        data = ints.tobytes()
        exact = ints.astype(np.float64).mean(axis=1) / 32768
        # within int16 quantisation of the original floats (half a step, one at +1.0)
        np.testing.assert_allclose(exact, pcm.mean(axis=1, dtype=np.float64), atol=1 / 32768)
    else:
        data = pcm.astype("<f4").tobytes()
        exact = pcm.astype(np.float64).mean(axis=1)
    header = _audio_header(type=kind, sample_rate=rate, channels=channels, format=fmt)
    message = decode_request([_packed(header), data])
    assert isinstance(message, SpeakAudio if kind == "speak_audio" else ListenAudio)
    assert (message.sample_rate, message.channels, message.format) == (rate, channels, fmt)
    assert message.samples.dtype == np.float32 and message.samples.shape == (n,)
    np.testing.assert_allclose(message.samples, exact, atol=1e-6)


@PROPS
@given(
    channels=st.integers(1, MAX_CHANNELS),
    n=st.integers(1, 64),
    at=st.integers(0, 10_000),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_nan_or_inf_anywhere_is_refused(channels: int, n: int, at: int, bad: float) -> None:
    pcm = np.zeros(n * channels, "<f4")
    pcm[at % pcm.size] = bad
    header = _audio_header(channels=channels)
    assert _refused([_packed(header), pcm.tobytes()]) == ErrorCode.NON_FINITE_AUDIO


def test_nan_bit_patterns_are_refused() -> None:
    for pattern in (0x7FC00000, 0xFFC00001, 0x7F800001, 0x7F800000, 0xFF800000):
        data = np.array([0, pattern], "<u4").tobytes()
        assert _refused([_packed(_audio_header()), data]) == ErrorCode.NON_FINITE_AUDIO


@PROPS
@given(
    channels=st.integers(1, MAX_CHANNELS),
    fmt=st.sampled_from(["f32", "s16"]),
    frames=st.integers(0, 50),
    extra=st.integers(1, 31),
)
def test_a_partial_sample_frame_is_bad_payload(
    channels: int, fmt: str, frames: int, extra: int
) -> None:
    frame_bytes = channels * (4 if fmt == "f32" else 2)
    extra %= frame_bytes
    if extra == 0:
        extra = 1
    data = bytes(frames * frame_bytes + extra)
    header = _audio_header(channels=channels, format=fmt)
    assert _refused([_packed(header), data]) == ErrorCode.BAD_PAYLOAD


@pytest.mark.parametrize("rate", SUPPORTED_SAMPLE_RATES)
def test_audio_length_limit_is_max_audio_seconds(rate: int) -> None:
    limit = int(MAX_AUDIO_SECONDS * rate)
    header = _packed(_audio_header(sample_rate=rate, format="s16"))
    message = decode_request([header, bytes(2 * limit)])
    assert isinstance(message, SpeakAudio) and message.samples.size == limit
    assert _refused([header, bytes(2 * (limit + 1))]) == ErrorCode.CHUNK_TOO_LARGE


def test_unsupported_rates_channels_and_formats() -> None:
    for rate in (0, 1, 7_999, 12_000, 96_000, 2**40):
        assert _refused([_packed(_audio_header(sample_rate=rate)), b""]) == (
            ErrorCode.UNSUPPORTED_AUDIO
        )
    for channels in (0, -1, MAX_CHANNELS + 1):
        assert _refused([_packed(_audio_header(channels=channels)), b""]) == (
            ErrorCode.UNSUPPORTED_AUDIO
        )
    for fmt in ("u8", "F32", "s24", ""):
        assert _refused([_packed(_audio_header(format=fmt)), b""]) == ErrorCode.UNSUPPORTED_AUDIO


def test_audio_defaults_and_required_fields() -> None:
    message = decode_request([_packed(_audio_header()), bytes(8)])
    assert isinstance(message, SpeakAudio)
    assert (message.channels, message.format, message.pts_us) == (1, "f32", None)
    no_rate = {k: v for k, v in _audio_header().items() if k != "sample_rate"}
    assert _refused([_packed(no_rate), b""]) == ErrorCode.BAD_FIELD
    no_session = {k: v for k, v in _audio_header().items() if k != "session"}
    assert _refused([_packed(no_session), b""]) == ErrorCode.BAD_FIELD
    for pts in (-1, 2**62 + 1):
        assert _refused([_packed(_audio_header(pts_us=pts)), b""]) == ErrorCode.BAD_FIELD
    nil = decode_request([_packed(_audio_header(pts_us=None, channels=None)), b""])
    assert isinstance(nil, SpeakAudio) and nil.pts_us is None and nil.channels == 1


# ---------------------------------------------------------------------------------------------
# Prompts, ids, ints


@pytest.mark.parametrize("kind", ["create_session", "set_prompt"])
def test_prompt_limit(kind: str) -> None:
    base: dict[str, object] = {"v": 1, "type": kind, "session": "s"}
    if kind == "create_session":
        del base["session"]
    ok = decode_request([_packed({**base, "prompt": "é" * MAX_PROMPT_CHARS})])  # chars, not bytes
    assert getattr(ok, "prompt") == "é" * MAX_PROMPT_CHARS  # noqa: B009
    too_long = [_packed({**base, "prompt": "x" * (MAX_PROMPT_CHARS + 1)})]
    assert _refused(too_long) == ErrorCode.PROMPT_TOO_LONG


@PROPS
@given(st.integers(MAX_PROMPT_CHARS + 1, 4 * MAX_PROMPT_CHARS))
def test_any_prompt_over_the_limit_is_refused(length: int) -> None:
    parts = [_packed({"v": 1, "type": "set_prompt", "session": "s", "prompt": "p" * length})]
    assert _refused(parts) == ErrorCode.PROMPT_TOO_LONG


def test_empty_prompt_clears() -> None:
    message = decode_request(
        [_packed({"v": 1, "type": "set_prompt", "session": "s", "prompt": ""})]
    )
    assert isinstance(message, SetPrompt) and message.prompt is None


def test_id_fields_are_one_to_128_chars() -> None:
    def close(session: object) -> list[bytes]:
        return [_packed({"v": 1, "type": "close_session", "session": session})]

    assert isinstance(decode_request(close("s" * MAX_ID_CHARS)), CloseSession)
    for bad in ("", "s" * (MAX_ID_CHARS + 1), 7, b"s", None, ["s"]):
        assert _refused(close(bad)) == ErrorCode.BAD_FIELD
    bad_name = [_packed({"v": 1, "type": "prepare_character", "name": "a/b"}), b"img"]
    assert _refused(bad_name) == ErrorCode.BAD_FIELD
    non_ascii = [_packed({"v": 1, "type": "prepare_character", "name": "é"}), b"img"]
    assert _refused(non_ascii) == ErrorCode.BAD_FIELD


# (type, int field, a header that is valid without the field, payload)
INT_FIELDS: list[tuple[str, str, dict[str, object], list[bytes]]] = [
    ("create_session", "width", {}, []),
    ("create_session", "height", {}, []),
    ("create_session", "jpeg_quality", {}, []),
    ("create_session", "seed", {}, []),
    ("speak_audio", "sample_rate", {"session": "s", "sample_rate": 16_000}, [b""]),
    ("speak_audio", "channels", {"session": "s", "sample_rate": 16_000}, [b""]),
    ("speak_audio", "pts_us", {"session": "s", "sample_rate": 16_000}, [b""]),
    ("listen_audio", "pts_us", {"session": "s", "sample_rate": 16_000}, [b""]),
    ("ping", "t_us", {}, []),
    ("ping", "id", {}, []),
    ("prepare_character", "face_index", {"name": "n"}, [b"img"]),
]


@pytest.mark.parametrize(("kind", "name", "base", "payload"), INT_FIELDS)
@pytest.mark.parametrize("value", [True, False, 1.0, "1"])
def test_bool_float_or_str_is_never_an_int(
    kind: str, name: str, base: dict[str, object], payload: list[bytes], value: object
) -> None:
    header = {"v": 1, "type": kind, **base}
    decode_request([_packed(header), *payload])  # valid without the field
    assert _refused([_packed({**header, name: value}), *payload]) == ErrorCode.BAD_FIELD


@pytest.mark.parametrize("value", [True, False])
def test_bool_is_never_a_version(value: bool) -> None:
    assert _refused([_packed({"v": value, "type": "ping"})]) == ErrorCode.BAD_VERSION


@pytest.mark.parametrize(
    ("field", "value"),
    [("intensity", True), ("intensity", "0.5"), ("intensity", float("nan")),
     ("intensity", float("inf")), ("intensity", 1.5), ("intensity", -0.1),
     ("duration_s", 0.05), ("duration_s", 61), ("duration_s", False), ("emote", ""),
     ("emote", "x" * (MAX_PROMPT_CHARS + 1)), ("emote", 3)],
)  # fmt: skip
def test_trigger_emote_ranges(field: str, value: object) -> None:
    header = {"v": 1, "type": "trigger_emote", "session": "s", "emote": "nods", field: value}
    assert _refused([_packed(header)]) == ErrorCode.BAD_FIELD


def test_float_fields_accept_ints() -> None:
    header = {"v": 1, "type": "trigger_emote", "session": "s", "emote": "nods"}
    message = decode_request([_packed({**header, "intensity": 1, "duration_s": 3})])
    assert isinstance(message, TriggerEmote)
    assert (message.intensity, message.duration_s) == (1.0, 3.0)
    assert type(message.intensity) is float
    f32 = decode_request([msgpack.packb({**header, "intensity": 0.5}, use_single_float=True)])
    assert isinstance(f32, TriggerEmote) and f32.intensity == 0.5  # msgpack float32 is fine


@pytest.mark.parametrize(
    ("field", "value"),
    [("width", 15), ("width", 2049), ("height", 0), ("jpeg_quality", 0), ("jpeg_quality", 101),
     ("seed", -1), ("seed", 2**32), ("encoding", "png"), ("encoding", 1), ("character", ""),
     ("prompt", 5)],
)  # fmt: skip
def test_create_session_ranges(field: str, value: object) -> None:
    assert _refused([_packed({"v": 1, "type": "create_session", field: value})]) == (
        ErrorCode.BAD_FIELD
    )


def test_create_session_defaults() -> None:
    message = decode_request([_packed({"v": 1, "type": "create_session"})])
    assert message == CreateSession()
    assert (message.jpeg_quality, message.seed, message.width) == (85, 0, None)


# ---------------------------------------------------------------------------------------------
# Every error code the decoder raises, by example

_AUDIO = _audio_header()
_PREP = {"v": 1, "type": "prepare_character", "name": "hero"}
DECODE_ERRORS: list[tuple[str, list[bytes], ErrorCode]] = [
    ("v 2", [_packed({"v": 2, "type": "ping"})], ErrorCode.BAD_VERSION),
    ("no v", [_packed({"type": "ping"})], ErrorCode.BAD_VERSION),
    ("v str", [_packed({"v": "1", "type": "ping"})], ErrorCode.BAD_VERSION),
    ("no parts", [], ErrorCode.MALFORMED),
    ("not msgpack", [b"\xc1"], ErrorCode.MALFORMED),
    ("trailing bytes", [_packed({"v": 1, "type": "ping"}) + b"\x00"], ErrorCode.MALFORMED),
    ("truncated", [_packed({"v": 1, "type": "ping"})[:-1]], ErrorCode.MALFORMED),
    ("a list", [_packed([1, "ping"])], ErrorCode.MALFORMED),
    ("int keys", [b"\x81\x01\x01"], ErrorCode.MALFORMED),
    ("no type", [_packed({"v": 1})], ErrorCode.MALFORMED),
    ("type int", [_packed({"v": 1, "type": 3})], ErrorCode.MALFORMED),
    ("extra part", [_packed({"v": 1, "type": "ping"}), b""], ErrorCode.MALFORMED),
    ("missing part", [_packed(_AUDIO)], ErrorCode.MALFORMED),
    ("two parts", [_packed(_AUDIO), b"", b""], ErrorCode.MALFORMED),
    ("type dance", [_packed({"v": 1, "type": "dance"})], ErrorCode.UNKNOWN_TYPE),
    ("reply type", [_packed({"v": 1, "type": "frame"})], ErrorCode.UNKNOWN_TYPE),
    ("id -1", [_packed({"v": 1, "type": "ping", "id": -1})], ErrorCode.BAD_FIELD),
    ("id 2**63", [_packed({"v": 1, "type": "ping", "id": 2**63})], ErrorCode.BAD_FIELD),
    ("no session", [_packed({"v": 1, "type": "interrupt"})], ErrorCode.BAD_FIELD),
    ("odd bytes", [_packed(_audio_header(format="s16")), b"abc"], ErrorCode.BAD_PAYLOAD),
    ("empty image", [_packed(_PREP), b""], ErrorCode.BAD_PAYLOAD),
    ("rate", [_packed(_audio_header(sample_rate=44_000)), b""], ErrorCode.UNSUPPORTED_AUDIO),
    ("nan", [_packed(_AUDIO), np.array([np.nan], "<f4").tobytes()], ErrorCode.NON_FINITE_AUDIO),
    ("11 s", [_packed(_audio_header(sample_rate=8_000)), bytes(4 * 88_001)],
     ErrorCode.CHUNK_TOO_LARGE),
    ("big image", [_packed(_PREP), bytes(MAX_IMAGE_BYTES + 1)], ErrorCode.CHUNK_TOO_LARGE),
    ("big header", [_packed({"v": 1, "type": "ping", "pad": "x" * MAX_HEADER_BYTES})],
     ErrorCode.CHUNK_TOO_LARGE),
    ("prompt", [_packed({"v": 1, "type": "create_session", "prompt": "x" * 501})],
     ErrorCode.PROMPT_TOO_LONG),
]  # fmt: skip


@pytest.mark.parametrize(
    ("parts", "code"), [(p, c) for _, p, c in DECODE_ERRORS], ids=[n for n, _, _ in DECODE_ERRORS]
)
def test_each_refusal_has_its_code(parts: list[bytes], code: ErrorCode) -> None:
    assert _refused(parts) == code


def test_every_code_the_decoder_raises_has_an_example() -> None:
    """Codes named in protocol.py (INTERNAL is only the fallback of Error.to_exception)."""
    named = set(re.findall(r"ErrorCode\.([A-Z_]+)", PROTOCOL_SOURCE.read_text()))
    raised_by_decoding = {ErrorCode[n] for n in named} - {ErrorCode.INTERNAL}
    covered = {code for _, _, code in DECODE_ERRORS}
    assert raised_by_decoding <= covered, raised_by_decoding - covered


def test_header_size_limit_is_inclusive() -> None:
    base = _packed({"v": 1, "type": "ping", "pad": ""})
    pad = MAX_HEADER_BYTES - len(base) - 2  # str8 → str16 adds 2 bytes of length
    raw = _packed({"v": 1, "type": "ping", "pad": "x" * pad})
    assert len(raw) == MAX_HEADER_BYTES
    assert isinstance(decode_request([raw]), Ping)


def test_request_id_of_is_best_effort() -> None:
    assert request_id_of(_packed({"v": 9, "type": "?", "id": 42})) == 42  # even when refused
    assert request_id_of(_packed({"id": True})) == 0
    assert request_id_of(_packed({"id": -3})) == 0
    assert request_id_of(_packed([1, 2])) == 0
    assert request_id_of(b"\xc1") == 0
    assert request_id_of(bytes(MAX_HEADER_BYTES + 1)) == 0


# ---------------------------------------------------------------------------------------------
# Replies: frames and the rest


frame_sizes = st.tuples(st.integers(1, 12), st.integers(1, 12))


@PROPS
@given(
    size=frame_sizes,
    seed=st.integers(0, 2**32 - 1),
    index=st.integers(0, 2**40),
    state=st.sampled_from(SESSION_STATES),
    session=ids,
)
def test_rgba8_frames_round_trip(
    size: tuple[int, int], seed: int, index: int, state: str, session: str
) -> None:
    width, height = size
    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (height, width, 4), np.uint8)
    curves = rng.uniform(-1.5, 1.5, NUM_CURVES).astype("<f4")
    frame = Frame(
        session=session, index=index, pts_us=round(index * 1e6 / 25), state=state,
        width=width, height=height, curves=curves.tobytes(), pixels=(rgba.tobytes(),),
    )  # fmt: skip
    parts = encode(frame)
    assert len(parts) == 2 and len(parts[1]) == width * height * 4
    back = decode_reply([bytes(p) for p in parts])
    assert back == frame and back.request_id == 0
    assert isinstance(back, Frame)
    np.testing.assert_array_equal(back.rgba(), rgba)
    assert back.curve_array().shape == (NUM_CURVES,) and back.curve_array().dtype == "<f4"
    np.testing.assert_array_equal(back.curve_array(), curves)


def _jpeg_frame(width: int, height: int) -> tuple[Frame, np.ndarray]:
    import cv2

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgba = np.stack(
        [255 * x / width, 255 * y / height, 128 + 0 * x, 255 * (x + y) / (width + height)], -1
    ).astype(np.uint8)
    ok1, rgb_jpg = cv2.imencode(".jpg", cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2BGR))
    ok2, a_jpg = cv2.imencode(".jpg", np.ascontiguousarray(rgba[..., 3]))
    assert ok1 and ok2
    curves = np.linspace(0, 1, NUM_CURVES, dtype="<f4")
    frame = Frame(
        session="s", index=5, pts_us=200_000, state="both", encoding="jpeg", width=width,
        height=height, curves=curves.tobytes(), pixels=(rgb_jpg.tobytes(), a_jpg.tobytes()),
    )  # fmt: skip
    return frame, rgba


def test_jpeg_frames_round_trip() -> None:
    frame, rgba = _jpeg_frame(48, 32)
    parts = encode(frame)
    assert len(parts) == 3
    assert bytes(parts[1])[:3] == b"\xff\xd8\xff" and bytes(parts[2])[:3] == b"\xff\xd8\xff"
    back = decode_reply([bytes(p) for p in parts])
    assert isinstance(back, Frame) and back == frame
    pixels = back.rgba()
    assert pixels.shape == (32, 48, 4) and pixels.dtype == np.uint8
    assert np.abs(pixels.astype(int) - rgba).mean() < 4  # RGB order, alpha from its own JPEG
    np.testing.assert_array_equal(back.curve_array(), np.linspace(0, 1, NUM_CURVES, dtype="<f4"))


def test_jpeg_that_does_not_decode_is_bad_payload() -> None:
    frame, _ = _jpeg_frame(16, 16)
    broken = dataclasses.replace(frame, pixels=(b"not a jpeg", frame.pixels[1]))
    back = decode_reply(_parts(broken))
    assert isinstance(back, Frame)
    with pytest.raises(ProtocolError) as err:
        back.rgba()
    assert err.value.code == ErrorCode.BAD_PAYLOAD


def _frame_header(**fields: object) -> dict[str, object]:
    base = {"v": 1, "type": "frame", "session": "s", "index": 0, "pts_us": 0}
    base |= {"encoding": "rgba8", "width": 2, "height": 2, "curves": bytes(4 * NUM_CURVES)}
    return {**base, **fields}


@pytest.mark.parametrize(
    ("header", "payload", "code"),
    [(_frame_header(), [bytes(15)], ErrorCode.BAD_PAYLOAD),
     (_frame_header(), [], ErrorCode.MALFORMED),
     (_frame_header(encoding="jpeg"), [b"x"], ErrorCode.MALFORMED),
     (_frame_header(curves=bytes(60 * 4)), [bytes(16)], ErrorCode.BAD_FIELD),
     (_frame_header(curves=[0.0] * NUM_CURVES), [bytes(16)], ErrorCode.BAD_FIELD),
     (_frame_header(state="dance"), [bytes(16)], ErrorCode.BAD_FIELD),
     (_frame_header(encoding="png"), [bytes(16)], ErrorCode.BAD_FIELD),
     (_frame_header(index=True), [bytes(16)], ErrorCode.BAD_FIELD)],
)  # fmt: skip
def test_bad_frames_are_refused(
    header: dict[str, object], payload: list[bytes], code: ErrorCode
) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_reply([_packed(header), *payload])
    assert err.value.code == code


def test_frame_state_defaults_to_idle_and_ids_are_never_echoed() -> None:
    back = decode_reply([_packed(_frame_header(id=9)), bytes(16)])
    assert isinstance(back, Frame) and back.state == "idle" and back.request_id == 0


REPLIES: list[Message] = [
    SessionInfo(
        session="s1-ab", character="astronaut", fps=25.0, width=256, height=256,
        encoding="jpeg", latency_us=140_000, chunk_frames=1, sample_rate=16_000, next_index=12,
        now_us=480_000, resume_timeout_s=15.0, curve_names=CURVE_NAMES, request_id=3,
    ),
    Reply(session="s1-ab", request_id=4),
    Reply(request_id=5),
    Pong(t_us=123, server_time_us=456, request_id=6),
    Characters(default="astronaut", items=(CharacterInfo("astronaut", 256, 256, "a.png"),),
               request_id=7),
    Characters(),
    CharacterPrepared(character=CharacterInfo("hero", 512, 512, "upload"), request_id=8),
    CharacterPrepared(),
    Stats(session="s", values={"frames": 10.0, "late_chunks": 0.0}, request_id=9),
    Event(event="state_changed", session="s", state="speak", pts_us=40_000),
    Event(event="speak_scheduled", session="s", pts_us=200_000, duration_us=1_500_000),
    Event(event="session_closed", session="s", reason="timeout"),
    Event(event="late", session="s", count=3),
    Event(event="shutdown", reason="shutdown"),
    Error(code=9, name="UNKNOWN_SESSION", message="no session", session="s", request_id=10),
]  # fmt: skip


@pytest.mark.parametrize("message", REPLIES, ids=lambda m: m.TYPE)
def test_replies_round_trip(message: Message) -> None:
    back = decode_reply(_parts(message))
    assert back == message and back.request_id == message.request_id


def test_shutdown_event_has_an_empty_session() -> None:
    header = msgpack.unpackb(_parts(Event(event="shutdown", reason="shutdown"))[0])
    assert header == {
        "v": 1,
        "type": "event",
        "event": "shutdown",
        "session": "",
        "reason": "shutdown",
    }


def test_session_info_lists_the_61_curve_names() -> None:
    header = msgpack.unpackb(_parts(REPLIES[0])[0])
    assert header["curve_names"] == list(CURVE_NAMES) and len(CURVE_NAMES) == NUM_CURVES == 61


def test_unknown_fields_in_replies_are_ignored() -> None:
    header = msgpack.unpackb(_parts(REPLIES[0])[0]) | {"future_field": [1, 2]}
    assert decode_reply([_packed(header)]) == REPLIES[0]


def test_unknown_reply_type() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_reply([_packed({"v": 1, "type": "hologram"})])
    assert err.value.code == ErrorCode.UNKNOWN_TYPE


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_travels_as_an_error_message(code: ErrorCode) -> None:
    exc = ProtocolError(code, f"because {code.name.lower()}", session="s9")
    error = Error.from_exception(exc, request_id=77)
    header = msgpack.unpackb(_parts(error)[0])
    assert header == {
        "v": 1, "type": "error", "id": 77, "code": int(code), "name": code.name,
        "message": f"because {code.name.lower()}", "session": "s9",
    }  # fmt: skip
    back = decode_reply(_parts(error))
    assert isinstance(back, Error)
    again = back.to_exception()
    assert (again.code, again.message, again.session) == (code, exc.message, "s9")
    assert str(again) == f"{code.name}: {exc.message}"


def test_an_unknown_error_code_reads_as_internal() -> None:
    assert Error(code=999, name="FROM_THE_FUTURE").to_exception().code == ErrorCode.INTERNAL


def test_error_codes_are_stable() -> None:
    assert {c.name: int(c) for c in ErrorCode} == {
        "BAD_VERSION": 1, "MALFORMED": 2, "UNKNOWN_TYPE": 3, "BAD_FIELD": 4, "BAD_PAYLOAD": 5,
        "UNSUPPORTED_AUDIO": 6, "NON_FINITE_AUDIO": 7, "CHUNK_TOO_LARGE": 8,
        "UNKNOWN_SESSION": 9, "NOT_OWNER": 10, "PROMPT_TOO_LONG": 11, "TOO_MANY_SESSIONS": 12,
        "UNKNOWN_CHARACTER": 13, "PREPARE_FAILED": 14, "UNAUTHENTICATED": 15,
        "SHUTTING_DOWN": 16, "INTERNAL": 17,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Outbox


def _frame(session: str, k: int, offset_us: int = 0) -> Frame:
    return Frame(session=session, index=k, pts_us=offset_us + k * 40_000)


@PROPS
@given(
    max_frames=st.integers(1, 6),
    ops=st.lists(st.sampled_from(["a", "b", "c", "ctl"]), max_size=60),
)
def test_outbox_ring_and_control_order(max_frames: int, ops: list[str]) -> None:
    box = Outbox(max_frames=max_frames, max_control=1000)
    counts = {"a": 0, "b": 0, "c": 0}
    controls: list[Event] = []
    for op in ops:
        if op == "ctl":
            controls.append(Event(event="late", session="a", count=len(controls)))
            box.put(controls[-1])
        else:
            box.put(_frame(op, counts[op]))
            counts[op] += 1
    taken = box.take(limit=10_000)
    n_control = len(controls)
    assert taken[:n_control] == controls  # control first, in order, none lost
    frames = taken[n_control:]
    assert all(isinstance(f, Frame) for f in frames)
    for session, n in counts.items():
        kept = [f.index for f in frames if isinstance(f, Frame) and f.session == session]
        assert kept == list(range(max(0, n - max_frames), n))  # the newest, oldest dropped
    assert box.dropped_frames == sum(max(0, n - max_frames) for n in counts.values())
    assert box.pending() == 0 and not box.overflowed


def test_outbox_control_jumps_ahead_of_queued_frames() -> None:
    box = Outbox(max_frames=8)
    for k in range(3):
        box.put(_frame("a", k))
    reply = Reply(session="a", request_id=1)
    box.put(reply)
    first = box.take(limit=1)
    assert first == [reply]
    assert [m.index for m in box.take(limit=2) if isinstance(m, Frame)] == [0, 1]
    assert box.pending() == 1


def test_outbox_frames_of_two_sessions_take_turns() -> None:
    box = Outbox(max_frames=8)
    for k in range(4):
        box.put(_frame("a", k))
    for k in range(4):
        box.put(_frame("b", k, offset_us=20_000))  # b's frames sit between a's
    order = [(m.session, m.index) for m in box.take() if isinstance(m, Frame)]
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]


def test_outbox_control_overflow_marks_the_client() -> None:
    box = Outbox(max_frames=2, max_control=3)
    for i in range(3):
        box.put(Event(event="late", session="a", count=i))
    assert not box.overflowed
    box.put(Event(event="late", session="a", count=3))
    assert box.overflowed
    box.put(_frame("a", 0))  # frames still land in their ring
    taken = box.take()
    assert [m.count for m in taken if isinstance(m, Event)] == [0, 1, 2]  # the 4th was dropped
    assert [m.index for m in taken if isinstance(m, Frame)] == [0]
    assert box.overflowed  # stays set: the transport drops the client


def test_outbox_forget_close_and_wakeups() -> None:
    woken: list[int] = []
    box = Outbox(max_frames=4, on_ready=lambda: woken.append(1))
    box.put(_frame("a", 0))
    box.put(_frame("b", 0))
    assert len(woken) == 2
    box.forget_session("a")
    assert [m.session for m in box.take() if isinstance(m, Frame)] == ["b"]
    assert box.wait_take(timeout=0.01) == []
    assert not box.wait(timeout=0.01)
    box.close()
    box.put(_frame("a", 1))  # ignored once closed
    assert box.pending() == 0 and box.closed
    with pytest.raises(ValueError):
        Outbox(max_frames=0)


# ---------------------------------------------------------------------------------------------
# Edges that were once wrong.


@pytest.mark.parametrize("old_offset_us", [0, 600_000_000])
def test_outbox_no_session_starves_when_the_client_reads_slowly(old_offset_us: int) -> None:
    """handler.Outbox.take picks the session whose oldest queued frame has the smallest pts_us.
    Under overload (the client reads slower than the sessions produce, rings dropping their
    oldest) a fixed priority starves the other session: with equal timelines the first session
    wins every tie (197 of 200 reads); and each session's timeline starts at 0 when IT was
    created, so a session made 10 minutes ago (pts ~600 s) gets nothing next to a new one.
    Fix: take from sessions in round-robin order (see report)."""
    box = Outbox(max_frames=4)
    got = {"old": 0, "new": 0}
    for k in range(200):
        box.put(_frame("old", k, offset_us=old_offset_us))
        box.put(_frame("new", k))
        for m in box.take(limit=1):  # the client reads one frame per two produced
            if isinstance(m, Frame):
                got[m.session] += 1
    assert min(got.values()) >= 80, got


def test_decode_reply_ignores_unknown_fields_of_character_items() -> None:
    """PROTOCOL.md §2: receivers ignore fields they do not know. decode_reply builds
    CharacterInfo(**item), so a server that adds a field to a character map (a minor
    revision) makes every older Python client fail with TypeError."""
    item = {"id": "hero", "width": 256, "height": 256, "source": "a.png", "tags": ["x"]}
    header = {"v": 1, "type": "characters", "id": 2, "default": "hero", "items": [item]}
    back = decode_reply([_packed(header)])
    assert isinstance(back, Characters) and back.items[0].id == "hero"
    prepared = {"v": 1, "type": "character_prepared", "character": item}
    assert isinstance(decode_reply([_packed(prepared)]), CharacterPrepared)


def test_version_must_be_an_int() -> None:
    """decode_header accepts ``v: 1.0`` (a msgpack float) because 1.0 == 1; bool is refused,
    float should be too: a C++ encoder that writes a double must be told, not tolerated."""
    assert _refused([_packed({"v": 1.0, "type": "ping"})]) == ErrorCode.BAD_VERSION


def test_s16_encoding_uses_the_decoding_scale() -> None:
    """Audio.payload() writes s16 as round(x * 32767) but decoding divides by 32768, so a
    Python client's s16 audio comes back 0.003 % quiet and -1.0 cannot be sent. Samples that
    are exact multiples of 1/32768 should survive encode → decode exactly."""
    samples = np.array([-1.0, -0.75, 0.5, 0.75, 32767 / 32768], np.float32)
    message = SpeakAudio(session="s", format="s16", samples=samples)
    decoded = decode_request(_parts(message))
    assert isinstance(decoded, SpeakAudio)
    np.testing.assert_array_equal(decoded.samples, samples)


def test_audio_messages_compare_equal() -> None:
    """Audio is a frozen dataclass with an ndarray field: ``==`` raises ValueError (and
    hash() raises TypeError) as soon as there is more than one sample."""
    a = SpeakAudio(session="s", samples=np.zeros(2, np.float32))
    b = SpeakAudio(session="s", samples=np.zeros(2, np.float32))
    assert a == b


def test_decode_reply_of_no_parts_is_a_protocol_error() -> None:
    """decode_request([]) raises MALFORMED; decode_reply([]) raises IndexError."""
    with pytest.raises(ProtocolError) as err:
        decode_reply([])
    assert err.value.code == ErrorCode.MALFORMED


def test_jpeg_of_the_wrong_size_is_bad_payload() -> None:
    """Frame.rgba() of a JPEG whose size differs from width x height raises a numpy
    ValueError (broadcast) instead of ProtocolError(BAD_PAYLOAD)."""
    frame, _ = _jpeg_frame(32, 16)
    wrong = dataclasses.replace(frame, width=16, height=16)
    with pytest.raises(ProtocolError) as err:
        wrong.rgba()
    assert err.value.code == ErrorCode.BAD_PAYLOAD
