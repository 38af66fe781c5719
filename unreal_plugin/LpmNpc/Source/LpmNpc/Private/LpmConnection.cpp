// LPM NPC Faces for Unreal Engine.

#include "LpmConnection.h"

#include "Containers/StringConv.h"
#include "HAL/PlatformMisc.h"
#include "LpmNpcLog.h"
#include "LpmNpcSettings.h"
#include "Misc/ScopeRWLock.h"

namespace LpmConnectionPrivate
{
	/** UTF-8 copy of a string that stays alive for the C call (null for an empty string). */
	class FUtf8Arg
	{
	public:
		explicit FUtf8Arg(const FString& Text)
			: Converted(*Text)
			, bEmpty(Text.IsEmpty())
		{
		}
		const char* Get() const { return bEmpty ? nullptr : reinterpret_cast<const char*>(Converted.Get()); }
		const char* GetOrEmpty() const { return reinterpret_cast<const char*>(Converted.Get()); }

	private:
		FTCHARToUTF8 Converted;
		bool bEmpty;
	};

	uint32 NonNegative(int32 Value)
	{
		return Value > 0 ? static_cast<uint32>(Value) : 0u;
	}
} // namespace LpmConnectionPrivate

FLpmConnectionSettings FLpmConnectionSettings::FromProjectSettings()
{
	const ULpmNpcSettings* Settings = GetDefault<ULpmNpcSettings>();
	FLpmConnectionSettings Result;
	Result.Endpoint = Settings->Endpoint;
	Result.ServerPublicKey = Settings->ServerPublicKey;
	Result.ClientPublicKey = Settings->ClientPublicKey;
	Result.ClientSecretKey = Settings->ClientSecretKey;
	Result.KeepaliveMs = LpmConnectionPrivate::NonNegative(Settings->KeepaliveMs);
	Result.TimeoutMs = LpmConnectionPrivate::NonNegative(Settings->TimeoutMs);
	Result.AudioQueueMs = LpmConnectionPrivate::NonNegative(Settings->AudioQueueMs);
	Result.FrameBuffer = LpmConnectionPrivate::NonNegative(Settings->FrameBuffer);

	// Deployment overrides: a secret key does not belong in a checked-in DefaultGame.ini.
	const FString EnvEndpoint = FPlatformMisc::GetEnvironmentVariable(TEXT("LPM_ENDPOINT"));
	if (!EnvEndpoint.IsEmpty())
	{
		Result.Endpoint = EnvEndpoint;
	}
	const FString EnvSecret = FPlatformMisc::GetEnvironmentVariable(TEXT("LPM_CLIENT_SECRET_KEY"));
	if (!EnvSecret.IsEmpty())
	{
		Result.ClientSecretKey = EnvSecret;
	}
	return Result;
}

TSharedPtr<FLpmConnection, ESPMode::ThreadSafe> FLpmConnection::Create(const FLpmConnectionSettings& Settings, FString& OutError)
{
	using LpmConnectionPrivate::FUtf8Arg;
	const FUtf8Arg Endpoint(Settings.Endpoint);
	const FUtf8Arg ServerKey(Settings.ServerPublicKey);
	const FUtf8Arg ClientPublic(Settings.ClientPublicKey);
	const FUtf8Arg ClientSecret(Settings.ClientSecretKey);

	lpm_client_config Config = {};
	Config.struct_size = sizeof(Config);
	Config.endpoint = Endpoint.GetOrEmpty();
	Config.server_public_key = ServerKey.Get();
	Config.client_public_key = ClientPublic.Get();
	Config.client_secret_key = ClientSecret.Get();
	Config.keepalive_ms = Settings.KeepaliveMs;
	Config.timeout_ms = Settings.TimeoutMs;
	Config.audio_queue_ms = Settings.AudioQueueMs;
	Config.frame_buffer = Settings.FrameBuffer;

	lpm_client* NewClient = nullptr;
	const int32 Status = lpm_client_create(&Config, &NewClient);
	if (Status != LPM_OK || NewClient == nullptr)
	{
		OutError = FString::Printf(TEXT("cannot create a client for %s: %s"), *Settings.Endpoint, *StatusName(Status));
		return nullptr;
	}
	UE_LOG(LogLpmNpc, Log, TEXT("LPM NPC: client for %s created%s."), *Settings.Endpoint,
		Settings.ServerPublicKey.IsEmpty() ? TEXT("") : TEXT(" (CurveZMQ)"));
	return TSharedPtr<FLpmConnection, ESPMode::ThreadSafe>(new FLpmConnection(NewClient));
}

FLpmConnection::FLpmConnection(lpm_client* InClient)
	: Client(InClient)
{
}

FLpmConnection::~FLpmConnection()
{
	// Normally already shut down on the game thread; this is the safety net for a forgotten one.
	Shutdown();
}

void FLpmConnection::Shutdown()
{
	lpm_client* ToDestroy = nullptr;
	{
		FWriteScopeLock WriteLock(Lock);
		ToDestroy = Client;
		Client = nullptr;
	}
	if (ToDestroy != nullptr)
	{
		// Closes open sessions on the runtime (waits at most ~200 ms) and joins the I/O thread.
		lpm_client_destroy(ToDestroy);
	}
}

bool FLpmConnection::IsShutDown() const
{
	FReadScopeLock ReadLock(Lock);
	return Client == nullptr;
}

int32 FLpmConnection::PollEvent(lpm_event& OutEvent) const
{
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	OutEvent.struct_size = sizeof(lpm_event);
	return lpm_client_poll_event(Client, &OutEvent);
}

int32 FLpmConnection::GetStats(lpm_session Session, lpm_stats& OutStats) const
{
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	OutStats.struct_size = sizeof(lpm_stats);
	return lpm_client_get_stats(Client, Session, &OutStats);
}

int32 FLpmConnection::GetCharacters(TArray<FString>& OutCharacters) const
{
	OutCharacters.Reset();
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	TArray<char> Buffer;
	Buffer.SetNumZeroed(4096);
	size_t Needed = 0;
	int32 Status = lpm_client_get_characters(Client, Buffer.GetData(), static_cast<size_t>(Buffer.Num()), &Needed);
	if (Status == LPM_ERR_BUFFER_TOO_SMALL && Needed > static_cast<size_t>(Buffer.Num()))
	{
		Buffer.SetNumZeroed(static_cast<int32>(Needed));
		Status = lpm_client_get_characters(Client, Buffer.GetData(), static_cast<size_t>(Buffer.Num()), &Needed);
	}
	if (Status != LPM_OK)
	{
		return Status;
	}
	const FString Joined = FromUtf8Field(Buffer.GetData(), static_cast<SIZE_T>(Buffer.Num()));
	Joined.ParseIntoArrayLines(OutCharacters, /*InCullEmpty=*/true);
	return LPM_OK;
}

int32 FLpmConnection::PrepareCharacter(const FString& Name, const TArray<uint8>& ImageBytes) const
{
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	const LpmConnectionPrivate::FUtf8Arg NameUtf8(Name);
	return lpm_client_prepare_character(Client, NameUtf8.GetOrEmpty(), ImageBytes.GetData(), static_cast<size_t>(ImageBytes.Num()));
}

int32 FLpmConnection::CreateSession(const FLpmSessionRequest& Request, lpm_session& OutSession) const
{
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	using LpmConnectionPrivate::FUtf8Arg;
	const FUtf8Arg Character(Request.Character);
	const FUtf8Arg Prompt(Request.Prompt);

	lpm_session_options Options = {};
	Options.struct_size = sizeof(Options);
	Options.character = Character.Get();
	Options.prompt = Prompt.Get();
	Options.width = Request.Width;
	Options.height = Request.Height;
	Options.encoding = Request.bJpeg ? LPM_ENCODING_JPEG : LPM_ENCODING_RGBA8;
	Options.jpeg_quality = Request.JpegQuality;
	Options.seed = Request.Seed;
	return lpm_session_create(Client, &Options, &OutSession);
}

int32 FLpmConnection::CloseSession(lpm_session Session) const
{
	FReadScopeLock ReadLock(Lock);
	return Client == nullptr ? LPM_ERR_NOT_CONNECTED : lpm_session_close(Client, Session);
}

int32 FLpmConnection::GetSessionInfo(lpm_session Session, lpm_session_info& OutInfo) const
{
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	OutInfo.struct_size = sizeof(lpm_session_info);
	return lpm_session_get_info(Client, Session, &OutInfo);
}

int32 FLpmConnection::TimelineNow(lpm_session Session, int64& OutUs) const
{
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	int64_t Now = 0;
	const int32 Status = lpm_session_timeline_now(Client, Session, &Now);
	OutUs = static_cast<int64>(Now);
	return Status;
}

int32 FLpmConnection::SetPrompt(lpm_session Session, const FString& Prompt) const
{
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	const LpmConnectionPrivate::FUtf8Arg PromptUtf8(Prompt);
	return lpm_session_set_prompt(Client, Session, PromptUtf8.Get());
}

int32 FLpmConnection::TriggerEmote(lpm_session Session, const FString& Emote, float Intensity, float DurationSeconds) const
{
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	const LpmConnectionPrivate::FUtf8Arg EmoteUtf8(Emote);
	return lpm_session_trigger_emote(Client, Session, EmoteUtf8.GetOrEmpty(), Intensity, DurationSeconds);
}

int32 FLpmConnection::Interrupt(lpm_session Session) const
{
	FReadScopeLock ReadLock(Lock);
	return Client == nullptr ? LPM_ERR_NOT_CONNECTED : lpm_session_interrupt(Client, Session);
}

int32 FLpmConnection::EndOfSpeech(lpm_session Session) const
{
	// Called from the audio render thread (the speak tap ends lines there): never wait.
	if (!Lock.TryReadLock())
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	const int32 Status = Client == nullptr ? LPM_ERR_NOT_CONNECTED : lpm_session_end_of_speech(Client, Session);
	Lock.ReadUnlock();
	return Status;
}

int32 FLpmConnection::PollFrame(lpm_session Session, int64 PlayheadUs, lpm_frame_info& OutInfo, uint8* Rgba, SIZE_T RgbaCapacity) const
{
	FReadScopeLock ReadLock(Lock);
	if (Client == nullptr)
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	OutInfo.struct_size = sizeof(lpm_frame_info);
	return lpm_session_poll_frame(Client, Session, static_cast<int64_t>(PlayheadUs), &OutInfo, Rgba, static_cast<size_t>(RgbaCapacity));
}

int32 FLpmConnection::PushSpeak(lpm_session Session, const float* Interleaved, uint32 Frames, uint32 Channels, uint32 SampleRate) const
{
	if (!Lock.TryReadLock())
	{
		return LPM_ERR_NOT_CONNECTED; // shutting down: drop the buffer rather than wait
	}
	const int32 Status = Client == nullptr
		? LPM_ERR_NOT_CONNECTED
		: lpm_session_push_speak(Client, Session, Interleaved, Frames, Channels, SampleRate);
	Lock.ReadUnlock();
	return Status;
}

int32 FLpmConnection::PushListen(lpm_session Session, const float* Interleaved, uint32 Frames, uint32 Channels, uint32 SampleRate) const
{
	if (!Lock.TryReadLock())
	{
		return LPM_ERR_NOT_CONNECTED;
	}
	const int32 Status = Client == nullptr
		? LPM_ERR_NOT_CONNECTED
		: lpm_session_push_listen(Client, Session, Interleaved, Frames, Channels, SampleRate);
	Lock.ReadUnlock();
	return Status;
}

FString FLpmConnection::StatusName(int32 Status)
{
	const char* Name = lpm_status_name(Status);
	return Name != nullptr ? FString(UTF8_TO_TCHAR(Name)) : FString::Printf(TEXT("status %d"), Status);
}

bool FLpmConnection::CheckAbi(FString& OutProblem)
{
	const int32 Version = lpm_abi_version();
	if (Version != LPM_ABI_VERSION)
	{
		OutProblem = FString::Printf(TEXT("library ABI version %d, plugin built for %d"), Version, LPM_ABI_VERSION);
		return false;
	}
	struct FStructSize
	{
		const char* Name;
		uint32 Size;
	};
	const FStructSize Expected[] = {
		{"lpm_client_config", sizeof(lpm_client_config)},
		{"lpm_session_options", sizeof(lpm_session_options)},
		{"lpm_session_info", sizeof(lpm_session_info)},
		{"lpm_frame_info", sizeof(lpm_frame_info)},
		{"lpm_event", sizeof(lpm_event)},
		{"lpm_stats", sizeof(lpm_stats)},
	};
	for (const FStructSize& Entry : Expected)
	{
		const uint32 LibrarySize = lpm_abi_struct_size(Entry.Name);
		if (LibrarySize != Entry.Size)
		{
			OutProblem = FString::Printf(TEXT("%s is %u bytes in the library, %u in the plugin"), UTF8_TO_TCHAR(Entry.Name), LibrarySize, Entry.Size);
			return false;
		}
	}
	if (CurveNames().Num() != LPM_NUM_CURVES)
	{
		OutProblem = TEXT("the library does not name all 61 curves");
		return false;
	}
	return true;
}

const TArray<FName>& FLpmConnection::CurveNames()
{
	// Built on first use (after the library is loaded), then read-only.
	static const TArray<FName> Names = []()
	{
		TArray<FName> Result;
		for (int32 Index = 0; Index < LPM_NUM_CURVES; ++Index)
		{
			const char* Name = lpm_curve_name(Index);
			if (Name == nullptr)
			{
				break;
			}
			Result.Add(FName(UTF8_TO_TCHAR(Name)));
		}
		return Result;
	}();
	return Names;
}

FString FLpmConnection::FromUtf8Field(const char* Field, SIZE_T Capacity)
{
	if (Field == nullptr || Capacity == 0)
	{
		return FString();
	}
	SIZE_T Length = 0;
	while (Length < Capacity && Field[Length] != '\0')
	{
		++Length;
	}
	const FUTF8ToTCHAR Converted(Field, static_cast<int32>(Length));
	return FString(Converted.Length(), Converted.Get());
}
