"""The engine: sessions, the generation loop, and the handler the transports call.

The loop is three steps (vLLM's ``EngineCore.step`` shape):

    plan = scheduler.schedule(sessions, now)   # which chunks are due (pure, no I/O)
    outputs = self.execute(plan.jobs)          # generate (batched per backend), render, encode
    self.publish(outputs)                      # frames and events into the clients' outboxes

Transports call :meth:`Engine.handle` from their own threads; it only touches session data
under the engine lock (microseconds) and wakes the loop. Generation and rendering run outside
the lock, so audio keeps arriving while frames are made. Publishing never blocks: an outbox drops
a slow client's oldest frames, so one client cannot slow another.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bridge.handler import ClientId, Outbox
from bridge.protocol import (
    NUM_CURVES,
    CharacterInfo,
    CharacterPrepared,
    Characters,
    CloseSession,
    CreateSession,
    EndOfSpeech,
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
)
from models.generator import SAMPLE_RATE, ChunkInputs, PerformanceGenerator
from models.logmel import LogMelFrontEnd, LogMelState
from models.motion import CURVE_NAMES
from models.performer import ProceduralPerformer
from models.portrait import PortraitError
from models.render.prep import PrepError
from models.render.warp import WarpRenderer
from runtime.characters import CharacterRegistry
from runtime.config import ServerConfig
from runtime.frontend import SileroVad
from runtime.scheduler import ChunkJob, Scheduler
from runtime.session import Session

log = logging.getLogger(__name__)

assert len(CURVE_NAMES) == NUM_CURVES  # the wire and the models agree on the motion space


@dataclass
class JobInput:
    """What a chunk is made from, read under the lock so execution needs none."""

    speak: np.ndarray  # [n * spf] float32, 16 kHz
    listen: np.ndarray
    prompt: str | None
    probs: np.ndarray  # [2, n] mean speech probability per frame (speak, listen)
    gen_state: Any
    feature_state: tuple[LogMelState, LogMelState]
    speak_ahead: np.ndarray | None = None  # [lookahead * spf]: speak audio past the chunk


@dataclass
class ChunkOutput:
    job: ChunkJob
    curves: np.ndarray  # [n, 61]
    state_after: tuple[Any, Any]  # Session.snapshot() after the chunk
    pixels: list[tuple[bytes | memoryview, ...]]  # encoded payload parts per frame
    states: list[str]  # session state per frame
    finished_ns: int


def generator_by_name(
    name: str,
    online_checkpoint: Path | None = None,
    online_backend: str = "onnx",
    device: str = "cpu",
) -> PerformanceGenerator[Any]:
    """A generator by its name in `runtime.config.GENERATORS` (the Online LPM loads, and exports
    once, here)."""
    from runtime.config import GENERATORS

    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r} (available: {', '.join(GENERATORS)})")
    if name == "online":
        from models.online_generator import load_online_generator

        return load_online_generator(online_checkpoint, backend=online_backend, device=device)
    return ProceduralPerformer()


def build_generator(config: ServerConfig) -> PerformanceGenerator[Any]:
    """The generator the settings name."""
    return generator_by_name(
        config.generator, config.online_checkpoint, config.online_backend, config.device
    )


def _emote_prompt(emote: str, intensity: float) -> str:
    """A one-shot emote as prompt text; the performer reads intensity words."""
    if intensity >= 0.9:
        return f"very {emote}"
    if intensity <= 0.6:
        return f"slightly {emote}"
    return emote


class Engine:
    """Implements :class:`bridge.handler.RuntimeHandler` over real sessions."""

    def __init__(
        self,
        config: ServerConfig,
        registry: CharacterRegistry | None = None,
        generator: PerformanceGenerator[Any] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry or CharacterRegistry(config.character_dir, config.width)
        self.generator: PerformanceGenerator[Any] = generator or build_generator(config)
        # A learned generator steps in chunks of its own and hears some speak audio ahead.
        self.pacing = config.pacing(
            getattr(self.generator, "chunk_frames", 1),
            getattr(self.generator, "lookahead_frames", 0),
        )
        self.scheduler = Scheduler()
        self.vad = SileroVad.shared()
        self.features = LogMelFrontEnd(fps=config.fps)  # stateless; sessions hold the state
        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._prep_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lpm-prep")
        # New prompt texts are encoded here as they arrive, so the loop finds them cached.
        self._text_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lpm-text")
        # Frames of one tick are rendered and encoded side by side: OpenCV and NumPy release
        # the GIL, and a chunked generator hands over several frames per session at once.
        self._render_pool = concurrent.futures.ThreadPoolExecutor(
            max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="lpm-render"
        )
        self._seq = itertools.count(1)
        self.shutting_down = False
        self.tick_times_ms: collections.deque[float] = collections.deque(maxlen=5000)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.registry.get(None)  # the default character is ready before the first client
        warm_up = getattr(self.generator, "warm_up", None)
        if warm_up is not None:  # a learned generator loads its text encoder and runs once
            t0 = time.perf_counter()
            warm_up()
            log.info("generator warmed up in %.1f s", time.perf_counter() - t0)
        self._thread = threading.Thread(target=self._run, name="lpm-engine", daemon=True)
        self._thread.start()

    def stop(self, reason: str = "shutdown") -> None:
        """Close every session (telling its clients) and stop the loop."""
        with self._lock:
            self.shutting_down = True
            for session in list(self.sessions.values()):
                self._close_locked(session, reason)
            self._wake.notify_all()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._prep_pool.shutdown(wait=False, cancel_futures=True)
        self._text_pool.shutdown(wait=False, cancel_futures=True)
        self._render_pool.shutdown(wait=False, cancel_futures=True)

    # --- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # a bug must not kill every session
                log.exception("engine step failed")
                time.sleep(0.01)

    def step(self) -> int:
        """One tick: schedule → execute → publish. Returns the number of chunks made."""
        with self._lock:
            self._expire_locked()
            now = time.monotonic_ns()
            plan = self.scheduler.schedule(list(self.sessions.values()), now)
            for sid, n in plan.skipped.items():
                self.sessions[sid].stats.skipped_frames += n
                log.warning("session %s fell behind: skipped %d frames", sid, n)
            inputs = [self._inputs_locked(job) for job in plan.jobs]
            if not plan.jobs:
                wait = None if plan.wake_ns is None else max(0, plan.wake_ns - now) / 1e9
                self._wake.wait(timeout=min(wait if wait is not None else 0.1, 0.1))
                return 0
        t0 = time.perf_counter()
        outputs = self.execute(plan.jobs, inputs)
        with self._lock:
            self.publish(outputs)
        self.tick_times_ms.append((time.perf_counter() - t0) * 1000)
        return len(outputs)

    def _inputs_locked(self, job: ChunkJob) -> JobInput:
        """Snapshot a job's audio and state, and reserve its frames (cursor moves on)."""
        s = job.session
        spf = s.pacing.spf
        a, n = job.start * spf, job.num_frames * spf
        speak, speak_p = s.speak.read(a, n)
        listen, listen_p = s.listen.read(a, n)
        probs = np.stack(
            [speak_p.reshape(job.num_frames, spf).mean(1), listen_p.reshape(-1, spf).mean(1)]
        )
        ahead = None
        if s.pacing.lookahead_frames:  # what is known of the speak audio past the chunk
            ahead, _ = s.speak.read(a + n, s.pacing.lookahead_frames * spf)
        snapshot = s.snapshot()
        s.history.append((job.start, snapshot))
        s.cursor = job.start + job.num_frames
        return JobInput(speak, listen, s.effective_prompt(a), probs, *snapshot, speak_ahead=ahead)

    def execute(self, jobs: list[ChunkJob], inputs: list[JobInput]) -> list[ChunkOutput]:
        """Generate every due chunk, then render and encode its frames (no lock held)."""
        chunks, feature_states = [], []
        for job, inp in zip(jobs, inputs, strict=True):
            fe = job.session.features
            speak_f, speak_state = fe.process(inp.feature_state[0], inp.speak)
            listen_f, listen_state = fe.process(inp.feature_state[1], inp.listen)
            feature_states.append((speak_state, listen_state))
            chunks.append(
                ChunkInputs(
                    num_frames=job.num_frames,
                    speak=inp.speak,
                    listen=inp.listen,
                    prompt=inp.prompt,
                    fps=job.session.pacing.fps,
                    features={"speak": speak_f, "listen": listen_f},
                    speak_ahead=inp.speak_ahead,
                )
            )
        # One generator call per backend: all sessions share the procedural performer, whose
        # step is per session; a learned backend batches the same list into one forward pass.
        step_many = getattr(self.generator, "step_many", None)
        if step_many is not None and chunks:
            results = step_many([inp.gen_state for inp in inputs], chunks)
        else:
            results = [
                self.generator.step(inp.gen_state, chunk)
                for inp, chunk in zip(inputs, chunks, strict=True)
            ]
        frames = []
        for job, (curves, _) in zip(jobs, results, strict=True):
            renderer = self.registry.get(job.session.character_id).renderer
            frames += [
                self._render_pool.submit(self._frame, renderer, job.session, row) for row in curves
            ]
        outputs = []
        done = 0
        for job, (curves, state_after), inp, feats in zip(
            jobs, results, inputs, feature_states, strict=True
        ):
            s = job.session
            pixels = [f.result() for f in frames[done : done + len(curves)]]
            done += len(curves)
            with self._lock:
                states = s.frame_states(inp.probs[0], inp.probs[1])
            outputs.append(
                ChunkOutput(job, curves, (state_after, feats), pixels, states, time.monotonic_ns())
            )
        return outputs

    def _frame(
        self, renderer: WarpRenderer, s: Session, curves: np.ndarray
    ) -> tuple[bytes | memoryview, ...]:
        """One frame of session ``s`` rendered at its size and encoded (a render thread)."""
        rgba = renderer.render(curves)
        if rgba.shape[1] != s.width or rgba.shape[0] != s.height:
            interp = cv2.INTER_AREA if s.width < rgba.shape[1] else cv2.INTER_LINEAR
            rgba = cv2.resize(rgba, (s.width, s.height), interpolation=interp)
        return self._encode(rgba, s.encoding, s.jpeg_quality)

    @staticmethod
    def _encode(rgba: np.ndarray, encoding: str, quality: int) -> tuple[bytes | memoryview, ...]:
        if encoding == "rgba8":
            return (np.ascontiguousarray(rgba).data.cast("B"),)
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        ok1, rgb = cv2.imencode(".jpg", cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2BGR), params)
        ok2, alpha = cv2.imencode(".jpg", np.ascontiguousarray(rgba[..., 3]), params)
        if not (ok1 and ok2):
            raise RuntimeError("JPEG encoding failed")
        return (rgb.tobytes(), alpha.tobytes())

    def publish(self, outputs: list[ChunkOutput]) -> None:
        """Commit state and hand frames and events to subscribers (engine lock held)."""
        for out in outputs:
            s, job = out.job.session, out.job
            if s.closed or job.epoch != s.epoch:
                continue  # interrupted or closed while it was being made: made again / dropped
            s.restore(out.state_after)
            spf = s.pacing.spf
            playhead = s.now_s(out.finished_ns) - s.pacing.latency_us * SAMPLE_RATE // 1_000_000
            while s.history and s.history[0][0] * spf < playhead - s.pacing.chunk_frames * spf:
                s.history.popleft()  # chunks the client has shown can no longer be redone
            s.speak.release(min(job.start * spf, playhead))
            s.listen.release(min(job.start * spf, playhead))
            late = out.finished_ns > job.deadline_ns
            s.stats.chunks += 1
            s.stats.frames += job.num_frames
            if late:
                s.stats.late_chunks += 1
                s.stats.late_frames += job.num_frames
            arrived = s.arrival_ns((job.start + job.num_frames) * spf)
            if arrived is not None:
                # Speech that arrived further ahead than the horizon waits on purpose; its
                # latency counts from when the horizon reached it.
                horizon = s.pacing.horizon_us * SAMPLE_RATE // 1_000_000
                start_ns = max(arrived, s.ns_at(job.start * spf - horizon))
                s.stats.latencies_us.append(max(0, out.finished_ns - start_ns) // 1000)
            for i, (row, pixels, state) in enumerate(
                zip(out.curves, out.pixels, out.states, strict=True)
            ):
                if state != s.state:
                    pts = s.pacing.pts_us(job.start + i)
                    changed = Event(event="state_changed", session=s.id, state=state, pts_us=pts)
                    self._emit(s, changed)
                    log.info("session %s: %s → %s at %.2f s", s.id, s.state, state, pts / 1e6)
                    s.state = state
                frame = Frame(
                    session=s.id,
                    index=s.next_index,
                    pts_us=s.pacing.pts_us(job.start + i),
                    state=state,
                    encoding=s.encoding,
                    width=s.width,
                    height=s.height,
                    curves=np.asarray(row, "<f4").tobytes(),
                    pixels=pixels,
                )
                s.next_index += 1
                for box in s.outboxes:
                    box.put(frame)
            if late and out.finished_ns - s.late_event_ns > 1_000_000_000:
                s.late_event_ns = out.finished_ns  # at most one event a second
                self._emit(s, Event(event="late", session=s.id, count=s.stats.late_chunks))

    def _emit(self, s: Session, event: Event) -> None:
        for box in s.outboxes:
            box.put(event)

    def _expire_locked(self) -> None:
        now = time.monotonic_ns()
        limit = int(self.config.session_timeout_s * 1e9)
        for s in list(self.sessions.values()):
            if now - s.last_seen_ns > limit:
                silent = (now - s.last_seen_ns) / 1e9
                log.info("session %s timed out (owner silent %.1f s)", s.id, silent)
                self._close_locked(s, "timeout")
            s.outboxes = [b for b in s.outboxes if not b.closed]

    def _close_locked(self, s: Session, reason: str) -> None:
        if s.closed:
            return
        s.closed = True
        event = Event(event="session_closed", session=s.id, reason=reason)
        for box in s.outboxes:
            box.forget_session(s.id)
            box.put(event)
        self.sessions.pop(s.id, None)
        log.info(
            "session %s closed (%s): %s",
            s.id,
            reason,
            ", ".join(f"{k}={v:g}" for k, v in s.stats.summary().items()),
        )

    # --- the handler --------------------------------------------------------------------------

    def handle(
        self, client: ClientId, request: Message, outbox: Outbox
    ) -> Message | concurrent.futures.Future[Message] | None:
        if isinstance(request, PrepareCharacter):
            return self._prepare(request)
        with self._lock:
            for s in self.sessions.values():
                if s.owner == client:
                    s.touch()
                    if outbox not in s.outboxes:  # the transport dropped and re-admitted it
                        s.outboxes = [b for b in s.outboxes if not b.closed] + [outbox]
            reply = self._handle_locked(client, request, outbox)
            self._wake.notify_all()
            return reply

    def client_gone(self, client: ClientId) -> None:
        """The client's sessions keep running until they time out or are resumed."""
        with self._lock:
            for s in self.sessions.values():
                if s.owner == client:
                    log.info("session %s: client %s gone; waiting for a resume", s.id, client)

    def _session(self, client: ClientId, session_id: str, *, owner: bool = True) -> Session:
        s = self.sessions.get(session_id)
        if s is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_SESSION,
                f"no session {session_id!r} (never created, closed, or timed out)",
                session=session_id,
            )
        if owner and s.owner != client:
            raise ProtocolError(
                ErrorCode.NOT_OWNER,
                f"session {session_id!r} belongs to another client; resume it to take over",
                session=session_id,
            )
        return s

    def _info(self, s: Session, request_id: int = 0) -> SessionInfo:
        return SessionInfo(
            session=s.id,
            character=s.character_id,
            fps=s.pacing.fps,
            width=s.width,
            height=s.height,
            encoding=s.encoding,
            latency_us=s.pacing.latency_us,
            chunk_frames=s.pacing.chunk_frames,
            sample_rate=SAMPLE_RATE,
            next_index=s.next_index,
            now_us=s.now_us(),
            resume_timeout_s=self.config.session_timeout_s,
            curve_names=CURVE_NAMES,
            request_id=request_id,
        )

    def _handle_locked(self, client: ClientId, req: Message, outbox: Outbox) -> Message | None:
        if self.shutting_down and not isinstance(req, Ping):
            raise ProtocolError(ErrorCode.SHUTTING_DOWN, "the server is shutting down")
        if isinstance(req, SpeakAudio):
            s = self._session(client, req.session)
            scheduled = s.push_speak(req.samples, req.sample_rate, req.pts_us)
            if scheduled is not None:
                pts, duration = scheduled
                self._emit(
                    s,
                    Event(event="speak_scheduled", session=s.id, pts_us=pts, duration_us=duration),
                )
            return None
        if isinstance(req, ListenAudio):
            self._session(client, req.session).push_listen(req.samples, req.sample_rate, req.pts_us)
            return None
        if isinstance(req, CreateSession):
            return self._create_locked(client, req, outbox)
        if isinstance(req, ResumeSession):
            s = self._session(client, req.session, owner=False)
            log.info("session %s resumed by %s (was %s)", s.id, client, s.owner)
            s.owner = client
            s.touch()
            s.outboxes = [outbox]
            return self._info(s)
        if isinstance(req, Subscribe):
            s = self._session(client, req.session, owner=False)
            if outbox not in s.outboxes:
                s.outboxes.append(outbox)
            return Reply(session=s.id)
        if isinstance(req, CloseSession):
            s = self._session(client, req.session)
            self._close_locked(s, "closed")
            return Reply(session=s.id)
        if isinstance(req, EndOfSpeech):
            self._session(client, req.session).end_of_speech()
            return None
        if isinstance(req, Interrupt):
            s = self._session(client, req.session)
            redo = s.interrupt()
            log.info("session %s interrupted: %d frames to make again", s.id, redo)
            return Reply(session=s.id)
        if isinstance(req, SetPrompt):
            s = self._session(client, req.session)
            self._prepare_prompt(req.prompt)
            s.prompt = req.prompt
            return Reply(session=s.id)
        if isinstance(req, TriggerEmote):
            s = self._session(client, req.session)
            start = max(s.cursor * s.pacing.spf, s.now_s())
            until = start + int(req.duration_s * SAMPLE_RATE)
            text = _emote_prompt(req.emote, req.intensity)
            self._prepare_prompt(text)
            s.emote = (text, until)
            return Reply(session=s.id)
        if isinstance(req, GetStats):
            s = self._session(client, req.session, owner=False)
            values = s.stats.summary()
            values["dropped_frames_outbox"] = float(sum(b.dropped_frames for b in s.outboxes))
            values["timeline_s"] = s.now_us() / 1e6
            return Stats(session=s.id, values=values)
        if isinstance(req, Ping):
            return Pong(t_us=req.t_us, server_time_us=time.monotonic_ns() // 1000)
        if isinstance(req, ListCharacters):
            items = []
            for cid in self.registry.ids():
                try:
                    ch = self.registry.get(cid)
                except Exception as exc:  # a broken file on disk must not break listing
                    log.warning("character %s cannot be loaded: %s", cid, exc)
                    continue
                w, h = ch.asset.size
                items.append(CharacterInfo(cid, w, h, ch.source))
            return Characters(default="astronaut", items=tuple(items))
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"{req.TYPE} is not handled by this server")

    def _create_locked(self, client: ClientId, req: CreateSession, outbox: Outbox) -> SessionInfo:
        if len(self.sessions) >= self.config.max_sessions:
            raise ProtocolError(
                ErrorCode.TOO_MANY_SESSIONS,
                f"the server holds its maximum of {self.config.max_sessions} sessions",
            )
        mine = sum(1 for s in self.sessions.values() if s.owner == client)
        if mine >= self.config.max_sessions_per_client:
            raise ProtocolError(
                ErrorCode.TOO_MANY_SESSIONS,
                f"a client may hold {self.config.max_sessions_per_client} sessions",
            )
        try:
            character = self.registry.get(req.character)
        except KeyError:
            raise ProtocolError(
                ErrorCode.UNKNOWN_CHARACTER,
                f"no character {req.character!r}; known: {', '.join(self.registry.ids())}",
            ) from None
        sid = f"s{next(self._seq)}-{secrets.token_hex(4)}"
        s = Session(
            sid,
            client,
            character.id,
            character.conditioning,
            self.generator,
            self.pacing,
            width=req.width or self.config.width,
            height=req.height or self.config.height,
            encoding=req.encoding or self.config.encoding,
            jpeg_quality=req.jpeg_quality,
            prompt=req.prompt,
            seed=req.seed,
            vad=self.vad,
            features=self.features,
        )
        s.outboxes.append(outbox)
        self.sessions[sid] = s
        self._prepare_prompt(req.prompt)
        log.info(
            "session %s created by %s: %s %dx%d %s",
            sid,
            client,
            character.id,
            s.width,
            s.height,
            s.encoding,
        )
        return self._info(s)

    def _prepare_prompt(self, prompt: str | None) -> None:
        """Have the generator encode a prompt text in the background (if it reads text)."""
        prepare = getattr(self.generator, "prepare_prompt", None)
        if prepare is not None and prompt and not self.shutting_down:
            self._text_pool.submit(prepare, prompt)

    def _prepare(self, req: PrepareCharacter) -> concurrent.futures.Future[Message]:
        """Build a character off the transport's thread; the reply comes when it is done."""

        def work() -> Message:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "upload.img"
                path.write_bytes(req.image)
                try:
                    character = self.registry.prepare(req.name, path, req.face_index)
                except (PortraitError, PrepError, ValueError) as exc:
                    raise ProtocolError(ErrorCode.PREPARE_FAILED, str(exc)) from None
            w, h = character.asset.size
            log.info("character %s prepared (%dx%d)", character.id, w, h)
            return CharacterPrepared(character=CharacterInfo(character.id, w, h, "upload"))

        return self._prep_pool.submit(work)
