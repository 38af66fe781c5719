"""``lpm studio``: the designers' workbench, a local web app (FastAPI on uvicorn).

Two pages, served with everything they need (no CDN): *Character setup* (open a portrait, see
or place its key points, build the character, watch it move) and *Emote preview* (pick a
character, prompt it, click emotes, play a WAV or the microphone as either voice, watch the face
and its curves live, export the take as MP4 and Live Link Face CSV).

The server holds one real :class:`~runtime.engine.Engine` (the one ``lpm serve`` runs) and is
one more client of it: each browser WebSocket is one engine session (:mod:`runtime.studio.live`).
Built characters are saved as ``.lpmchar`` files in the character directory, where ``lpm
serve`` finds them too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import logging
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from bridge.protocol import (
    MAX_PROMPT_CHARS,
    CloseSession,
    CreateSession,
    EndOfSpeech,
    Event,
    Frame,
    ListenAudio,
    Ping,
    ProtocolError,
    SessionInfo,
    SetPrompt,
    SpeakAudio,
    TriggerEmote,
)
from models.emotes import EXPRESSIONS, GESTURES
from models.generator import SAMPLE_RATE
from models.motion import CURVE_NAMES
from models.portrait import NoFaceError, PortraitError, load_portrait
from models.render.asset import CharacterAsset
from models.render.keypoints import (
    KEYPOINT_NAMES,
    KEYPOINTS,
    KeyPointsError,
    keypoints_from_mapping,
    template_keypoints,
)
from models.render.prep import PrepError, detect_keypoints, prepare_character
from runtime.characters import DEFAULT_CHARACTER, CharacterRegistry
from runtime.config import ServerConfig, default_character_dir
from runtime.engine import Engine
from runtime.studio.live import (
    SPEAK,
    RecordingOutbox,
    StudioInputError,
    TakeStore,
    frame_message,
    parse_audio,
    resample_for_take,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOKEN = re.compile(r"^[0-9a-f]{16}$")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
EMOTES = tuple(sorted(EXPRESSIONS | GESTURES))


@dataclass
class StudioConfig:
    host: str = "127.0.0.1"  # loopback: the studio is a local tool
    port: int = 7800
    character_dir: Path = field(default_factory=default_character_dir)  # shared with serve
    size: int = 256  # character asset size and preview frame size, pixels
    fps: float = 25.0

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if not 128 <= self.size <= 1024:
            raise ValueError(f"size {self.size} is out of range (128..1024)")
        self.character_dir = Path(self.character_dir).expanduser()


class Studio:
    """The studio's state: the engine, uploads, builds and takes."""

    def __init__(self, config: StudioConfig) -> None:
        self.config = config
        self.registry = CharacterRegistry(config.character_dir, config.size)
        self.engine = Engine(
            ServerConfig(
                fps=config.fps,
                width=config.size,
                height=config.size,
                encoding="jpeg",
                character_dir=config.character_dir,
                session_timeout_s=30.0,
            ),
            registry=self.registry,
        )
        self.takes = TakeStore()
        self.workdir = Path(tempfile.mkdtemp(prefix="lpm-studio-"))
        self._builds = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lpm-build")
        self._clients = itertools.count(1)

    def start(self) -> None:
        self.engine.start()
        log.info("studio engine running; characters in %s", self.config.character_dir)

    def stop(self) -> None:
        self.engine.stop("studio closed")
        self._builds.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def client_id(self) -> str:
        return f"studio:{next(self._clients)}"

    def portrait_path(self, token: str) -> Path:
        if not _TOKEN.match(token):
            raise HTTPException(404, f"no portrait {token!r}")
        found = sorted(self.workdir.glob(f"{token}.*"))
        if not found:
            raise HTTPException(404, f"no portrait {token!r} (uploads last until the studio stops)")
        return found[0]

    async def build(self, *args: Any, **kwargs: Any) -> CharacterAsset:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._builds, lambda: prepare_character(*args, **kwargs))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def create_app(studio: Studio) -> FastAPI:
    """The web app over ``studio`` (its engine starts and stops with the app)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(studio.start)
        try:
            yield
        finally:
            await run_in_threadpool(studio.stop)

    app = FastAPI(title="LPM Studio", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/setup")

    @app.get("/setup", include_in_schema=False)
    async def setup_page() -> FileResponse:
        return FileResponse(STATIC / "setup.html", media_type="text/html")

    @app.get("/preview", include_in_schema=False)
    async def preview_page() -> FileResponse:
        return FileResponse(STATIC / "preview.html", media_type="text/html")

    # --- character setup ------------------------------------------------------------------

    @app.get("/api/keypoints")
    async def keypoint_set() -> dict[str, Any]:
        unit = template_keypoints((0.0, 0.0, 1.0, 1.0))
        return {
            "names": list(KEYPOINT_NAMES),
            "help": {n: KEYPOINTS[n][1] for n in KEYPOINT_NAMES},
            "template": {n: list(unit.points[n]) for n in KEYPOINT_NAMES},
        }

    @app.post("/api/portraits")
    async def upload_portrait(request: Request, name: str = "portrait.png") -> JSONResponse:
        data = await request.body()
        if not data:
            return _error(400, "the upload is empty: choose an image file")
        if len(data) > MAX_UPLOAD_BYTES:
            return _error(413, f"the image is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
        suffix = Path(name).suffix.lower()
        token = secrets.token_hex(8)
        path = studio.workdir / f"{token}{suffix if suffix in _IMAGE_SUFFIXES else '.img'}"
        path.write_bytes(data)
        try:
            portrait = await run_in_threadpool(load_portrait, path)
        except PortraitError as exc:
            path.unlink(missing_ok=True)
            return _error(400, str(exc).replace(path.name, Path(name).name or "the image"))
        points: dict[str, list[float]] | None = None
        try:
            found, _ = await run_in_threadpool(detect_keypoints, portrait)
            points = {n: [round(v, 1) for v in found.points[n]] for n in KEYPOINT_NAMES}
            message = "face found: check the key points, drag any that are off"
        except NoFaceError:
            message = (
                "no face found by the detector (anime, cartoon, low-poly and animal faces are "
                "not found): place the key points by hand"
            )
        except PortraitError as exc:
            message = f"{exc.problem}; place the key points by hand"
        w, h = portrait.size
        log.info("portrait %s uploaded as %s (%dx%d), face %s", name, token, w, h, bool(points))
        return JSONResponse(
            {
                "id": token,
                "name": Path(name).name,
                "width": w,
                "height": h,
                "points": points,
                "message": message,
            }
        )

    @app.get("/api/portraits/{token}")
    async def portrait_image(token: str) -> FileResponse:
        path = studio.portrait_path(token)
        # Served as PNG whatever the upload was (the browser must be able to show it).
        png = path.with_suffix(".view.png")
        if not png.exists():
            portrait = await run_in_threadpool(load_portrait, path)
            rgb = cv2.cvtColor(portrait.rgb, cv2.COLOR_RGB2BGR)
            image = rgb if portrait.alpha is None else cv2.merge([*cv2.split(rgb), portrait.alpha])
            cv2.imwrite(str(png), image)
        return FileResponse(png, media_type="image/png")

    @app.post("/api/characters")
    async def build_character(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except json.JSONDecodeError as exc:
            return _error(400, f"the request is not JSON ({exc.msg})")
        if not isinstance(body, dict):
            return _error(400, "expected a JSON object with portrait, name and points")
        name = str(body.get("name", ""))
        if not _NAME.match(name):
            return _error(400, "the character name must be 1-64 letters, digits, - or _")
        if name == DEFAULT_CHARACTER:
            return _error(400, f"{DEFAULT_CHARACTER!r} is the built-in character; pick a name")
        try:
            path = studio.portrait_path(str(body.get("portrait", "")))
        except HTTPException as exc:
            return _error(400, str(exc.detail))
        try:
            points = keypoints_from_mapping({"points": body.get("points")}, "key points")
            asset = await studio.build(path, size=studio.config.size, points=points, name=name)
        except (KeyPointsError, PortraitError, PrepError) as exc:
            return _error(400, str(exc).replace(path.name, "the portrait"))
        studio.config.character_dir.mkdir(parents=True, exist_ok=True)
        await run_in_threadpool(asset.save, studio.config.character_dir / f"{name}.lpmchar")
        studio.registry.add(name, asset, str(body.get("source") or path.name))
        log.info("character %s built from key points", name)
        return JSONResponse({"id": name, "size": asset.size[0], "setup": "keypoints"})

    @app.get("/api/characters")
    async def list_characters() -> dict[str, Any]:
        return {"default": DEFAULT_CHARACTER, "items": studio.registry.ids()}

    # --- takes ----------------------------------------------------------------------------

    @app.get("/api/takes/{take_id}/{filename}")
    async def export_take(take_id: str, filename: str) -> FileResponse:
        try:
            take = studio.takes.get(take_id)
        except KeyError:
            raise HTTPException(
                404, f"no take {take_id!r} (takes last until the studio stops)"
            ) from None
        if take.num_frames == 0:
            raise HTTPException(409, f"take {take_id} has no frames yet")
        stem = f"{take.character}-{take.id}"
        out = studio.workdir / f"{stem}{Path(filename).suffix}"
        if filename.endswith(".csv"):
            await run_in_threadpool(take.write_csv, out)
            return FileResponse(out, media_type="text/csv", filename=f"{stem}.csv")
        if filename.endswith(".mp4"):
            try:
                renderer = studio.registry.get(take.character).renderer
            except KeyError:
                raise HTTPException(404, f"character {take.character!r} is gone") from None
            await run_in_threadpool(take.write_mp4, out, renderer)
            return FileResponse(out, media_type="video/mp4", filename=f"{stem}.mp4")
        raise HTTPException(404, "a take exports as .mp4 or .csv")

    # --- live preview ---------------------------------------------------------------------

    @app.websocket("/ws/live")
    async def live(ws: WebSocket, character: str = DEFAULT_CHARACTER) -> None:
        await ws.accept()
        await LiveConnection(studio, ws).run(character)

    return app


class LiveConnection:
    """One browser WebSocket ↔ one engine session (protocol in :mod:`runtime.studio.live`)."""

    def __init__(self, studio: Studio, ws: WebSocket) -> None:
        self.studio = studio
        self.ws = ws
        self.client = studio.client_id()
        self.ready = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.session = ""
        self.info: SessionInfo | None = None
        self.created_ns = 0
        self.listen_end_us: int | None = None

    def _wake(self) -> None:
        self.loop.call_soon_threadsafe(self.ready.set)

    def now_us(self) -> int:
        assert self.info is not None
        return self.info.now_us + (time.monotonic_ns() - self.created_ns) // 1000

    async def run(self, character: str) -> None:
        size = self.studio.config.size
        take = self.studio.takes.new(character, self.studio.config.fps, size)
        self.outbox = RecordingOutbox(take, max_frames=64, on_ready=self._wake)
        try:
            reply = self.studio.engine.handle(
                self.client,
                CreateSession(character=character, encoding="jpeg", width=size, height=size),
                self.outbox,
            )
        except ProtocolError as exc:
            await self.ws.send_json({"type": "error", "message": exc.message})
            await self.ws.close(code=1008)
            return
        assert isinstance(reply, SessionInfo)
        self.info, self.session, self.created_ns = reply, reply.session, time.monotonic_ns()
        await self.ws.send_json(
            {
                "type": "session",
                "session": reply.session,
                "character": reply.character,
                "fps": reply.fps,
                "size": size,
                "latency_us": reply.latency_us,
                "now_us": reply.now_us,
                "take": take.id,
                "curve_names": list(CURVE_NAMES),
                "emotes": list(EMOTES),
            }
        )
        tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._receive())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None and not isinstance(
                    task.exception(), WebSocketDisconnect
                ):
                    log.info("live session %s ended: %s", self.session, task.exception())
        finally:
            for task in tasks:
                task.cancel()
            # Collect both tasks so a send that failed as the socket vanished is not left as an
            # unretrieved exception.
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(ProtocolError):
                close = CloseSession(session=self.session)
                self.studio.engine.handle(self.client, close, self.outbox)
            self.outbox.close()

    async def _send(self) -> None:
        with contextlib.suppress(WebSocketDisconnect):  # the client left: nothing more to send
            await self._send_loop()

    async def _send_loop(self) -> None:
        last_ping = time.monotonic()
        while not self.outbox.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ready.wait(), timeout=1.0)
            self.ready.clear()
            for message in self.outbox.take(64):
                if isinstance(message, Frame):
                    await self.ws.send_bytes(frame_message(message))
                elif isinstance(message, Event):
                    event = {k: v for k, v in message.header().items() if v is not None}
                    await self.ws.send_json({**event, "type": "event"})
            if time.monotonic() - last_ping > 1.0:  # an open socket keeps its session alive
                self.studio.engine.handle(self.client, Ping(), self.outbox)
                last_ping = time.monotonic()

    async def _receive(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                if message.get("bytes") is not None:
                    self._audio(message["bytes"])
                elif message.get("text") is not None:
                    await self._control(message["text"])
            except (StudioInputError, ProtocolError, ValueError) as exc:
                text = exc.message if isinstance(exc, ProtocolError) else str(exc)
                await self.ws.send_json({"type": "error", "message": text})

    def _audio(self, data: bytes) -> None:
        stream, rate, samples = parse_audio(data)
        if samples.size == 0:
            return
        engine = self.studio.engine
        if stream == SPEAK:
            engine.handle(
                self.client,
                SpeakAudio(session=self.session, sample_rate=rate, samples=samples),
                self.outbox,
            )
            self.outbox.record_speak(resample_for_take(samples, rate))
            return
        # The player's voice is stamped where it was heard: a stream that goes on continues
        # where it ended, a new one ends now.
        duration = samples.size * 1_000_000 // rate
        now = self.now_us()
        end = self.listen_end_us
        start = end if end is not None and end >= now - 200_000 else max(0, now - duration)
        engine.handle(
            self.client,
            ListenAudio(session=self.session, sample_rate=rate, samples=samples, pts_us=start),
            self.outbox,
        )
        pcm = resample_for_take(samples, rate)
        self.outbox.record_listen(start * SAMPLE_RATE // 1_000_000, pcm)
        self.listen_end_us = start + duration

    async def _control(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StudioInputError(f"not JSON ({exc.msg})") from None
        if not isinstance(msg, dict):
            raise StudioInputError("expected a JSON object with a 'type'")
        kind = msg.get("type")
        engine, sid = self.studio.engine, self.session
        if kind == "prompt":
            prompt = str(msg.get("text") or "").strip()
            if len(prompt) > MAX_PROMPT_CHARS:
                raise StudioInputError(f"a prompt is at most {MAX_PROMPT_CHARS} characters")
            engine.handle(self.client, SetPrompt(session=sid, prompt=prompt or None), self.outbox)
        elif kind == "emote":
            emote = str(msg.get("emote", ""))
            if emote not in EMOTES:
                raise StudioInputError(f"unknown emote {emote!r}; known: {', '.join(EMOTES)}")
            intensity = float(msg.get("intensity", 0.8))
            if not 0.0 <= intensity <= 1.0:
                raise StudioInputError("intensity must be 0..1")
            engine.handle(
                self.client,
                TriggerEmote(session=sid, emote=emote, intensity=intensity, duration_s=2.5),
                self.outbox,
            )
        elif kind == "end_of_speech":
            engine.handle(self.client, EndOfSpeech(session=sid), self.outbox)
        elif kind == "new_take":
            take = self.studio.takes.new(self.outbox.recording.character, self.studio.config.fps,
                                         self.studio.config.size)  # fmt: skip
            self.outbox.new_take(take)
            await self.ws.send_json({"type": "take", "take": take.id})
        else:
            raise StudioInputError(f"unknown message type {kind!r}")


def serve(config: StudioConfig) -> None:
    """Run the studio until interrupted (Ctrl-C)."""
    import uvicorn

    app = create_app(Studio(config))
    uvicorn.run(
        app, host=config.host, port=config.port, log_level="warning", ws="websockets-sansio"
    )
