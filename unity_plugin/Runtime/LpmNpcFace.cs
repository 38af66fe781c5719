using System;
using Lpm;
using UnityEngine;
using UnityEngine.Events;
using UnityEngine.UI;

namespace Lpm.Unity
{
    /// <summary>An error from the runtime, as one line.</summary>
    [Serializable]
    public sealed class LpmErrorEvent : UnityEvent<string> { }

    /// <summary>
    /// An NPC's face driven by the LPM runtime from the NPC's own voice.
    ///
    /// Audio: whatever the AudioSource on this GameObject plays passes through
    /// OnAudioFilterRead (audio thread), which sends it to the runtime and delays what is heard
    /// by the session latency L, so the generated face keeps up with the voice. While no line is
    /// playing the source loops a silent clip, so the delay line drains and the clock keeps
    /// running. Use <see cref="Speak"/> (or play clips on the AudioSource yourself).
    ///
    /// Video: every frame, the frame for the audio sample being heard is uploaded to a texture
    /// on the main thread (LoadRawTextureData + Apply) and shown on a RawImage or a Renderer's
    /// material. Curves (ARKit blendshapes and head/eye angles) are in <see cref="Curves"/> for
    /// LpmBlendshapeDriver.
    /// </summary>
    [AddComponentMenu("LPM/LPM NPC Face")]
    [DisallowMultipleComponent]
    [RequireComponent(typeof(AudioSource))]
    public sealed class LpmNpcFace : MonoBehaviour
    {
        [Tooltip("Runtime endpoint and session defaults.")]
        public LpmRuntimeSettings settings;
        [Tooltip("The character to perform; empty = the settings' default.")]
        public LpmCharacter character;
        [TextArea(2, 4)]
        [Tooltip("How the NPC should perform (empty = the settings' default).")]
        public string prompt = "";

        [Header("Where the face is shown (either, or none for blendshapes only)")]
        public RawImage targetImage;
        public Renderer targetRenderer;
        [Tooltip("Texture property of the renderer's shader (_MainTex; URP Lit: _BaseMap).")]
        public string textureProperty = "_MainTex";

        [Header("Voice")]
        [Tooltip("Peak level (0..1) above which the AudioSource's output counts as speech.")]
        [Range(0.0001f, 0.1f)]
        public float voiceGate = 0.003f;
        [Tooltip("Quiet seconds that end a line (end_of_speech).")]
        [Range(0.1f, 2f)]
        public float lineHangover = 0.35f;

        [Header("Events")]
        public UnityEvent onSpeakingStarted = new UnityEvent();
        public UnityEvent onSpeakingStopped = new UnityEvent();
        public LpmErrorEvent onError = new LpmErrorEvent();

        AudioSource _source;
        AudioClip _silence;
        AudioClip _line;
        NpcPerformer _performer;
        Texture2D _texture;
        MaterialPropertyBlock _block;
        int _outputLatencyFrames;
        static readonly float[] NoCurves = new float[61];

        /// <summary>The engine-independent performer (null while disabled).</summary>
        public NpcPerformer Performer
        {
            get { return _performer; }
        }

        /// <summary>Curves at the playhead (61, protocol order); zeros before the first frame.</summary>
        public float[] Curves
        {
            get { return _performer != null && _performer.Frame != null ? _performer.Curves : NoCurves; }
        }

        /// <summary>The texture the face is drawn into (null before the first frame).</summary>
        public Texture2D Texture
        {
            get { return _texture; }
        }

        /// <summary>Plays a line of the NPC's voice through this face's AudioSource.</summary>
        public void Speak(AudioClip clip)
        {
            if (clip == null)
                return;
            _line = clip;
            _source.loop = false;
            _source.clip = clip;
            _source.Play();
        }

        /// <summary>Stops the voice now (barge-in): the runtime drops what was not heard and the mouth closes.</summary>
        public void StopSpeaking()
        {
            if (_line != null && _source.clip == _line)
                _source.Stop();
            _line = null;
            if (_performer != null && _performer.Tap != null)
            {
                _performer.Tap.DropDelayedAudio();
                _performer.EndLine();
                if (!_performer.Session.IsClosed)
                    _performer.Session.Interrupt();
            }
        }

        /// <summary>Changes how the NPC performs from now on.</summary>
        public void SetPrompt(string text)
        {
            prompt = text;
            if (_performer != null && !_performer.Session.IsClosed)
                _performer.Session.SetPrompt(text);
        }

        /// <summary>A one-off expression ("smile", "surprised"...).</summary>
        public void TriggerEmote(string emote, float intensity = 1f, float durationSeconds = 0f)
        {
            if (_performer != null && !_performer.Session.IsClosed)
                _performer.Session.TriggerEmote(emote, intensity, durationSeconds);
        }

        void Awake()
        {
            _source = GetComponent<AudioSource>();
            _block = new MaterialPropertyBlock();
        }

        void OnEnable()
        {
            if (settings == null)
            {
                Debug.LogError("LpmNpcFace needs an LpmRuntimeSettings asset", this);
                enabled = false;
                return;
            }
            int rate = AudioSettings.outputSampleRate;
            int bufferLength, numBuffers;
            AudioSettings.GetDSPBufferSize(out bufferLength, out numBuffers);
            _outputLatencyFrames = bufferLength; // the block being heard while the next one is filtered
            try
            {
                var client = LpmRuntime.Acquire(settings);
                bool pixels = targetImage != null || targetRenderer != null;
                _performer = new NpcPerformer(client, settings.ToSessionOptions(character, prompt), rate, pixels);
            }
            catch (LpmException e)
            {
                Debug.LogException(e, this);
                onError.Invoke(e.Message);
                enabled = false;
                return;
            }
            _performer.Tap.GateLevel = voiceGate;
            _performer.Tap.HangoverSeconds = lineHangover;
            _performer.SpeakingStarted += onSpeakingStarted.Invoke;
            _performer.SpeakingStopped += onSpeakingStopped.Invoke;
            _performer.Error += onError.Invoke;
            if (_silence == null)
                _silence = AudioClip.Create("LPM silence", rate, 1, rate, false); // zeros: keeps the filter running
            KeepAudioRunning();
        }

        void OnDisable()
        {
            var performer = _performer;
            _performer = null; // the audio thread sees null first
            if (performer != null)
                performer.Dispose();
            if (_source != null && _source.clip == _silence)
                _source.Stop();
        }

        void OnDestroy()
        {
            if (_texture != null)
                Destroy(_texture);
            if (_silence != null)
                Destroy(_silence);
        }

        // Audio thread: no Unity API here, only the thread-safe native core.
        void OnAudioFilterRead(float[] data, int channels)
        {
            var performer = _performer;
            if (performer != null)
                performer.ProcessAudio(data, channels);
        }

        void Update()
        {
            if (_performer == null)
                return;
            LpmRuntime.PumpOnce();
            KeepAudioRunning();
            var tap = _performer.Tap;
            if (tap == null)
                return;
            var frame = _performer.Present(tap.HeardFrame - _outputLatencyFrames);
            if (frame != null && _performer.FrameChanged && frame.HasPixels)
                Upload(frame);
        }

        void KeepAudioRunning()
        {
            if (_source.isPlaying)
                return;
            _line = null;
            _source.clip = _silence;
            _source.loop = true;
            _source.Play();
        }

        void Upload(BufferedFrame frame)
        {
            if (_texture == null || _texture.width != frame.Width || _texture.height != frame.Height)
            {
                if (_texture != null)
                    Destroy(_texture);
                _texture = new Texture2D(frame.Width, frame.Height, TextureFormat.RGBA32, false);
                _texture.name = "LPM face";
                _texture.wrapMode = TextureWrapMode.Clamp;
                _texture.filterMode = FilterMode.Bilinear;
                Bind();
            }
            _texture.LoadRawTextureData(frame.Rgba);
            _texture.Apply(false, false);
        }

        // Frames come top row first; Unity textures start at the bottom row, so both targets
        // sample with V flipped instead of copying rows.
        void Bind()
        {
            if (targetImage != null)
            {
                targetImage.texture = _texture;
                targetImage.uvRect = new Rect(0f, 1f, 1f, -1f);
            }
            if (targetRenderer != null)
            {
                targetRenderer.GetPropertyBlock(_block);
                _block.SetTexture(Shader.PropertyToID(textureProperty), _texture);
                _block.SetVector(Shader.PropertyToID(textureProperty + "_ST"), new Vector4(1f, -1f, 0f, 1f));
                targetRenderer.SetPropertyBlock(_block);
            }
        }
    }
}
