// LPM NPC Faces for Unreal Engine.

#include "LpmNpcEditorModule.h"

#include "Framework/Application/SlateApplication.h"
#include "Framework/Commands/UIAction.h"
#include "Framework/Docking/TabManager.h"
#include "LpmCharacterPreparation.h"
#include "Modules/ModuleManager.h"
#include "SLpmFacePreview.h"
#include "Textures/SlateIcon.h"
#include "ToolMenus.h"
#include "Widgets/Docking/SDockTab.h"

#define LOCTEXT_NAMESPACE "LpmNpcEditor"

const FName FLpmNpcEditorModule::PreviewTabName(TEXT("LpmFacePreview"));

void FLpmNpcEditorModule::StartupModule()
{
	FGlobalTabmanager::Get()->RegisterNomadTabSpawner(PreviewTabName, FOnSpawnTab::CreateRaw(this, &FLpmNpcEditorModule::SpawnPreviewTab))
		.SetDisplayName(LOCTEXT("PreviewTabTitle", "LPM Face Preview"))
		.SetTooltipText(LOCTEXT("PreviewTabTooltip", "Connect to the LPM runtime, choose a character, type a prompt, play a sound wave and watch the face."))
		.SetMenuType(ETabSpawnerMenuType::Hidden);

	UToolMenus::RegisterStartupCallback(FSimpleMulticastDelegate::FDelegate::CreateRaw(this, &FLpmNpcEditorModule::RegisterMenus));
}

void FLpmNpcEditorModule::ShutdownModule()
{
	UToolMenus::UnRegisterStartupCallback(this);
	UToolMenus::UnregisterOwner(this);
	// The tab may outlive this module (Slate closes windows late): disconnect it now.
	if (TSharedPtr<SLpmFacePreview> Preview = LivePreview.Pin())
	{
		Preview->Shutdown();
	}
	LivePreview.Reset();
	if (FSlateApplication::IsInitialized())
	{
		FGlobalTabmanager::Get()->UnregisterNomadTabSpawner(PreviewTabName);
	}
}

void FLpmNpcEditorModule::RegisterMenus()
{
	FToolMenuOwnerScoped OwnerScoped(this);
	UToolMenu* ToolsMenu = UToolMenus::Get()->ExtendMenu(TEXT("LevelEditor.MainMenu.Tools"));
	FToolMenuSection& Section = ToolsMenu->AddSection(TEXT("LpmNpc"), LOCTEXT("LpmSection", "LPM"));
	Section.AddMenuEntry(TEXT("LpmFacePreview"),
		LOCTEXT("OpenPreview", "Face Preview"),
		LOCTEXT("OpenPreviewTooltip", "Open the LPM face preview tab."),
		FSlateIcon(),
		FUIAction(FExecuteAction::CreateRaw(this, &FLpmNpcEditorModule::OpenPreviewTab)));
	Section.AddMenuEntry(TEXT("LpmPrepareCharacter"),
		LOCTEXT("PrepareCharacter", "Prepare Character From Portrait..."),
		LOCTEXT("PrepareCharacterTooltip", "Send a PNG or JPEG portrait to the LPM runtime, which builds a character from it."),
		FSlateIcon(),
		FUIAction(FExecuteAction::CreateRaw(this, &FLpmNpcEditorModule::PrepareCharacter)));
}

TSharedRef<SDockTab> FLpmNpcEditorModule::SpawnPreviewTab(const FSpawnTabArgs& Args)
{
	TSharedRef<SLpmFacePreview> Preview = SNew(SLpmFacePreview);
	LivePreview = Preview;
	return SNew(SDockTab)
		.TabRole(ETabRole::NomadTab)
		[
			Preview
		];
}

void FLpmNpcEditorModule::OpenPreviewTab()
{
	FGlobalTabmanager::Get()->TryInvokeTab(FTabId(PreviewTabName));
}

void FLpmNpcEditorModule::PrepareCharacter()
{
	FString CharacterId;
	LpmCharacterPreparation::PrepareFromPortraitDialog(CharacterId);
}

#undef LOCTEXT_NAMESPACE

IMPLEMENT_MODULE(FLpmNpcEditorModule, LpmNpcEditor)
