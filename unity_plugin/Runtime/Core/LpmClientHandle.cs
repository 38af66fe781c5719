using System;
using System.Runtime.InteropServices;

namespace Lpm
{
    /// <summary>
    /// Owns one native <c>lpm_client*</c>. Releasing it calls lpm_client_destroy, which closes the
    /// client's sessions and joins its I/O thread. Because every P/Invoke takes this handle
    /// rather than a raw pointer, the marshaller keeps it alive for the duration of each call: a
    /// Dispose on the game thread cannot free the client while an audio-thread push is inside it.
    /// </summary>
    public sealed class LpmClientHandle : SafeHandle
    {
        /// <summary>Used by the marshaller for <c>out LpmClientHandle</c>.</summary>
        public LpmClientHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            NativeMethods.lpm_client_destroy(handle);
            return true;
        }
    }
}
