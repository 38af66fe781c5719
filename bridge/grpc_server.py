"""gRPC control plane (DESIGN §7): service ``lpm.v1.Lpm``, health checking, reflection.

Unary RPCs serve control requests. ``Perform`` is one bidirectional stream per client: audio
and control go up; the frames, events and errors of that client's sessions come down from its
:class:`~bridge.handler.Outbox` (control first, frames latest-wins), so a client that reads
slowly loses old frames, never memory, and never slows anyone else.

A client is named by the ``lpm-client-id`` metadata it sends with every call (sessions belong
to it). With a token set, calls without ``authorization: Bearer <token>`` are refused with
UNAUTHENTICATED (health checks stay open for load balancers); with TLS set, the port speaks
TLS only.
"""

from __future__ import annotations

import hmac
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bridge.grpc_common import (
    CLIENT_ID_KEY,
    SERVICE,
    STATUS,
    STREAMED,
    UNARY,
    error_metadata,
    metadata_map,
    stream_response,
    to_message,
    unary_reply,
)
from bridge.handler import ClientId, Outbox, RuntimeHandler
from bridge.lpm.v1 import lpm_pb2 as pb
from bridge.lpm.v1 import lpm_pb2_grpc
from bridge.protocol import Error, ErrorCode, Event, Message, ProtocolError

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # an uploaded portrait or a 2048² RGBA frame fits
PREPARE_TIMEOUT_S = 300.0  # the longest a slow request (a character upload) may take
# A client without a stream keeps its outbox this long, s: longer than any session's resume
# timeout, so a reconnecting client finds the outbox its sessions still write to.
OUTBOX_LINGER_S = 300.0


@dataclass(frozen=True)
class TlsConfig:
    cert_chain_pem: bytes  # the server's certificate chain
    private_key_pem: bytes


class _TokenCheck(grpc.ServerInterceptor):
    """Refuse every call without the bearer token, except health checks."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}"

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        method = getattr(details, "method", "")
        if handler is None or method.startswith("/grpc.health.v1."):
            return handler
        got = metadata_map(getattr(details, "invocation_metadata", ())).get("authorization", "")
        if hmac.compare_digest(got.encode(), self._expected.encode()):  # constant time
            return handler

        def refuse(request: Any, context: grpc.ServicerContext) -> Any:
            context.set_trailing_metadata(error_metadata(ErrorCode.UNAUTHENTICATED))
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED: bad or no token")

        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(refuse)
        return grpc.unary_unary_rpc_method_handler(refuse)


class _Servicer(lpm_pb2_grpc.LpmServicer):
    def __init__(self, server: GrpcServer) -> None:
        self._server = server

    def _unary(self, rpc: str, request: Any, context: grpc.ServicerContext) -> Any:
        client = self._server.client_id(context)
        try:
            message = to_message(UNARY[rpc], request)
            reply = self._server.handle(client, message)
            if reply is None:
                raise ProtocolError(ErrorCode.INTERNAL, f"{rpc} produced no reply")
            return unary_reply(reply)
        except ProtocolError as exc:
            context.set_trailing_metadata(error_metadata(exc.code))
            context.abort(STATUS[exc.code], str(exc))

    def CreateSession(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("CreateSession", request, context)

    def ResumeSession(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("ResumeSession", request, context)

    def CloseSession(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("CloseSession", request, context)

    def Subscribe(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("Subscribe", request, context)

    def SetPrompt(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("SetPrompt", request, context)

    def TriggerEmote(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("TriggerEmote", request, context)

    def Interrupt(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("Interrupt", request, context)

    def GetStats(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("GetStats", request, context)

    def ListCharacters(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("ListCharacters", request, context)

    def PrepareCharacter(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._unary("PrepareCharacter", request, context)

    def Perform(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        return self._server.perform(request_iterator, context)


class GrpcServer:
    """Serves ``lpm.v1.Lpm`` for a :class:`RuntimeHandler`."""

    def __init__(
        self,
        handler: RuntimeHandler,
        address: str = "127.0.0.1:7700",
        *,
        tls: TlsConfig | None = None,
        token: str | None = None,
        max_workers: int = 32,
        max_frames_per_session: int = 32,
    ) -> None:
        self.handler = handler
        self.address = address
        self.tls = tls
        self.token = token
        self.max_frames = max_frames_per_session
        self._outboxes: dict[ClientId, Outbox] = {}
        self._streams: dict[ClientId, int] = {}
        self._newest: dict[ClientId, int] = {}  # the stream that receives a client's messages
        self._stream_ids = itertools.count(1)
        self._idle_since: dict[ClientId, float] = {}  # clients without a stream, since when (s)
        self._lock = threading.Lock()
        self._anon = itertools.count(1)
        self._stopping = threading.Event()
        self._health = health.HealthServicer()
        interceptors = [_TokenCheck(token)] if token else []
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers, thread_name_prefix="lpm-grpc"),
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        lpm_pb2_grpc.add_LpmServicer_to_server(_Servicer(self), self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = (
            pb.DESCRIPTOR.services_by_name["Lpm"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, self._server)
        self.port = 0

    def start(self) -> GrpcServer:
        if self.tls is not None:
            creds = grpc.ssl_server_credentials(
                [(self.tls.private_key_pem, self.tls.cert_chain_pem)]
            )
            self.port = self._server.add_secure_port(self.address, creds)
        else:
            self.port = self._server.add_insecure_port(self.address)
        if not self.port:
            raise OSError(f"gRPC cannot listen on {self.address}")
        self._server.start()
        for name in ("", SERVICE):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("gRPC control plane on port %d (TLS %s)", self.port, "on" if self.tls else "off")
        return self

    def stop(self, grace_s: float = 1.0, reason: str = "shutdown") -> None:
        """Tell every open stream, let them flush for ``grace_s``, then stop."""
        with self._lock:
            if self._stopping.is_set():
                return
            # Queue the event before raising the flag: a stream that sees the flag and an empty
            # outbox ends, so it must never see the flag first.
            for box in self._outboxes.values():
                box.put(Event(event="shutdown", reason=reason))
            self._stopping.set()
        self._health.enter_graceful_shutdown()
        self._server.stop(grace_s).wait(grace_s + 1)
        log.info("gRPC control plane stopped")

    def __enter__(self) -> GrpcServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- per client ---------------------------------------------------------------------------

    def client_id(self, context: grpc.ServicerContext) -> ClientId:
        given = metadata_map(context.invocation_metadata()).get(CLIENT_ID_KEY)
        if given and len(given) <= 128:
            return f"grpc:{given}"
        return f"grpc:{context.peer()}#{next(self._anon)}"

    def outbox(self, client: ClientId) -> Outbox:
        """The client's one outbox; it outlives a dropped stream by ``OUTBOX_LINGER_S``.

        Sessions hold on to the outbox they were created or resumed with, so a client that
        reconnects must get the same one back, whatever the order in which its new stream and
        its next unary call arrive relative to the server noticing the old stream's end.
        """
        now = time.monotonic()
        with self._lock:
            for other, since in list(self._idle_since.items()):
                if now - since > OUTBOX_LINGER_S:  # gone for good: free its frames
                    del self._idle_since[other]
                    self._outboxes.pop(other).close()
            box = self._outboxes.get(client)
            if box is None or box.closed:
                box = Outbox(max_frames=self.max_frames)
                self._outboxes[client] = box
                if not self._streams.get(client):
                    self._idle_since[client] = now
            return box

    def handle(self, client: ClientId, message: Message) -> Message | None:
        """The handler's reply, waiting for slow ones (this runs on a worker thread)."""
        reply = self.handler.handle(client, message, self.outbox(client))
        if isinstance(reply, futures.Future):
            return reply.result(timeout=PREPARE_TIMEOUT_S)
        return reply

    def perform(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        client = self.client_id(context)
        box = self.outbox(client)
        with self._lock:
            self._streams[client] = self._streams.get(client, 0) + 1
            self._idle_since.pop(client, None)
            # One receiving stream per client: a newer one (a reconnect whose old stream the
            # server has not seen end yet) takes over, so messages never split between them.
            me = self._newest[client] = next(self._stream_ids)
        # A half-close (the client has nothing more to send) does not end the stream: frames
        # already caused, and those of subscribed sessions, keep coming until the client cancels.
        failed = threading.Event()

        def read_upstream() -> None:
            try:
                for request in requests:
                    self._stream_request(client, box, request)
            except grpc.RpcError:
                failed.set()  # the client went away
            except Exception:  # a bug: log it, end the stream, keep the server
                log.exception("Perform stream of %s failed", client)
                failed.set()

        reader = threading.Thread(target=read_upstream, name="lpm-grpc-up", daemon=True)
        reader.start()
        log.info("client %s opened its Perform stream", client)
        try:
            while context.is_active() and not failed.is_set():
                box.wait(0.1)
                if self._newest.get(client) != me:  # checked between waking and taking
                    log.info("client %s: a newer Perform stream took over", client)
                    return
                for message in box.take():
                    yield stream_response(message)
                    if isinstance(message, Event) and message.event == "shutdown":
                        return
                if self._stopping.is_set() and not box.pending():
                    return
        finally:
            self._stream_ended(client, box)

    def _stream_request(self, client: ClientId, box: Outbox, request: Any) -> None:
        kind = request.WhichOneof("kind")
        if kind not in STREAMED:
            box.put(
                Error.from_exception(
                    ProtocolError(ErrorCode.MALFORMED, f"empty or unknown Perform request {kind}"),
                    request.id,
                )
            )
            return
        try:
            message = to_message(STREAMED[kind], getattr(request, kind), request.id)
            reply = self.handle(client, message)
        except ProtocolError as exc:
            box.put(Error.from_exception(exc, request.id))
            return
        except Exception:
            log.exception("handling %s from %s failed", kind, client)
            box.put(Error.from_exception(ProtocolError(ErrorCode.INTERNAL, "server error"), 0))
            return
        if reply is not None:
            object.__setattr__(reply, "request_id", request.id)
            box.put(reply)

    def _stream_ended(self, client: ClientId, box: Outbox) -> None:
        with self._lock:
            left = self._streams.get(client, 1) - 1
            if left:
                self._streams[client] = left
                return
            self._streams.pop(client, None)
            self._newest.pop(client, None)
            self._idle_since[client] = time.monotonic()
        log.info("client %s closed its Perform stream", client)
        self.handler.client_gone(client)
