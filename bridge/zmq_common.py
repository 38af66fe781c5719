"""ZeroMQ plumbing shared by the server and the clients: CURVE keys, wake-ups, framing.

See :mod:`bridge.zmq_server` for the data plane's design (threads, flow control, liveness).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import zmq
import zmq.asyncio
import zmq.auth

from bridge.protocol import (
    Error,
    ErrorCode,
    Message,
    ProtocolError,
    decode_reply,
    encode,
)

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7701"
SERVER_SNDHWM = 16  # messages libzmq may queue per peer; the rest waits in the peer's outbox
MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # per part; libzmq disconnects a peer that sends more
CLIENT_MAX_OUTGOING = 1024  # messages a client buffers when libzmq's own queue (HWM) is full
SHUTDOWN_FLUSH_S = 1.0  # how long stop() tries to deliver the shutdown event to each client
_ZAP_DOMAIN = "lpm"  # the authenticator's rules are per domain; this server uses one
_RECV_BATCH = 128  # messages read per loop turn before the server flushes outboxes (fairness)
_SEND_BATCH = 256  # messages sent to one peer per loop turn
_MAX_POLL_S = 0.25
_MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)

ReplyT = TypeVar("ReplyT", bound=Message)


# ---------------------------------------------------------------------------------------------
# CURVE keys


@dataclass(frozen=True)
class CurveConfig:
    """CurveZMQ settings of a server. Keys are Z85 text (40 bytes each).

    ``allowed_client_keys``: public keys of the clients let in; None lets in any client that
    knows the server's public key (encryption without client authentication).
    """

    server_secret_key: bytes
    server_public_key: bytes
    allowed_client_keys: list[bytes] | None = None

    def __post_init__(self) -> None:
        keys = [self.server_secret_key, self.server_public_key, *(self.allowed_client_keys or [])]
        for key in keys:
            _check_z85_key(key)


def _check_z85_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != 40:
        raise ValueError("CURVE keys are 40-byte Z85 text (as zmq.curve_keypair() returns)")


def generate_keypair() -> tuple[bytes, bytes]:
    """A new CURVE key pair ``(public, secret)``, Z85 text."""
    public, secret = zmq.curve_keypair()
    return public, secret


def save_keys(path: str | os.PathLike[str], public: bytes, secret: bytes | None = None) -> None:
    """Write a ZeroMQ certificate file (czmq/pyzmq ``zcert`` format) with Z85 keys.

    With ``secret`` the file is created with mode 0600 (only the owner may read it); without,
    it is a public certificate meant to be handed to the other side.
    """
    _check_z85_key(public)
    lines = [
        "#   ZeroMQ CURVE certificate written by lpm bridge",
        "#   DO NOT SHARE a file that holds a secret-key.",
        "metadata",
        "curve",
        f'    public-key = "{public.decode("ascii")}"',
    ]
    if secret is not None:
        _check_z85_key(secret)
        lines.append(f'    secret-key = "{secret.decode("ascii")}"')
    text = "\n".join(lines) + "\n"
    mode = 0o600 if secret is not None else 0o644
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    os.chmod(path, mode)  # O_CREAT's mode does not apply to a file that already existed


def load_keys(path: str | os.PathLike[str]) -> tuple[bytes, bytes | None]:
    """Read ``(public, secret or None)`` from a certificate file written by :func:`save_keys`."""
    public, secret = zmq.auth.load_certificate(Path(path))
    _check_z85_key(public)
    if secret is not None:
        _check_z85_key(secret)
    return public, secret


class _AllowedKeys:
    """ZAP credentials provider for ThreadAuthenticator: a fixed set of client public keys."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        self._keys = frozenset(keys)

    def callback(self, domain: str, key: bytes) -> bool:
        allowed = key in self._keys
        if not allowed:
            log.warning("CURVE client key refused: %s", key.decode("ascii", "replace"))
        return allowed


# ---------------------------------------------------------------------------------------------
# Shared plumbing


class _Waker:
    """Wakes the thread that owns a socket, from any thread: an inproc PAIR pair.

    At most one wake-up byte is in flight (``_pending``), so producers never block and the
    pipe never fills. The owner polls :attr:`receiver` and calls :meth:`drain` BEFORE looking at
    the shared structures, so a wake-up after the drain is never lost.
    """

    def __init__(self, ctx: zmq.Context[Any]) -> None:
        address = f"inproc://lpm-wake-{uuid.uuid4().hex}"
        self.receiver: zmq.Socket[Any] = ctx.socket(zmq.PAIR)
        self.receiver.bind(address)
        self._sender: zmq.Socket[Any] = ctx.socket(zmq.PAIR)
        self._sender.connect(address)
        self._lock = threading.Lock()  # the sender is used from many threads, one at a time
        self._pending = False
        self._closed = False

    def wake(self) -> None:
        with self._lock:
            if self._pending or self._closed:
                return
            self._pending = True
            with contextlib.suppress(zmq.ZMQError):
                self._sender.send(b"", zmq.NOBLOCK)

    def drain(self) -> None:
        with self._lock:
            self._pending = False
        while True:
            try:
                self.receiver.recv(zmq.NOBLOCK)
            except zmq.Again:
                return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._sender.close(linger=0)
        self.receiver.close(linger=0)


def _new_routing_id() -> bytes:
    """16 random bytes; libzmq reserves routing ids that start with a zero byte."""
    rid = bytearray(uuid.uuid4().bytes)
    rid[0] = rid[0] or 1
    return bytes(rid)


def _snapshot_parts(message: Message) -> list[bytes]:
    """Encoded parts as owned bytes.

    The caller's numpy audio buffer may be reused as soon as ``push_speak`` returns, while the
    socket thread sends later: copy it now (audio chunks are kilobytes).
    """
    return [p if isinstance(p, bytes) else bytes(p) for p in encode(message)]


def _decode_incoming(frames: Sequence[zmq.Frame]) -> Message | None:
    """Decode a server → client message without copying payload parts (None: undecodable)."""
    if not frames:
        return None
    parts = [frames[0].bytes, *(f.buffer for f in frames[1:])]
    try:
        return decode_reply(cast(list[bytes], parts))
    except (ProtocolError, TypeError, ValueError, KeyError) as exc:
        log.warning("undecodable message from the server: %s", exc)
        return None


def _make_dealer(
    sock: zmq.Socket[Any],
    endpoint: str,
    routing_id: bytes,
    server_public_key: bytes | None,
    client_keys: tuple[bytes, bytes] | None,
) -> None:
    """Configure and connect a client DEALER (blocking or asyncio flavour)."""
    sock.setsockopt(zmq.ROUTING_ID, routing_id)
    sock.setsockopt(zmq.LINGER, 0)
    if server_public_key is not None:
        _check_z85_key(server_public_key)
        public, secret = client_keys if client_keys is not None else generate_keypair()
        _check_z85_key(public)
        _check_z85_key(secret)
        sock.setsockopt(zmq.CURVE_SERVERKEY, server_public_key)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    elif client_keys is not None:
        raise ValueError("client_keys need server_public_key (CURVE is enabled by the server key)")
    sock.connect(endpoint)


def _check_reply(request: Message, reply: Message, expect: type[ReplyT]) -> ReplyT:
    if isinstance(reply, Error):
        raise reply.to_exception()
    if not isinstance(reply, expect):
        raise ProtocolError(
            ErrorCode.INTERNAL,
            f"expected {expect.TYPE} in reply to {request.TYPE}, got {reply.TYPE}",
        )
    return reply


def _handshake_problem(event: int, value: int) -> str | None:
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return f"the server refused this client's CURVE key (ZAP status {value})"
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        return "security handshake failed: client and server disagree on CURVE keys or mechanism"
    if event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        return "security handshake failed (wrong server public key?)"
    return None
