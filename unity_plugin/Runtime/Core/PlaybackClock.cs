using System;
using System.Collections.Generic;

namespace Lpm
{
    /// <summary>
    /// Maps the NPC's audio playback position onto the session timeline, so that the face shows
    /// the frame generated for the audio sample being heard (PROTOCOL.md section 4).
    ///
    /// Positions are counted in sample frames of one audio stream at <see cref="SampleRate"/>
    /// (e.g. the frames that passed through the AudioSource's filter, or a clip's timeSamples).
    /// A <em>line</em> is a stretch of that stream sent as one utterance: it starts at stream
    /// frame f0 and is closed with end_of_speech. The runtime places the line's first sample at
    /// timeline position pts (event speak_scheduled) and the player hears it L after sending, so
    /// while stream frame h is being heard:
    /// <code>
    ///     playhead_us = pts + (h - f0) * 1e6 / SampleRate        for f0 &lt;= h &lt; end + tail
    /// </code>
    /// Outside any anchored line (idle, listening, before speak_scheduled arrived, after the
    /// runtime re-created the session) the playhead is <see cref="Auto"/>: the caller uses the
    /// client's own estimate timeline_now - L, which is what the mapping converges to anyway when
    /// audio plays exactly L after it was sent. The mapping wins during speech because it follows
    /// the audio device's clock rather than the network's.
    ///
    /// speak_scheduled events anchor lines in the order the lines began. Thread-safety: BeginLine
    /// and EndLine may come from the audio thread, the rest from the game thread; one short lock.
    /// </summary>
    public sealed class PlaybackClock
    {
        /// <summary>"No mapping": use timeline_now - L (LPM_PLAYHEAD_AUTO).</summary>
        public const long Auto = long.MinValue;

        sealed class Line
        {
            public long FirstFrame;
            public long EndFrame = -1;       // -1 while the line is still being sent
            public long PtsUs = Auto;        // Auto until speak_scheduled anchors it
            public bool Orphaned;            // began on a timeline that no longer exists
            public bool Unmapped;            // its position on the timeline cannot be known
        }

        readonly object _gate = new object();
        readonly List<Line> _lines = new List<Line>();
        readonly int _sampleRate;
        readonly long _tailFrames;
        long _unmatchedEvents;

        /// <param name="sampleRate">Rate of the stream positions passed in, in Hz.</param>
        /// <param name="tailSeconds">How long after a line's last sample its mapping is still used
        /// (the runtime's partial last frame and the mouth closing), before falling back to Auto.</param>
        public PlaybackClock(int sampleRate, double tailSeconds = 0.25)
        {
            if (sampleRate <= 0)
                throw new ArgumentOutOfRangeException("sampleRate");
            _sampleRate = sampleRate;
            _tailFrames = (long)Math.Round(tailSeconds * sampleRate);
        }

        public int SampleRate
        {
            get { return _sampleRate; }
        }

        /// <summary>speak_scheduled events that matched no line (runtime re-placed audio mid-line).</summary>
        public long UnmatchedEvents
        {
            get { lock (_gate) return _unmatchedEvents; }
        }

        /// <summary>Lines known and not yet forgotten.</summary>
        public int PendingLines
        {
            get { lock (_gate) return _lines.Count; }
        }

        /// <summary>A line starts with the sample at stream frame <paramref name="firstFrame"/>.</summary>
        public void BeginLine(long firstFrame)
        {
            lock (_gate)
            {
                var open = OpenLine();
                if (open != null)
                    open.EndFrame = firstFrame; // a line without end_of_speech ends where the next begins
                _lines.Add(new Line { FirstFrame = firstFrame });
            }
        }

        /// <summary>The open line's last sample is at stream frame <paramref name="endFrame"/> - 1.</summary>
        public void EndLine(long endFrame)
        {
            lock (_gate)
            {
                var open = OpenLine();
                if (open != null)
                    open.EndFrame = Math.Max(open.FirstFrame, endFrame);
            }
        }

        /// <summary>
        /// speak_scheduled: the oldest line not yet anchored starts at timeline position
        /// <paramref name="ptsUs"/>. Returns false when no line was waiting for it.
        /// </summary>
        public bool OnSpeakScheduled(long ptsUs)
        {
            lock (_gate)
            {
                foreach (var line in _lines)
                {
                    if (line.PtsUs != Auto || line.Unmapped)
                        continue;
                    if (line.Orphaned)
                    {
                        // The first utterance on the new timeline is the rest of this line; we
                        // cannot tell which sample it starts with, so the line stays on Auto.
                        line.Unmapped = true;
                        return true;
                    }
                    line.PtsUs = ptsUs;
                    return true;
                }
                _unmatchedEvents++;
                return false;
            }
        }

        /// <summary>
        /// The session's timeline restarted (the runtime re-created it after a reconnect): every
        /// anchor refers to a timeline that is gone. Finished lines are dropped; an open line is
        /// kept so that the speak_scheduled for its remainder is not taken for the next line's.
        /// </summary>
        public void Reset()
        {
            lock (_gate)
            {
                var open = OpenLine();
                _lines.Clear();
                if (open != null)
                {
                    open.PtsUs = Auto;
                    open.Orphaned = true;
                    _lines.Add(open);
                }
            }
        }

        /// <summary>
        /// Timeline position (µs) of the sample at stream frame <paramref name="heardFrame"/>,
        /// the one being heard now, or <see cref="Auto"/>. Forgets lines that are over.
        /// </summary>
        public long PlayheadUs(long heardFrame)
        {
            lock (_gate)
            {
                int current = -1;
                for (int i = 0; i < _lines.Count; i++)
                {
                    if (_lines[i].FirstFrame <= heardFrame)
                        current = i;
                }
                if (current < 0)
                    return Auto;
                var line = _lines[current];
                if (line.EndFrame >= 0 && heardFrame >= line.EndFrame + _tailFrames)
                {
                    // Over, and so is everything before it; keep the lines after it.
                    _lines.RemoveRange(0, current + 1);
                    return Auto;
                }
                if (current > 0)
                    _lines.RemoveRange(0, current);
                if (line.PtsUs == Auto || line.Unmapped)
                    return Auto;
                return line.PtsUs + FramesToUs(heardFrame - line.FirstFrame);
            }
        }

        long FramesToUs(long frames)
        {
            // frames * 1e6 / rate without overflow or float drift over long lines
            return frames / _sampleRate * 1000000L + frames % _sampleRate * 1000000L / _sampleRate;
        }

        Line OpenLine()
        {
            if (_lines.Count == 0)
                return null;
            var last = _lines[_lines.Count - 1];
            return last.EndFrame < 0 ? last : null;
        }
    }
}
