using System;
using NUnit.Framework;

namespace Lpm.Tests
{
    [TestFixture]
    public class SpeakAudioTapTests
    {
        const int Rate = 48000;
        const int Block = 1024; // a typical DSP buffer

        static float[] Tone(int frames, int channels, float amplitude)
        {
            var data = new float[frames * channels];
            for (int i = 0; i < frames; i++)
                for (int c = 0; c < channels; c++)
                    data[i * channels + c] = amplitude * (float)Math.Sin(i * 0.05 + c);
            return data;
        }

        [Test]
        public void SilenceSendsNothing()
        {
            var sink = new FakeAudioSink();
            var tap = new SpeakAudioTap(sink, null, Rate);
            for (int i = 0; i < 50; i++)
                tap.Process(new float[Block * 2], 2);
            Assert.AreEqual(0, sink.Chunks.Count);
            Assert.AreEqual(0, tap.Lines);
            Assert.AreEqual(50L * Block, tap.ProcessedFrames);
        }

        [Test]
        public void SendsALineFromItsFirstLoudBufferUntilTheHangover()
        {
            var sink = new FakeAudioSink();
            var clock = new PlaybackClock(Rate);
            var tap = new SpeakAudioTap(sink, clock, Rate) { HangoverSeconds = 0.1 };
            tap.Process(new float[Block * 2], 2);                 // silence
            for (int i = 0; i < 10; i++)
                tap.Process(Tone(Block, 2, 0.3f), 2);           // voice
            for (int i = 0; i < 10; i++)
                tap.Process(new float[Block * 2], 2);           // 0.1 s = 4.7 blocks of quiet
            Assert.AreEqual(1, tap.Lines);
            Assert.IsFalse(tap.InLine);
            Assert.AreEqual(1, sink.EndsOfSpeech.Count);
            Assert.AreEqual(10 + 5, sink.Chunks.Count); // voice + quiet up to the hangover
            Assert.AreEqual(2, sink.Chunks[0].Channels); // as it came: no mixdown here
            Assert.AreEqual(Rate, sink.Chunks[0].SampleRate);
            clock.OnSpeakScheduled(3000000);
            Assert.AreEqual(3000000, clock.PlayheadUs(Block)); // the line began with the 2nd block
        }

        [Test]
        public void DelaysWhatIsHeardByTheLatency()
        {
            var sink = new FakeAudioSink();
            var tap = new SpeakAudioTap(sink, null, Rate);
            tap.DelayFrames = 300;
            var input = Tone(Block * 4, 2, 0.5f);
            var output = new float[input.Length];
            for (int b = 0; b < 4; b++)
            {
                var block = new float[Block * 2];
                Array.Copy(input, b * Block * 2, block, 0, block.Length);
                tap.Process(block, 2);
                Array.Copy(block, 0, output, b * Block * 2, block.Length);
            }
            for (int i = 0; i < 300 * 2; i++)
                Assert.AreEqual(0f, output[i]);
            for (int i = 300 * 2; i < output.Length; i++)
                Assert.AreEqual(input[i - 300 * 2], output[i]);
            CollectionAssert.AreEqual(input, sink.Concatenated()); // sent undelayed
            Assert.AreEqual(4L * Block - 300, tap.HeardFrame);
        }

        [Test]
        public void ChangesTheDelayOnlyBetweenLines()
        {
            var sink = new FakeAudioSink();
            var tap = new SpeakAudioTap(sink, null, Rate) { HangoverSeconds = 0.05 };
            tap.DelayFrames = 100;
            tap.Process(Tone(Block, 1, 0.5f), 1);
            tap.DelayFrames = 500; // mid-line: deferred
            Assert.AreEqual(100, tap.DelayFrames);
            tap.Process(Tone(Block, 1, 0.5f), 1);
            for (int i = 0; i < 4; i++)
                tap.Process(new float[Block], 1);
            Assert.IsFalse(tap.InLine);
            Assert.AreEqual(500, tap.DelayFrames);
            tap.SetDelayUs(140000);
            Assert.AreEqual(6720, tap.DelayFrames); // 140 ms at 48 kHz
        }

        [Test]
        public void EndLineClosesTheLineFromAnyThread()
        {
            var sink = new FakeAudioSink();
            var clock = new PlaybackClock(Rate, 0.0);
            var tap = new SpeakAudioTap(sink, clock, Rate);
            tap.Process(Tone(Block, 1, 0.5f), 1);
            tap.EndLine();
            Assert.IsFalse(tap.InLine);
            Assert.AreEqual(1, sink.EndsOfSpeech.Count);
            clock.OnSpeakScheduled(0);
            Assert.AreEqual(PlaybackClock.Auto, clock.PlayheadUs(Block)); // ended at Block
        }

        [Test]
        public void DroppingTheDelayedAudioSilencesWhatWasNotHeard()
        {
            var tap = new SpeakAudioTap(new FakeAudioSink(), null, Rate);
            tap.DelayFrames = 2 * Block;
            tap.Process(Tone(Block, 1, 0.5f), 1);
            tap.DropDelayedAudio();
            var next = new float[Block];
            tap.Process(next, 1);
            var after = new float[Block];
            tap.Process(after, 1);
            CollectionAssert.AreEqual(new float[Block], after); // the tone never comes out
        }

        [Test]
        public void CountsRefusedChunksWithoutThrowing()
        {
            var sink = new FakeAudioSink { AcceptChunks = 0, Refusal = LpmStatus.NotConnected };
            var tap = new SpeakAudioTap(sink, null, Rate);
            tap.Process(Tone(Block, 1, 0.5f), 1);
            tap.Process(Tone(Block, 1, 0.5f), 1);
            Assert.AreEqual(2, tap.RefusedChunks);
        }
    }
}
