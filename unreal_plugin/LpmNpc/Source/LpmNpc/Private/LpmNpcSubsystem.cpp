// LPM NPC Faces for Unreal Engine.

#include "LpmNpcSubsystem.h"

#include "CoreGlobals.h"
#include "GameFramework/Actor.h"
#include "LpmConnection.h"
#include "LpmNpcFaceComponent.h"
#include "LpmNpcLog.h"
#include "LpmNpcModule.h"
#include "LpmNpcSettings.h"
#include "LpmPlayerVoiceComponent.h"

void ULpmNpcSubsystem::Deinitialize()
{
	// Faces and voices normally let go in EndPlay; whatever is still attached lets go here,
	// before the native threads are joined. Copies: a handler may unregister while we iterate.
	const TArray<TWeakObjectPtr<ULpmPlayerVoiceComponent>> VoicesNow = Voices;
	for (const TWeakObjectPtr<ULpmPlayerVoiceComponent>& Voice : VoicesNow)
	{
		if (ULpmPlayerVoiceComponent* VoicePtr = Voice.Get())
		{
			VoicePtr->StopCapture();
		}
	}
	const TArray<TWeakObjectPtr<ULpmNpcFaceComponent>> FacesNow = Faces;
	for (const TWeakObjectPtr<ULpmNpcFaceComponent>& Face : FacesNow)
	{
		if (ULpmNpcFaceComponent* FacePtr = Face.Get())
		{
			FacePtr->Disconnect();
		}
	}
	for (FPooledConnection& Pooled : Connections)
	{
		Pooled.Connection->Shutdown();
	}
	Connections.Reset();
	Faces.Reset();
	Voices.Reset();
	Super::Deinitialize();
}

bool ULpmNpcSubsystem::DoesSupportWorldType(const EWorldType::Type WorldType) const
{
	// Games and Play In Editor; the editor preview tab keeps its own connection.
	return WorldType == EWorldType::Game || WorldType == EWorldType::PIE;
}

TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> ULpmNpcSubsystem::AcquireSessionSlot(FString& OutError)
{
	if (!FLpmNpcModule::IsNativeCoreReady())
	{
		OutError = TEXT("the native client core is not loaded (see the log at startup)");
		return nullptr;
	}
	const int32 PerConnection = FMath::Max(1, GetDefault<ULpmNpcSettings>()->SessionsPerConnection);
	for (FPooledConnection& Pooled : Connections)
	{
		if (Pooled.Sessions < PerConnection)
		{
			++Pooled.Sessions;
			return Pooled.Connection;
		}
	}
	TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> Created = FLpmConnection::Create(FLpmConnectionSettings::FromProjectSettings(), OutError);
	if (!Created.IsValid())
	{
		return nullptr;
	}
	FPooledConnection& Pooled = Connections.AddDefaulted_GetRef();
	Pooled.Connection = Created;
	Pooled.Sessions = 1;
	return Created;
}

void ULpmNpcSubsystem::ReleaseSessionSlot(const TSharedPtr<FLpmConnection, ESPMode::ThreadSafe>& Connection)
{
	for (FPooledConnection& Pooled : Connections)
	{
		if (Pooled.Connection == Connection)
		{
			// The connection stays open for the next NPC: reconnecting costs a handshake.
			Pooled.Sessions = FMath::Max(0, Pooled.Sessions - 1);
			return;
		}
	}
}

void ULpmNpcSubsystem::RegisterFace(ULpmNpcFaceComponent* Face)
{
	Faces.AddUnique(Face);
}

void ULpmNpcSubsystem::UnregisterFace(ULpmNpcFaceComponent* Face)
{
	Faces.Remove(Face);
}

void ULpmNpcSubsystem::RegisterVoice(ULpmPlayerVoiceComponent* Voice)
{
	Voices.AddUnique(Voice);
}

void ULpmNpcSubsystem::UnregisterVoice(ULpmPlayerVoiceComponent* Voice)
{
	Voices.Remove(Voice);
}

void ULpmNpcSubsystem::PumpEvents()
{
	if (LastPumpFrame == GFrameCounter)
	{
		return;
	}
	LastPumpFrame = GFrameCounter;

	// Collect first, then dispatch: a handler (a Blueprint bound to OnError, say) may connect,
	// disconnect or destroy faces, which changes the arrays iterated here.
	struct FPendingEvent
	{
		TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> Connection;
		lpm_event Event;
	};
	TArray<FPendingEvent> Pending;
	// Bounded per frame: a burst of events never stalls the game thread.
	constexpr int32 MaxEventsPerConnection = 256;
	for (const FPooledConnection& Pooled : Connections)
	{
		for (int32 Count = 0; Count < MaxEventsPerConnection; ++Count)
		{
			FPendingEvent& Next = Pending.AddDefaulted_GetRef();
			FMemory::Memzero(Next.Event);
			if (Pooled.Connection->PollEvent(Next.Event) != LPM_OK)
			{
				Pending.Pop();
				break;
			}
			Next.Connection = Pooled.Connection;
		}
	}

	const TArray<TWeakObjectPtr<ULpmNpcFaceComponent>> FacesNow = Faces;
	for (const FPendingEvent& Item : Pending)
	{
		for (const TWeakObjectPtr<ULpmNpcFaceComponent>& Face : FacesNow)
		{
			ULpmNpcFaceComponent* FacePtr = Face.Get();
			if (FacePtr == nullptr || FacePtr->GetConnection() != Item.Connection)
			{
				continue;
			}
			// Client-wide events (session 0) go to every face on the connection.
			if (Item.Event.session == 0 || Item.Event.session == FacePtr->GetSession())
			{
				FacePtr->HandleLpmEvent(Item.Event);
			}
		}
	}
}

void ULpmNpcSubsystem::GetFacesInRange(const FVector& Location, float Radius, TArray<ULpmNpcFaceComponent*>& OutFaces) const
{
	OutFaces.Reset();
	const double RadiusSquared = static_cast<double>(Radius) * Radius;
	for (const TWeakObjectPtr<ULpmNpcFaceComponent>& Face : Faces)
	{
		ULpmNpcFaceComponent* FacePtr = Face.Get();
		const AActor* Owner = FacePtr != nullptr ? FacePtr->GetOwner() : nullptr;
		if (Owner == nullptr || FacePtr->GetConnectionState() != ELpmConnectionState::Connected)
		{
			continue;
		}
		if (FVector::DistSquared(Owner->GetActorLocation(), Location) <= RadiusSquared)
		{
			OutFaces.Add(FacePtr);
		}
	}
}
