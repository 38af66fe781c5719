// State shared by the caller's threads (the C ABI in client.cpp) and the I/O thread
// (io_thread.cpp). Everything in SharedState is guarded by SharedState::mutex; callers hold it
// only to copy data in or out, never across a network operation.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "audio_queue.hpp"
#include "codec.hpp"
#include "frame_buffer.hpp"
#include "lpm_client.h"

namespace lpm {

struct ClientConfig {
    std::string endpoint;
    std::string server_public_key;  // Z85; "" = CurveZMQ off
    std::string client_public_key;
    std::string client_secret_key;
    std::chrono::milliseconds keepalive{1000};  // ping interval
    std::chrono::milliseconds timeout{3000};    // silence that counts as disconnected
    std::int64_t audio_queue_us = 2000000;       // per session and stream
    std::size_t frame_buffer = 64;               // frames kept per session
};

constexpr std::size_t kMaxSessions = 16;      // the runtime's server-wide maximum
constexpr std::size_t kMaxControlOps = 64;    // prompts, emotes, interrupts queued per session
constexpr std::size_t kMaxPendingPrepares = 4;
constexpr std::size_t kEventCapacity = 256;
constexpr auto kFpsWindow = std::chrono::seconds(2);

// A prompt, emote or interrupt waiting to be sent. Control messages go ahead of queued audio.
struct ControlOp {
    enum class Kind { kSetPrompt, kTriggerEmote, kInterrupt };
    Kind kind = Kind::kSetPrompt;
    std::string text;  // the prompt ("" clears) or the emote
    double intensity = 0.8;
    double duration_s = 2.0;
};

// Frame arrival times over the last kFpsWindow, for lpm_stats.fps.
class RateWindow {
public:
    void add(Clock::time_point t);
    double per_second(Clock::time_point now) const;

private:
    std::deque<Clock::time_point> arrivals_;
    Clock::time_point first_{};
    bool any_ = false;
};

struct Session {
    Session(lpm_session handle_, SessionOptions options_, const ClientConfig& config);

    const lpm_session handle;
    SessionOptions options;  // sent again when the session has to be re-created

    // Lifecycle, written by the I/O thread.
    std::string server_id;           // the runtime's session id; "" until known or once lost
    bool has_info = false;           // a session_info arrived at least once
    bool ready = false;              // known to the runtime and connected: traffic flows
    bool failed = false;             // the runtime refused create_session for good
    bool needs_sync = true;          // create_session or resume_session still to be sent
    std::uint64_t sync_request = 0;  // id of the create/resume in flight, 0 = none
    bool sync_is_resume = false;
    Clock::time_point retry_at{};
    SessionInfoFields info;
    Clock::time_point info_received{};

    // Frames (section 4): pts-keyed, highest index wins; what the caller was last given.
    FrameBuffer frames;
    std::int64_t last_index_received = -1;
    std::int64_t shown_index = -1;
    std::int64_t shown_pts = std::numeric_limits<std::int64_t>::min();
    std::shared_ptr<const std::uint8_t> borrowed;  // keeps a borrowed frame's pixels alive

    // Outgoing, sent in this order once ready: controls, then speak, then listen.
    std::deque<ControlOp> controls;
    AudioQueue speak;   // speak audio and end_of_speech markers, in order
    AudioQueue listen;

    // Stats.
    RateWindow arrivals;
    std::uint64_t frames_received = 0;
    std::uint64_t frames_dropped = 0;
    std::int64_t audio_dropped_us = 0;

    // Section 4: timeline_now = now_us of the last session_info + local time since it arrived.
    std::int64_t timeline_now_us(Clock::time_point now) const;
};

// A session the caller closed: the I/O thread tells the runtime, then reports it closed.
struct ClosingSession {
    lpm_session handle = 0;
    std::string server_id;           // "" while its create_session is unanswered
    std::uint64_t sync_request = 0;  // the create/resume in flight when it was closed
    std::uint64_t close_request = 0; // id of the close_session sent, 0 = not (yet) sent
};

struct PrepareRequest {
    std::string name;
    std::vector<std::uint8_t> image;
};

// Bounded FIFO of events for lpm_client_poll_event; the oldest go when it overflows.
class EventQueue {
public:
    explicit EventQueue(std::size_t capacity) : capacity_(capacity) {}
    void push(const lpm_event& event);
    bool pop(lpm_event& out);
    std::uint64_t dropped() const { return dropped_; }

private:
    std::size_t capacity_;
    std::deque<lpm_event> events_;
    std::uint64_t dropped_ = 0;
};

lpm_event make_event(lpm_event_type type, lpm_session session = 0);

struct SharedState {
    std::mutex mutex;
    std::map<lpm_session, std::unique_ptr<Session>> sessions;
    std::vector<ClosingSession> closing;
    lpm_session next_handle = 1;
    EventQueue events{kEventCapacity};
    bool characters_known = false;
    std::vector<std::string> characters;
    std::deque<PrepareRequest> prepares;
    bool connected = false;
    std::uint32_t reconnects = 0;
    float rtt_ms = 0.0f;
    bool stopping = false;  // lpm_client_destroy: close sessions, then end the I/O thread
};

}  // namespace lpm
