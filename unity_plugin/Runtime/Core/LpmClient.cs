using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace Lpm
{
    /// <summary>
    /// A connection to the LPM runtime through the native client core: one background I/O
    /// thread, reconnecting and resuming sessions by itself. Nothing calls back into C# from
    /// native code; the game thread calls <see cref="Pump"/> once per frame to drain the event
    /// queue, which updates <see cref="Connection"/> and the sessions and raises
    /// <see cref="EventReceived"/> on that thread.
    ///
    /// Thread-safety: audio pushes (LpmSession.PushSpeak/PushListen/EndOfSpeech) may come from
    /// any thread; Pump, session creation and frame presentation belong to one thread (the game
    /// thread).
    /// </summary>
    public sealed class LpmClient : IDisposable
    {
        readonly LpmClientHandle _handle;
        readonly Dictionary<uint, LpmSession> _sessions = new Dictionary<uint, LpmSession>();
        readonly ReconnectStateMachine _connection = new ReconnectStateMachine();
        readonly Stopwatch _clock = Stopwatch.StartNew();
        readonly string _endpoint;
        bool _disposed;

        public unsafe LpmClient(LpmClientSettings settings)
        {
            if (settings == null)
                throw new ArgumentNullException("settings");
            if (string.IsNullOrEmpty(settings.Endpoint))
                throw new ArgumentException("an endpoint is required, e.g. tcp://127.0.0.1:7701", "settings");
            NativeAbi.EnsureCompatible();
            _endpoint = settings.Endpoint;
            byte[] endpoint = Utf8.Encode(settings.Endpoint);
            byte[] serverKey = Utf8.Encode(NullIfEmpty(settings.ServerPublicKey));
            byte[] publicKey = Utf8.Encode(NullIfEmpty(settings.ClientPublicKey));
            byte[] secretKey = Utf8.Encode(NullIfEmpty(settings.ClientSecretKey));
            int status;
            LpmClientHandle handle;
            // A null array pins to a NULL pointer, which is what "not set" means in the config.
            fixed (byte* e = endpoint, sk = serverKey, pk = publicKey, ck = secretKey)
            {
                var config = new NativeClientConfig
                {
                    StructSize = (uint)sizeof(NativeClientConfig),
                    Endpoint = (IntPtr)e,
                    ServerPublicKey = (IntPtr)sk,
                    ClientPublicKey = (IntPtr)pk,
                    ClientSecretKey = (IntPtr)ck,
                    KeepaliveMs = (uint)Math.Max(0, settings.KeepaliveMs),
                    TimeoutMs = (uint)Math.Max(0, settings.TimeoutMs),
                    AudioQueueMs = (uint)Math.Max(0, settings.AudioQueueMs),
                    FrameBuffer = (uint)Math.Max(0, settings.FrameBuffer),
                };
                status = NativeMethods.lpm_client_create(ref config, out handle);
            }
            if (status < 0 || handle == null || handle.IsInvalid)
            {
                if (handle != null)
                    handle.Dispose();
                throw new LpmException((LpmStatus)status, "lpm_client_create(" + settings.Endpoint + ")");
            }
            _handle = handle;
            _connection.Start(Now);
        }

        public string Endpoint
        {
            get { return _endpoint; }
        }

        /// <summary>Seconds since this client was created (the clock the state machine runs on).</summary>
        public double Now
        {
            get { return _clock.Elapsed.TotalSeconds; }
        }

        /// <summary>Connection state as followed from the native events.</summary>
        public ReconnectStateMachine Connection
        {
            get { return _connection; }
        }

        public LpmClientHandle Handle
        {
            get
            {
                ThrowIfDisposed();
                return _handle;
            }
        }

        public bool IsDisposed
        {
            get { return _disposed; }
        }

        /// <summary>Sessions created by this client and not closed.</summary>
        public ICollection<LpmSession> Sessions
        {
            get { return _sessions.Values; }
        }

        /// <summary>Every event drained by Pump, after the client and session have seen it.</summary>
        public event Action<LpmEvent> EventReceived;

        /// <summary>
        /// Asks the runtime for a session; returns at once. The session is usable immediately
        /// (audio and prompts are queued) and becomes ready with its Ready event.
        /// </summary>
        public unsafe LpmSession CreateSession(LpmSessionOptions options)
        {
            ThrowIfDisposed();
            options = options ?? new LpmSessionOptions();
            byte[] character = Utf8.Encode(NullIfEmpty(options.Character));
            byte[] prompt = Utf8.Encode(options.Prompt);
            int status;
            uint id;
            fixed (byte* c = character, p = prompt)
            {
                var native = new NativeSessionOptions
                {
                    StructSize = (uint)sizeof(NativeSessionOptions),
                    Character = (IntPtr)c,
                    Prompt = (IntPtr)p,
                    Width = (uint)Math.Max(0, options.Width),
                    Height = (uint)Math.Max(0, options.Height),
                    Encoding = (uint)options.Encoding,
                    JpegQuality = (uint)Math.Max(0, options.JpegQuality),
                    Seed = unchecked((uint)options.Seed),
                };
                status = NativeMethods.lpm_session_create(_handle, ref native, out id);
            }
            Check(status, "lpm_session_create");
            var session = new LpmSession(this, id, options);
            _sessions[id] = session;
            return session;
        }

        /// <summary>
        /// Drains up to <paramref name="max"/> events: updates Connection and the sessions (clock
        /// anchors, info, closed state) and raises EventReceived for each. Returns the count.
        /// </summary>
        public unsafe int Pump(int max = 256)
        {
            ThrowIfDisposed();
            var native = new NativeEvent();
            int count = 0;
            while (count < max)
            {
                native.StructSize = (uint)sizeof(NativeEvent);
                int status = NativeMethods.lpm_client_poll_event(_handle, ref native);
                if (status == (int)LpmStatus.NoData)
                    break;
                Check(status, "lpm_client_poll_event");
                var e = Decode(ref native);
                count++;
                _connection.OnEvent(e, Now);
                LpmSession session;
                if (e.Session != 0 && _sessions.TryGetValue(e.Session, out session))
                    session.OnEvent(e);
                var handler = EventReceived;
                if (handler != null)
                    handler(e);
            }
            _connection.Tick(Now);
            return count;
        }

        /// <summary>Counters of the connection, and of <paramref name="session"/> when given.</summary>
        public unsafe LpmStats GetStats(LpmSession session = null)
        {
            ThrowIfDisposed();
            var native = new NativeStats { StructSize = (uint)sizeof(NativeStats) };
            Check(NativeMethods.lpm_client_get_stats(_handle, session == null ? 0u : session.Id, ref native),
                  "lpm_client_get_stats");
            return new LpmStats
            {
                Connected = native.Connected != 0,
                Reconnects = (int)native.Reconnects,
                Fps = native.Fps,
                RttMs = native.RttMs,
                LatencyMs = native.LatencyMs,
                FramesReceived = (long)native.FramesReceived,
                FramesDropped = (long)native.FramesDropped,
                AudioDroppedMs = (long)native.AudioDroppedMs,
                EventsDropped = (long)native.EventsDropped,
            };
        }

        /// <summary>Character ids the runtime offered last (refreshed on the Characters event).</summary>
        public unsafe string[] GetCharacters()
        {
            ThrowIfDisposed();
            var buffer = new byte[1024];
            for (int attempt = 0; attempt < 4; attempt++)
            {
                UIntPtr needed;
                int status;
                fixed (byte* p = buffer)
                    status = NativeMethods.lpm_client_get_characters(_handle, p, (UIntPtr)buffer.Length, out needed);
                if (status == (int)LpmStatus.BufferTooSmall)
                {
                    buffer = new byte[Math.Max(buffer.Length * 2, (int)needed.ToUInt64())];
                    continue;
                }
                if (status == (int)LpmStatus.NoData)
                    return new string[0];
                Check(status, "lpm_client_get_characters");
                int length = 0;
                while (length < buffer.Length && buffer[length] != 0)
                    length++;
                string text = Utf8.Decode(buffer, length);
                return text.Split(new[] { '\n' }, StringSplitOptions.RemoveEmptyEntries);
            }
            throw new LpmException(LpmStatus.BufferTooSmall, "lpm_client_get_characters");
        }

        /// <summary>
        /// Asks the runtime to make a character from a portrait (PNG/JPEG bytes) under
        /// <paramref name="name"/>; the CharacterPrepared event (or an Error) follows.
        /// </summary>
        public unsafe void PrepareCharacter(string name, byte[] image)
        {
            ThrowIfDisposed();
            if (string.IsNullOrEmpty(name))
                throw new ArgumentException("a character name is required", "name");
            if (image == null || image.Length == 0)
                throw new ArgumentException("the portrait is empty", "image");
            int status;
            fixed (byte* p = image)
                status = NativeMethods.lpm_client_prepare_character(_handle, Utf8.Encode(name), p,
                                                                    (UIntPtr)image.Length);
            Check(status, "lpm_client_prepare_character");
        }

        /// <summary>Closes every session and the connection, and joins the I/O thread.</summary>
        public void Dispose()
        {
            if (_disposed)
                return;
            _disposed = true;
            foreach (var session in new List<LpmSession>(_sessions.Values))
                session.MarkClosed("client closed");
            _sessions.Clear();
            _handle.Dispose();
            _connection.Stop(Now, "closed");
        }

        internal void Forget(LpmSession session)
        {
            _sessions.Remove(session.Id);
        }

        internal void ThrowIfDisposed()
        {
            if (_disposed)
                throw new ObjectDisposedException("LpmClient");
        }

        internal static void Check(int status, string what)
        {
            if (status < 0)
                throw new LpmException((LpmStatus)status, what);
        }

        static unsafe LpmEvent Decode(ref NativeEvent native)
        {
            var e = new LpmEvent
            {
                Type = (LpmEventType)native.Type,
                Session = native.Session,
                Code = native.Code,
                State = (LpmState)native.State,
                PtsUs = native.PtsUs,
                Value = native.Value,
            };
            fixed (byte* name = native.Name)
                e.Name = Utf8.Decode(name, NativeMethods.NameBytes);
            fixed (byte* text = native.Text)
                e.Text = Utf8.Decode(text, NativeMethods.EventTextBytes);
            return e;
        }

        static string NullIfEmpty(string s)
        {
            return string.IsNullOrEmpty(s) ? null : s;
        }
    }
}
