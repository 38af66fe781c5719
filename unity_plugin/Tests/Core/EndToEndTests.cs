using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;

namespace Lpm.Tests
{
    /// <summary>A live runtime through the real native library (see LiveRuntime for the environment).</summary>
    [TestFixture, Category("EndToEnd")]
    public class EndToEndStreamingTests
    {
        [Test, Timeout(120000)]
        public void AStreamedWavComesBackAsInOrderFramesThatOpenTheMouth()
        {
            var wav = WavFile.Load(LiveRuntime.WavPath);
            // One second of silence on each side: the face idles, speaks, and idles again.
            int pad = wav.SampleRate;
            var signal = new float[(wav.Frames + 2 * pad) * wav.Channels];
            Array.Copy(wav.Samples, 0, signal, pad * wav.Channels, wav.Samples.Length);

            using (var client = new LpmClient(LiveRuntime.Settings()))
            {
                var performer = new NpcPerformer(client, new LpmSessionOptions(), wav.SampleRate, true);
                var session = performer.Session;
                LiveRuntime.PumpUntil(client, () => session.IsReady, 30, "the session");
                Assert.Greater(session.Info.Width, 0);
                Assert.Greater(session.Info.LatencyUs, 0);
                Assert.AreEqual(session.Info.LatencyUs * wav.SampleRate / 1000000, performer.Tap.DelayFrames,
                                "the voice is delayed by the session latency");
                var rig = new VoiceRig(client, performer, wav.SampleRate);
                rig.Play(signal, wav.Channels, signal.Length / wav.Channels / (double)wav.SampleRate + 0.8);

                var shown = rig.Shown;
                long period = session.Info.FramePeriodUs;
                Assert.Greater(shown.Count, 50, "frames shown");

                // In order: pts and index strictly increase.
                for (int i = 1; i < shown.Count; i++)
                {
                    Assert.Greater(shown[i].PtsUs, shown[i - 1].PtsUs, "pts order at " + i);
                    Assert.Greater(shown[i].Index, shown[i - 1].Index, "index order at " + i);
                    Assert.AreEqual(0, shown[i].PtsUs % period, "pts on the frame grid");
                }

                // Completeness: every frame reached the client (no index gap, none evicted before
                // its time). The playhead follows the audio device in real time, so on a stalled
                // host it rightly skips frames that came late; the share shown is reported, and
                // held only to a bar a wrong playhead mapping would miss by far.
                long first = shown[0].PtsUs, last = shown[shown.Count - 1].PtsUs;
                long expected = (last - first) / period + 1;
                double ratio = shown.Count / (double)expected;
                LiveRuntime.Report("frames_expected", expected);
                LiveRuntime.Report("frames_shown", shown.Count);
                LiveRuntime.Report("frames_ratio", ratio);
                var delivery = client.GetStats(session);
                LiveRuntime.Report("frames_received", delivery.FramesReceived);
                LiveRuntime.Report("frames_dropped", delivery.FramesDropped);
                Assert.AreEqual(0, delivery.FramesDropped, "frames lost on the way or evicted unshown");
                Assert.GreaterOrEqual(delivery.FramesReceived, expected, "frames received");
                Assert.GreaterOrEqual(ratio, 0.6, "shown/expected frames");

                // The line was anchored by speak_scheduled and the playhead followed the audio.
                Assert.AreEqual(1, rig.Tap.Lines, "one line detected in the WAV");
                Assert.AreEqual(1, rig.SpeakScheduled.Count, "one speak_scheduled for the line");
                long linePts = rig.SpeakScheduled[0];
                long lineStart = rig.Tap.LineStartFrame;
                int mapped = shown.Count(f => f.Mapped);
                LiveRuntime.Report("frames_mapped_from_audio", mapped);
                Assert.Greater(mapped, 25, "frames shown at an audio-derived playhead");

                // Every frame inside the line was shown.
                long lineEndPts = linePts + (pad + wav.Frames - lineStart) * 1000000L / wav.SampleRate; // end of the speech
                var inLine = shown.Where(f => f.PtsUs >= linePts && f.PtsUs < lineEndPts).ToList();
                long expectedInLine = (lineEndPts - 1 - linePts) / period + 1;
                LiveRuntime.Report("line_frames_ratio", inLine.Count / (double)expectedInLine);
                Assert.GreaterOrEqual(inLine.Count / (double)expectedInLine, 0.6, "frames of the line");

                // Lip sync: frames whose audio is voiced open the mouth more than idle frames.
                var voiced = new List<ShownFrame>();
                foreach (var f in inLine)
                {
                    long at = lineStart + (f.PtsUs - linePts) * wav.SampleRate / 1000000;
                    if (Rms(signal, wav.Channels, at, wav.SampleRate * period / 1000000) > 0.03)
                        voiced.Add(f);
                }
                var silent = shown.Where(f => f.PtsUs < linePts - 200000).ToList();
                Assert.Greater(voiced.Count, 10, "voiced frames");
                Assert.Greater(silent.Count, 5, "silent frames before the line");
                double jawVoiced = voiced.Average(f => f.JawOpen);
                double jawVoicedMax = voiced.Max(f => f.JawOpen);
                double jawSilent = silent.Average(f => f.JawOpen);
                double speakState = voiced.Count(f => f.State == LpmState.Speak || f.State == LpmState.Both) / (double)voiced.Count;
                LiveRuntime.Report("jaw_open_voiced_mean", jawVoiced);
                LiveRuntime.Report("jaw_open_voiced_max", jawVoicedMax);
                LiveRuntime.Report("jaw_open_silence_mean", jawSilent);
                LiveRuntime.Report("voiced_frames_in_speak_state", speakState);
                Assert.Greater(jawVoiced, jawSilent + 0.05, "mean jawOpen, speech vs silence");
                Assert.Greater(jawVoicedMax, jawSilent + 0.2, "peak jawOpen in speech");
                Assert.GreaterOrEqual(speakState, 0.8, "voiced frames in the speak state");
                Assert.GreaterOrEqual(rig.SpeakingStarted, 1, "speaking started");
                Assert.GreaterOrEqual(rig.SpeakingStopped, 1, "speaking stopped");
                Assert.IsFalse(performer.IsSpeaking, "silent at the end");
                var status = performer.Status();
                Assert.AreEqual(ConnectionState.Connected, status.Connection);
                Assert.Greater(status.FramesPerSecond, 5f, "frames per second (25 when the host keeps up)");
                Assert.Greater(status.LatencyMs, 0f);
                LiveRuntime.Report("status_fps", status.FramesPerSecond);
                LiveRuntime.Report("status_latency_ms", status.LatencyMs);
                LiveRuntime.Report("status_rtt_ms", status.RoundTripMs);

                var stats = client.GetStats(session);
                LiveRuntime.Report("audio_dropped_ms", stats.AudioDroppedMs);
                Assert.IsTrue(stats.Connected);
                Assert.AreEqual(0, stats.AudioDroppedMs, "audio dropped");
                Assert.AreEqual(0, rig.Tap.RefusedChunks, "chunks refused");
                performer.Dispose();
                Assert.IsTrue(session.IsClosed);
                Assert.IsNull(performer.Tap);
                performer.ProcessAudio(new float[64], 1); // a late audio callback is harmless
            }
        }

        [Test, Timeout(60000)]
        public void PromptsEmotesAndCharactersReachTheRuntime()
        {
            using (var client = new LpmClient(LiveRuntime.Settings()))
            {
                var session = client.CreateSession(new LpmSessionOptions { Prompt = "calm and friendly" });
                var errors = new List<LpmEvent>();
                session.ErrorReceived += (s, e) => errors.Add(e);
                LiveRuntime.PumpUntil(client, () => session.IsReady, 30, "the session");
                StringAssert.StartsWith("s", session.Info.SessionId);
                Assert.IsNotEmpty(session.Info.Character);
                session.SetPrompt("surprised, looking left");
                session.TriggerEmote("smile", 0.8f, 1.0f);
                session.Interrupt();
                string[] characters = null;
                LiveRuntime.PumpUntil(client, () => (characters = client.GetCharacters()).Length > 0, 10,
                                      "the character list");
                CollectionAssert.Contains(characters, session.Info.Character);
                CollectionAssert.IsEmpty(errors, "errors from the runtime");
                LiveRuntime.PumpUntil(client, () => client.GetStats(session).FramesReceived > 0, 10, "frames");
                var stats = client.GetStats(session);
                Assert.IsTrue(stats.Connected);
                Assert.Greater(stats.FramesReceived, 0);
                Assert.AreEqual(ConnectionState.Connected, client.Connection.State);
                session.Close();
                Assert.IsTrue(session.IsClosed);
            }
        }

        [Test, Timeout(300000)]
        public void ACharacterIsPreparedFromAPortraitAndUsedBySessions()
        {
            byte[] portrait = System.IO.File.ReadAllBytes(LiveRuntime.Require("LPM_TEST_PORTRAIT"));
            using (var client = new LpmClient(LiveRuntime.Settings()))
            {
                string id = CharacterPreparation.IdFromName("unity " + System.IO.Path.GetFileNameWithoutExtension(
                    LiveRuntime.Require("LPM_TEST_PORTRAIT")));
                var started = client.Now;
                double prepared;
                // One at a time: a client-wide error does not say which request it refuses.
                using (var good = new CharacterPreparation(client, id, portrait))
                {
                    LiveRuntime.PumpUntil(client, () =>
                    {
                        good.Tick();
                        return good.Done;
                    }, 290, "the preparation");
                    Assert.IsTrue(good.Succeeded, good.Message);
                    prepared = client.Now - started;
                }
                using (var bad = new CharacterPreparation(client, "unity_not_an_image", System.Text.Encoding.ASCII.GetBytes("not an image")))
                {
                    LiveRuntime.PumpUntil(client, () =>
                    {
                        bad.Tick();
                        return bad.Done;
                    }, 60, "the refusal");
                    Assert.IsFalse(bad.Succeeded);
                    StringAssert.Contains("PREPARE_FAILED", bad.Message);
                }
                LiveRuntime.Report("character_prepare_s", prepared);
                LiveRuntime.PumpUntil(client, () => Array.IndexOf(client.GetCharacters(), id) >= 0, 10,
                                      "the new character in the list");
                var session = client.CreateSession(new LpmSessionOptions { Character = id });
                LiveRuntime.PumpUntil(client, () => session.IsReady, 30, "a session with the new character");
                Assert.AreEqual(id, session.Info.Character);
                session.Close();
            }
        }

        static double Rms(float[] signal, int channels, long startFrame, long frames)
        {
            double sum = 0;
            long n = 0;
            for (long f = Math.Max(0, startFrame); f < startFrame + frames && f * channels < signal.Length; f++)
            {
                for (int c = 0; c < channels; c++)
                {
                    double v = signal[f * channels + c];
                    sum += v * v;
                    n++;
                }
            }
            return n == 0 ? 0 : Math.Sqrt(sum / n);
        }
    }
}
