"""The Unreal plugin (``unreal_plugin/LpmNpc``), checked without the engine.

Unreal cannot compile or run here. What can be checked is: the static rules of
``unreal_plugin/Tools/check_plugin.py`` on the real plugin (and that the checker catches each
kind of mistake, on broken copies), and the plugin's engine-independent lip-sync core
(``Source/LpmNpc/Private/Sync``), compiled with the host C++ compiler and run.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
UNREAL = REPO / "unreal_plugin"
PLUGIN = UNREAL / "LpmNpc"
NATIVE = REPO / "bridge" / "native"
SYNC = PLUGIN / "Source" / "LpmNpc" / "Private" / "Sync"
SYNC_TEST = Path(__file__).resolve().parent / "cpp" / "test_sync_core.cpp"

CXX = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
# `make system` installs g++ (Makefile APT_PACKAGES); this fails, never skips.
assert CXX is not None, "no C++ compiler: run `make system`"


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_plugin", UNREAL / "Tools" / "check_plugin.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_plugin"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


checker = _load_checker()


# --- The real plugin ----------------------------------------------------------------------


def test_the_plugin_passes_every_check() -> None:
    assert checker.check(PLUGIN) == []


def test_main_reports_ok_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert checker.main([str(PLUGIN)]) == 0
    out = capsys.readouterr().out
    assert "LpmNpc: ok" in out


def test_the_plugin_calls_the_native_core_it_needs() -> None:
    calls = set(checker.native_calls(PLUGIN))
    # Sessions, audio both ways, frames at a playhead, events, ABI checks, preparation.
    for needed in (
        "lpm_client_create",
        "lpm_client_destroy",
        "lpm_client_poll_event",
        "lpm_session_create",
        "lpm_session_close",
        "lpm_session_push_speak",
        "lpm_session_push_listen",
        "lpm_session_end_of_speech",
        "lpm_session_poll_frame",
        "lpm_session_timeline_now",
        "lpm_abi_version",
        "lpm_abi_struct_size",
        "lpm_client_prepare_character",
    ):
        assert needed in calls, needed


def test_the_descriptor_is_what_the_issue_asks_for() -> None:
    import json

    data = json.loads((PLUGIN / "LpmNpc.uplugin").read_text(encoding="utf-8"))
    modules = {m["Name"]: m for m in data["Modules"]}
    assert modules["LpmNpc"]["Type"] == "Runtime"
    assert modules["LpmNpcEditor"]["Type"] == "Editor"
    for module in modules.values():
        assert sorted(module["PlatformAllowList"]) == ["Linux", "Mac", "Win64"]
    assert {"AudioCapture", "Synthesis"} <= {p["Name"] for p in data["Plugins"] if p["Enabled"]}


def test_the_sync_core_compiles_cleanly_and_its_tests_pass(tmp_path: Path) -> None:
    binary = tmp_path / "test_sync_core"
    command = [
        str(CXX),
        "-std=c++17",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Wpedantic",
        "-Wshadow",
        "-Wconversion",
        "-Werror",
        f"-I{SYNC}",
        str(SYNC_TEST),
        str(SYNC / "LpmPlaybackClock.cpp"),
        str(SYNC / "LpmSpeakTapCore.cpp"),
        "-pthread",
        "-o",
        str(binary),
    ]
    built = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "all checks passed" in ran.stdout


def test_the_sync_core_needs_no_engine() -> None:
    for path in SYNC.iterdir():
        includes = re.findall(r'#\s*include\s*[<"]([^>"]+)[>"]', path.read_text(encoding="utf-8"))
        for include in includes:
            assert include.startswith("Lpm") or "." not in include, f"{path.name}: {include}"


# --- Broken copies: the checker must catch each kind of mistake ----------------------------


@pytest.fixture()
def broken(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the plugin, its README and the native core's header and tests to break."""
    unreal = tmp_path / "unreal_plugin"
    shutil.copytree(
        PLUGIN, unreal / "LpmNpc", ignore=shutil.ignore_patterns("Binaries", "Intermediate")
    )
    shutil.copyfile(UNREAL / "README.md", unreal / "README.md")
    native = tmp_path / "bridge" / "native"
    shutil.copytree(NATIVE / "include", native / "include")
    shutil.copytree(NATIVE / "tests", native / "tests")
    plugin = unreal / "LpmNpc"
    assert checker.check(plugin, native_dir=native) == [], "the copy itself must pass"
    return plugin, native


def _edit(path: Path, change: Callable[[str], str]) -> None:
    text = path.read_text(encoding="utf-8")
    changed = change(text)
    assert changed != text, f"the edit did not change {path.name}"
    path.write_text(changed, encoding="utf-8")


def _problems(plugin: Path, native: Path) -> str:
    problems = checker.check(plugin, native_dir=native)
    assert problems, "the checker found nothing wrong"
    return "\n".join(problems)


FACE_H = Path("Source/LpmNpc/Public/LpmNpcFaceComponent.h")
FACE_CPP = Path("Source/LpmNpc/Private/LpmNpcFaceComponent.cpp")


def test_generated_header_not_last_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / FACE_H,
        lambda text: text.replace(
            '#include "LpmNpcFaceComponent.generated.h"\n',
            '#include "LpmNpcFaceComponent.generated.h"\n#include "Engine/EngineTypes.h"\n',
        ),
    )
    assert "'LpmNpcFaceComponent.generated.h' must be the last #include" in _problems(
        plugin, native
    )


def test_missing_generated_header_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "Source/LpmNpc/Public/LpmNpcSettings.h",
        lambda text: text.replace('#include "LpmNpcSettings.generated.h"\n', ""),
    )
    assert "'LpmNpcSettings.generated.h' must be the last #include" in _problems(plugin, native)


def test_missing_generated_body_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "Source/LpmNpc/Public/LpmCurveMapping.h",
        lambda t: t.replace("GENERATED_BODY()", ""),
    )
    assert "without GENERATED_BODY()" in _problems(plugin, native)


def test_own_header_not_first_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / FACE_CPP,
        lambda text: text.replace(
            '#include "LpmNpcFaceComponent.h"\n',
            '#include "Components/AudioComponent.h"\n#include "LpmNpcFaceComponent.h"\n',
            1,
        ),
    )
    assert "must include its own header 'LpmNpcFaceComponent.h' first" in _problems(plugin, native)


def test_cpp_including_a_generated_header_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / FACE_CPP,
        lambda text: text + '\n#include "LpmNpcFaceComponent.generated.h"\n',
    )
    assert "a .cpp must not include" in _problems(plugin, native)


def test_bad_json_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(plugin / "LpmNpc.uplugin", lambda text: text.replace('"Modules": [', '"Modules": [[', 1))
    assert "not valid JSON" in _problems(plugin, native)


def test_module_renamed_in_the_descriptor_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "LpmNpc.uplugin",
        lambda text: text.replace('"Name": "LpmNpcEditor"', '"Name": "LpmNpcTools"'),
    )
    problems = _problems(plugin, native)
    assert "Source/LpmNpcTools/ is missing" in problems
    assert "Source/LpmNpcEditor/ is not a module of the .uplugin" in problems


def test_build_cs_class_mismatch_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "Source/LpmNpc/LpmNpc.Build.cs",
        lambda text: text.replace(
            "class LpmNpc : ModuleRules", "class LpmNpcRuntime : ModuleRules"
        ),
    )
    assert "does not declare 'class LpmNpc : ModuleRules'" in _problems(plugin, native)


def test_missing_build_cs_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    (plugin / "Source/LpmNpcEditor/LpmNpcEditor.Build.cs").unlink()
    assert "LpmNpcEditor.Build.cs is missing" in _problems(plugin, native)


def test_implement_module_mismatch_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "Source/LpmNpc/Private/LpmNpcModule.cpp",
        lambda text: text.replace(
            "IMPLEMENT_MODULE(FLpmNpcModule, LpmNpc)",
            "IMPLEMENT_MODULE(FLpmNpcModule, LpmNpcRuntime)",
        ),
    )
    assert "IMPLEMENT_MODULE names module 'LpmNpcRuntime'" in _problems(plugin, native)


def test_unknown_module_type_and_platform_are_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "LpmNpc.uplugin",
        lambda text: text.replace('"Type": "Editor"', '"Type": "Editorial"').replace(
            '"Mac"', '"MacOS"'
        ),
    )
    problems = _problems(plugin, native)
    assert "unknown Type 'Editorial'" in problems
    assert "unknown platforms in PlatformAllowList" in problems


def test_runtime_module_depending_on_the_editor_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "Source/LpmNpc/LpmNpc.Build.cs",
        lambda text: text.replace('"Projects",', '"Projects",\n\t\t\t"UnrealEd",'),
    )
    assert "runtime module depends on editor-only module UnrealEd" in _problems(plugin, native)


def test_foreign_api_macro_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "Source/LpmNpcEditor/Public/LpmNpcEditorModule.h",
        lambda text: text.replace(
            "class FLpmNpcEditorModule :", "class LPMNPC_API FLpmNpcEditorModule :"
        ),
    )
    assert "uses LPMNPC_API, the module's macro is LPMNPCEDITOR_API" in _problems(plugin, native)


def test_third_party_module_must_be_external(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "Source/ThirdParty/LpmClient/LpmClient.Build.cs",
        lambda text: text.replace("Type = ModuleType.External;", ""),
    )
    assert "a third-party module must be ModuleType.External" in _problems(plugin, native)


def test_lpm_call_missing_from_the_header_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "Source/LpmNpc/Private/LpmConnection.cpp",
        lambda text: text.replace(
            ": lpm_session_interrupt(Client, Session);", ": lpm_session_barge_in(Client, Session);"
        ),
    )
    assert "calls lpm_session_barge_in, which lpm_client.h does not declare" in _problems(
        plugin, native
    )


def test_lpm_call_not_exercised_by_native_tests_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    for path in (native / "tests").glob("*"):
        text = path.read_text(encoding="utf-8")
        if "lpm_session_interrupt" in text:
            path.write_text(
                text.replace("lpm_session_interrupt", "lpm_session_interrupted"), encoding="utf-8"
            )
    assert "calls lpm_session_interrupt, which no native core test exercises" in _problems(
        plugin, native
    )


def test_a_faked_engine_header_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    (plugin / "Source/LpmNpc/Public/CoreMinimal.h").write_text("#pragma once\n", encoding="utf-8")
    assert "CoreMinimal.h: a file named like an engine header" in _problems(plugin, native)


def test_a_stubbed_macro_or_class_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    (plugin / "Source/LpmNpc/Private/Stubs.h").write_text(
        "#pragma once\n#define UCLASS(...)\nclass UActorComponent {};\n", encoding="utf-8"
    )
    problems = _problems(plugin, native)
    assert "defines Unreal's macro UCLASS" in problems
    assert "defines the engine type UActorComponent" in problems


def test_an_engine_include_root_folder_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    (plugin / "Source/LpmNpc/Public/Engine").mkdir()
    (plugin / "Source/LpmNpc/Public/Engine/Stub.h").write_text("#pragma once\n", encoding="utf-8")
    assert "a folder named like an engine include root" in _problems(plugin, native)


def test_committed_generated_code_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    (plugin / "Source/LpmNpc/Public/LpmNpcSettings.generated.h").write_text(
        "#pragma once\n", encoding="utf-8"
    )
    assert "generated code does not belong in the plugin" in _problems(plugin, native)


def test_an_api_missing_from_the_readme_table_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    readme = plugin.parent / "README.md"
    _edit(
        readme,
        lambda text: text.replace(
            "`UTexture2D::UpdateTextureRegions` |", "`UpdateTextureRegions` |"
        ),
    )
    assert "API table lacks UTexture2D::UpdateTextureRegions" in _problems(plugin, native)


def test_an_engine_header_missing_from_the_readme_table_is_caught(
    broken: tuple[Path, Path],
) -> None:
    plugin, native = broken
    _edit(
        plugin / FACE_CPP,
        lambda text: text.replace(
            '#include "Engine/World.h"\n',
            '#include "Engine/World.h"\n#include "Kismet/GameplayStatics.h"\n',
        ),
    )
    assert "API table lacks header Kismet/GameplayStatics.h" in _problems(plugin, native)


def test_a_stale_readme_row_is_caught(broken: tuple[Path, Path]) -> None:
    plugin, native = broken
    _edit(
        plugin / "Source/LpmNpc/Private/LpmVoiceCapture.cpp",
        lambda text: text.replace("Capture.StopStream();\n", ""),
    )
    assert "lists Audio::FAudioCapture::StopStream, no longer used" in _problems(plugin, native)


def test_main_fails_on_a_broken_copy(
    broken: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    plugin, native = broken
    (plugin / "LpmNpc.uplugin").write_text("{", encoding="utf-8")
    assert checker.main([str(plugin), "--native-dir", str(native)]) == 1
    assert "problem(s)" in capsys.readouterr().out
