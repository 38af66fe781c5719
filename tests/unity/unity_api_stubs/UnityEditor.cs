// Declarations of the UnityEditor API the package uses, as the Unity 2022.3 Scripting Reference
// documents them (signatures only). See UnityEngine.cs.
using System;
using UnityEngine;
using Object = UnityEngine.Object;

namespace UnityEditor
{
    public class Editor : ScriptableObject
    {
        public Object target { get { return null; } }
        public virtual void OnInspectorGUI() { }
        public bool DrawDefaultInspector() { return false; }
        public virtual bool RequiresConstantRepaint() { return false; }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class CustomEditor : Attribute
    {
        public CustomEditor(Type inspectedType) { }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public class InitializeOnLoadAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class MenuItem : Attribute
    {
        public MenuItem(string itemName) { }
        public MenuItem(string itemName, bool isValidateFunction) { }
        public MenuItem(string itemName, bool isValidateFunction, int priority) { }
    }

    public class EditorWindow : ScriptableObject
    {
        public static T GetWindow<T>(string title) where T : EditorWindow { return null; }
        public void Repaint() { }
    }

    public enum MessageType { None, Info, Warning, Error }

    public sealed class EditorStyles
    {
        public static GUIStyle boldLabel { get { return null; } }
    }

    public class EditorGUILayout
    {
        public static void Space() { }
        public static void LabelField(string label, params GUILayoutOption[] options) { }
        public static void LabelField(string label, GUIStyle style, params GUILayoutOption[] options) { }
        public static void LabelField(string label, string label2, params GUILayoutOption[] options) { }
        public static void HelpBox(string message, MessageType type) { }
        public static Object ObjectField(string label, Object obj, Type objType, bool allowSceneObjects, params GUILayoutOption[] options) { return null; }
        public static int Popup(string label, int selectedIndex, string[] displayedOptions, params GUILayoutOption[] options) { return 0; }
        public static string TextArea(string text, params GUILayoutOption[] options) { return null; }

        public class HorizontalScope : IDisposable
        {
            public HorizontalScope(params GUILayoutOption[] options) { }
            public void Dispose() { }
        }
    }

    public sealed class EditorApplication
    {
        public delegate void CallbackFunction();
        public static CallbackFunction update;
        public static double timeSinceStartup { get { return 0; } }
    }

    public sealed class EditorUtility
    {
        public static bool DisplayDialog(string title, string message, string ok) { return false; }
        public static bool DisplayCancelableProgressBar(string title, string info, float progress) { return false; }
        public static void ClearProgressBar() { }
        public static string OpenFilePanel(string title, string directory, string extension) { return null; }
        public static GameObject CreateGameObjectWithHideFlags(string name, HideFlags flags, params Type[] components) { return null; }
    }

    public sealed class EditorGUIUtility
    {
        public static void PingObject(Object obj) { }
    }

    public sealed class Selection
    {
        public static Object activeObject { get; set; }
    }

    public sealed class AssetDatabase
    {
        public static string GetAssetPath(Object assetObject) { return null; }
        public static string GenerateUniqueAssetPath(string path) { return null; }
        public static void CreateAsset(Object asset, string path) { }
        public static void SaveAssets() { }
        public static string[] FindAssets(string filter) { return null; }
        public static string GUIDToAssetPath(string guid) { return null; }
        public static T LoadAssetAtPath<T>(string assetPath) where T : Object { return null; }
    }

    public static class AssemblyReloadEvents
    {
        public delegate void AssemblyReloadCallback();
        public static event AssemblyReloadCallback beforeAssemblyReload;
        static void Touch() { if (beforeAssemblyReload != null) beforeAssemblyReload(); }
    }
}
