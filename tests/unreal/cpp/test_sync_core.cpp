// Tests of the Unreal plugin's engine-independent lip-sync core (Source/LpmNpc/Private/Sync):
// the playback clock that maps the heard audio position onto the session timeline, the playhead
// hold, and the speak tap's line detection. Built and run by tests/unreal/test_unreal_plugin.py
// with the host C++ compiler; no engine headers are involved.

#include "LpmPlaybackClock.h"
#include "LpmSpeakTapCore.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace
{
int Failures = 0;

#define EXPECT(Condition)                                                                   \
	do                                                                                      \
	{                                                                                       \
		if (!(Condition))                                                                   \
		{                                                                                   \
			std::fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #Condition); \
			++Failures;                                                                     \
		}                                                                                   \
	} while (false)

#define EXPECT_EQ(Actual, Expected)                                                                   \
	do                                                                                                \
	{                                                                                                 \
		const long long A_ = static_cast<long long>(Actual);                                          \
		const long long E_ = static_cast<long long>(Expected);                                        \
		if (A_ != E_)                                                                                 \
		{                                                                                             \
			std::fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #Actual, A_, E_); \
			++Failures;                                                                               \
		}                                                                                             \
	} while (false)

constexpr int64_t Auto = FLpmPlaybackClock::Auto;

struct FRecordingSink final : ILpmSpeakSink
{
	int64_t PushedFrames = 0;
	int Pushes = 0;
	int Ends = 0;
	bool bRefuse = false;
	int LastChannels = 0;
	int LastRate = 0;

	bool PushSpeak(const float*, int32_t Frames, int32_t Channels, int32_t SampleRate) override
	{
		++Pushes;
		LastChannels = Channels;
		LastRate = SampleRate;
		if (bRefuse)
		{
			return false;
		}
		PushedFrames += Frames;
		return true;
	}
	void EndOfSpeech() override { ++Ends; }
};

std::vector<float> Buffer(int Frames, int Channels, float Level)
{
	return std::vector<float>(static_cast<size_t>(Frames * Channels), Level);
}

void ClockMapsHeardFramesOntoTheAnchoredLine()
{
	FLpmPlaybackClock Clock(48000);
	EXPECT_EQ(Clock.PlayheadUs(0), Auto);
	Clock.BeginLine(4800);                      // line starts 0.1 s into the stream
	EXPECT_EQ(Clock.PlayheadUs(4800), Auto);    // not anchored yet: the estimate is used
	EXPECT(Clock.OnSpeakScheduled(2000000));    // the runtime placed it at 2.0 s
	EXPECT_EQ(Clock.PlayheadUs(4800), 2000000);
	EXPECT_EQ(Clock.PlayheadUs(4800 + 24000), 2500000); // half a second later
	EXPECT_EQ(Clock.PlayheadUs(1000), Auto);    // before the line
}

void ClockEndsLinesAfterTheTailAndForgetsThem()
{
	FLpmPlaybackClock Clock(16000, 0.25);
	Clock.BeginLine(0);
	Clock.OnSpeakScheduled(1000000);
	Clock.EndLine(16000);                                     // one second of voice
	EXPECT_EQ(Clock.PlayheadUs(16000 + 3999), 1000000 + 1249937); // inside the 0.25 s tail
	EXPECT_EQ(Clock.PlayheadUs(16000 + 4000), Auto);          // tail over
	EXPECT_EQ(Clock.GetPendingLines(), 0);
}

void ClockAnchorsLinesInOrderAndCountsStrayEvents()
{
	FLpmPlaybackClock Clock(1000);
	Clock.BeginLine(0);
	Clock.BeginLine(500); // the first line had no end_of_speech: it ends where this one begins
	EXPECT(Clock.OnSpeakScheduled(10000000));
	EXPECT(Clock.OnSpeakScheduled(20000000));
	EXPECT(!Clock.OnSpeakScheduled(30000000));
	EXPECT_EQ(Clock.GetUnmatchedEvents(), 1);
	EXPECT_EQ(Clock.PlayheadUs(100), 10100000);
	EXPECT_EQ(Clock.PlayheadUs(600), 20100000);
	EXPECT_EQ(Clock.GetPendingLines(), 1); // the first line was forgotten once the second played
}

void ClockResetKeepsTheOpenLineUnmapped()
{
	FLpmPlaybackClock Clock(1000);
	Clock.BeginLine(0);
	Clock.OnSpeakScheduled(5000000);
	Clock.Reset(); // the runtime re-created the session mid-line
	EXPECT_EQ(Clock.PlayheadUs(100), Auto);
	EXPECT(Clock.OnSpeakScheduled(0)); // the rest of the orphaned line: consumed, not mapped
	EXPECT_EQ(Clock.PlayheadUs(200), Auto);
	Clock.EndLine(300);
	Clock.BeginLine(1000);
	EXPECT(Clock.OnSpeakScheduled(7000000)); // the next line is anchored normally
	EXPECT_EQ(Clock.PlayheadUs(1500), 7500000);
}

void ClockConvertsLongLinesWithoutDrift()
{
	FLpmPlaybackClock Clock(44100);
	const int64_t Hour = 44100LL * 3600;
	EXPECT_EQ(Clock.FramesToUs(Hour), 3600LL * 1000000);
	EXPECT_EQ(Clock.FramesToUs(441), 10000);
}

void PlayheadNeverStepsBackwards()
{
	FLpmPlayhead Playhead;
	EXPECT_EQ(Playhead.Resolve(Auto, Auto), Auto);
	EXPECT_EQ(Playhead.Resolve(Auto, 1000000), 1000000);
	EXPECT_EQ(Playhead.Resolve(1200000, 1100000), 1200000); // the mapping wins
	EXPECT_EQ(Playhead.Resolve(Auto, 1150000), 1200000);    // estimate behind: held
	EXPECT_EQ(Playhead.Resolve(Auto, 1300000), 1300000);
	Playhead.Reset();
	EXPECT_EQ(Playhead.Resolve(Auto, 40000), 40000); // new timeline after a re-create
}

void TapFindsLinesAndSendsOnlyTheirBuffers()
{
	FLpmPlaybackClock Clock(48000);
	FLpmSpeakTapCore Tap(Clock);
	FRecordingSink Sink;
	Tap.SetSink(&Sink);

	const std::vector<float> Silence = Buffer(480, 2, 0.0f);
	const std::vector<float> Voice = Buffer(480, 2, 0.2f);
	double Now = 0.0;
	auto Feed = [&](const std::vector<float>& Data) {
		Tap.Process(Data.data(), 480, 2, 48000, Now);
		Now += 0.01;
	};

	for (int Index = 0; Index < 10; ++Index)
	{
		Feed(Silence);
	}
	EXPECT_EQ(Sink.Pushes, 0);
	EXPECT(!Tap.IsInLine());
	for (int Index = 0; Index < 50; ++Index)
	{
		Feed(Voice); // half a second of voice
	}
	EXPECT(Tap.IsInLine());
	EXPECT_EQ(Tap.GetLines(), 1);
	EXPECT_EQ(Sink.PushedFrames, 50 * 480);
	EXPECT_EQ(Sink.LastChannels, 2);
	EXPECT_EQ(Sink.LastRate, 48000);
	for (int Index = 0; Index < 40; ++Index)
	{
		Feed(Silence); // 0.4 s of quiet: longer than the 0.35 s hangover
	}
	EXPECT(!Tap.IsInLine());
	EXPECT_EQ(Sink.Ends, 1);
	// The hangover's quiet buffers belong to the line (35 of them), then nothing more is sent.
	EXPECT_EQ(Sink.PushedFrames, 50 * 480 + 35 * 480);
	EXPECT_EQ(Tap.GetProcessedFrames(), 100 * 480);

	// The line began at stream frame 4800; anchor it and ask what is heard 0.2 s later.
	EXPECT(Clock.OnSpeakScheduled(3000000));
	EXPECT_EQ(Clock.PlayheadUs(4800 + 9600), 3200000);
}

void TapHeardFrameFollowsTheClockBetweenBuffers()
{
	FLpmPlaybackClock Clock(48000);
	FLpmSpeakTapCore Tap(Clock);
	const std::vector<float> Silence = Buffer(1024, 2, 0.0f);
	Tap.Process(Silence.data(), 1024, 2, 48000, 10.0);
	Tap.Process(Silence.data(), 1024, 2, 48000, 10.02);
	// Right at the callback: the start of the last buffer minus the output delay.
	EXPECT_EQ(Tap.HeardFrame(10.02, 0), 1024);
	EXPECT_EQ(Tap.HeardFrame(10.02, 6720), 1024 - 6720);
	// 10 ms later: 480 frames further; never more than one buffer ahead of the last callback.
	EXPECT_EQ(Tap.HeardFrame(10.03, 0), 1024 + 480);
	EXPECT_EQ(Tap.HeardFrame(11.0, 0), 2048);
}

void TapCountsRefusalsAndDetachesCleanly()
{
	FLpmPlaybackClock Clock(16000);
	FLpmSpeakTapCore Tap(Clock);
	FRecordingSink Sink;
	Sink.bRefuse = true;
	Tap.SetSink(&Sink);
	const std::vector<float> Voice = Buffer(160, 1, 0.5f);
	Tap.Process(Voice.data(), 160, 1, 16000, 0.0);
	Tap.Process(Voice.data(), 160, 1, 22050, 0.01); // wrong rate: counted, positions kept
	EXPECT_EQ(Tap.GetRefusedBuffers(), 2);
	EXPECT_EQ(Tap.GetRateMismatches(), 1);
	EXPECT(Tap.IsInLine());
	Tap.SetSink(nullptr); // teardown mid-line: the line ends on the clock, the sink is not called
	EXPECT(!Tap.IsInLine());
	EXPECT_EQ(Sink.Ends, 0);
	Tap.Process(Voice.data(), 160, 1, 16000, 0.02); // a late buffer after detach: counted only
	EXPECT_EQ(Sink.Pushes, 2);
	EXPECT_EQ(Tap.GetProcessedFrames(), 480);
	Tap.EndLine(); // no line open: nothing happens
	EXPECT_EQ(Sink.Ends, 0);
}

void TapIgnoresEmptyAndMalformedBuffers()
{
	FLpmPlaybackClock Clock(48000);
	FLpmSpeakTapCore Tap(Clock);
	FRecordingSink Sink;
	Tap.SetSink(&Sink);
	Tap.Process(nullptr, 480, 2, 48000, 0.0);
	const std::vector<float> Voice = Buffer(480, 2, 0.5f);
	Tap.Process(Voice.data(), 0, 2, 48000, 0.0);
	Tap.Process(Voice.data(), 480, 0, 48000, 0.0);
	EXPECT_EQ(Tap.GetProcessedFrames(), 0);
	EXPECT_EQ(Sink.Pushes, 0);
}
} // namespace

int main()
{
	ClockMapsHeardFramesOntoTheAnchoredLine();
	ClockEndsLinesAfterTheTailAndForgetsThem();
	ClockAnchorsLinesInOrderAndCountsStrayEvents();
	ClockResetKeepsTheOpenLineUnmapped();
	ClockConvertsLongLinesWithoutDrift();
	PlayheadNeverStepsBackwards();
	TapFindsLinesAndSendsOnlyTheirBuffers();
	TapHeardFrameFollowsTheClockBetweenBuffers();
	TapCountsRefusalsAndDetachesCleanly();
	TapIgnoresEmptyAndMalformedBuffers();
	if (Failures != 0)
	{
		std::fprintf(stderr, "%d failure(s)\n", Failures);
		return EXIT_FAILURE;
	}
	std::printf("sync core: all checks passed\n");
	return EXIT_SUCCESS;
}
