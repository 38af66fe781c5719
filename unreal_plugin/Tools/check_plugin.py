"""Static checks of the Unreal plugin that need no engine.

Unreal Engine cannot run or compile here, so this script checks what a build would trip over, or
what a reviewer would otherwise have to check by hand:

* the ``.uplugin`` is valid JSON with known module types, loading phases and platforms, and
  every module has ``Source/<Module>/<Module>.Build.cs`` declaring ``class <Module> : ModuleRules``
  and exactly one ``IMPLEMENT_MODULE(<Class>, <Module>)`` whose class the module defines;
* every other ``Source/`` folder is a third-party module (``ThirdParty/<Name>/<Name>.Build.cs``
  with ``ModuleType.External``); runtime modules do not depend on editor-only modules;
* a header declaring ``UCLASS``/``USTRUCT``/``UENUM``/``UINTERFACE`` includes its own
  ``<Name>.generated.h`` last, every ``UCLASS``/``USTRUCT``/``UINTERFACE`` has a generated body,
  and no file includes another file's ``.generated.h``;
* each ``.cpp`` includes its own header first (where the module has one of that name), and API
  macros (``FOO_API``) belong to the module that uses them;
* nothing fakes the engine: no files named like engine headers, no folders named like engine
  include roots, no definitions of Unreal's macros or classes, no committed generated code;
* every ``lpm_*`` function the plugin calls is declared in ``bridge/native/include/lpm_client.h``
  and exercised by the native core's tests (``bridge/native/tests``);
* the README's "Unreal API used" table lists every engine header the sources include and every
  API of a maintained list (``API_SYMBOLS``) that the sources use, each row linking Epic's docs,
  and lists no API of that list that the sources no longer use.

Usage: ``python unreal_plugin/Tools/check_plugin.py [PLUGIN_DIR] [--native-dir DIR]
[--readme FILE]``; prints one line per problem and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PLUGIN_DIR = Path(__file__).resolve().parents[1] / "LpmNpc"

MODULE_TYPES = frozenset(
    {
        "Runtime",
        "RuntimeNoCommandlet",
        "RuntimeAndProgram",
        "CookedOnly",
        "UncookedOnly",
        "Developer",
        "DeveloperTool",
        "Editor",
        "EditorNoCommandlet",
        "EditorAndProgram",
        "Program",
        "ServerOnly",
        "ClientOnly",
        "ClientOnlyNoCommandlet",
    }
)
EDITOR_MODULE_TYPES = frozenset(
    {"Editor", "EditorNoCommandlet", "EditorAndProgram", "Developer", "DeveloperTool"}
)
LOADING_PHASES = frozenset(
    {
        "EarliestPossible",
        "PostConfigInit",
        "PostSplashScreen",
        "PreEarlyLoadingScreen",
        "PreLoadingScreen",
        "PreDefault",
        "Default",
        "PostDefault",
        "PostEngineInit",
        "None",
    }
)
PLATFORMS = frozenset({"Win64", "Linux", "LinuxArm64", "Mac", "IOS", "Android", "TVOS", "VisionOS"})

# Engine modules that exist only in editor builds: a runtime module depending on one of them
# builds in the editor and breaks every packaged game.
EDITOR_ONLY_MODULES = frozenset(
    {
        "UnrealEd",
        "ToolMenus",
        "PropertyEditor",
        "LevelEditor",
        "EditorStyle",
        "EditorFramework",
        "EditorSubsystem",
        "AssetTools",
        "ContentBrowser",
        "DesktopPlatform",
        "MainFrame",
        "WorkspaceMenuStructure",
        "Kismet",
        "BlueprintGraph",
        "GraphEditor",
    }
)

# Basenames of well-known engine headers: a file of this name inside the plugin shadows the
# engine's (a stub that makes code "compile" against something that is not Unreal).
ENGINE_HEADER_NAMES = frozenset(
    {
        "CoreMinimal.h",
        "CoreTypes.h",
        "CoreGlobals.h",
        "CoreUObject.h",
        "Engine.h",
        "EngineMinimal.h",
        "EngineGlobals.h",
        "ObjectMacros.h",
        "Object.h",
        "Class.h",
        "UObjectGlobals.h",
        "ActorComponent.h",
        "Actor.h",
        "World.h",
        "Texture2D.h",
        "AudioDevice.h",
        "AudioDeviceHandle.h",
        "AudioThread.h",
        "ISubmixBufferListener.h",
        "AudioCaptureCore.h",
        "DeveloperSettings.h",
        "ModuleManager.h",
        "ModuleInterface.h",
        "RHITypes.h",
        "SlateBasics.h",
        "SlateCore.h",
        "ToolMenus.h",
        "Editor.h",
        "UnrealEd.h",
        "Platform.h",
        "LogMacros.h",
    }
)
# Folders that are engine include roots ("Engine/World.h", "UObject/Object.h"): the same thing
# one level up.
ENGINE_INCLUDE_ROOTS = frozenset(
    {
        "Engine",
        "UObject",
        "Components",
        "GameFramework",
        "Sound",
        "Materials",
        "Misc",
        "HAL",
        "Containers",
        "Templates",
        "Modules",
        "Interfaces",
        "Subsystems",
        "Framework",
        "Widgets",
        "Styling",
        "Kismet",
        "Runtime",
        "Math",
        "Logging",
        "Delegates",
        "Serialization",
        "Async",
        "Internationalization",
        "SubmixEffects",
        "AssetRegistry",
    }
)
UNREAL_MACROS = (
    "UCLASS",
    "USTRUCT",
    "UENUM",
    "UINTERFACE",
    "UPROPERTY",
    "UFUNCTION",
    "UMETA",
    "GENERATED_BODY",
    "GENERATED_UCLASS_BODY",
    "GENERATED_USTRUCT_BODY",
    "IMPLEMENT_MODULE",
    "UE_LOG",
    "DECLARE_LOG_CATEGORY_EXTERN",
    "DEFINE_LOG_CATEGORY",
    "TEXT",
    "LOCTEXT",
    "check",
    "ensure",
    "FORCEINLINE",
    "SNew",
)
ENGINE_CLASS_NAMES = (
    "UObject",
    "UClass",
    "UActorComponent",
    "USceneComponent",
    "UPrimitiveComponent",
    "UAudioComponent",
    "UTexture",
    "UTexture2D",
    "UMaterialInstanceDynamic",
    "UWorld",
    "AActor",
    "UDeveloperSettings",
    "UDataAsset",
    "USoundSubmix",
    "USoundWave",
    "UWorldSubsystem",
    "FAudioDevice",
    "ISubmixBufferListener",
    "IModuleInterface",
    "FString",
    "FName",
    "FText",
    "TArray",
    "TMap",
    "TSharedPtr",
    "FVector",
    "SCompoundWidget",
)

# Unreal APIs the README's table must name when the sources use them: display name -> how to
# find a use in the sources. Keep it practical: the entry points a reviewer would want to find
# in Epic's documentation, not every container method.
API_SYMBOLS: dict[str, str] = {
    "IModuleInterface": r"\bIModuleInterface\b",
    "IMPLEMENT_MODULE": r"\bIMPLEMENT_MODULE\s*\(",
    "FModuleManager::GetModulePtr": r"\bGetModulePtr\s*<",
    "IPluginManager::FindPlugin": r"\bFindPlugin\s*\(",
    "IPlugin::GetBaseDir": r"\bGetBaseDir\s*\(",
    "FPlatformProcess::GetDllHandle": r"\bGetDllHandle\s*\(",
    "FPlatformProcess::FreeDllHandle": r"\bFreeDllHandle\s*\(",
    "FPlatformProcess::Sleep": r"\bFPlatformProcess::Sleep\s*\(",
    "FPlatformMisc::GetEnvironmentVariable": r"\bGetEnvironmentVariable\s*\(",
    "FPlatformTime::Seconds": r"\bFPlatformTime::Seconds\s*\(",
    "DECLARE_LOG_CATEGORY_EXTERN": r"\bDECLARE_LOG_CATEGORY_EXTERN\s*\(",
    "DEFINE_LOG_CATEGORY": r"\bDEFINE_LOG_CATEGORY\s*\(",
    "UE_LOG": r"\bUE_LOG\s*\(",
    "UE_VERSION_OLDER_THAN": r"\bUE_VERSION_OLDER_THAN\s*\(",
    "FTCHARToUTF8": r"\bFTCHARToUTF8\b",
    "FUTF8ToTCHAR": r"\bFUTF8ToTCHAR\b",
    "UTF8_TO_TCHAR": r"\bUTF8_TO_TCHAR\s*\(",
    "FRWLock": r"\bFRWLock\b",
    "FReadScopeLock": r"\bFReadScopeLock\b",
    "FWriteScopeLock": r"\bFWriteScopeLock\b",
    "FCriticalSection": r"\bFCriticalSection\b",
    "FScopeLock": r"\bFScopeLock\b",
    "TSharedPtr": r"\bTSharedPtr\s*<",
    "TSharedFromThis": r"\bTSharedFromThis\s*<",
    "TUniquePtr": r"\bTUniquePtr\s*<",
    "TStrongObjectPtr": r"\bTStrongObjectPtr\s*<",
    "TWeakObjectPtr": r"\bTWeakObjectPtr\s*<",
    "GFrameCounter": r"\bGFrameCounter\b",
    "GetDefault": r"\bGetDefault\s*<",
    "UDeveloperSettings": r"\bUDeveloperSettings\b",
    "UDeveloperSettings::GetCategoryName": r"\bGetCategoryName\s*\(",
    "UDeveloperSettings::GetSectionText": r"\bGetSectionText\s*\(",
    "UActorComponent": r"\bUActorComponent\b",
    "UActorComponent::TickComponent": r"\bTickComponent\s*\(",
    "UActorComponent::BeginPlay": r"\bBeginPlay\s*\(",
    "UActorComponent::EndPlay": r"\bEndPlay\s*\(",
    "AActor::GetComponents": r"\bGetComponents\s*<",
    "AActor::GetActorLocation": r"\bGetActorLocation\s*\(",
    "DECLARE_DYNAMIC_MULTICAST_DELEGATE": r"\bDECLARE_DYNAMIC_MULTICAST_DELEGATE",
    "UWorldSubsystem": r"\bUWorldSubsystem\b",
    "UWorldSubsystem::DoesSupportWorldType": r"\bDoesSupportWorldType\s*\(",
    "UWorld::GetSubsystem": r"\bGetSubsystem\s*<",
    "UWorld::GetAudioDevice": r"\bGetAudioDevice\s*\(",
    "UDataAsset": r"\bUDataAsset\b",
    "UTexture2D::CreateTransient": r"\bCreateTransient\s*\(",
    "UTexture2D::UpdateTextureRegions": r"\bUpdateTextureRegions\s*\(",
    "UTexture::UpdateResource": r"\bUpdateResource\s*\(",
    "UTexture::GetResource": r"\bGetResource\s*\(",
    "FUpdateTextureRegion2D": r"\bFUpdateTextureRegion2D\b",
    "UPrimitiveComponent::CreateDynamicMaterialInstance": r"\bCreateDynamicMaterialInstance\s*\(",
    "UPrimitiveComponent::GetNumMaterials": r"\bGetNumMaterials\s*\(",
    "UMaterialInstanceDynamic::SetTextureParameterValue": r"\bSetTextureParameterValue\s*\(",
    "UAudioComponent::SetSound": r"\bSetSound\s*\(",
    "UAudioComponent::Play": r"->Play\s*\(",
    "UAudioComponent::Stop": r"VoiceAudio->Stop\s*\(",
    "FAudioDeviceHandle": r"\bFAudioDeviceHandle\b",
    "FAudioDevice::RegisterSubmixBufferListener": r"\bRegisterSubmixBufferListener\s*\(",
    "FAudioDevice::UnregisterSubmixBufferListener": r"\bUnregisterSubmixBufferListener\s*\(",
    "FAudioDevice::GetSampleRate": r"Device->GetSampleRate\s*\(",
    "FAudioDevice::GetBufferLength": r"\bGetBufferLength\s*\(",
    "ISubmixBufferListener": r"\bISubmixBufferListener\b",
    "ISubmixBufferListener::OnNewSubmixBuffer": r"\bOnNewSubmixBuffer\s*\(",
    "ISubmixBufferListener::IsRenderingAudio": r"\bIsRenderingAudio\s*\(",
    "ISubmixBufferListener::GetListenerName": r"\bGetListenerName\s*\(",
    "FAudioThread::RunCommandOnAudioThread": r"\bRunCommandOnAudioThread\s*\(",
    "USoundSubmix": r"\bUSoundSubmix\b",
    "USubmixEffectDelayPreset::SetDelay": r"\bSetDelay\s*\(",
    "USubmixEffectDelayPreset::GetMaxDelayInMilliseconds": r"\bGetMaxDelayInMilliseconds\s*\(",
    "Audio::FAudioCapture": r"\bAudio::FAudioCapture\b",
    "Audio::FAudioCapture::OpenAudioCaptureStream": r"\bOpenAudioCaptureStream\s*\(",
    "Audio::FAudioCapture::StartStream": r"\bStartStream\s*\(",
    "Audio::FAudioCapture::StopStream": r"\bStopStream\s*\(",
    "Audio::FAudioCapture::CloseStream": r"\bCloseStream\s*\(",
    "Audio::FAudioCaptureDeviceParams": r"\bFAudioCaptureDeviceParams\b",
    "Audio::FOnAudioCaptureFunction": r"\bFOnAudioCaptureFunction\b",
    "FGlobalTabmanager::RegisterNomadTabSpawner": r"\bRegisterNomadTabSpawner\s*\(",
    "FGlobalTabmanager::UnregisterNomadTabSpawner": r"\bUnregisterNomadTabSpawner\s*\(",
    "FGlobalTabmanager::TryInvokeTab": r"\bTryInvokeTab\s*\(",
    "FTabSpawnerEntry": r"\.SetDisplayName\s*\(",
    "SDockTab": r"\bSDockTab\b",
    "UToolMenus::RegisterStartupCallback": r"\bRegisterStartupCallback\s*\(",
    "UToolMenus::UnRegisterStartupCallback": r"\bUnRegisterStartupCallback\s*\(",
    "UToolMenus::UnregisterOwner": r"\bUnregisterOwner\s*\(",
    "UToolMenus::ExtendMenu": r"\bExtendMenu\s*\(",
    "FToolMenuOwnerScoped": r"\bFToolMenuOwnerScoped\b",
    "UToolMenu::AddSection": r"\bAddSection\s*\(",
    "FToolMenuSection::AddMenuEntry": r"\bAddMenuEntry\s*\(",
    "FUIAction": r"\bFUIAction\b",
    "FSlateIcon": r"\bFSlateIcon\b",
    "SCompoundWidget": r"\bSCompoundWidget\b",
    "SComboBox": r"\bSComboBox\b",
    "SEditableTextBox": r"\bSEditableTextBox\b",
    "SButton": r"\bSButton\b",
    "STextBlock": r"\bSTextBlock\b",
    "SImage": r"\bSImage\b",
    "SBox": r"\bSBox\b",
    "SVerticalBox / SHorizontalBox": r"\bS(?:Vertical|Horizontal)Box\b",
    "SObjectPropertyEntryBox": r"\bSObjectPropertyEntryBox\b",
    "FSlateBrush": r"\bFSlateBrush\b",
    "FSlateApplication::FindBestParentWindowHandleForDialogs": (
        r"\bFindBestParentWindowHandleForDialogs\s*\("
    ),
    "FDesktopPlatformModule::Get": r"\bFDesktopPlatformModule::Get\s*\(",
    "IDesktopPlatform::OpenFileDialog": r"\bOpenFileDialog\s*\(",
    "FFileHelper::LoadFileToArray": r"\bLoadFileToArray\s*\(",
    "FScopedSlowTask": r"\bFScopedSlowTask\b",
    "FMessageDialog::Open": r"\bFMessageDialog::Open\s*\(",
    "FPaths": r"\bFPaths::",
    "USoundWave::GetImportedSoundWaveData": r"\bGetImportedSoundWaveData\s*\(",
    "UEditorEngine::PlayPreviewSound": r"\bPlayPreviewSound\s*\(",
    "UEditorEngine::ResetPreviewAudioComponent": r"\bResetPreviewAudioComponent\s*\(",
    "FAssetData::GetAsset": r"\bGetAsset\s*\(",
}

_INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.MULTILINE)
_REFLECTED_TYPE = re.compile(r"^\s*(UCLASS|USTRUCT|UENUM|UINTERFACE)\s*\(", re.MULTILINE)
_BODY_TYPE = re.compile(r"^\s*(UCLASS|USTRUCT|UINTERFACE)\s*\(", re.MULTILINE)
_GENERATED_BODY = re.compile(r"\bGENERATED_(?:BODY|UCLASS_BODY|USTRUCT_BODY)\s*\(")
_API_MACRO = re.compile(r"\b([A-Z][A-Z0-9]*)_API\b")
_IMPLEMENT_MODULE = re.compile(
    r"\bIMPLEMENT_(?:PRIMARY_GAME_|GAME_)?MODULE\s*\(\s*(\w+)\s*,\s*(\w+)\s*(?:,[^)]*)?\)"
)
_LPM_CALL = re.compile(r"\b(lpm_[a-z0-9_]+)\s*\(")
_LPM_DECLARATION = re.compile(r"\bLPM_API\b[^;(]*?\b(lpm_[a-z0-9_]+)\s*\(")
_DEPENDENCY_LIST = re.compile(
    r"(?:Public|Private)(?:Include)?PathModuleNames|"
    r"(?:Public|Private)DependencyModuleNames|DynamicallyLoadedModuleNames"
)
_QUOTED = re.compile(r'"([^"]+)"')
_STD_HEADERS = frozenset(
    {
        "algorithm",
        "array",
        "atomic",
        "cassert",
        "chrono",
        "cmath",
        "cstddef",
        "cstdint",
        "cstdio",
        "cstdlib",
        "cstring",
        "functional",
        "initializer_list",
        "limits",
        "memory",
        "mutex",
        "string",
        "thread",
        "type_traits",
        "utility",
        "vector",
        "stddef.h",
        "stdint.h",
    }
)
SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".inl")


@dataclass
class Module:
    """One module of the plugin: its descriptor entry and its source files."""

    name: str
    kind: str
    directory: Path
    sources: list[Path] = field(default_factory=list)


def _strip_comments(text: str) -> str:
    """C/C++ text without // and /* */ comments (string literals are kept)."""
    out: list[str] = []
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == '"':
            end = index + 1
            while end < length and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[index : end + 1])
            index = end + 1
        elif text.startswith("//", index):
            end = text.find("\n", index)
            index = length if end < 0 else end
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            newlines = text.count("\n", index, length if end < 0 else end)
            out.append("\n" * newlines)
            index = length if end < 0 else end + 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _code(path: Path) -> str:
    return _strip_comments(_read(path))


def _includes(code: str) -> list[tuple[str, str]]:
    """(bracket, path) of every #include, in order."""
    return [(match.group(1), match.group(2)) for match in _INCLUDE.finditer(code)]


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _source_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES)


def _find_native_dir(plugin_dir: Path) -> Path | None:
    for parent in [plugin_dir, *plugin_dir.parents]:
        candidate = parent / "bridge" / "native"
        if (candidate / "include" / "lpm_client.h").is_file():
            return candidate
    return None


def check_descriptor(plugin_dir: Path, problems: list[str]) -> list[Module]:
    """The .uplugin: JSON, module entries, platforms. Returns the modules it declares."""
    descriptors = sorted(plugin_dir.glob("*.uplugin"))
    if len(descriptors) != 1:
        problems.append(f"{plugin_dir.name}: expected one .uplugin, found {len(descriptors)}")
        return []
    descriptor = descriptors[0]
    name = descriptor.name
    if descriptor.stem != plugin_dir.name:
        problems.append(f"{name}: descriptor name differs from its folder '{plugin_dir.name}'")
    try:
        data = json.loads(_read(descriptor))
    except json.JSONDecodeError as error:
        problems.append(f"{name}: not valid JSON ({error})")
        return []
    if not isinstance(data, dict):
        problems.append(f"{name}: top level is not an object")
        return []
    if not isinstance(data.get("FileVersion"), int):
        problems.append(f"{name}: FileVersion missing or not an integer")
    entries = data.get("Modules")
    if not isinstance(entries, list) or not entries:
        problems.append(f"{name}: no Modules")
        return []

    modules: list[Module] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(f"{name}: Modules[{position}] is not an object")
            continue
        module_name = entry.get("Name")
        kind = entry.get("Type")
        if not isinstance(module_name, str) or not re.fullmatch(r"[A-Za-z_]\w*", module_name):
            problems.append(f"{name}: Modules[{position}] has no valid Name")
            continue
        if module_name in seen:
            problems.append(f"{name}: module {module_name} listed twice")
        seen.add(module_name)
        if kind not in MODULE_TYPES:
            problems.append(f"{name}: module {module_name} has unknown Type {kind!r}")
        phase = entry.get("LoadingPhase", "Default")
        if phase not in LOADING_PHASES:
            problems.append(f"{name}: module {module_name} has unknown LoadingPhase {phase!r}")
        for key in ("PlatformAllowList", "PlatformDenyList"):
            platforms = entry.get(key, [])
            if not isinstance(platforms, list) or not all(p in PLATFORMS for p in platforms):
                problems.append(f"{name}: module {module_name} has unknown platforms in {key}")
        modules.append(
            Module(module_name, str(kind), plugin_dir / "Source" / module_name, sources=[])
        )

    plugins = data.get("Plugins", [])
    if not isinstance(plugins, list) or not all(
        isinstance(p, dict) and isinstance(p.get("Name"), str) for p in plugins
    ):
        problems.append(f"{name}: Plugins must be a list of objects with a Name")
    return modules


def _build_cs_class_ok(build_cs: Path, module_name: str) -> bool:
    code = _code(build_cs)
    declares = re.search(rf"\bclass\s+{module_name}\s*:\s*ModuleRules\b", code)
    constructs = re.search(rf"\bpublic\s+{module_name}\s*\(\s*ReadOnlyTargetRules\b", code)
    return bool(declares and constructs)


def _dependencies(build_cs: Path) -> set[str]:
    """Module names in the Build.cs dependency lists."""
    code = _code(build_cs)
    names: set[str] = set()
    for match in _DEPENDENCY_LIST.finditer(code):
        start = match.end()
        # The list runs to the end of the statement: AddRange(new string[] { ... }); or Add("X");
        end = code.find(";", start)
        names.update(_QUOTED.findall(code[start : end if end > 0 else len(code)]))
    return names


def check_modules(plugin_dir: Path, modules: list[Module], problems: list[str]) -> None:
    """Build.cs per module, IMPLEMENT_MODULE, stray folders, third-party modules, dependencies."""
    source_dir = plugin_dir / "Source"
    declared = {module.name for module in modules}
    if not source_dir.is_dir():
        problems.append(f"{plugin_dir.name}: no Source folder")
        return

    for module in modules:
        build_cs = module.directory / f"{module.name}.Build.cs"
        where = _rel(build_cs, plugin_dir)
        if not module.directory.is_dir():
            problems.append(f"{module.name}: Source/{module.name}/ is missing")
            continue
        if not build_cs.is_file():
            problems.append(f"{module.name}: {where} is missing")
        elif not _build_cs_class_ok(build_cs, module.name):
            problems.append(f"{where}: does not declare 'class {module.name} : ModuleRules'")
        module.sources = _source_files(module.directory)

        implementations: list[tuple[str, str, Path]] = []
        for path in module.sources:
            if path.suffix != ".cpp":
                continue
            for match in _IMPLEMENT_MODULE.finditer(_code(path)):
                implementations.append((match.group(1), match.group(2), path))
        if len(implementations) != 1:
            problems.append(
                f"{module.name}: expected one IMPLEMENT_MODULE, found {len(implementations)}"
            )
        for class_name, named, path in implementations:
            if named != module.name:
                problems.append(
                    f"{_rel(path, plugin_dir)}: IMPLEMENT_MODULE names module '{named}', "
                    f"expected '{module.name}'"
                )
            defined = any(
                re.search(rf"\bclass\s+(?:\w+_API\s+)?{class_name}\b\s*(?:final\s*)?:", _code(p))
                for p in module.sources
            )
            if not defined:
                problems.append(f"{module.name}: module class {class_name} is not defined")

        if build_cs.is_file() and module.kind not in EDITOR_MODULE_TYPES:
            for dependency in sorted(_dependencies(build_cs) & EDITOR_ONLY_MODULES):
                problems.append(
                    f"{where}: runtime module depends on editor-only module {dependency}"
                )
            editor_modules = {m.name for m in modules if m.kind in EDITOR_MODULE_TYPES}
            for dependency in sorted(_dependencies(build_cs) & editor_modules):
                problems.append(f"{where}: runtime module depends on editor module {dependency}")

    for child in sorted(p for p in source_dir.iterdir() if p.is_dir()):
        if child.name == "ThirdParty":
            for third_party in sorted(p for p in child.iterdir() if p.is_dir()):
                build_cs = third_party / f"{third_party.name}.Build.cs"
                where = _rel(build_cs, plugin_dir)
                if not build_cs.is_file():
                    problems.append(f"{where} is missing")
                    continue
                code = _code(build_cs)
                if not _build_cs_class_ok(build_cs, third_party.name):
                    problems.append(
                        f"{where}: does not declare 'class {third_party.name} : ModuleRules'"
                    )
                if not re.search(r"\bType\s*=\s*ModuleType\.External\b", code):
                    problems.append(f"{where}: a third-party module must be ModuleType.External")
        elif child.name not in declared:
            problems.append(f"Source/{child.name}/ is not a module of the .uplugin")


def check_headers(plugin_dir: Path, modules: list[Module], problems: list[str]) -> None:
    """generated.h includes, GENERATED_BODY, own-header-first, API macros."""
    for module in modules:
        headers: dict[str, list[Path]] = {}
        for path in module.sources:
            if path.suffix in (".h", ".hpp"):
                headers.setdefault(path.stem, []).append(path)
        own_macro = f"{module.name.upper()}_API"

        for path in module.sources:
            where = _rel(path, plugin_dir)
            code = _code(path)
            includes = _includes(code)
            generated = [p for _, p in includes if p.endswith(".generated.h")]
            if path.suffix in (".h", ".hpp"):
                reflected = _REFLECTED_TYPE.search(code) is not None
                expected = f"{path.stem}.generated.h"
                if reflected:
                    if not includes or includes[-1][1] != expected:
                        problems.append(f"{where}: '{expected}' must be the last #include")
                    body_types = len(_BODY_TYPE.findall(code))
                    if len(_GENERATED_BODY.findall(code)) < body_types:
                        problems.append(f"{where}: a UCLASS/USTRUCT without GENERATED_BODY()")
                    first_type = _REFLECTED_TYPE.search(code)
                    last_include = list(_INCLUDE.finditer(code))
                    if (
                        first_type
                        and last_include
                        and last_include[-1].start() > first_type.start()
                    ):
                        problems.append(f"{where}: an #include after the first reflected type")
                for name in generated:
                    if name != expected or not reflected:
                        problems.append(f"{where}: includes '{name}' but declares no such types")
            else:
                for name in generated:
                    problems.append(f"{where}: a .cpp must not include '{name}'")
                own = headers.get(path.stem)
                if own:
                    first = includes[0][1] if includes else ""
                    if Path(first).name != f"{path.stem}{own[0].suffix}":
                        problems.append(
                            f"{where}: must include its own header '{path.stem}.h' first"
                        )

            for macro in sorted(set(_API_MACRO.findall(code))):
                if f"{macro}_API" != own_macro:
                    problems.append(f"{where}: uses {macro}_API, the module's macro is {own_macro}")


def check_no_fakes(plugin_dir: Path, problems: list[str]) -> None:
    """No shadowed engine headers or include roots, no macro or class stubs, no generated code."""
    source_dir = plugin_dir / "Source"
    if not source_dir.is_dir():
        return
    macro_definition = re.compile(
        r"^\s*#\s*define\s+(" + "|".join(UNREAL_MACROS) + r")\b", re.MULTILINE
    )
    class_definition = re.compile(
        r"\b(?:class|struct)\s+(?:\w+_API\s+)?(" + "|".join(ENGINE_CLASS_NAMES) + r")\s*[:{]"
    )
    for path in sorted(plugin_dir.rglob("*")):
        where = _rel(path, plugin_dir)
        if path.is_dir():
            if path.name in ENGINE_INCLUDE_ROOTS and source_dir in path.parents:
                problems.append(f"{where}/: a folder named like an engine include root")
            continue
        if path.name in ENGINE_HEADER_NAMES:
            problems.append(f"{where}: a file named like an engine header")
        if path.name.endswith((".generated.h", ".gen.cpp")):
            problems.append(f"{where}: generated code does not belong in the plugin")
        if path.suffix in SOURCE_SUFFIXES:
            code = _code(path)
            for match in macro_definition.finditer(code):
                problems.append(f"{where}: defines Unreal's macro {match.group(1)}")
            for match in class_definition.finditer(code):
                problems.append(f"{where}: defines the engine type {match.group(1)}")


def check_native_calls(
    plugin_dir: Path, modules: list[Module], native_dir: Path | None, problems: list[str]
) -> set[str]:
    """Every lpm_* call: declared in lpm_client.h and exercised by bridge/native/tests."""
    calls: dict[str, str] = {}
    for module in modules:
        for path in module.sources:
            for name in _LPM_CALL.findall(_code(path)):
                calls.setdefault(name, _rel(path, plugin_dir))
    if not calls:
        return set()
    if native_dir is None:
        problems.append("bridge/native not found: cannot check the plugin's lpm_* calls")
        return set(calls)
    header = native_dir / "include" / "lpm_client.h"
    if not header.is_file():
        problems.append(f"{header}: missing")
        return set(calls)
    declared = set(_LPM_DECLARATION.findall(_code(header)))
    test_code = "\n".join(
        _code(p)
        for p in sorted((native_dir / "tests").glob("*"))
        if p.suffix in (".cpp", ".hpp", ".h")
    )
    for name, where in sorted(calls.items()):
        if name not in declared:
            problems.append(f"{where}: calls {name}, which lpm_client.h does not declare")
        elif not re.search(rf"\b{name}\s*\(", test_code):
            problems.append(f"{where}: calls {name}, which no native core test exercises")
    return set(calls)


def _api_section(readme: str) -> str:
    match = re.search(r"^## Unreal API used\b.*?(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    return match.group(0) if match else ""


def check_readme(
    plugin_dir: Path, modules: list[Module], readme_path: Path, problems: list[str]
) -> None:
    """The README's API table covers the engine headers and the listed APIs the sources use."""
    if not readme_path.is_file():
        problems.append(f"{readme_path.name}: missing (expected next to the plugin)")
        return
    section = _api_section(_read(readme_path))
    if not section:
        problems.append(f"{readme_path.name}: no '## Unreal API used' section")
        return
    rows = [line for line in section.splitlines() if line.startswith("|")]
    table = "\n".join(rows)
    for row in rows[2:]:
        if "dev.epicgames.com" not in row:
            problems.append(
                f"{readme_path.name}: API row without a link to Epic's docs: {row[:60]}"
            )

    own_files = {p.name for m in modules for p in m.sources}
    own_files.add("lpm_client.h")
    sources = [(p, _code(p)) for m in modules for p in m.sources]
    used_headers: dict[str, str] = {}
    for path, code in sources:
        for bracket, include in _includes(code):
            if bracket == "<":
                if include not in _STD_HEADERS:
                    problems.append(
                        f"{_rel(path, plugin_dir)}: <{include}>: engine headers are included "
                        "with quotes, <> is for the C++ standard library"
                    )
                continue
            if Path(include).name in own_files or include.endswith(".generated.h"):
                continue
            used_headers.setdefault(include, _rel(path, plugin_dir))
    for include, where in sorted(used_headers.items()):
        if f"`{include}`" not in table:
            problems.append(f"{readme_path.name}: API table lacks header {include} ({where})")

    all_code = "\n".join(code for _, code in sources)
    for symbol, pattern in API_SYMBOLS.items():
        used = re.search(pattern, all_code) is not None
        # `Name`, `Name(...)` or `Name<...>` in the table; a longer name does not count.
        listed = re.search("`" + re.escape(symbol) + r"(?:`|\(|<)", table) is not None
        if used and not listed:
            problems.append(f"{readme_path.name}: API table lacks {symbol}")
        elif listed and not used:
            problems.append(f"{readme_path.name}: API table lists {symbol}, no longer used")


def check(
    plugin_dir: Path, *, native_dir: Path | None = None, readme: Path | None = None
) -> list[str]:
    """All checks of the plugin in plugin_dir (the folder holding the .uplugin).

    native_dir defaults to the bridge/native found above plugin_dir, readme to the README.md
    next to plugin_dir. Returns the problems found, one line each; empty when all is well.
    """
    plugin_dir = Path(plugin_dir)
    problems: list[str] = []
    if not plugin_dir.is_dir():
        return [f"{plugin_dir}: not a folder"]
    modules = check_descriptor(plugin_dir, problems)
    check_modules(plugin_dir, modules, problems)
    check_headers(plugin_dir, modules, problems)
    check_no_fakes(plugin_dir, problems)
    check_native_calls(plugin_dir, modules, native_dir or _find_native_dir(plugin_dir), problems)
    check_readme(plugin_dir, modules, readme or plugin_dir.parent / "README.md", problems)
    return problems


def native_calls(plugin_dir: Path) -> list[str]:
    """The lpm_* functions the plugin's modules call (for reports)."""
    found: set[str] = set()
    for path in _source_files(Path(plugin_dir) / "Source"):
        found.update(_LPM_CALL.findall(_code(path)))
    return sorted(found)


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plugin_dir", nargs="?", type=Path, default=DEFAULT_PLUGIN_DIR)
    parser.add_argument("--native-dir", type=Path, default=None, help="bridge/native")
    parser.add_argument("--readme", type=Path, default=None, help="the plugin's README.md")
    return parser.parse_args(list(argv))


def _emit(lines: Iterable[str]) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs every check; prints the problems (or a summary) and returns the exit status."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    problems = check(args.plugin_dir, native_dir=args.native_dir, readme=args.readme)
    if problems:
        _emit(problems)
        _emit([f"{len(problems)} problem(s) in {args.plugin_dir}"])
        return 1
    calls = native_calls(args.plugin_dir)
    _emit(
        [
            f"{args.plugin_dir.name}: ok ({len(calls)} lpm_* functions, all declared and "
            f"covered by the native tests; {len(API_SYMBOLS)} Unreal APIs tracked)"
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
