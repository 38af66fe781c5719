using NUnit.Framework;

namespace Lpm.Tests
{
    [TestFixture]
    public class PlaybackClockTests
    {
        const int Rate = 48000;

        [Test]
        public void IsAutoBeforeAnyLine()
        {
            var clock = new PlaybackClock(Rate);
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(0));
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(123456));
        }

        [Test]
        public void MapsTheHeardSampleOntoTheLinesTimelinePosition()
        {
            var clock = new PlaybackClock(Rate);
            clock.BeginLine(96000);                       // line starts 2 s into the stream
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(96000 + 480)); // not anchored yet
            Assert.IsTrue(clock.OnSpeakScheduled(5000000)); // runtime placed it at 5 s
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(95999)); // before it: not playing
            Assert.AreEqual(5000000, clock.PlayheadUs(96000));
            Assert.AreEqual(5010000, clock.PlayheadUs(96000 + 480));       // +10 ms
            Assert.AreEqual(5000000 + 1500000, clock.PlayheadUs(96000 + 72000)); // +1.5 s
        }

        [Test]
        public void AnchorsLinesInTheOrderTheyBegan()
        {
            var clock = new PlaybackClock(Rate);
            clock.BeginLine(0);
            clock.EndLine(48000);
            clock.BeginLine(200000);
            clock.EndLine(248000);
            Assert.IsTrue(clock.OnSpeakScheduled(1000000));
            Assert.IsTrue(clock.OnSpeakScheduled(9000000));
            Assert.IsFalse(clock.OnSpeakScheduled(12000000)); // nobody waiting
            Assert.AreEqual(1, clock.UnmatchedEvents);
            Assert.AreEqual(1500000, clock.PlayheadUs(24000));
            Assert.AreEqual(9000000 + 500000, clock.PlayheadUs(224000));
        }

        [Test]
        public void FallsBackToAutoAfterTheLineAndItsTail()
        {
            var clock = new PlaybackClock(Rate, 0.25);
            clock.BeginLine(0);
            clock.OnSpeakScheduled(2000000);
            clock.EndLine(48000);
            Assert.AreEqual(3000000, clock.PlayheadUs(48000));                 // tail: still mapped
            Assert.AreEqual(3000000 + 240000, clock.PlayheadUs(48000 + 11520)); // 240 ms into the tail
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(48000 + 12000)); // tail over
            Assert.AreEqual(0, clock.PendingLines);
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(10)); // forgotten, even going back
        }

        [Test]
        public void ANewLineEndsTheOpenOne()
        {
            var clock = new PlaybackClock(Rate, 0.0);
            clock.BeginLine(0);
            clock.BeginLine(48000);
            clock.OnSpeakScheduled(1000000);
            clock.OnSpeakScheduled(7000000);
            Assert.AreEqual(1000000 + 500000, clock.PlayheadUs(24000));
            Assert.AreEqual(7000000, clock.PlayheadUs(48000));
            Assert.AreEqual(1, clock.PendingLines);
        }

        [Test]
        public void AfterTheTimelineRestartsTheRestOfTheOpenLineStaysOnAuto()
        {
            var clock = new PlaybackClock(Rate);
            clock.BeginLine(0);
            clock.OnSpeakScheduled(4000000);
            Assert.AreEqual(4500000, clock.PlayheadUs(24000));
            clock.Reset(); // session re-created: new timeline
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(30000));
            Assert.IsTrue(clock.OnSpeakScheduled(100000)); // the rest of the open line
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(40000));
            clock.EndLine(48000);
            clock.BeginLine(96000);
            Assert.IsTrue(clock.OnSpeakScheduled(800000)); // the next line gets its own anchor
            Assert.AreEqual(800000 + 1000000, clock.PlayheadUs(144000));
        }

        [Test]
        public void ResetDropsFinishedLines()
        {
            var clock = new PlaybackClock(Rate);
            clock.BeginLine(0);
            clock.EndLine(4800);
            clock.Reset();
            Assert.AreEqual(0, clock.PendingLines);
            clock.BeginLine(9600);
            clock.OnSpeakScheduled(0);
            Assert.AreEqual(100000, clock.PlayheadUs(9600 + 4800));
        }

        [Test]
        public void StaysExactOverLongLines()
        {
            var clock = new PlaybackClock(44100);
            clock.BeginLine(0);
            clock.OnSpeakScheduled(0);
            long tenHours = 44100L * 36000;
            Assert.AreEqual(36000L * 1000000, clock.PlayheadUs(tenHours));
            Assert.AreEqual(36000L * 1000000 + 22, clock.PlayheadUs(tenHours + 1)); // 22.67 µs, floored
        }
    }
}
