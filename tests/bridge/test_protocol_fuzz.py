"""Property-based tests of the decoder and validators: anything a client sends either decodes
to a valid message or raises ProtocolError with a code, never anything else."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.handler import Outbox
from bridge.protocol import (
    MAX_AUDIO_SECONDS,
    MAX_PROMPT_CHARS,
    REQUESTS,
    SUPPORTED_SAMPLE_RATES,
    CreateSession,
    ErrorCode,
    Event,
    Frame,
    ProtocolError,
    SetPrompt,
    SpeakAudio,
    TriggerEmote,
    decode_reply,
    decode_request,
    encode,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.binary(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
field_names = st.sampled_from(
    ["session", "sample_rate", "channels", "format", "pts_us", "prompt", "emote", "intensity",
     "duration_s", "width", "height", "encoding", "jpeg_quality", "seed", "character", "name",
     "face_index", "t_us", "id", "v", "type"]
)  # fmt: skip


def _decode_or_protocol_error(parts: list[bytes]) -> None:
    try:
        decode_request(parts)
    except ProtocolError as exc:
        assert isinstance(exc.code, ErrorCode) and exc.message


@FAST
@given(st.lists(st.binary(max_size=200), min_size=0, max_size=4))
def test_arbitrary_bytes_never_crash_the_decoder(parts: list[bytes]) -> None:
    _decode_or_protocol_error(parts)


@FAST
@given(
    st.sampled_from(sorted(REQUESTS)),
    st.dictionaries(field_names, values, max_size=8),
    st.lists(st.binary(max_size=64), max_size=3),
)
def test_maps_mixing_real_fields_with_wrong_types_never_crash(
    kind: str, fields: dict[str, object], payload: list[bytes]
) -> None:
    header = {"v": 1, "type": kind, **fields}
    try:
        raw = msgpack.packb(header, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return  # not representable in msgpack at all
    _decode_or_protocol_error([raw, *payload])


@FAST
@given(values)
def test_any_msgpack_value_as_header(value: object) -> None:
    try:
        raw = msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return
    _decode_or_protocol_error([raw])


@FAST
@given(
    rate=st.sampled_from(SUPPORTED_SAMPLE_RATES),
    channels=st.integers(1, 8),
    fmt=st.sampled_from(["f32", "s16"]),
    n=st.integers(0, 400),
    seed=st.integers(0, 2**32 - 1),
)
def test_audio_decodes_to_the_channel_mean(
    rate: int, channels: int, fmt: str, n: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    pcm = rng.uniform(-1, 1, (n, channels)).astype(np.float32)
    if fmt == "s16":
        data = np.round(pcm * 32767).astype("<i2")
        expected = data.astype(np.float32).mean(axis=1) / 32768
    else:
        data = pcm.astype("<f4")
        expected = pcm.mean(axis=1)
    header = {"v": 1, "type": "speak_audio", "session": "s", "sample_rate": rate}
    header |= {"channels": channels, "format": fmt}
    message = decode_request([msgpack.packb(header), data.tobytes()])
    assert isinstance(message, SpeakAudio)
    np.testing.assert_allclose(message.samples, expected, atol=1e-6)


@FAST
@given(st.integers(0, 99), st.sampled_from([np.nan, np.inf, -np.inf]))
def test_non_finite_samples_anywhere_are_refused(at: int, bad: float) -> None:
    pcm = np.zeros(100, "<f4")
    pcm[at] = bad
    header = {"v": 1, "type": "listen_audio", "session": "s", "sample_rate": 16000}
    with pytest.raises(ProtocolError) as err:
        decode_request([msgpack.packb(header), pcm.tobytes()])
    assert err.value.code == ErrorCode.NON_FINITE_AUDIO


@FAST
@given(
    session=st.text(min_size=1, max_size=128),
    prompt=st.one_of(st.none(), st.text(min_size=1, max_size=MAX_PROMPT_CHARS)),
    width=st.one_of(st.none(), st.integers(16, 2048)),
    quality=st.integers(1, 100),
    emote=st.text(min_size=1, max_size=50),
    intensity=st.floats(0, 1),
)
def test_valid_requests_round_trip(
    session: str,
    prompt: str | None,
    width: int | None,
    quality: int,
    emote: str,
    intensity: float,
) -> None:
    for message in (
        CreateSession(prompt=prompt, width=width, height=width, jpeg_quality=quality),
        SetPrompt(session=session, prompt=prompt),
        TriggerEmote(session=session, emote=emote, intensity=intensity),
    ):
        decoded = decode_request([bytes(p) for p in encode(message)])
        assert decoded == message


def _audio(**fields: object) -> dict[str, object]:
    return {"v": 1, "type": "speak_audio", "session": "s", "sample_rate": 16000, **fields}


TOO_LONG = bytes(4 * 8000 * int(MAX_AUDIO_SECONDS + 1))
LONG_PROMPT = "x" * (MAX_PROMPT_CHARS + 1)


@pytest.mark.parametrize(
    ("header", "payload", "code"),
    [
        ({"v": 2, "type": "ping"}, [], ErrorCode.BAD_VERSION),
        ({"v": True, "type": "ping"}, [], ErrorCode.BAD_VERSION),
        ({"v": 1}, [], ErrorCode.MALFORMED),
        ({"v": 1, "type": "dance"}, [], ErrorCode.UNKNOWN_TYPE),
        ({"v": 1, "type": "set_prompt"}, [], ErrorCode.BAD_FIELD),
        ({"v": 1, "type": "create_session", "width": True}, [], ErrorCode.BAD_FIELD),
        ({"v": 1, "type": "create_session", "width": 8}, [], ErrorCode.BAD_FIELD),
        ({"v": 1, "type": "ping", "id": -1}, [], ErrorCode.BAD_FIELD),
        (_audio(), [], ErrorCode.MALFORMED),
        (_audio(), [b"abc"], ErrorCode.BAD_PAYLOAD),
        (_audio(sample_rate=7000), [b""], ErrorCode.UNSUPPORTED_AUDIO),
        (_audio(channels=9), [b""], ErrorCode.UNSUPPORTED_AUDIO),
        (_audio(format="u8"), [b""], ErrorCode.UNSUPPORTED_AUDIO),
        (_audio(sample_rate=8000), [TOO_LONG], ErrorCode.CHUNK_TOO_LARGE),
        ({"v": 1, "type": "set_prompt", "session": "s", "prompt": LONG_PROMPT}, [],
         ErrorCode.PROMPT_TOO_LONG),
        ({"v": 1, "type": "prepare_character", "name": "a b"}, [b"img"], ErrorCode.BAD_FIELD),
        ({"v": 1, "type": "prepare_character", "name": "ok"}, [b""], ErrorCode.BAD_PAYLOAD),
    ],
)  # fmt: skip
def test_each_refusal_has_its_code(
    header: dict[str, object], payload: list[bytes], code: ErrorCode
) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_request([msgpack.packb(header), *payload])
    assert err.value.code == code


def test_oversize_and_garbage_headers() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_request([b"\x81" + msgpack.packb("k") + msgpack.packb("x" * 70_000)])
    assert err.value.code == ErrorCode.CHUNK_TOO_LARGE
    with pytest.raises(ProtocolError) as err:
        decode_request([b"\xc1"])
    assert err.value.code == ErrorCode.MALFORMED


def test_frames_round_trip_both_encodings() -> None:
    import cv2

    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (32, 48, 4), np.uint8)
    curves = rng.uniform(0, 1, 61).astype("<f4")
    raw = Frame(session="s", index=3, pts_us=120_000, width=48, height=32,
                curves=curves.tobytes(), pixels=(rgba.tobytes(),))  # fmt: skip
    back = decode_reply([bytes(p) for p in encode(raw)])
    assert isinstance(back, Frame)
    np.testing.assert_array_equal(back.rgba(), rgba)
    np.testing.assert_array_equal(back.curve_array(), curves)
    smooth = cv2.GaussianBlur(rgba, (9, 9), 3)
    _, rgb_jpg = cv2.imencode(".jpg", cv2.cvtColor(smooth[..., :3], cv2.COLOR_RGB2BGR))
    _, a_jpg = cv2.imencode(".jpg", np.ascontiguousarray(smooth[..., 3]))
    jpeg = Frame(session="s", index=4, pts_us=160_000, encoding="jpeg", width=48, height=32,
                 curves=curves.tobytes(), pixels=(rgb_jpg.tobytes(), a_jpg.tobytes()))  # fmt: skip
    decoded = decode_reply([bytes(p) for p in encode(jpeg)])
    assert isinstance(decoded, Frame)
    assert np.abs(decoded.rgba().astype(int) - smooth).mean() < 6


def test_outbox_puts_control_first_and_drops_the_oldest_frames() -> None:
    box = Outbox(max_frames=3, max_control=2)

    def frame(session: str, k: int) -> Frame:
        return Frame(session=session, index=k, pts_us=k * 40_000)

    for k in range(5):
        box.put(frame("a", k))
    box.put(frame("b", 0))
    box.put(Event(event="late", session="a"))
    taken = box.take()
    assert isinstance(taken[0], Event)
    frames = [(m.session, m.index) for m in taken[1:] if isinstance(m, Frame)]
    assert frames == [("b", 0), ("a", 2), ("a", 3), ("a", 4)]  # pts order across sessions
    assert box.dropped_frames == 2
    for _ in range(3):
        box.put(Event(event="late", session="a"))
    assert box.overflowed
