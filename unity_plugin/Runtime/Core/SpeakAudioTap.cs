using System;
using System.Threading;

namespace Lpm
{
    /// <summary>
    /// The NPC's voice as it passes through the audio engine (Unity: OnAudioFilterRead on the
    /// NPC's AudioSource), on the audio thread:
    /// <list type="number">
    /// <item>finds lines: a line starts at the first buffer louder than <see cref="GateLevel"/>
    /// and ends after <see cref="HangoverSeconds"/> below it (then end_of_speech);</item>
    /// <item>sends every buffer of a line to the speak stream, as it is (AudioChunker);</item>
    /// <item>delays what is heard by <see cref="DelayFrames"/>: the protocol plays NPC audio L
    /// after sending it, which is how the face (generated from the audio) keeps up with it;</item>
    /// <item>counts frames, so that the game thread knows which sample is being heard and asks
    /// the PlaybackClock for the matching frame.</item>
    /// </list>
    /// Stream frame n is sent when the tap has processed n frames and heard when it has
    /// processed n + DelayFrames, hence <see cref="HeardFrame"/> = processed - DelayFrames.
    /// </summary>
    public sealed class SpeakAudioTap
    {
        readonly object _gate = new object();
        readonly IAudioSink _sink;
        readonly PlaybackClock _clock;
        readonly AudioChunker _chunker;
        readonly int _sampleRate;
        readonly int _maxDelayFrames;

        float[] _ring = new float[0]; // delay line, interleaved
        int _ringChannels;
        int _ringPos;                 // in samples
        int _delayFrames;             // in effect
        int _pendingDelayFrames;      // takes effect between lines
        long _processed;
        bool _inLine;
        long _silentFrames;
        long _refused;
        long _lines;
        long _lineStartFrame = -1;

        /// <param name="sink">The session's speak stream.</param>
        /// <param name="clock">Told where lines start and end; may be null.</param>
        /// <param name="sampleRate">Rate of the buffers given to Process (Unity: AudioSettings.outputSampleRate).</param>
        /// <param name="maxDelaySeconds">Largest delay the line buffer is sized for.</param>
        public SpeakAudioTap(IAudioSink sink, PlaybackClock clock, int sampleRate,
                             double maxDelaySeconds = 1.0)
        {
            if (sink == null)
                throw new ArgumentNullException("sink");
            if (sampleRate <= 0)
                throw new ArgumentOutOfRangeException("sampleRate");
            if (clock != null && clock.SampleRate != sampleRate)
                throw new ArgumentException("clock counts at a different rate", "clock");
            _sink = sink;
            _clock = clock;
            _sampleRate = sampleRate;
            _chunker = new AudioChunker(100);
            _maxDelayFrames = (int)(maxDelaySeconds * sampleRate);
            GateLevel = 0.003f; // about -50 dBFS peak
            HangoverSeconds = 0.35;
        }

        /// <summary>Peak level (0..1) above which a buffer counts as voice.</summary>
        public float GateLevel { get; set; }

        /// <summary>Quiet time that ends a line (pauses inside a sentence are shorter).</summary>
        public double HangoverSeconds { get; set; }

        public int SampleRate
        {
            get { return _sampleRate; }
        }

        /// <summary>
        /// Delay between sending and hearing, in frames: the session's latency L at this rate.
        /// A change takes effect when no line is playing, so no line is cut or stretched.
        /// </summary>
        public int DelayFrames
        {
            get { lock (_gate) return _delayFrames; }
            set
            {
                if (value < 0 || value > _maxDelayFrames)
                    throw new ArgumentOutOfRangeException("value", value, "0.." + _maxDelayFrames);
                lock (_gate)
                {
                    _pendingDelayFrames = value;
                    if (!_inLine)
                        ApplyDelay();
                }
            }
        }

        /// <summary>Sets <see cref="DelayFrames"/> from a latency in microseconds.</summary>
        public void SetDelayUs(long latencyUs)
        {
            DelayFrames = (int)Math.Min(_maxDelayFrames, latencyUs * _sampleRate / 1000000L);
        }

        /// <summary>Frames processed so far (sent or not).</summary>
        public long ProcessedFrames
        {
            get { return Interlocked.Read(ref _processed); }
        }

        /// <summary>Stream frame being heard now (may be negative while the delay fills).</summary>
        public long HeardFrame
        {
            get { lock (_gate) return _processed - _delayFrames; }
        }

        public bool InLine
        {
            get { lock (_gate) return _inLine; }
        }

        /// <summary>Lines started so far.</summary>
        public long Lines
        {
            get { return Interlocked.Read(ref _lines); }
        }

        /// <summary>Stream frame where the last line began (-1 before the first).</summary>
        public long LineStartFrame
        {
            get { lock (_gate) return _lineStartFrame; }
        }

        /// <summary>Chunks the speak stream refused (queue full, session gone...).</summary>
        public long RefusedChunks
        {
            get { return Interlocked.Read(ref _refused); }
        }

        /// <summary>
        /// Audio thread: sends <paramref name="data"/> when it belongs to a line and replaces it,
        /// in place, with the audio from DelayFrames ago.
        /// </summary>
        public void Process(float[] data, int channels)
        {
            if (data == null || channels < 1)
                return;
            int frames = data.Length / channels;
            lock (_gate)
            {
                float peak = 0f;
                for (int i = 0; i < frames * channels; i++)
                {
                    float a = Math.Abs(data[i]);
                    if (a > peak)
                        peak = a;
                }
                bool loud = peak >= GateLevel;
                if (!_inLine && loud)
                {
                    ApplyDelay();
                    _inLine = true;
                    _silentFrames = 0;
                    Interlocked.Increment(ref _lines);
                    _lineStartFrame = _processed;
                    if (_clock != null)
                        _clock.BeginLine(_processed);
                }
                if (_inLine)
                {
                    if (channels <= AudioChunker.MaxChannels)
                    {
                        int sent = _chunker.Push(_sink, data, 0, frames, channels, _sampleRate);
                        if (sent < frames)
                            Interlocked.Increment(ref _refused);
                    }
                    _silentFrames = loud ? 0 : _silentFrames + frames;
                    if (_silentFrames >= (long)(HangoverSeconds * _sampleRate))
                        EndLineLocked(_processed + frames);
                }
                Delay(data, channels, frames);
                _processed += frames;
            }
        }

        /// <summary>
        /// Ends the current line now (the game stopped the voice, or the audio source was stopped
        /// and Process is no longer called). Any thread.
        /// </summary>
        public void EndLine()
        {
            lock (_gate)
            {
                if (_inLine)
                    EndLineLocked(_processed);
            }
        }

        /// <summary>
        /// Drops the delayed audio not yet heard (barge-in: the runtime drops it too), replacing
        /// it with silence. Any thread.
        /// </summary>
        public void DropDelayedAudio()
        {
            lock (_gate)
                Array.Clear(_ring, 0, _ring.Length);
        }

        void EndLineLocked(long endFrame)
        {
            _inLine = false;
            _sink.EndOfSpeech();
            if (_clock != null)
                _clock.EndLine(endFrame);
            ApplyDelay();
        }

        void ApplyDelay()
        {
            if (_pendingDelayFrames == _delayFrames)
                return;
            _delayFrames = _pendingDelayFrames;
            _ringChannels = 0; // re-sized (and cleared) on the next buffer
        }

        void Delay(float[] data, int channels, int frames)
        {
            if (_delayFrames == 0)
                return;
            int size = _delayFrames * channels;
            if (_ringChannels != channels || _ring.Length != size)
            {
                _ring = new float[size]; // only when the delay or channel count changes
                _ringChannels = channels;
                _ringPos = 0;
            }
            int n = frames * channels;
            for (int i = 0; i < n; i++)
            {
                float delayed = _ring[_ringPos];
                _ring[_ringPos] = data[i];
                data[i] = delayed;
                if (++_ringPos == size)
                    _ringPos = 0;
            }
        }
    }
}
