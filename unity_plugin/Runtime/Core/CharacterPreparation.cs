using System;
using System.Text;

namespace Lpm
{
    /// <summary>
    /// One request to make a character from a portrait (prepare_character, PROTOCOL.md section 5)
    /// followed to its answer: the CharacterPrepared event naming it, or an error. The caller
    /// pumps the client; this only listens to its events. Run one at a time per client: the
    /// native core reports a refused request as a client-wide error that does not say which
    /// request it was, so every preparation in flight would take it as its own.
    /// </summary>
    public sealed class CharacterPreparation : IDisposable
    {
        // Errors a prepare_character request can draw (PROTOCOL.md section 8).
        const int BadField = 4;
        const int BadPayload = 5;
        const int ChunkTooLarge = 8;
        const int PrepareFailed = 14;
        const int ShuttingDown = 16;

        readonly LpmClient _client;
        readonly double _deadline;

        /// <param name="id">Character id: 1..128 ASCII letters, digits, '-' or '_' (see <see cref="IdFromName"/>).</param>
        /// <param name="image">PNG or JPEG bytes of the portrait.</param>
        public CharacterPreparation(LpmClient client, string id, byte[] image, double timeoutSeconds = 300)
        {
            if (client == null)
                throw new ArgumentNullException("client");
            if (!IsValidId(id))
                throw new ArgumentException("a character id is 1..128 ASCII letters, digits, '-' or '_'", "id");
            _client = client;
            Id = id;
            _deadline = client.Now + timeoutSeconds;
            _client.EventReceived += OnEvent;
            client.PrepareCharacter(id, image);
        }

        public string Id { get; private set; }
        public bool Done { get; private set; }
        public bool Succeeded { get; private set; }
        /// <summary>Why it failed, for people.</summary>
        public string Message { get; private set; }

        /// <summary>Fails the request once its time is up.</summary>
        public void Tick()
        {
            if (!Done && _client.Now > _deadline)
                Finish(false, "no answer from the runtime in time");
        }

        public void Dispose()
        {
            _client.EventReceived -= OnEvent;
        }

        void OnEvent(LpmEvent e)
        {
            if (Done)
                return;
            if (e.Type == LpmEventType.CharacterPrepared && e.Name == Id)
                Finish(true, string.Empty);
            else if (e.Type == LpmEventType.Error && e.Session == 0 &&
                     (e.Code == PrepareFailed || e.Code == BadPayload || e.Code == ChunkTooLarge ||
                      e.Code == BadField || e.Code == ShuttingDown))
                Finish(false, string.IsNullOrEmpty(e.Name) ? e.Text : e.Name + ": " + e.Text);
        }

        void Finish(bool ok, string message)
        {
            Done = true;
            Succeeded = ok;
            Message = message;
            _client.EventReceived -= OnEvent;
        }

        public static bool IsValidId(string id)
        {
            if (string.IsNullOrEmpty(id) || id.Length > 128)
                return false;
            foreach (char c in id)
            {
                if (!IsIdChar(c))
                    return false;
            }
            return true;
        }

        /// <summary>A valid character id made from a file or display name ("Old Man (v2).png" → "Old_Man_v2").</summary>
        public static string IdFromName(string name)
        {
            var id = new StringBuilder();
            bool gap = false;
            foreach (char c in name ?? string.Empty)
            {
                if (IsIdChar(c))
                {
                    if (gap && id.Length > 0)
                        id.Append('_');
                    id.Append(c);
                    gap = false;
                }
                else
                {
                    gap = true;
                }
                if (id.Length >= 128)
                    break;
            }
            string result = id.ToString();
            if (result.Length > 128)
                result = result.Substring(0, 128);
            return result.Length == 0 ? "character" : result;
        }

        static bool IsIdChar(char c)
        {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        }
    }
}
