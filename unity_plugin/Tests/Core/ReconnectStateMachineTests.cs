using System.Collections.Generic;
using NUnit.Framework;

namespace Lpm.Tests
{
    [TestFixture]
    public class ReconnectStateMachineTests
    {
        static LpmEvent Ev(LpmEventType type, uint session = 0, long value = 0)
        {
            return new LpmEvent { Type = type, Session = session, Value = value, Name = "", Text = "" };
        }

        [Test]
        public void ConnectsOnTheFirstAnswer()
        {
            var sm = new ReconnectStateMachine();
            Assert.AreEqual(ConnectionState.Disconnected, sm.State);
            sm.Start(0);
            Assert.AreEqual(ConnectionState.Connecting, sm.State);
            StringAssert.StartsWith("Connecting (1.5 s)", sm.StatusText(1.5));
            sm.OnEvent(Ev(LpmEventType.Connected), 0.2);
            Assert.AreEqual(ConnectionState.Connected, sm.State);
            sm.OnEvent(Ev(LpmEventType.SessionReady, 3), 0.3);
            Assert.AreEqual("Connected, 1 session(s)", sm.StatusText(0.4));
        }

        [Test]
        public void ResumesOpenSessionsAfterALoss()
        {
            var sm = new ReconnectStateMachine();
            var changes = new List<string>();
            sm.Changed += (a, b) => changes.Add(a + ">" + b);
            sm.Start(0);
            sm.OnEvent(Ev(LpmEventType.Connected), 0.1);
            sm.OnEvent(Ev(LpmEventType.SessionReady, 1), 0.2);
            sm.OnEvent(Ev(LpmEventType.SessionReady, 2), 0.2);
            sm.OnEvent(Ev(LpmEventType.Disconnected), 5.0);
            Assert.AreEqual(ConnectionState.Connecting, sm.State);
            StringAssert.StartsWith("Reconnecting (lost 2.5 s ago)", sm.StatusText(7.5));
            sm.OnEvent(Ev(LpmEventType.Connected), 9.0);
            Assert.AreEqual(ConnectionState.Resuming, sm.State);
            StringAssert.StartsWith("Resuming 2 session(s)", sm.StatusText(9.1));
            sm.OnEvent(Ev(LpmEventType.SessionResumed, 1, 1), 9.2); // re-created
            Assert.AreEqual(ConnectionState.Resuming, sm.State);
            sm.OnEvent(Ev(LpmEventType.SessionResumed, 2, 0), 9.5); // resumed
            Assert.AreEqual(ConnectionState.Connected, sm.State);
            Assert.AreEqual(1, sm.Losses);
            Assert.AreEqual(1, sm.Recreated);
            Assert.AreEqual(4.5, sm.LastOutage, 1e-9);
            CollectionAssert.AreEqual(new[]
            {
                "Disconnected>Connecting", "Connecting>Connected", "Connected>Connecting",
                "Connecting>Resuming", "Resuming>Connected",
            }, changes);
        }

        [Test]
        public void WithoutSessionsAReconnectIsJustConnected()
        {
            var sm = new ReconnectStateMachine();
            sm.Start(0);
            sm.OnEvent(Ev(LpmEventType.Connected), 0.1);
            sm.OnEvent(Ev(LpmEventType.Disconnected), 1.0);
            sm.OnEvent(Ev(LpmEventType.Connected), 3.0);
            Assert.AreEqual(ConnectionState.Connected, sm.State);
            Assert.AreEqual(2.0, sm.LastOutage, 1e-9);
        }

        [Test]
        public void ASessionClosedWhileResumingIsNotWaitedFor()
        {
            var sm = new ReconnectStateMachine();
            sm.Start(0);
            sm.OnEvent(Ev(LpmEventType.Connected), 0);
            sm.OnEvent(Ev(LpmEventType.SessionReady, 1), 0);
            sm.OnEvent(Ev(LpmEventType.Disconnected), 1);
            sm.OnEvent(Ev(LpmEventType.Connected), 2);
            sm.OnEvent(Ev(LpmEventType.SessionClosed, 1), 2.5);
            Assert.AreEqual(ConnectionState.Connected, sm.State);
            Assert.AreEqual("Connected, 0 session(s)", sm.StatusText(3));
        }

        [Test]
        public void GivesUpWaitingAfterTheResumeTimeout()
        {
            var sm = new ReconnectStateMachine { ResumeTimeoutSeconds = 4 };
            sm.Start(0);
            sm.OnEvent(Ev(LpmEventType.Connected), 0);
            sm.OnEvent(Ev(LpmEventType.SessionReady, 7), 0);
            sm.OnEvent(Ev(LpmEventType.Disconnected), 1);
            sm.OnEvent(Ev(LpmEventType.Connected), 2);
            sm.Tick(5.9);
            Assert.AreEqual(ConnectionState.Resuming, sm.State);
            sm.Tick(6.0);
            Assert.AreEqual(ConnectionState.Connected, sm.State);
            StringAssert.Contains("did not come back", sm.StatusText(6));
        }

        [Test]
        public void ShutdownMeansReconnectingWithAReason()
        {
            var sm = new ReconnectStateMachine();
            sm.Start(0);
            sm.OnEvent(Ev(LpmEventType.Connected), 0);
            sm.OnEvent(new LpmEvent { Type = LpmEventType.Shutdown, Name = "", Text = "stopping" }, 1);
            Assert.AreEqual(ConnectionState.Connecting, sm.State);
            StringAssert.Contains("shutting down", sm.StatusText(2));
        }

        [Test]
        public void StopIsFinal()
        {
            var sm = new ReconnectStateMachine();
            sm.Start(0);
            sm.Stop(1, "closed");
            sm.OnEvent(Ev(LpmEventType.Connected), 2);
            Assert.AreEqual(ConnectionState.Disconnected, sm.State);
            Assert.AreEqual("Disconnected: closed", sm.StatusText(3));
        }

        [Test]
        public void ClientWideErrorsShowInTheStatus()
        {
            var sm = new ReconnectStateMachine();
            sm.Start(0);
            sm.OnEvent(new LpmEvent { Type = LpmEventType.Error, Name = "UNAUTHENTICATED", Text = "bad key" }, 1);
            StringAssert.EndsWith("UNAUTHENTICATED: bad key", sm.StatusText(1));
        }
    }
}
