using System;
using System.IO;

namespace Lpm
{
    /// <summary>
    /// A RIFF/WAVE file decoded to interleaved float samples in [-1, 1]: PCM 8/16/24/32-bit and
    /// IEEE float 32/64-bit, plain or WAVE_FORMAT_EXTENSIBLE. Used by the editor preview
    /// ("play a WAV") and the tests; no resampling or mixdown.
    /// </summary>
    public sealed class WavFile
    {
        const ushort FormatPcm = 1;
        const ushort FormatFloat = 3;
        const ushort FormatExtensible = 0xFFFE;

        public int SampleRate { get; private set; }
        public int Channels { get; private set; }
        /// <summary>Interleaved samples, Frames * Channels of them.</summary>
        public float[] Samples { get; private set; }

        public int Frames
        {
            get { return Samples.Length / Channels; }
        }

        public double DurationSeconds
        {
            get { return (double)Frames / SampleRate; }
        }

        public static WavFile Load(string path)
        {
            return Parse(File.ReadAllBytes(path));
        }

        public static WavFile Parse(byte[] bytes)
        {
            if (bytes == null || bytes.Length < 12 || Tag(bytes, 0) != "RIFF" || Tag(bytes, 8) != "WAVE")
                throw new InvalidDataException("not a RIFF/WAVE file");
            int pos = 12;
            ushort format = 0, channels = 0, bits = 0;
            int rate = 0;
            bool haveFormat = false;
            while (pos + 8 <= bytes.Length)
            {
                string id = Tag(bytes, pos);
                long size = BitConverter.ToUInt32(bytes, pos + 4);
                int body = pos + 8;
                if (id == "fmt ")
                {
                    if (size < 16 || body + 16 > bytes.Length)
                        throw new InvalidDataException("fmt chunk too short");
                    format = BitConverter.ToUInt16(bytes, body);
                    channels = BitConverter.ToUInt16(bytes, body + 2);
                    rate = BitConverter.ToInt32(bytes, body + 4);
                    bits = BitConverter.ToUInt16(bytes, body + 14);
                    if (format == FormatExtensible)
                    {
                        if (size < 40 || body + 26 > bytes.Length)
                            throw new InvalidDataException("extensible fmt chunk too short");
                        format = BitConverter.ToUInt16(bytes, body + 24); // first 2 bytes of the sub-format GUID
                    }
                    haveFormat = true;
                }
                else if (id == "data")
                {
                    if (!haveFormat)
                        throw new InvalidDataException("data chunk before fmt chunk");
                    long available = Math.Min(size, bytes.Length - body); // tolerate a truncated file
                    return Decode(bytes, body, (int)available, format, channels, rate, bits);
                }
                pos = body + (int)size + (int)(size & 1); // chunks are word aligned
            }
            throw new InvalidDataException("no data chunk");
        }

        static WavFile Decode(byte[] b, int start, int length, ushort format, int channels, int rate, int bits)
        {
            if (channels < 1 || rate <= 0)
                throw new InvalidDataException("bad channel count or sample rate");
            int width = bits / 8;
            bool ok = (format == FormatPcm && (bits == 8 || bits == 16 || bits == 24 || bits == 32)) ||
                      (format == FormatFloat && (bits == 32 || bits == 64));
            if (!ok)
                throw new InvalidDataException(string.Format("unsupported WAV format {0} with {1} bits", format, bits));
            int count = length / (width * channels) * channels;
            var samples = new float[count];
            for (int i = 0; i < count; i++)
            {
                int p = start + i * width;
                float v;
                if (format == FormatFloat)
                    v = bits == 32 ? BitConverter.ToSingle(b, p) : (float)BitConverter.ToDouble(b, p);
                else if (bits == 8)
                    v = (b[p] - 128) / 128f;
                else if (bits == 16)
                    v = BitConverter.ToInt16(b, p) / 32768f;
                else if (bits == 24)
                    v = ((b[p] | (b[p + 1] << 8) | ((sbyte)b[p + 2] << 16))) / 8388608f;
                else
                    v = (float)(BitConverter.ToInt32(b, p) / 2147483648.0);
                samples[i] = v;
            }
            return new WavFile { SampleRate = rate, Channels = channels, Samples = samples };
        }

        static string Tag(byte[] b, int at)
        {
            return at + 4 <= b.Length ? new string(new[] { (char)b[at], (char)b[at + 1], (char)b[at + 2], (char)b[at + 3] }) : string.Empty;
        }

        /// <summary>Writes 32-bit float WAV bytes (for tests and tools).</summary>
        public static byte[] EncodeFloat(float[] interleaved, int channels, int sampleRate)
        {
            using (var ms = new MemoryStream())
            using (var w = new BinaryWriter(ms))
            {
                int dataBytes = interleaved.Length * 4;
                w.Write(new[] { (byte)'R', (byte)'I', (byte)'F', (byte)'F' });
                w.Write(36 + dataBytes);
                w.Write(new[] { (byte)'W', (byte)'A', (byte)'V', (byte)'E', (byte)'f', (byte)'m', (byte)'t', (byte)' ' });
                w.Write(16);
                w.Write(FormatFloat);
                w.Write((ushort)channels);
                w.Write(sampleRate);
                w.Write(sampleRate * channels * 4);
                w.Write((ushort)(channels * 4));
                w.Write((ushort)32);
                w.Write(new[] { (byte)'d', (byte)'a', (byte)'t', (byte)'a' });
                w.Write(dataBytes);
                foreach (float s in interleaved)
                    w.Write(s);
                w.Flush();
                return ms.ToArray();
            }
        }
    }
}
