using System;
using NUnit.Framework;

namespace Lpm.Tests
{
    [TestFixture]
    public class AudioChunkerTests
    {
        static float[] Ramp(int frames, int channels)
        {
            var data = new float[frames * channels];
            for (int i = 0; i < data.Length; i++)
                data[i] = i / (float)data.Length;
            return data;
        }

        [Test]
        public void SplitsIntoBoundedChunksWithoutMixingDownOrResampling()
        {
            var chunker = new AudioChunker(20);
            var sink = new FakeAudioSink();
            var data = Ramp(2000, 2); // stereo at 48 kHz: 960 frames per 20 ms chunk
            Assert.AreEqual(2000, chunker.Push(sink, data, 0, 2000, 2, 48000));
            CollectionAssert.AreEqual(new[] { 960, 960, 80 }, sink.Chunks.ConvertAll(c => c.Frames));
            foreach (var chunk in sink.Chunks)
            {
                Assert.AreEqual(2, chunk.Channels);
                Assert.AreEqual(48000, chunk.SampleRate);
            }
            CollectionAssert.AreEqual(data, sink.Concatenated()); // same samples, same order
        }

        [Test]
        public void PushesARangeOfTheBuffer()
        {
            var chunker = new AudioChunker(100);
            var sink = new FakeAudioSink();
            var data = Ramp(100, 3);
            chunker.Push(sink, data, 10, 20, 3, 16000);
            var expected = new float[60];
            Array.Copy(data, 30, expected, 0, 60);
            CollectionAssert.AreEqual(expected, sink.Concatenated());
        }

        [Test]
        public void StopsAtTheFirstRefusal()
        {
            var chunker = new AudioChunker(10);
            var sink = new FakeAudioSink { AcceptChunks = 2 };
            int sent = chunker.Push(sink, Ramp(1000, 1), 0, 1000, 1, 16000); // 160-frame chunks
            Assert.AreEqual(320, sent);
            Assert.AreEqual(LpmStatus.QueueFull, chunker.LastFailure);
        }

        [Test]
        public void RejectsBadArguments()
        {
            var chunker = new AudioChunker();
            var sink = new FakeAudioSink();
            Assert.Throws<ArgumentOutOfRangeException>(() => chunker.Push(sink, new float[10], 0, 10, 9, 16000));
            Assert.Throws<ArgumentOutOfRangeException>(() => chunker.Push(sink, new float[10], 0, 6, 2, 16000));
            Assert.Throws<ArgumentOutOfRangeException>(() => chunker.Push(sink, new float[10], 0, 5, 2, 0));
        }

        [Test]
        public void FindsNewFramesInARingBuffer()
        {
            var plain = AudioChunker.NewFrames(100, 250, 1000);
            Assert.AreEqual(100, plain.FirstStart);
            Assert.AreEqual(150, plain.FirstCount);
            Assert.AreEqual(0, plain.SecondCount);
            var wrapped = AudioChunker.NewFrames(900, 50, 1000);
            Assert.AreEqual(900, wrapped.FirstStart);
            Assert.AreEqual(100, wrapped.FirstCount);
            Assert.AreEqual(0, wrapped.SecondStart);
            Assert.AreEqual(50, wrapped.SecondCount);
            Assert.AreEqual(150, wrapped.Total);
            Assert.AreEqual(0, AudioChunker.NewFrames(300, 300, 1000).Total);
        }

        [Test]
        public void PacesALineInRealTime()
        {
            var pacer = new AudioPacer(16000, 16000, 20); // 1 s in 320-frame steps
            int start;
            Assert.AreEqual(320, pacer.Due(0.0, out start));
            Assert.AreEqual(0, start);
            Assert.AreEqual(0, pacer.Due(0.019, out start));
            Assert.AreEqual(320, pacer.Due(0.020, out start));
            Assert.AreEqual(320, start);
            Assert.AreEqual(16000 - 640, pacer.Due(5.0, out start)); // never past the end
            Assert.IsTrue(pacer.Done);
        }
    }
}

namespace Lpm.Tests
{
    [TestFixture]
    public class LineStreamerTests
    {
        [Test]
        public void StreamsALineAtRealTimePaceAndEndsIt()
        {
            var sink = new FakeAudioSink();
            var clock = new PlaybackClock(16000, 0.0);
            var samples = new float[16000 * 2]; // 1 s of stereo
            for (int i = 0; i < samples.Length; i++)
                samples[i] = i;
            var line = new LineStreamer(sink, clock, samples, 2, 16000);
            line.Tick(0.0);
            Assert.AreEqual(320, sink.TotalFrames);  // the first 20 ms go at once
            line.Tick(0.5);
            Assert.AreEqual(8320, sink.TotalFrames); // never ahead of real time by more than a step
            Assert.IsFalse(line.Done);
            line.Tick(1.0);
            Assert.IsTrue(line.Done);
            Assert.AreEqual(16000, sink.TotalFrames);
            Assert.AreEqual(1, sink.EndsOfSpeech.Count);
            CollectionAssert.AreEqual(samples, sink.Concatenated());
            Assert.IsTrue(clock.OnSpeakScheduled(2000000));
            Assert.AreEqual(2500000, clock.PlayheadUs(8000)); // timeSamples 8000 = 0.5 s into the line
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(16000));
        }
    }
}
