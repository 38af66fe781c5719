// LPM NPC Faces for Unreal Engine.

#include "LpmCharacterPreparation.h"

#include "DesktopPlatformModule.h"
#include "Framework/Application/SlateApplication.h"
#include "HAL/PlatformProcess.h"
#include "HAL/PlatformTime.h"
#include "IDesktopPlatform.h"
#include "LpmConnection.h"
#include "LpmNpcLog.h"
#include "LpmNpcModule.h"
#include "Misc/FileHelper.h"
#include "Misc/MessageDialog.h"
#include "Misc/Paths.h"
#include "Misc/ScopedSlowTask.h"

#define LOCTEXT_NAMESPACE "LpmCharacterPreparation"

namespace LpmCharacterPreparationPrivate
{
	/** The runtime may take a while (face detection, rig, textures) on a CPU-only machine. */
	constexpr double TimeoutSeconds = 180.0;
	constexpr float PollSeconds = 0.05f;
	/** PROTOCOL.md section 5: at most 20 MiB of image. */
	constexpr int64 MaxImageBytes = 20 * 1024 * 1024;
}

FString LpmCharacterPreparation::MakeCharacterId(const FString& Path)
{
	const FString Base = FPaths::GetBaseFilename(Path);
	FString Id;
	Id.Reserve(Base.Len());
	bool bLastWasSeparator = false;
	for (const TCHAR Char : Base)
	{
		const bool bSafe = (Char >= TEXT('a') && Char <= TEXT('z')) || (Char >= TEXT('A') && Char <= TEXT('Z'))
			|| (Char >= TEXT('0') && Char <= TEXT('9')) || Char == TEXT('-') || Char == TEXT('_');
		if (bSafe)
		{
			Id.AppendChar(Char);
			bLastWasSeparator = false;
		}
		else if (!bLastWasSeparator && !Id.IsEmpty())
		{
			Id.AppendChar(TEXT('_'));
			bLastWasSeparator = true;
		}
	}
	while (Id.EndsWith(TEXT("_")))
	{
		Id.LeftChopInline(1);
	}
	if (Id.IsEmpty())
	{
		Id = TEXT("character");
	}
	return Id.Left(128);
}

bool LpmCharacterPreparation::PrepareFromFile(const FString& Path, FString& OutCharacterId, FText& OutMessage)
{
	using namespace LpmCharacterPreparationPrivate;
	if (!FLpmNpcModule::IsNativeCoreReady())
	{
		OutMessage = LOCTEXT("NoNativeCore", "The LPM native client core is not loaded; see the Output Log (LogLpmNpc).");
		return false;
	}
	TArray<uint8> Image;
	if (!FFileHelper::LoadFileToArray(Image, *Path) || Image.Num() == 0)
	{
		OutMessage = FText::Format(LOCTEXT("ReadFailed", "Cannot read {0}."), FText::FromString(Path));
		return false;
	}
	if (Image.Num() > MaxImageBytes)
	{
		OutMessage = LOCTEXT("TooLarge", "The portrait is larger than 20 MiB, the runtime's limit.");
		return false;
	}

	FString Error;
	TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> Connection = FLpmConnection::Create(FLpmConnectionSettings::FromProjectSettings(), Error);
	if (!Connection.IsValid())
	{
		OutMessage = FText::FromString(Error);
		return false;
	}

	OutCharacterId = MakeCharacterId(Path);
	const int32 Status = Connection->PrepareCharacter(OutCharacterId, Image);
	if (Status != LPM_OK)
	{
		Connection->Shutdown();
		OutMessage = FText::Format(LOCTEXT("Refused", "The request was refused: {0}."), FText::FromString(FLpmConnection::StatusName(Status)));
		return false;
	}

	// The native core sends the request on its I/O thread and reports the answer as an event;
	// poll it here, with a cancellable progress dialog (the editor stays responsive).
	FScopedSlowTask Progress(static_cast<float>(TimeoutSeconds), FText::Format(LOCTEXT("Preparing", "Preparing character '{0}' on the LPM runtime..."), FText::FromString(OutCharacterId)));
	Progress.MakeDialog(/*bShowCancelButton=*/true);
	const double Start = FPlatformTime::Seconds();
	bool bDone = false;
	bool bSucceeded = false;
	while (!bDone)
	{
		lpm_event Event = {};
		while (!bDone && Connection->PollEvent(Event) == LPM_OK)
		{
			const FString Name = FLpmConnection::FromUtf8Field(Event.name, sizeof(Event.name));
			const FString Text = FLpmConnection::FromUtf8Field(Event.text, sizeof(Event.text));
			if (Event.type == LPM_EVENT_CHARACTER_PREPARED && Name == OutCharacterId)
			{
				bDone = true;
				bSucceeded = true;
				OutMessage = FText::Format(LOCTEXT("Prepared", "Character '{0}' is ready. Use it as a face's Character."), FText::FromString(OutCharacterId));
			}
			else if (Event.type == LPM_EVENT_ERROR)
			{
				bDone = true;
				OutMessage = FText::Format(LOCTEXT("Failed", "The runtime could not prepare the character: {0}: {1}"), FText::FromString(Name), FText::FromString(Text));
			}
		}
		if (bDone)
		{
			break;
		}
		if (Progress.ShouldCancel())
		{
			OutMessage = LOCTEXT("Cancelled", "Cancelled. The runtime may still finish preparing the character.");
			break;
		}
		if (FPlatformTime::Seconds() - Start > TimeoutSeconds)
		{
			OutMessage = LOCTEXT("TimedOut", "No answer from the runtime in time. Is `lpm serve` running, and is the endpoint in Project Settings > Plugins > LPM NPC right?");
			break;
		}
		FPlatformProcess::Sleep(PollSeconds);
		Progress.EnterProgressFrame(PollSeconds);
	}
	Connection->Shutdown();
	UE_LOG(LogLpmNpc, Log, TEXT("LPM NPC: prepare '%s' from %s: %s"), *OutCharacterId, *Path, *OutMessage.ToString());
	return bSucceeded;
}

bool LpmCharacterPreparation::PrepareFromPortraitDialog(FString& OutCharacterId)
{
	IDesktopPlatform* DesktopPlatform = FDesktopPlatformModule::Get();
	if (DesktopPlatform == nullptr)
	{
		return false;
	}
	TArray<FString> Files;
	const void* ParentWindow = FSlateApplication::Get().FindBestParentWindowHandleForDialogs(nullptr);
	const bool bPicked = DesktopPlatform->OpenFileDialog(ParentWindow,
		LOCTEXT("PickPortrait", "Choose a portrait for the LPM runtime").ToString(),
		FPaths::ProjectDir(), FString(),
		TEXT("Portrait images (*.png;*.jpg;*.jpeg)|*.png;*.jpg;*.jpeg"),
		EFileDialogFlags::None, Files);
	if (!bPicked || Files.Num() == 0)
	{
		return false;
	}
	FText Message;
	const bool bPrepared = PrepareFromFile(Files[0], OutCharacterId, Message);
	FMessageDialog::Open(EAppMsgType::Ok, Message);
	return bPrepared;
}

#undef LOCTEXT_NAMESPACE
