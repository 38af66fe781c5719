using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Threading;
using NUnit.Framework;

namespace Lpm.Tests
{
    /// <summary>
    /// A running `lpm serve` for end-to-end tests, described by the environment:
    /// LPM_TEST_ENDPOINT (ZeroMQ endpoint; tests are ignored without it), LPM_TEST_WAV (a speech
    /// WAV), LPM_TEST_SERVE_CMD (shell command that starts the server again on the same port),
    /// LPM_TEST_SERVER_PIDFILE (file holding the running server's PID), LPM_TEST_REPORT (optional
    /// file the tests append their measurements to, one "key=value" a line).
    /// </summary>
    public static class LiveRuntime
    {
        public static string Endpoint
        {
            get { return Require("LPM_TEST_ENDPOINT"); }
        }

        public static string WavPath
        {
            get { return Require("LPM_TEST_WAV"); }
        }

        public static string Require(string name)
        {
            string value = Environment.GetEnvironmentVariable(name);
            if (string.IsNullOrEmpty(value))
                Assert.Ignore(name + " is not set: no live runtime to test against");
            return value;
        }

        public static LpmClientSettings Settings(int keepaliveMs = 0, int timeoutMs = 0)
        {
            return new LpmClientSettings { Endpoint = Endpoint, KeepaliveMs = keepaliveMs, TimeoutMs = timeoutMs };
        }

        /// <summary>Pumps the client until <paramref name="done"/> holds; fails after the timeout.</summary>
        public static void PumpUntil(LpmClient client, Func<bool> done, double seconds, string what)
        {
            var sw = Stopwatch.StartNew();
            while (!done())
            {
                if (sw.Elapsed.TotalSeconds > seconds)
                    Assert.Fail("timed out after {0} s waiting for {1} (connection: {2})", seconds, what,
                                client.Connection.StatusText(client.Now));
                client.Pump();
                Thread.Sleep(5);
            }
        }

        public static void Report(string key, double value)
        {
            string line = key + "=" + value.ToString("0.####", CultureInfo.InvariantCulture);
            Console.WriteLine(line);
            string path = Environment.GetEnvironmentVariable("LPM_TEST_REPORT");
            if (!string.IsNullOrEmpty(path))
                File.AppendAllText(path, line + "\n");
        }
    }

    /// <summary>One frame the face showed, as the test saw it.</summary>
    public struct ShownFrame
    {
        public long Index;
        public long PtsUs;
        public LpmState State;
        public float JawOpen;
        public bool Mapped;      // the playhead came from the audio position, not the estimate
        public double Seconds;   // wall time since the rig started
    }

    /// <summary>
    /// What a game does with one NPC, minus the engine: an NpcPerformer (what the Unity
    /// component wraps), an audio "device" that renders the NPC's voice in 20 ms blocks at
    /// real-time pace through the performer's audio tap, and a render loop that pumps events and
    /// presents the frame for the sample the device is playing.
    /// </summary>
    public sealed class VoiceRig
    {
        public readonly LpmClient Client;
        public readonly NpcPerformer Performer;
        public readonly LpmSession Session;
        public readonly List<ShownFrame> Shown = new List<ShownFrame>();
        public readonly List<long> SpeakScheduled = new List<long>();
        public int SpeakingStarted;
        public int SpeakingStopped;
        public readonly int SampleRate;
        readonly Stopwatch _wall = Stopwatch.StartNew();
        long _deviceStartTicks = -1;
        long _rendered; // frames the device has rendered (processed by the tap)
        long _played;   // frames of the current signal rendered, so a looped signal continues across calls

        public VoiceRig(LpmClient client, NpcPerformer performer, int sampleRate)
        {
            Client = client;
            Performer = performer;
            Session = performer.Session;
            SampleRate = sampleRate;
            Session.SpeakScheduled += (s, pts, duration) => SpeakScheduled.Add(pts);
            performer.SpeakingStarted += () => SpeakingStarted++;
            performer.SpeakingStopped += () => SpeakingStopped++;
        }

        public PlaybackClock Clock
        {
            get { return Performer.Clock; }
        }

        public SpeakAudioTap Tap
        {
            get { return Performer.Tap; }
        }

        public double Seconds
        {
            get { return _wall.Elapsed.TotalSeconds; }
        }

        /// <summary>
        /// Plays <paramref name="signal"/> (interleaved, <paramref name="channels"/>) from its
        /// frame <paramref name="from"/> for <paramref name="seconds"/> of wall time, looping
        /// it when <paramref name="loop"/>; stops early once <paramref name="until"/> holds
        /// (checked every render tick). Returns whether it stopped early.
        /// </summary>
        public bool Play(float[] signal, int channels, double seconds, bool loop = false, Func<bool> until = null)
        {
            int block = SampleRate / 50;
            int total = signal.Length / channels;
            var buffer = new float[block * channels];
            var sw = Stopwatch.StartNew();
            if (_deviceStartTicks < 0)
                _deviceStartTicks = _wall.ElapsedTicks - (long)(_rendered / (double)SampleRate * Stopwatch.Frequency);
            long startRendered = _rendered - _played;
            while (sw.Elapsed.TotalSeconds < seconds)
            {
                // The device renders each block when its playback starts.
                long due = (long)(DeviceSeconds() * SampleRate);
                while (_rendered <= due)
                {
                    long at = _rendered - startRendered;
                    for (int i = 0; i < block; i++)
                    {
                        long f = at + i;
                        if (loop)
                            f %= total;
                        for (int c = 0; c < channels; c++)
                            buffer[i * channels + c] = f < total ? signal[f * channels + c] : 0f;
                    }
                    Performer.ProcessAudio(buffer, channels);
                    _rendered += block;
                    _played += block;
                }
                Render();
                if (until != null && until())
                    return true;
                Thread.Sleep(4);
            }
            return false;
        }

        double DeviceSeconds()
        {
            return (_wall.ElapsedTicks - _deviceStartTicks) / (double)Stopwatch.Frequency;
        }

        /// <summary>Stream frame heard now: the device's output position minus the tap's delay.</summary>
        public long HeardFrame
        {
            get { return (long)(DeviceSeconds() * SampleRate) - Tap.DelayFrames; }
        }

        void Render()
        {
            Client.Pump();
            if (!Session.IsReady)
                return;
            var frame = Performer.Present(HeardFrame);
            if (Performer.FrameChanged)
            {
                Assert.IsTrue(frame.HasPixels, "pixels fetched");
                Assert.AreEqual(frame.Width * frame.Height * 4, frame.Rgba.Length);
                Shown.Add(new ShownFrame
                {
                    Index = frame.Index,
                    PtsUs = frame.PtsUs,
                    State = frame.State,
                    JawOpen = frame.Curves[CurveNames.JawOpen],
                    Mapped = Performer.PlayheadFromAudio,
                    Seconds = Seconds,
                });
            }
        }
    }
}
