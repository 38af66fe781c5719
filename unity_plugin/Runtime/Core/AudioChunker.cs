using System;

namespace Lpm
{
    /// <summary>Where chunks of one audio stream go (a session's speak or listen stream, or a fake).</summary>
    public interface IAudioSink
    {
        /// <summary>
        /// Takes <paramref name="frames"/> sample frames of interleaved float audio starting at
        /// frame <paramref name="offsetFrames"/> of <paramref name="interleaved"/>; copies them.
        /// Must be safe to call from the audio thread.
        /// </summary>
        LpmStatus Push(float[] interleaved, int offsetFrames, int frames, int channels, int sampleRate);

        /// <summary>The utterance is complete (speak streams only; listen sinks ignore it).</summary>
        LpmStatus EndOfSpeech();
    }

    /// <summary>
    /// Hands interleaved float buffers to a sink in chunks of at most <see cref="MaxChunkMs"/>,
    /// as they are: no mixdown (the native core mixes to mono) and no resampling (the runtime
    /// resamples to its internal rate), so the audio is converted exactly once, on one side.
    /// Chunks stay small so that one large buffer (a whole clip) does not overrun the native
    /// bounded queue in a single call, and a refusal costs at most one chunk. Allocates nothing.
    /// </summary>
    public sealed class AudioChunker
    {
        /// <summary>Protocol limits (PROTOCOL.md section 8): 1..8 channels.</summary>
        public const int MaxChannels = 8;

        readonly int _maxChunkMs;

        public AudioChunker(int maxChunkMs = 100)
        {
            if (maxChunkMs <= 0)
                throw new ArgumentOutOfRangeException("maxChunkMs");
            _maxChunkMs = maxChunkMs;
        }

        public int MaxChunkMs
        {
            get { return _maxChunkMs; }
        }

        /// <summary>Largest chunk in sample frames at <paramref name="sampleRate"/> (at least 1).</summary>
        public int MaxChunkFrames(int sampleRate)
        {
            return Math.Max(1, (int)((long)sampleRate * _maxChunkMs / 1000));
        }

        /// <summary>Status of the last chunk a Push refused (Ok when none was).</summary>
        public LpmStatus LastFailure { get; private set; }

        /// <summary>
        /// Pushes frames [offsetFrames, offsetFrames + frames) of <paramref name="interleaved"/>.
        /// Returns the frames the sink accepted: all of them, or fewer when a chunk was refused
        /// (then <see cref="LastFailure"/> says why, and the rest is not sent).
        /// </summary>
        public int Push(IAudioSink sink, float[] interleaved, int offsetFrames, int frames,
                        int channels, int sampleRate)
        {
            if (sink == null)
                throw new ArgumentNullException("sink");
            if (interleaved == null)
                throw new ArgumentNullException("interleaved");
            if (channels < 1 || channels > MaxChannels)
                throw new ArgumentOutOfRangeException("channels", channels, "1..8");
            if (sampleRate <= 0)
                throw new ArgumentOutOfRangeException("sampleRate");
            if (offsetFrames < 0 || frames < 0 || (long)(offsetFrames + frames) * channels > interleaved.Length)
                throw new ArgumentOutOfRangeException("frames", "range outside the buffer");
            int step = MaxChunkFrames(sampleRate);
            int done = 0;
            while (done < frames)
            {
                int n = Math.Min(step, frames - done);
                var status = sink.Push(interleaved, offsetFrames + done, n, channels, sampleRate);
                if (status < 0)
                {
                    LastFailure = status;
                    return done;
                }
                done += n;
            }
            return done;
        }

        /// <summary>
        /// The frames written to a looping capture buffer (a microphone clip) since the last
        /// read: from <paramref name="readPosition"/> up to <paramref name="writePosition"/> in a
        /// ring of <paramref name="ringFrames"/>, as one or two contiguous spans.
        /// </summary>
        public static RingSpans NewFrames(int readPosition, int writePosition, int ringFrames)
        {
            if (ringFrames <= 0)
                throw new ArgumentOutOfRangeException("ringFrames");
            readPosition = ((readPosition % ringFrames) + ringFrames) % ringFrames;
            writePosition = ((writePosition % ringFrames) + ringFrames) % ringFrames;
            if (writePosition >= readPosition)
                return new RingSpans(readPosition, writePosition - readPosition, 0, 0);
            return new RingSpans(readPosition, ringFrames - readPosition, 0, writePosition);
        }
    }

    /// <summary>Up to two contiguous spans of a ring buffer, in sample frames.</summary>
    public struct RingSpans
    {
        public readonly int FirstStart;
        public readonly int FirstCount;
        public readonly int SecondStart;
        public readonly int SecondCount;

        public RingSpans(int firstStart, int firstCount, int secondStart, int secondCount)
        {
            FirstStart = firstStart;
            FirstCount = firstCount;
            SecondStart = secondStart;
            SecondCount = secondCount;
        }

        public int Total
        {
            get { return FirstCount + SecondCount; }
        }
    }

    /// <summary>
    /// How much of a recorded line is due by now when it is streamed at real-time pace (the
    /// editor preview, tests): frames = elapsed seconds * rate, in whole steps of stepMs.
    /// </summary>
    public sealed class AudioPacer
    {
        readonly int _sampleRate;
        readonly int _stepFrames;
        readonly int _totalFrames;
        int _sent;

        public AudioPacer(int sampleRate, int totalFrames, int stepMs = 20)
        {
            _sampleRate = sampleRate;
            _stepFrames = Math.Max(1, sampleRate * stepMs / 1000);
            _totalFrames = totalFrames;
        }

        public int SentFrames
        {
            get { return _sent; }
        }

        public bool Done
        {
            get { return _sent >= _totalFrames; }
        }

        /// <summary>
        /// The next span to send after <paramref name="elapsedSeconds"/> of playback, whole steps
        /// only (the last one may be short); count 0 when nothing is due. Marks it as sent.
        /// </summary>
        public int Due(double elapsedSeconds, out int startFrame)
        {
            startFrame = _sent;
            long due = (long)(elapsedSeconds * _sampleRate);
            due = due / _stepFrames * _stepFrames + _stepFrames; // the step being played is sent ahead
            int end = (int)Math.Min(_totalFrames, Math.Max(due, 0));
            if (end <= _sent)
                return 0;
            int count = end - _sent;
            _sent = end;
            return count;
        }
    }
}
