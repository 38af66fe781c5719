// What each message from the runtime does to the shared state: the session state machine of
// the I/O thread (replies matched by request id, resume / re-create after a reconnect, frames
// into the rings, events for the caller). Everything here runs on the I/O thread with
// SharedState::mutex held.
#include <algorithm>
#include <limits>

#include "io_thread.hpp"
#include "text.hpp"

namespace lpm {

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

constexpr auto kRetryAfter = std::chrono::seconds(1);  // a transient refusal of a resync

}  // namespace

// --- Replies, errors, events, frames ---------------------------------------------------------

void IoThread::apply(Incoming& in, Clock::time_point now) {
    const ServerMessage& m = in.message;
    switch (m.kind) {
        case MessageKind::kFrame:
            apply_frame(in, now);
            return;
        case MessageKind::kSessionInfo:
            apply_session_info(m, now);
            return;
        case MessageKind::kError:
            apply_error(m, now);
            return;
        case MessageKind::kEvent:
            apply_event(m, now);
            return;
        case MessageKind::kPong: {
            const std::int64_t rtt_us = steady_us(now) - m.pong_t_us;
            // A pong for a ping queued while disconnected measures the outage, not the link.
            if (m.pong_t_us > 0 && rtt_us >= 0 &&
                rtt_us < duration_cast<microseconds>(config_.timeout).count()) {
                shared_.rtt_ms = static_cast<float>(rtt_us) / 1000.0f;
            }
            return;
        }
        case MessageKind::kOk: {
            auto it = pending_.find(m.id);
            if (it != pending_.end()) {
                const Pending p = it->second;
                pending_.erase(it);
                if (p.kind == Pending::Kind::kClose) {
                    finish_closing(p.handle);
                }
            }
            return;
        }
        case MessageKind::kCharacters:
            pending_.erase(m.id);
            if (!shared_.characters_known || shared_.characters != m.characters) {
                shared_.characters = m.characters;
                shared_.characters_known = true;
                lpm_event e = make_event(LPM_EVENT_CHARACTERS);
                e.value = static_cast<std::int64_t>(m.characters.size());
                copy_truncated(m.default_character, e.name, sizeof(e.name));
                shared_.events.push(e);
            }
            return;
        case MessageKind::kCharacterPrepared: {
            pending_.erase(m.id);
            lpm_event e = make_event(LPM_EVENT_CHARACTER_PREPARED);
            copy_truncated(m.prepared_character, e.name, sizeof(e.name));
            shared_.events.push(e);
            want_characters_ = true;  // the list changed: fetch it again
            return;
        }
        case MessageKind::kStats:
        case MessageKind::kUnknown:
            if (m.id != 0) {
                pending_.erase(m.id);
            }
            return;
    }
}

void IoThread::apply_session_info(const ServerMessage& m, Clock::time_point now) {
    const SessionInfoFields& info = m.info;
    auto it = pending_.find(m.id);
    if (it == pending_.end() || it->second.kind != Pending::Kind::kSync) {
        if (it != pending_.end()) {
            pending_.erase(it);
        }
        // A reply nobody waits for (its request was given up when the connection dropped). If
        // it created a session no handle uses, close it: it would otherwise run on the runtime
        // for as long as this client stays connected.
        if (session_by_server_id(info.session) == nullptr &&
            closing_by_server_id(info.session) == nullptr) {
            const std::uint64_t id = next_id();
            queue_message(id, encode_session_request("close_session", id, info.session),
                          Pending::Kind::kOrphanClose, 0, now);
        }
        return;
    }
    const lpm_session handle = it->second.handle;
    pending_.erase(it);
    Session* s = session_by_handle(handle);
    if (s == nullptr) {
        if (ClosingSession* c = closing_by_handle(handle)) {
            c->server_id = info.session;  // pump_closing sends its close_session
            c->sync_request = 0;
        }
        return;
    }
    const bool first = !s->has_info;
    const bool recreated = !first && !s->sync_is_resume;
    s->server_id = info.session;
    s->info = info;
    s->info_received = now;
    s->has_info = true;
    s->ready = true;
    s->needs_sync = false;
    s->sync_request = 0;
    s->last_index_received = info.next_index - 1;
    if (recreated) {
        // A new session on the runtime: its timeline and frame indices start again at 0.
        s->frames.clear();
        s->shown_index = -1;
        s->shown_pts = std::numeric_limits<std::int64_t>::min();
    }
    lpm_event e = make_event(first ? LPM_EVENT_SESSION_READY : LPM_EVENT_SESSION_RESUMED, handle);
    e.value = recreated ? 1 : 0;
    copy_truncated(info.character, e.name, sizeof(e.name));
    copy_truncated(info.session, e.text, sizeof(e.text));
    shared_.events.push(e);
}

void IoThread::apply_error(const ServerMessage& m, Clock::time_point now) {
    const ErrorFields& error = m.error;
    const bool unknown_session = error.code == error_code::kUnknownSession;
    auto it = m.id != 0 ? pending_.find(m.id) : pending_.end();
    if (it == pending_.end()) {
        // Not the answer to a request we track: it may still name one of our sessions.
        Session* s = error.session.empty() ? nullptr : session_by_server_id(error.session);
        if (unknown_session) {
            if (s != nullptr && s->ready) {
                s->ready = false;  // the runtime lost it: resume, else re-create
                s->needs_sync = true;
                s->retry_at = now;
            }
            return;
        }
        emit_error(s != nullptr ? s->handle : 0, error);
        return;
    }
    const Pending p = it->second;
    pending_.erase(it);
    switch (p.kind) {
        case Pending::Kind::kSync: {
            Session* s = session_by_handle(p.handle);
            if (s == nullptr) {
                if (closing_by_handle(p.handle) != nullptr) {
                    finish_closing(p.handle);  // never created: nothing to close
                }
                return;
            }
            s->sync_request = 0;
            if (unknown_session && s->sync_is_resume) {
                // The runtime no longer knows the session (it restarted, or the session timed
                // out): create it again with the same options (LPM_EVENT_SESSION_RESUMED 1).
                s->server_id.clear();
                s->needs_sync = true;
                s->retry_at = now;
                return;
            }
            if (error.code == error_code::kShuttingDown || error.code == error_code::kInternal) {
                s->needs_sync = true;  // transient: try again shortly
                s->retry_at = now + kRetryAfter;
                if (error.code == error_code::kInternal) {
                    emit_error(s->handle, error);
                }
                return;
            }
            if (!s->sync_is_resume) {
                s->failed = true;  // e.g. UNKNOWN_CHARACTER, TOO_MANY_SESSIONS: will not change
                s->needs_sync = false;
            } else {
                s->needs_sync = true;
                s->retry_at = now + kRetryAfter;
            }
            emit_error(s->handle, error);
            return;
        }
        case Pending::Kind::kClose:
            finish_closing(p.handle);
            return;
        case Pending::Kind::kOrphanClose:
            return;
        case Pending::Kind::kTraffic: {
            Session* s = session_by_handle(p.handle);
            if (unknown_session) {
                // Sent to a session the runtime has lost (a restart noticed late): resync. While
                // a session is being resumed or re-created these are expected, not news.
                if (s != nullptr && s->ready &&
                    (error.session.empty() || error.session == s->server_id)) {
                    s->ready = false;
                    s->needs_sync = true;
                    s->retry_at = now;
                }
                return;
            }
            emit_error(p.handle, error);
            return;
        }
        case Pending::Kind::kListCharacters:
        case Pending::Kind::kPrepare:
            emit_error(0, error);
            return;
    }
}

void IoThread::apply_event(const ServerMessage& m, Clock::time_point now) {
    const EventFields& ev = m.event;
    if (ev.event == "shutdown") {
        lpm_event e = make_event(LPM_EVENT_SHUTDOWN);
        copy_truncated(ev.reason, e.text, sizeof(e.text));
        shared_.events.push(e);
        return;
    }
    if (ev.event == "session_closed") {
        if (ClosingSession* c = closing_by_server_id(ev.session)) {
            finish_closing(c->handle);
            return;
        }
        Session* s = session_by_server_id(ev.session);
        if (s == nullptr) {
            return;
        }
        lpm_event e = make_event(LPM_EVENT_SESSION_CLOSED, s->handle);
        copy_truncated(ev.reason, e.text, sizeof(e.text));
        shared_.events.push(e);
        // The runtime ended it (timeout, shutdown); the handle stays valid and the session is
        // created again once the runtime takes requests (LPM_EVENT_SESSION_RESUMED 1).
        s->server_id.clear();
        s->ready = false;
        s->needs_sync = true;
        s->retry_at = ev.reason == "shutdown" ? now + kRetryAfter : now;
        return;
    }
    Session* s = session_by_server_id(ev.session);
    if (s == nullptr) {
        return;
    }
    lpm_event e = make_event(LPM_EVENT_STATE_CHANGED, s->handle);
    if (ev.event == "state_changed") {
        e.state = static_cast<std::int32_t>(ev.state);
        e.pts_us = ev.pts_us.value_or(0);
    } else if (ev.event == "speak_scheduled") {
        e.type = LPM_EVENT_SPEAK_SCHEDULED;
        e.pts_us = ev.pts_us.value_or(0);
        e.value = ev.duration_us.value_or(0);
    } else if (ev.event == "late") {
        e.type = LPM_EVENT_LATE;
        e.value = ev.count.value_or(0);
    } else {
        return;  // section 1: events this client does not know are ignored
    }
    copy_truncated(ev.event, e.name, sizeof(e.name));
    shared_.events.push(e);
}

void IoThread::apply_frame(Incoming& in, Clock::time_point now) {
    const FrameHeader& f = in.message.frame;
    Session* s = session_by_server_id(f.session);
    if (s == nullptr) {
        return;  // a closed or orphaned session
    }
    if (f.index > s->last_index_received + 1) {
        // Section 9: the server dropped frames for a slow reader (visible as index gaps).
        s->frames_dropped += static_cast<std::uint64_t>(f.index - s->last_index_received - 1);
    }
    s->last_index_received = std::max(s->last_index_received, f.index);
    ++s->frames_received;
    s->arrivals.add(now);
    Frame frame;
    frame.index = f.index;
    frame.pts_us = f.pts_us;
    frame.state = f.state;
    frame.width = f.width;
    frame.height = f.height;
    frame.curves = f.curves;
    frame.pixels = std::move(in.pixels);
    frame.pixel_bytes = in.pixel_bytes;
    const FrameBuffer::InsertResult result = s->frames.insert(std::move(frame), s->shown_pts);
    s->frames_dropped += result.evicted_unshown;
}


// --- Connection state ------------------------------------------------------------------------

void IoThread::mark_connected(Clock::time_point) {
    if (shared_.connected) {
        return;
    }
    shared_.connected = true;
    if (ever_connected_) {
        ++shared_.reconnects;
    }
    ever_connected_ = true;
    want_characters_ = true;
    lpm_event e = make_event(LPM_EVENT_CONNECTED);
    e.value = shared_.reconnects;
    shared_.events.push(e);
}

void IoThread::mark_disconnected(const char* why) {
    if (!shared_.connected) {
        return;
    }
    shared_.connected = false;
    lpm_event e = make_event(LPM_EVENT_DISCONNECTED);
    copy_truncated(why, e.text, sizeof(e.text));
    shared_.events.push(e);
    // Requests in flight are given up: after the reconnect every session is resumed (or
    // re-created), and closes are sent again. Late replies are recognised as stale.
    for (auto& entry : shared_.sessions) {
        Session& s = *entry.second;
        if (s.sync_request != 0) {
            pending_.erase(s.sync_request);
            s.sync_request = 0;
        }
        s.ready = false;
        s.needs_sync = !s.failed;
        s.retry_at = {};
    }
    for (ClosingSession& c : shared_.closing) {
        if (c.close_request != 0) {
            pending_.erase(c.close_request);
            c.close_request = 0;
        }
        if (c.sync_request != 0) {
            pending_.erase(c.sync_request);
            c.sync_request = 0;
        }
    }
}


// --- Lookups ---------------------------------------------------------------------------------

Session* IoThread::session_by_handle(lpm_session handle) {
    auto it = shared_.sessions.find(handle);
    return it == shared_.sessions.end() ? nullptr : it->second.get();
}

Session* IoThread::session_by_server_id(const std::string& id) {
    if (id.empty()) {
        return nullptr;
    }
    for (auto& entry : shared_.sessions) {
        if (entry.second->server_id == id) {
            return entry.second.get();
        }
    }
    return nullptr;
}

ClosingSession* IoThread::closing_by_handle(lpm_session handle) {
    for (ClosingSession& c : shared_.closing) {
        if (c.handle == handle) {
            return &c;
        }
    }
    return nullptr;
}

ClosingSession* IoThread::closing_by_server_id(const std::string& id) {
    if (id.empty()) {
        return nullptr;
    }
    for (ClosingSession& c : shared_.closing) {
        if (c.server_id == id) {
            return &c;
        }
    }
    return nullptr;
}

void IoThread::finish_closing(lpm_session handle) {
    auto& closing = shared_.closing;
    auto it = std::find_if(closing.begin(), closing.end(),
                           [&](const ClosingSession& c) { return c.handle == handle; });
    if (it == closing.end()) {
        return;
    }
    if (it->close_request != 0) {
        pending_.erase(it->close_request);
    }
    closing.erase(it);
    lpm_event e = make_event(LPM_EVENT_SESSION_CLOSED, handle);
    copy_truncated("closed", e.text, sizeof(e.text));
    shared_.events.push(e);
}

void IoThread::emit_error(lpm_session handle, const ErrorFields& error) {
    lpm_event e = make_event(LPM_EVENT_ERROR, handle);
    e.code = error.code;
    copy_truncated(error.name, e.name, sizeof(e.name));
    copy_truncated(error.message, e.text, sizeof(e.text));
    shared_.events.push(e);
}


}  // namespace lpm
