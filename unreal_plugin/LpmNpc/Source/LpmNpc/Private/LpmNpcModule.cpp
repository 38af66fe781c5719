// LPM NPC Faces for Unreal Engine.

#include "LpmNpcModule.h"

#include "HAL/PlatformProcess.h"
#include "Interfaces/IPluginManager.h"
#include "LpmConnection.h"
#include "LpmNpcLog.h"
#include "Misc/Paths.h"
#include "Modules/ModuleManager.h"

DEFINE_LOG_CATEGORY(LogLpmNpc);

void FLpmNpcModule::StartupModule()
{
#if PLATFORM_WINDOWS || PLATFORM_MAC
	// Delay-loaded (LpmClient.Build.cs): load it from the plugin's Binaries before the first call.
	const TSharedPtr<IPlugin> Plugin = IPluginManager::Get().FindPlugin(TEXT("LpmNpc"));
	if (!Plugin.IsValid())
	{
		UE_LOG(LogLpmNpc, Error, TEXT("LPM NPC: plugin descriptor not found; the native client core was not loaded."));
		return;
	}
#if PLATFORM_WINDOWS
	const FString LibraryPath = FPaths::Combine(Plugin->GetBaseDir(), TEXT("Binaries/ThirdParty/LpmClient/Win64/lpm_client.dll"));
#else
	const FString LibraryPath = FPaths::Combine(Plugin->GetBaseDir(), TEXT("Binaries/ThirdParty/LpmClient/Mac/liblpm_client.1.dylib"));
#endif
	NativeCoreHandle = FPlatformProcess::GetDllHandle(*LibraryPath);
	if (NativeCoreHandle == nullptr)
	{
		UE_LOG(LogLpmNpc, Error, TEXT("LPM NPC: could not load the native client core %s; build and stage it (see the plugin's README)."), *LibraryPath);
		return;
	}
#endif

	// Linux links the library directly (found through the module's rpath), so it is loaded here.
	FString Problem;
	bNativeCoreReady = FLpmConnection::CheckAbi(Problem);
	if (bNativeCoreReady)
	{
		UE_LOG(LogLpmNpc, Log, TEXT("LPM NPC: native client core ready (ABI %d)."), LPM_ABI_VERSION);
	}
	else
	{
		UE_LOG(LogLpmNpc, Error, TEXT("LPM NPC: native client core does not match this plugin: %s"), *Problem);
	}
}

void FLpmNpcModule::ShutdownModule()
{
	// World subsystems and the editor preview have shut their connections down by now (their
	// modules and worlds go first), so no native thread outlives the library.
	bNativeCoreReady = false;
	if (NativeCoreHandle != nullptr)
	{
		FPlatformProcess::FreeDllHandle(NativeCoreHandle);
		NativeCoreHandle = nullptr;
	}
}

bool FLpmNpcModule::IsNativeCoreReady()
{
	const FLpmNpcModule* Module = FModuleManager::GetModulePtr<FLpmNpcModule>(TEXT("LpmNpc"));
	return Module != nullptr && Module->bNativeCoreReady;
}

IMPLEMENT_MODULE(FLpmNpcModule, LpmNpc)
