using System;

namespace Lpm
{
    /// <summary>What an Inspector shows about one NPC: connection, rates, latency, counters.</summary>
    public struct PerformerStatus
    {
        public ConnectionState Connection;
        public string ConnectionText;
        public bool SessionReady;
        public string SessionId;
        public float FramesPerSecond;
        public float LatencyMs;
        public float RoundTripMs;
        public long FramesReceived;
        public long FramesDropped;
        public long AudioDroppedMs;
        /// <summary>The playhead followed the NPC's audio (true) or the client's estimate.</summary>
        public bool PlayheadFromAudio;
        public LpmState State;
        public bool Speaking;
    }

    /// <summary>
    /// One NPC's face, engine-independent: a session, the voice tap (audio thread), the playback
    /// clock, and the frame shown at the audio playback position. An engine component forwards
    /// its audio callback to <see cref="ProcessAudio"/> and calls <see cref="Present"/> once per
    /// rendered frame with the stream frame being heard; it uploads <see cref="Frame"/> when
    /// <see cref="FrameChanged"/> and reads <see cref="Curves"/> for blendshapes.
    /// </summary>
    public sealed class NpcPerformer : IDisposable
    {
        /// <summary>Latency assumed until the runtime states its own (PROTOCOL.md section 4: the
        /// default generator, the Online LPM).</summary>
        public const long DefaultLatencyUs = 340000;

        readonly LpmSession _session;
        readonly PlaybackClock _clock;
        volatile SpeakAudioTap _tap;
        readonly bool _pixels;
        readonly float[] _curves = new float[NativeMethods.NumCurves];
        bool _speaking;
        bool _fromAudio;

        /// <param name="outputSampleRate">Rate of the audio given to ProcessAudio (the engine's output rate).</param>
        /// <param name="pixels">Fetch RGBA frames (a texture target) or curves only (blendshapes).</param>
        public NpcPerformer(LpmClient client, LpmSessionOptions options, int outputSampleRate, bool pixels)
        {
            if (client == null)
                throw new ArgumentNullException("client");
            _pixels = pixels;
            _session = client.CreateSession(options);
            _clock = new PlaybackClock(outputSampleRate);
            _session.Clock = _clock;
            var tap = new SpeakAudioTap(_session, _clock, outputSampleRate);
            tap.SetDelayUs(DefaultLatencyUs);
            _tap = tap;
            _session.Ready += s => ApplyLatency();
            _session.Resumed += (s, recreated) => ApplyLatency();
            _session.PresentedStateChanged += OnStateChanged;
            _session.ErrorReceived += (s, e) => Raise(Error, string.IsNullOrEmpty(e.Name) ? e.Text : e.Name + ": " + e.Text);
        }

        public LpmSession Session
        {
            get { return _session; }
        }

        public PlaybackClock Clock
        {
            get { return _clock; }
        }

        /// <summary>The voice tap; null once disposed.</summary>
        public SpeakAudioTap Tap
        {
            get { return _tap; }
        }

        /// <summary>The frame shown by the last Present (null before the first one is due).</summary>
        public BufferedFrame Frame { get; private set; }

        /// <summary>Whether the last Present moved to a new frame (upload its pixels).</summary>
        public bool FrameChanged { get; private set; }

        /// <summary>Curves at the playhead, interpolated between frames (61, protocol order).</summary>
        public float[] Curves
        {
            get { return _curves; }
        }

        public bool IsSpeaking
        {
            get { return _speaking; }
        }

        /// <summary>The last Present used the audio playback position (true) or the client's estimate.</summary>
        public bool PlayheadFromAudio
        {
            get { return _fromAudio; }
        }

        /// <summary>The face starts speaking (in sync with what is shown, not when the runtime decided it).</summary>
        public event Action SpeakingStarted;
        public event Action SpeakingStopped;
        /// <summary>An error the runtime reported for this NPC's session, as one line.</summary>
        public event Action<string> Error;

        /// <summary>
        /// Audio thread: the NPC's voice as it is about to be heard, interleaved. Sent to the
        /// runtime and replaced in place by the same audio delayed by the session latency.
        /// </summary>
        public void ProcessAudio(float[] data, int channels)
        {
            var tap = _tap;
            if (tap != null)
                tap.Process(data, channels);
        }

        /// <summary>
        /// Game thread, once per rendered frame: shows the frame for the audio sample at stream
        /// frame <paramref name="heardFrame"/> (Tap.HeardFrame minus the output latency the
        /// engine adds after the audio callback). Returns the frame shown, or null.
        /// </summary>
        public BufferedFrame Present(long heardFrame)
        {
            long playhead = _clock.PlayheadUs(heardFrame);
            _fromAudio = playhead != PlaybackClock.Auto;
            var frame = _session.Present(playhead, _pixels);
            FrameChanged = frame != null && _session.FrameChanged;
            if (frame != null)
            {
                Frame = frame;
                _session.SampleCurves(_curves);
            }
            return frame;
        }

        /// <summary>Ends the current line at once (the game stopped the voice).</summary>
        public void EndLine()
        {
            var tap = _tap;
            if (tap != null)
                tap.EndLine();
        }

        public PerformerStatus Status()
        {
            var client = _session.Client;
            var status = new PerformerStatus
            {
                Connection = client.Connection.State,
                ConnectionText = client.Connection.StatusText(client.Now),
                SessionReady = _session.IsReady,
                SessionId = _session.Info != null ? _session.Info.SessionId : string.Empty,
                PlayheadFromAudio = _fromAudio,
                State = _session.PresentedState,
                Speaking = _speaking,
            };
            if (!client.IsDisposed && !_session.IsClosed)
            {
                try
                {
                    var stats = client.GetStats(_session);
                    status.FramesPerSecond = stats.Fps;
                    status.LatencyMs = stats.LatencyMs;
                    status.RoundTripMs = stats.RttMs;
                    status.FramesReceived = stats.FramesReceived;
                    status.FramesDropped = stats.FramesDropped;
                    status.AudioDroppedMs = stats.AudioDroppedMs;
                }
                catch (LpmException)
                {
                    // No counters yet (session not known to the runtime): the rest still holds.
                }
            }
            return status;
        }

        /// <summary>Stops the audio tap first (the audio thread may still call in), then closes the session.</summary>
        public void Dispose()
        {
            _tap = null;
            _session.Close();
            Frame = null;
        }

        void ApplyLatency()
        {
            var tap = _tap;
            if (tap != null && _session.Info != null && _session.Info.LatencyUs > 0)
                tap.SetDelayUs(_session.Info.LatencyUs);
        }

        void OnStateChanged(LpmSession session, LpmState old, LpmState now)
        {
            bool speaking = now == LpmState.Speak || now == LpmState.Both;
            if (speaking == _speaking)
                return;
            _speaking = speaking;
            var handler = speaking ? SpeakingStarted : SpeakingStopped;
            if (handler != null)
                handler();
        }

        static void Raise(Action<string> handler, string text)
        {
            if (handler != null)
                handler(text);
        }
    }
}
