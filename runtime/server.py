"""``lpm serve``: the engine behind both transports, with logging and a clean shutdown.

One base port: gRPC (control plane, ``lpm.v1``) on it, the ZeroMQ ROUTER (data plane) on the
next. Shutdown (SIGINT/SIGTERM) stops taking requests, tells every client (``shutdown`` event,
``session_closed`` with reason ``shutdown``), flushes, then exits.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from runtime.config import ServerConfig
from runtime.engine import Engine

if TYPE_CHECKING:
    from bridge.grpc_server import GrpcServer, TlsConfig
    from bridge.zmq_common import CurveConfig
    from bridge.zmq_server import ZmqServer

log = logging.getLogger(__name__)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (for log shippers)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "t": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _curve_config(cfg: ServerConfig) -> CurveConfig | None:
    from bridge.zmq_common import CurveConfig, load_keys

    sec = cfg.security
    if not sec.enabled:
        return None
    if sec.zmq_server_key is None:
        raise ValueError("security is on but security.zmq_server_key is not set (lpm keys)")
    public, secret = load_keys(sec.zmq_server_key)
    if secret is None:
        raise ValueError(f"{sec.zmq_server_key} holds no secret key")
    allowed = [load_keys(p)[0] for p in sec.zmq_allowed_clients] or None
    return CurveConfig(secret, public, allowed)


def _tls_config(cfg: ServerConfig) -> tuple[TlsConfig | None, str | None]:
    from bridge.grpc_server import TlsConfig

    sec = cfg.security
    if not sec.enabled:
        return None, None
    if sec.tls_cert is None or sec.tls_key is None or not sec.token:
        raise ValueError("security is on but tls_cert, tls_key or token is not set")
    return TlsConfig(Path(sec.tls_cert).read_bytes(), Path(sec.tls_key).read_bytes()), sec.token


class Server:
    """The engine and both transports, started and stopped together."""

    def __init__(self, config: ServerConfig, engine: Engine | None = None) -> None:
        self.config = config
        self.engine = engine or Engine(config)
        self.zmq: ZmqServer | None = None
        self.grpc: GrpcServer | None = None
        if "zmq" in config.transports:
            from bridge.zmq_server import ZmqServer

            self.zmq = ZmqServer(
                self.engine,
                config.zmq_endpoint,
                security=_curve_config(config),
                client_timeout_s=config.client_timeout_s,
            )
        if "grpc" in config.transports:
            from bridge.grpc_server import GrpcServer

            tls, token = _tls_config(config)
            self.grpc = GrpcServer(self.engine, config.grpc_address, tls=tls, token=token)
        self._stopped = threading.Event()

    def start(self) -> None:
        t0 = time.perf_counter()
        self.engine.start()
        planes = []
        if self.zmq is not None:
            self.zmq.start()
            planes.append(f"ZeroMQ {self.zmq.bound_endpoint}")
        if self.grpc is not None:
            self.grpc.start()
            planes.append(f"gRPC {self.config.host}:{self.grpc.port}")
        generator = self.config.generator
        if generator == "online":
            backend = getattr(self.engine.generator, "backend_name", self.config.online_backend)
            generator = f"online ({backend}, chunks of {self.engine.pacing.chunk_frames} frames)"
        log.info(
            "serving %s; %s generator, %dx%d @ %g fps, latency %d ms, security %s "
            "(ready in %.1f s)",
            ", ".join(planes),
            generator,
            self.config.width,
            self.config.height,
            self.config.fps,
            self.engine.pacing.latency_us // 1000,
            "on" if self.config.security.enabled else "off",
            time.perf_counter() - t0,
        )

    def stop(self, reason: str = "shutdown") -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("shutting down: closing %d sessions", len(self.engine.sessions))
        self.engine.stop(reason)  # session_closed events go into the outboxes first
        if self.zmq is not None:
            self.zmq.stop(reason)  # then every client hears "shutdown"; outboxes flush
        if self.grpc is not None:
            self.grpc.stop(reason=reason)
        log.info("stopped")

    def serve_forever(self) -> None:
        """Run until SIGINT or SIGTERM."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d received", signum)
            self._stopped_by_signal.set()

        self._stopped_by_signal = threading.Event()
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        self.start()
        try:
            while not self._stopped_by_signal.wait(0.5):
                pass
        finally:
            self.stop()
