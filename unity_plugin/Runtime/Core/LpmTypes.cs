// Managed mirrors of the C ABI's enums and data, shaped for C# callers.
using System;

namespace Lpm
{
    /// <summary>Return codes of the C ABI (lpm_status). Negative = failure, positive = nothing new.</summary>
    public enum LpmStatus
    {
        Ok = 0,
        NoData = 1,
        InvalidArgument = -1,
        UnknownSession = -2,
        NotReady = -3,
        QueueFull = -4,
        BufferTooSmall = -5,
        NotConnected = -6,
        Limit = -7,
        Internal = -100,
    }

    /// <summary>Voice activity of a frame (PROTOCOL.md section 7).</summary>
    public enum LpmState
    {
        Idle = 0,
        Speak = 1,
        Listen = 2,
        Both = 3,
    }

    /// <summary>Frame encoding on the wire; the library hands out RGBA either way.</summary>
    public enum LpmEncoding
    {
        Rgba8 = 0,
        Jpeg = 1,
    }

    public enum LpmEventType
    {
        Connected = 1,
        Disconnected = 2,
        SessionReady = 3,
        SessionResumed = 4,
        SessionClosed = 5,
        StateChanged = 6,
        SpeakScheduled = 7,
        Late = 8,
        Error = 9,
        Characters = 10,
        CharacterPrepared = 11,
        Shutdown = 12,
    }

    /// <summary>A failed call into the native client core.</summary>
    public class LpmException : Exception
    {
        public LpmStatus Status { get; private set; }

        public LpmException(LpmStatus status, string what)
            : base(what + ": " + NativeAbi.StatusName(status))
        {
            Status = status;
        }

        public LpmException(string message) : base(message)
        {
            Status = LpmStatus.Internal;
        }

        public LpmException(string message, Exception inner) : base(message, inner)
        {
            Status = LpmStatus.Internal;
        }
    }

    /// <summary>The native library does not match this assembly (version or struct layout).</summary>
    public sealed class LpmAbiException : LpmException
    {
        public LpmAbiException(string message) : base(message) { }

        public LpmAbiException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>How to reach the runtime (lpm_client_config). Zero values take the library's defaults.</summary>
    public sealed class LpmClientSettings
    {
        /// <summary>ZeroMQ endpoint of `lpm serve`: base port + 1, e.g. "tcp://127.0.0.1:7701".</summary>
        public string Endpoint = "tcp://127.0.0.1:7701";
        /// <summary>Server's CurveZMQ public key (Z85, 40 chars); null or empty = security off.</summary>
        public string ServerPublicKey;
        public string ClientPublicKey;
        public string ClientSecretKey;
        /// <summary>Ping interval in ms (0 = 1000).</summary>
        public int KeepaliveMs;
        /// <summary>No reply this long = disconnected, in ms (0 = 3000).</summary>
        public int TimeoutMs;
        /// <summary>Bound on queued audio per session and stream, in ms (0 = 2000).</summary>
        public int AudioQueueMs;
        /// <summary>Frames kept per session for the playhead (0 = 64).</summary>
        public int FrameBuffer;
    }

    /// <summary>What a session shows (lpm_session_options).</summary>
    public sealed class LpmSessionOptions
    {
        /// <summary>Character id; null or empty = the runtime's default.</summary>
        public string Character;
        /// <summary>Text prompt steering the performance; null = none.</summary>
        public string Prompt;
        /// <summary>Frame size in pixels; 0 = the runtime's default.</summary>
        public int Width;
        public int Height;
        public LpmEncoding Encoding = LpmEncoding.Rgba8;
        /// <summary>JPEG quality 1..100 when Encoding is Jpeg; 0 = 85.</summary>
        public int JpegQuality;
        public int Seed;
    }

    /// <summary>What the runtime said about a session once it exists (lpm_session_info).</summary>
    public sealed class LpmSessionInfo
    {
        public int Width;
        public int Height;
        public LpmEncoding Encoding;
        public float Fps;
        /// <summary>The runtime's internal audio rate (16000 Hz); audio may be sent at any supported rate.</summary>
        public int SampleRate;
        /// <summary>Latency L in microseconds: play NPC audio this long after sending it.</summary>
        public long LatencyUs;
        public string SessionId;
        public string Character;

        /// <summary>Frame period in microseconds (40 000 at 25 fps).</summary>
        public long FramePeriodUs
        {
            get { return Fps > 0 ? (long)Math.Round(1e6 / Fps) : 40000; }
        }
    }

    /// <summary>One event from the client's queue (lpm_event), already decoded.</summary>
    public struct LpmEvent
    {
        public LpmEventType Type;
        /// <summary>Local session handle; 0 for client-wide events.</summary>
        public uint Session;
        /// <summary>Protocol error code for Error events (PROTOCOL.md section 8).</summary>
        public int Code;
        public LpmState State;
        public long PtsUs;
        /// <summary>Type-specific: duration_us (SpeakScheduled), 0 resumed / 1 re-created (SessionResumed), late chunks (Late).</summary>
        public long Value;
        /// <summary>Error name or character id.</summary>
        public string Name;
        public string Text;

        public override string ToString()
        {
            return string.Format("{0} session={1} code={2} state={3} pts={4} value={5} name='{6}' text='{7}'",
                                 Type, Session, Code, State, PtsUs, Value, Name, Text);
        }
    }

    /// <summary>Connection and session counters (lpm_stats).</summary>
    public struct LpmStats
    {
        public bool Connected;
        public int Reconnects;
        /// <summary>Frames received per second over the last 2 s.</summary>
        public float Fps;
        public float RttMs;
        /// <summary>Session latency L in ms.</summary>
        public float LatencyMs;
        public long FramesReceived;
        public long FramesDropped;
        public long AudioDroppedMs;
        public long EventsDropped;
    }
}
