// LPM NPC Faces for Unreal Engine.
//
// Engine-independent (standard C++17 only): the test suite compiles and runs this file outside
// the engine (tests/unreal), which is why it uses <mutex> rather than FCriticalSection.

#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

/**
 * Maps the NPC's audio playback position onto the session timeline, so that the face shows the
 * frame generated for the audio sample being heard (bridge/PROTOCOL.md section 4).
 *
 * Positions are sample frames of one audio stream at GetSampleRate() Hz: the frames that passed
 * through the NPC's voice submix. A *line* is a stretch of that stream sent as one utterance: it
 * starts at stream frame F0 and is closed by end_of_speech. The runtime places the line's first
 * sample at timeline position Pts (event speak_scheduled), so while stream frame H is heard:
 *
 *     PlayheadUs = Pts + (H - F0) * 1e6 / SampleRate      for F0 <= H < End + Tail
 *
 * Outside an anchored line (idle, listening, before speak_scheduled, after the runtime
 * re-created the session) PlayheadUs returns Auto and the caller uses the client's estimate
 * timeline_now - L, which the mapping converges to when audio plays exactly L after it was sent.
 * The mapping wins during speech because it follows the audio device's clock, not the network's.
 *
 * speak_scheduled events anchor lines in the order the lines began. Threads: BeginLine/EndLine
 * come from the audio render thread, the rest from the game thread; one short lock.
 */
class FLpmPlaybackClock
{
public:
	/** "No mapping": use timeline_now - L (the C ABI's LPM_PLAYHEAD_AUTO). */
	static constexpr int64_t Auto = std::numeric_limits<int64_t>::min();

	/**
	 * @param InSampleRate   Rate of the stream positions passed in, Hz (> 0).
	 * @param InTailSeconds  How long after a line's last sample its mapping is still used (the
	 *                       runtime's partial last frame, the mouth closing) before Auto.
	 */
	explicit FLpmPlaybackClock(int32_t InSampleRate, double InTailSeconds = 0.25);

	int32_t GetSampleRate() const { return SampleRate; }

	/** A line starts with the sample at stream frame FirstFrame. Ends an open line there. */
	void BeginLine(int64_t FirstFrame);

	/** The open line's last sample is at stream frame EndFrame - 1. */
	void EndLine(int64_t EndFrame);

	/**
	 * speak_scheduled: the oldest line not yet anchored starts at timeline position PtsUs.
	 * Returns false when no line was waiting for it (counted in GetUnmatchedEvents).
	 */
	bool OnSpeakScheduled(int64_t PtsUs);

	/**
	 * The session's timeline restarted (the runtime re-created the session after a reconnect):
	 * finished lines are dropped; an open line is kept, unanchored, so that the speak_scheduled
	 * for its remainder is not taken for the next line's.
	 */
	void Reset();

	/**
	 * Timeline position (us) of the sample at stream frame HeardFrame, the one heard now, or
	 * Auto. Forgets lines that are over.
	 */
	int64_t PlayheadUs(int64_t HeardFrame);

	/** speak_scheduled events that matched no line. */
	int64_t GetUnmatchedEvents() const;

	/** Lines known and not yet forgotten. */
	size_t GetPendingLines() const;

	/** Frames -> microseconds without overflow or drift over long lines. */
	int64_t FramesToUs(int64_t Frames) const;

private:
	struct FLine
	{
		int64_t FirstFrame = 0;
		int64_t EndFrame = -1;  // -1 while the line is still being sent
		int64_t PtsUs = Auto;   // Auto until speak_scheduled anchors it
		bool bOrphaned = false; // began on a timeline that no longer exists
		bool bUnmapped = false; // its position on the timeline cannot be known
	};

	FLine* OpenLineLocked();

	const int32_t SampleRate;
	const int64_t TailFrames;
	mutable std::mutex Mutex;
	std::vector<FLine> Lines;
	int64_t UnmatchedEvents = 0;
};

/**
 * Chooses the playhead each game frame: the clock's mapping while a line plays, the client's
 * estimate (timeline_now - L) otherwise, and never a step backwards (a switch between the two
 * is held, not replayed).
 */
class FLpmPlayhead
{
public:
	/**
	 * @param MappedUs    FLpmPlaybackClock::PlayheadUs, or Auto.
	 * @param EstimateUs  timeline_now - L, or Auto while the session is not ready.
	 * @return the playhead in us on the session timeline, or Auto when neither is known.
	 */
	int64_t Resolve(int64_t MappedUs, int64_t EstimateUs);

	/** The timeline restarted (session re-created): forget the last playhead. */
	void Reset() { Last = FLpmPlaybackClock::Auto; }

	int64_t GetLast() const { return Last; }

private:
	int64_t Last = FLpmPlaybackClock::Auto;
};
