using Lpm;
using Lpm.Unity;
using UnityEditor;
using UnityEngine;

namespace Lpm.Unity.Editor
{
    /// <summary>The face's fields, then a live status block while playing: connection, fps, latency.</summary>
    [CustomEditor(typeof(LpmNpcFace))]
    public sealed class LpmNpcFaceEditor : UnityEditor.Editor
    {
        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            EditorGUILayout.Space();
            EditorGUILayout.LabelField("Live status", EditorStyles.boldLabel);
            var face = (LpmNpcFace)target;
            if (!Application.isPlaying || face.Performer == null)
            {
                EditorGUILayout.HelpBox("Shown in Play mode.", MessageType.None);
                return;
            }
            PerformerStatus s;
            try
            {
                s = face.Performer.Status();
            }
            catch (LpmException e)
            {
                EditorGUILayout.HelpBox(e.Message, MessageType.Error);
                return;
            }
            var kind = s.Connection == ConnectionState.Connected ? MessageType.Info : MessageType.Warning;
            EditorGUILayout.HelpBox(s.ConnectionText, kind);
            EditorGUILayout.LabelField("Session", s.SessionReady ? s.SessionId : "waiting for the runtime");
            EditorGUILayout.LabelField("Frames per second", s.FramesPerSecond.ToString("0.0"));
            EditorGUILayout.LabelField("Latency L", s.LatencyMs.ToString("0") + " ms");
            EditorGUILayout.LabelField("Round trip", s.RoundTripMs.ToString("0.0") + " ms");
            EditorGUILayout.LabelField("Frames received / dropped", s.FramesReceived + " / " + s.FramesDropped);
            EditorGUILayout.LabelField("Audio dropped", s.AudioDroppedMs + " ms");
            EditorGUILayout.LabelField("Playhead", s.PlayheadFromAudio ? "NPC audio position" : "client estimate");
            EditorGUILayout.LabelField("State", s.State + (s.Speaking ? " (speaking)" : ""));
        }

        public override bool RequiresConstantRepaint()
        {
            return Application.isPlaying;
        }
    }

    /// <summary>Closes the runtime connections before scripts reload, so no native thread outlives its domain.</summary>
    [InitializeOnLoad]
    static class LpmEditorLifecycle
    {
        static LpmEditorLifecycle()
        {
            AssemblyReloadEvents.beforeAssemblyReload += LpmRuntime.Shutdown;
        }
    }
}
