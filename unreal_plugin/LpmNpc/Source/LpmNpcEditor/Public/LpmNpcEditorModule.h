// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "Modules/ModuleInterface.h"

class FSpawnTabArgs;
class SDockTab;
class SLpmFacePreview;

/**
 * Editor module: Tools > LPM > Face Preview (a tab that connects to the runtime, picks a
 * character, sets prompts and emotes, plays a sound wave and shows the face) and
 * Tools > LPM > Prepare Character From Portrait (sends a PNG/JPEG to `lpm serve`).
 */
class FLpmNpcEditorModule : public IModuleInterface
{
public:
	//~ Begin IModuleInterface
	virtual void StartupModule() override;
	virtual void ShutdownModule() override;
	//~ End IModuleInterface

	static const FName PreviewTabName;

private:
	void RegisterMenus();
	TSharedRef<SDockTab> SpawnPreviewTab(const FSpawnTabArgs& Args);
	void OpenPreviewTab();
	void PrepareCharacter();

	/** The open preview, shut down with the module so no native thread outlives the plugin. */
	TWeakPtr<SLpmFacePreview> LivePreview;
};
