// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "Components/ActorComponent.h"
#include "Templates/SharedPointer.h"

#include "LpmPlayerVoiceComponent.generated.h"

class FLpmVoiceCapture;
class ULpmNpcSubsystem;

/**
 * The player's microphone as the NPCs hear it: captures the default input device through the
 * engine's audio capture and sends it as the listen stream of every connected LPM NPC face
 * within HearingRadius, so they react while the player talks (nods, gaze, backchannel).
 *
 * Put it on the player's pawn. The capture callback runs on the platform's capture thread and
 * only calls the thread-safe native core; the list of listening faces is refreshed on the game
 * thread a few times a second.
 */
UCLASS(ClassGroup = (LPM), meta = (BlueprintSpawnableComponent, DisplayName = "LPM Player Voice"))
class LPMNPC_API ULpmPlayerVoiceComponent : public UActorComponent
{
	GENERATED_BODY()

public:
	ULpmPlayerVoiceComponent();

	/** Faces whose owner is within this distance of this component's owner hear the player. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LPM|Voice", meta = (ClampMin = "0", Units = "cm"))
	float HearingRadius = 800.0f;

	/** Start capturing at BeginPlay. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LPM|Voice")
	bool bAutoStart = true;

	/** Capture device index (see the AudioCapture plugin's device list); -1 = the system default. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "LPM|Voice", AdvancedDisplay, meta = (ClampMin = "-1"))
	int32 DeviceIndex = -1;

	/** Opens the microphone. False (and logged) when no capture device can be opened. */
	UFUNCTION(BlueprintCallable, Category = "LPM")
	bool StartCapture();

	/** Closes the microphone; returns once the capture thread no longer calls into the plugin. */
	UFUNCTION(BlueprintCallable, Category = "LPM")
	void StopCapture();

	UFUNCTION(BlueprintPure, Category = "LPM")
	bool IsCapturing() const;

	/** Keeps the microphone open but sends nothing (push-to-talk, menus). */
	UFUNCTION(BlueprintCallable, Category = "LPM")
	void SetMuted(bool bInMuted);

	UFUNCTION(BlueprintPure, Category = "LPM")
	bool IsMuted() const { return bMuted; }

	/** Faces currently hearing the player. */
	UFUNCTION(BlueprintPure, Category = "LPM")
	int32 GetListenerCount() const { return ListenerCount; }

	//~ Begin UActorComponent
	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type EndPlayReason) override;
	virtual void TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction) override;
	//~ End UActorComponent

private:
	void RefreshListeners();
	ULpmNpcSubsystem* GetSubsystem() const;

	TSharedPtr<FLpmVoiceCapture, ESPMode::ThreadSafe> Capture;
	bool bMuted = false;
	int32 ListenerCount = 0;
	double LastRefreshSeconds = 0.0;
};
