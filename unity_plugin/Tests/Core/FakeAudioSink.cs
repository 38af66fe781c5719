using System.Collections.Generic;

namespace Lpm.Tests
{
    /// <summary>An audio sink that records what it was given; can refuse after a number of chunks.</summary>
    public sealed class FakeAudioSink : IAudioSink
    {
        public struct Chunk
        {
            public float[] Samples;
            public int Frames;
            public int Channels;
            public int SampleRate;
        }

        public readonly List<Chunk> Chunks = new List<Chunk>();
        public readonly List<int> EndsOfSpeech = new List<int>(); // chunk count at each end_of_speech
        public int AcceptChunks = int.MaxValue;
        public LpmStatus Refusal = LpmStatus.QueueFull;

        public LpmStatus Push(float[] interleaved, int offsetFrames, int frames, int channels, int sampleRate)
        {
            if (Chunks.Count >= AcceptChunks)
                return Refusal;
            var copy = new float[frames * channels];
            System.Array.Copy(interleaved, offsetFrames * channels, copy, 0, copy.Length);
            Chunks.Add(new Chunk { Samples = copy, Frames = frames, Channels = channels, SampleRate = sampleRate });
            return LpmStatus.Ok;
        }

        public LpmStatus EndOfSpeech()
        {
            EndsOfSpeech.Add(Chunks.Count);
            return LpmStatus.Ok;
        }

        public int TotalFrames
        {
            get
            {
                int n = 0;
                foreach (var c in Chunks)
                    n += c.Frames;
                return n;
            }
        }

        public float[] Concatenated()
        {
            var all = new List<float>();
            foreach (var c in Chunks)
                all.AddRange(c.Samples);
            return all.ToArray();
        }
    }
}
