// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "AudioCaptureCore.h"
#include "HAL/CriticalSection.h"
#include "Templates/SharedPointer.h"

#include "lpm_client.h"

#include <atomic>

class FLpmConnection;

/** One session that hears the player: the listen stream of a face. */
struct FLpmListenTarget
{
	TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> Connection;
	lpm_session Session = 0;
};

/**
 * The microphone stream behind ULpmPlayerVoiceComponent (no UObject, so the capture thread may
 * use it). Audio::FAudioCapture calls OnCaptured on its own thread with interleaved float
 * samples at the device's rate; they are pushed, as they are, to every target's listen stream
 * (the native core mixes down and stamps them; the runtime resamples).
 */
class FLpmVoiceCapture
{
public:
	~FLpmVoiceCapture();

	/** Opens and starts the device (-1 = default). Game thread. */
	bool Start(int32 DeviceIndex, FString& OutError);

	/** Stops and closes the device; once it returns, OnCaptured is no longer running. Game thread. */
	void Stop();

	bool IsCapturing() const;

	/** Replaces the listening sessions (game thread); waits for a push in progress. */
	void SetTargets(TArray<FLpmListenTarget>&& NewTargets);

	void SetMuted(bool bInMuted) { bMuted = bInMuted; }

private:
	void OnCaptured(const float* Audio, int32 NumFrames, int32 NumChannels, int32 SampleRate);

	Audio::FAudioCapture Capture;
	FCriticalSection TargetsLock;
	TArray<FLpmListenTarget> Targets;
	std::atomic<bool> bMuted{false};
	std::atomic<bool> bWarnedRefused{false};
	bool bOpen = false;
};
