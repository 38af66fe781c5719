// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "Engine/DeveloperSettings.h"
#include "LpmNpcTypes.h"

#include "LpmNpcSettings.generated.h"

/**
 * Project Settings > Plugins > LPM NPC: where the runtime is and what a session asks for by
 * default. Saved in Config/DefaultGame.ini. Secrets can stay out of the config: the
 * LPM_CLIENT_SECRET_KEY environment variable (and LPM_ENDPOINT) win over the values here.
 */
UCLASS(config = Game, defaultconfig, meta = (DisplayName = "LPM NPC"))
class LPMNPC_API ULpmNpcSettings : public UDeveloperSettings
{
	GENERATED_BODY()

public:
	ULpmNpcSettings();

	//~ Begin UDeveloperSettings
	virtual FName GetCategoryName() const override;
#if WITH_EDITOR
	virtual FText GetSectionText() const override;
#endif
	//~ End UDeveloperSettings

	/** ZeroMQ endpoint of `lpm serve` (base port + 1). */
	UPROPERTY(config, EditAnywhere, Category = "Connection")
	FString Endpoint = TEXT("tcp://127.0.0.1:7701");

	/** Ping interval in ms; 0 = 1000. */
	UPROPERTY(config, EditAnywhere, Category = "Connection", AdvancedDisplay, meta = (ClampMin = "0"))
	int32 KeepaliveMs = 0;

	/** No answer this long = disconnected (then the client reconnects); 0 = 3000. Must exceed the keep-alive. */
	UPROPERTY(config, EditAnywhere, Category = "Connection", AdvancedDisplay, meta = (ClampMin = "0"))
	int32 TimeoutMs = 0;

	/** Bound on queued audio per session and stream, ms; 0 = 2000. */
	UPROPERTY(config, EditAnywhere, Category = "Connection", AdvancedDisplay, meta = (ClampMin = "0"))
	int32 AudioQueueMs = 0;

	/** Frames kept per session for the playhead; 0 = 64 (2.5 s at 25 fps). */
	UPROPERTY(config, EditAnywhere, Category = "Connection", AdvancedDisplay, meta = (ClampMin = "0", ClampMax = "4096"))
	int32 FrameBuffer = 0;

	/** Sessions per connection: the runtime allows 4 per client, more NPCs open more connections. */
	UPROPERTY(config, EditAnywhere, Category = "Connection", AdvancedDisplay, meta = (ClampMin = "1", ClampMax = "16"))
	int32 SessionsPerConnection = 4;

	/** The server's CurveZMQ public key (Z85, 40 characters). Empty = security off. */
	UPROPERTY(config, EditAnywhere, Category = "Security")
	FString ServerPublicKey;

	/** This game's CurveZMQ public key (Z85). Required when ServerPublicKey is set. */
	UPROPERTY(config, EditAnywhere, Category = "Security")
	FString ClientPublicKey;

	/** This game's CurveZMQ secret key (Z85). Prefer the LPM_CLIENT_SECRET_KEY environment variable. */
	UPROPERTY(config, EditAnywhere, Category = "Security", meta = (PasswordField = true))
	FString ClientSecretKey;

	/** Character id used when a face names none (empty = the runtime's default). */
	UPROPERTY(config, EditAnywhere, Category = "Session Defaults")
	FString DefaultCharacter;

	/** Frame width in pixels (16..2048); 0 = the runtime's setting (256). */
	UPROPERTY(config, EditAnywhere, Category = "Session Defaults", meta = (ClampMin = "0", ClampMax = "2048"))
	int32 DefaultWidth = 0;

	/** Frame height in pixels (16..2048); 0 = the runtime's setting (256). */
	UPROPERTY(config, EditAnywhere, Category = "Session Defaults", meta = (ClampMin = "0", ClampMax = "2048"))
	int32 DefaultHeight = 0;

	/** Rgba8 for a runtime on this machine; Jpeg over a network (decoded by the native core). */
	UPROPERTY(config, EditAnywhere, Category = "Session Defaults")
	ELpmFrameEncoding Encoding = ELpmFrameEncoding::Rgba8;

	UPROPERTY(config, EditAnywhere, Category = "Session Defaults", meta = (ClampMin = "1", ClampMax = "100", EditCondition = "Encoding == ELpmFrameEncoding::Jpeg"))
	int32 JpegQuality = 85;

	/**
	 * Most texture uploads per second per face; 0 = every new frame. The runtime sets the frame
	 * rate (25 fps by default, `lpm serve` settings); lower this for distant or many NPCs.
	 */
	UPROPERTY(config, EditAnywhere, Category = "Session Defaults", meta = (ClampMin = "0", ClampMax = "120"))
	int32 MaxTextureUpdatesPerSecond = 0;

	/** Peak level (0..1) above which the NPC's voice counts as speech (about -50 dBFS). */
	UPROPERTY(config, EditAnywhere, Category = "Voice", meta = (ClampMin = "0.0", ClampMax = "1.0"))
	float VoiceGateLevel = 0.003f;

	/** Quiet this long ends a line (end_of_speech); pauses inside a sentence are shorter. */
	UPROPERTY(config, EditAnywhere, Category = "Voice", meta = (ClampMin = "0.05", ClampMax = "2.0", Units = "s"))
	float VoiceHangoverSeconds = 0.35f;
};
