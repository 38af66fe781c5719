// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "AudioDeviceHandle.h"
#include "ISubmixBufferListener.h"
#include "Misc/EngineVersionComparison.h"
#include "Sync/LpmPlaybackClock.h"
#include "Sync/LpmSpeakTapCore.h"
#include "UObject/WeakObjectPtrTemplates.h"

#include "lpm_client.h"

class FLpmConnection;
class USoundSubmix;
class UWorld;

/**
 * The NPC's voice, tapped where the audio mixer renders it: an ISubmixBufferListener on the
 * face's voice submix. On the audio render thread it feeds FLpmSpeakTapCore (line detection,
 * frame counting) and pushes the lines to the session's speak stream; the game thread asks
 * it which stream frame is heard now and maps that through the FLpmPlaybackClock.
 *
 * Lifetime: created with MakeShared and registered with the world's audio device. UE 5.4+
 * keeps a shared reference while registered; UE 5.3 takes a raw pointer and unregisters on the
 * audio thread, so Unregister hands the last reference to an audio-thread command queued after
 * the unregistration, which releases the tap only once the mixer can no longer call it.
 */
class FLpmSpeakSubmixTap final : public ISubmixBufferListener, private ILpmSpeakSink
{
public:
	FLpmSpeakSubmixTap(int32 InSampleRate, float GateLevel, double HangoverSeconds);
	virtual ~FLpmSpeakSubmixTap() override;

	/** Registers a new tap on Submix in World's audio device. Null (and logged) without audio. */
	static TSharedPtr<FLpmSpeakSubmixTap, ESPMode::ThreadSafe> Register(UWorld& World, USoundSubmix& Submix, float GateLevel, double HangoverSeconds);

	/** Stops the mixer calling Tap and releases it (resets the pointer). Game thread. */
	static void Unregister(TSharedPtr<FLpmSpeakSubmixTap, ESPMode::ThreadSafe>& Tap);

	/** Routes lines to Session on Connection (game thread); Detach stops sending (waits for a push in progress). */
	void Attach(const TSharedPtr<FLpmConnection, ESPMode::ThreadSafe>& InConnection, lpm_session InSession);
	void Detach();

	/** The voice was stopped (no more buffers will come for the line): end it now. */
	void EndLine() { Core.EndLine(); }

	FLpmPlaybackClock& GetClock() { return Clock; }
	const FLpmSpeakTapCore& GetCore() const { return Core; }
	int32 GetSampleRate() const { return Clock.GetSampleRate(); }
	/** One mixer callback buffer, in frames: audio is heard about this long after it is rendered. */
	int32 GetDeviceBufferFrames() const { return DeviceBufferFrames; }

	//~ Begin ISubmixBufferListener
	virtual void OnNewSubmixBuffer(const USoundSubmix* OwningSubmix, float* AudioData, int32 NumSamples, int32 NumChannels, const int32 SampleRate, double AudioClock) override;
	virtual bool IsRenderingAudio() const override;
#if !UE_VERSION_OLDER_THAN(5, 4, 0)
	virtual const FString& GetListenerName() const override;
#endif
	//~ End ISubmixBufferListener

private:
	//~ Begin ILpmSpeakSink (audio render thread, under the core's lock)
	virtual bool PushSpeak(const float* Interleaved, int32_t Frames, int32_t Channels, int32_t SampleRate) override;
	virtual void EndOfSpeech() override;
	//~ End ILpmSpeakSink

	FLpmPlaybackClock Clock;
	FLpmSpeakTapCore Core;

	// Read on the audio render thread only through the core's sink calls; changed by Attach and
	// Detach while the sink is detached, so the core's lock orders every access.
	TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> Connection;
	lpm_session Session = 0;

	FAudioDeviceHandle AudioDevice;
	TWeakObjectPtr<USoundSubmix> Submix;
	int32 DeviceBufferFrames = 0;
	bool bRegistered = false;
};
