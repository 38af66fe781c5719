using Lpm.Unity;
using UnityEngine;

namespace Lpm.Samples
{
    /// <summary>
    /// Drives one NPC face: says a line when asked (a UI Button's OnClick, or Space with the
    /// legacy Input Manager), reacts to the speaking events, and logs errors.
    /// </summary>
    public sealed class TalkingNpcSample : MonoBehaviour
    {
        public LpmNpcFace face;
        [Tooltip("Lines of the NPC's voice (Load Type: Decompress On Load or Streaming both work).")]
        public AudioClip[] lines;
        [TextArea(2, 4)]
        public string mood = "warm, a little tired, glad to see the player";

        int _next;

        void Start()
        {
            face.onSpeakingStarted.AddListener(() => Debug.Log("NPC starts speaking"));
            face.onSpeakingStopped.AddListener(() => Debug.Log("NPC stops speaking"));
            face.onError.AddListener(message => Debug.LogWarning("LPM: " + message));
            face.SetPrompt(mood);
        }

        /// <summary>Plays the next line (wire it to a Button).</summary>
        public void SayLine()
        {
            if (lines == null || lines.Length == 0)
                return;
            face.Speak(lines[_next]);
            _next = (_next + 1) % lines.Length;
        }

        /// <summary>Barge-in (wire it to a Button).</summary>
        public void Interrupt()
        {
            face.StopSpeaking();
        }

        /// <summary>A one-off expression (wire it to a Button with the emote as argument).</summary>
        public void Emote(string emote)
        {
            face.TriggerEmote(emote, 1f, 1.5f);
        }

#if ENABLE_LEGACY_INPUT_MANAGER
        void Update()
        {
            if (Input.GetKeyDown(KeyCode.Space))
                SayLine();
            if (Input.GetKeyDown(KeyCode.Escape))
                Interrupt();
        }
#endif
    }
}
