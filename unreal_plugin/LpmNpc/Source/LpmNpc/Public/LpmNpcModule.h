// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "Modules/ModuleInterface.h"

/**
 * Runtime module: loads the native client core (lpm_client) and checks its ABI at startup.
 * Components refuse to connect, with one clear log line, when the library is missing or from
 * another release, instead of corrupting memory.
 */
class FLpmNpcModule : public IModuleInterface
{
public:
	//~ Begin IModuleInterface
	virtual void StartupModule() override;
	virtual void ShutdownModule() override;
	//~ End IModuleInterface

	/** True when the native core is loaded and matches the header this plugin was built with. */
	LPMNPC_API static bool IsNativeCoreReady();

private:
	/** Handle of the explicitly loaded library (Windows and macOS delay-load it). */
	void* NativeCoreHandle = nullptr;
	bool bNativeCoreReady = false;
};
