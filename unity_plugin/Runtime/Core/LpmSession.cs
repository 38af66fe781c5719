using System;

namespace Lpm
{
    /// <summary>
    /// One NPC performance on the runtime. The local handle stays valid across reconnects (the
    /// native core resumes or re-creates the session). Audio methods may be called from any
    /// thread (the audio thread included) and never block; everything else belongs to the
    /// thread that pumps the client.
    ///
    /// Frames: call <see cref="Present"/> once per rendered frame with the audio playback
    /// position on the session timeline (PlaybackClock) or <see cref="PlaybackClock.Auto"/>. It
    /// polls the native core one frame period ahead of the playhead into a FrameJitterBuffer and
    /// returns the frame due at the playhead, so that curves can be interpolated towards the
    /// next frame and a frame that arrives just in time is still shown.
    /// </summary>
    public sealed class LpmSession : IAudioSink, IDisposable
    {
        readonly LpmClient _client;
        readonly uint _id;
        readonly LpmSessionOptions _options;
        readonly FrameJitterBuffer _frames = new FrameJitterBuffer(8);
        readonly ListenStream _listen;
        const long MaxHoldUs = 1000000;
        long _lastIndex = -1;
        long _lastPlayheadUs = PlaybackClock.Auto;
        LpmState _presentedState = LpmState.Idle;
        volatile bool _closed;

        internal LpmSession(LpmClient client, uint id, LpmSessionOptions options)
        {
            _client = client;
            _id = id;
            _options = options;
            _listen = new ListenStream(this);
        }

        /// <summary>The local handle (lpm_session).</summary>
        public uint Id
        {
            get { return _id; }
        }

        public LpmClient Client
        {
            get { return _client; }
        }

        public LpmSessionOptions Options
        {
            get { return _options; }
        }

        /// <summary>What the runtime said about the session; null until Ready.</summary>
        public LpmSessionInfo Info { get; private set; }

        public bool IsReady
        {
            get { return Info != null; }
        }

        public bool IsClosed
        {
            get { return _closed; }
        }

        /// <summary>closed, timeout, shutdown, or "client closed".</summary>
        public string CloseReason { get; private set; }

        /// <summary>Maps the NPC's audio position to the timeline; set by whoever plays the voice.</summary>
        public PlaybackClock Clock { get; set; }

        public FrameJitterBuffer Frames
        {
            get { return _frames; }
        }

        /// <summary>The player's voice as an audio sink (push_listen).</summary>
        public IAudioSink Listen
        {
            get { return _listen; }
        }

        /// <summary>State of the frame shown last.</summary>
        public LpmState PresentedState
        {
            get { return _presentedState; }
        }

        /// <summary>Whether the last Present returned a frame not returned before.</summary>
        public bool FrameChanged { get; private set; }

        /// <summary>The playhead the last Present used (µs), Auto resolved.</summary>
        public long LastPlayheadUs
        {
            get { return _lastPlayheadUs; }
        }

        public event Action<LpmSession> Ready;
        /// <summary>After a reconnect: true when the runtime re-created the session (new timeline).</summary>
        public event Action<LpmSession, bool> Resumed;
        public event Action<LpmSession, string> Closed;
        /// <summary>speak_scheduled: (pts_us, duration_us) of a new utterance.</summary>
        public event Action<LpmSession, long, long> SpeakScheduled;
        public event Action<LpmSession, LpmEvent> ErrorReceived;
        /// <summary>The state of the frame shown changed: (old, new). Speaking starts/stops here, in sync with the face.</summary>
        public event Action<LpmSession, LpmState, LpmState> PresentedStateChanged;

        // ---- audio (any thread) -------------------------------------------------------------

        /// <summary>NPC voice: interleaved float frames [offsetFrames, offsetFrames + frames).</summary>
        public LpmStatus PushSpeak(float[] interleaved, int offsetFrames, int frames, int channels, int sampleRate)
        {
            return PushAudio(true, interleaved, offsetFrames, frames, channels, sampleRate);
        }

        /// <summary>Player voice as the NPC hears it.</summary>
        public LpmStatus PushListen(float[] interleaved, int offsetFrames, int frames, int channels, int sampleRate)
        {
            return PushAudio(false, interleaved, offsetFrames, frames, channels, sampleRate);
        }

        LpmStatus IAudioSink.Push(float[] interleaved, int offsetFrames, int frames, int channels, int sampleRate)
        {
            return PushSpeak(interleaved, offsetFrames, frames, channels, sampleRate);
        }

        /// <summary>The NPC's line is complete: the next speak audio starts a new utterance.</summary>
        public LpmStatus EndOfSpeech()
        {
            if (_closed || _client.IsDisposed)
                return LpmStatus.UnknownSession;
            try
            {
                return (LpmStatus)NativeMethods.lpm_session_end_of_speech(_client.Handle, _id);
            }
            catch (ObjectDisposedException)
            {
                return LpmStatus.UnknownSession;
            }
        }

        unsafe LpmStatus PushAudio(bool speak, float[] data, int offsetFrames, int frames, int channels, int rate)
        {
            if (data == null || channels < 1 || rate <= 0 || offsetFrames < 0 || frames < 0 ||
                (long)(offsetFrames + frames) * channels > data.Length)
                return LpmStatus.InvalidArgument;
            if (frames == 0)
                return LpmStatus.Ok;
            if (_closed || _client.IsDisposed)
                return LpmStatus.UnknownSession;
            try
            {
                fixed (float* p = data)
                {
                    float* start = p + (long)offsetFrames * channels;
                    int status = speak
                        ? NativeMethods.lpm_session_push_speak(_client.Handle, _id, start, (uint)frames, (uint)channels, (uint)rate)
                        : NativeMethods.lpm_session_push_listen(_client.Handle, _id, start, (uint)frames, (uint)channels, (uint)rate);
                    return (LpmStatus)status;
                }
            }
            catch (ObjectDisposedException)
            {
                return LpmStatus.UnknownSession; // the client closed under an audio-thread push
            }
        }

        // ---- control ------------------------------------------------------------------------

        /// <summary>Replaces the text prompt (null or empty clears it).</summary>
        public void SetPrompt(string prompt)
        {
            ThrowIfClosed();
            LpmClient.Check(NativeMethods.lpm_session_set_prompt(_client.Handle, _id, Utf8.Encode(prompt ?? string.Empty)),
                            "lpm_session_set_prompt");
        }

        /// <summary>A one-off expression ("smile", "surprised"...), intensity 0..1, duration in seconds (0 = the runtime's default).</summary>
        public void TriggerEmote(string emote, float intensity = 1f, float durationSeconds = 0f)
        {
            ThrowIfClosed();
            if (string.IsNullOrEmpty(emote))
                throw new ArgumentException("an emote is required", "emote");
            LpmClient.Check(NativeMethods.lpm_session_trigger_emote(_client.Handle, _id, Utf8.Encode(emote), intensity, durationSeconds),
                            "lpm_session_trigger_emote");
        }

        /// <summary>Barge-in: speak audio not yet played is dropped and the mouth returns to rest.</summary>
        public void Interrupt()
        {
            ThrowIfClosed();
            LpmClient.Check(NativeMethods.lpm_session_interrupt(_client.Handle, _id), "lpm_session_interrupt");
        }

        /// <summary>The client's estimate of the session timeline now (µs); false until ready.</summary>
        public bool TryGetTimelineNow(out long nowUs)
        {
            nowUs = 0;
            if (_closed)
                return false;
            return NativeMethods.lpm_session_timeline_now(_client.Handle, _id, out nowUs) == (int)LpmStatus.Ok;
        }

        /// <summary>Re-reads the session info (size, fps, latency) from the native core.</summary>
        public unsafe bool RefreshInfo()
        {
            if (_closed)
                return false;
            var native = new NativeSessionInfo { StructSize = (uint)sizeof(NativeSessionInfo) };
            if (NativeMethods.lpm_session_get_info(_client.Handle, _id, ref native) != (int)LpmStatus.Ok)
                return false;
            var info = new LpmSessionInfo
            {
                Width = (int)native.Width,
                Height = (int)native.Height,
                Encoding = (LpmEncoding)native.Encoding,
                Fps = native.Fps,
                SampleRate = (int)native.SampleRate,
                LatencyUs = native.LatencyUs,
            };
            info.SessionId = Utf8.Decode(native.SessionId, NativeMethods.NameBytes);
            info.Character = Utf8.Decode(native.Character, NativeMethods.NameBytes);
            Info = info;
            return true;
        }

        // ---- frames (game thread) -----------------------------------------------------------

        /// <summary>
        /// Resolves <see cref="PlaybackClock.Auto"/> to the client's estimate timeline_now - L;
        /// returns Auto only while the session is not ready.
        /// </summary>
        public long ResolvePlayhead(long playheadUs)
        {
            if (playheadUs != PlaybackClock.Auto)
                return playheadUs;
            long now;
            if (Info == null || !TryGetTimelineNow(out now))
                return PlaybackClock.Auto;
            return now - Info.LatencyUs;
        }

        /// <summary>
        /// The frame to show at <paramref name="playheadUs"/> (timeline µs, or Auto), or null when
        /// none is due yet. With <paramref name="pixels"/> false only info and curves are
        /// fetched. The frame stays valid until the next Present or SampleCurves.
        /// </summary>
        public unsafe BufferedFrame Present(long playheadUs, bool pixels = true)
        {
            FrameChanged = false;
            if (_closed || Info == null)
                return null;
            long playhead = ResolvePlayhead(playheadUs);
            if (playhead == PlaybackClock.Auto)
                return null;
            // Switching between the audio mapping and the client's estimate can step back by the
            // network delay; hold still instead of showing a frame twice. A large step back means
            // the timeline itself changed, and is followed.
            if (_lastPlayheadUs != PlaybackClock.Auto && playhead < _lastPlayheadUs &&
                _lastPlayheadUs - playhead < MaxHoldUs)
                playhead = _lastPlayheadUs;
            _lastPlayheadUs = playhead;
            Fetch(playhead + Info.FramePeriodUs, pixels);
            var shown = _frames.Select(playhead);
            if (shown != null && shown.Index != _lastIndex)
            {
                _lastIndex = shown.Index;
                FrameChanged = true;
                if (shown.State != _presentedState)
                {
                    var old = _presentedState;
                    _presentedState = shown.State;
                    var handler = PresentedStateChanged;
                    if (handler != null)
                        handler(this, old, shown.State);
                }
            }
            return shown;
        }

        /// <summary>
        /// Curves at the playhead of the last Present, interpolated towards the next frame;
        /// false when no frame is due.
        /// </summary>
        public bool SampleCurves(float[] curves)
        {
            if (Info == null || _lastPlayheadUs == PlaybackClock.Auto)
                return false;
            return _frames.SampleCurves(_lastPlayheadUs, 2 * Info.FramePeriodUs, curves);
        }

        unsafe void Fetch(long pollPlayheadUs, bool pixels)
        {
            int bytes = pixels ? Info.Width * Info.Height * 4 : 0;
            var frame = _frames.Acquire(bytes);
            var native = new NativeFrameInfo { StructSize = (uint)sizeof(NativeFrameInfo) };
            int status;
            if (bytes > 0)
            {
                fixed (byte* p = frame.Rgba)
                    status = NativeMethods.lpm_session_poll_frame(_client.Handle, _id, pollPlayheadUs, ref native, p, (UIntPtr)bytes);
            }
            else
            {
                status = NativeMethods.lpm_session_poll_frame(_client.Handle, _id, pollPlayheadUs, ref native, null, UIntPtr.Zero);
            }
            if (status == (int)LpmStatus.BufferTooSmall)
                RefreshInfo(); // the frame size changed: the next poll gets a bigger buffer
            if (status != (int)LpmStatus.Ok)
            {
                _frames.Release(frame);
                return;
            }
            frame.Index = native.Index;
            frame.PtsUs = native.PtsUs;
            frame.State = (LpmState)native.State;
            frame.Width = (int)native.Width;
            frame.Height = (int)native.Height;
            frame.HasPixels = bytes > 0;
            for (int i = 0; i < NativeMethods.NumCurves; i++)
                frame.Curves[i] = native.Curves[i];
            _frames.Insert(frame);
        }

        // ---- events (from LpmClient.Pump) ---------------------------------------------------

        internal void OnEvent(LpmEvent e)
        {
            switch (e.Type)
            {
                case LpmEventType.SessionReady:
                    RefreshInfo();
                    Raise(Ready);
                    break;
                case LpmEventType.SessionResumed:
                    RefreshInfo();
                    bool recreated = e.Value != 0;
                    if (recreated)
                    {
                        // New timeline, starting at 0: frames and anchors from the old one are void.
                        _frames.Clear();
                        _lastIndex = -1;
                        _lastPlayheadUs = PlaybackClock.Auto;
                        if (Clock != null)
                            Clock.Reset();
                    }
                    var resumed = Resumed;
                    if (resumed != null)
                        resumed(this, recreated);
                    break;
                case LpmEventType.SessionClosed:
                    MarkClosed(e.Text);
                    break;
                case LpmEventType.SpeakScheduled:
                    if (Clock != null)
                        Clock.OnSpeakScheduled(e.PtsUs);
                    var scheduled = SpeakScheduled;
                    if (scheduled != null)
                        scheduled(this, e.PtsUs, e.Value);
                    break;
                case LpmEventType.Error:
                    var error = ErrorReceived;
                    if (error != null)
                        error(this, e);
                    break;
            }
        }

        internal void MarkClosed(string reason)
        {
            if (_closed)
                return;
            _closed = true;
            CloseReason = reason;
            _frames.Clear();
            var handler = Closed;
            if (handler != null)
                handler(this, reason);
        }

        void Raise(Action<LpmSession> handler)
        {
            if (handler != null)
                handler(this);
        }

        void ThrowIfClosed()
        {
            if (_closed)
                throw new LpmException(LpmStatus.UnknownSession, "session " + _id + " is closed (" + CloseReason + ")");
        }

        /// <summary>Closes the session on the runtime and forgets it.</summary>
        public void Close()
        {
            if (_closed)
                return;
            if (!_client.IsDisposed)
            {
                NativeMethods.lpm_session_close(_client.Handle, _id);
                _client.Forget(this);
            }
            MarkClosed("closed");
        }

        public void Dispose()
        {
            Close();
        }

        sealed class ListenStream : IAudioSink
        {
            readonly LpmSession _session;

            public ListenStream(LpmSession session)
            {
                _session = session;
            }

            public LpmStatus Push(float[] interleaved, int offsetFrames, int frames, int channels, int sampleRate)
            {
                return _session.PushListen(interleaved, offsetFrames, frames, channels, sampleRate);
            }

            public LpmStatus EndOfSpeech()
            {
                return LpmStatus.Ok; // the listen stream has no utterances
            }
        }
    }
}
