// The client's single I/O thread: the only code that touches the DEALER socket.
//
// Each turn of its loop:
//   poll(dealer, monitor, waker; <= 50 ms, 5 ms while a send is stalled)
//   -> receive a batch: decode headers (and JPEG) without the lock, then apply it under the lock
//      (frames into the session rings, replies matched by request id, events queued)
//   -> socket monitor: a dropped TCP connection is noticed at once
//   -> housekeeping: keep-alive ping, silence timeout -> DISCONNECTED + fresh socket
//   -> pump: take queued work from the sessions under the lock, send it without blocking.
// Callers never wait on it: they queue work in SharedState and wake it through an inproc PAIR.
// io_thread.cpp holds the loop, the socket and the sending side; message_dispatch.cpp what each
// message from the runtime does to the shared state.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "client_state.hpp"
#include "jpeg_decoder.hpp"

namespace lpm {

inline std::int64_t steady_us(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// Wakes the I/O thread from any thread: an inproc PAIR pair with at most one byte in flight,
// so producers never block and the pipe never fills.
class Waker {
public:
    explicit Waker(zmq::context_t& context);
    void wake();           // any thread
    void drain();          // I/O thread, before it looks at the shared state
    zmq::socket_t& receiver() { return receiver_; }

private:
    std::mutex mutex_;
    bool pending_ = false;
    zmq::socket_t receiver_;
    zmq::socket_t sender_;
};

class IoThread {
public:
    // Creates and connects the DEALER on the calling thread, so a bad endpoint or key fails
    // here (zmq::error_t); start() hands the socket over to the new thread.
    IoThread(const ClientConfig& config, zmq::context_t& context, SharedState& shared,
             Waker& waker);
    ~IoThread();
    IoThread(const IoThread&) = delete;
    IoThread& operator=(const IoThread&) = delete;

    void start();
    void join();  // after SharedState::stopping was set and the waker woken

private:
    // What one request id was for, to route its reply or error.
    struct Pending {
        enum class Kind { kSync, kTraffic, kClose, kOrphanClose, kListCharacters, kPrepare };
        Kind kind = Kind::kTraffic;
        lpm_session handle = 0;
        Clock::time_point sent{};
    };
    struct Outgoing {
        std::string header;
        std::vector<std::uint8_t> payload;
        bool has_payload = false;
        bool droppable = false;  // a keep-alive: dropped rather than retried when refused
    };
    struct Incoming {
        ServerMessage message;
        std::shared_ptr<const std::uint8_t> pixels;  // frames: width*height*4 RGBA
        std::size_t pixel_bytes = 0;
    };

    void run();
    void loop_once(bool& done);
    void report_failure(const char* what, std::string& last_problem, bool& done);

    // Socket.
    void open_socket();
    void close_socket();
    void reset_socket(Clock::time_point now);
    bool send_now(Outgoing& message);  // false: libzmq's queue is full (try again later)

    // Receiving.
    void receive_batch(Clock::time_point now);
    bool decode(std::vector<zmq::message_t>& parts, Incoming& out);
    void apply(Incoming& in, Clock::time_point now);
    void apply_session_info(const ServerMessage& m, Clock::time_point now);
    void apply_error(const ServerMessage& m, Clock::time_point now);
    void apply_event(const ServerMessage& m, Clock::time_point now);
    void apply_frame(Incoming& in, Clock::time_point now);
    void read_monitor(Clock::time_point now);

    // Connection state (under the lock).
    void mark_connected(Clock::time_point now);
    void mark_disconnected(const char* why);

    // Sending (pump runs under the lock and fills outbox_).
    void housekeeping(Clock::time_point now);
    void pump(Clock::time_point now);
    void pump_session(Session& s, Clock::time_point now);
    void pump_closing(Clock::time_point now);
    void flush_outbox();
    std::uint64_t next_id() { return ++last_id_; }
    // Registers `id` as pending and appends the message to outbox_.
    void queue_message(std::uint64_t id, std::string header, Pending::Kind kind,
                       lpm_session handle, Clock::time_point now);

    // Lookups (under the lock).
    Session* session_by_handle(lpm_session handle);
    Session* session_by_server_id(const std::string& id);
    ClosingSession* closing_by_handle(lpm_session handle);
    ClosingSession* closing_by_server_id(const std::string& id);
    void finish_closing(lpm_session handle);
    void emit_error(lpm_session handle, const ErrorFields& error);

    const ClientConfig& config_;
    zmq::context_t& context_;
    SharedState& shared_;
    Waker& waker_;
    std::array<std::uint8_t, 16> routing_id_{};
    zmq::socket_t dealer_;
    zmq::socket_t monitor_;
    unsigned socket_generation_ = 0;
    std::thread thread_;
    JpegDecoder jpeg_;

    // I/O-thread-only state.
    std::uint64_t last_id_ = 0;
    std::unordered_map<std::uint64_t, Pending> pending_;
    std::deque<Outgoing> outbox_;  // built under the lock, sent after it
    bool ever_connected_ = false;
    bool want_characters_ = true;
    bool handshake_failure_reported_ = false;
    bool stop_seen_ = false;
    Clock::time_point stop_deadline_{};
    Clock::time_point last_heard_{};
    Clock::time_point socket_opened_{};
    Clock::time_point next_ping_{};
    Clock::time_point next_prune_{};
};

}  // namespace lpm
