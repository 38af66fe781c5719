// LPM NPC Faces for Unreal Engine.

#include "LpmVoiceCapture.h"

#include "LpmConnection.h"
#include "LpmNpcLog.h"
#include "Misc/ScopeLock.h"

FLpmVoiceCapture::~FLpmVoiceCapture()
{
	Stop();
}

bool FLpmVoiceCapture::Start(int32 DeviceIndex, FString& OutError)
{
	if (bOpen)
	{
		return true;
	}
	Audio::FAudioCaptureDeviceParams Params;
	Params.DeviceIndex = DeviceIndex < 0 ? Audio::DefaultDeviceIndex : DeviceIndex;
	// Float samples (the default encoding): the callback's buffer is float32, interleaved.
	Params.PCMAudioEncoding = Audio::EPCMAudioEncoding::FLOATING_POINT_32;

	// About 10 ms per callback at 48 kHz: small packets keep the listen stream's latency low.
	constexpr uint32 FramesPerCallback = 480;
	Audio::FOnAudioCaptureFunction OnCapture = [this](const void* InAudio, int32 NumFrames, int32 NumChannels, int32 SampleRate, double StreamTime, bool bOverflow)
	{
		OnCaptured(static_cast<const float*>(InAudio), NumFrames, NumChannels, SampleRate);
	};
	if (!Capture.OpenAudioCaptureStream(Params, MoveTemp(OnCapture), FramesPerCallback))
	{
		OutError = TEXT("no capture device could be opened");
		return false;
	}
	if (!Capture.StartStream())
	{
		Capture.CloseStream();
		OutError = TEXT("the capture device would not start");
		return false;
	}
	bOpen = true;
	UE_LOG(LogLpmNpc, Log, TEXT("LPM NPC: player microphone open at %d Hz."), Capture.GetSampleRate());
	return true;
}

void FLpmVoiceCapture::Stop()
{
	if (!bOpen)
	{
		return;
	}
	bOpen = false;
	// Stopping and closing the stream ends the capture callbacks before returning.
	Capture.StopStream();
	Capture.CloseStream();
	SetTargets(TArray<FLpmListenTarget>());
}

bool FLpmVoiceCapture::IsCapturing() const
{
	return bOpen && Capture.IsCapturing();
}

void FLpmVoiceCapture::SetTargets(TArray<FLpmListenTarget>&& NewTargets)
{
	TArray<FLpmListenTarget> Previous;
	{
		FScopeLock Lock(&TargetsLock);
		Previous = MoveTemp(Targets);
		Targets = MoveTemp(NewTargets);
	}
	// Previous is released here, on the game thread, outside the lock.
}

void FLpmVoiceCapture::OnCaptured(const float* Audio, int32 NumFrames, int32 NumChannels, int32 SampleRate)
{
	// Capture thread.
	if (Audio == nullptr || NumFrames <= 0 || NumChannels <= 0 || bMuted.load())
	{
		return;
	}
	FScopeLock Lock(&TargetsLock);
	for (const FLpmListenTarget& Target : Targets)
	{
		const int32 Status = Target.Connection->PushListen(Target.Session, Audio, static_cast<uint32>(NumFrames), static_cast<uint32>(NumChannels), static_cast<uint32>(SampleRate));
		if (Status == LPM_ERR_INVALID_ARGUMENT && !bWarnedRefused.exchange(true))
		{
			UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: the runtime does not take microphone audio at %d Hz x %d channels; pick another device rate."), SampleRate, NumChannels);
		}
	}
}
