"""``lpm serve`` as a subprocess on loopback, driven through both transports over real sockets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

from bridge.client import Client
from bridge.protocol import ErrorCode, ProtocolError
from models.motion import idx
from runtime.bench_serve import _free_port
from runtime.remote import connect, record_take
from tests.runtime.conftest import TEST_SIZE

REPO = Path(__file__).resolve().parents[2]
JAW = idx("jawOpen")


def start_server(
    character_dir: Path, *args: str, probe_keys: dict[str, Path] | None = None
) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    cmd = [sys.executable, "-m", "runtime.cli", "serve", "--port", str(port)]
    cmd += ["--size", str(TEST_SIZE), "--character-dir", str(character_dir), *args]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"lpm serve exited:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            with connect("zmq", "127.0.0.1", port, timeout_s=0.5, **(probe_keys or {})) as probe:
                probe.ping()
            return proc, port
        except TimeoutError:
            continue
    proc.kill()
    raise RuntimeError("lpm serve did not come up within 60 s")


def stop_server(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.stdout.read() if proc.stdout else ""


@pytest.fixture(scope="module")
def server(character_dir: Path) -> Iterator[int]:
    proc, port = start_server(character_dir, "--session-timeout", "2")
    yield port
    log = stop_server(proc)
    assert "Traceback" not in log, log


@pytest.mark.parametrize("transport", ["zmq", "grpc"])
def test_a_streamed_line_comes_back_as_lip_synced_frames(
    server: int, transport: str, line: tuple[np.ndarray, int]
) -> None:
    samples, rate = line
    speak = np.concatenate([np.zeros(rate // 2, np.float32), samples]).astype(np.float32)
    with connect(transport, "127.0.0.1", server, max_frames=1000) as client:
        take = record_take(client, (speak, rate), tail_s=0.6)
    assert take.speak_pts_us is not None
    pts = np.array(sorted(take.frames))
    assert pts[0] == 0 and np.all(np.diff(pts) == 40_000)  # every frame, on the 40 ms grid
    indices = [take.frames[p].index for p in pts]
    assert indices == sorted(indices)
    start, dur = take.speak_pts_us, take.speak_duration_us
    in_line = [p for p in pts if start <= p < start + dur]
    assert abs(len(in_line) - dur / 40_000) <= 1  # frame count = duration × fps ± 1
    frames = [take.frames[p] for p in pts]
    assert all(f.curve_array().shape == (61,) for f in frames)
    assert frames[0].rgba().shape == (TEST_SIZE, TEST_SIZE, 4)
    jaw = np.array([f.curve_array()[JAW] for f in frames])
    voiced = (pts >= start + 700_000) & (pts < start + dur - 300_000)
    silent = pts < start + 400_000  # half a second of leading silence
    tail = pts >= start + dur + 300_000
    assert jaw[voiced].max() > jaw[silent].mean() + 0.2  # the mouth opens during speech
    assert abs(jaw[tail].mean() - jaw[silent].mean()) < 0.05  # and closes after it
    assert take.stats["speak_dropped_seconds"] == 0


def raw_dealer(port: int) -> zmq.Socket[bytes]:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{port + 1}")
    return sock


def test_garbage_from_one_client_costs_another_no_frame(server: int) -> None:
    stop = threading.Event()
    errors = []

    def vandal() -> None:
        sock = raw_dealer(server)
        junk = [
            [b"\xc1\xff"],
            [msgpack.packb({"v": 1, "type": "speak_audio", "session": "x", "sample_rate": 7})],
            [msgpack.packb({"v": 99, "type": "ping"})],
            [msgpack.packb([1, 2, 3])],
            [msgpack.packb({"v": 1, "type": "create_session", "width": "wide"})],
            [
                msgpack.packb(
                    {"v": 1, "type": "speak_audio", "session": "s", "sample_rate": 16000}
                ),
                np.full(640, np.nan, np.float32).tobytes(),
            ],
        ]
        i = 0
        while not stop.is_set():
            sock.send_multipart(junk[i % len(junk)])
            i += 1
            while sock.poll(0):
                errors.append(msgpack.unpackb(sock.recv_multipart()[0])["code"])
            time.sleep(0.002)
        sock.close()

    thread = threading.Thread(target=vandal)
    with connect("zmq", "127.0.0.1", server, max_frames=1000) as client:
        info = client.create_session()
        thread.start()
        t0 = time.monotonic()
        seen = []
        while time.monotonic() - t0 < 2.5:
            client.push_speak(info.session, np.zeros(320, np.float32), 16_000)
            frame = client.next_frame(info.session, timeout_s=0.02)
            while frame is not None:
                seen.append(frame.index)
                frame = client.next_frame(info.session, timeout_s=0)
            time.sleep(0.01)
        stop.set()
        thread.join()
        client.close_session(info.session)
    assert len(seen) >= 50
    assert seen == list(range(seen[0], seen[0] + len(seen)))  # no frame lost, none repeated
    assert {int(ErrorCode.MALFORMED), int(ErrorCode.BAD_VERSION), int(ErrorCode.BAD_FIELD)} <= set(
        errors
    )


def test_reconnect_resumes_the_session_and_a_vanished_client_times_out(server: int) -> None:
    first = connect("zmq", "127.0.0.1", server)
    info = first.create_session()
    orphan = first.create_session().session
    time.sleep(0.3)  # a few frames exist
    first.close()  # the game's process died: no close_session, no pings
    with connect("grpc", "127.0.0.1", server, max_frames=200) as second:
        resumed = second.resume_session(info.session)
        assert resumed.next_index > 0
        frame = second.next_frame(info.session, timeout_s=2.0)
        assert frame is not None and frame.index >= resumed.next_index
        time.sleep(2.6)  # the server's session timeout is 2 s
        with pytest.raises(ProtocolError) as err:
            second.resume_session(orphan)
        assert err.value.code == ErrorCode.UNKNOWN_SESSION
        assert second.stats(info.session)["frames"] > 0  # the resumed one is alive
        second.close_session(info.session)


def test_quota_per_client(server: int) -> None:
    with connect("zmq", "127.0.0.1", server) as client:
        made = [client.create_session().session for _ in range(4)]
        with pytest.raises(ProtocolError) as err:
            client.create_session()
        assert err.value.code == ErrorCode.TOO_MANY_SESSIONS
        for sid in made:
            client.close_session(sid)


def test_shutdown_tells_clients_and_exits_cleanly(character_dir: Path) -> None:
    proc, port = start_server(character_dir)
    client: Client = connect("zmq", "127.0.0.1", port)
    with client:
        info = client.create_session()
        assert client.next_frame(info.session, timeout_s=2.0) is not None
        proc.send_signal(signal.SIGTERM)
        closed = client.wait_event("session_closed", 10.0)
        shutdown = client.wait_event("shutdown", 10.0)
    assert closed is not None and closed.reason == "shutdown"
    assert shutdown is not None
    assert proc.wait(timeout=15) == 0
    log = stop_server(proc)
    assert "Traceback" not in log


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as a TLS deployment would have."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "server.crt", tmp / "server.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_security_on_refuses_clients_without_keys_or_token(
    character_dir: Path, tmp_path: Path
) -> None:
    from bridge.zmq_common import generate_keypair, save_keys

    server_key, client_key, stranger_key = (tmp_path / n for n in ("s.key", "c.key", "x.key"))
    for path in (server_key, client_key, stranger_key):
        public, secret = generate_keypair()
        save_keys(path, public, secret)
        save_keys(path.with_name(path.name + ".pub"), public)
    cert, key = _self_signed(tmp_path)
    config = tmp_path / "server.toml"
    config.write_text(
        "[security]\n"
        "enabled = true\n"
        f'zmq_server_key = "{server_key}"\n'
        f'zmq_allowed_clients = ["{client_key}.pub"]\n'
        f'tls_cert = "{cert}"\n'
        f'tls_key = "{key}"\n'
        'token = "open-sesame"\n'
    )
    keys = {"server_key": Path(f"{server_key}.pub"), "client_key": client_key}
    proc, port = start_server(character_dir, "--config", str(config), probe_keys=keys)
    try:
        with connect("zmq", "127.0.0.1", port, **keys) as trusted:
            assert trusted.list_characters().default == "astronaut"
        for attempt in ({}, {"server_key": keys["server_key"], "client_key": stranger_key}):
            with (
                connect("zmq", "127.0.0.1", port, timeout_s=1.0, **attempt) as refused,
                pytest.raises(TimeoutError),
            ):
                refused.ping()
        with connect("grpc", "127.0.0.1", port, root_cert=cert, token="open-sesame") as ok:
            assert ok.list_characters().default == "astronaut"
        with connect("grpc", "127.0.0.1", port, root_cert=cert, token="guess") as bad:
            with pytest.raises(ProtocolError) as err:
                bad.list_characters()
            assert err.value.code == ErrorCode.UNAUTHENTICATED
        with (
            connect("grpc", "127.0.0.1", port, timeout_s=2.0) as plaintext,
            pytest.raises((ProtocolError, TimeoutError)),
        ):
            plaintext.list_characters()
    finally:
        log = stop_server(proc)
    assert "Traceback" not in log


def test_bench_serve_runs_end_to_end(character_dir: Path) -> None:
    args = ["bench", "serve", "--sessions", "1", "--seconds", "4", "--size", "64"]
    res = subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args, "--character-dir", str(character_dir)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr
    row = next(line for line in res.stdout.splitlines() if line.startswith("│"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[0] == "1"  # sessions
    assert float(cells[2]) > 0  # frames came back
    assert "errors" not in res.stderr


def test_lpm_client_records_a_take_with_the_voice_muxed(
    server: int, line: tuple[np.ndarray, int], tmp_path: Path
) -> None:
    from models.audio_io import save_wav
    from runtime.media import probe

    samples, rate = line
    wav, out = tmp_path / "npc.wav", tmp_path / "take.mp4"
    save_wav(wav, samples, rate)
    args = ["client", "--speak", str(wav), "--port", str(server), "-o", str(out)]
    res = subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args, "--transport", "grpc", "--prompt", "smiles"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    info = probe(out)
    assert info["video_fps"] == 25 and info["width"] == TEST_SIZE
    assert info["video_duration"] >= samples.size / rate  # the whole line, and the tail
    assert abs(info["audio_duration"] - info["video_duration"]) < 0.05
    bad = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "client", "--speak", str(wav), "--port", "1"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "lpm serve" in bad.stderr and "Traceback" not in bad.stderr
