// LPM NPC Faces for Unreal Engine.

#include "LpmSpeakSubmixTap.h"

#include "AudioDevice.h"
#include "AudioThread.h"
#include "Engine/World.h"
#include "HAL/PlatformTime.h"
#include "LpmConnection.h"
#include "LpmNpcLog.h"
#include "Sound/SoundSubmix.h"

FLpmSpeakSubmixTap::FLpmSpeakSubmixTap(int32 InSampleRate, float GateLevel, double HangoverSeconds)
	: Clock(InSampleRate)
	, Core(Clock, GateLevel, HangoverSeconds)
{
}

FLpmSpeakSubmixTap::~FLpmSpeakSubmixTap()
{
	Core.SetSink(nullptr);
}

TSharedPtr<FLpmSpeakSubmixTap, ESPMode::ThreadSafe> FLpmSpeakSubmixTap::Register(UWorld& World, USoundSubmix& Submix, float GateLevel, double HangoverSeconds)
{
	FAudioDeviceHandle Device = World.GetAudioDevice();
	if (!Device.IsValid())
	{
		UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: no audio device in this world (-nosound or a server); the NPC's voice cannot drive the face."));
		return nullptr;
	}

	// Buffers arrive at the mixer's rate; the clock counts stream frames at that rate.
	const int32 MixerRate = FMath::RoundToInt(Device->GetSampleRate());
	TSharedPtr<FLpmSpeakSubmixTap, ESPMode::ThreadSafe> Tap = MakeShared<FLpmSpeakSubmixTap, ESPMode::ThreadSafe>(MixerRate, GateLevel, HangoverSeconds);
	Tap->Submix = &Submix;
	Tap->AudioDevice = Device;
	Tap->DeviceBufferFrames = FMath::Max(0, Device->GetBufferLength());
#if UE_VERSION_OLDER_THAN(5, 4, 0)
	Device->RegisterSubmixBufferListener(Tap.Get(), &Submix);
#else
	Device->RegisterSubmixBufferListener(Tap.ToSharedRef(), Submix);
#endif
	Tap->bRegistered = true;
	UE_LOG(LogLpmNpc, Verbose, TEXT("LPM NPC: voice tap registered on %s at %d Hz."), *Submix.GetName(), MixerRate);
	return Tap;
}

void FLpmSpeakSubmixTap::Unregister(TSharedPtr<FLpmSpeakSubmixTap, ESPMode::ThreadSafe>& Tap)
{
	if (!Tap.IsValid())
	{
		return;
	}
	TSharedPtr<FLpmSpeakSubmixTap, ESPMode::ThreadSafe> Released = MoveTemp(Tap);
	Released->Detach();
	if (!Released->bRegistered)
	{
		return;
	}
	Released->bRegistered = false;

	FAudioDeviceHandle Device = MoveTemp(Released->AudioDevice);
	USoundSubmix* SubmixObject = Released->Submix.Get();
	if (!Device.IsValid() || SubmixObject == nullptr)
	{
		return; // the device or the submix is gone, and its listener list with it
	}
#if UE_VERSION_OLDER_THAN(5, 4, 0)
	Device->UnregisterSubmixBufferListener(Released.Get(), SubmixObject);
	// The mixer drops the raw pointer on the audio thread: this command runs after that and
	// holds the last reference until then.
	FAudioThread::RunCommandOnAudioThread([KeepAlive = MoveTemp(Released)]() {}, TStatId());
#else
	Device->UnregisterSubmixBufferListener(Released.ToSharedRef(), *SubmixObject);
#endif
}

void FLpmSpeakSubmixTap::Attach(const TSharedPtr<FLpmConnection, ESPMode::ThreadSafe>& InConnection, lpm_session InSession)
{
	Core.SetSink(nullptr);
	Connection = InConnection;
	Session = InSession;
	if (Connection.IsValid() && Session != 0)
	{
		Core.SetSink(this);
	}
}

void FLpmSpeakSubmixTap::Detach()
{
	Core.SetSink(nullptr);
	Connection.Reset();
	Session = 0;
}

void FLpmSpeakSubmixTap::OnNewSubmixBuffer(const USoundSubmix* OwningSubmix, float* AudioData, int32 NumSamples, int32 NumChannels, const int32 SampleRate, double AudioClock)
{
	// Audio render thread. NumSamples counts interleaved samples of all channels.
	if (AudioData == nullptr || NumChannels <= 0 || NumSamples <= 0)
	{
		return;
	}
	Core.Process(AudioData, NumSamples / NumChannels, NumChannels, SampleRate, FPlatformTime::Seconds());
}

bool FLpmSpeakSubmixTap::IsRenderingAudio() const
{
	// Keep the voice submix rendering (and the frame count running) between lines, so that
	// positions stay continuous and a line's first buffer is never missed by auto-disable.
	return true;
}

#if !UE_VERSION_OLDER_THAN(5, 4, 0)
const FString& FLpmSpeakSubmixTap::GetListenerName() const
{
	static const FString Name(TEXT("LpmNpcVoiceTap"));
	return Name;
}
#endif

bool FLpmSpeakSubmixTap::PushSpeak(const float* Interleaved, int32_t Frames, int32_t Channels, int32_t SampleRate)
{
	// The native core copies, mixes down to mono and packetises; it never blocks on the network.
	const int32 Status = Connection->PushSpeak(Session, Interleaved, static_cast<uint32>(Frames), static_cast<uint32>(Channels), static_cast<uint32>(SampleRate));
	return Status == LPM_OK;
}

void FLpmSpeakSubmixTap::EndOfSpeech()
{
	Connection->EndOfSpeech(Session);
}
