"""The Unity package's engine-independent C# core (``unity_plugin/Runtime/Core``), compiled with
Mono's ``mcs`` at C# 7.0 and run under NUnit against the real native client library and a live
``lpm serve``: unit tests of the pure pieces, then a WAV streamed end to end and a server killed
and restarted mid-stream."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import wave
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.tts import EspeakEngine
from runtime.bench_serve import _free_port
from runtime.characters import CharacterRegistry
from runtime.remote import connect

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "unity_plugin"
NATIVE_SRC = REPO / "bridge" / "native"
# Shared with the native core's own tests, which build there with the same commands.
NATIVE_BUILD = Path(os.environ.get("LPM_NATIVE_BUILD_DIR", REPO / "build" / "native"))
PLUGIN_LIB_DIR = PLUGIN / "Plugins" / "Linux" / "x86_64"
NUNIT_FRAMEWORK = Path("/usr/lib/cli/nunit.framework-2.6.3/nunit.framework.dll")
FRAME_SIZE = 128  # small frames, same code path
PORTRAIT = REPO.parent / "shared" / "testdata" / "portraits" / "photo_grace_hopper.jpg"
LINE = "Welcome back, traveller. The gate is open, and the northern road is clear tonight."

# `make test` installs Mono, NUnit and the toolchain (Makefile `system`); this fails, never skips.
MISSING = [t for t in ("mcs", "mono", "nunit-console", "cmake") if shutil.which(t) is None]
assert not MISSING, f"missing {MISSING}: run `make system` (Debian packages in the Makefile)"


@pytest.fixture(scope="module")
def native_library() -> Path:
    """liblpm_client.so, built like the native core's tests build it, copied into the package."""
    lib = NATIVE_BUILD / "liblpm_client.so"
    if not lib.exists():
        for cmd in (
            ["cmake", "-S", str(NATIVE_SRC), "-B", str(NATIVE_BUILD), "-DCMAKE_BUILD_TYPE=Release"],
            # Only the library: the native core's own tests build the rest of this tree.
            ["cmake", "--build", str(NATIVE_BUILD), "-j2", "--target", "lpm_client"],
        ):
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout}\n{done.stderr}"
    PLUGIN_LIB_DIR.mkdir(parents=True, exist_ok=True)
    installed = PLUGIN_LIB_DIR / "liblpm_client.so"
    shutil.copyfile(lib.resolve(), installed)  # the real file, not the SONAME symlink
    return installed


@pytest.fixture(scope="module")
def assemblies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lpm.Core.dll (the package's core, no engine references) and the NUnit test assembly."""
    out = tmp_path_factory.mktemp("csharp")
    core = sorted(str(p) for p in (PLUGIN / "Runtime" / "Core").glob("*.cs"))
    tests = sorted(str(p) for p in (PLUGIN / "Tests" / "Core").glob("*.cs"))
    shutil.copyfile(NUNIT_FRAMEWORK, out / NUNIT_FRAMEWORK.name)
    mcs = ["mcs", "-langversion:7", "-unsafe", "-target:library", "-debug"]
    for cmd in (
        [*mcs, "-warnaserror+", f"-out:{out / 'Lpm.Core.dll'}", *core],
        [
            *mcs,
            f"-out:{out / 'Lpm.Core.Tests.dll'}",
            f"-r:{out / 'Lpm.Core.dll'}",
            f"-r:{out / NUNIT_FRAMEWORK.name}",
            *tests,
        ],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(cmd[:6])} ...\n{done.stdout}\n{done.stderr}"
    return out


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NPC line from the project's TTS, as a 16-bit PCM WAV (the C# side parses it)."""
    speech = EspeakEngine.shared().synthesize(LINE)
    pcm = np.clip(speech.samples.astype(np.float32), -1.0, 1.0)
    path = tmp_path_factory.mktemp("audio") / "line.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(speech.sample_rate)
        w.writeframes((pcm * 32767).astype("<i2").tobytes())
    return path


def _mcs(*args: str) -> None:
    done = subprocess.run(
        ["mcs", "-langversion:7", "-target:library", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"mcs {' '.join(args[:3])} ...\n{done.stdout}\n{done.stderr}"


def test_unity_layer_compiles_against_the_documented_unity_api(assemblies: Path) -> None:
    """Runtime/, Editor/ and the sample, compiled at C# 7.0 against declarations of exactly the
    Unity API the README lists (signatures from the Unity 2022.3 Scripting Reference). This
    checks the Unity layer's C# and its use of that API as documented; it is not Unity."""
    stubs = Path(__file__).parent / "unity_api_stubs"
    out = assemblies / "unity"
    out.mkdir(exist_ok=True)
    engine, editor = out / "UnityEngine.dll", out / "UnityEditor.dll"
    runtime, core = out / "Lpm.Npc.Runtime.dll", assemblies / "Lpm.Core.dll"
    _mcs("-nowarn:67", f"-out:{engine}", str(stubs / "UnityEngine.cs"))
    _mcs(f"-out:{editor}", f"-r:{engine}", str(stubs / "UnityEditor.cs"))
    strict = "-warnaserror+"
    _mcs(
        strict,
        f"-out:{runtime}",
        f"-r:{core}",
        f"-r:{engine}",
        *map(str, sorted((PLUGIN / "Runtime").glob("*.cs"))),
    )
    _mcs(
        strict,
        f"-out:{out / 'Lpm.Npc.Editor.dll'}",
        f"-r:{core}",
        f"-r:{engine}",
        f"-r:{editor}",
        f"-r:{runtime}",
        *map(str, sorted((PLUGIN / "Editor").glob("*.cs"))),
    )
    _mcs(
        strict,
        f"-out:{out / 'Sample.dll'}",
        f"-r:{engine}",
        f"-r:{runtime}",
        *map(str, sorted((PLUGIN / "Samples~").rglob("*.cs"))),
    )


def _pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _stop(pid: int | None) -> None:
    if pid is None:
        return
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`lpm serve` on a free port, started by a script the restart test runs again."""
    work = tmp_path_factory.mktemp("serve")
    characters = work / "characters"
    characters.mkdir()
    CharacterRegistry(characters, FRAME_SIZE).get(None)  # prepare the default character once
    port = _free_port()
    pidfile, log = work / "server.pid", work / "server.log"
    # The `lpm` console script's entry point (runtime.cli:app), in the background; its PID is
    # written where the tests (kill) and this fixture (clean-up) find it.
    script = work / "serve.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"cd '{REPO}'\n"
        f"PYTHONPATH='{REPO}' '{sys.executable}' -c 'from runtime.cli import app; app()' serve "
        f"--port {port} --size {FRAME_SIZE} --character-dir '{characters}' "
        f">> '{log}' 2>&1 < /dev/null &\n"
        f"echo $! > '{pidfile}'\n"
    )
    subprocess.run(["/bin/sh", str(script)], check=True, timeout=30)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert _pid(pidfile) is not None
            try:
                os.kill(_pid(pidfile) or 0, 0)
            except ProcessLookupError:
                pytest.fail(f"lpm serve exited:\n{log.read_text()}")
            try:
                with connect("zmq", "127.0.0.1", port, timeout_s=0.5) as probe:
                    probe.ping()
                break
            except TimeoutError:
                assert time.monotonic() < deadline, f"lpm serve did not come up:\n{log.read_text()}"
        yield {
            "LPM_TEST_ENDPOINT": f"tcp://127.0.0.1:{port + 1}",
            "LPM_TEST_SERVE_CMD": f"/bin/sh '{script}'",
            "LPM_TEST_SERVER_PIDFILE": str(pidfile),
            "LPM_TEST_SERVER_LOG": str(log),
        }
    finally:
        _stop(_pid(pidfile))


def _nunit(assemblies: Path, env: dict[str, str], *args: str) -> tuple[dict[str, int], str, str]:
    result = assemblies / "result.xml"
    report = assemblies / "report.txt"
    report.write_text("")
    run = subprocess.run(
        [
            "nunit-console",
            str(assemblies / "Lpm.Core.Tests.dll"),
            "-nologo",
            f"-xml={result}",
            *args,
        ],
        cwd=assemblies,
        env={**os.environ, **env, "LPM_TEST_REPORT": str(report)},
        capture_output=True,
        text=True,
        timeout=280,
    )
    output = run.stdout + run.stderr
    assert result.exists(), f"nunit-console wrote no result (rc {run.returncode}):\n{output}"
    root = ET.parse(result).getroot()
    counts = {
        key: int(root.get(key, "0"))
        for key in (
            "total",
            "errors",
            "failures",
            "not-run",
            "inconclusive",
            "ignored",
            "skipped",
            "invalid",
        )
    }
    return counts, output, report.read_text()


def test_csharp_core_passes_unit_and_end_to_end_tests(
    native_library: Path, assemblies: Path, speech_wav: Path, live_server: dict[str, str]
) -> None:
    env = {
        **live_server,
        "LPM_TEST_WAV": str(speech_wav),
        "LPM_TEST_PORTRAIT": str(PORTRAIT),
        "LD_LIBRARY_PATH": os.pathsep.join(
            [str(native_library.parent), os.environ.get("LD_LIBRARY_PATH", "")]
        ),
    }
    counts, output, report = _nunit(assemblies, env)
    print(report)
    log = Path(live_server["LPM_TEST_SERVER_LOG"]).read_text()
    failed = counts["errors"] + counts["failures"] + counts["invalid"]
    assert failed == 0, f"{counts}\n{output}\n--- server log ---\n{log[-4000:]}"
    assert counts["total"] > 0, output
    # Every end-to-end test ran: none ignored for a missing runtime or library.
    assert counts["not-run"] == counts["ignored"] == counts["skipped"] == 0, f"{counts}\n{output}"
    assert counts["inconclusive"] == 0, output
    values = dict(line.split("=", 1) for line in report.splitlines() if "=" in line)
    assert float(values["frames_dropped"]) == 0
    assert float(values["frames_ratio"]) >= 0.6  # real-time share shown; 1.0 on an idle host
    assert float(values["restart_first_frame_after_answer_s"]) <= 5.0
