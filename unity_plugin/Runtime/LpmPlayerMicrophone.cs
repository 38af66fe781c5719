using Lpm;
using UnityEngine;

namespace Lpm.Unity
{
    /// <summary>
    /// The player's voice from a microphone, sent to an NPC face as its listen stream (so the NPC
    /// reacts while being spoken to). Reads the looping capture clip on the main thread in
    /// 20 ms blocks and passes them on at the device's own rate and channel count.
    /// </summary>
    [AddComponentMenu("LPM/LPM Player Microphone")]
    public sealed class LpmPlayerMicrophone : MonoBehaviour
    {
        [Tooltip("The NPC that hears the player.")]
        public LpmNpcFace listener;
        [Tooltip("Microphone device name; empty = the default device.")]
        public string device = "";
        [Tooltip("Capture rate in Hz; 0 = 16000 clamped to what the device supports.")]
        public int sampleRate;
        [Tooltip("Start capturing when enabled.")]
        public bool captureOnEnable = true;

        const int RingSeconds = 1;
        const int BlockMs = 20;

        AudioClip _clip;
        float[] _block;
        int _blockFrames;
        int _read;

        /// <summary>Whether the microphone is being captured and sent.</summary>
        public bool IsCapturing
        {
            get { return _clip != null; }
        }

        public void StartCapture()
        {
            if (_clip != null)
                return;
            string name = string.IsNullOrEmpty(device) ? null : device;
            int rate = sampleRate;
            if (rate <= 0)
            {
                int min, max;
                Microphone.GetDeviceCaps(name, out min, out max);
                rate = 16000;
                if (max > 0 && rate > max)
                    rate = max;
                if (min > 0 && rate < min)
                    rate = min;
            }
            _clip = Microphone.Start(name, true, RingSeconds, rate);
            if (_clip == null)
            {
                Debug.LogWarning("LpmPlayerMicrophone: the microphone did not start", this);
                return;
            }
            _blockFrames = _clip.frequency * BlockMs / 1000;
            _block = new float[_blockFrames * _clip.channels];
            _read = Microphone.GetPosition(name);
        }

        public void StopCapture()
        {
            if (_clip == null)
                return;
            Microphone.End(string.IsNullOrEmpty(device) ? null : device);
            Destroy(_clip);
            _clip = null;
        }

        void OnEnable()
        {
            if (captureOnEnable)
                StartCapture();
        }

        void OnDisable()
        {
            StopCapture();
        }

        void Update()
        {
            if (_clip == null || listener == null || listener.Performer == null)
                return;
            var session = listener.Performer.Session;
            int written = Microphone.GetPosition(string.IsNullOrEmpty(device) ? null : device);
            int available = AudioChunker.NewFrames(_read, written, _clip.samples).Total;
            while (available >= _blockFrames)
            {
                // GetData wraps around the end of the looping clip by itself.
                _clip.GetData(_block, _read);
                session.PushListen(_block, 0, _blockFrames, _clip.channels, _clip.frequency);
                _read = (_read + _blockFrames) % _clip.samples;
                available -= _blockFrames;
            }
        }
    }
}
