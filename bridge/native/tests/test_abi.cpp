// The C ABI: struct sizes, names, and every function refusing NULLs, bad struct sizes and bad
// values without crashing. No runtime is needed: the client points at a closed port.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <zmq.h>

#include "lpm_client.h"

namespace {

constexpr const char* kNowhere = "tcp://127.0.0.1:9";  // discard port: nothing answers

lpm_client_config config_for(const char* endpoint) {
    lpm_client_config c;
    std::memset(&c, 0, sizeof(c));
    c.struct_size = sizeof(c);
    c.endpoint = endpoint;
    return c;
}

lpm_session_options default_options() {
    lpm_session_options o;
    std::memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    return o;
}

template <class T>
T sized() {
    T value;
    std::memset(&value, 0, sizeof(value));
    value.struct_size = sizeof(T);
    return value;
}

// A client with no runtime behind it, destroyed at scope exit.
struct OfflineClient {
    lpm_client* client = nullptr;
    OfflineClient() {
        const lpm_client_config c = config_for(kNowhere);
        REQUIRE(lpm_client_create(&c, &client) == LPM_OK);
        REQUIRE(client != nullptr);
    }
    ~OfflineClient() { lpm_client_destroy(client); }
};

}  // namespace

TEST_CASE("struct sizes are published by name", "[abi]") {
    CHECK(lpm_abi_version() == LPM_ABI_VERSION);
    CHECK(lpm_abi_struct_size("lpm_client_config") == sizeof(lpm_client_config));
    CHECK(lpm_abi_struct_size("lpm_session_options") == sizeof(lpm_session_options));
    CHECK(lpm_abi_struct_size("lpm_session_info") == sizeof(lpm_session_info));
    CHECK(lpm_abi_struct_size("lpm_frame_info") == sizeof(lpm_frame_info));
    CHECK(lpm_abi_struct_size("lpm_event") == sizeof(lpm_event));
    CHECK(lpm_abi_struct_size("lpm_stats") == sizeof(lpm_stats));
    CHECK(lpm_abi_struct_size("lpm_nothing") == 0);
    CHECK(lpm_abi_struct_size(nullptr) == 0);
#if defined(__x86_64__) || defined(__aarch64__)
    CHECK(sizeof(lpm_client_config) == 56);
    CHECK(sizeof(lpm_session_options) == 48);
    CHECK(sizeof(lpm_session_info) == 160);
    CHECK(sizeof(lpm_frame_info) == 280);
    CHECK(sizeof(lpm_event) == 360);
    CHECK(sizeof(lpm_stats) == 56);
#endif
}

TEST_CASE("status and curve names", "[abi]") {
    CHECK(std::string(lpm_status_name(LPM_OK)) == "LPM_OK");
    CHECK(std::string(lpm_status_name(LPM_ERR_QUEUE_FULL)) == "LPM_ERR_QUEUE_FULL");
    CHECK(std::string(lpm_status_name(12345)) == "LPM_UNKNOWN_STATUS");
    CHECK(std::string(lpm_curve_name(17)) == "jawOpen");
    CHECK(lpm_curve_name(LPM_NUM_CURVES) == nullptr);
    CHECK(lpm_curve_name(-1) == nullptr);
}

TEST_CASE("lpm_client_create validates its config", "[abi]") {
    lpm_client* client = reinterpret_cast<lpm_client*>(0x1);
    lpm_client_config c = config_for(kNowhere);
    CHECK(lpm_client_create(nullptr, &client) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(client == nullptr);  // cleared on failure
    CHECK(lpm_client_create(&c, nullptr) == LPM_ERR_INVALID_ARGUMENT);

    c.struct_size = sizeof(c) - 8;
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);
    c.struct_size = sizeof(c) + 8;
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);

    c = config_for(nullptr);
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);
    c = config_for("");
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);
    c = config_for("not an endpoint");
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);
    c = config_for("bogus://127.0.0.1:1");
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);

    c = config_for(kNowhere);
    c.keepalive_ms = 5000;  // timeout defaults to 3000: not longer than the ping interval
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);
    c = config_for(kNowhere);
    c.frame_buffer = 100000;
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_LIMIT);
    CHECK(client == nullptr);
}

TEST_CASE("CurveZMQ keys are checked", "[abi]") {
    char server_public[41], server_secret[41], client_public[41], client_secret[41];
    if (zmq_has("curve") == 0) {
        WARN("libzmq without CURVE: key checks only");
    }
    REQUIRE(zmq_curve_keypair(server_public, server_secret) == 0);
    REQUIRE(zmq_curve_keypair(client_public, client_secret) == 0);
    lpm_client* client = nullptr;
    lpm_client_config c = config_for(kNowhere);

    c.server_public_key = server_public;  // client keys missing
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);
    c.client_public_key = client_public;
    c.client_secret_key = "tooshort";
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);
    c.client_secret_key = client_secret;
    REQUIRE(lpm_client_create(&c, &client) == LPM_OK);
    lpm_client_destroy(client);
    client = nullptr;

    c = config_for(kNowhere);
    c.client_public_key = client_public;  // client keys without the server's
    c.client_secret_key = client_secret;
    CHECK(lpm_client_create(&c, &client) == LPM_ERR_INVALID_ARGUMENT);
}

TEST_CASE("every function refuses a NULL client", "[abi]") {
    lpm_client_destroy(nullptr);  // allowed, does nothing
    auto event = sized<lpm_event>();
    auto stats = sized<lpm_stats>();
    auto info = sized<lpm_session_info>();
    auto frame = sized<lpm_frame_info>();
    auto options = default_options();
    const float samples[4] = {};
    const uint8_t image[4] = {1, 2, 3, 4};
    const uint8_t* borrowed = nullptr;
    char buffer[16];
    size_t needed = 0;
    int64_t t = 0;
    lpm_session s = 0;
    CHECK(lpm_client_poll_event(nullptr, &event) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_client_get_stats(nullptr, 0, &stats) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_client_get_characters(nullptr, buffer, sizeof(buffer), &needed) ==
          LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_client_prepare_character(nullptr, "x", image, 4) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_create(nullptr, &options, &s) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_close(nullptr, 1) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_get_info(nullptr, 1, &info) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_timeline_now(nullptr, 1, &t) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_push_speak(nullptr, 1, samples, 4, 1, 16000) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_push_listen(nullptr, 1, samples, 4, 1, 16000) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_end_of_speech(nullptr, 1) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_set_prompt(nullptr, 1, "x") == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_trigger_emote(nullptr, 1, "nods", 0.5f, 1.0f) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_interrupt(nullptr, 1) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_poll_frame(nullptr, 1, 0, &frame, nullptr, 0) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_borrow_frame(nullptr, 1, 0, &frame, &borrowed) ==
          LPM_ERR_INVALID_ARGUMENT);
}

TEST_CASE("client functions refuse NULL outputs and bad struct sizes", "[abi]") {
    OfflineClient offline;
    lpm_client* client = offline.client;
    auto event = sized<lpm_event>();
    auto stats = sized<lpm_stats>();
    CHECK(lpm_client_poll_event(client, nullptr) == LPM_ERR_INVALID_ARGUMENT);
    event.struct_size = 4;
    CHECK(lpm_client_poll_event(client, &event) == LPM_ERR_INVALID_ARGUMENT);
    event.struct_size = sizeof(event);
    CHECK(lpm_client_poll_event(client, &event) == LPM_NO_DATA);

    CHECK(lpm_client_get_stats(client, 0, nullptr) == LPM_ERR_INVALID_ARGUMENT);
    stats.struct_size = 0;
    CHECK(lpm_client_get_stats(client, 0, &stats) == LPM_ERR_INVALID_ARGUMENT);
    stats.struct_size = sizeof(stats);
    CHECK(lpm_client_get_stats(client, 0, &stats) == LPM_OK);
    CHECK(stats.connected == 0);
    CHECK(lpm_client_get_stats(client, 999, &stats) == LPM_ERR_UNKNOWN_SESSION);

    size_t needed = 99;
    char buffer[8];
    CHECK(lpm_client_get_characters(client, nullptr, 8, &needed) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_client_get_characters(client, nullptr, 0, &needed) == LPM_NO_DATA);
    CHECK(needed == 1);
    CHECK(lpm_client_get_characters(client, buffer, sizeof(buffer), nullptr) == LPM_NO_DATA);
    CHECK(buffer[0] == '\0');

    const uint8_t image[4] = {1, 2, 3, 4};
    CHECK(lpm_client_prepare_character(client, nullptr, image, 4) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_client_prepare_character(client, "hero", nullptr, 4) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_client_prepare_character(client, "hero", image, 0) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_client_prepare_character(client, "", image, 4) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_client_prepare_character(client, "no spaces", image, 4) ==
          LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_client_prepare_character(client, std::string(129, 'a').c_str(), image, 4) ==
          LPM_ERR_LIMIT);
    CHECK(lpm_client_prepare_character(client, "hero_1", image, 4) == LPM_OK);  // queued
}

TEST_CASE("lpm_session_create validates its options", "[abi]") {
    OfflineClient offline;
    lpm_client* client = offline.client;
    lpm_session s = 77;
    lpm_session_options o = default_options();
    CHECK(lpm_session_create(client, nullptr, &s) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(s == 0);
    CHECK(lpm_session_create(client, &o, nullptr) == LPM_ERR_INVALID_ARGUMENT);
    o.struct_size = sizeof(o) - 4;
    CHECK(lpm_session_create(client, &o, &s) == LPM_ERR_INVALID_ARGUMENT);

    const auto refused = [&](lpm_session_options bad) {
        return lpm_session_create(client, &bad, &s);
    };
    o = default_options();
    o.width = 15;
    CHECK(refused(o) == LPM_ERR_INVALID_ARGUMENT);
    o.width = 2049;
    CHECK(refused(o) == LPM_ERR_INVALID_ARGUMENT);
    o = default_options();
    o.encoding = 2;
    CHECK(refused(o) == LPM_ERR_INVALID_ARGUMENT);
    o = default_options();
    o.jpeg_quality = 101;
    CHECK(refused(o) == LPM_ERR_INVALID_ARGUMENT);
    o = default_options();
    const std::string long_prompt(501, 'a');
    o.prompt = long_prompt.c_str();
    CHECK(refused(o) == LPM_ERR_LIMIT);
    o = default_options();
    const std::string long_id(129, 'a');
    o.character = long_id.c_str();
    CHECK(refused(o) == LPM_ERR_LIMIT);
    o.character = "bad\xff";
    CHECK(refused(o) == LPM_ERR_INVALID_ARGUMENT);

    o = default_options();
    o.encoding = LPM_ENCODING_JPEG;
#if defined(LPM_HAVE_TURBOJPEG)
    CHECK(refused(o) == LPM_OK);
#else
    CHECK(refused(o) == LPM_ERR_INVALID_ARGUMENT);
#endif
    o = default_options();
    o.prompt = long_prompt.c_str() + 1;
    CHECK(refused(o) == LPM_OK);  // exactly 500 characters
}

TEST_CASE("session functions refuse unknown handles, NULL outputs and bad values", "[abi]") {
    OfflineClient offline;
    lpm_client* client = offline.client;
    lpm_session_options o = default_options();
    lpm_session s = 0;
    REQUIRE(lpm_session_create(client, &o, &s) == LPM_OK);
    REQUIRE(s != 0);
    auto info = sized<lpm_session_info>();
    auto frame = sized<lpm_frame_info>();
    const uint8_t* borrowed = nullptr;
    int64_t t = 0;
    std::vector<float> samples(320, 0.1f);

    for (lpm_session unknown : {lpm_session{0}, lpm_session{s + 1000}}) {
        CAPTURE(unknown);
        CHECK(lpm_session_close(client, unknown) == LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_get_info(client, unknown, &info) == LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_timeline_now(client, unknown, &t) == LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_push_speak(client, unknown, samples.data(), 320, 1, 16000) ==
              LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_push_listen(client, unknown, samples.data(), 320, 1, 16000) ==
              LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_end_of_speech(client, unknown) == LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_set_prompt(client, unknown, "x") == LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_trigger_emote(client, unknown, "nods", 0.5f, 1.0f) ==
              LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_interrupt(client, unknown) == LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_poll_frame(client, unknown, LPM_PLAYHEAD_AUTO, &frame, nullptr, 0) ==
              LPM_ERR_UNKNOWN_SESSION);
        CHECK(lpm_session_borrow_frame(client, unknown, 0, &frame, &borrowed) ==
              LPM_ERR_UNKNOWN_SESSION);
    }

    // Not ready: the runtime never answered.
    CHECK(lpm_session_get_info(client, s, &info) == LPM_ERR_NOT_READY);
    CHECK(lpm_session_timeline_now(client, s, &t) == LPM_ERR_NOT_READY);
    CHECK(lpm_session_poll_frame(client, s, LPM_PLAYHEAD_AUTO, &frame, nullptr, 0) ==
          LPM_NO_DATA);

    // NULL outputs and bad struct sizes.
    CHECK(lpm_session_get_info(client, s, nullptr) == LPM_ERR_INVALID_ARGUMENT);
    info.struct_size = 1;
    CHECK(lpm_session_get_info(client, s, &info) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_timeline_now(client, s, nullptr) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_poll_frame(client, s, 0, nullptr, nullptr, 0) == LPM_ERR_INVALID_ARGUMENT);
    frame.struct_size = sizeof(frame) + 4;
    CHECK(lpm_session_poll_frame(client, s, 0, &frame, nullptr, 0) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_borrow_frame(client, s, 0, &frame, &borrowed) == LPM_ERR_INVALID_ARGUMENT);
    frame.struct_size = sizeof(frame);
    CHECK(lpm_session_borrow_frame(client, s, 0, &frame, nullptr) == LPM_ERR_INVALID_ARGUMENT);

    // Audio values.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> bad = samples;
    bad[100] = nan;
    CHECK(lpm_session_push_speak(client, s, bad.data(), 320, 1, 16000) ==
          LPM_ERR_INVALID_ARGUMENT);
    bad[100] = std::numeric_limits<float>::infinity();
    CHECK(lpm_session_push_listen(client, s, bad.data(), 160, 2, 16000) ==
          LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_push_speak(client, s, samples.data(), 320, 1, 44000) ==
          LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_push_speak(client, s, samples.data(), 320, 0, 16000) ==
          LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_push_speak(client, s, nullptr, 320, 1, 16000) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_push_speak(client, s, nullptr, 0, 1, 16000) == LPM_OK);
    CHECK(lpm_session_push_speak(client, s, samples.data(), 160, 2, 16000) == LPM_OK);

    // Texts and emote values.
    CHECK(lpm_session_set_prompt(client, s, std::string(501, 'a').c_str()) == LPM_ERR_LIMIT);
    CHECK(lpm_session_set_prompt(client, s, "\xc3") == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_set_prompt(client, s, nullptr) == LPM_OK);
    CHECK(lpm_session_set_prompt(client, s, "") == LPM_OK);
    CHECK(lpm_session_trigger_emote(client, s, nullptr, 0.5f, 1.0f) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_trigger_emote(client, s, "", 0.5f, 1.0f) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_trigger_emote(client, s, std::string(501, 'a').c_str(), 0.5f, 1.0f) ==
          LPM_ERR_LIMIT);
    CHECK(lpm_session_trigger_emote(client, s, "nods", 1.5f, 1.0f) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_trigger_emote(client, s, "nods", nan, 1.0f) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_trigger_emote(client, s, "nods", 0.5f, 0.05f) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_trigger_emote(client, s, "nods", 0.5f, 61.0f) == LPM_ERR_INVALID_ARGUMENT);
    CHECK(lpm_session_trigger_emote(client, s, "nods", 0.5f, 1.0f) == LPM_OK);
    CHECK(lpm_session_interrupt(client, s) == LPM_OK);
    CHECK(lpm_session_end_of_speech(client, s) == LPM_OK);
}

TEST_CASE("the audio queue bound refuses a push and counts it as dropped", "[abi]") {
    lpm_client_config c = config_for(kNowhere);
    c.audio_queue_ms = 500;
    lpm_client* client = nullptr;
    REQUIRE(lpm_client_create(&c, &client) == LPM_OK);
    lpm_session_options o = default_options();
    lpm_session s = 0;
    REQUIRE(lpm_session_create(client, &o, &s) == LPM_OK);
    std::vector<float> second(48000 * 2, 0.0f);  // 1 s of stereo at 48 kHz
    CHECK(lpm_session_push_speak(client, s, second.data(), 48000, 2, 48000) ==
          LPM_ERR_QUEUE_FULL);
    CHECK(lpm_session_push_speak(client, s, second.data(), 19200, 2, 48000) == LPM_OK);  // 400 ms
    CHECK(lpm_session_push_speak(client, s, second.data(), 9600, 2, 48000) ==
          LPM_ERR_QUEUE_FULL);  // +200 ms > 500 ms
    CHECK(lpm_session_push_listen(client, s, second.data(), 19200, 2, 48000) == LPM_OK);
    auto stats = sized<lpm_stats>();
    REQUIRE(lpm_client_get_stats(client, s, &stats) == LPM_OK);
    CHECK(stats.audio_dropped_ms == 1200);
    lpm_client_destroy(client);
}

TEST_CASE("closing and destroying need no runtime and are quick", "[abi]") {
    lpm_client_config c = config_for(kNowhere);
    lpm_client* client = nullptr;
    REQUIRE(lpm_client_create(&c, &client) == LPM_OK);
    lpm_session_options o = default_options();
    std::vector<lpm_session> sessions;
    for (int i = 0; i < 16; ++i) {
        lpm_session s = 0;
        REQUIRE(lpm_session_create(client, &o, &s) == LPM_OK);
        sessions.push_back(s);
    }
    lpm_session extra = 0;
    CHECK(lpm_session_create(client, &o, &extra) == LPM_ERR_LIMIT);

    // Closing one that the runtime never saw reports it closed at once.
    REQUIRE(lpm_session_close(client, sessions[0]) == LPM_OK);
    CHECK(lpm_session_close(client, sessions[0]) == LPM_ERR_UNKNOWN_SESSION);
    bool closed = false;
    auto event = sized<lpm_event>();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!closed && std::chrono::steady_clock::now() < deadline) {
        while (lpm_client_poll_event(client, &event) == LPM_OK) {
            closed = closed || (event.type == LPM_EVENT_SESSION_CLOSED &&
                                event.session == sessions[0]);
            CHECK(event.struct_size == sizeof(event));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(closed);

    // Handles are not reused.
    lpm_session again = 0;
    REQUIRE(lpm_session_create(client, &o, &again) == LPM_OK);
    CHECK(again > sessions.back());

    const auto start = std::chrono::steady_clock::now();
    lpm_client_destroy(client);  // 16 sessions open
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK(took < std::chrono::milliseconds(500));
}
