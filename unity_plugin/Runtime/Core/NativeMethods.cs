// P/Invoke declarations for the native client core (bridge/native/include/lpm_client.h).
//
// Every struct here mirrors its C counterpart field for field with natural alignment
// (LayoutKind.Sequential, no Pack), and fixed-size char/float arrays are `fixed` buffers so that
// every struct stays blittable: the marshaller pins and passes it without copying. NativeAbi
// compares each size with lpm_abi_struct_size before anything else is called.
//
// Strings: `const char*` arguments are passed as NUL-terminated UTF-8 byte arrays (Utf8.Encode),
// never as `string`, because the default string marshalling differs between platforms (ANSI on
// Windows). Strings coming back are `IntPtr` and decoded with Utf8.Decode.
using System;
using System.Runtime.InteropServices;

namespace Lpm
{
    [StructLayout(LayoutKind.Sequential)]
    internal struct NativeClientConfig
    {
        public uint StructSize;
        public IntPtr Endpoint;        // const char*, required
        public IntPtr ServerPublicKey; // const char*, NULL = CurveZMQ off
        public IntPtr ClientPublicKey;
        public IntPtr ClientSecretKey;
        public uint KeepaliveMs;
        public uint TimeoutMs;
        public uint AudioQueueMs;
        public uint FrameBuffer;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct NativeSessionOptions
    {
        public uint StructSize;
        public IntPtr Character; // const char*, NULL = the runtime's default
        public IntPtr Prompt;    // const char*, NULL = none
        public uint Width;
        public uint Height;
        public uint Encoding;
        public uint JpegQuality;
        public uint Seed;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct NativeSessionInfo
    {
        public uint StructSize;
        public uint Width;
        public uint Height;
        public uint Encoding;
        public float Fps;
        public uint SampleRate;
        public long LatencyUs;
        public fixed byte SessionId[NativeMethods.NameBytes];
        public fixed byte Character[NativeMethods.NameBytes];
    }

    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct NativeFrameInfo
    {
        public uint StructSize;
        public uint Width;
        public uint Height;
        public int State;
        public long Index;
        public long PtsUs;
        public fixed float Curves[NativeMethods.NumCurves];
    }

    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct NativeEvent
    {
        public uint StructSize;
        public int Type;
        public uint Session;
        public int Code;
        public int State;
        public long PtsUs;
        public long Value;
        public fixed byte Name[NativeMethods.NameBytes];
        public fixed byte Text[NativeMethods.EventTextBytes];
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct NativeStats
    {
        public uint StructSize;
        public int Connected;
        public uint Reconnects;
        public float Fps;
        public float RttMs;
        public float LatencyMs;
        public ulong FramesReceived;
        public ulong FramesDropped;
        public ulong AudioDroppedMs;
        public ulong EventsDropped;
    }

    internal static unsafe class NativeMethods
    {
        // "lpm_client" resolves to liblpm_client.so (Linux), liblpm_client.dylib (macOS) and
        // lpm_client.dll (Windows) under each platform's library naming rules.
        public const string Library = "lpm_client";

        public const int AbiVersion = 1;
        public const int NumCurves = 61;
        public const int NameBytes = 64;
        public const int EventTextBytes = 256;
        public const long PlayheadAuto = long.MinValue; // LPM_PLAYHEAD_AUTO (INT64_MIN)

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_abi_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint lpm_abi_struct_size(byte[] structName);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr lpm_status_name(int status);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr lpm_curve_name(int index);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_client_create(ref NativeClientConfig config,
                                                   out LpmClientHandle client);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void lpm_client_destroy(IntPtr client);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_client_poll_event(LpmClientHandle client, ref NativeEvent ev);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_client_get_stats(LpmClientHandle client, uint session,
                                                      ref NativeStats stats);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_client_get_characters(LpmClientHandle client, byte* buffer,
                                                           UIntPtr capacity, out UIntPtr needed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_client_prepare_character(LpmClientHandle client, byte[] name,
                                                              byte* image, UIntPtr imageBytes);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_create(LpmClientHandle client,
                                                    ref NativeSessionOptions options,
                                                    out uint session);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_close(LpmClientHandle client, uint session);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_get_info(LpmClientHandle client, uint session,
                                                      ref NativeSessionInfo info);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_timeline_now(LpmClientHandle client, uint session,
                                                          out long nowUs);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_push_speak(LpmClientHandle client, uint session,
                                                        float* samples, uint frames,
                                                        uint channels, uint sampleRate);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_push_listen(LpmClientHandle client, uint session,
                                                         float* samples, uint frames,
                                                         uint channels, uint sampleRate);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_end_of_speech(LpmClientHandle client, uint session);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_set_prompt(LpmClientHandle client, uint session,
                                                        byte[] prompt);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_trigger_emote(LpmClientHandle client, uint session,
                                                           byte[] emote, float intensity,
                                                           float durationS);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_interrupt(LpmClientHandle client, uint session);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_poll_frame(LpmClientHandle client, uint session,
                                                        long playheadUs, ref NativeFrameInfo info,
                                                        byte* rgba, UIntPtr rgbaCapacity);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern int lpm_session_borrow_frame(LpmClientHandle client, uint session,
                                                          long playheadUs,
                                                          ref NativeFrameInfo info,
                                                          out IntPtr rgba);
    }
}
