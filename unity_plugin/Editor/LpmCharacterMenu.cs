using System.IO;
using Lpm;
using Lpm.Unity;
using UnityEditor;
using UnityEngine;

namespace Lpm.Unity.Editor
{
    /// <summary>
    /// Assets > LPM > Prepare Character From Portrait: sends the selected PNG/JPEG to the runtime,
    /// which makes a character of it, and saves an LpmCharacter asset next to the portrait.
    /// </summary>
    static class LpmCharacterMenu
    {
        const string Item = "Assets/LPM/Prepare Character From Portrait";

        static LpmClient _client;
        static CharacterPreparation _job;
        static Texture2D _portrait;
        static string _assetPath;

        [MenuItem(Item, true)]
        static bool CanPrepare()
        {
            var texture = Selection.activeObject as Texture2D;
            if (texture == null || _job != null)
                return false;
            string ext = Path.GetExtension(AssetDatabase.GetAssetPath(texture)).ToLowerInvariant();
            return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
        }

        [MenuItem(Item, false, 1000)]
        static void Prepare()
        {
            _portrait = (Texture2D)Selection.activeObject;
            string path = AssetDatabase.GetAssetPath(_portrait);
            string id = CharacterPreparation.IdFromName(Path.GetFileNameWithoutExtension(path));
            _assetPath = AssetDatabase.GenerateUniqueAssetPath(
                Path.Combine(Path.GetDirectoryName(path), id + ".asset").Replace('\\', '/'));
            try
            {
                _client = new LpmClient(FindSettings());
                _job = new CharacterPreparation(_client, id, File.ReadAllBytes(path));
            }
            catch (System.Exception e)
            {
                Finish();
                EditorUtility.DisplayDialog("LPM", "Could not ask the runtime: " + e.Message, "OK");
                return;
            }
            EditorApplication.update += Poll;
        }

        static void Poll()
        {
            _client.Pump();
            _job.Tick();
            if (EditorUtility.DisplayCancelableProgressBar("LPM", "Preparing character '" + _job.Id + "'...", 0.5f))
            {
                Finish();
                return;
            }
            if (!_job.Done)
                return;
            bool ok = _job.Succeeded;
            string id = _job.Id, message = _job.Message;
            Finish();
            if (!ok)
            {
                EditorUtility.DisplayDialog("LPM", "The runtime could not prepare '" + id + "': " + message, "OK");
                return;
            }
            var character = ScriptableObject.CreateInstance<LpmCharacter>();
            character.characterId = id;
            character.portrait = _portrait;
            AssetDatabase.CreateAsset(character, _assetPath);
            AssetDatabase.SaveAssets();
            Selection.activeObject = character;
            EditorGUIUtility.PingObject(character);
        }

        static void Finish()
        {
            EditorApplication.update -= Poll;
            EditorUtility.ClearProgressBar();
            if (_job != null)
                _job.Dispose();
            if (_client != null)
                _client.Dispose();
            _job = null;
            _client = null;
        }

        /// <summary>The first LpmRuntimeSettings asset in the project, or the default endpoint.</summary>
        internal static LpmClientSettings FindSettings()
        {
            foreach (string guid in AssetDatabase.FindAssets("t:LpmRuntimeSettings"))
            {
                var settings = AssetDatabase.LoadAssetAtPath<LpmRuntimeSettings>(AssetDatabase.GUIDToAssetPath(guid));
                if (settings != null)
                    return settings.ToClientSettings();
            }
            return new LpmClientSettings();
        }
    }
}
