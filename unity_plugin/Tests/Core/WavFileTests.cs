using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using NUnit.Framework;

namespace Lpm.Tests
{
    [TestFixture]
    public class WavFileTests
    {
        static byte[] Riff(params byte[][] chunks)
        {
            var body = new List<byte>(Encoding.ASCII.GetBytes("WAVE"));
            foreach (var c in chunks)
                body.AddRange(c);
            var all = new List<byte>(Encoding.ASCII.GetBytes("RIFF"));
            all.AddRange(BitConverter.GetBytes(body.Count));
            all.AddRange(body);
            return all.ToArray();
        }

        static byte[] Chunk(string id, byte[] data)
        {
            var c = new List<byte>(Encoding.ASCII.GetBytes(id));
            c.AddRange(BitConverter.GetBytes(data.Length));
            c.AddRange(data);
            if (data.Length % 2 == 1)
                c.Add(0); // pad byte
            return c.ToArray();
        }

        static byte[] Fmt(ushort format, ushort channels, int rate, ushort bits)
        {
            var f = new List<byte>();
            f.AddRange(BitConverter.GetBytes(format));
            f.AddRange(BitConverter.GetBytes(channels));
            f.AddRange(BitConverter.GetBytes(rate));
            f.AddRange(BitConverter.GetBytes(rate * channels * bits / 8));
            f.AddRange(BitConverter.GetBytes((ushort)(channels * bits / 8)));
            f.AddRange(BitConverter.GetBytes(bits));
            return Chunk("fmt ", f.ToArray());
        }

        [Test]
        public void ReadsSixteenBitPcmAfterAnOddSizedChunk()
        {
            var pcm = new List<byte>();
            foreach (short s in new short[] { 0, 16384, -32768, 32767 })
                pcm.AddRange(BitConverter.GetBytes(s));
            var wav = WavFile.Parse(Riff(Chunk("LIST", new byte[] { 1, 2, 3 }), Fmt(1, 2, 22050, 16), Chunk("data", pcm.ToArray())));
            Assert.AreEqual(22050, wav.SampleRate);
            Assert.AreEqual(2, wav.Channels);
            Assert.AreEqual(2, wav.Frames);
            CollectionAssert.AreEqual(new[] { 0f, 0.5f, -1f, 32767f / 32768f }, wav.Samples);
        }

        [Test]
        public void RoundTripsFloat()
        {
            var samples = new[] { 0f, 0.25f, -0.75f, 1f, -1f, 0.125f };
            var wav = WavFile.Parse(WavFile.EncodeFloat(samples, 3, 48000));
            Assert.AreEqual(3, wav.Channels);
            Assert.AreEqual(48000, wav.SampleRate);
            CollectionAssert.AreEqual(samples, wav.Samples);
            Assert.AreEqual(2.0 / 48000, wav.DurationSeconds, 1e-12);
        }

        [Test]
        public void ReadsTwentyFourBitPcm()
        {
            var data = new byte[] { 0x00, 0x00, 0x40, 0x00, 0x00, 0xC0 }; // +0.5, -0.5
            var wav = WavFile.Parse(Riff(Fmt(1, 1, 16000, 24), Chunk("data", data)));
            CollectionAssert.AreEqual(new[] { 0.5f, -0.5f }, wav.Samples);
        }

        [Test]
        public void RefusesWhatItCannotRead()
        {
            Assert.Throws<InvalidDataException>(() => WavFile.Parse(Encoding.ASCII.GetBytes("not a wav file at all")));
            Assert.Throws<InvalidDataException>(() => WavFile.Parse(Riff(Fmt(2, 1, 16000, 4), Chunk("data", new byte[4]))));
            Assert.Throws<InvalidDataException>(() => WavFile.Parse(Riff(Fmt(1, 1, 16000, 16))));
        }
    }

    [TestFixture]
    public class Utf8Tests
    {
        [Test]
        public unsafe void EncodesNulTerminatedAndDecodesBack()
        {
            var bytes = Utf8.Encode("Grüße, 世界");
            Assert.AreEqual(0, bytes[bytes.Length - 1]);
            fixed (byte* p = bytes)
                Assert.AreEqual("Grüße, 世界", Utf8.Decode((IntPtr)p));
            Assert.IsNull(Utf8.Encode(null));
            Assert.IsNull(Utf8.Decode(IntPtr.Zero));
        }

        [Test]
        public unsafe void DecodesAFullCharArrayWithoutATerminator()
        {
            var full = Encoding.UTF8.GetBytes("abcd");
            fixed (byte* p = full)
                Assert.AreEqual("abc", Utf8.Decode(p, 3));
            var cut = new byte[] { (byte)'a', 0xE4, 0xB8 }; // a multi-byte sequence cut short
            fixed (byte* p = cut)
                Assert.AreEqual("a\uFFFD", Utf8.Decode(p, 3));
        }
    }
}

namespace Lpm.Tests
{
    [TestFixture]
    public class CharacterIdTests
    {
        [TestCase("hopper", "hopper")]
        [TestCase("Old Man (v2)", "Old_Man_v2")]
        [TestCase("  ", "character")]
        [TestCase("Zoë-portrait", "Zo_-portrait")]
        public void MakesValidIdsFromNames(string name, string id)
        {
            Assert.AreEqual(id, CharacterPreparation.IdFromName(name));
            Assert.IsTrue(CharacterPreparation.IsValidId(CharacterPreparation.IdFromName(name)));
        }

        [Test]
        public void RefusesInvalidIds()
        {
            Assert.IsFalse(CharacterPreparation.IsValidId("a/b"));
            Assert.IsFalse(CharacterPreparation.IsValidId(""));
            Assert.IsFalse(CharacterPreparation.IsValidId(new string('x', 129)));
            Assert.IsTrue(CharacterPreparation.IsValidId(new string('x', 128)));
        }
    }
}
