using Lpm;
using UnityEngine;

namespace Lpm.Unity
{
    /// <summary>
    /// Where the LPM runtime is and how NPC sessions start by default. One asset per runtime
    /// endpoint; every component that names the same asset shares its connections.
    /// </summary>
    [CreateAssetMenu(fileName = "LpmRuntimeSettings", menuName = "LPM/Runtime Settings", order = 0)]
    public sealed class LpmRuntimeSettings : ScriptableObject
    {
        [Header("Runtime")]
        [Tooltip("ZeroMQ endpoint of `lpm serve`: its base port + 1.")]
        public string endpoint = "tcp://127.0.0.1:7701";

        [Header("Security (CurveZMQ, optional)")]
        [Tooltip("The server's public key (Z85, 40 characters). Empty = security off.")]
        public string serverPublicKey = "";
        public string clientPublicKey = "";
        [Tooltip("Keep real keys out of version control: fill this at run time from your own secret store.")]
        public string clientSecretKey = "";

        [Header("Connection (0 = the library's default)")]
        [Tooltip("Ping interval in ms (default 1000).")]
        public int keepaliveMs;
        [Tooltip("No answer this long (ms) counts as disconnected (default 3000).")]
        public int timeoutMs;
        [Tooltip("Audio queued per session while the runtime is slow or away, in ms (default 2000).")]
        public int audioQueueMs;
        [Tooltip("Frames kept per session for the playhead (default 64).")]
        public int frameBuffer;
        [Tooltip("Sessions per connection; the runtime allows 4 per client by default.")]
        [Range(1, 16)]
        public int sessionsPerConnection = 4;

        [Header("Session defaults")]
        [Tooltip("Character used when a face names none; empty = the runtime's default.")]
        public LpmCharacter defaultCharacter;
        [TextArea(2, 4)]
        public string defaultPrompt = "";
        [Tooltip("Frame width and height in pixels; 0 = the runtime's default.")]
        public int frameSize;
        public LpmEncoding encoding = LpmEncoding.Rgba8;
        [Range(0, 100)]
        public int jpegQuality;

        /// <summary>The connection settings for the native client.</summary>
        public LpmClientSettings ToClientSettings()
        {
            return new LpmClientSettings
            {
                Endpoint = endpoint,
                ServerPublicKey = serverPublicKey,
                ClientPublicKey = clientPublicKey,
                ClientSecretKey = clientSecretKey,
                KeepaliveMs = keepaliveMs,
                TimeoutMs = timeoutMs,
                AudioQueueMs = audioQueueMs,
                FrameBuffer = frameBuffer,
            };
        }

        /// <summary>Session options from these defaults, overridden by a face's own character and prompt.</summary>
        public LpmSessionOptions ToSessionOptions(LpmCharacter character, string prompt)
        {
            var chosen = character != null ? character : defaultCharacter;
            return new LpmSessionOptions
            {
                Character = chosen != null ? chosen.characterId : null,
                Prompt = string.IsNullOrEmpty(prompt) ? NullIfEmpty(defaultPrompt) : prompt,
                Width = frameSize,
                Height = frameSize,
                Encoding = encoding,
                JpegQuality = jpegQuality,
            };
        }

        static string NullIfEmpty(string s)
        {
            return string.IsNullOrEmpty(s) ? null : s;
        }
    }
}
