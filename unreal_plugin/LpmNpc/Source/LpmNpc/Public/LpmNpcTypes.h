// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"

#include "LpmNpcTypes.generated.h"

/** Where a face's session stands. */
UENUM(BlueprintType)
enum class ELpmConnectionState : uint8
{
	/** No session: not connected yet, or Disconnect was called. */
	Disconnected,
	/** Session requested; the runtime has not answered yet. */
	Connecting,
	/** Session ready: frames flow. */
	Connected,
	/** The connection was lost; the native core reconnects and resumes (or re-creates) the session. */
	Reconnecting,
	/** The runtime refused the session (unknown character, too many sessions, ...): see OnError. */
	Failed
};

/** Pixel encoding on the wire: raw RGBA for a local runtime, JPEG (+ alpha JPEG) for a remote one. */
UENUM(BlueprintType)
enum class ELpmFrameEncoding : uint8
{
	Rgba8,
	Jpeg
};

/** What the NPC is doing in the frame shown (PROTOCOL.md section 7). */
UENUM(BlueprintType)
enum class ELpmNpcState : uint8
{
	Idle,
	Speaking,
	Listening,
	/** Speaking and listening at once (overlap or barge-in). */
	Both
};

/** Live status of a face, for debugging UI and the editor preview. */
USTRUCT(BlueprintType)
struct LPMNPC_API FLpmFaceStatus
{
	GENERATED_BODY()

	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	ELpmConnectionState Connection = ELpmConnectionState::Disconnected;

	/** The runtime's session id, e.g. "s1-3f2a9c01". */
	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	FString SessionId;

	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	FString Character;

	/** Frames received per second over the last 2 s. */
	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	float FramesPerSecond = 0.0f;

	/** L: the voice is heard this long after it is sent. */
	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	float LatencyMs = 0.0f;

	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	float RoundTripMs = 0.0f;

	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	int64 FramesReceived = 0;

	/** Index gaps plus frames overwritten before any playhead reached them. */
	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	int64 FramesDropped = 0;

	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	int64 AudioDroppedMs = 0;

	/** True while the frame shown is chosen from the voice's playback position (a line plays). */
	UPROPERTY(BlueprintReadOnly, Category = "LPM")
	bool bPlayheadFollowsAudio = false;
};
