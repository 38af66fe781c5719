// LPM NPC Faces for Unreal Engine.

#include "LpmPlayerVoiceComponent.h"

#include "Engine/World.h"
#include "GameFramework/Actor.h"
#include "HAL/PlatformTime.h"
#include "LpmNpcFaceComponent.h"
#include "LpmNpcLog.h"
#include "LpmNpcSubsystem.h"
#include "LpmVoiceCapture.h"

ULpmPlayerVoiceComponent::ULpmPlayerVoiceComponent()
{
	PrimaryComponentTick.bCanEverTick = true;
}

void ULpmPlayerVoiceComponent::BeginPlay()
{
	Super::BeginPlay();
	if (ULpmNpcSubsystem* Subsystem = GetSubsystem())
	{
		Subsystem->RegisterVoice(this);
	}
	if (bAutoStart)
	{
		StartCapture();
	}
}

void ULpmPlayerVoiceComponent::EndPlay(const EEndPlayReason::Type EndPlayReason)
{
	StopCapture();
	if (ULpmNpcSubsystem* Subsystem = GetSubsystem())
	{
		Subsystem->UnregisterVoice(this);
	}
	Super::EndPlay(EndPlayReason);
}

bool ULpmPlayerVoiceComponent::StartCapture()
{
	if (Capture.IsValid())
	{
		return true;
	}
	TSharedPtr<FLpmVoiceCapture, ESPMode::ThreadSafe> NewCapture = MakeShared<FLpmVoiceCapture, ESPMode::ThreadSafe>();
	NewCapture->SetMuted(bMuted);
	FString Error;
	if (!NewCapture->Start(DeviceIndex, Error))
	{
		UE_LOG(LogLpmNpc, Warning, TEXT("LPM NPC: %s: player voice not captured: %s."), *GetNameSafe(GetOwner()), *Error);
		return false;
	}
	Capture = NewCapture;
	RefreshListeners();
	return true;
}

void ULpmPlayerVoiceComponent::StopCapture()
{
	if (Capture.IsValid())
	{
		Capture->Stop();
		Capture.Reset();
	}
	ListenerCount = 0;
}

bool ULpmPlayerVoiceComponent::IsCapturing() const
{
	return Capture.IsValid() && Capture->IsCapturing();
}

void ULpmPlayerVoiceComponent::SetMuted(bool bInMuted)
{
	bMuted = bInMuted;
	if (Capture.IsValid())
	{
		Capture->SetMuted(bInMuted);
	}
}

void ULpmPlayerVoiceComponent::TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction)
{
	Super::TickComponent(DeltaTime, TickType, ThisTickFunction);
	// Who is in range changes slowly; 5 times a second is plenty.
	const double Now = FPlatformTime::Seconds();
	if (Capture.IsValid() && Now - LastRefreshSeconds >= 0.2)
	{
		LastRefreshSeconds = Now;
		RefreshListeners();
	}
}

void ULpmPlayerVoiceComponent::RefreshListeners()
{
	ULpmNpcSubsystem* Subsystem = GetSubsystem();
	const AActor* Owner = GetOwner();
	if (!Capture.IsValid() || Subsystem == nullptr || Owner == nullptr)
	{
		return;
	}
	TArray<ULpmNpcFaceComponent*> Faces;
	Subsystem->GetFacesInRange(Owner->GetActorLocation(), HearingRadius, Faces);
	TArray<FLpmListenTarget> Targets;
	Targets.Reserve(Faces.Num());
	for (const ULpmNpcFaceComponent* Face : Faces)
	{
		FLpmListenTarget& Target = Targets.AddDefaulted_GetRef();
		Target.Connection = Face->GetConnection();
		Target.Session = Face->GetSession();
	}
	ListenerCount = Targets.Num();
	Capture->SetTargets(MoveTemp(Targets));
}

ULpmNpcSubsystem* ULpmPlayerVoiceComponent::GetSubsystem() const
{
	const UWorld* World = GetWorld();
	return World != nullptr ? World->GetSubsystem<ULpmNpcSubsystem>() : nullptr;
}
