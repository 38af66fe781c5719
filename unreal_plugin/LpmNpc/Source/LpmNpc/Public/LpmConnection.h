// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "HAL/CriticalSection.h"
#include "Templates/SharedPointer.h"

#include "lpm_client.h"

/** How to reach the runtime; normally read from ULpmNpcSettings (Project Settings > Plugins). */
struct LPMNPC_API FLpmConnectionSettings
{
	FString Endpoint = TEXT("tcp://127.0.0.1:7701");
	/** Z85 CurveZMQ keys; empty ServerPublicKey = security off (loopback default). */
	FString ServerPublicKey;
	FString ClientPublicKey;
	FString ClientSecretKey;
	/** 0 = the native core's default for each (1000 ms, 3000 ms, 2000 ms, 64 frames). */
	uint32 KeepaliveMs = 0;
	uint32 TimeoutMs = 0;
	uint32 AudioQueueMs = 0;
	uint32 FrameBuffer = 0;

	/** ULpmNpcSettings, with LPM_ENDPOINT / LPM_CLIENT_SECRET_KEY from the environment winning. */
	static FLpmConnectionSettings FromProjectSettings();
};

/** What a face asks the runtime for (lpm_session_options). */
struct LPMNPC_API FLpmSessionRequest
{
	FString Character;
	FString Prompt;
	uint32 Width = 0;
	uint32 Height = 0;
	bool bJpeg = false;
	uint32 JpegQuality = 0;
	uint32 Seed = 0;
};

/**
 * One native client (lpm_client): a ZeroMQ connection to `lpm serve` with its own I/O thread.
 *
 * Every call into the C ABI goes through this class. The C ABI is thread-safe and never blocks
 * beyond one short internal mutex, so game-thread calls and audio-thread pushes may overlap;
 * this class only adds lifetime safety: Shutdown() destroys the native client (joining its I/O
 * thread) under a write lock, after which every call returns LPM_ERR_NOT_CONNECTED. Audio
 * threads use a *try* read lock, so they never wait for a shutdown in progress (their buffer is
 * dropped instead). Shutdown is explicit and game-thread only, so the native thread is never
 * joined from an audio callback, whoever drops the last reference.
 */
class LPMNPC_API FLpmConnection : public TSharedFromThis<FLpmConnection, ESPMode::ThreadSafe>
{
public:
	/** Creates the native client (it connects lazily and retries). Null with OutError on failure. */
	static TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> Create(const FLpmConnectionSettings& Settings, FString& OutError);

	~FLpmConnection();
	FLpmConnection(const FLpmConnection&) = delete;
	FLpmConnection& operator=(const FLpmConnection&) = delete;

	/** Closes the open sessions and joins the I/O thread (at most ~200 ms). Game thread. Idempotent. */
	void Shutdown();
	bool IsShutDown() const;

	// Client-wide (game thread).
	int32 PollEvent(lpm_event& OutEvent) const;
	int32 GetStats(lpm_session Session, lpm_stats& OutStats) const;
	/** LPM_NO_DATA until the runtime's list arrived (LPM_EVENT_CHARACTERS). */
	int32 GetCharacters(TArray<FString>& OutCharacters) const;
	int32 PrepareCharacter(const FString& Name, const TArray<uint8>& ImageBytes) const;

	// Sessions (game thread).
	int32 CreateSession(const FLpmSessionRequest& Request, lpm_session& OutSession) const;
	int32 CloseSession(lpm_session Session) const;
	int32 GetSessionInfo(lpm_session Session, lpm_session_info& OutInfo) const;
	int32 TimelineNow(lpm_session Session, int64& OutUs) const;
	int32 SetPrompt(lpm_session Session, const FString& Prompt) const;
	int32 TriggerEmote(lpm_session Session, const FString& Emote, float Intensity, float DurationSeconds) const;
	int32 Interrupt(lpm_session Session) const;
	int32 EndOfSpeech(lpm_session Session) const;
	/** The frame at the playhead, pixels copied into Rgba (may be null for info and curves only). */
	int32 PollFrame(lpm_session Session, int64 PlayheadUs, lpm_frame_info& OutInfo, uint8* Rgba, SIZE_T RgbaCapacity) const;

	// Audio (any thread, typically the audio render or capture thread; never waits on Shutdown).
	int32 PushSpeak(lpm_session Session, const float* Interleaved, uint32 Frames, uint32 Channels, uint32 SampleRate) const;
	int32 PushListen(lpm_session Session, const float* Interleaved, uint32 Frames, uint32 Channels, uint32 SampleRate) const;

	/** "LPM_ERR_QUEUE_FULL" etc. */
	static FString StatusName(int32 Status);
	/** Checks that the loaded library has this header's ABI version and struct layouts. */
	static bool CheckAbi(FString& OutProblem);
	/** The 61 curve names in PROTOCOL.md section 6 order (ARKit camelCase), from the library. */
	static const TArray<FName>& CurveNames();
	/** A NUL-terminated UTF-8 field of a C struct, read without overrunning its Capacity. */
	static FString FromUtf8Field(const char* Field, SIZE_T Capacity);

private:
	explicit FLpmConnection(lpm_client* InClient);

	mutable FRWLock Lock;
	lpm_client* Client = nullptr;
};
