// Declarations of the UnityEngine API the package uses, as the Unity 2022.3 Scripting Reference
// documents them (signatures only, no behaviour). They let the package's Unity layer be
// compiled here, which checks it against the documented API; they are not Unity.
using System;

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }
        public HideFlags hideFlags { get; set; }
        public static void Destroy(Object obj) { }
        public static void DestroyImmediate(Object obj) { }
    }

    [Flags]
    public enum HideFlags { None = 0, HideInHierarchy = 1, HideInInspector = 2, DontSaveInEditor = 4, NotEditable = 8, DontSaveInBuild = 16, DontUnloadUnusedAsset = 32, DontSave = 52, HideAndDontSave = 61 }

    public class Component : Object
    {
        public GameObject gameObject { get { return null; } }
        public T GetComponent<T>() { return default(T); }
    }

    public class Behaviour : Component
    {
        public bool enabled { get; set; }
    }

    public class MonoBehaviour : Behaviour { }

    public class ScriptableObject : Object
    {
        public static T CreateInstance<T>() where T : ScriptableObject { return null; }
    }

    public sealed class GameObject : Object
    {
        public T GetComponent<T>() { return default(T); }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class CreateAssetMenuAttribute : Attribute
    {
        public string menuName { get; set; }
        public string fileName { get; set; }
        public int order { get; set; }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) { }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class DisallowMultipleComponent : Attribute { }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class RequireComponent : Attribute
    {
        public RequireComponent(Type requiredComponent) { }
    }

    public class PropertyAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Field, AllowMultiple = true)]
    public class HeaderAttribute : PropertyAttribute
    {
        public HeaderAttribute(string header) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public class TooltipAttribute : PropertyAttribute
    {
        public TooltipAttribute(string tooltip) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class RangeAttribute : PropertyAttribute
    {
        public RangeAttribute(float min, float max) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class TextAreaAttribute : PropertyAttribute
    {
        public TextAreaAttribute(int minLines, int maxLines) { }
    }

    public enum RuntimeInitializeLoadType { AfterSceneLoad, BeforeSceneLoad, AfterAssembliesLoaded, BeforeSplashScreen, SubsystemRegistration }

    [AttributeUsage(AttributeTargets.Method)]
    public class RuntimeInitializeOnLoadMethodAttribute : Attribute
    {
        public RuntimeInitializeOnLoadMethodAttribute(RuntimeInitializeLoadType loadType) { }
    }

    public static class Application
    {
        public static bool isPlaying { get { return false; } }
        public static event Action quitting;
        static void Touch() { if (quitting != null) quitting(); }
    }

    public static class Time
    {
        public static int frameCount { get { return 0; } }
    }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
        public static void LogWarning(object message, Object context) { }
        public static void LogError(object message) { }
        public static void LogError(object message, Object context) { }
        public static void LogException(Exception exception) { }
        public static void LogException(Exception exception, Object context) { }
    }

    public static class Mathf
    {
        public static float Min(float a, float b) { return 0; }
        public static int Clamp(int value, int min, int max) { return 0; }
    }

    public struct Rect
    {
        public Rect(float x, float y, float width, float height) { this.x = x; this.y = y; this.width = width; this.height = height; }
        public float x;
        public float y;
        public float width;
        public float height;
    }

    public struct Vector4
    {
        public Vector4(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; }
        public float x, y, z, w;
    }

    public sealed class AudioClip : Object
    {
        public int samples { get { return 0; } }
        public int channels { get { return 0; } }
        public int frequency { get { return 0; } }
        public float length { get { return 0; } }
        public bool GetData(float[] data, int offsetSamples) { return false; }
        public bool SetData(float[] data, int offsetSamples) { return false; }
        public static AudioClip Create(string name, int lengthSamples, int channels, int frequency, bool stream) { return null; }
    }

    public sealed class AudioSource : Behaviour
    {
        public AudioClip clip { get; set; }
        public bool loop { get; set; }
        public bool playOnAwake { get; set; }
        public bool isPlaying { get { return false; } }
        public int timeSamples { get; set; }
        public void Play() { }
        public void PlayScheduled(double time) { }
        public void Stop() { }
    }

    public sealed class AudioSettings
    {
        public static int outputSampleRate { get { return 0; } }
        public static double dspTime { get { return 0; } }
        public static void GetDSPBufferSize(out int bufferLength, out int numBuffers) { bufferLength = 0; numBuffers = 0; }
    }

    public sealed class Microphone
    {
        public static string[] devices { get { return null; } }
        public static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency) { return null; }
        public static void End(string deviceName) { }
        public static bool IsRecording(string deviceName) { return false; }
        public static int GetPosition(string deviceName) { return 0; }
        public static void GetDeviceCaps(string deviceName, out int minFreq, out int maxFreq) { minFreq = 0; maxFreq = 0; }
    }

    public enum TextureFormat { Alpha8 = 1, RGB24 = 3, RGBA32 = 4, ARGB32 = 5 }
    public enum TextureWrapMode { Repeat, Clamp, Mirror, MirrorOnce }
    public enum FilterMode { Point, Bilinear, Trilinear }

    public class Texture : Object
    {
        public virtual int width { get { return 0; } set { } }
        public virtual int height { get { return 0; } set { } }
        public TextureWrapMode wrapMode { get; set; }
        public FilterMode filterMode { get; set; }
    }

    public sealed class Texture2D : Texture
    {
        public Texture2D(int width, int height, TextureFormat textureFormat, bool mipChain) { }
        public void LoadRawTextureData(byte[] data) { }
        public void LoadRawTextureData(IntPtr data, int size) { }
        public void Apply(bool updateMipmaps, bool makeNoLongerReadable) { }
    }

    public sealed class Shader : Object
    {
        public static int PropertyToID(string name) { return 0; }
    }

    public sealed class MaterialPropertyBlock
    {
        public void SetTexture(int nameID, Texture value) { }
        public void SetVector(int nameID, Vector4 value) { }
    }

    public class Renderer : Component
    {
        public void GetPropertyBlock(MaterialPropertyBlock properties) { }
        public void SetPropertyBlock(MaterialPropertyBlock properties) { }
    }

    public sealed class Mesh : Object
    {
        public int blendShapeCount { get { return 0; } }
        public string GetBlendShapeName(int shapeIndex) { return null; }
    }

    public class SkinnedMeshRenderer : Renderer
    {
        public Mesh sharedMesh { get; set; }
        public void SetBlendShapeWeight(int index, float value) { }
    }

    public sealed class GUILayoutOption { }

    public class GUI
    {
        public static bool enabled { get; set; }
        public static void DrawTextureWithTexCoords(Rect position, Texture image, Rect texCoords) { }
    }

    public class GUILayout
    {
        public static bool Button(string text, params GUILayoutOption[] options) { return false; }
        public static GUILayoutOption MinHeight(float minHeight) { return null; }
    }

    public class GUILayoutUtility
    {
        public static Rect GetRect(float minWidth, float maxWidth, float minHeight, float maxHeight, params GUILayoutOption[] options) { return default(Rect); }
    }

    public sealed class GUIStyle { }
}

namespace UnityEngine.Events
{
    public delegate void UnityAction();
    public delegate void UnityAction<T0>(T0 arg0);

    public abstract class UnityEventBase { }

    [Serializable]
    public class UnityEvent : UnityEventBase
    {
        public void AddListener(UnityAction call) { }
        public void RemoveListener(UnityAction call) { }
        public void Invoke() { }
    }

    [Serializable]
    public abstract class UnityEvent<T0> : UnityEventBase
    {
        public void AddListener(UnityAction<T0> call) { }
        public void RemoveListener(UnityAction<T0> call) { }
        public void Invoke(T0 arg0) { }
    }
}

namespace UnityEngine.UI
{
    public class RawImage : Component
    {
        public Texture texture { get; set; }
        public Rect uvRect { get; set; }
    }
}
