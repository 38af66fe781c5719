using System;
using Lpm;
using Lpm.Unity;
using UnityEditor;
using UnityEngine;

namespace Lpm.Unity.Editor
{
    /// <summary>
    /// Window > LPM > Face Preview: pick a character, type a prompt or press an emote, play a WAV
    /// and watch the face animate, in the Editor without entering Play mode. The WAV is streamed
    /// at real-time pace and played L later through a hidden AudioSource; the frame shown follows
    /// that source's timeSamples (the estimate when no audio plays).
    /// </summary>
    public sealed class LpmPreviewWindow : EditorWindow
    {
        static readonly string[] Emotes = { "smile", "laugh", "surprised", "sad", "angry", "wink", "nod", "shake head" };

        LpmRuntimeSettings _settings;
        LpmClient _client;
        LpmSession _session;
        string[] _characters = new string[0];
        int _characterIndex;
        string _prompt = "";
        string _status = "Not connected";

        Texture2D _texture;
        GameObject _player;
        AudioSource _source;
        AudioClip _clip;
        PlaybackClock _clock;
        LineStreamer _line;
        double _lineStarted;
        bool _scheduled;

        [MenuItem("Window/LPM/Face Preview")]
        static void Open()
        {
            GetWindow<LpmPreviewWindow>("LPM Face Preview");
        }

        void OnEnable()
        {
            EditorApplication.update += Tick;
        }

        void OnDisable()
        {
            EditorApplication.update -= Tick;
            Disconnect();
            if (_texture != null)
                DestroyImmediate(_texture);
        }

        void OnGUI()
        {
            _settings = (LpmRuntimeSettings)EditorGUILayout.ObjectField("Settings", _settings, typeof(LpmRuntimeSettings), false);
            using (new EditorGUILayout.HorizontalScope())
            {
                if (GUILayout.Button(_client == null ? "Connect" : "Reconnect"))
                    Connect();
                GUI.enabled = _client != null;
                if (GUILayout.Button("Disconnect"))
                    Disconnect();
                GUI.enabled = true;
            }
            EditorGUILayout.LabelField("Status", _status);
            if (_client == null)
                return;

            int picked = EditorGUILayout.Popup("Character", _characterIndex, _characters);
            if (picked != _characterIndex || (_session == null && _characters.Length > 0))
            {
                _characterIndex = picked;
                StartSession(_characters.Length > 0 ? _characters[_characterIndex] : null);
            }

            EditorGUILayout.LabelField("Prompt");
            _prompt = EditorGUILayout.TextArea(_prompt, GUILayout.MinHeight(40));
            GUI.enabled = _session != null && _session.IsReady;
            if (GUILayout.Button("Send prompt"))
                _session.SetPrompt(_prompt);
            using (new EditorGUILayout.HorizontalScope())
            {
                foreach (string emote in Emotes)
                {
                    if (GUILayout.Button(emote))
                        _session.TriggerEmote(emote, 1f, 1.5f);
                }
            }
            if (GUILayout.Button("Play WAV..."))
            {
                string path = EditorUtility.OpenFilePanel("NPC line", "", "wav");
                if (!string.IsNullOrEmpty(path))
                    PlayWav(path);
            }
            GUI.enabled = true;

            Rect area = GUILayoutUtility.GetRect(128, 4096, 128, 4096);
            if (_texture != null)
            {
                float side = Mathf.Min(area.width, area.height);
                var square = new Rect(area.x + (area.width - side) / 2, area.y, side, side);
                // Frames come top row first; flip V instead of copying rows.
                GUI.DrawTextureWithTexCoords(square, _texture, new Rect(0f, 1f, 1f, -1f));
            }
        }

        void Connect()
        {
            Disconnect();
            try
            {
                var settings = _settings != null ? _settings.ToClientSettings() : LpmCharacterMenu.FindSettings();
                _client = new LpmClient(settings);
                _client.EventReceived += OnEvent;
            }
            catch (LpmException e)
            {
                _status = e.Message;
                _client = null;
            }
        }

        void Disconnect()
        {
            StopLine();
            if (_client != null)
                _client.Dispose();
            _client = null;
            _session = null;
            _characters = new string[0];
            _status = "Not connected";
        }

        void StartSession(string character)
        {
            StopLine();
            if (_session != null)
                _session.Close();
            var options = _settings != null ? _settings.ToSessionOptions(null, _prompt) : new LpmSessionOptions();
            options.Character = character;
            _session = _client.CreateSession(options);
        }

        void OnEvent(LpmEvent e)
        {
            if (e.Type == LpmEventType.Characters || e.Type == LpmEventType.Connected || e.Type == LpmEventType.CharacterPrepared)
            {
                _characters = _client.GetCharacters();
                _characterIndex = Mathf.Clamp(_characterIndex, 0, Math.Max(0, _characters.Length - 1));
            }
            if (e.Type == LpmEventType.Error)
                Debug.LogWarning("LPM: " + e.Name + ": " + e.Text);
        }

        void PlayWav(string path)
        {
            WavFile wav;
            try
            {
                wav = WavFile.Load(path);
            }
            catch (Exception e)
            {
                EditorUtility.DisplayDialog("LPM", "Cannot read " + path + ": " + e.Message, "OK");
                return;
            }
            StopLine();
            _clock = new PlaybackClock(wav.SampleRate);
            _session.Clock = _clock;
            _line = new LineStreamer(_session, _clock, wav.Samples, wav.Channels, wav.SampleRate);
            _clip = AudioClip.Create("LPM preview line", wav.Frames, wav.Channels, wav.SampleRate, false);
            _clip.SetData(wav.Samples, 0);
            _player = EditorUtility.CreateGameObjectWithHideFlags("LPM preview player", HideFlags.HideAndDontSave, typeof(AudioSource));
            _source = _player.GetComponent<AudioSource>();
            _source.clip = _clip;
            _source.playOnAwake = false;
            _lineStarted = EditorApplication.timeSinceStartup;
            _scheduled = false;
        }

        void StopLine()
        {
            if (_session != null && !_session.IsClosed)
                _session.Clock = null;
            _line = null;
            _clock = null;
            if (_player != null)
                DestroyImmediate(_player);
            if (_clip != null)
                DestroyImmediate(_clip);
            _player = null;
            _source = null;
            _clip = null;
        }

        void Tick()
        {
            if (_client == null)
                return;
            try
            {
                _client.Pump();
            }
            catch (LpmException e)
            {
                _status = e.Message;
                return;
            }
            _status = _client.Connection.StatusText(_client.Now);
            if (_session == null || !_session.IsReady)
                return;

            long playhead = PlaybackClock.Auto;
            if (_line != null)
            {
                _line.Tick(EditorApplication.timeSinceStartup - _lineStarted);
                if (!_scheduled)
                {
                    // The first sample sounds L after it was sent (PROTOCOL.md section 4).
                    _source.PlayScheduled(AudioSettings.dspTime + _session.Info.LatencyUs / 1e6);
                    _scheduled = true;
                }
                if (_source.isPlaying)
                    playhead = _clock.PlayheadUs(_source.timeSamples);
                else if (_line.Done && EditorApplication.timeSinceStartup - _lineStarted > _clip.length + 1.0)
                    StopLine();
            }
            var frame = _session.Present(playhead, true);
            if (frame != null && _session.FrameChanged && frame.HasPixels)
            {
                if (_texture == null || _texture.width != frame.Width || _texture.height != frame.Height)
                {
                    if (_texture != null)
                        DestroyImmediate(_texture);
                    _texture = new Texture2D(frame.Width, frame.Height, TextureFormat.RGBA32, false);
                    _texture.hideFlags = HideFlags.HideAndDontSave;
                }
                _texture.LoadRawTextureData(frame.Rgba);
                _texture.Apply(false, false);
                Repaint();
            }
        }
    }
}
