using UnityEngine;

namespace Lpm.Unity
{
    /// <summary>
    /// A character the runtime knows (its id), with the portrait it was made from. Made by
    /// Assets > LPM > Prepare Character From Portrait, or by hand for a character already on the
    /// runtime.
    /// </summary>
    [CreateAssetMenu(fileName = "LpmCharacter", menuName = "LPM/Character", order = 1)]
    public sealed class LpmCharacter : ScriptableObject
    {
        [Tooltip("The runtime's character id (list_characters).")]
        public string characterId = "";
        [Tooltip("The portrait the character was prepared from (for reference).")]
        public Texture2D portrait;
    }
}
