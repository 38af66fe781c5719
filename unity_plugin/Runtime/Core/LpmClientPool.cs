using System;
using System.Collections.Generic;

namespace Lpm
{
    /// <summary>
    /// Clients for one runtime endpoint, each holding at most <see cref="SessionsPerClient"/>
    /// sessions (the runtime's per-client quota, PROTOCOL.md section 8, TOO_MANY_SESSIONS):
    /// NPCs beyond it get another connection.
    /// </summary>
    public sealed class LpmClientPool : IDisposable
    {
        readonly Func<LpmClient> _factory;
        readonly List<LpmClient> _clients = new List<LpmClient>();
        readonly int _sessionsPerClient;

        public LpmClientPool(Func<LpmClient> factory, int sessionsPerClient = 4)
        {
            if (factory == null)
                throw new ArgumentNullException("factory");
            if (sessionsPerClient < 1)
                throw new ArgumentOutOfRangeException("sessionsPerClient");
            _factory = factory;
            _sessionsPerClient = sessionsPerClient;
        }

        public int SessionsPerClient
        {
            get { return _sessionsPerClient; }
        }

        public IList<LpmClient> Clients
        {
            get { return _clients.AsReadOnly(); }
        }

        /// <summary>A client with room for one more session (a new one when all are full).</summary>
        public LpmClient Acquire()
        {
            foreach (var client in _clients)
            {
                if (!client.IsDisposed && client.Sessions.Count < _sessionsPerClient)
                    return client;
            }
            var created = _factory();
            _clients.Add(created);
            return created;
        }

        /// <summary>Pumps every client (game thread, once per frame).</summary>
        public void Pump()
        {
            foreach (var client in _clients)
            {
                if (!client.IsDisposed)
                    client.Pump();
            }
        }

        public void Dispose()
        {
            foreach (var client in _clients)
                client.Dispose();
            _clients.Clear();
        }
    }
}
