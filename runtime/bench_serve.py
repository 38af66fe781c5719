"""``lpm bench serve``: a real server process, N client processes streaming in real time.

Each client process plays one game: it opens a session and streams the NPC's voice and the
player's voice as continuous 20 ms packets (silence between lines, as an engine's audio
callback delivers them), reading every frame that comes back. Measured:

* per session: frames received per second over the steady part of the run; frames missing
  (index gaps: dropped by a slow reader's outbox); audio→frame latency from the listen packet's
  send to the receipt of the frame that covers it (client side) and from the audio's arrival
  to the frame's publication (server side, p50/p99); late chunks (published after the client's
  playhead reached them).
* server process: CPU % (of one core) and RSS over time, read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

NPC_LINES = (
    "Welcome back, traveller. The northern gate is open again.",
    "I would not go into the forest after dark, if I were you.",
    "Bring me three wolf pelts and I will see what I can do.",
)
PLAYER_LINES = (
    "Is the road to the castle safe?",
    "What do you have for sale today?",
    "Thanks, I will be careful.",
)


@dataclass
class SessionResult:
    frames: int = 0
    seconds: float = 0.0
    missing: int = 0
    receipt_ms: list[float] = field(default_factory=list)
    server: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def _conversation(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Speak and listen tracks at 16 kHz: lines alternate with pauses, sometimes overlapping."""
    from models.tts import EspeakEngine

    tts = EspeakEngine.shared()
    rng = np.random.default_rng(seed)
    rate = 16_000
    n = int(seconds * rate)
    speak, listen = np.zeros(n, np.float32), np.zeros(n, np.float32)
    import soxr

    t = int(rng.uniform(0.2, 1.0) * rate)
    turn = 0
    while t < n:
        text = (PLAYER_LINES if turn % 2 else NPC_LINES)[(turn // 2) % 3]
        voice = "en-GB-x-rp" if turn % 2 else "en-us+f3"
        sp = tts.synthesize(text, voice=voice)
        audio = soxr.resample(sp.samples, sp.sample_rate, rate).astype(np.float32)
        track = listen if turn % 2 else speak
        m = min(audio.size, n - t)
        track[t : t + m] += audio[:m]
        overlap = rng.uniform() < 0.25  # barge-in: the next line starts before this ends
        t += int(audio.size * (0.7 if overlap else 1.0) + rng.uniform(0.3, 1.2) * rate)
        turn += 1
    return speak, listen, rate


def _client_main(
    endpoint_port: int, seconds: float, size: int, encoding: str, seed: int, queue: Any
) -> None:
    """One game: stream both voices in real time, read every frame (runs in its own process)."""
    from runtime.remote import PACKET_S, connect

    result = SessionResult()
    try:
        speak, listen, rate = _conversation(seconds, seed)
        client = connect("zmq", "127.0.0.1", endpoint_port, max_frames=512)
        with client:
            info = client.create_session(encoding=encoding, width=size, height=size, seed=seed)
            t_info = time.monotonic()
            sid = info.session
            packet = int(PACKET_S * rate)
            sent: list[tuple[int, float]] = []
            step_us = round(1e6 / info.fps)
            last_index = -1
            cursor = 0
            warm_frames, warm_t = 0, 0.0
            t0 = time.monotonic()
            pos = 0
            start_us = info.now_us + round((t0 - t_info) * 1e6)
            while pos < speak.size:
                # Send everything due by now, then read frames until the next packet is due.
                while pos < speak.size and time.monotonic() - t0 >= pos / rate:
                    pts = start_us + round(pos * 1e6 / rate)
                    client.push_speak(sid, speak[pos : pos + packet], rate)
                    client.push_listen(sid, listen[pos : pos + packet], rate, pts_us=pts)
                    sent.append((pts + round(packet * 1e6 / rate), time.monotonic()))
                    pos += packet
                next_due = t0 + pos / rate
                while (wait := next_due - time.monotonic()) > 0:
                    frame = client.next_frame(sid, timeout_s=wait)
                    if frame is None:
                        break
                    now = time.monotonic()
                    result.frames += 1
                    if frame.index > last_index + 1:
                        result.missing += frame.index - last_index - 1
                    last_index = max(last_index, frame.index)
                    end = frame.pts_us + step_us
                    while cursor < len(sent) and sent[cursor][0] < end:
                        cursor += 1
                    if cursor < len(sent) and now - t0 > 2.0:
                        result.receipt_ms.append((now - sent[cursor][1]) * 1000)
                    if warm_t == 0.0 and now - t0 > 2.0:  # steady state from 2 s on
                        warm_frames, warm_t = result.frames, now
            result.seconds = time.monotonic() - warm_t if warm_t else 0.0
            result.frames -= warm_frames
            result.server = client.stats(sid)
            client.close_session(sid)
    except Exception as exc:  # reported in the table, not a traceback per process
        result.error = f"{type(exc).__name__}: {exc}"
    queue.put(result)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with socket.socket() as s:  # the ZeroMQ port (base + 1) must be free too
        try:
            s.bind(("127.0.0.1", port + 1))
        except OSError:
            return _free_port()
    return port


@contextlib.contextmanager
def running_server(
    port: int, size: int, sessions: int, character_dir: Path, extra: list[str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``lpm serve`` as a subprocess; yields once it answers a ping."""
    from runtime.remote import connect

    cmd = [
        sys.executable, "-m", "runtime.cli", "serve",
        "--port", str(port), "--size", str(size),
        "--max-sessions", str(max(sessions, 1)), "--max-sessions-per-client", "4",
        "--character-dir", str(character_dir), *(extra or []),
    ]  # fmt: skip
    log_path = Path(tempfile.mkstemp(prefix="lpm-serve-", suffix=".log")[1])
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"lpm serve exited: {log_path.read_text()[-2000:]}")
                try:
                    with connect("zmq", "127.0.0.1", port, timeout_s=1.0) as probe:
                        probe.ping()
                    break
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("lpm serve did not answer within 120 s") from None
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    log.info("server log: %s", log_path)


def _proc_sample(pid: int) -> tuple[float, int]:
    """(CPU seconds used, RSS bytes) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as fh:
        parts = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(parts[11]) + int(parts[12])) / ticks  # utime + stime
    with open(f"/proc/{pid}/status") as fh:
        rss = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))
    return cpu, rss


@dataclass
class RunResult:
    sessions: int
    seconds: float
    results: list[SessionResult]
    cpu_percent: float
    rss_mb: list[tuple[float, float]]  # (time s, RSS MB)

    def row(self) -> dict[str, Any]:
        ok = [r for r in self.results if not r.error]
        server_p50 = [r.server.get("latency_p50_ms", np.nan) for r in ok]
        server_p99 = [r.server.get("latency_p99_ms", np.nan) for r in ok]
        receipts = np.array([ms for r in ok for ms in r.receipt_ms], np.float64)
        rss = [m for _, m in self.rss_mb]
        return {
            "sessions": self.sessions,
            "fps_min": min((r.fps for r in ok), default=0.0),
            "fps_mean": float(np.mean([r.fps for r in ok])) if ok else 0.0,
            "server_p50_ms": float(np.nanmax(server_p50)) if ok else np.nan,
            "server_p99_ms": float(np.nanmax(server_p99)) if ok else np.nan,
            "client_p50_ms": float(np.percentile(receipts, 50)) if receipts.size else np.nan,
            "client_p99_ms": float(np.percentile(receipts, 99)) if receipts.size else np.nan,
            "late_frames": int(sum(r.server.get("late_frames", 0) for r in ok)),
            "missing_frames": int(sum(r.missing for r in ok)),
            "cpu_percent": self.cpu_percent,
            # RSS once warm: after a minute on long runs, after 5 s on short ones.
            "rss_start_mb": next(
                (m for t, m in self.rss_mb if t >= (60 if self.seconds >= 300 else 5)),
                rss[-1] if rss else np.nan,
            ),
            "rss_end_mb": rss[-1] if rss else np.nan,
            "errors": "; ".join(r.error for r in self.results if r.error),
        }


def bench_serve(
    sessions: int,
    seconds: float,
    size: int = 256,
    encoding: str = "rgba8",
    character_dir: Path | None = None,
    generator: str | None = None,
) -> RunResult:
    """Run one configuration: a fresh server (``generator``: the server's default when None),
    ``sessions`` client processes, ``seconds`` long."""
    from runtime.config import ServerConfig

    port = _free_port()
    directory = character_dir or ServerConfig().character_dir
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    extra = ["--generator", generator] if generator else None
    with running_server(port, size, sessions, directory, extra) as proc:
        clients = [
            ctx.Process(target=_client_main, args=(port, seconds, size, encoding, 1000 + i, queue))
            for i in range(sessions)
        ]
        for c in clients:
            c.start()
        t0 = time.monotonic()
        cpu0, _ = _proc_sample(proc.pid)
        rss: list[tuple[float, float]] = []
        cpu_start_t, cpu_start = t0, cpu0
        results: list[SessionResult] = []
        while len(results) < sessions:
            with contextlib.suppress(Exception):
                results.append(queue.get(timeout=1.0))
                continue
            elapsed = time.monotonic() - t0
            cpu, mem = _proc_sample(proc.pid)
            rss.append((elapsed, mem / 2**20))
            if elapsed < 5:  # CPU from the steady part (after clients synthesise their audio)
                cpu_start_t, cpu_start = time.monotonic(), cpu
            if elapsed > seconds + 120:
                break
        cpu_end, _ = _proc_sample(proc.pid)
        busy = (cpu_end - cpu_start) / max(1e-6, time.monotonic() - cpu_start_t) * 100
        for c in clients:
            c.join(timeout=10)
    return RunResult(sessions, seconds, results, busy, rss)
