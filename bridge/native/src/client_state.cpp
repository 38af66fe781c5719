#include "client_state.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace lpm {

void RateWindow::add(Clock::time_point t) {
    if (!any_) {
        first_ = t;
        any_ = true;
    }
    arrivals_.push_back(t);
    while (!arrivals_.empty() && t - arrivals_.front() > kFpsWindow) {
        arrivals_.pop_front();
    }
}

double RateWindow::per_second(Clock::time_point now) const {
    if (!any_) {
        return 0.0;
    }
    std::size_t count = 0;
    for (auto it = arrivals_.rbegin(); it != arrivals_.rend() && now - *it <= kFpsWindow; ++it) {
        ++count;
    }
    // A young session is measured over its own age, not the full window.
    const auto span = std::min<Clock::duration>(kFpsWindow, now - first_);
    const double seconds = std::chrono::duration<double>(span).count();
    return seconds < 0.2 ? 0.0 : static_cast<double>(count) / seconds;
}

Session::Session(lpm_session handle_, SessionOptions options_, const ClientConfig& config)
    : handle(handle_),
      options(std::move(options_)),
      frames(config.frame_buffer),
      speak(config.audio_queue_us),
      listen(config.audio_queue_us) {}

std::int64_t Session::timeline_now_us(Clock::time_point now) const {
    const auto since = std::chrono::duration_cast<std::chrono::microseconds>(now - info_received);
    return info.now_us + static_cast<std::int64_t>(since.count());
}

void EventQueue::push(const lpm_event& event) {
    if (events_.size() >= capacity_) {
        events_.pop_front();
        ++dropped_;
    }
    events_.push_back(event);
}

bool EventQueue::pop(lpm_event& out) {
    if (events_.empty()) {
        return false;
    }
    out = events_.front();
    events_.pop_front();
    return true;
}

lpm_event make_event(lpm_event_type type, lpm_session session) {
    lpm_event event;
    std::memset(&event, 0, sizeof(event));
    event.struct_size = sizeof(lpm_event);
    event.type = static_cast<std::int32_t>(type);
    event.session = session;
    return event;
}

}  // namespace lpm
