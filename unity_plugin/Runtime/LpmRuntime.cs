using System.Collections.Generic;
using Lpm;
using UnityEngine;

namespace Lpm.Unity
{
    /// <summary>
    /// The connections of a running game: one client pool per settings asset, pumped once per
    /// frame on the main thread by whichever LPM component updates first, closed when the game
    /// quits (and, in the Editor, before scripts reload).
    /// </summary>
    public static class LpmRuntime
    {
        static readonly Dictionary<LpmRuntimeSettings, LpmClientPool> Pools =
            new Dictionary<LpmRuntimeSettings, LpmClientPool>();
        static int _pumpedFrame = -1;

        [RuntimeInitializeOnLoadMethod(RuntimeInitializeLoadType.SubsystemRegistration)]
        static void Initialize()
        {
            Application.quitting -= Shutdown;
            Application.quitting += Shutdown;
        }

        /// <summary>A client with room for one more session on <paramref name="settings"/>' endpoint.</summary>
        public static LpmClient Acquire(LpmRuntimeSettings settings)
        {
            LpmClientPool pool;
            if (!Pools.TryGetValue(settings, out pool))
            {
                var clientSettings = settings.ToClientSettings();
                pool = new LpmClientPool(() => new LpmClient(clientSettings), settings.sessionsPerConnection);
                Pools[settings] = pool;
            }
            return pool.Acquire();
        }

        /// <summary>Drains every client's events, at most once per rendered frame.</summary>
        public static void PumpOnce()
        {
            if (Time.frameCount == _pumpedFrame)
                return;
            _pumpedFrame = Time.frameCount;
            foreach (var pool in Pools.Values)
            {
                try
                {
                    pool.Pump();
                }
                catch (LpmException e)
                {
                    Debug.LogException(e);
                }
            }
        }

        /// <summary>Closes every connection (their sessions end on the runtime).</summary>
        public static void Shutdown()
        {
            foreach (var pool in Pools.Values)
                pool.Dispose();
            Pools.Clear();
        }
    }
}
