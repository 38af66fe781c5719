#include "live_support.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include <sys/types.h>
#include <unistd.h>

#include <zmq.hpp>

#include "codec.hpp"

namespace lpm_live {

std::string required_env(const char* name) {
    const char* value = std::getenv(name);
    INFO(name << " is not set: live tests run against a server the harness starts "
                 "(tests/native/test_native.py does; see bridge/native/README.md). "
                 "Run `ctest -L unit` for the unit tests alone.");
    REQUIRE(value != nullptr);
    REQUIRE(value[0] != '\0');
    return value;
}

void metric(const std::string& name, double value) {
    char line[256];
    std::snprintf(line, sizeof(line), "{\"%s\": %.6g}\n", name.c_str(), value);
    std::printf("LPM_METRIC %s", line);
    std::fflush(stdout);
    if (const char* path = std::getenv("LPM_TEST_METRICS")) {
        std::ofstream(path, std::ios::app) << line;
    }
}

LiveClient::LiveClient(const std::string& endpoint, std::uint32_t keepalive_ms,
                       std::uint32_t timeout_ms) {
    lpm_client_config config;
    std::memset(&config, 0, sizeof(config));
    config.struct_size = sizeof(config);
    config.endpoint = endpoint.c_str();
    config.keepalive_ms = keepalive_ms;
    config.timeout_ms = timeout_ms;
    REQUIRE(lpm_client_create(&config, &client_) == LPM_OK);
}

LiveClient::~LiveClient() { destroy(); }

void LiveClient::destroy() {
    lpm_client_destroy(client_);
    client_ = nullptr;
}

lpm_session LiveClient::create(const char* character, const char* prompt) {
    lpm_session_options options;
    std::memset(&options, 0, sizeof(options));
    options.struct_size = sizeof(options);
    options.character = character;
    options.prompt = prompt;
    lpm_session session = 0;
    REQUIRE(lpm_session_create(client_, &options, &session) == LPM_OK);
    return session;
}

std::size_t LiveClient::pump_events() {
    std::size_t n = 0;
    lpm_event e;
    std::memset(&e, 0, sizeof(e));
    e.struct_size = sizeof(e);
    while (lpm_client_poll_event(client_, &e) == LPM_OK) {
        events_.push_back({e, Clock::now()});
        ++n;
    }
    return n;
}

std::optional<TimedEvent> LiveClient::wait_event(
    const std::function<bool(const lpm_event&)>& match, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        pump_events();
        for (; waited_ < events_.size(); ++waited_) {
            if (match(events_[waited_].event)) {
                return events_[waited_++];
            }
        }
        if (Clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

bool LiveClient::wait_ready(lpm_session session, std::chrono::milliseconds timeout) {
    return wait_event(
               [&](const lpm_event& e) {
                   if (e.type == LPM_EVENT_ERROR && e.session == session) {
                       FAIL("session refused: " << e.name << ": " << e.text);
                   }
                   return e.type == LPM_EVENT_SESSION_READY && e.session == session;
               },
               timeout)
        .has_value();
}

bool LiveClient::seen(int type, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        pump_events();
        if (count_events(type, 0) > 0) {
            return true;
        }
        if (Clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

std::size_t LiveClient::count_events(int type, lpm_session session) const {
    std::size_t n = 0;
    for (const TimedEvent& t : events_) {
        n += (t.event.type == type && (session == 0 || t.event.session == session)) ? 1 : 0;
    }
    return n;
}

bool LiveClient::poll(lpm_session session, PolledFrame& out, std::int64_t playhead_us) {
    lpm_session_info info;
    std::memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    if (lpm_session_get_info(client_, session, &info) != LPM_OK) {
        return false;
    }
    rgba_.resize(std::size_t{info.width} * info.height * 4);
    lpm_frame_info frame;
    std::memset(&frame, 0, sizeof(frame));
    frame.struct_size = sizeof(frame);
    const int32_t status = lpm_session_poll_frame(client_, session, playhead_us, &frame,
                                                  rgba_.data(), rgba_.size());
    if (status != LPM_OK) {
        REQUIRE(status == LPM_NO_DATA);
        return false;
    }
    out.index = frame.index;
    out.pts_us = frame.pts_us;
    out.state = frame.state;
    out.jaw_open = frame.curves[lpm::kJawOpenCurve];
    out.at = Clock::now();
    return true;
}

int read_pid(const std::string& pidfile) {
    std::ifstream in(pidfile);
    int pid = 0;
    in >> pid;
    return pid;
}

bool kill_and_wait(int pid, std::chrono::milliseconds timeout) {
    if (pid <= 1 || ::kill(pid, SIGKILL) != 0) {
        return false;
    }
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (::kill(pid, 0) != 0 && errno == ESRCH) {
            return true;
        }
        // Dead but not yet reaped by its parent (Linux: /proc says "Z").
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string pid_field, comm, state;
        if ((stat >> pid_field >> comm >> state) && state == "Z") {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

bool run_start_command(const std::string& command) {
    return std::system(command.c_str()) == 0;
}

std::optional<Clock::time_point> wait_until_answering(const std::string& endpoint,
                                                      std::chrono::milliseconds timeout,
                                                      const std::function<void()>& between) {
    zmq::context_t context(1);
    zmq::socket_t probe(context, zmq::socket_type::dealer);
    probe.set(zmq::sockopt::linger, 0);
    probe.set(zmq::sockopt::reconnect_ivl, 20);
    probe.connect(endpoint);
    const auto deadline = Clock::now() + timeout;
    auto next_ping = Clock::now();
    std::uint64_t id = 0;
    while (Clock::now() < deadline) {
        if (Clock::now() >= next_ping) {
            const std::string ping = lpm::encode_ping(++id, 0);
            (void)probe.send(zmq::buffer(ping), zmq::send_flags::dontwait);
            next_ping = Clock::now() + std::chrono::milliseconds(20);
        }
        zmq::message_t reply;
        if (probe.recv(reply, zmq::recv_flags::dontwait)) {
            return Clock::now();
        }
        between();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return std::nullopt;
}

}  // namespace lpm_live
