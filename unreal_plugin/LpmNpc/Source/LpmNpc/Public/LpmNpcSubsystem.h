// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "Subsystems/WorldSubsystem.h"
#include "Templates/SharedPointer.h"
#include "UObject/WeakObjectPtrTemplates.h"

#include "LpmNpcSubsystem.generated.h"

class FLpmConnection;
class ULpmNpcFaceComponent;
class ULpmPlayerVoiceComponent;

/**
 * Owns the world's connections to the runtime and pumps their events.
 *
 * Connections are pooled: the runtime allows a few sessions per client (4 by default,
 * ULpmNpcSettings::SessionsPerConnection), so faces share a connection until it is full and
 * the next face opens another. Events are polled once per frame, on the game thread, by the
 * first face that ticks, and dispatched by session handle; nothing is called from a native
 * thread. When the world goes away (level change, end of PIE, quit) Deinitialize disconnects
 * every face and voice and shuts every connection down, joining its I/O thread.
 */
UCLASS()
class LPMNPC_API ULpmNpcSubsystem : public UWorldSubsystem
{
	GENERATED_BODY()

public:
	//~ Begin USubsystem
	virtual void Deinitialize() override;
	//~ End USubsystem

	/** A connection with room for one more session, opened on demand. Null (OutError set) on failure. */
	TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> AcquireSessionSlot(FString& OutError);

	/** Gives back a slot taken with AcquireSessionSlot (the session was closed). */
	void ReleaseSessionSlot(const TSharedPtr<FLpmConnection, ESPMode::ThreadSafe>& Connection);

	void RegisterFace(ULpmNpcFaceComponent* Face);
	void UnregisterFace(ULpmNpcFaceComponent* Face);
	void RegisterVoice(ULpmPlayerVoiceComponent* Voice);
	void UnregisterVoice(ULpmPlayerVoiceComponent* Voice);

	/** Polls every connection's events and hands them to their faces. Once per frame; later calls return at once. */
	void PumpEvents();

	/** Connected faces whose owner is within Radius (cm) of Location. */
	void GetFacesInRange(const FVector& Location, float Radius, TArray<ULpmNpcFaceComponent*>& OutFaces) const;

protected:
	//~ Begin UWorldSubsystem
	virtual bool DoesSupportWorldType(const EWorldType::Type WorldType) const override;
	//~ End UWorldSubsystem

private:
	struct FPooledConnection
	{
		TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> Connection;
		int32 Sessions = 0;
	};

	TArray<FPooledConnection> Connections;
	TArray<TWeakObjectPtr<ULpmNpcFaceComponent>> Faces;
	TArray<TWeakObjectPtr<ULpmPlayerVoiceComponent>> Voices;
	uint64 LastPumpFrame = MAX_uint64;
};
