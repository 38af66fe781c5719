#include "io_thread.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

#include "text.hpp"

namespace lpm {

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr int kRecvBatch = 256;          // messages read per loop turn
constexpr std::size_t kMaxParts = 8;     // parts kept of one message (frames have <= 3)
constexpr std::size_t kPumpBatch = 256;  // messages built per loop turn
constexpr auto kMaxPoll = milliseconds(50);
constexpr auto kStalledPoll = milliseconds(5);  // retry a send libzmq refused (queue full)
constexpr auto kPendingLifetime = std::chrono::seconds(30);
constexpr auto kStopBudget = milliseconds(200);  // lpm_client_destroy closing sessions
constexpr int kRcvHwm = 64;     // PROTOCOL.md section 3: stale frames belong on the server side
constexpr int kSndHwm = 1000;   // audio must not be dropped by libzmq; our own queues bound it
constexpr int kReconnectIvlMs = 100;
constexpr int kMonitorEvents = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;

// 16 random bytes; libzmq reserves routing ids whose first byte is 0.
std::array<std::uint8_t, 16> new_routing_id() {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(),
                       static_cast<unsigned>(steady_us(Clock::now()))};
    std::mt19937 generator(seed);
    std::array<std::uint8_t, 16> id{};
    for (auto& b : id) {
        b = static_cast<std::uint8_t>(generator() & 0xFFu);
    }
    if (id[0] == 0) {
        id[0] = 1;
    }
    return id;
}

std::string unique_inproc(const char* what, const void* owner, unsigned n) {
    static std::atomic<unsigned> counter{0};
    return std::string("inproc://lpm-") + what + "-" +
           std::to_string(reinterpret_cast<std::uintptr_t>(owner)) + "-" + std::to_string(n) +
           "-" + std::to_string(counter.fetch_add(1));
}

void set_curve_key(zmq::socket_t& socket, int option, const std::string& z85) {
    // 41 bytes: Z85 text with its terminating NUL, the form libzmq documents.
    if (zmq_setsockopt(socket.handle(), option, z85.c_str(), z85.size() + 1) != 0) {
        throw zmq::error_t();
    }
}

}  // namespace

// --- Waker -----------------------------------------------------------------------------------

Waker::Waker(zmq::context_t& context)
    : receiver_(context, zmq::socket_type::pair), sender_(context, zmq::socket_type::pair) {
    const std::string address = unique_inproc("wake", this, 0);
    receiver_.set(zmq::sockopt::linger, 0);
    sender_.set(zmq::sockopt::linger, 0);
    receiver_.bind(address);
    sender_.connect(address);
}

void Waker::wake() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_) {
        return;
    }
    pending_ = true;
    try {
        (void)sender_.send(zmq::message_t(), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
        // The I/O thread also wakes on its own at least every kMaxPoll (50 ms): a lost wake-up
        // only delays the work.
        pending_ = false;
    }
}

void Waker::drain() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        pending_ = false;
    }
    zmq::message_t message;
    while (receiver_.recv(message, zmq::recv_flags::dontwait)) {
    }
}

// --- IoThread: life cycle --------------------------------------------------------------------

IoThread::IoThread(const ClientConfig& config, zmq::context_t& context, SharedState& shared,
                   Waker& waker)
    : config_(config),
      context_(context),
      shared_(shared),
      waker_(waker),
      routing_id_(new_routing_id()) {
    open_socket();
}

IoThread::~IoThread() {
    join();
    close_socket();
}

void IoThread::start() {
    thread_ = std::thread([this] { run(); });
}

void IoThread::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void IoThread::run() {
    const Clock::time_point now = Clock::now();
    last_heard_ = socket_opened_ = next_ping_ = next_prune_ = now;
    std::string last_problem;
    for (;;) {
        bool done = false;
        try {
            loop_once(done);
        } catch (const zmq::error_t& e) {
            if (e.num() != EINTR) {  // a signal interrupted a call: just go round again
                report_failure(e.what(), last_problem, done);
            }
        } catch (const std::exception& e) {
            report_failure(e.what(), last_problem, done);
        }
        if (done) {
            break;
        }
    }
    close_socket();
}

void IoThread::report_failure(const char* what, std::string& last_problem, bool& done) {
    // A failure of one turn (a socket error, memory) must not end the client: report it once
    // and go on after a short pause. When the client is being destroyed, stop instead.
    std::lock_guard<std::mutex> lock(shared_.mutex);
    done = shared_.stopping;
    if (last_problem != what) {
        last_problem = what;
        ErrorFields error;
        error.code = error_code::kInternal;
        error.name = "INTERNAL";
        error.message = std::string("client I/O: ") + what;
        emit_error(0, error);
    }
    if (!done) {
        std::this_thread::sleep_for(milliseconds(10));
    }
}

void IoThread::loop_once(bool& done) {
    Clock::time_point now = Clock::now();
    if (dealer_.handle() == nullptr) {
        reset_socket(now);  // a previous reset failed half-way (reported): try again
    }
    auto wait = duration_cast<milliseconds>(next_ping_ - now);
    wait = std::clamp(wait, milliseconds(0), milliseconds(kMaxPoll));
    if (!outbox_.empty() || stop_seen_) {
        wait = std::min(wait, milliseconds(kStalledPoll));
    }
    zmq_pollitem_t items[3] = {
        {dealer_.handle(), 0, ZMQ_POLLIN, 0},
        {monitor_.handle(), 0, ZMQ_POLLIN, 0},
        {waker_.receiver().handle(), 0, ZMQ_POLLIN, 0},
    };
    if (zmq_poll(items, 3, static_cast<long>(wait.count())) < 0) {
        if (zmq_errno() != EINTR) {
            throw zmq::error_t();
        }
        return;  // interrupted by a signal: the next turn polls again
    }
    if ((items[2].revents & ZMQ_POLLIN) != 0) {
        waker_.drain();
    }
    now = Clock::now();
    // Messages first, then the monitor: what the server sent before a disconnect is applied
    // before the disconnect itself.
    if ((items[0].revents & ZMQ_POLLIN) != 0) {
        receive_batch(now);
    }
    if ((items[1].revents & ZMQ_POLLIN) != 0) {
        read_monitor(now);
    }
    {
        std::lock_guard<std::mutex> lock(shared_.mutex);
        housekeeping(now);
        pump(now);
        done = stop_seen_ &&
               (shared_.closing.empty() || !shared_.connected || now >= stop_deadline_);
    }
    flush_outbox();
}

// --- Socket ----------------------------------------------------------------------------------

void IoThread::open_socket() {
    zmq::socket_t dealer(context_, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::routing_id, zmq::const_buffer(routing_id_.data(), routing_id_.size()));
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::rcvhwm, kRcvHwm);
    dealer.set(zmq::sockopt::sndhwm, kSndHwm);
    dealer.set(zmq::sockopt::reconnect_ivl, kReconnectIvlMs);
    if (!config_.server_public_key.empty()) {
        set_curve_key(dealer, ZMQ_CURVE_SERVERKEY, config_.server_public_key);
        set_curve_key(dealer, ZMQ_CURVE_PUBLICKEY, config_.client_public_key);
        set_curve_key(dealer, ZMQ_CURVE_SECRETKEY, config_.client_secret_key);
    }
    // The monitor reports a dropped TCP connection at once (a killed server), and CURVE
    // handshake failures, which otherwise look like silence (PROTOCOL.md section 10).
    const std::string address = unique_inproc("monitor", this, ++socket_generation_);
    if (zmq_socket_monitor(dealer.handle(), address.c_str(), kMonitorEvents) != 0) {
        throw zmq::error_t();
    }
    zmq::socket_t monitor(context_, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(address);
    dealer.connect(config_.endpoint);
    dealer_ = std::move(dealer);
    monitor_ = std::move(monitor);
}

void IoThread::close_socket() {
    if (dealer_.handle() != nullptr) {
        zmq_socket_monitor(dealer_.handle(), nullptr, 0);
    }
    monitor_.close();
    dealer_.close();
}

void IoThread::reset_socket(Clock::time_point now) {
    // A new connection with the same routing id: the runtime hands the old connection's
    // sessions over to it (ROUTER_HANDOVER), or we find out it lost them when resuming.
    close_socket();
    outbox_.clear();
    open_socket();
    socket_opened_ = now;
    next_ping_ = now;
}

bool IoThread::send_now(Outgoing& message) {
    const zmq::send_flags first = message.has_payload
                                      ? (zmq::send_flags::sndmore | zmq::send_flags::dontwait)
                                      : zmq::send_flags::dontwait;
    if (!dealer_.send(zmq::buffer(message.header), first)) {
        return false;
    }
    if (message.has_payload) {
        // Once the first part is accepted libzmq takes the whole message.
        (void)dealer_.send(zmq::buffer(message.payload), zmq::send_flags::dontwait);
    }
    return true;
}

// --- Receiving -------------------------------------------------------------------------------

void IoThread::receive_batch(Clock::time_point now) {
    std::vector<Incoming> batch;
    std::vector<zmq::message_t> parts;
    bool heard = false;
    for (int n = 0; n < kRecvBatch; ++n) {
        zmq::message_t first;
        if (!dealer_.recv(first, zmq::recv_flags::dontwait)) {
            break;
        }
        heard = true;
        parts.clear();
        bool more = first.more();
        parts.push_back(std::move(first));
        while (more) {  // the rest of a multipart message is already here
            zmq::message_t part;
            (void)dealer_.recv(part, zmq::recv_flags::none);
            more = part.more();
            if (parts.size() < kMaxParts) {
                parts.push_back(std::move(part));
            }
        }
        Incoming in;
        if (decode(parts, in)) {
            batch.push_back(std::move(in));
        }
    }
    if (!heard) {
        return;
    }
    std::lock_guard<std::mutex> lock(shared_.mutex);
    last_heard_ = now;
    mark_connected(now);
    for (Incoming& in : batch) {
        apply(in, now);
    }
}

bool IoThread::decode(std::vector<zmq::message_t>& parts, Incoming& in) {
    // Undecodable messages are dropped: the server is trusted to speak v1, and a bad message
    // must not take the client down.
    if (!decode_server_message(parts[0].data(), parts[0].size(), in.message, nullptr)) {
        return false;
    }
    if (in.message.kind != MessageKind::kFrame) {
        return true;
    }
    const FrameHeader& f = in.message.frame;
    if (parts.size() != 1 + expected_payload_parts(in.message)) {
        return false;
    }
    const std::size_t bytes = std::size_t{f.width} * f.height * 4;
    if (f.encoding == Encoding::kRgba8) {
        if (parts[1].size() != bytes) {
            return false;
        }
        // No copy: the frame keeps libzmq's message alive for as long as it is held.
        auto owner = std::make_shared<zmq::message_t>(std::move(parts[1]));
        in.pixels = std::shared_ptr<const std::uint8_t>(
            owner, static_cast<const std::uint8_t*>(owner->data()));
    } else {
        auto rgba = std::make_shared<std::vector<std::uint8_t>>();
        if (!jpeg_.decode(static_cast<const std::uint8_t*>(parts[1].data()), parts[1].size(),
                          static_cast<const std::uint8_t*>(parts[2].data()), parts[2].size(),
                          f.width, f.height, *rgba, nullptr)) {
            return false;
        }
        in.pixels = std::shared_ptr<const std::uint8_t>(rgba, rgba->data());
    }
    in.pixel_bytes = bytes;
    return true;
}

void IoThread::read_monitor(Clock::time_point now) {
    std::lock_guard<std::mutex> lock(shared_.mutex);
    for (;;) {
        zmq::message_t head;
        if (!monitor_.recv(head, zmq::recv_flags::dontwait)) {
            return;
        }
        // Monitor messages: [uint16 event, uint32 value] in host order, then the endpoint.
        std::uint16_t event = 0;
        if (head.size() >= sizeof(event)) {
            std::memcpy(&event, head.data(), sizeof(event));
        }
        bool more = head.more();
        while (more) {
            zmq::message_t rest;
            (void)monitor_.recv(rest, zmq::recv_flags::none);
            more = rest.more();
        }
        switch (event) {
            case ZMQ_EVENT_DISCONNECTED:
                mark_disconnected("the connection to the runtime closed");
                break;
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                next_ping_ = now;  // find out at once whether the runtime answers
                handshake_failure_reported_ = false;
                break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                if (!handshake_failure_reported_) {
                    handshake_failure_reported_ = true;
                    ErrorFields error;
                    error.code = error_code::kUnauthenticated;
                    error.name = "UNAUTHENTICATED";
                    error.message = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                        ? "the runtime refused this client's CURVE key"
                                        : "CurveZMQ handshake failed: check the server's public "
                                          "key and that security is on at both ends";
                    emit_error(0, error);
                }
                break;
            default:
                break;
        }
    }
}

// --- Sending ---------------------------------------------------------------------------------

void IoThread::housekeeping(Clock::time_point now) {
    if (shared_.stopping && !stop_seen_) {
        // lpm_client_destroy: every session becomes a closing one; the pump closes them on the
        // runtime and the loop ends when they are confirmed or the budget is spent.
        stop_seen_ = true;
        stop_deadline_ = now + kStopBudget;
        for (auto& entry : shared_.sessions) {
            ClosingSession c;
            c.handle = entry.first;
            c.server_id = entry.second->server_id;
            c.sync_request = entry.second->sync_request;
            shared_.closing.push_back(std::move(c));
        }
        shared_.sessions.clear();
    }
    if (shared_.connected && now - last_heard_ >= config_.timeout) {
        mark_disconnected("no answer from the runtime within the keep-alive timeout");
        reset_socket(now);
    } else if (!shared_.connected && now - socket_opened_ >= config_.timeout &&
               now - last_heard_ >= config_.timeout && !stop_seen_) {
        reset_socket(now);  // still nothing: a fresh connection attempt
    }
    if (now >= next_ping_) {
        Outgoing ping;
        ping.header = encode_ping(next_id(), steady_us(now));
        ping.droppable = true;
        outbox_.push_back(std::move(ping));
        next_ping_ = now + config_.keepalive;
    }
    if (now >= next_prune_) {
        // Audio, prompts and the like get no reply unless refused: forget them after a while.
        for (auto it = pending_.begin(); it != pending_.end();) {
            const bool waits_for_state = it->second.kind == Pending::Kind::kSync ||
                                         it->second.kind == Pending::Kind::kClose ||
                                         it->second.kind == Pending::Kind::kPrepare;
            if (!waits_for_state && now - it->second.sent > kPendingLifetime) {
                it = pending_.erase(it);
            } else {
                ++it;
            }
        }
        next_prune_ = now + std::chrono::seconds(1);
    }
}

void IoThread::queue_message(std::uint64_t id, std::string header, Pending::Kind kind,
                             lpm_session handle, Clock::time_point now) {
    Pending p;
    p.kind = kind;
    p.handle = handle;
    p.sent = now;
    pending_[id] = p;
    Outgoing out;
    out.header = std::move(header);
    outbox_.push_back(std::move(out));
}

void IoThread::pump(Clock::time_point now) {
    if (shared_.connected && !stop_seen_) {
        if (want_characters_) {
            want_characters_ = false;
            const std::uint64_t id = next_id();
            queue_message(id, encode_list_characters(id), Pending::Kind::kListCharacters, 0, now);
        }
        while (!shared_.prepares.empty() && outbox_.size() < kPumpBatch) {
            PrepareRequest request = std::move(shared_.prepares.front());
            shared_.prepares.pop_front();
            const std::uint64_t id = next_id();
            queue_message(id, encode_prepare_character(id, request.name), Pending::Kind::kPrepare,
                          0, now);
            outbox_.back().payload = std::move(request.image);
            outbox_.back().has_payload = true;
        }
    }
    pump_closing(now);
    for (auto& entry : shared_.sessions) {
        pump_session(*entry.second, now);
    }
}

void IoThread::pump_closing(Clock::time_point now) {
    auto& closing = shared_.closing;
    for (std::size_t i = 0; i < closing.size();) {
        ClosingSession& c = closing[i];
        if (c.server_id.empty() && c.sync_request == 0) {
            // The runtime never had it (or its create is lost and will be closed as an orphan).
            const lpm_session handle = c.handle;
            closing.erase(closing.begin() + static_cast<std::ptrdiff_t>(i));
            lpm_event e = make_event(LPM_EVENT_SESSION_CLOSED, handle);
            copy_truncated("closed", e.text, sizeof(e.text));
            shared_.events.push(e);
            continue;
        }
        if (!c.server_id.empty() && c.close_request == 0 && shared_.connected) {
            const std::uint64_t id = next_id();
            queue_message(id, encode_session_request("close_session", id, c.server_id),
                          Pending::Kind::kClose, c.handle, now);
            c.close_request = id;
        }
        ++i;
    }
}

void IoThread::pump_session(Session& s, Clock::time_point now) {
    if (s.failed) {
        return;
    }
    if (!s.ready) {
        if (s.has_info) {
            // Being resumed after a lost connection: audio older than L would play late.
            const auto cutoff = now - microseconds(s.info.latency_us);
            s.audio_dropped_us += s.speak.drop_queued_before(cutoff);
            s.audio_dropped_us += s.listen.drop_queued_before(cutoff);
        }
        if (shared_.connected && s.needs_sync && s.sync_request == 0 && now >= s.retry_at &&
            !stop_seen_) {
            const std::uint64_t id = next_id();
            s.sync_is_resume = !s.server_id.empty();
            queue_message(id,
                          s.sync_is_resume
                              ? encode_session_request("resume_session", id, s.server_id)
                              : encode_create_session(id, s.options),
                          Pending::Kind::kSync, s.handle, now);
            s.sync_request = id;
        }
        return;
    }
    // Controls first (they jump ahead of queued audio), then speak audio with its
    // end_of_speech markers in order, then listen audio.
    while (!s.controls.empty() && outbox_.size() < kPumpBatch) {
        ControlOp op = std::move(s.controls.front());
        s.controls.pop_front();
        const std::uint64_t id = next_id();
        std::string header;
        switch (op.kind) {
            case ControlOp::Kind::kSetPrompt:
                header = encode_set_prompt(id, s.server_id, op.text);
                break;
            case ControlOp::Kind::kTriggerEmote:
                header = encode_trigger_emote(id, s.server_id, op.text, op.intensity,
                                              op.duration_s);
                break;
            case ControlOp::Kind::kInterrupt:
                header = encode_session_request("interrupt", id, s.server_id);
                break;
        }
        queue_message(id, std::move(header), Pending::Kind::kTraffic, s.handle, now);
    }
    const auto send_audio = [&](AudioQueue& queue, AudioStream stream) {
        while (!queue.empty() && outbox_.size() < kPumpBatch) {
            AudioPacket packet = queue.pop();
            const std::uint64_t id = next_id();
            if (packet.end_of_speech) {
                queue_message(id, encode_session_request("end_of_speech", id, s.server_id),
                              Pending::Kind::kTraffic, s.handle, now);
                continue;
            }
            // No pts_us: the runtime places speak audio after the previous packet (section 4).
            queue_message(id,
                          encode_audio(stream, id, s.server_id, packet.sample_rate, 1, "f32",
                                       std::nullopt),
                          Pending::Kind::kTraffic, s.handle, now);
            Outgoing& out = outbox_.back();
            out.payload.resize(packet.samples.size() * 4);
            write_f32_le(packet.samples.data(), packet.samples.size(), out.payload.data());
            out.has_payload = true;
        }
    };
    send_audio(s.speak, AudioStream::kSpeak);
    send_audio(s.listen, AudioStream::kListen);
}

void IoThread::flush_outbox() {
    while (!outbox_.empty()) {
        if (!send_now(outbox_.front())) {
            if (outbox_.front().droppable) {
                outbox_.pop_front();  // a keep-alive is worthless later; do not stall on it
                continue;
            }
            return;  // libzmq's queue is full: retry in kStalledPoll
        }
        outbox_.pop_front();
    }
}

}  // namespace lpm
