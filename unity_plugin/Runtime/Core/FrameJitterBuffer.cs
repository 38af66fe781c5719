using System;
using System.Collections.Generic;

namespace Lpm
{
    /// <summary>A frame held by the jitter buffer: curves, and pixels when they were asked for.</summary>
    public sealed class BufferedFrame
    {
        public long Index;
        /// <summary>Position on the session timeline, µs.</summary>
        public long PtsUs;
        public LpmState State;
        public int Width;
        public int Height;
        /// <summary>61 curves in protocol order: blendshapes 0..1, angles in radians.</summary>
        public readonly float[] Curves = new float[NativeMethods.NumCurves];
        /// <summary>width*height*4 bytes of straight-alpha RGBA, rows top to bottom; null when curves only.</summary>
        public byte[] Rgba;
        public bool HasPixels;
    }

    /// <summary>
    /// Frames that arrived before they are due, keyed by pts, and the choice of the one to show
    /// at a playhead (PROTOCOL.md section 4): per pts the highest index wins; the frame shown is
    /// the one with the largest pts &lt;= playhead; older ones are recycled. Frames are pooled, so
    /// a steady stream allocates nothing. Not thread-safe: use it from the thread that renders.
    /// </summary>
    public sealed class FrameJitterBuffer
    {
        readonly int _capacity;
        readonly List<BufferedFrame> _frames = new List<BufferedFrame>(); // ascending pts
        readonly Stack<BufferedFrame> _pool = new Stack<BufferedFrame>();
        long _shownPts = long.MinValue;

        /// <param name="capacity">Most frames held at once; the oldest go first beyond it.</param>
        public FrameJitterBuffer(int capacity = 8)
        {
            if (capacity < 2)
                throw new ArgumentOutOfRangeException("capacity", "at least 2");
            _capacity = capacity;
        }

        public int Count
        {
            get { return _frames.Count; }
        }

        /// <summary>Frames kept (new pts, or a higher index for a known pts).</summary>
        public long Inserted { get; private set; }
        /// <summary>Frames refused: a known pts with an index not higher than the one held, or a pts before the frame shown.</summary>
        public long Refused { get; private set; }

        /// <summary>A frame to fill, from the pool; give it back with Insert or Release.</summary>
        public BufferedFrame Acquire(int rgbaBytes)
        {
            var frame = _pool.Count > 0 ? _pool.Pop() : new BufferedFrame();
            if (rgbaBytes > 0 && (frame.Rgba == null || frame.Rgba.Length != rgbaBytes))
                frame.Rgba = new byte[rgbaBytes];
            frame.HasPixels = false;
            return frame;
        }

        /// <summary>Returns an acquired frame that will not be inserted.</summary>
        public void Release(BufferedFrame frame)
        {
            if (frame != null)
                _pool.Push(frame);
        }

        /// <summary>Takes ownership of <paramref name="frame"/>; returns whether it was kept.</summary>
        public bool Insert(BufferedFrame frame)
        {
            if (frame.PtsUs < _shownPts)
            {
                Refused++; // its time has passed: showing it now would step the face backwards
                _pool.Push(frame);
                return false;
            }
            int i = _frames.Count;
            while (i > 0 && _frames[i - 1].PtsUs > frame.PtsUs)
                i--;
            if (i > 0 && _frames[i - 1].PtsUs == frame.PtsUs)
            {
                var old = _frames[i - 1];
                if (frame.Index <= old.Index)
                {
                    Refused++;
                    _pool.Push(frame);
                    return false;
                }
                _frames[i - 1] = frame; // re-generated after an interrupt: higher index wins
                _pool.Push(old);
                Inserted++;
                return true;
            }
            _frames.Insert(i, frame);
            Inserted++;
            while (_frames.Count > _capacity)
            {
                _pool.Push(_frames[0]);
                _frames.RemoveAt(0);
            }
            return true;
        }

        /// <summary>
        /// The frame to show at <paramref name="playheadUs"/>: largest pts &lt;= playhead, or null
        /// when every frame held is still in the future. Frames before it are recycled; the one
        /// returned stays valid until the next call that changes the buffer.
        /// </summary>
        public BufferedFrame Select(long playheadUs)
        {
            int shown = -1;
            for (int i = 0; i < _frames.Count && _frames[i].PtsUs <= playheadUs; i++)
                shown = i;
            if (shown < 0)
                return null;
            for (int i = 0; i < shown; i++)
                _pool.Push(_frames[i]);
            _frames.RemoveRange(0, shown);
            _shownPts = _frames[0].PtsUs;
            return _frames[0];
        }

        /// <summary>The first frame after <paramref name="playheadUs"/>, or null.</summary>
        public BufferedFrame Next(long playheadUs)
        {
            foreach (var frame in _frames)
            {
                if (frame.PtsUs > playheadUs)
                    return frame;
            }
            return null;
        }

        /// <summary>
        /// Curves at <paramref name="playheadUs"/>, linearly between the frame shown and the next
        /// one when both are held and at most <paramref name="maxGapUs"/> apart (smooth blendshapes
        /// at render rates above the frame rate). Returns false when no frame is due yet.
        /// </summary>
        public bool SampleCurves(long playheadUs, long maxGapUs, float[] curves)
        {
            var shown = Select(playheadUs);
            if (shown == null)
                return false;
            var next = Next(playheadUs);
            long gap = next == null ? 0 : next.PtsUs - shown.PtsUs;
            if (next == null || gap <= 0 || gap > maxGapUs)
            {
                Array.Copy(shown.Curves, curves, Math.Min(curves.Length, shown.Curves.Length));
                return true;
            }
            float t = (float)(playheadUs - shown.PtsUs) / gap;
            int n = Math.Min(curves.Length, shown.Curves.Length);
            for (int i = 0; i < n; i++)
                curves[i] = shown.Curves[i] + (next.Curves[i] - shown.Curves[i]) * t;
            return true;
        }

        /// <summary>Forgets every frame (the timeline restarted).</summary>
        public void Clear()
        {
            foreach (var frame in _frames)
                _pool.Push(frame);
            _frames.Clear();
            _shownPts = long.MinValue;
        }
    }
}
