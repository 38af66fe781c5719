// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "Styling/SlateBrush.h"
#include "Templates/UniquePtr.h"
#include "UObject/StrongObjectPtr.h"
#include "Widgets/DeclarativeSyntaxSupport.h"
#include "Widgets/Input/SComboBox.h"
#include "Widgets/SCompoundWidget.h"

#include "lpm_client.h"

class FLpmConnection;
class SEditableTextBox;
class USoundWave;
class UTexture2D;
struct FAssetData;

/**
 * The LPM face preview tab: its own connection to the runtime (no Play In Editor needed), a
 * character list, a prompt box, emote buttons, a sound wave to speak, and the face itself.
 *
 * The sound wave's imported PCM is streamed to the session at real-time pace and the wave is
 * played with the editor's preview audio L after its first packet was sent, so the face, shown
 * at the client's estimate of the heard position (timeline_now - L), matches the voice.
 * Everything runs in the widget's Tick on the game thread.
 */
class SLpmFacePreview : public SCompoundWidget
{
public:
	SLATE_BEGIN_ARGS(SLpmFacePreview) {}
	SLATE_END_ARGS()

	void Construct(const FArguments& InArgs);
	virtual ~SLpmFacePreview() override;

	/** Stops the line and joins the connection's I/O thread; the tab shows nothing more. */
	void Shutdown();

	//~ Begin SWidget
	virtual void Tick(const FGeometry& AllottedGeometry, const double InCurrentTime, const float InDeltaTime) override;
	//~ End SWidget

private:
	// Connection and session.
	void Connect();
	void Disconnect();
	void OpenSession();
	void CloseSession();
	void PumpEvents();
	void RefreshCharacters();
	void PresentFrame();

	// The line being spoken.
	bool LoadLine(USoundWave* Wave, FText& OutProblem);
	void StreamLine(double Now);
	void StopLine();

	// UI.
	FReply OnReconnectClicked();
	FReply OnSetPromptClicked();
	FReply OnEmoteClicked(FString Emote);
	FReply OnSpeakClicked();
	FReply OnStopClicked();
	FReply OnPrepareClicked();
	void OnCharacterSelected(TSharedPtr<FString> Item, ESelectInfo::Type SelectInfo);
	TSharedRef<SWidget> MakeCharacterRow(TSharedPtr<FString> Item) const;
	FText GetCharacterText() const;
	FText GetStatusText() const;
	FString GetSoundPath() const;
	void OnSoundChanged(const FAssetData& AssetData);

	TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> Connection;
	lpm_session Session = 0;
	bool bSessionReady = false;
	int64 LatencyUs = 0;
	int32 FrameWidth = 0;
	int32 FrameHeight = 0;
	FString Status;

	TArray<TSharedPtr<FString>> CharacterOptions;
	TSharedPtr<FString> SelectedCharacter;
	TSharedPtr<SComboBox<TSharedPtr<FString>>> CharacterCombo;
	TSharedPtr<SEditableTextBox> PromptBox;

	TStrongObjectPtr<USoundWave> SoundWave;
	TArray<float> LineSamples; // interleaved, -1..1
	int32 LineRate = 0;
	int32 LineChannels = 0;
	int64 LineFramesSent = 0;
	double LineStartSeconds = 0.0;
	bool bLineActive = false;
	bool bLineAudible = false;
	bool bLineEnded = false;

	TStrongObjectPtr<UTexture2D> FaceTexture;
	FSlateBrush FaceBrush;
	TUniquePtr<uint8[]> PendingPixels;
	SIZE_T PendingPixelsBytes = 0;
};
