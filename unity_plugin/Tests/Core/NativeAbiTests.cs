using System;
using NUnit.Framework;

namespace Lpm.Tests
{
    /// <summary>The real native library, without a runtime.</summary>
    [TestFixture, Category("Native")]
    public class NativeAbiTests
    {
        [Test]
        public void TheLibraryMatchesEveryMirroredStruct()
        {
            NativeAbi.EnsureCompatible(); // throws with the mismatching sizes
            var sizes = NativeAbi.ManagedSizes();
            // Natural alignment on 64-bit targets (the header's stated layout).
            if (IntPtr.Size == 8)
            {
                Assert.AreEqual(56u, sizes["lpm_client_config"]);
                Assert.AreEqual(48u, sizes["lpm_session_options"]);
                Assert.AreEqual(160u, sizes["lpm_session_info"]);
                Assert.AreEqual(280u, sizes["lpm_frame_info"]);
                Assert.AreEqual(360u, sizes["lpm_event"]);
                Assert.AreEqual(56u, sizes["lpm_stats"]);
            }
        }

        [Test]
        public void CurveNamesAreTheProtocolOrder()
        {
            CollectionAssert.AreEqual(CurveNames.Protocol, NativeAbi.CurveNames);
            Assert.AreEqual("jawOpen", NativeAbi.CurveNames[CurveNames.JawOpen]);
        }

        [Test]
        public void StatusNamesComeFromTheLibrary()
        {
            StringAssert.Contains("QUEUE_FULL", NativeAbi.StatusName(LpmStatus.QueueFull));
            var e = new LpmException(LpmStatus.UnknownSession, "push");
            StringAssert.Contains("UNKNOWN_SESSION", e.Message);
        }

        [Test]
        public void AClientNeedsAnEndpoint()
        {
            Assert.Throws<ArgumentException>(() => new LpmClient(new LpmClientSettings { Endpoint = "" }));
        }

        [Test]
        public void AClientCanBeCreatedAndClosedWithNoRuntimeListening()
        {
            // ZeroMQ connects lazily: creation succeeds, nothing answers, Dispose joins the thread.
            var client = new LpmClient(new LpmClientSettings { Endpoint = "tcp://127.0.0.1:9" });
            var session = client.CreateSession(new LpmSessionOptions());
            Assert.AreEqual(ConnectionState.Connecting, client.Connection.State);
            client.Pump();
            Assert.IsFalse(session.IsReady);
            Assert.IsNull(session.Present(PlaybackClock.Auto));
            Assert.IsFalse(client.GetStats().Connected);
            client.Dispose();
            Assert.IsTrue(session.IsClosed);
            Assert.AreEqual(LpmStatus.UnknownSession, session.PushSpeak(new float[32], 0, 32, 1, 16000));
            Assert.Throws<ObjectDisposedException>(() => client.Pump());
            Assert.AreEqual(ConnectionState.Disconnected, client.Connection.State);
        }

        [Test]
        public void APoolOpensAnotherConnectionWhenAClientIsFull()
        {
            using (var pool = new LpmClientPool(() => new LpmClient(new LpmClientSettings { Endpoint = "tcp://127.0.0.1:9" }), 2))
            {
                var a = pool.Acquire().CreateSession(null);
                var b = pool.Acquire().CreateSession(null);
                var c = pool.Acquire().CreateSession(null);
                Assert.AreSame(a.Client, b.Client);
                Assert.AreNotSame(a.Client, c.Client);
                Assert.AreEqual(2, pool.Clients.Count);
                a.Close();
                Assert.AreSame(b.Client, pool.Acquire()); // the freed slot is reused
                pool.Pump();
            }
        }

        [Test]
        public void APerformerClosesItsSessionAndIgnoresLateAudio()
        {
            using (var client = new LpmClient(new LpmClientSettings { Endpoint = "tcp://127.0.0.1:9" }))
            {
                var performer = new NpcPerformer(client, new LpmSessionOptions(), 48000, false);
                Assert.AreEqual(16320, performer.Tap.DelayFrames); // the default L (340 ms at 48 kHz) before the runtime says
                performer.ProcessAudio(new float[2048], 2);
                Assert.IsNull(performer.Present(0)); // not ready: nothing to show
                Assert.AreEqual(ConnectionState.Connecting, performer.Status().Connection);
                performer.Dispose();
                Assert.IsTrue(performer.Session.IsClosed);
                performer.ProcessAudio(new float[2048], 2);
                Assert.AreEqual(0, client.Sessions.Count);
            }
        }
    }
}
