"""PROTOCOL.md states what the code does: error codes, curve order, the worked examples."""

from __future__ import annotations

import re
from pathlib import Path

import msgpack
import numpy as np

from bridge.protocol import REQUESTS, ErrorCode, Frame, SpeakAudio, decode_request, encode
from models.motion import CURVE_NAMES

DOC = (Path(__file__).resolve().parents[2] / "bridge" / "PROTOCOL.md").read_text()


def _hex_block(after: str) -> bytes:
    start = DOC.index(after)
    block = DOC[DOC.index("```", start) + 3 : DOC.index("```", DOC.index("```", start) + 3)]
    return bytes.fromhex(" ".join(t for t in block.split() if re.fullmatch(r"[0-9a-f]{2}", t)))


def test_every_error_code_is_documented_with_its_number() -> None:
    errors = DOC[DOC.index("## 8. Errors") : DOC.index("## 9.")]
    rows = dict(re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", errors, re.M))
    assert rows == {str(int(c)): c.name for c in ErrorCode}


def test_every_request_type_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOC, re.M))
    assert set(REQUESTS) <= documented


def test_curve_order_is_the_code_order() -> None:
    start = DOC.index("`eyeBlinkLeft, ")
    listed = DOC[start : DOC.index("`", start + 1)].strip("`").replace("\n", " ")
    assert [n.strip() for n in listed.split(",")] == list(CURVE_NAMES)


def test_the_speak_audio_example_decodes_and_re_encodes() -> None:
    header = _hex_block("A `speak_audio` header")
    assert len(header) == 81
    message = decode_request([header, bytes.fromhex("e8 03 18 fc")])
    assert isinstance(message, SpeakAudio) and message.request_id == 7
    assert message.samples.tolist() == [1000 / 32768, -1000 / 32768]
    assert msgpack.unpackb(header) == {
        "v": 1, "type": "speak_audio", "id": 7, "session": "s1-3f2a9c01",
        "sample_rate": 48000, "channels": 1, "format": "s16",
    }  # fmt: skip


def test_the_frame_example_is_what_the_server_sends() -> None:
    frame = Frame(
        session="s1-3f2a9c01", index=42, pts_us=1_680_000, state="speak", encoding="rgba8",
        width=256, height=256, curves=np.zeros(61, "<f4").tobytes(),
        pixels=(bytes(256 * 256 * 4),),
    )  # fmt: skip
    parts = encode(frame)
    documented = _hex_block("The start of a `frame` header")
    assert len(parts[0]) == 353
    assert bytes(parts[0]).startswith(documented)
    assert len(parts[1]) == 262_144
