// LPM NPC Faces for Unreal Engine. Engine-independent; see the header.

#include "LpmPlaybackClock.h"

#include <algorithm>
#include <cmath>

FLpmPlaybackClock::FLpmPlaybackClock(int32_t InSampleRate, double InTailSeconds)
	: SampleRate(InSampleRate > 0 ? InSampleRate : 48000)
	, TailFrames(static_cast<int64_t>(std::llround(std::max(0.0, InTailSeconds) * (InSampleRate > 0 ? InSampleRate : 48000))))
{
}

FLpmPlaybackClock::FLine* FLpmPlaybackClock::OpenLineLocked()
{
	if (Lines.empty() || Lines.back().EndFrame >= 0)
	{
		return nullptr;
	}
	return &Lines.back();
}

void FLpmPlaybackClock::BeginLine(int64_t FirstFrame)
{
	std::lock_guard<std::mutex> Lock(Mutex);
	if (FLine* Open = OpenLineLocked())
	{
		// A line without end_of_speech ends where the next one begins.
		Open->EndFrame = std::max(Open->FirstFrame, FirstFrame);
	}
	FLine Line;
	Line.FirstFrame = FirstFrame;
	Lines.push_back(Line);
}

void FLpmPlaybackClock::EndLine(int64_t EndFrame)
{
	std::lock_guard<std::mutex> Lock(Mutex);
	if (FLine* Open = OpenLineLocked())
	{
		Open->EndFrame = std::max(Open->FirstFrame, EndFrame);
	}
}

bool FLpmPlaybackClock::OnSpeakScheduled(int64_t PtsUs)
{
	std::lock_guard<std::mutex> Lock(Mutex);
	for (FLine& Line : Lines)
	{
		if (Line.PtsUs != Auto || Line.bUnmapped)
		{
			continue;
		}
		if (Line.bOrphaned)
		{
			// The first utterance on the new timeline is the rest of this line; which sample it
			// starts with is unknown, so the line stays on Auto.
			Line.bUnmapped = true;
			return true;
		}
		Line.PtsUs = PtsUs;
		return true;
	}
	++UnmatchedEvents;
	return false;
}

void FLpmPlaybackClock::Reset()
{
	std::lock_guard<std::mutex> Lock(Mutex);
	FLine* Open = OpenLineLocked();
	if (Open == nullptr)
	{
		Lines.clear();
		return;
	}
	FLine Kept = *Open;
	Kept.PtsUs = Auto;
	Kept.bOrphaned = true;
	Kept.bUnmapped = false;
	Lines.clear();
	Lines.push_back(Kept);
}

int64_t FLpmPlaybackClock::PlayheadUs(int64_t HeardFrame)
{
	std::lock_guard<std::mutex> Lock(Mutex);
	std::ptrdiff_t Current = -1;
	for (std::size_t Index = 0; Index < Lines.size(); ++Index)
	{
		if (Lines[Index].FirstFrame <= HeardFrame)
		{
			Current = static_cast<std::ptrdiff_t>(Index);
		}
	}
	if (Current < 0)
	{
		return Auto;
	}
	const FLine Line = Lines[static_cast<std::size_t>(Current)];
	if (Line.EndFrame >= 0 && HeardFrame >= Line.EndFrame + TailFrames)
	{
		// Over, and so is everything before it; the lines after it stay.
		Lines.erase(Lines.begin(), Lines.begin() + Current + 1);
		return Auto;
	}
	if (Current > 0)
	{
		Lines.erase(Lines.begin(), Lines.begin() + Current);
	}
	if (Line.PtsUs == Auto || Line.bUnmapped)
	{
		return Auto;
	}
	return Line.PtsUs + FramesToUs(HeardFrame - Line.FirstFrame);
}

int64_t FLpmPlaybackClock::GetUnmatchedEvents() const
{
	std::lock_guard<std::mutex> Lock(Mutex);
	return UnmatchedEvents;
}

size_t FLpmPlaybackClock::GetPendingLines() const
{
	std::lock_guard<std::mutex> Lock(Mutex);
	return Lines.size();
}

int64_t FLpmPlaybackClock::FramesToUs(int64_t Frames) const
{
	const int64_t Rate = SampleRate;
	return Frames / Rate * 1000000 + Frames % Rate * 1000000 / Rate;
}

int64_t FLpmPlayhead::Resolve(int64_t MappedUs, int64_t EstimateUs)
{
	const int64_t Candidate = MappedUs != FLpmPlaybackClock::Auto ? MappedUs : EstimateUs;
	if (Candidate == FLpmPlaybackClock::Auto)
	{
		return Last;
	}
	if (Last != FLpmPlaybackClock::Auto && Candidate < Last)
	{
		return Last;
	}
	Last = Candidate;
	return Last;
}
