using System;
using System.Collections.Generic;

namespace Lpm
{
    public enum ConnectionState
    {
        /// <summary>No client, or it was stopped: nothing is being tried.</summary>
        Disconnected,
        /// <summary>Trying to reach the runtime: first connection, or again after losing it.</summary>
        Connecting,
        /// <summary>The runtime answers and every session is live.</summary>
        Connected,
        /// <summary>The runtime answers again after a loss; sessions are being resumed or re-created.</summary>
        Resuming,
    }

    /// <summary>
    /// The client's connection as the game sees it, driven by the native core's events (the core
    /// reconnects and resumes by itself; this only follows it) and exposing a one-line status for
    /// the Inspector. Times are seconds on any monotonic clock, passed in, so it is testable.
    /// <code>
    ///   Disconnected --Start--> Connecting --CONNECTED--> Connected
    ///   Connected --DISCONNECTED/SHUTDOWN--> Connecting --CONNECTED--> Resuming (sessions open)
    ///   Resuming --SESSION_RESUMED for every open session (or ResumeTimeout)--> Connected
    ///   any --Stop--> Disconnected
    /// </code>
    /// </summary>
    public sealed class ReconnectStateMachine
    {
        readonly HashSet<uint> _open = new HashSet<uint>();     // sessions the runtime knows
        readonly HashSet<uint> _waiting = new HashSet<uint>();  // open before the loss, not yet back

        double _since;
        double _lostAt = double.NaN;
        bool _lostOnce;
        string _detail = string.Empty;

        public ReconnectStateMachine()
        {
            State = ConnectionState.Disconnected;
            ResumeTimeoutSeconds = 10.0;
            LastOutage = double.NaN;
        }

        public ConnectionState State { get; private set; }

        /// <summary>Longest wait in Resuming before declaring Connected with sessions missing.</summary>
        public double ResumeTimeoutSeconds { get; set; }

        /// <summary>Times the connection was lost.</summary>
        public int Losses { get; private set; }

        /// <summary>Seconds from the last loss to Connected again (NaN until it happened).</summary>
        public double LastOutage { get; private set; }

        /// <summary>Sessions re-created (rather than resumed) by the last reconnect.</summary>
        public int Recreated { get; private set; }

        /// <summary>Raised on every state change: (old, new).</summary>
        public event Action<ConnectionState, ConnectionState> Changed;

        /// <summary>One line for the Inspector, e.g. "Reconnecting (lost 2.4 s ago)".</summary>
        public string StatusText(double now)
        {
            switch (State)
            {
                case ConnectionState.Disconnected:
                    return "Disconnected" + Suffix();
                case ConnectionState.Connecting:
                    return _lostOnce
                        ? string.Format("Reconnecting (lost {0:0.0} s ago){1}", now - _lostAt, Suffix())
                        : string.Format("Connecting ({0:0.0} s){1}", now - _since, Suffix());
                case ConnectionState.Resuming:
                    return string.Format("Resuming {0} session(s) ({1:0.0} s)", _waiting.Count, now - _since);
                default:
                    return string.Format("Connected, {0} session(s){1}", _open.Count, Suffix());
            }
        }

        string Suffix()
        {
            return _detail.Length > 0 ? ": " + _detail : string.Empty;
        }

        /// <summary>The client was created and is trying to connect.</summary>
        public void Start(double now)
        {
            if (State == ConnectionState.Disconnected)
                Move(ConnectionState.Connecting, now);
        }

        /// <summary>The client was closed.</summary>
        public void Stop(double now, string reason = null)
        {
            _open.Clear();
            _waiting.Clear();
            _detail = reason ?? string.Empty;
            Move(ConnectionState.Disconnected, now);
        }

        /// <summary>Feeds one event from the native core.</summary>
        public void OnEvent(LpmEvent e, double now)
        {
            switch (e.Type)
            {
                case LpmEventType.Connected:
                    if (State == ConnectionState.Disconnected)
                        break; // stopped: late events do not restart it
                    _detail = string.Empty;
                    if (_lostOnce && !double.IsNaN(_lostAt) && State == ConnectionState.Connecting &&
                        _open.Count > 0)
                    {
                        _waiting.Clear();
                        _waiting.UnionWith(_open);
                        Recreated = 0;
                        Move(ConnectionState.Resuming, now);
                    }
                    else
                    {
                        Connected(now);
                    }
                    break;
                case LpmEventType.Disconnected:
                case LpmEventType.Shutdown:
                    if (State == ConnectionState.Disconnected)
                        break;
                    if (State == ConnectionState.Connected || State == ConnectionState.Resuming)
                    {
                        Losses++;
                        _lostOnce = true;
                        _lostAt = now;
                    }
                    _detail = e.Type == LpmEventType.Shutdown ? "the runtime is shutting down" : "no answer";
                    Move(ConnectionState.Connecting, now);
                    break;
                case LpmEventType.SessionReady:
                    _open.Add(e.Session);
                    break;
                case LpmEventType.SessionResumed:
                    _open.Add(e.Session);
                    if (e.Value != 0)
                        Recreated++;
                    if (_waiting.Remove(e.Session) && _waiting.Count == 0 && State == ConnectionState.Resuming)
                        Connected(now);
                    break;
                case LpmEventType.SessionClosed:
                    _open.Remove(e.Session);
                    if (_waiting.Remove(e.Session) && _waiting.Count == 0 && State == ConnectionState.Resuming)
                        Connected(now);
                    break;
                case LpmEventType.Error:
                    if (e.Session == 0)
                        _detail = string.IsNullOrEmpty(e.Name) ? e.Text : e.Name + ": " + e.Text;
                    break;
            }
        }

        /// <summary>Time passing: ends a Resuming that waits too long.</summary>
        public void Tick(double now)
        {
            if (State == ConnectionState.Resuming && now - _since >= ResumeTimeoutSeconds)
            {
                _detail = _waiting.Count + " session(s) did not come back";
                _waiting.Clear();
                Connected(now);
            }
        }

        void Connected(double now)
        {
            if (_lostOnce && !double.IsNaN(_lostAt))
            {
                LastOutage = now - _lostAt;
                _lostAt = double.NaN;
            }
            Move(ConnectionState.Connected, now);
        }

        void Move(ConnectionState next, double now)
        {
            if (next == State)
                return;
            var old = State;
            State = next;
            _since = now;
            var handler = Changed;
            if (handler != null)
                handler(old, next);
        }
    }
}
