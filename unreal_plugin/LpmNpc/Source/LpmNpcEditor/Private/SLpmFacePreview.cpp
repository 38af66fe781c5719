// LPM NPC Faces for Unreal Engine.

#include "SLpmFacePreview.h"

#include "AssetRegistry/AssetData.h"
#include "Editor.h"
#include "Engine/Texture2D.h"
#include "HAL/PlatformTime.h"
#include "LpmCharacterPreparation.h"
#include "LpmConnection.h"
#include "LpmFaceTexture.h"
#include "LpmNpcLog.h"
#include "LpmNpcModule.h"
#include "LpmNpcSettings.h"
#include "PropertyCustomizationHelpers.h"
#include "Sound/SoundWave.h"
#include "Widgets/Images/SImage.h"
#include "Widgets/Input/SButton.h"
#include "Widgets/Input/SEditableTextBox.h"
#include "Widgets/Layout/SBox.h"
#include "Widgets/SBoxPanel.h"
#include "Widgets/Text/STextBlock.h"

#define LOCTEXT_NAMESPACE "SLpmFacePreview"

namespace LpmPreviewPrivate
{
	/** Audio goes out in 20 ms packets, and at most this far ahead of real time. */
	constexpr double PacketSeconds = 0.02;
	constexpr double LeadSeconds = 0.04;
	const TCHAR* const DefaultCharacterLabel = TEXT("(runtime default)");
}

void SLpmFacePreview::Construct(const FArguments& InArgs)
{
	FaceBrush.DrawAs = ESlateBrushDrawType::Image;
	FaceBrush.ImageSize = FVector2D(256.0, 256.0);
	SelectedCharacter = MakeShared<FString>(LpmPreviewPrivate::DefaultCharacterLabel);
	CharacterOptions.Add(SelectedCharacter);

	TSharedRef<SHorizontalBox> Emotes = SNew(SHorizontalBox);
	for (const TCHAR* Emote : {TEXT("nods"), TEXT("smiles warmly"), TEXT("laughs"), TEXT("frowns"), TEXT("looks surprised")})
	{
		Emotes->AddSlot()
			.AutoWidth()
			.Padding(0.0f, 0.0f, 4.0f, 0.0f)
			[
				SNew(SButton)
				.Text(FText::FromString(Emote))
				.OnClicked(this, &SLpmFacePreview::OnEmoteClicked, FString(Emote))
			];
	}

	ChildSlot
	[
		SNew(SVerticalBox)
		+ SVerticalBox::Slot()
		.AutoHeight()
		.Padding(4.0f)
		[
			SNew(SHorizontalBox)
			+ SHorizontalBox::Slot()
			.FillWidth(1.0f)
			.VAlign(VAlign_Center)
			[
				SNew(STextBlock).Text(this, &SLpmFacePreview::GetStatusText)
			]
			+ SHorizontalBox::Slot()
			.AutoWidth()
			[
				SNew(SButton)
				.Text(LOCTEXT("Reconnect", "Reconnect"))
				.ToolTipText(LOCTEXT("ReconnectTip", "Connect again with the current Project Settings > Plugins > LPM NPC."))
				.OnClicked(this, &SLpmFacePreview::OnReconnectClicked)
			]
		]
		+ SVerticalBox::Slot()
		.AutoHeight()
		.Padding(4.0f)
		[
			SNew(SHorizontalBox)
			+ SHorizontalBox::Slot()
			.AutoWidth()
			.VAlign(VAlign_Center)
			.Padding(0.0f, 0.0f, 8.0f, 0.0f)
			[
				SNew(STextBlock).Text(LOCTEXT("Character", "Character"))
			]
			+ SHorizontalBox::Slot()
			.FillWidth(1.0f)
			[
				SAssignNew(CharacterCombo, SComboBox<TSharedPtr<FString>>)
				.OptionsSource(&CharacterOptions)
				.OnGenerateWidget(this, &SLpmFacePreview::MakeCharacterRow)
				.OnSelectionChanged(this, &SLpmFacePreview::OnCharacterSelected)
				[
					SNew(STextBlock).Text(this, &SLpmFacePreview::GetCharacterText)
				]
			]
			+ SHorizontalBox::Slot()
			.AutoWidth()
			.Padding(4.0f, 0.0f, 0.0f, 0.0f)
			[
				SNew(SButton)
				.Text(LOCTEXT("Prepare", "Prepare From Portrait..."))
				.OnClicked(this, &SLpmFacePreview::OnPrepareClicked)
			]
		]
		+ SVerticalBox::Slot()
		.AutoHeight()
		.Padding(4.0f)
		[
			SNew(SHorizontalBox)
			+ SHorizontalBox::Slot()
			.FillWidth(1.0f)
			[
				SAssignNew(PromptBox, SEditableTextBox)
				.HintText(LOCTEXT("PromptHint", "Prompt, e.g. \"a tired innkeeper, friendly\""))
			]
			+ SHorizontalBox::Slot()
			.AutoWidth()
			.Padding(4.0f, 0.0f, 0.0f, 0.0f)
			[
				SNew(SButton)
				.Text(LOCTEXT("SetPrompt", "Set Prompt"))
				.OnClicked(this, &SLpmFacePreview::OnSetPromptClicked)
			]
		]
		+ SVerticalBox::Slot()
		.AutoHeight()
		.Padding(4.0f)
		[
			Emotes
		]
		+ SVerticalBox::Slot()
		.AutoHeight()
		.Padding(4.0f)
		[
			SNew(SHorizontalBox)
			+ SHorizontalBox::Slot()
			.FillWidth(1.0f)
			[
				SNew(SObjectPropertyEntryBox)
				.AllowedClass(USoundWave::StaticClass())
				.ObjectPath(this, &SLpmFacePreview::GetSoundPath)
				.OnObjectChanged(this, &SLpmFacePreview::OnSoundChanged)
			]
			+ SHorizontalBox::Slot()
			.AutoWidth()
			.Padding(4.0f, 0.0f, 0.0f, 0.0f)
			[
				SNew(SButton)
				.Text(LOCTEXT("Speak", "Speak"))
				.ToolTipText(LOCTEXT("SpeakTip", "Stream the sound wave to the face and play it L later."))
				.OnClicked(this, &SLpmFacePreview::OnSpeakClicked)
			]
			+ SHorizontalBox::Slot()
			.AutoWidth()
			.Padding(4.0f, 0.0f, 0.0f, 0.0f)
			[
				SNew(SButton)
				.Text(LOCTEXT("Stop", "Stop"))
				.OnClicked(this, &SLpmFacePreview::OnStopClicked)
			]
		]
		+ SVerticalBox::Slot()
		.FillHeight(1.0f)
		.Padding(4.0f)
		.HAlign(HAlign_Center)
		.VAlign(VAlign_Center)
		[
			SNew(SBox)
			.WidthOverride(384.0f)
			.HeightOverride(384.0f)
			[
				SNew(SImage).Image(&FaceBrush)
			]
		]
	];

	Connect();
}

SLpmFacePreview::~SLpmFacePreview()
{
	// Closing the tab: stop the sound, close the session, join the connection's I/O thread.
	Shutdown();
}

void SLpmFacePreview::Shutdown()
{
	StopLine();
	Disconnect();
}

void SLpmFacePreview::Tick(const FGeometry& AllottedGeometry, const double InCurrentTime, const float InDeltaTime)
{
	SCompoundWidget::Tick(AllottedGeometry, InCurrentTime, InDeltaTime);
	if (!Connection.IsValid())
	{
		return;
	}
	PumpEvents();
	if (bSessionReady)
	{
		StreamLine(FPlatformTime::Seconds());
		PresentFrame();
	}
}

void SLpmFacePreview::Connect()
{
	if (!FLpmNpcModule::IsNativeCoreReady())
	{
		Status = TEXT("The native client core is not loaded (see the Output Log, LogLpmNpc).");
		return;
	}
	FString Error;
	Connection = FLpmConnection::Create(FLpmConnectionSettings::FromProjectSettings(), Error);
	if (!Connection.IsValid())
	{
		Status = Error;
		return;
	}
	Status = TEXT("Connecting...");
	OpenSession();
}

void SLpmFacePreview::Disconnect()
{
	CloseSession();
	if (Connection.IsValid())
	{
		Connection->Shutdown();
		Connection.Reset();
	}
}

void SLpmFacePreview::OpenSession()
{
	if (!Connection.IsValid())
	{
		return;
	}
	const ULpmNpcSettings* Settings = GetDefault<ULpmNpcSettings>();
	FLpmSessionRequest Request;
	const bool bDefault = !SelectedCharacter.IsValid() || *SelectedCharacter == LpmPreviewPrivate::DefaultCharacterLabel;
	Request.Character = bDefault ? Settings->DefaultCharacter : *SelectedCharacter;
	Request.Prompt = PromptBox.IsValid() ? PromptBox->GetText().ToString() : FString();
	Request.Width = static_cast<uint32>(FMath::Max(0, Settings->DefaultWidth));
	Request.Height = static_cast<uint32>(FMath::Max(0, Settings->DefaultHeight));
	Request.bJpeg = Settings->Encoding == ELpmFrameEncoding::Jpeg;
	Request.JpegQuality = static_cast<uint32>(FMath::Clamp(Settings->JpegQuality, 1, 100));
	const int32 Result = Connection->CreateSession(Request, Session);
	if (Result != LPM_OK)
	{
		Session = 0;
		Status = FString::Printf(TEXT("Cannot create a session: %s"), *FLpmConnection::StatusName(Result));
	}
}

void SLpmFacePreview::CloseSession()
{
	StopLine();
	if (Connection.IsValid() && Session != 0)
	{
		Connection->CloseSession(Session);
	}
	Session = 0;
	bSessionReady = false;
}

void SLpmFacePreview::PumpEvents()
{
	lpm_event Event = {};
	for (int32 Count = 0; Count < 256 && Connection->PollEvent(Event) == LPM_OK; ++Count)
	{
		const FString Name = FLpmConnection::FromUtf8Field(Event.name, sizeof(Event.name));
		const FString Text = FLpmConnection::FromUtf8Field(Event.text, sizeof(Event.text));
		switch (Event.type)
		{
		case LPM_EVENT_CONNECTED:
			Status = TEXT("Connected.");
			RefreshCharacters();
			break;
		case LPM_EVENT_DISCONNECTED:
			Status = FString::Printf(TEXT("Connection lost (%s); reconnecting..."), *Text);
			break;
		case LPM_EVENT_CHARACTERS:
		case LPM_EVENT_CHARACTER_PREPARED:
			RefreshCharacters();
			break;
		case LPM_EVENT_SESSION_READY:
		case LPM_EVENT_SESSION_RESUMED:
			if (Event.session == Session)
			{
				lpm_session_info Info = {};
				if (Connection->GetSessionInfo(Session, Info) == LPM_OK)
				{
					LatencyUs = Info.latency_us;
					FrameWidth = static_cast<int32>(Info.width);
					FrameHeight = static_cast<int32>(Info.height);
					bSessionReady = true;
					Status = FString::Printf(TEXT("%s: %s, %dx%d, L = %lld ms"),
						*FLpmConnection::FromUtf8Field(Info.session_id, sizeof(Info.session_id)),
						*FLpmConnection::FromUtf8Field(Info.character, sizeof(Info.character)),
						FrameWidth, FrameHeight, static_cast<long long>(LatencyUs / 1000));
				}
			}
			break;
		case LPM_EVENT_ERROR:
			Status = FString::Printf(TEXT("%s: %s"), *Name, *Text);
			break;
		default:
			break;
		}
		Event = {};
	}
}

void SLpmFacePreview::RefreshCharacters()
{
	TArray<FString> Characters;
	if (!Connection.IsValid() || Connection->GetCharacters(Characters) != LPM_OK)
	{
		return;
	}
	const FString Selected = SelectedCharacter.IsValid() ? *SelectedCharacter : FString();
	CharacterOptions.Reset();
	CharacterOptions.Add(MakeShared<FString>(LpmPreviewPrivate::DefaultCharacterLabel));
	for (const FString& Character : Characters)
	{
		CharacterOptions.Add(MakeShared<FString>(Character));
	}
	SelectedCharacter = CharacterOptions[0];
	for (const TSharedPtr<FString>& Option : CharacterOptions)
	{
		if (*Option == Selected)
		{
			SelectedCharacter = Option;
		}
	}
	if (CharacterCombo.IsValid())
	{
		CharacterCombo->RefreshOptions();
	}
}

void SLpmFacePreview::PresentFrame()
{
	if (FrameWidth <= 0 || FrameHeight <= 0)
	{
		return;
	}
	const SIZE_T Needed = static_cast<SIZE_T>(FrameWidth) * static_cast<SIZE_T>(FrameHeight) * 4;
	if (!PendingPixels.IsValid() || PendingPixelsBytes != Needed)
	{
		PendingPixels = MakeUnique<uint8[]>(Needed);
		PendingPixelsBytes = Needed;
	}
	// The preview plays its line L after sending it, so the client's own estimate of the heard
	// position is the right playhead here.
	lpm_frame_info Info = {};
	if (Connection->PollFrame(Session, LPM_PLAYHEAD_AUTO, Info, PendingPixels.Get(), PendingPixelsBytes) != LPM_OK)
	{
		return;
	}
	const int32 Width = static_cast<int32>(Info.width);
	const int32 Height = static_cast<int32>(Info.height);
	if (!FaceTexture.IsValid() || FaceTexture->GetSizeX() != Width || FaceTexture->GetSizeY() != Height)
	{
		FaceTexture.Reset(LpmFaceTexture::Create(Width, Height));
		FaceBrush.SetResourceObject(FaceTexture.Get());
		FaceBrush.ImageSize = FVector2D(Width, Height);
	}
	if (LpmFaceTexture::Upload(FaceTexture.Get(), PendingPixels, Width, Height))
	{
		PendingPixelsBytes = 0;
	}
}

bool SLpmFacePreview::LoadLine(USoundWave* Wave, FText& OutProblem)
{
	TArray<uint8> Pcm;
	uint32 SampleRate = 0;
	uint16 Channels = 0;
	// The editor keeps the imported WAV (16-bit PCM) next to the compressed data.
	if (Wave == nullptr || !Wave->GetImportedSoundWaveData(Pcm, SampleRate, Channels) || SampleRate == 0)
	{
		OutProblem = LOCTEXT("NoPcm", "This sound wave has no imported PCM data to stream.");
		return false;
	}
	if (Channels < 1 || Channels > 2)
	{
		OutProblem = LOCTEXT("Channels", "Use a mono or stereo sound wave.");
		return false;
	}
	const int32 SampleCount = Pcm.Num() / static_cast<int32>(sizeof(int16));
	const int16* Samples = reinterpret_cast<const int16*>(Pcm.GetData());
	LineSamples.SetNumUninitialized(SampleCount);
	for (int32 Index = 0; Index < SampleCount; ++Index)
	{
		LineSamples[Index] = static_cast<float>(Samples[Index]) / 32768.0f;
	}
	LineRate = static_cast<int32>(SampleRate);
	LineChannels = static_cast<int32>(Channels);
	return true;
}

void SLpmFacePreview::StreamLine(double Now)
{
	if (!bLineActive)
	{
		return;
	}
	const double Elapsed = Now - LineStartSeconds;
	const int64 TotalFrames = LineSamples.Num() / LineChannels;
	const int64 DueFrames = FMath::Min<int64>(TotalFrames, static_cast<int64>((Elapsed + LpmPreviewPrivate::LeadSeconds) * LineRate));
	const int64 PacketFrames = FMath::Max<int64>(1, static_cast<int64>(LpmPreviewPrivate::PacketSeconds * LineRate));
	while (LineFramesSent < DueFrames)
	{
		const int64 Frames = FMath::Min(PacketFrames, DueFrames - LineFramesSent);
		const float* Data = LineSamples.GetData() + LineFramesSent * LineChannels;
		if (Connection->PushSpeak(Session, Data, static_cast<uint32>(Frames), static_cast<uint32>(LineChannels), static_cast<uint32>(LineRate)) != LPM_OK)
		{
			break; // queue full: try again next tick
		}
		LineFramesSent += Frames;
	}
	if (!bLineEnded && LineFramesSent >= TotalFrames)
	{
		Connection->EndOfSpeech(Session);
		bLineEnded = true;
	}
	// Heard L after it was sent: that is when its frames are due.
	if (!bLineAudible && Elapsed >= static_cast<double>(LatencyUs) / 1.0e6)
	{
		bLineAudible = true;
		if (GEditor != nullptr)
		{
			GEditor->PlayPreviewSound(SoundWave.Get());
		}
	}
	const double Duration = static_cast<double>(TotalFrames) / LineRate;
	if (bLineEnded && Elapsed > Duration + static_cast<double>(LatencyUs) / 1.0e6 + 0.5)
	{
		bLineActive = false;
	}
}

void SLpmFacePreview::StopLine()
{
	if (bLineAudible && GEditor != nullptr)
	{
		GEditor->ResetPreviewAudioComponent();
	}
	if (bLineActive && Connection.IsValid() && Session != 0)
	{
		Connection->Interrupt(Session);
	}
	bLineActive = false;
	bLineAudible = false;
}

FReply SLpmFacePreview::OnReconnectClicked()
{
	Disconnect();
	Connect();
	return FReply::Handled();
}

FReply SLpmFacePreview::OnSetPromptClicked()
{
	if (Connection.IsValid() && Session != 0 && PromptBox.IsValid())
	{
		const int32 Result = Connection->SetPrompt(Session, PromptBox->GetText().ToString());
		if (Result != LPM_OK)
		{
			Status = FString::Printf(TEXT("Prompt refused: %s"), *FLpmConnection::StatusName(Result));
		}
	}
	return FReply::Handled();
}

FReply SLpmFacePreview::OnEmoteClicked(FString Emote)
{
	if (Connection.IsValid() && Session != 0)
	{
		Connection->TriggerEmote(Session, Emote, 0.8f, 2.0f);
	}
	return FReply::Handled();
}

FReply SLpmFacePreview::OnSpeakClicked()
{
	if (!Connection.IsValid() || !bSessionReady)
	{
		Status = TEXT("Not connected yet.");
		return FReply::Handled();
	}
	StopLine();
	FText Problem;
	if (!LoadLine(SoundWave.Get(), Problem))
	{
		Status = Problem.ToString();
		return FReply::Handled();
	}
	LineFramesSent = 0;
	LineStartSeconds = FPlatformTime::Seconds();
	bLineActive = true;
	bLineAudible = false;
	bLineEnded = false;
	return FReply::Handled();
}

FReply SLpmFacePreview::OnStopClicked()
{
	StopLine();
	return FReply::Handled();
}

FReply SLpmFacePreview::OnPrepareClicked()
{
	FString CharacterId;
	if (LpmCharacterPreparation::PrepareFromPortraitDialog(CharacterId))
	{
		SelectedCharacter = MakeShared<FString>(CharacterId);
		RefreshCharacters();
		CloseSession();
		OpenSession();
	}
	return FReply::Handled();
}

void SLpmFacePreview::OnCharacterSelected(TSharedPtr<FString> Item, ESelectInfo::Type SelectInfo)
{
	if (!Item.IsValid() || Item == SelectedCharacter)
	{
		return;
	}
	SelectedCharacter = Item;
	CloseSession();
	OpenSession();
}

TSharedRef<SWidget> SLpmFacePreview::MakeCharacterRow(TSharedPtr<FString> Item) const
{
	return SNew(STextBlock).Text(FText::FromString(Item.IsValid() ? *Item : FString()));
}

FText SLpmFacePreview::GetCharacterText() const
{
	return FText::FromString(SelectedCharacter.IsValid() ? *SelectedCharacter : FString());
}

FText SLpmFacePreview::GetStatusText() const
{
	return FText::FromString(Status);
}

FString SLpmFacePreview::GetSoundPath() const
{
	return SoundWave.IsValid() ? SoundWave->GetPathName() : FString();
}

void SLpmFacePreview::OnSoundChanged(const FAssetData& AssetData)
{
	SoundWave.Reset(Cast<USoundWave>(AssetData.GetAsset()));
}

#undef LOCTEXT_NAMESPACE
