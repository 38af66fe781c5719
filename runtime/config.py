"""Server settings: defaults here, a TOML file over them, command-line flags over that.

Ports: one base port. gRPC listens on it and the ZeroMQ ROUTER on ``port + 1`` unless set
explicitly. Security (CurveZMQ + gRPC TLS and token) is one switch and off by default; the
server refuses to turn it on with key files missing.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.session import Pacing

# The generator sessions use unless told otherwise (`lpm serve`, `lpm demo`, settings files).
DEFAULT_GENERATOR = "online"
GENERATORS = ("procedural", "online")
ONLINE_BACKENDS = ("onnx", "torch")


def default_character_dir() -> Path:
    """Where prepared characters live unless configured: ``$XDG_CACHE_HOME/lpm/characters``."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "lpm" / "characters"


@dataclass
class SecurityConfig:
    enabled: bool = False  # one switch for CurveZMQ and gRPC TLS + bearer token
    zmq_server_key: Path | None = None  # Z85 key pair file written by `lpm keys`
    zmq_allowed_clients: list[Path] = field(default_factory=list)  # client public key files
    tls_cert: Path | None = None  # PEM certificate chain for gRPC
    tls_key: Path | None = None  # PEM private key for gRPC
    token: str | None = None  # bearer token gRPC clients must send


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"  # bind address of both transports
    port: int = 7700  # base port: gRPC here
    zmq_port: int | None = None  # ZeroMQ ROUTER; None = port + 1
    transports: tuple[str, ...] = ("grpc", "zmq")  # which planes to serve
    fps: float = 25.0  # video frame rate of every session
    chunk_frames: int = 1  # frames per generator step
    width: int = 256  # default output size (sessions may ask for another)
    height: int = 256
    encoding: str = "rgba8"  # default frame encoding: rgba8 or jpeg
    max_sessions: int = 16  # sessions the server holds at once
    max_sessions_per_client: int = 4
    session_timeout_s: float = 15.0  # a session whose owner is silent this long closes
    client_timeout_s: float = 5.0  # a client silent this long is gone (its sessions wait)
    horizon_s: float = 0.5  # speak frames may run this far ahead of real time
    device: str = "cpu"  # cpu or cuda (learned generators; the procedural one runs on CPU)
    generator: str = DEFAULT_GENERATOR  # procedural or online (the Online LPM)
    online_checkpoint: Path | None = None  # Online LPM checkpoint; None = the shipped one
    online_backend: str = "onnx"  # onnx (onnxruntime) or torch
    character_dir: Path = field(default_factory=default_character_dir)
    log_json: bool = False
    security: SecurityConfig = field(default_factory=SecurityConfig)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536 or (self.zmq_port is not None and not self.zmq_port >= 0):
            raise ValueError(f"port {self.port} is out of range")
        self.transports = tuple(self.transports)
        if not self.transports or set(self.transports) - {"grpc", "zmq"}:
            raise ValueError(f"transports must be some of grpc, zmq; got {self.transports}")
        if self.encoding not in ("rgba8", "jpeg"):
            raise ValueError(f"encoding must be rgba8 or jpeg, got {self.encoding!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")
        if self.generator not in GENERATORS:
            raise ValueError(
                f"unknown generator {self.generator!r} (available: {', '.join(GENERATORS)})"
            )
        if self.online_backend not in ONLINE_BACKENDS:
            raise ValueError(
                f"unknown online backend {self.online_backend!r} "
                f"(available: {', '.join(ONLINE_BACKENDS)})"
            )
        if self.online_checkpoint is not None:
            self.online_checkpoint = Path(self.online_checkpoint).expanduser()
        if not (16 <= self.width <= 2048 and 16 <= self.height <= 2048):
            raise ValueError("width and height must be 16..2048")
        if self.max_sessions < 1 or self.max_sessions_per_client < 1:
            raise ValueError("session limits must be at least 1")
        if min(self.session_timeout_s, self.client_timeout_s, self.horizon_s) < 0:
            raise ValueError("timeouts and horizon must not be negative")
        self.character_dir = Path(self.character_dir).expanduser()

    @property
    def zmq_endpoint(self) -> str:
        port = self.port + 1 if self.zmq_port is None else self.zmq_port
        return f"tcp://{self.host}:{port}"

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self.port}"

    def pacing(self, model_chunk: int = 1, lookahead_frames: int = 0) -> Pacing:
        """Session pacing; a generator that steps in chunks of ``model_chunk`` frames gets
        ``chunk_frames`` rounded up to a multiple of it, and its speak look-ahead."""
        chunk = -(-self.chunk_frames // model_chunk) * model_chunk
        return Pacing(
            fps=self.fps,
            chunk_frames=chunk,
            horizon_us=round(self.horizon_s * 1e6),
            lookahead_frames=lookahead_frames,
        )

    @classmethod
    def load(cls, path: Path | None = None, **overrides: Any) -> ServerConfig:
        """Defaults, then the TOML file (if given), then non-None ``overrides``."""
        values: dict[str, Any] = {}
        if path is not None:
            with open(path, "rb") as fh:
                values = tomllib.load(fh)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
        security = values.pop("security", {})
        sec_known = {f.name for f in dataclasses.fields(SecurityConfig)}
        if set(security) - sec_known:
            extra = sorted(set(security) - sec_known)
            raise ValueError(f"{path}: unknown [security] settings {extra}")
        sec = SecurityConfig(**security)
        for key in ("zmq_server_key", "tls_cert", "tls_key"):
            if getattr(sec, key) is not None:
                setattr(sec, key, Path(getattr(sec, key)))
        sec.zmq_allowed_clients = [Path(p) for p in sec.zmq_allowed_clients]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(security=sec, **values)
