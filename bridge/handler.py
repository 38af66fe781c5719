"""The seam between the wire and the runtime: transports decode, the runtime handles.

``bridge`` knows nothing of models or sessions. A transport (ZeroMQ, gRPC, in-process) turns
bytes into :mod:`bridge.protocol` messages and calls :meth:`RuntimeHandler.handle`; the runtime
answers with a reply message or raises :class:`~bridge.protocol.ProtocolError`. Output that
arrives later (frames, events) goes to the :class:`Outbox` the transport handed in with the
request, one outbox per connected client.

An outbox never blocks the runtime and never grows without bound: control messages (replies,
events, errors) jump ahead of frames, and frames are kept per session in a short ring that drops
the oldest when a client reads too slowly (latest wins). The runtime's generation speed is
therefore independent of any client's network.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Protocol

from bridge.protocol import Frame, Message

ClientId = str  # transport-scoped: "zmq:<identity hex>", "grpc:<client id>", "inproc:<n>"


class Outbox:
    """Bounded, thread-safe mailbox of one client. Producers never block.

    ``max_frames``: frames kept per session (a speak burst runs ahead of playback by up to the
    runtime's horizon, so size it to cover that). ``max_control``: pending replies and events;
    a client that lets this overflow has stopped reading and is marked ``overflowed`` (the
    transport then treats it as gone).
    """

    def __init__(
        self,
        max_frames: int = 32,
        max_control: int = 1024,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        if max_frames < 1 or max_control < 1:
            raise ValueError("outbox sizes must be positive")
        self.max_frames = max_frames
        self.max_control = max_control
        self._on_ready = on_ready
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._control: deque[Message] = deque()
        self._frames: dict[str, deque[Frame]] = {}
        self._turn: deque[str] = deque()  # sessions take turns, so none starves
        self.dropped_frames = 0
        self.overflowed = False
        self.closed = False

    def put(self, message: Message) -> None:
        """Queue a message; frames may evict older frames of the same session."""
        with self._lock:
            if self.closed:
                return
            if isinstance(message, Frame):
                ring = self._frames.get(message.session)
                if ring is None:
                    ring = self._frames[message.session] = deque()
                    self._turn.append(message.session)
                if len(ring) >= self.max_frames:
                    ring.popleft()
                    self.dropped_frames += 1
                ring.append(message)
            elif len(self._control) >= self.max_control:
                self.overflowed = True
                return
            else:
                self._control.append(message)
            self._ready.notify_all()
        if self._on_ready is not None:
            self._on_ready()

    def forget_session(self, session: str) -> None:
        """Drop queued frames of a session (it closed, or the client unsubscribed)."""
        with self._lock:
            if self._frames.pop(session, None) is not None:
                self._turn.remove(session)

    def take(self, limit: int = 64) -> list[Message]:
        """Up to ``limit`` messages, control first, then frames oldest first across sessions."""
        with self._lock:
            return self._take_locked(limit)

    def wait_take(self, timeout: float | None, limit: int = 64) -> list[Message]:
        """Like :meth:`take`, waiting up to ``timeout`` seconds for something to arrive."""
        with self._lock:
            if not self._pending_locked() and not self.closed:
                self._ready.wait(timeout)
            return self._take_locked(limit)

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds for something to take; True if there is."""
        with self._lock:
            if not self._pending_locked() and not self.closed:
                self._ready.wait(timeout)
            return self._pending_locked() > 0

    def pending(self) -> int:
        with self._lock:
            return self._pending_locked()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._ready.notify_all()
        if self._on_ready is not None:
            self._on_ready()

    def _pending_locked(self) -> int:
        return len(self._control) + sum(len(r) for r in self._frames.values())

    def _take_locked(self, limit: int) -> list[Message]:
        out: list[Message] = []
        while self._control and len(out) < limit:
            out.append(self._control.popleft())
        # Sessions take turns, each oldest frame first: a client that reads slowly still sees
        # every session move (timelines start at each session's creation, so pts order would
        # starve the newer ones).
        idle = 0
        while len(out) < limit and self._turn and idle < len(self._turn):
            ring = self._frames[self._turn[0]]
            self._turn.rotate(-1)
            if ring:
                out.append(ring.popleft())
                idle = 0
            else:
                idle += 1
        return out


class RuntimeHandler(Protocol):
    """What the runtime offers the transports. Implementations must be thread-safe."""

    def handle(
        self, client: ClientId, request: Message, outbox: Outbox
    ) -> Message | Future[Message] | None:
        """Serve one validated request and return its reply (None for audio: no reply).

        Slow requests (preparing a character takes seconds) return a Future instead: a
        transport must not wait for it on its I/O thread; it sends the result (or the
        ProtocolError it raises, as an error) when the future is done.
        ``outbox`` is where this client's frames and events go from now on (a create,
        resume or subscribe attaches it to the session). Raises ProtocolError to refuse.
        """
        ...

    def client_gone(self, client: ClientId) -> None:
        """The transport lost this client; its sessions wait for a resume, then time out."""
        ...
