using System;

namespace Lpm
{
    /// <summary>
    /// Streams a recorded line (a WAV, a TTS result) to a speak stream at real-time pace, in
    /// 20 ms steps, and tells the clock where the line starts and ends in the line's own sample
    /// frames, so that a player of the same samples (Unity: AudioSource.timeSamples) is the
    /// playback position. Start playing the samples L after the first Tick.
    /// </summary>
    public sealed class LineStreamer
    {
        readonly IAudioSink _sink;
        readonly PlaybackClock _clock;
        readonly float[] _samples;
        readonly int _channels;
        readonly int _rate;
        readonly AudioPacer _pacer;
        readonly AudioChunker _chunker = new AudioChunker(100);
        bool _ended;

        public LineStreamer(IAudioSink sink, PlaybackClock clock, float[] interleaved, int channels, int sampleRate, int stepMs = 20)
        {
            if (sink == null)
                throw new ArgumentNullException("sink");
            if (interleaved == null || channels < 1 || interleaved.Length % channels != 0)
                throw new ArgumentException("interleaved samples with a whole number of frames", "interleaved");
            if (clock != null && clock.SampleRate != sampleRate)
                throw new ArgumentException("clock counts at a different rate", "clock");
            _sink = sink;
            _clock = clock;
            _samples = interleaved;
            _channels = channels;
            _rate = sampleRate;
            _pacer = new AudioPacer(sampleRate, interleaved.Length / channels, stepMs);
            if (_clock != null)
                _clock.BeginLine(0);
        }

        /// <summary>Every sample was sent and end_of_speech given.</summary>
        public bool Done
        {
            get { return _ended; }
        }

        public int Frames
        {
            get { return _samples.Length / _channels; }
        }

        /// <summary>Frames refused by the sink (queue full, not connected).</summary>
        public long RefusedFrames { get; private set; }

        /// <summary>Sends what is due <paramref name="elapsedSeconds"/> after the first call.</summary>
        public void Tick(double elapsedSeconds)
        {
            if (_ended)
                return;
            int start;
            int count = _pacer.Due(elapsedSeconds, out start);
            if (count > 0)
                RefusedFrames += count - _chunker.Push(_sink, _samples, start, count, _channels, _rate);
            if (_pacer.Done)
            {
                _ended = true;
                _sink.EndOfSpeech();
                if (_clock != null)
                    _clock.EndLine(Frames);
            }
        }
    }
}
