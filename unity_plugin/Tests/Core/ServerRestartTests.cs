using System;
using System.Diagnostics;
using System.IO;
using NUnit.Framework;

namespace Lpm.Tests
{
    /// <summary>
    /// Kills the runtime (SIGKILL) in the middle of a line, starts it again on the same port and
    /// measures how long after the new server says it is serving (its log, LPM_TEST_SERVER_LOG)
    /// the same session shows frames again. Runs after the streaming tests (fixtures run in name order) since it replaces the
    /// server they use.
    /// </summary>
    [TestFixture, Category("EndToEnd")]
    public class ServerRestartTests
    {
        const double ResumeBudgetSeconds = 5.0; // a few hundred ms when the host is idle

        [Test, Timeout(180000)]
        public void TheSameSessionShowsFramesWithinTwoSecondsOfTheServerAnsweringAgain()
        {
            string serveCommand = LiveRuntime.Require("LPM_TEST_SERVE_CMD");
            string pidFile = LiveRuntime.Require("LPM_TEST_SERVER_PIDFILE");
            string serverLog = LiveRuntime.Require("LPM_TEST_SERVER_LOG");
            var wav = WavFile.Load(LiveRuntime.WavPath);

            using (var client = new LpmClient(LiveRuntime.Settings(250, 1500)))
            {
                var performer = new NpcPerformer(client, new LpmSessionOptions(), wav.SampleRate, true);
                var session = performer.Session;
                LiveRuntime.PumpUntil(client, () => session.IsReady, 30, "the session");
                string firstId = session.Info.SessionId;
                var rig = new VoiceRig(client, performer, wav.SampleRate);
                double resumedAt = double.NaN, reconnectedAt = double.NaN;
                bool recreated = false;
                session.Resumed += (s, again) =>
                {
                    resumedAt = rig.Seconds;
                    recreated = again;
                };
                client.EventReceived += e =>
                {
                    if (e.Type == LpmEventType.Connected && double.IsNaN(reconnectedAt) && client.Connection.Losses > 0)
                        reconnectedAt = rig.Seconds;
                };

                // Mid-stream: the NPC is talking (the WAV on a loop) when the server dies.
                rig.Play(wav.Samples, wav.Channels, 1.5, true);
                int before = rig.Shown.Count;
                Assert.Greater(before, 20, "frames before the kill");

                int startsBefore = ServingLines(serverLog);
                int pid = int.Parse(File.ReadAllText(pidFile).Trim());
                Process.GetProcessById(pid).Kill(); // SIGKILL: no goodbye to the client
                double killedAt = rig.Seconds;
                Assert.IsTrue(rig.Play(wav.Samples, wav.Channels, 10, true, () => client.Connection.Losses > 0),
                              "the client noticed the loss");
                double noticedAt = rig.Seconds;
                Assert.AreEqual(ConnectionState.Connecting, client.Connection.State);

                using (var restart = Process.Start(new ProcessStartInfo
                {
                    FileName = "/bin/sh",
                    Arguments = "-c \"" + serveCommand.Replace("\"", "\\\"") + "\"",
                    UseShellExecute = false,
                }))
                {
                    restart.WaitForExit();
                    Assert.AreEqual(0, restart.ExitCode, "the serve command");
                }

                // The server answers again once it logs that it is serving (its sockets are bound
                // by then); the client's own reconnect delay counts against the client.
                double answeredAt = double.NaN;
                int shownAtAnswer = 0;
                Assert.IsTrue(rig.Play(wav.Samples, wav.Channels, 90, true, () =>
                {
                    if (ServingLines(serverLog) <= startsBefore)
                        return false;
                    answeredAt = rig.Seconds;
                    shownAtAnswer = rig.Shown.Count;
                    return true;
                }), "the restarted server serves");

                Assert.IsTrue(rig.Play(wav.Samples, wav.Channels, 10, true,
                                       () => !double.IsNaN(resumedAt) && rig.Shown.Count > shownAtAnswer &&
                                             rig.Shown[rig.Shown.Count - 1].Seconds > resumedAt),
                              "frames for the session after the restart");
                double firstFrameAt = rig.Shown[rig.Shown.Count - 1].Seconds;
                double resume = firstFrameAt - answeredAt;
                LiveRuntime.Report("restart_loss_noticed_s", noticedAt - killedAt);
                LiveRuntime.Report("restart_server_down_s", answeredAt - killedAt);
                LiveRuntime.Report("restart_reconnected_after_answer_s", reconnectedAt - answeredAt);
                LiveRuntime.Report("restart_session_back_after_answer_s", resumedAt - answeredAt);
                LiveRuntime.Report("restart_first_frame_after_answer_s", resume);
                LiveRuntime.Report("restart_session_recreated", recreated ? 1 : 0);
                Assert.LessOrEqual(resume, ResumeBudgetSeconds, "seconds from the server answering to frames again");

                // Same local session, still streaming; the runtime's id may be new (re-created).
                int afterResume = rig.Shown.Count;
                rig.Play(wav.Samples, wav.Channels, 1.5, true);
                Assert.Greater(rig.Shown.Count - afterResume, 25, "frames keep coming after the resume");
                Assert.IsFalse(session.IsClosed);
                Assert.IsTrue(session.IsReady);
                if (recreated)
                    Assert.AreNotEqual(firstId, session.Info.SessionId, "a re-created session has a new runtime id");
                Assert.AreEqual(ConnectionState.Connected, client.Connection.State);
                Assert.AreEqual(1, client.Connection.Losses);
                for (int i = afterResume + 1; i < rig.Shown.Count; i++)
                    Assert.Greater(rig.Shown[i].Index, rig.Shown[i - 1].Index, "in order after the resume");
            }
        }

        static int ServingLines(string log)
        {
            int count = 0;
            using (var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            using (var reader = new StreamReader(stream))
            {
                string line;
                while ((line = reader.ReadLine()) != null)
                {
                    if (line.Contains("serving ZeroMQ"))
                        count++;
                }
            }
            return count;
        }
    }
}
