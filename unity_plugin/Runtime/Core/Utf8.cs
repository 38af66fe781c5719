using System;
using System.Text;

namespace Lpm
{
    /// <summary>
    /// UTF-8 conversions at the native boundary. The C ABI speaks NUL-terminated UTF-8 only; the
    /// runtime's own string marshalling is not used because it is ANSI on some platforms and
    /// Marshal.PtrToStringUTF8 is missing from older .NET profiles.
    /// </summary>
    public static class Utf8
    {
        static readonly UTF8Encoding Strict = new UTF8Encoding(false, false);

        /// <summary>NUL-terminated UTF-8 bytes of <paramref name="text"/>; null stays null.</summary>
        public static byte[] Encode(string text)
        {
            if (text == null)
                return null;
            int count = Strict.GetByteCount(text);
            var bytes = new byte[count + 1]; // last byte stays 0
            Strict.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// <summary>Decodes a NUL-terminated UTF-8 string owned by native code; NULL gives null.</summary>
        public static unsafe string Decode(IntPtr text)
        {
            if (text == IntPtr.Zero)
                return null;
            byte* p = (byte*)text;
            int length = 0;
            while (p[length] != 0)
                length++;
            return Strict.GetString(p, length);
        }

        /// <summary>
        /// Decodes a char array of at most <paramref name="capacity"/> bytes that is
        /// NUL-terminated unless full. A multi-byte sequence cut by the library's truncation
        /// decodes to U+FFFD rather than failing.
        /// </summary>
        public static unsafe string Decode(byte* text, int capacity)
        {
            int length = 0;
            while (length < capacity && text[length] != 0)
                length++;
            return length == 0 ? string.Empty : Strict.GetString(text, length);
        }

        /// <summary>Decodes <paramref name="count"/> bytes of <paramref name="buffer"/> (no NUL).</summary>
        public static string Decode(byte[] buffer, int count)
        {
            return Strict.GetString(buffer, 0, count);
        }
    }
}
