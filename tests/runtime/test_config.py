"""Server settings: defaults, then the file, then flags; mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.config import ServerConfig


def test_file_over_defaults_and_flags_over_file(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text('port = 9100\nencoding = "jpeg"\nmax_sessions = 3\n[security]\ntoken = "t"\n')
    cfg = ServerConfig.load(path, port=None, max_sessions=5)
    assert cfg.port == 9100 and cfg.zmq_endpoint == "tcp://127.0.0.1:9101"
    assert cfg.encoding == "jpeg" and cfg.max_sessions == 5
    assert cfg.security.token == "t" and not cfg.security.enabled
    assert ServerConfig.load(None).grpc_address == "127.0.0.1:7700"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("prot = 1\n", "unknown settings ['prot']"),
        ("[security]\nenable = true\n", "unknown [security] settings ['enable']"),
        ('encoding = "png"\n', "encoding must be rgba8 or jpeg"),
        ('transports = ["http"]\n', "transports must be some of grpc, zmq"),
        ("port = 70000\n", "out of range"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        ServerConfig.load(path)
