"""``lpm studio`` as a subprocess on loopback: its HTTP API and WebSocket over real sockets, then
both pages in Debian's headless Chromium driven by Playwright (no downloaded browser).

The browser tests place the key points of the anime, 3D and cartoon portraits by clicking,
build the characters, play a WAV as the NPC's voice and measure the frames that came over the
page's WebSocket: the mouth region moves during speech and rests in silence. Screenshots of the
pages are written as PNG artefacts (to the test's temporary folder, and also to the folder in
``LPM_STUDIO_SCREENSHOTS`` when it is set).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from websockets.sync.client import connect

from models.audio_io import save_wav
from models.motion import CURVE_INDEX, read_live_link_csv
from models.render.asset import CharacterAsset
from models.render.keypoints import KEYPOINT_NAMES, load_keypoints
from runtime.bench_serve import _free_port
from runtime.media import probe
from tests.portraits import PORTRAITS, STYLISED

REPO = Path(__file__).resolve().parents[2]
POINTS = REPO / "tests" / "models" / "keypoints"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
JAW = CURVE_INDEX["jawOpen"]


@dataclass
class StudioServer:
    url: str
    port: int
    character_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] = field(repr=False)


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, character_dir: Path) -> Iterator[StudioServer]:
    chars = tmp_path_factory.mktemp("studio-characters")
    # The default character, prepared once per test run (conftest), is reused as is.
    shutil.copy(character_dir / "astronaut.lpmchar", chars / "astronaut.lpmchar")
    port = _free_port()
    log = chars.parent / "studio.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runtime.cli",
                "studio",
                "--port",
                str(port),
                "--character-dir",
                str(chars),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"lpm studio exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/characters", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"lpm studio did not come up:\n{log.read_text()}") from None
            time.sleep(0.2)
    yield StudioServer(url, port, chars, log, proc)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    text = log.read_text()
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory, line: tuple[np.ndarray, int]) -> Path:
    samples, rate = line
    path = tmp_path_factory.mktemp("voice") / "line.wav"
    save_wav(path, samples, rate)
    return path


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("studio-screenshots")


def _request(
    url: str, data: bytes | None = None, content_type: str = "application/octet-stream"
) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            body = res.read()
            status = res.status
            kind = res.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        body, status, kind = err.read(), err.code, err.headers.get("Content-Type", "")
    return status, json.loads(body) if "json" in kind else body


def _upload(studio: StudioServer, portrait: Path) -> dict[str, Any]:
    status, body = _request(
        f"{studio.url}/api/portraits?name={portrait.name}", portrait.read_bytes()
    )
    assert status == 200, body
    return body


def _frames(ws: Any, seconds: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    frames, texts = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            msg = ws.recv(timeout=max(0.05, end - time.monotonic()))
        except TimeoutError:
            break
        if isinstance(msg, str):
            texts.append(json.loads(msg))
            continue
        n = struct.unpack_from("<I", msg)[0]
        header = json.loads(msg[4 : 4 + n])
        header["jpeg"] = msg[4 + n :]
        frames.append(header)
    return frames, texts


# --- the API over real sockets -----------------------------------------------------------------


def test_upload_detects_a_photo_and_not_a_drawing(studio: StudioServer) -> None:
    photo = _upload(studio, PORTRAITS / "photo_grace_hopper.jpg")
    assert photo["points"] is not None and list(photo["points"]) == list(KEYPOINT_NAMES)
    drawing = _upload(studio, PORTRAITS / "anime_eileen_renpy.png")
    assert drawing["points"] is None and "by hand" in drawing["message"]
    status, image = _request(f"{studio.url}/api/portraits/{drawing['id']}")
    assert status == 200 and image[:8] == b"\x89PNG\r\n\x1a\n"
    status, body = _request(f"{studio.url}/api/portraits", b"not an image")
    assert status == 400 and "not an image" in body["detail"]
    status, body = _request(f"{studio.url}/api/portraits/0123456789abcdef")
    assert status == 404


def test_build_refuses_bad_input_with_reasons(studio: StudioServer) -> None:
    up = _upload(studio, PORTRAITS / "anime_eileen_renpy.png")
    good = load_keypoints(POINTS / "anime_eileen_renpy.json").to_json()["points"]
    cases = [
        (b"{oops", "not JSON"),
        (json.dumps({"portrait": up["id"], "name": "bad name!", "points": good}), "name must"),
        (json.dumps({"portrait": "feedfacefeedface", "name": "x", "points": good}), "no portrait"),
        (json.dumps({"portrait": up["id"], "name": "x", "points": {"chin": [1, 2]}}), "missing"),
        (json.dumps({"portrait": up["id"], "name": "astronaut", "points": good}), "built-in"),
    ]
    for data, reason in cases:
        raw = data if isinstance(data, bytes) else data.encode()
        status, body = _request(f"{studio.url}/api/characters", raw, "application/json")
        assert status == 400 and reason in body["detail"], body
    # The studio still works after all that.
    status, body = _request(f"{studio.url}/api/characters")
    assert status == 200 and "astronaut" in body["items"]


def test_live_session_speaks_records_a_take_and_exports_it(
    studio: StudioServer, line: tuple[np.ndarray, int], tmp_path: Path
) -> None:
    samples, rate = line
    with connect(f"ws://127.0.0.1:{studio.port}/ws/live?character=astronaut") as ws:
        session = json.loads(ws.recv(timeout=10))
        assert session["type"] == "session" and session["fps"] == 25.0
        idle, _ = _frames(ws, 0.6)
        ws.send(struct.pack("<B3xI", 1, rate) + samples.astype("<f4").tobytes())
        ws.send(json.dumps({"type": "end_of_speech"}))
        ws.send(json.dumps({"type": "emote", "emote": "sparkle"}))
        ws.send(b"\x09")
        frames, texts = _frames(ws, len(samples) / rate + 1.5)
    assert idle and frames
    errors = [t["message"] for t in texts if t["type"] == "error"]
    assert any("unknown emote 'sparkle'" in e for e in errors)
    assert any("no header" in e for e in errors)
    scheduled = next(t for t in texts if t.get("event") == "speak_scheduled")
    start, end = scheduled["pts_us"], scheduled["pts_us"] + scheduled["duration_us"]
    speaking = [f["curves"][JAW] for f in frames if start + 200_000 <= f["pts_us"] <= end]
    assert max(speaking) > 0.2
    states = [f["state"] for f in frames if start + 200_000 <= f["pts_us"] <= end]
    assert states.count("speak") > 0.7 * len(states)  # the line has a pause in the middle
    indices = [f["index"] for f in idle + frames]
    assert indices == sorted(indices)
    # The take has every frame of the session, exported as CSV and as MP4 with sound.
    csv = tmp_path / "take.csv"
    status, body = _request(f"{studio.url}/api/takes/{session['take']}/take.csv")
    assert status == 200
    csv.write_bytes(body)
    clip = read_live_link_csv(csv)
    assert clip.num_frames >= indices[-1] - 2
    status, body = _request(f"{studio.url}/api/takes/{session['take']}/take.mp4")
    assert status == 200
    mp4 = tmp_path / "take.mp4"
    mp4.write_bytes(body)
    info = probe(mp4)
    assert info["width"] == 256 and info["video_frames"] >= indices[-1] - 2
    assert info["audio_duration"] > 0.9 * info["video_duration"]
    status, _ = _request(f"{studio.url}/api/takes/nothing/take.csv")
    assert status == 404


def test_unknown_character_and_vanishing_sockets_harm_nothing(studio: StudioServer) -> None:
    with connect(f"ws://127.0.0.1:{studio.port}/ws/live?character=nobody") as ws:
        msg = json.loads(ws.recv(timeout=10))
        assert msg["type"] == "error" and "no character 'nobody'" in msg["message"]
    # Sockets that vanish mid-session (no close handshake) leave the studio serving others.
    for _ in range(3):
        raw = socket.create_connection(("127.0.0.1", studio.port), timeout=10)
        raw.sendall(
            b"GET /ws/live?character=astronaut HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert raw.recv(4096).startswith(b"HTTP/1.1 101")
        time.sleep(0.3)  # frames start flowing…
        raw.close()  # …and the client is gone without a goodbye
    with connect(f"ws://127.0.0.1:{studio.port}/ws/live?character=astronaut") as ws:
        json.loads(ws.recv(timeout=10))
        frames, _ = _frames(ws, 1.0)
    assert len(frames) >= 15


# --- the pages in a real browser ---------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (make system installs it)"
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--autoplay-policy=no-user-gesture-required", "--mute-audio"],
        )
        yield launched
        launched.close()


def _save_shot(page: Any, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get("LPM_STUDIO_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)
    return path


def _mouth_change(frames: list[dict[str, Any]], asset: CharacterAsset) -> list[float]:
    """Per frame: how far the mouth region is from the median idle frame (mean absolute
    difference), after following the head: each frame is first shifted to line its nose up
    with the idle frame's, so idle sway and nods do not count as mouth motion."""
    lm = asset.landmarks
    iod = float(np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0)))

    def box(idx: slice, pad: float) -> tuple[int, int, int, int]:
        (x0, y0), (x1, y1) = lm[idx].min(0) - pad * iod, lm[idx].max(0) + pad * iod
        return int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))

    mouth, nose = box(slice(48, 68), 0.15), box(slice(27, 36), 0.1)
    images = [
        cv2.imdecode(np.frombuffer(f["jpeg"], np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float32)
        for f in frames
    ]
    ref = np.median(
        np.stack([im for im, f in zip(images, frames, strict=True) if f["phase"] == "before"]), 0
    )
    s = max(2, round(0.12 * iod))  # head sway and nods stay within this many pixels
    out = []
    for im in images:
        padded = cv2.copyMakeBorder(im, s, s, s, s, cv2.BORDER_REPLICATE)
        x0, y0, x1, y1 = nose
        scores = cv2.matchTemplate(
            padded[y0 : y1 + 2 * s, x0 : x1 + 2 * s], ref[y0:y1, x0:x1], cv2.TM_SQDIFF
        )
        dy, dx = np.unravel_index(int(np.argmin(scores)), scores.shape)
        x0, y0, x1, y1 = mouth
        moved = padded[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
        out.append(float(np.abs(moved - ref[y0:y1, x0:x1]).mean()))
    return out


@pytest.mark.parametrize("portrait", STYLISED)
def test_browser_setup_by_clicks_then_preview_speaks(
    studio: StudioServer,
    browser: Any,
    wav: Path,
    line: tuple[np.ndarray, int],
    shots: Path,
    portrait: str,
) -> None:
    stem = Path(portrait).stem
    name = stem.split("_")[0] if not stem.startswith("3d") else "lowpoly"
    points = load_keypoints(POINTS / f"{stem}.json")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))

    # Character setup: open the portrait; nothing is detected; click the points in order.
    page.goto(f"{studio.url}/setup")
    page.set_input_files("#file", str(PORTRAITS / portrait))
    page.wait_for_function("document.getElementById('count').textContent.includes('0 of 26')")
    page.get_by_text("No face detected").wait_for()
    canvas = page.locator("#portrait")
    w, h = points.image_size or (0, 0)
    for n in KEYPOINT_NAMES:
        box = canvas.bounding_box()  # aimed at where the canvas is now, as a person would
        scale = box["width"] / w
        assert abs(box["height"] - h * scale) < 2
        x, y = points.points[n]
        page.mouse.click(box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale)
    page.get_by_text("26 of 26 placed").wait_for()
    _save_shot(page, shots, f"setup-{name}-points")
    page.fill("#name", name)
    page.click("#build")
    page.get_by_text(f"Built {name}").wait_for(timeout=60_000)
    page.wait_for_function(
        "document.getElementById('result').getContext('2d')"
        ".getImageData(128, 128, 1, 1).data[3] > 0"
    )
    page.wait_for_timeout(800)  # a few live frames on the result canvas
    _save_shot(page, shots, f"setup-{name}-built")
    asset = CharacterAsset.load(studio.character_dir / f"{name}.lpmchar")
    assert asset.manifest["setup"] == "keypoints"
    # The clicks landed where the points are: within a pixel of the file's points.
    placed = np.array([asset.manifest["keypoints"][n] for n in KEYPOINT_NAMES])
    assert np.abs(placed - points.array()).max() < 1.0

    # Emote preview: connect, play the WAV as the NPC's voice, watch what comes over the socket.
    frames: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        def received(payload: Any) -> None:
            if isinstance(payload, str):
                texts.append(json.loads(payload))
                return
            data = bytes(payload)
            n = struct.unpack_from("<I", data)[0]
            frames.append({**json.loads(data[4 : 4 + n]), "jpeg": data[4 + n :]})

        ws.on("framereceived", received)

    page.on("websocket", on_socket)
    page.goto(f"{studio.url}/preview?character={name}")
    page.wait_for_function("document.getElementById('take').textContent.startsWith('take')")
    page.set_input_files("#wav", str(wav))
    page.get_by_text("s ready").wait_for()
    page.wait_for_timeout(1000)  # idle before speech
    page.click("#play")
    page.wait_for_timeout(1600)  # mid-line (the page shows frames a latency late)
    _save_shot(page, shots, f"preview-{name}-speaking")
    page.wait_for_timeout(int(1000 * (3.0 + 2.0)) - 1600)
    page.fill("#prompt", "smiles warmly")
    page.click("#prompt-form button[type=submit]")
    page.get_by_role("button", name="nod").click()
    page.wait_for_timeout(1200)
    _save_shot(page, shots, f"preview-{name}")
    page.close()
    assert not console_errors, console_errors

    scheduled = [t for t in texts if t.get("event") == "speak_scheduled"]
    assert len(scheduled) == 1, texts
    # The page sends the line in chunks; the event gives where it starts on the timeline.
    start = scheduled[0]["pts_us"]
    end = start + round(1e6 * len(line[0]) / line[1])
    for f in frames:
        pts = f["pts_us"]
        f["phase"] = (
            "before" if pts < start else "speech" if pts <= end else "after" if pts > end + 400_000
            else "tail"
        )  # fmt: skip
    speech_frames = [f for f in frames if f["phase"] == "speech"]
    after = [f for f in frames if f["phase"] == "after" and f["pts_us"] < end + 1_600_000]
    assert len(speech_frames) > 0.8 * (end - start) / 40_000, "frames missing during speech"
    assert len([f for f in frames if f["phase"] == "before"]) >= 10 and len(after) >= 10
    change = dict(zip([id(f) for f in frames], _mouth_change(frames, asset), strict=True))
    talking = np.percentile([change[id(f)] for f in speech_frames], 75)
    resting = np.percentile([change[id(f)] for f in after], 75)
    assert talking > 4.0, (name, talking)
    assert talking > 3.0 * resting, (name, talking, resting)
    assert max(f["curves"][JAW] for f in speech_frames) > 0.2
    assert max(f["curves"][JAW] for f in after) < asset.rest_curves[JAW] + 0.05
