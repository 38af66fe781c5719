"""The native client core (``bridge/native``): CMake build, then ctest against a real ``lpm serve``.

Two builds: ``build/native`` (optimised) and ``build/native-asan`` (AddressSanitizer +
UndefinedBehaviorSanitizer, LeakSanitizer on). Each runs the whole ctest suite (unit tests and
live tests) against one ``lpm serve`` on loopback; the live restart test kills that server and
starts a new one with the same command, so the second build runs against the restarted server.

Harness contract (bridge/native/README.md): the environment of ``ctest`` carries
``LPM_TEST_ENDPOINT``, ``LPM_TEST_WAV``, ``LPM_TEST_SERVE_CMD``, ``LPM_TEST_SERVER_PIDFILE`` and
``LPM_TEST_METRICS``. Measurements land in ``build/native/report.json``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "bridge" / "native"
REPORT = REPO / "build" / "native" / "report.json"
TEST_SIZE = 128  # frame size of the test server: small frames, same code path
LINE = "Welcome back, traveller. The gate is open."  # about 2-3 s of speech
BUILDS = {
    "release": (REPO / "build" / "native", ["-DCMAKE_BUILD_TYPE=RelWithDebInfo"]),
    "asan": (
        REPO / "build" / "native-asan",
        ["-DCMAKE_BUILD_TYPE=Debug", "-DLPM_ASAN=ON", "-DLPM_BUILD_EXAMPLES=OFF"],
    ),
}
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
# The `lpm` console script's entry point, started through the interpreter of this venv.
SERVE_LAUNCHER = "import sys; from runtime.cli import app; sys.argv[0] = 'lpm'; app()"

# `make test` installs the toolchain (Makefile `system`); without it this fails, never skips.
MISSING = [tool for tool in ("cmake", "ctest", "g++") if shutil.which(tool) is None]
assert not MISSING, f"missing {MISSING}: run `make system` (Debian packages in the Makefile)"


@dataclass(frozen=True)
class Server:
    endpoint: str  # ZeroMQ endpoint, base port + 1
    command: str  # starts `lpm serve` in the background and writes its PID to pidfile
    pidfile: Path
    log: Path


def _port_pair() -> int:
    """A base port P with P and P + 1 both free on loopback."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return int(port)
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


def _serve_command(port: int, character_dir: Path, pidfile: Path, log: Path) -> str:
    argv = [sys.executable, "-c", SERVE_LAUNCHER, "serve", "--port", str(port)]
    argv += ["--size", str(TEST_SIZE), "--character-dir", str(character_dir)]
    repo = shlex.quote(str(REPO))
    return (
        f"cd {repo} && PYTHONPATH={repo} nohup {shlex.join(argv)} >> {shlex.quote(str(log))} "
        f"2>&1 < /dev/null & echo $! > {shlex.quote(str(pidfile))}"
    )


def _wait_answering(endpoint: str, timeout_s: float) -> None:
    """Ping the ZeroMQ plane until a pong comes back."""
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        deadline = time.monotonic() + timeout_s
        request = 0
        while time.monotonic() < deadline:
            request += 1
            sock.send(msgpack.packb({"v": 1, "type": "ping", "id": request}))
            if sock.poll(200):
                return
        raise RuntimeError(f"lpm serve did not answer on {endpoint} within {timeout_s} s")
    finally:
        sock.close(linger=0)


def _stop(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


@pytest.fixture(scope="module")
def character_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from runtime.characters import CharacterRegistry

    directory = tmp_path_factory.mktemp("characters")
    CharacterRegistry(directory, TEST_SIZE).get(None)
    return directory


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The NPC line as the project's TTS makes it, written as 16-bit PCM WAV."""
    from models.tts import EspeakEngine

    speech = EspeakEngine.shared().synthesize(LINE)
    pcm = np.clip(np.round(speech.samples * 32767.0), -32768, 32767).astype("<i2")
    path = tmp_path_factory.mktemp("audio") / "line.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(speech.sample_rate)
        out.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def builds() -> dict[str, tuple[Path, float]]:
    """Both builds, made before the server starts: compiling beside a fresh server has been seen
    to leave its frames arriving in bursts for the whole run (a real-time test then fails for
    reasons of the host, not of the code)."""
    built = {name: _build(name) for name in BUILDS}
    os.sync()  # the compiler's output written back now, not during the real-time tests
    return built


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    character_dir: Path,
    builds: dict[str, tuple[Path, float]],
) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("serve")
    port = _port_pair()
    pidfile, log = work / "serve.pid", work / "serve.log"
    command = _serve_command(port, character_dir, pidfile, log)
    subprocess.run(["/bin/sh", "-c", command], check=True)
    endpoint = f"tcp://127.0.0.1:{port + 1}"
    try:
        _wait_answering(endpoint, 90)
        yield Server(endpoint, command, pidfile, log)
    finally:
        _stop(pidfile)


def _build(name: str) -> tuple[Path, float]:
    build_dir, options = BUILDS[name]
    start = time.monotonic()
    configure = ["cmake", "-S", str(SOURCE), "-B", str(build_dir), "-DLPM_WERROR=ON", *options]
    for cmd in (configure, ["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 2)]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{shlex.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return build_dir, time.monotonic() - start


def _update_report(name: str, entry: dict[str, object]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report[name] = entry
    REPORT.write_text(json.dumps(report, indent=2) + "\n")


def _diagnostics(server: Server, metrics: dict[str, float]) -> str:
    """What a failed live run needs for a diagnosis: the server's log, the live measurements and
    the busiest processes on the machine (a slow frame rate on a shared host shows there)."""
    log = server.log.read_text(errors="replace") if server.log.exists() else "(no log)"
    top = subprocess.run(
        ["ps", "-eo", "pid,pcpu,rss,etime,args", "--sort=-pcpu"], capture_output=True, text=True
    ).stdout
    return (
        f"--- live metrics ---\n{json.dumps(metrics, indent=1)}\n"
        f"--- busiest processes ---\n{chr(10).join(top.splitlines()[:8])}\n"
        f"--- lpm serve log (tail) ---\n{log[-3000:]}"
    )


@pytest.mark.parametrize("name", list(BUILDS))
def test_native_client_ctest(
    name: str, builds: dict[str, tuple[Path, float]], server: Server, speech_wav: Path
) -> None:
    build_dir, build_s = builds[name]
    metrics_file = build_dir / "live-metrics.jsonl"
    metrics_file.unlink(missing_ok=True)
    env = {
        **os.environ,
        "LPM_TEST_ENDPOINT": server.endpoint,
        "LPM_TEST_WAV": str(speech_wav),
        "LPM_TEST_SERVE_CMD": server.command,
        "LPM_TEST_SERVER_PIDFILE": str(server.pidfile),
        "LPM_TEST_METRICS": str(metrics_file),
        **(SANITIZER_ENV if name == "asan" else {}),
    }
    start = time.monotonic()
    cmd = ["ctest", "--test-dir", str(build_dir), "--output-on-failure", "--timeout", "180"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    ctest_s = time.monotonic() - start
    output = done.stdout + done.stderr
    metrics: dict[str, float] = {}
    if metrics_file.exists():
        for line in metrics_file.read_text().splitlines():
            metrics.update(json.loads(line))
    summary = next((line for line in output.splitlines() if "tests passed" in line), "")
    _update_report(
        name,
        {
            "build_s": round(build_s, 1),
            "ctest_s": round(ctest_s, 1),
            "summary": summary,
            "metrics": metrics,
        },
    )
    print(f"\n[{name}] build {build_s:.1f} s, ctest {ctest_s:.1f} s: {summary}")
    print(json.dumps(metrics, indent=2))
    # The ctest output (with the failing checks) goes last: a log cut in the middle keeps its end.
    assert done.returncode == 0, (
        f"ctest failed ({name}):\n{_diagnostics(server, metrics)}\n--- ctest ---\n{output[-20000:]}"
    )
    assert "100% tests passed" in summary, output[-5000:]
    if name == "asan":
        assert "Sanitizer" not in output, output[-20000:]
