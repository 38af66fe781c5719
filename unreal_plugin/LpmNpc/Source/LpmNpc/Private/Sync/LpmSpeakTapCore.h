// LPM NPC Faces for Unreal Engine.
//
// Engine-independent (standard C++17 only): compiled and tested outside the engine by
// tests/unreal. The engine side (FLpmSpeakSubmixTap, an ISubmixBufferListener) feeds it.

#pragma once

#include <cstdint>
#include <mutex>

class FLpmPlaybackClock;

/** Where the speak audio of a line goes: the session's speak stream (lpm_session_push_speak). */
class ILpmSpeakSink
{
public:
	virtual ~ILpmSpeakSink() = default;

	/**
	 * Interleaved float32 PCM, Frames sample frames of Channels channels at SampleRate Hz.
	 * Called on the audio render thread; must not block. Returns false when the stream refused
	 * the audio (bounded queue full, session closed).
	 */
	virtual bool PushSpeak(const float* Interleaved, int32_t Frames, int32_t Channels, int32_t SampleRate) = 0;

	/** The line is complete (lpm_session_end_of_speech). */
	virtual void EndOfSpeech() = 0;
};

/**
 * The NPC's voice as the audio mixer renders it, one buffer at a time (audio render thread):
 *  1. finds lines: a line starts at the first buffer whose peak reaches GateLevel and ends after
 *     HangoverSeconds below it (then end_of_speech);
 *  2. sends every buffer of a line to the sink as it is (interleaved, at the mixer's rate: the
 *     native core mixes down to mono and the runtime resamples, once);
 *  3. counts the frames that passed, so that the game thread knows which sample is being heard
 *     and asks the FLpmPlaybackClock for the matching frame.
 *
 * Stream frame N is *sent* when the tap has processed N frames and *heard* OutputDelayFrames
 * later (the delay the voice route adds after the tap, normally L, plus the device's buffering).
 */
class FLpmSpeakTapCore
{
public:
	/** Peak level (0..1) above which a buffer counts as voice: about -50 dBFS. */
	static constexpr float DefaultGateLevel = 0.003f;
	/** Quiet time that ends a line; pauses inside a sentence are shorter. */
	static constexpr double DefaultHangoverSeconds = 0.35;

	/** Clock counts at the rate the tap expects its buffers at; it must outlive the tap. */
	explicit FLpmSpeakTapCore(FLpmPlaybackClock& InClock, float InGateLevel = DefaultGateLevel,
		double InHangoverSeconds = DefaultHangoverSeconds);

	/**
	 * Attaches (or, with nullptr, detaches) the speak stream. Waits for a Process call in
	 * progress, so once it returns the previous sink is never used again. A line open at detach
	 * is ended on the clock (the sink is gone, so no end_of_speech is sent).
	 */
	void SetSink(ILpmSpeakSink* InSink);

	/**
	 * Audio render thread: one rendered buffer. NowSeconds is a monotonic clock in seconds
	 * (FPlatformTime::Seconds in the engine), used to extrapolate the heard position.
	 */
	void Process(const float* Interleaved, int32_t Frames, int32_t Channels, int32_t BufferSampleRate, double NowSeconds);

	/** Ends the current line now (the voice was stopped; no more buffers will come for it). */
	void EndLine();

	/**
	 * Stream frame heard at NowSeconds: the start of the last buffer, advanced by the time since
	 * it was rendered (at most one buffer), minus OutputDelayFrames. May be negative at start.
	 */
	int64_t HeardFrame(double NowSeconds, int64_t OutputDelayFrames) const;

	int64_t GetProcessedFrames() const;
	bool IsInLine() const;
	int64_t GetLines() const;
	/** Buffers the sink refused. */
	int64_t GetRefusedBuffers() const;
	/** Buffers whose rate differed from the clock's (their positions are counted as is). */
	int64_t GetRateMismatches() const;

private:
	void EndLineLocked(int64_t EndFrame, bool bNotifySink);

	FLpmPlaybackClock& Clock;
	const float GateLevel;
	const double HangoverSeconds;

	mutable std::mutex Mutex;
	ILpmSpeakSink* Sink = nullptr;
	int64_t Processed = 0;
	int64_t LastBufferFrames = 0;
	double LastBufferSeconds = 0.0;
	bool bInLine = false;
	int64_t SilentFrames = 0;
	int64_t Lines = 0;
	int64_t RefusedBuffers = 0;
	int64_t RateMismatches = 0;
};
