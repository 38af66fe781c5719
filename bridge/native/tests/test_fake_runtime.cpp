// The client against a scripted runtime: an in-process ROUTER on loopback that answers the way
// PROTOCOL.md says `lpm serve` does. Checks what goes over the wire (routing id, ids, audio
// packets) and the reconnect paths, deterministically and without Python.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "codec.hpp"
#include "lpm_client.h"
#include "msgpack_builder.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Received {
    std::string identity;
    std::string type;
    std::uint64_t id = 0;
    lpm::HeaderMap header;
    std::vector<std::string> payload;
};

// A ROUTER standing in for the runtime. It answers pings by itself; everything else is
// returned to the test.
class FakeRuntime {
public:
    // curve_secret_key: Z85 secret key of the runtime; "" = CurveZMQ off.
    explicit FakeRuntime(std::string curve_secret_key = "")
        : context_(1), curve_secret_key_(std::move(curve_secret_key)) {
        bind("tcp://127.0.0.1:*");
    }

    const std::string& endpoint() const { return endpoint_; }

    // Closes the socket and binds a new one on the same port: a restarted runtime.
    void restart() {
        router_.close();
        std::this_thread::sleep_for(milliseconds(50));
        bind(endpoint_);
    }

    void stop() { router_.close(); }

    // Reads the socket for up to `timeout`: answers pings and list_characters itself and keeps
    // anything else for next() and expect().
    void pump(milliseconds timeout) {
        zmq::pollitem_t item{router_.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, timeout);
        while ((item.revents & ZMQ_POLLIN) != 0) {
            std::vector<zmq::message_t> parts;
            if (!zmq::recv_multipart(router_, std::back_inserter(parts),
                                     zmq::recv_flags::dontwait)) {
                return;
            }
            REQUIRE(parts.size() >= 2);
            std::string problem;
            auto header = lpm::HeaderMap::parse(parts[1].data(), parts[1].size(), &problem);
            INFO(problem);
            REQUIRE(header.has_value());
            Received r{parts[0].to_string(), "", 0, std::move(*header), {}};
            REQUIRE(r.header.get_str("type", r.type));
            r.header.get_uint("id", r.id);
            for (std::size_t i = 2; i < parts.size(); ++i) {
                r.payload.push_back(parts[i].to_string());
            }
            if (r.type == "ping") {
                std::int64_t t_us = 0;
                r.header.get_int("t_us", t_us);
                lpm_test::Packer pong;
                pong.map(5).str("v").i(1).str("type").str("pong").str("id").i(
                    static_cast<std::int64_t>(r.id));
                pong.str("t_us").i(t_us).str("server_time_us").i(1);
                send(r.identity, pong.bytes());
                ++pings_;
            } else if (r.type == "list_characters") {
                answer_characters(r);
            } else {
                stash_.push_back(std::move(r));
            }
        }
    }

    std::optional<Received> next(milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (stash_.empty() && Clock::now() < deadline) {
            pump(milliseconds(10));
        }
        if (stash_.empty()) {
            return std::nullopt;
        }
        Received r = std::move(stash_.front());
        stash_.pop_front();
        return r;
    }

    // The next message, which must be of `type`.
    Received expect(const std::string& type, milliseconds timeout = milliseconds(3000)) {
        std::optional<Received> r = next(timeout);
        INFO("waiting for " << type);
        REQUIRE(r.has_value());
        if (r->type != type) {
            FAIL("unexpected " << r->type << " while waiting for " << type);
        }
        return std::move(*r);
    }

    void send(const std::string& identity, const std::string& header,
              const std::vector<std::string>& payload = {}) {
        router_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
        router_.send(zmq::buffer(header),
                     payload.empty() ? zmq::send_flags::none : zmq::send_flags::sndmore);
        for (std::size_t i = 0; i < payload.size(); ++i) {
            router_.send(zmq::buffer(payload[i]), i + 1 < payload.size()
                                                      ? zmq::send_flags::sndmore
                                                      : zmq::send_flags::none);
        }
    }

    void answer_characters(const Received& r) {
        lpm_test::Packer p;
        p.map(5).str("v").i(1).str("type").str("characters").str("id").i(
            static_cast<std::int64_t>(r.id));
        p.str("default").str("astronaut").str("items").array(2);
        p.map(1).str("id").str("astronaut");
        p.map(1).str("id").str("knight");
        send(r.identity, p.bytes());
    }

    void answer_session_info(const Received& r, const std::string& session,
                             std::int64_t next_index, std::int64_t now_us) {
        lpm_test::Packer p;
        p.map(13).str("v").i(1).str("type").str("session_info").str("id").i(
            static_cast<std::int64_t>(r.id));
        p.str("session").str(session).str("character").str("astronaut").str("fps").f(25.0);
        p.str("width").i(16).str("height").i(16).str("encoding").str("rgba8");
        p.str("latency_us").i(140000).str("sample_rate").i(16000);
        p.str("next_index").i(next_index).str("now_us").i(now_us);
        send(r.identity, p.bytes());
    }

    void answer_error(const Received& r, int code, const std::string& name,
                      const std::string& session) {
        lpm_test::Packer p;
        p.map(7).str("v").i(1).str("type").str("error").str("id").i(
            static_cast<std::int64_t>(r.id));
        p.str("code").i(code).str("name").str(name).str("message").str("refused by the test");
        p.str("session").str(session);
        send(r.identity, p.bytes());
    }

    void send_frame(const std::string& identity, const std::string& session, std::int64_t index,
                    std::int64_t pts_us, float jaw) {
        std::vector<float> curves(lpm::kNumCurves, 0.0f);
        curves[lpm::kJawOpenCurve] = jaw;
        std::string curve_bytes(lpm::kCurveBytes, '\0');
        lpm::write_f32_le(curves.data(), curves.size(),
                          reinterpret_cast<std::uint8_t*>(&curve_bytes[0]));
        lpm_test::Packer p;
        p.map(10).str("v").i(1).str("type").str("frame").str("session").str(session);
        p.str("index").i(index).str("pts_us").i(pts_us).str("state").str("speak");
        p.str("encoding").str("rgba8").str("width").i(16).str("height").i(16);
        p.str("curves").bin(curve_bytes);
        send(identity, p.bytes(), {std::string(16 * 16 * 4, static_cast<char>(index & 0x7F))});
    }

    int pings() const { return pings_; }

private:
    void bind(const std::string& endpoint) {
        router_ = zmq::socket_t(context_, zmq::socket_type::router);
        router_.set(zmq::sockopt::linger, 0);
        router_.set(zmq::sockopt::router_handover, 1);
        if (!curve_secret_key_.empty()) {
            router_.set(zmq::sockopt::curve_server, 1);
            REQUIRE(zmq_setsockopt(router_.handle(), ZMQ_CURVE_SECRETKEY,
                                   curve_secret_key_.c_str(), curve_secret_key_.size() + 1) == 0);
        }
        router_.bind(endpoint);
        endpoint_ = router_.get(zmq::sockopt::last_endpoint);
    }

    zmq::context_t context_;
    std::string curve_secret_key_;
    zmq::socket_t router_;
    std::string endpoint_;
    std::deque<Received> stash_;
    int pings_ = 0;
};

// The client side of the test: the C ABI, plus event bookkeeping.
struct TestClient {
    lpm_client* client = nullptr;
    std::vector<lpm_event> events;

    explicit TestClient(const std::string& endpoint, uint32_t timeout_ms = 3000,
                        const char* server_key = nullptr, const char* public_key = nullptr,
                        const char* secret_key = nullptr) {
        lpm_client_config c;
        std::memset(&c, 0, sizeof(c));
        c.struct_size = sizeof(c);
        c.endpoint = endpoint.c_str();
        c.server_public_key = server_key;
        c.client_public_key = public_key;
        c.client_secret_key = secret_key;
        c.keepalive_ms = 200;
        c.timeout_ms = timeout_ms;
        REQUIRE(lpm_client_create(&c, &client) == LPM_OK);
    }
    ~TestClient() { lpm_client_destroy(client); }

    void drain() {
        lpm_event e;
        std::memset(&e, 0, sizeof(e));
        e.struct_size = sizeof(e);
        while (lpm_client_poll_event(client, &e) == LPM_OK) {
            events.push_back(e);
        }
    }

    // Waits (pumping `runtime` for pings) until an event matches.
    std::optional<lpm_event> wait_event(FakeRuntime& runtime,
                                        const std::function<bool(const lpm_event&)>& match,
                                        milliseconds timeout = milliseconds(3000)) {
        const auto deadline = Clock::now() + timeout;
        std::size_t seen = 0;
        while (Clock::now() < deadline) {
            drain();
            for (; seen < events.size(); ++seen) {
                if (match(events[seen])) {
                    return events[seen];
                }
            }
            runtime.pump(milliseconds(5));
        }
        return std::nullopt;
    }
};

auto event_is(int type) {
    return [type](const lpm_event& e) { return e.type == type; };
}

lpm_session create_session(TestClient& tc) {
    lpm_session_options o;
    std::memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.character = "astronaut";
    o.prompt = "calm";
    lpm_session s = 0;
    REQUIRE(lpm_session_create(tc.client, &o, &s) == LPM_OK);
    return s;
}

}  // namespace

TEST_CASE("fake runtime: handshake, session, frames and audio on the wire", "[fake]") {
    FakeRuntime runtime;
    TestClient tc(runtime.endpoint());
    const lpm_session s = create_session(tc);

    // The first message is a ping from a proper routing id.
    REQUIRE(tc.wait_event(runtime, event_is(LPM_EVENT_CONNECTED)).has_value());
    REQUIRE(runtime.pings() >= 1);

    Received create = runtime.expect("create_session");
    CHECK(create.identity.size() == 16);
    CHECK(create.identity[0] != '\0');
    CHECK(create.id != 0);
    std::string character, prompt;
    CHECK((create.header.get_str("character", character) && character == "astronaut"));
    CHECK((create.header.get_str("prompt", prompt) && prompt == "calm"));
    runtime.answer_session_info(create, "s1-test", 0, 1000);
    auto ready = tc.wait_event(runtime, event_is(LPM_EVENT_SESSION_READY));
    REQUIRE(ready.has_value());
    CHECK(ready->session == s);
    CHECK(std::string(ready->text) == "s1-test");

    lpm_session_info info;
    std::memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    REQUIRE(lpm_session_get_info(tc.client, s, &info) == LPM_OK);
    CHECK(info.width == 16);
    CHECK(info.latency_us == 140000);
    CHECK(std::string(info.session_id) == "s1-test");
    std::vector<char> names(64);
    size_t needed = 0;
    REQUIRE(lpm_client_get_characters(tc.client, names.data(), names.size(), &needed) == LPM_OK);
    CHECK(std::string(names.data()) == "astronaut\nknight");
    CHECK(needed == std::strlen("astronaut\nknight") + 1);

    // Frames: highest index per pts, playhead rule, NO_DATA on repeats.
    runtime.send_frame(create.identity, "s1-test", 0, 0, 0.1f);
    runtime.send_frame(create.identity, "s1-test", 1, 40000, 0.2f);
    runtime.send_frame(create.identity, "s1-test", 2, 80000, 0.3f);
    runtime.send_frame(create.identity, "s1-test", 5, 40000, 0.9f);  // re-sent after interrupt
    runtime.send_frame(create.identity, "s1-other", 6, 40000, 0.5f); // not ours
    lpm_frame_info frame;
    std::memset(&frame, 0, sizeof(frame));
    frame.struct_size = sizeof(frame);
    std::vector<uint8_t> rgba(16 * 16 * 4);
    const auto deadline = Clock::now() + milliseconds(2000);
    int32_t polled = LPM_NO_DATA;
    while (Clock::now() < deadline) {
        lpm_stats st;
        std::memset(&st, 0, sizeof(st));
        st.struct_size = sizeof(st);
        lpm_client_get_stats(tc.client, s, &st);
        if (st.frames_received >= 4) {
            polled = lpm_session_poll_frame(tc.client, s, 50000, &frame, rgba.data(), rgba.size());
            break;
        }
        runtime.pump(milliseconds(5));
    }
    REQUIRE(polled == LPM_OK);
    CHECK(frame.index == 5);
    CHECK(frame.pts_us == 40000);
    CHECK(frame.curves[17] == 0.9f);
    CHECK(frame.state == LPM_STATE_SPEAK);
    CHECK(rgba[0] == 5);
    CHECK(lpm_session_poll_frame(tc.client, s, 50000, &frame, rgba.data(), rgba.size()) ==
          LPM_NO_DATA);
    CHECK(lpm_session_poll_frame(tc.client, s, 90000, &frame, rgba.data(), 10) ==
          LPM_ERR_BUFFER_TOO_SMALL);
    const uint8_t* borrowed = nullptr;
    REQUIRE(lpm_session_borrow_frame(tc.client, s, 90000, &frame, &borrowed) == LPM_OK);
    CHECK(frame.index == 2);
    REQUIRE(borrowed != nullptr);
    CHECK(borrowed[0] == 2);
    CHECK(lpm_session_poll_frame(tc.client, s, -1, &frame, nullptr, 0) == LPM_NO_DATA);
    lpm_stats stats;
    std::memset(&stats, 0, sizeof(stats));
    stats.struct_size = sizeof(stats);
    REQUIRE(lpm_client_get_stats(tc.client, s, &stats) == LPM_OK);
    CHECK(stats.frames_received == 4);
    CHECK(stats.frames_dropped == 2);  // indices 3 and 4 never came
    CHECK(stats.connected == 1);

    // Audio: 100 ms of 48 kHz stereo -> mono f32 packets of <= 40 ms, then end_of_speech.
    std::vector<float> stereo(4800 * 2);
    for (std::size_t i = 0; i < 4800; ++i) {
        stereo[2 * i] = 0.5f;
        stereo[2 * i + 1] = -0.25f;
    }
    REQUIRE(lpm_session_set_prompt(tc.client, s, "looks up") == LPM_OK);
    REQUIRE(lpm_session_push_speak(tc.client, s, stereo.data(), 4800, 2, 48000) == LPM_OK);
    REQUIRE(lpm_session_end_of_speech(tc.client, s) == LPM_OK);
    std::vector<Received> sent;
    while (sent.empty() || sent.back().type != "end_of_speech") {
        std::optional<Received> r = runtime.next(milliseconds(2000));
        REQUIRE(r.has_value());
        sent.push_back(std::move(*r));
    }
    std::size_t samples = 0;
    std::uint64_t last_id = 0;
    std::vector<std::string> types;
    for (const Received& r : sent) {
        types.push_back(r.type);
        CHECK(r.id > last_id);  // fresh, increasing request ids
        last_id = r.id;
        if (r.type != "speak_audio") {
            continue;
        }
        std::int64_t rate = 0, channels = 0;
        std::string format, session;
        CHECK((r.header.get_int("sample_rate", rate) && rate == 48000));
        CHECK((r.header.get_int("channels", channels) && channels == 1));
        CHECK((r.header.get_str("format", format) && format == "f32"));
        CHECK((r.header.get_str("session", session) && session == "s1-test"));
        CHECK(r.header.find("pts_us") == nullptr);
        REQUIRE(r.payload.size() == 1);
        CHECK(r.payload[0].size() <= 1920 * 4);  // 40 ms at 48 kHz
        float first = 0;
        std::memcpy(&first, r.payload[0].data(), 4);
        CHECK(first == 0.125f);  // (0.5 - 0.25) / 2
        samples += r.payload[0].size() / 4;
    }
    CHECK(samples == 4800);
    CHECK(types.front() == "set_prompt");
    CHECK(types.size() == 5);  // set_prompt, 3 audio packets, end_of_speech

    // A refused packet becomes an ERROR event naming the session.
    const Received& audio = sent[1];
    runtime.answer_error(audio, 7, "NON_FINITE_AUDIO", "s1-test");
    auto error = tc.wait_event(runtime, event_is(LPM_EVENT_ERROR));
    REQUIRE(error.has_value());
    CHECK(error->code == 7);
    CHECK(error->session == s);
    CHECK(std::string(error->name) == "NON_FINITE_AUDIO");
}

TEST_CASE("fake runtime: a restarted runtime gets the session re-created", "[fake]") {
    FakeRuntime runtime;
    TestClient tc(runtime.endpoint());
    const lpm_session s = create_session(tc);
    Received create = runtime.expect("create_session");
    runtime.answer_session_info(create, "s1-old", 0, 5000000);
    REQUIRE(tc.wait_event(runtime, event_is(LPM_EVENT_SESSION_READY)).has_value());
    runtime.send_frame(create.identity, "s1-old", 0, 4000000, 0.1f);

    runtime.restart();
    REQUIRE(tc.wait_event(runtime, event_is(LPM_EVENT_DISCONNECTED)).has_value());
    REQUIRE(tc.wait_event(runtime, event_is(LPM_EVENT_CONNECTED)).has_value());
    Received resume = runtime.expect("resume_session");
    std::string session;
    CHECK((resume.header.get_str("session", session) && session == "s1-old"));
    CHECK(resume.identity == create.identity);  // same routing id after the reconnect
    runtime.answer_error(resume, 9, "UNKNOWN_SESSION", "s1-old");
    Received again = runtime.expect("create_session");
    std::string prompt;
    CHECK((again.header.get_str("prompt", prompt) && prompt == "calm"));
    runtime.answer_session_info(again, "s2-new", 0, 0);
    auto resumed = tc.wait_event(runtime, event_is(LPM_EVENT_SESSION_RESUMED));
    REQUIRE(resumed.has_value());
    CHECK(resumed->session == s);
    CHECK(resumed->value == 1);

    // The old timeline's frames are gone; the new one starts at 0.
    lpm_frame_info frame;
    std::memset(&frame, 0, sizeof(frame));
    frame.struct_size = sizeof(frame);
    CHECK(lpm_session_poll_frame(tc.client, s, 10000000, &frame, nullptr, 0) == LPM_NO_DATA);
    runtime.send_frame(again.identity, "s2-new", 0, 0, 0.4f);
    int32_t status = LPM_NO_DATA;
    const auto deadline = Clock::now() + milliseconds(2000);
    while (status != LPM_OK && Clock::now() < deadline) {
        runtime.pump(milliseconds(5));
        status = lpm_session_poll_frame(tc.client, s, 0, &frame, nullptr, 0);
    }
    REQUIRE(status == LPM_OK);
    CHECK(frame.curves[17] == 0.4f);
    lpm_stats stats;
    std::memset(&stats, 0, sizeof(stats));
    stats.struct_size = sizeof(stats);
    REQUIRE(lpm_client_get_stats(tc.client, 0, &stats) == LPM_OK);
    CHECK(stats.reconnects == 1);
}

TEST_CASE("fake runtime: a runtime that still knows the session resumes it", "[fake]") {
    FakeRuntime runtime;
    TestClient tc(runtime.endpoint());
    const lpm_session s = create_session(tc);
    Received create = runtime.expect("create_session");
    runtime.answer_session_info(create, "s1-kept", 0, 0);
    REQUIRE(tc.wait_event(runtime, event_is(LPM_EVENT_SESSION_READY)).has_value());

    // Audio pushed while disconnected: what is older than L when the session is back is
    // dropped, not sent late.
    runtime.restart();
    REQUIRE(tc.wait_event(runtime, event_is(LPM_EVENT_DISCONNECTED)).has_value());
    std::vector<float> line(16000, 0.1f);  // 1 s at 16 kHz
    REQUIRE(lpm_session_push_speak(tc.client, s, line.data(), 16000, 1, 16000) == LPM_OK);
    std::this_thread::sleep_for(milliseconds(300));
    Received resume = runtime.expect("resume_session");
    runtime.answer_session_info(resume, "s1-kept", 120, 4800000);
    auto resumed = tc.wait_event(runtime, event_is(LPM_EVENT_SESSION_RESUMED));
    REQUIRE(resumed.has_value());
    CHECK(resumed->value == 0);
    lpm_stats stats;
    std::memset(&stats, 0, sizeof(stats));
    stats.struct_size = sizeof(stats);
    REQUIRE(lpm_client_get_stats(tc.client, s, &stats) == LPM_OK);
    CHECK(stats.audio_dropped_ms == 1000);
    int64_t now_us = 0;
    REQUIRE(lpm_session_timeline_now(tc.client, s, &now_us) == LPM_OK);
    CHECK(now_us >= 4800000);
    CHECK(now_us < 4800000 + 2000000);
    runtime.send_frame(resume.identity, "s1-kept", 121, 4840000, 0.2f);  // index 120 skipped
    const auto deadline = Clock::now() + milliseconds(2000);
    while (Clock::now() < deadline) {
        runtime.pump(milliseconds(5));
        REQUIRE(lpm_client_get_stats(tc.client, s, &stats) == LPM_OK);
        if (stats.frames_received == 1) {
            break;
        }
    }
    CHECK(stats.frames_received == 1);
    CHECK(stats.frames_dropped == 1);
}

TEST_CASE("fake runtime: an unknown character fails the session for good", "[fake]") {
    FakeRuntime runtime;
    TestClient tc(runtime.endpoint());
    const lpm_session s = create_session(tc);
    Received create = runtime.expect("create_session");
    runtime.answer_error(create, 13, "UNKNOWN_CHARACTER", "");
    auto error = tc.wait_event(runtime, event_is(LPM_EVENT_ERROR));
    REQUIRE(error.has_value());
    CHECK(error->code == 13);
    CHECK(error->session == s);
    float silence[160] = {};
    CHECK(lpm_session_push_speak(tc.client, s, silence, 160, 1, 16000) == LPM_ERR_NOT_READY);
    CHECK(lpm_session_close(tc.client, s) == LPM_OK);
    CHECK(tc.wait_event(runtime, event_is(LPM_EVENT_SESSION_CLOSED)).has_value());
    CHECK_FALSE(runtime.next(milliseconds(300)).has_value());  // no retry, no close_session
}

TEST_CASE("fake runtime: closing a session closes it on the runtime", "[fake]") {
    FakeRuntime runtime;
    TestClient tc(runtime.endpoint());
    const lpm_session s = create_session(tc);
    Received create = runtime.expect("create_session");
    runtime.answer_session_info(create, "s1-c", 0, 0);
    REQUIRE(tc.wait_event(runtime, event_is(LPM_EVENT_SESSION_READY)).has_value());
    REQUIRE(lpm_session_close(tc.client, s) == LPM_OK);
    Received close = runtime.expect("close_session");
    std::string session;
    CHECK((close.header.get_str("session", session) && session == "s1-c"));
    lpm_test::Packer ok;
    ok.map(4).str("v").i(1).str("type").str("ok").str("id").i(static_cast<std::int64_t>(close.id));
    ok.str("session").str("s1-c");
    runtime.send(close.identity, ok.bytes());
    auto closed = tc.wait_event(runtime, event_is(LPM_EVENT_SESSION_CLOSED));
    REQUIRE(closed.has_value());
    CHECK(closed->session == s);
}

TEST_CASE("fake runtime: CurveZMQ connects with the runtime's key, a wrong key is reported",
          "[fake]") {
    REQUIRE(zmq_has("curve") != 0);
    char server_public[41], server_secret[41], client_public[41], client_secret[41];
    char other_public[41], other_secret[41];
    REQUIRE(zmq_curve_keypair(server_public, server_secret) == 0);
    REQUIRE(zmq_curve_keypair(client_public, client_secret) == 0);
    REQUIRE(zmq_curve_keypair(other_public, other_secret) == 0);
    FakeRuntime runtime(server_secret);
    {
        TestClient good(runtime.endpoint(), 3000, server_public, client_public, client_secret);
        CHECK(good.wait_event(runtime, event_is(LPM_EVENT_CONNECTED)).has_value());
    }
    {
        // PROTOCOL.md section 10: a refused client gets no reply at all; the socket monitor is
        // how the client can tell the user.
        TestClient bad(runtime.endpoint(), 3000, other_public, client_public, client_secret);
        auto refused = bad.wait_event(
            runtime, [](const lpm_event& e) { return e.type == LPM_EVENT_ERROR && e.code == 15; });
        REQUIRE(refused.has_value());
        CHECK(std::string(refused->name) == "UNAUTHENTICATED");
        bad.drain();
        for (const lpm_event& e : bad.events) {
            CHECK(e.type != LPM_EVENT_CONNECTED);
        }
    }
}

TEST_CASE("fake runtime: prepare_character uploads the image and refreshes the list", "[fake]") {
    FakeRuntime runtime;
    TestClient tc(runtime.endpoint());
    REQUIRE(tc.wait_event(runtime, event_is(LPM_EVENT_CHARACTERS)).has_value());
    const std::string image = "\x89PNG fake portrait bytes";
    REQUIRE(lpm_client_prepare_character(tc.client, "hero_1",
                                         reinterpret_cast<const uint8_t*>(image.data()),
                                         image.size()) == LPM_OK);
    Received prepare = runtime.expect("prepare_character");
    std::string name;
    CHECK((prepare.header.get_str("name", name) && name == "hero_1"));
    REQUIRE(prepare.payload.size() == 1);
    CHECK(prepare.payload[0] == image);
    lpm_test::Packer reply;
    reply.map(4).str("v").i(1).str("type").str("character_prepared").str("id").i(
        static_cast<std::int64_t>(prepare.id));
    reply.str("character").map(4).str("id").str("hero_1").str("width").i(128);
    reply.str("height").i(128).str("source").str("upload");
    runtime.send(prepare.identity, reply.bytes());
    auto prepared = tc.wait_event(runtime, event_is(LPM_EVENT_CHARACTER_PREPARED));
    REQUIRE(prepared.has_value());
    CHECK(std::string(prepared->name) == "hero_1");
    // The client asks for the list again (answered by the fake runtime), and a failed
    // preparation is reported as an error event.
    REQUIRE(lpm_client_prepare_character(tc.client, "villain",
                                         reinterpret_cast<const uint8_t*>(image.data()),
                                         image.size()) == LPM_OK);
    Received second = runtime.expect("prepare_character");
    runtime.answer_error(second, 14, "PREPARE_FAILED", "");
    auto failed = tc.wait_event(runtime, event_is(LPM_EVENT_ERROR));
    REQUIRE(failed.has_value());
    CHECK(failed->code == 14);
    CHECK(failed->session == 0);
}
