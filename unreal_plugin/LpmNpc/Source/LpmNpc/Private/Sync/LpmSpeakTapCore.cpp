// LPM NPC Faces for Unreal Engine. Engine-independent; see the header.

#include "LpmSpeakTapCore.h"

#include "LpmPlaybackClock.h"

#include <algorithm>
#include <cmath>

FLpmSpeakTapCore::FLpmSpeakTapCore(FLpmPlaybackClock& InClock, float InGateLevel, double InHangoverSeconds)
	: Clock(InClock)
	, GateLevel(std::max(0.0f, InGateLevel))
	, HangoverSeconds(std::max(0.0, InHangoverSeconds))
{
}

void FLpmSpeakTapCore::SetSink(ILpmSpeakSink* InSink)
{
	std::lock_guard<std::mutex> Lock(Mutex);
	if (InSink == nullptr && bInLine)
	{
		EndLineLocked(Processed, /*bNotifySink=*/false);
	}
	Sink = InSink;
}

void FLpmSpeakTapCore::Process(const float* Interleaved, int32_t Frames, int32_t Channels, int32_t BufferSampleRate, double NowSeconds)
{
	if (Interleaved == nullptr || Frames <= 0 || Channels <= 0)
	{
		return;
	}
	std::lock_guard<std::mutex> Lock(Mutex);
	if (BufferSampleRate != Clock.GetSampleRate())
	{
		++RateMismatches;
	}

	if (Sink != nullptr)
	{
		float Peak = 0.0f;
		const int64_t Samples = static_cast<int64_t>(Frames) * Channels;
		for (int64_t Index = 0; Index < Samples; ++Index)
		{
			Peak = std::max(Peak, std::fabs(Interleaved[Index]));
		}
		const bool bLoud = Peak >= GateLevel;
		if (!bInLine && bLoud)
		{
			bInLine = true;
			SilentFrames = 0;
			++Lines;
			Clock.BeginLine(Processed);
		}
		if (bInLine)
		{
			if (!Sink->PushSpeak(Interleaved, Frames, Channels, BufferSampleRate))
			{
				++RefusedBuffers;
			}
			SilentFrames = bLoud ? 0 : SilentFrames + Frames;
			const int64_t HangoverFrames = static_cast<int64_t>(HangoverSeconds * BufferSampleRate);
			if (SilentFrames >= HangoverFrames)
			{
				EndLineLocked(Processed + Frames, /*bNotifySink=*/true);
			}
		}
	}

	Processed += Frames;
	LastBufferFrames = Frames;
	LastBufferSeconds = NowSeconds;
}

void FLpmSpeakTapCore::EndLine()
{
	std::lock_guard<std::mutex> Lock(Mutex);
	if (bInLine)
	{
		EndLineLocked(Processed, /*bNotifySink=*/true);
	}
}

void FLpmSpeakTapCore::EndLineLocked(int64_t EndFrame, bool bNotifySink)
{
	bInLine = false;
	SilentFrames = 0;
	if (bNotifySink && Sink != nullptr)
	{
		Sink->EndOfSpeech();
	}
	Clock.EndLine(EndFrame);
}

int64_t FLpmSpeakTapCore::HeardFrame(double NowSeconds, int64_t OutputDelayFrames) const
{
	std::lock_guard<std::mutex> Lock(Mutex);
	const double Elapsed = std::max(0.0, NowSeconds - LastBufferSeconds);
	const int64_t Advance = std::min<int64_t>(LastBufferFrames, static_cast<int64_t>(std::llround(Elapsed * Clock.GetSampleRate())));
	return Processed - LastBufferFrames + Advance - OutputDelayFrames;
}

int64_t FLpmSpeakTapCore::GetProcessedFrames() const
{
	std::lock_guard<std::mutex> Lock(Mutex);
	return Processed;
}

bool FLpmSpeakTapCore::IsInLine() const
{
	std::lock_guard<std::mutex> Lock(Mutex);
	return bInLine;
}

int64_t FLpmSpeakTapCore::GetLines() const
{
	std::lock_guard<std::mutex> Lock(Mutex);
	return Lines;
}

int64_t FLpmSpeakTapCore::GetRefusedBuffers() const
{
	std::lock_guard<std::mutex> Lock(Mutex);
	return RefusedBuffers;
}

int64_t FLpmSpeakTapCore::GetRateMismatches() const
{
	std::lock_guard<std::mutex> Lock(Mutex);
	return RateMismatches;
}
