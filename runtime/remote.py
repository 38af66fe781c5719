"""Talking to a running server: connect over either transport, stream a take, record it.

``record_take`` is what ``lpm client`` does, and what a game does at its simplest: create a
session, stream the NPC's voice and the player's voice in real time (20 ms packets, as an audio
callback would), collect the frames that come back, and write them as an MP4 with the NPC's
voice muxed where the server placed it on the timeline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bridge.client import Client
from bridge.protocol import Frame, SessionInfo
from runtime.media import Mp4Writer

log = logging.getLogger(__name__)

PACKET_S = 0.02  # audio packet length, as engines' audio callbacks deliver it


def connect(
    transport: str,
    host: str = "127.0.0.1",
    port: int = 7700,
    *,
    timeout_s: float = 10.0,
    max_frames: int = 256,
    zmq_port: int | None = None,
    token: str | None = None,
    root_cert: Path | None = None,
    server_key: Path | None = None,
    client_key: Path | None = None,
) -> Client:
    """A client for a server's base ``port`` (gRPC there, ZeroMQ on ``port + 1``)."""
    if transport == "zmq":
        from bridge.zmq_client import ZmqClient
        from bridge.zmq_common import load_keys

        server_public = load_keys(server_key)[0] if server_key else None
        keys = None
        if client_key:
            public, secret = load_keys(client_key)
            if secret is None:
                raise ValueError(f"{client_key} holds no secret key")
            keys = (public, secret)
        endpoint = f"tcp://{host}:{zmq_port or port + 1}"
        return ZmqClient(
            endpoint,
            server_public_key=server_public,
            client_keys=keys,
            timeout_s=timeout_s,
            max_frames=max_frames,
        )
    if transport == "grpc":
        from bridge.grpc_client import GrpcClient

        return GrpcClient(
            f"{host}:{port}",
            root_cert_pem=root_cert.read_bytes() if root_cert else None,
            token=token,
            timeout_s=timeout_s,
            max_frames=max_frames,
        )
    raise ValueError(f"transport must be zmq or grpc, got {transport!r}")


@dataclass
class Take:
    info: SessionInfo
    frames: dict[int, Frame]  # by pts_us, the highest index for each pts
    speak_pts_us: int | None  # where the server placed the NPC's line
    speak_duration_us: int
    stats: dict[str, float]
    received: int  # frames received, re-sent ones included
    receipt_latency_ms: list[float]  # listen packet sent → the frame covering it received


def record_take(
    client: Client,
    speak: tuple[np.ndarray, int] | None,
    listen: tuple[np.ndarray, int] | None = None,
    *,
    character: str | None = None,
    prompt: str | None = None,
    encoding: str | None = None,
    size: int | None = None,
    tail_s: float = 0.5,
    progress: Callable[[float, float], None] | None = None,
) -> Take:
    """Stream both voices in real time and collect frames until the line is over."""
    info = client.create_session(
        character, encoding=encoding, width=size, height=size, prompt=prompt
    )
    t_info = time.monotonic()
    sid = info.session
    frames: dict[int, Frame] = {}
    sent: list[tuple[int, float]] = []  # (end of a listen packet on the timeline, send time)
    latency: list[float] = []
    received = 0
    done = threading.Event()
    lock = threading.Lock()

    def receive() -> None:
        nonlocal received
        cursor = 0
        while not done.is_set():
            frame = client.next_frame(sid, timeout_s=0.1)
            if frame is None:
                continue
            now = time.monotonic()
            with lock:
                received += 1
                old = frames.get(frame.pts_us)
                if old is None or frame.index > old.index:
                    frames[frame.pts_us] = frame
                end = frame.pts_us + round(1e6 / info.fps)
                while cursor < len(sent) and sent[cursor][0] < end:
                    cursor += 1
                if cursor < len(sent):
                    latency.append((now - sent[cursor][1]) * 1000)

    reader = threading.Thread(target=receive, name="lpm-take-reader", daemon=True)
    reader.start()

    def timeline_us() -> int:
        return info.now_us + round((time.monotonic() - t_info) * 1e6)

    streams = [
        (pair[0], pair[1], name)
        for pair, name in ((speak, "speak"), (listen, "listen"))
        if pair is not None and pair[0].size
    ]
    duration = max((s.size / r for s, r, _ in streams), default=0.0)
    t0 = time.monotonic()
    pos = dict.fromkeys(("speak", "listen"), 0)
    listen_start = timeline_us()
    while True:
        elapsed = time.monotonic() - t0
        for samples, rate, name in streams:
            upto = min(samples.size, int((elapsed + PACKET_S) * rate))
            while pos[name] < upto:
                n = min(upto - pos[name], int(PACKET_S * rate))
                chunk = samples[pos[name] : pos[name] + n]
                if name == "speak":
                    client.push_speak(sid, chunk, rate)
                else:
                    pts = listen_start + round(pos[name] * 1e6 / rate)
                    client.push_listen(sid, chunk, rate, pts_us=pts)
                    with lock:
                        sent.append((pts + round(n * 1e6 / rate), time.monotonic()))
                pos[name] += n
        if progress is not None:
            progress(min(elapsed, duration), duration)
        if all(pos[name] >= s.size for s, _, name in streams):
            break
        time.sleep(max(0.0, t0 + elapsed + PACKET_S / 2 - time.monotonic()))
    if speak is not None:
        client.end_of_speech(sid)

    scheduled = client.wait_event("speak_scheduled", 2.0) if speak is not None else None
    speak_pts = scheduled.pts_us if scheduled is not None else None
    speak_dur = round(speak[0].size * 1e6 / speak[1]) if speak is not None else 0
    end_us = max(timeline_us(), (speak_pts or 0) + speak_dur) + round(tail_s * 1e6)
    deadline = time.monotonic() + (end_us - timeline_us()) / 1e6 + info.latency_us / 1e6 + 2
    while time.monotonic() < deadline:
        with lock:
            if frames and max(frames) >= end_us:
                break
        client.ping()
        time.sleep(0.1)
    done.set()
    reader.join(timeout=2)
    stats = client.stats(sid)
    client.close_session(sid)
    return Take(info, frames, speak_pts, speak_dur, stats, received, latency)


def write_take(take: Take, path: Path, speak: tuple[np.ndarray, int] | None) -> int:
    """Frames from pts 0 to the last received, with the NPC's voice at its place; frame count."""
    if not take.frames:
        raise ValueError("no frames came back from the server")
    step = round(1e6 / take.info.fps)
    last = max(take.frames)
    audio = None
    rate = 16_000
    if speak is not None and take.speak_pts_us is not None:
        samples, rate = speak
        audio = np.zeros(int((last + step) * rate // 1_000_000) + 1, np.float32)
        at = take.speak_pts_us * rate // 1_000_000
        n = min(samples.size, audio.size - at)
        audio[at : at + n] = samples[:n]
    count = 0
    with Mp4Writer(path, fps=take.info.fps, audio=audio, sample_rate=rate) as writer:
        previous: Frame | None = None
        for pts in range(0, last + 1, step):
            frame = take.frames.get(pts, previous)  # a dropped frame repeats the last one
            if frame is None:
                continue
            writer.write(frame.rgba())
            previous = frame
            count += 1
    return count
