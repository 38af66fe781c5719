using System;
using System.Collections.Generic;

namespace Lpm
{
    /// <summary>
    /// Loads and checks the native library once: the ABI version and the size of every struct
    /// this assembly passes across, so a stale or foreign build fails with a clear message
    /// instead of corrupting memory.
    /// </summary>
    public static class NativeAbi
    {
        static readonly object Gate = new object();
        static bool _verified;
        static string[] _curveNames;

        /// <summary>Throws LpmAbiException unless the loaded library matches this assembly.</summary>
        public static void EnsureCompatible()
        {
            lock (Gate)
            {
                if (_verified)
                    return;
                int version;
                try
                {
                    version = NativeMethods.lpm_abi_version();
                }
                catch (DllNotFoundException e)
                {
                    throw new LpmAbiException(
                        "native library '" + NativeMethods.Library + "' not found: build it " +
                        "(unity_plugin/README.md) and put it in Plugins/<platform>/, or on the " +
                        "library search path (LD_LIBRARY_PATH, DYLD_LIBRARY_PATH, PATH)", e);
                }
                catch (EntryPointNotFoundException e)
                {
                    throw new LpmAbiException("'" + NativeMethods.Library +
                                              "' is not the LPM client library", e);
                }
                if (version != NativeMethods.AbiVersion)
                    throw new LpmAbiException(string.Format(
                        "native library ABI version {0}, this package expects {1}: use the " +
                        "library built from the same release", version, NativeMethods.AbiVersion));
                var mismatches = new List<string>();
                foreach (var entry in ManagedSizes())
                {
                    uint native = NativeMethods.lpm_abi_struct_size(Utf8.Encode(entry.Key));
                    if (native != entry.Value)
                        mismatches.Add(string.Format("{0}: {1} bytes here, {2} in the library{3}",
                                                     entry.Key, entry.Value, native,
                                                     native == 0 ? " (name unknown to it)" : ""));
                }
                if (mismatches.Count > 0)
                    throw new LpmAbiException("native struct layout mismatch (" +
                                              string.Join("; ", mismatches.ToArray()) + ")");
                _verified = true;
            }
        }

        /// <summary>Size of each mirrored struct, keyed by its C name.</summary>
        public static unsafe IDictionary<string, uint> ManagedSizes()
        {
            return new Dictionary<string, uint>
            {
                { "lpm_client_config", (uint)sizeof(NativeClientConfig) },
                { "lpm_session_options", (uint)sizeof(NativeSessionOptions) },
                { "lpm_session_info", (uint)sizeof(NativeSessionInfo) },
                { "lpm_frame_info", (uint)sizeof(NativeFrameInfo) },
                { "lpm_event", (uint)sizeof(NativeEvent) },
                { "lpm_stats", (uint)sizeof(NativeStats) },
            };
        }

        /// <summary>The library's name for a status code ("LPM_ERR_QUEUE_FULL"); works without the library.</summary>
        public static string StatusName(LpmStatus status)
        {
            try
            {
                string name = Utf8.Decode(NativeMethods.lpm_status_name((int)status));
                if (!string.IsNullOrEmpty(name))
                    return name;
            }
            catch (DllNotFoundException)
            {
            }
            catch (EntryPointNotFoundException)
            {
            }
            return status.ToString();
        }

        /// <summary>
        /// The 61 curve names in frame order (PROTOCOL.md section 6: 52 ARKit blendshapes, then
        /// head yaw/pitch/roll and both eyes' yaw/pitch/roll), as the library reports them.
        /// </summary>
        public static string[] CurveNames
        {
            get
            {
                lock (Gate)
                {
                    if (_curveNames == null)
                    {
                        EnsureCompatible();
                        var names = new string[NativeMethods.NumCurves];
                        for (int i = 0; i < names.Length; i++)
                        {
                            names[i] = Utf8.Decode(NativeMethods.lpm_curve_name(i));
                            if (string.IsNullOrEmpty(names[i]))
                                throw new LpmAbiException("lpm_curve_name(" + i + ") returned no name");
                        }
                        if (NativeMethods.lpm_curve_name(NativeMethods.NumCurves) != IntPtr.Zero)
                            throw new LpmAbiException("the library names more than " +
                                                      NativeMethods.NumCurves + " curves");
                        _curveNames = names;
                    }
                    return (string[])_curveNames.Clone();
                }
            }
        }
    }
}
