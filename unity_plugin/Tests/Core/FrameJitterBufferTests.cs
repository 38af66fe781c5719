using NUnit.Framework;

namespace Lpm.Tests
{
    [TestFixture]
    public class FrameJitterBufferTests
    {
        static BufferedFrame Make(FrameJitterBuffer buffer, long index, long pts, float jaw = 0f)
        {
            var frame = buffer.Acquire(0);
            frame.Index = index;
            frame.PtsUs = pts;
            frame.Curves[17] = jaw;
            return frame;
        }

        [Test]
        public void ShowsTheNewestFrameAtOrBeforeThePlayhead()
        {
            var buffer = new FrameJitterBuffer();
            buffer.Insert(Make(buffer, 0, 0));
            buffer.Insert(Make(buffer, 1, 40000));
            buffer.Insert(Make(buffer, 2, 80000));
            Assert.IsNull(buffer.Select(-1));
            Assert.AreEqual(0, buffer.Select(39999).PtsUs);
            Assert.AreEqual(40000, buffer.Select(40000).PtsUs);
            Assert.AreEqual(2, buffer.Count); // frame 0 recycled, 1 shown, 2 ahead
            Assert.AreEqual(80000, buffer.Select(1000000).PtsUs);
            Assert.AreEqual(1, buffer.Count);
        }

        [Test]
        public void KeepsTheHighestIndexPerPts()
        {
            var buffer = new FrameJitterBuffer();
            Assert.IsTrue(buffer.Insert(Make(buffer, 5, 40000, 0.1f)));
            Assert.IsTrue(buffer.Insert(Make(buffer, 9, 40000, 0.9f)));  // re-sent after an interrupt
            Assert.IsFalse(buffer.Insert(Make(buffer, 7, 40000, 0.5f))); // stale
            var shown = buffer.Select(40000);
            Assert.AreEqual(9, shown.Index);
            Assert.AreEqual(0.9f, shown.Curves[17]);
            Assert.AreEqual(1, buffer.Refused);
        }

        [Test]
        public void SortsFramesThatArriveOutOfOrder()
        {
            var buffer = new FrameJitterBuffer();
            buffer.Insert(Make(buffer, 3, 120000));
            buffer.Insert(Make(buffer, 1, 40000));
            buffer.Insert(Make(buffer, 2, 80000));
            Assert.AreEqual(40000, buffer.Select(50000).PtsUs);
            Assert.AreEqual(80000, buffer.Next(50000).PtsUs);
        }

        [Test]
        public void DropsTheOldestBeyondCapacity()
        {
            var buffer = new FrameJitterBuffer(3);
            for (int i = 0; i < 5; i++)
                buffer.Insert(Make(buffer, i, i * 40000L));
            Assert.AreEqual(3, buffer.Count);
            Assert.AreEqual(80000, buffer.Select(80000).PtsUs);
        }

        [Test]
        public void InterpolatesCurvesTowardsTheNextFrame()
        {
            var buffer = new FrameJitterBuffer();
            buffer.Insert(Make(buffer, 0, 0, 0.2f));
            buffer.Insert(Make(buffer, 1, 40000, 0.6f));
            var curves = new float[61];
            Assert.IsTrue(buffer.SampleCurves(10000, 80000, curves));
            Assert.AreEqual(0.3f, curves[17], 1e-6);
            Assert.IsTrue(buffer.SampleCurves(40000, 80000, curves));
            Assert.AreEqual(0.6f, curves[17], 1e-6);
            Assert.IsFalse(new FrameJitterBuffer().SampleCurves(0, 80000, curves));
        }

        [Test]
        public void DoesNotInterpolateAcrossAGap()
        {
            var buffer = new FrameJitterBuffer();
            buffer.Insert(Make(buffer, 0, 0, 0.2f));
            buffer.Insert(Make(buffer, 1, 400000, 1.0f)); // 9 frames missing
            var curves = new float[61];
            Assert.IsTrue(buffer.SampleCurves(20000, 80000, curves));
            Assert.AreEqual(0.2f, curves[17], 1e-6);
        }

        [Test]
        public void RecyclesFramesAndTheirPixelBuffers()
        {
            var buffer = new FrameJitterBuffer();
            var first = buffer.Acquire(16);
            byte[] pixels = first.Rgba;
            first.Index = 0;
            first.PtsUs = 0;
            buffer.Insert(first);
            buffer.Insert(Make(buffer, 1, 40000));
            buffer.Select(40000); // frame 0 goes back to the pool
            var again = buffer.Acquire(16);
            Assert.AreSame(first, again);
            Assert.AreSame(pixels, again.Rgba);
            Assert.IsFalse(again.HasPixels);
        }

        [Test]
        public void RefusesAFrameWhoseTimeHasPassed()
        {
            var buffer = new FrameJitterBuffer();
            buffer.Insert(Make(buffer, 4, 160000));
            Assert.AreEqual(4, buffer.Select(170000).Index);
            Assert.IsFalse(buffer.Insert(Make(buffer, 3, 120000))); // late: would step backwards
            Assert.AreEqual(4, buffer.Select(170000).Index);
        }

        [Test]
        public void ClearForgetsEverything()
        {
            var buffer = new FrameJitterBuffer();
            buffer.Insert(Make(buffer, 100, 4000000));
            buffer.Clear();
            buffer.Insert(Make(buffer, 0, 0)); // a re-created session's timeline starts at 0 again
            Assert.AreEqual(0, buffer.Select(0).Index);
        }
    }
}
