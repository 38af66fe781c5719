// LPM NPC Faces for Unreal Engine.

#include "LpmNpcFaceComponent.h"

#include "Components/AudioComponent.h"
#include "Components/PrimitiveComponent.h"
#include "Engine/Texture2D.h"
#include "Engine/World.h"
#include "GameFramework/Actor.h"
#include "HAL/PlatformTime.h"
#include "LpmConnection.h"
#include "LpmCurveMapping.h"
#include "LpmFaceTexture.h"
#include "LpmNpcLog.h"
#include "LpmNpcSettings.h"
#include "LpmNpcSubsystem.h"
#include "LpmSpeakSubmixTap.h"
#include "Materials/MaterialInstanceDynamic.h"
#include "Sound/SoundBase.h"
#include "Sound/SoundSubmix.h"
#include "SubmixEffects/SubmixEffectDelay.h"
#include "Sync/LpmPlaybackClock.h"

static_assert(FLpmPlaybackClock::Auto == LPM_PLAYHEAD_AUTO, "the clock's Auto must be the C ABI's LPM_PLAYHEAD_AUTO");

namespace LpmFacePrivate
{
	ELpmNpcState ToNpcState(int32 State)
	{
		switch (State)
		{
		case LPM_STATE_SPEAK:
			return ELpmNpcState::Speaking;
		case LPM_STATE_LISTEN:
			return ELpmNpcState::Listening;
		case LPM_STATE_BOTH:
			return ELpmNpcState::Both;
		default:
			return ELpmNpcState::Idle;
		}
	}

	/** The owner's component called Name, or with Name None the first one Accept approves. */
	template <typename ComponentType, typename PredicateType>
	ComponentType* FindOwnedComponent(const AActor* Owner, FName Name, PredicateType Accept)
	{
		if (Owner == nullptr)
		{
			return nullptr;
		}
		TArray<ComponentType*> Candidates;
		Owner->GetComponents<ComponentType>(Candidates);
		for (ComponentType* Candidate : Candidates)
		{
			if (Name.IsNone() ? Accept(Candidate) : Candidate->GetFName() == Name)
			{
				return Candidate;
			}
		}
		return nullptr;
	}
} // namespace LpmFacePrivate

ULpmNpcFaceComponent::ULpmNpcFaceComponent()
{
	PrimaryComponentTick.bCanEverTick = true;
	// Poll after the frame's gameplay so that this frame's voice changes are taken into account.
	PrimaryComponentTick.TickGroup = TG_PostUpdateWork;
	Playhead = MakeShared<FLpmPlayhead>();
	Curves.Init(0.0f, LPM_NUM_CURVES);
}

void ULpmNpcFaceComponent::BeginPlay()
{
	Super::BeginPlay();
	ResolveComponents();
	if (ULpmNpcSubsystem* Subsystem = GetSubsystem())
	{
		Subsystem->RegisterFace(this);
	}
	if (bAutoConnect)
	{
		Connect();
	}
}

void ULpmNpcFaceComponent::EndPlay(const EEndPlayReason::Type EndPlayReason)
{
	// Level change, PIE stop, destroyed actor, quit: the voice tap is unregistered and the session
	// closed before the component goes; the subsystem joins the native thread with the world.
	Disconnect();
	if (ULpmNpcSubsystem* Subsystem = GetSubsystem())
	{
		Subsystem->UnregisterFace(this);
	}
	PendingPixels.Reset();
	PendingPixelsBytes = 0;
	Super::EndPlay(EndPlayReason);
}

void ULpmNpcFaceComponent::Connect()
{
	if (Connection.IsValid())
	{
		return;
	}
	ULpmNpcSubsystem* Subsystem = GetSubsystem();
	if (Subsystem == nullptr)
	{
		ReportError(LPM_ERR_NOT_READY, TEXT("LPM NPC faces run in game and Play In Editor worlds only"));
		return;
	}

	FString Error;
	Connection = Subsystem->AcquireSessionSlot(Error);
	if (!Connection.IsValid())
	{
		SetConnectionState(ELpmConnectionState::Failed);
		ReportError(LPM_ERR_NOT_CONNECTED, Error);
		return;
	}

	const ULpmNpcSettings* Settings = GetDefault<ULpmNpcSettings>();
	FLpmSessionRequest Request;
	Request.Character = Character.IsEmpty() ? Settings->DefaultCharacter : Character;
	Request.Prompt = Prompt;
	Request.Width = static_cast<uint32>(FMath::Max(0, OutputSize.X > 0 ? OutputSize.X : Settings->DefaultWidth));
	Request.Height = static_cast<uint32>(FMath::Max(0, OutputSize.Y > 0 ? OutputSize.Y : Settings->DefaultHeight));
	Request.bJpeg = Settings->Encoding == ELpmFrameEncoding::Jpeg;
	Request.JpegQuality = static_cast<uint32>(FMath::Clamp(Settings->JpegQuality, 1, 100));
	Request.Seed = static_cast<uint32>(FMath::Max(0, Seed));

	lpm_session NewSession = 0;
	const int32 Status = Connection->CreateSession(Request, NewSession);
	if (Status != LPM_OK)
	{
		Subsystem->ReleaseSessionSlot(Connection);
		Connection.Reset();
		SetConnectionState(ELpmConnectionState::Failed);
		ReportError(Status, FString::Printf(TEXT("cannot create a session: %s"), *FLpmConnection::StatusName(Status)));
		return;
	}

	Session = NewSession;
	bSessionReady = false;
	Playhead->Reset();
	SetConnectionState(ELpmConnectionState::Connecting);
	// Audio sent before the runtime answers is queued (bounded) by the native core.
	StartVoiceTap();
}

void ULpmNpcFaceComponent::Disconnect()
{
	StopVoiceTap();
	if (Connection.IsValid())
	{
		if (Session != 0)
		{
			Connection->CloseSession(Session);
		}
		if (ULpmNpcSubsystem* Subsystem = GetSubsystem())
		{
			Subsystem->ReleaseSessionSlot(Connection);
		}
	}
	Connection.Reset();
	Session = 0;
	bSessionReady = false;
	bPlayheadFollowsAudio = false;
	Playhead->Reset();
	SetShownState(ELpmNpcState::Idle);
	SetConnectionState(ELpmConnectionState::Disconnected);
}

void ULpmNpcFaceComponent::SetPrompt(const FString& NewPrompt)
{
	Prompt = NewPrompt;
	if (Connection.IsValid() && Session != 0)
	{
		const int32 Status = Connection->SetPrompt(Session, Prompt);
		if (Status != LPM_OK)
		{
			ReportError(Status, FString::Printf(TEXT("prompt refused: %s"), *FLpmConnection::StatusName(Status)));
		}
	}
}

void ULpmNpcFaceComponent::TriggerEmote(const FString& Emote, float Intensity, float DurationSeconds)
{
	if (!Connection.IsValid() || Session == 0)
	{
		UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: %s: emote '%s' ignored, not connected."), *GetNameSafe(GetOwner()), *Emote);
		return;
	}
	const int32 Status = Connection->TriggerEmote(Session, Emote, FMath::Clamp(Intensity, 0.0f, 1.0f), FMath::Clamp(DurationSeconds, 0.1f, 60.0f));
	if (Status != LPM_OK)
	{
		ReportError(Status, FString::Printf(TEXT("emote refused: %s"), *FLpmConnection::StatusName(Status)));
	}
}

void ULpmNpcFaceComponent::Speak(USoundBase* Line)
{
	if (VoiceAudio == nullptr || Line == nullptr)
	{
		UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: %s: Speak needs a voice audio component and a sound."), *GetNameSafe(GetOwner()));
		return;
	}
	VoiceAudio->SetSound(Line);
	VoiceAudio->Play(0.0f);
}

void ULpmNpcFaceComponent::StopSpeaking()
{
	if (VoiceAudio != nullptr)
	{
		VoiceAudio->Stop();
	}
	if (SpeakTap.IsValid())
	{
		SpeakTap->EndLine();
	}
	if (Connection.IsValid() && Session != 0)
	{
		Connection->Interrupt(Session);
	}
}

void ULpmNpcFaceComponent::SetFaceMesh(UPrimitiveComponent* Mesh, int32 Slot)
{
	FaceMesh = Mesh;
	MaterialSlot = FMath::Max(0, Slot);
	FaceMaterial = nullptr;
	if (FaceTexture != nullptr && FaceMesh != nullptr)
	{
		FaceMaterial = FaceMesh->CreateDynamicMaterialInstance(MaterialSlot, nullptr, NAME_None);
		if (FaceMaterial != nullptr)
		{
			FaceMaterial->SetTextureParameterValue(TextureParameterName, FaceTexture);
		}
	}
}

void ULpmNpcFaceComponent::SetVoiceAudio(UAudioComponent* Audio)
{
	VoiceAudio = Audio;
}

TMap<FName, float> ULpmNpcFaceComponent::GetArkitCurves() const
{
	TMap<FName, float> Result;
	const TArray<FName>& Names = FLpmConnection::CurveNames();
	const int32 Count = FMath::Min(Names.Num(), Curves.Num());
	Result.Reserve(Count);
	for (int32 Index = 0; Index < Count; ++Index)
	{
		Result.Add(Names[Index], Curves[Index]);
	}
	return Result;
}

TMap<FName, float> ULpmNpcFaceComponent::GetMappedCurves() const
{
	TMap<FName, float> Result;
	if (CurveMapping != nullptr)
	{
		CurveMapping->Apply(Curves, Result);
	}
	else
	{
		ULpmCurveMapping::ApplyDefault(Curves, Result);
	}
	return Result;
}

FLpmFaceStatus ULpmNpcFaceComponent::GetStatus() const
{
	FLpmFaceStatus Status;
	Status.Connection = ConnectionState;
	Status.SessionId = SessionId;
	Status.Character = SessionCharacter;
	Status.LatencyMs = static_cast<float>(LatencyUs) / 1000.0f;
	Status.bPlayheadFollowsAudio = bPlayheadFollowsAudio;
	lpm_stats Stats = {};
	if (Connection.IsValid() && Session != 0 && Connection->GetStats(Session, Stats) == LPM_OK)
	{
		Status.FramesPerSecond = Stats.fps;
		Status.RoundTripMs = Stats.rtt_ms;
		Status.FramesReceived = static_cast<int64>(Stats.frames_received);
		Status.FramesDropped = static_cast<int64>(Stats.frames_dropped);
		Status.AudioDroppedMs = static_cast<int64>(Stats.audio_dropped_ms);
	}
	return Status;
}

void ULpmNpcFaceComponent::TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction)
{
	Super::TickComponent(DeltaTime, TickType, ThisTickFunction);
	if (ULpmNpcSubsystem* Subsystem = GetSubsystem())
	{
		Subsystem->PumpEvents(); // once per frame, whichever face ticks first
	}
	if (Connection.IsValid() && bSessionReady)
	{
		PresentFrame();
	}
}

void ULpmNpcFaceComponent::HandleLpmEvent(const lpm_event& Event)
{
	const FString Name = FLpmConnection::FromUtf8Field(Event.name, sizeof(Event.name));
	const FString Text = FLpmConnection::FromUtf8Field(Event.text, sizeof(Event.text));
	switch (Event.type)
	{
	case LPM_EVENT_CONNECTED:
		// After a loss, SESSION_RESUMED follows and sets Connected.
		UE_LOG(LogLpmNpc, Verbose, TEXT("LPM NPC: %s: runtime answered (reconnects so far: %lld)."), *GetNameSafe(GetOwner()), static_cast<long long>(Event.value));
		break;
	case LPM_EVENT_DISCONNECTED:
	case LPM_EVENT_SHUTDOWN:
		UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: %s: connection lost (%s); reconnecting."), *GetNameSafe(GetOwner()), *Text);
		if (ConnectionState == ELpmConnectionState::Connected || ConnectionState == ELpmConnectionState::Connecting)
		{
			SetConnectionState(ELpmConnectionState::Reconnecting);
		}
		break;
	case LPM_EVENT_SESSION_READY:
		OnSessionReady(/*bRecreated=*/false);
		break;
	case LPM_EVENT_SESSION_RESUMED:
		// value 1: the runtime had forgotten the session and it was created again: new timeline.
		OnSessionReady(/*bRecreated=*/Event.value == 1);
		break;
	case LPM_EVENT_SESSION_CLOSED:
		UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: %s: session closed by the runtime (%s); it is created again."), *GetNameSafe(GetOwner()), *Text);
		SetConnectionState(ELpmConnectionState::Reconnecting);
		break;
	case LPM_EVENT_SPEAK_SCHEDULED:
		if (SpeakTap.IsValid())
		{
			SpeakTap->GetClock().OnSpeakScheduled(Event.pts_us);
		}
		break;
	case LPM_EVENT_LATE:
		UE_LOG(LogLpmNpc, Verbose, TEXT("LPM NPC: %s: the runtime is late (%lld late chunks)."), *GetNameSafe(GetOwner()), static_cast<long long>(Event.value));
		break;
	case LPM_EVENT_ERROR:
		if (Event.session == Session && !bSessionReady)
		{
			// The runtime refused the session for good (unknown character, too many sessions).
			SetConnectionState(ELpmConnectionState::Failed);
		}
		ReportError(Event.code, FString::Printf(TEXT("%s: %s"), *Name, *Text));
		break;
	default:
		break; // characters lists and prepared characters are the editor's business
	}
}

void ULpmNpcFaceComponent::OnSessionReady(bool bRecreated)
{
	if (!Connection.IsValid())
	{
		return;
	}
	lpm_session_info Info = {};
	const int32 Status = Connection->GetSessionInfo(Session, Info);
	if (Status != LPM_OK)
	{
		ReportError(Status, FString::Printf(TEXT("session info unavailable: %s"), *FLpmConnection::StatusName(Status)));
		return;
	}
	LatencyUs = Info.latency_us;
	FrameWidth = static_cast<int32>(Info.width);
	FrameHeight = static_cast<int32>(Info.height);
	SessionId = FLpmConnection::FromUtf8Field(Info.session_id, sizeof(Info.session_id));
	SessionCharacter = FLpmConnection::FromUtf8Field(Info.character, sizeof(Info.character));
	bSessionReady = true;

	if (bRecreated)
	{
		// The session's timeline restarted at 0: forget anchors and the last playhead.
		if (SpeakTap.IsValid())
		{
			SpeakTap->GetClock().Reset();
		}
		Playhead->Reset();
	}

	if (VoiceDelay != nullptr)
	{
		const float DelayMs = static_cast<float>(LatencyUs) / 1000.0f;
		if (DelayMs > VoiceDelay->GetMaxDelayInMilliseconds())
		{
			UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: latency %.0f ms exceeds the voice delay's maximum (%.0f ms); raise Maximum Delay Length."), DelayMs, VoiceDelay->GetMaxDelayInMilliseconds());
		}
		VoiceDelay->SetDelay(DelayMs);
	}
	else if (SpeakTap.IsValid() && !bWarnedUndelayedVoice)
	{
		bWarnedUndelayedVoice = true;
		UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: %s: the voice is not delayed by the session latency (%lld ms): the face will trail it. Set Voice Delay (README, \"Voice\")."),
			*GetNameSafe(GetOwner()), static_cast<long long>(LatencyUs / 1000));
	}

	EnsureTexture(FrameWidth, FrameHeight);
	UE_LOG(LogLpmNpc, Log, TEXT("LPM NPC: %s: session %s (%s) %s, %dx%d, L = %lld ms."), *GetNameSafe(GetOwner()), *SessionId, *SessionCharacter,
		bRecreated ? TEXT("re-created") : TEXT("ready"), FrameWidth, FrameHeight, static_cast<long long>(LatencyUs / 1000));
	SetConnectionState(ELpmConnectionState::Connected);
}

void ULpmNpcFaceComponent::PresentFrame()
{
	const ULpmNpcSettings* Settings = GetDefault<ULpmNpcSettings>();
	const double Now = FPlatformTime::Seconds();
	if (Settings->MaxTextureUpdatesPerSecond > 0 && Now - LastUploadSeconds < 1.0 / Settings->MaxTextureUpdatesPerSecond)
	{
		return;
	}
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

	const int64 PlayheadUs = ResolvePlayheadUs();
	lpm_frame_info Info = {};
	const int32 Status = Connection->PollFrame(Session, PlayheadUs, Info, PendingPixels.Get(), PendingPixelsBytes);
	if (Status == LPM_ERR_BUFFER_TOO_SMALL)
	{
		// The session was re-created with another size: read it again, resize next frame.
		OnSessionReady(/*bRecreated=*/false);
		return;
	}
	if (Status != LPM_OK)
	{
		return; // LPM_NO_DATA: the frame at the playhead is the one already shown
	}

	FMemory::Memcpy(Curves.GetData(), Info.curves, sizeof(Info.curves));
	SetShownState(LpmFacePrivate::ToNpcState(Info.state));
	UploadPixels(static_cast<int32>(Info.width), static_cast<int32>(Info.height));
	LastUploadSeconds = Now;
}

int64 ULpmNpcFaceComponent::ResolvePlayheadUs()
{
	// The client's estimate: the sample heard now was sent L ago (PROTOCOL.md section 4).
	int64 EstimateUs = FLpmPlaybackClock::Auto;
	int64 TimelineNowUs = 0;
	if (Connection->TimelineNow(Session, TimelineNowUs) == LPM_OK)
	{
		EstimateUs = TimelineNowUs - LatencyUs;
	}

	// While a line plays: the position of the sample being heard, through the voice tap.
	int64 MappedUs = FLpmPlaybackClock::Auto;
	if (SpeakTap.IsValid())
	{
		const int64 Rate = SpeakTap->GetSampleRate();
		const int64 RouteDelayUs = (VoiceDelay != nullptr ? LatencyUs : 0) + static_cast<int64>(ExtraOutputLatencyMs * 1000.0f);
		const int64 DelayFrames = RouteDelayUs * Rate / 1000000 + SpeakTap->GetDeviceBufferFrames();
		const int64 HeardFrame = SpeakTap->GetCore().HeardFrame(FPlatformTime::Seconds(), DelayFrames);
		MappedUs = SpeakTap->GetClock().PlayheadUs(HeardFrame);
	}
	bPlayheadFollowsAudio = MappedUs != FLpmPlaybackClock::Auto;
	return Playhead->Resolve(MappedUs, EstimateUs);
}

void ULpmNpcFaceComponent::UploadPixels(int32 Width, int32 Height)
{
	EnsureTexture(Width, Height);
	if (LpmFaceTexture::Upload(FaceTexture, PendingPixels, Width, Height))
	{
		PendingPixelsBytes = 0; // handed to the render thread; a new buffer is made next frame
	}
	// Otherwise the texture has no render resource yet: the pixels wait for the next frame.
}

void ULpmNpcFaceComponent::EnsureTexture(int32 Width, int32 Height)
{
	if (Width <= 0 || Height <= 0)
	{
		return;
	}
	if (FaceTexture != nullptr && FaceTexture->GetSizeX() == Width && FaceTexture->GetSizeY() == Height)
	{
		return;
	}
	UTexture2D* Texture = LpmFaceTexture::Create(Width, Height);
	if (Texture == nullptr)
	{
		ReportError(LPM_ERR_INTERNAL, FString::Printf(TEXT("cannot create a %dx%d face texture"), Width, Height));
		return;
	}
	FaceTexture = Texture;

	if (FaceMaterial == nullptr && FaceMesh != nullptr)
	{
		FaceMaterial = FaceMesh->CreateDynamicMaterialInstance(MaterialSlot, nullptr, NAME_None);
	}
	if (FaceMaterial != nullptr)
	{
		FaceMaterial->SetTextureParameterValue(TextureParameterName, FaceTexture);
	}
}

void ULpmNpcFaceComponent::ResolveComponents()
{
	const AActor* Owner = GetOwner();
	if (VoiceAudio == nullptr)
	{
		VoiceAudio = LpmFacePrivate::FindOwnedComponent<UAudioComponent>(Owner, VoiceComponentName, [](const UAudioComponent*) { return true; });
	}
	if (FaceMesh == nullptr)
	{
		// A character's first primitive is usually its collision capsule: take one with materials.
		FaceMesh = LpmFacePrivate::FindOwnedComponent<UPrimitiveComponent>(Owner, FaceMeshComponentName,
			[](const UPrimitiveComponent* Candidate) { return Candidate->GetNumMaterials() > 0; });
	}
	if (FaceMesh == nullptr)
	{
		UE_LOG(LogLpmNpc, Log, TEXT("LPM NPC: %s: no face mesh; use GetFaceTexture (UMG) or SetFaceMesh."), *GetNameSafe(Owner));
	}
}

void ULpmNpcFaceComponent::StartVoiceTap()
{
	if (VoiceSubmix == nullptr)
	{
		UE_LOG(LogLpmNpc, Log, TEXT("LPM NPC: %s: no Voice Submix; the face idles and listens, but speech cannot drive it."), *GetNameSafe(GetOwner()));
		return;
	}
	UWorld* World = GetWorld();
	if (World == nullptr || SpeakTap.IsValid())
	{
		return;
	}
	const ULpmNpcSettings* Settings = GetDefault<ULpmNpcSettings>();
	SpeakTap = FLpmSpeakSubmixTap::Register(*World, *VoiceSubmix, Settings->VoiceGateLevel, Settings->VoiceHangoverSeconds);
	if (SpeakTap.IsValid())
	{
		SpeakTap->Attach(Connection, Session);
	}
}

void ULpmNpcFaceComponent::StopVoiceTap()
{
	FLpmSpeakSubmixTap::Unregister(SpeakTap);
}

void ULpmNpcFaceComponent::SetConnectionState(ELpmConnectionState NewState)
{
	if (ConnectionState == NewState)
	{
		return;
	}
	ConnectionState = NewState;
	OnConnectionChanged.Broadcast(NewState);
}

void ULpmNpcFaceComponent::SetShownState(ELpmNpcState NewState)
{
	const bool bWasSpeaking = IsSpeaking();
	ShownState = NewState;
	const bool bNowSpeaking = IsSpeaking();
	if (!bWasSpeaking && bNowSpeaking)
	{
		OnStartedSpeaking.Broadcast();
	}
	else if (bWasSpeaking && !bNowSpeaking)
	{
		OnStoppedSpeaking.Broadcast();
	}
}

void ULpmNpcFaceComponent::ReportError(int32 Code, const FString& Message)
{
	UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: %s: %s (code %d)."), *GetNameSafe(GetOwner()), *Message, Code);
	OnError.Broadcast(Code, Message);
}

ULpmNpcSubsystem* ULpmNpcFaceComponent::GetSubsystem() const
{
	const UWorld* World = GetWorld();
	return World != nullptr ? World->GetSubsystem<ULpmNpcSubsystem>() : nullptr;
}
