// Support for the live tests: a client wrapper that records events, frame polling at the
// playhead, metrics output, and control of the `lpm serve` process the harness started
// (README.md, "Test harness contract").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lpm_client.h"

namespace lpm_live {

using Clock = std::chrono::steady_clock;

// The value of an environment variable the harness must set; fails the test when missing.
std::string required_env(const char* name);

// Prints one "LPM_METRIC {...}" line, and appends the JSON object as a line to the file named by
// LPM_TEST_METRICS when it is set (the pytest driver collects them into its report).
void metric(const std::string& name, double value);

struct TimedEvent {
    lpm_event event;
    Clock::time_point at;
};

struct PolledFrame {
    std::int64_t index = 0;
    std::int64_t pts_us = 0;
    std::int32_t state = 0;
    float jaw_open = 0.0f;
    Clock::time_point at;
};

class LiveClient {
public:
    explicit LiveClient(const std::string& endpoint, std::uint32_t keepalive_ms = 0,
                        std::uint32_t timeout_ms = 0);
    ~LiveClient();
    LiveClient(const LiveClient&) = delete;
    LiveClient& operator=(const LiveClient&) = delete;

    lpm_client* get() const { return client_; }
    lpm_session create(const char* character = nullptr, const char* prompt = nullptr);
    void destroy();  // lpm_client_destroy now (idempotent)

    // Moves queued events into events(); returns how many arrived.
    std::size_t pump_events();
    // Pumps until an event not seen by an earlier wait matches, or the timeout.
    std::optional<TimedEvent> wait_event(const std::function<bool(const lpm_event&)>& match,
                                         std::chrono::milliseconds timeout);
    bool wait_ready(lpm_session session, std::chrono::milliseconds timeout);
    // Pumps until any event so far (waited for or not) has `type`.
    bool seen(int type, std::chrono::milliseconds timeout);
    const std::vector<TimedEvent>& events() const { return events_; }
    std::size_t count_events(int type, lpm_session session) const;

    // One poll (pixels included) at `playhead_us`, the client's own estimate by default; true
    // and `out` when a frame not returned before is at the playhead.
    bool poll(lpm_session session, PolledFrame& out, std::int64_t playhead_us = LPM_PLAYHEAD_AUTO);

private:
    lpm_client* client_ = nullptr;
    std::vector<TimedEvent> events_;
    std::size_t waited_ = 0;
    std::vector<std::uint8_t> rgba_;
};

// --- the server process (LPM_TEST_SERVE_CMD / LPM_TEST_SERVER_PIDFILE) -----------------------

int read_pid(const std::string& pidfile);
// SIGKILL and wait until the process is gone.
bool kill_and_wait(int pid, std::chrono::milliseconds timeout);
// Runs the start command (it starts the server in the background and returns).
bool run_start_command(const std::string& command);
// Pings `endpoint` with a separate socket until a pong comes back; the time it answered.
std::optional<Clock::time_point> wait_until_answering(const std::string& endpoint,
                                                      std::chrono::milliseconds timeout,
                                                      const std::function<void()>& between);

}  // namespace lpm_live
