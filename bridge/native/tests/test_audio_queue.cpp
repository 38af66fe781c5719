// Outgoing audio: mixdown to mono, packets of at most 40 ms, the bounded queue, and dropping
// stale audio while a session is being resumed.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "audio_queue.hpp"

namespace {

std::vector<float> ramp(std::size_t n) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        v[i] = static_cast<float>(i) / static_cast<float>(n);
    }
    return v;
}

}  // namespace

TEST_CASE("mixdown averages the channels", "[audio]") {
    std::vector<float> mono;
    const float stereo[] = {1.0f, 0.0f, -0.5f, -0.5f, 0.25f, 0.75f};
    REQUIRE(lpm::mixdown_to_mono(stereo, 3, 2, mono));
    CHECK(mono == std::vector<float>{0.5f, -0.5f, 0.5f});

    const float three[] = {0.3f, 0.6f, 0.9f};
    REQUIRE(lpm::mixdown_to_mono(three, 1, 3, mono));
    CHECK(mono[0] == Approx(0.6f));

    const float one[] = {0.1f, -0.2f};
    REQUIRE(lpm::mixdown_to_mono(one, 2, 1, mono));
    CHECK(mono == std::vector<float>{0.1f, -0.2f});

    REQUIRE(lpm::mixdown_to_mono(nullptr, 0, 2, mono));
    CHECK(mono.empty());
}

TEST_CASE("mixdown refuses NaN and infinities", "[audio]") {
    std::vector<float> mono;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const float with_nan[] = {0.0f, 0.1f, nan, 0.2f};
    CHECK_FALSE(lpm::mixdown_to_mono(with_nan, 4, 1, mono));
    CHECK_FALSE(lpm::mixdown_to_mono(with_nan, 2, 2, mono));
    const float with_inf[] = {0.0f, -inf};
    CHECK_FALSE(lpm::mixdown_to_mono(with_inf, 1, 2, mono));
}

TEST_CASE("packets are at most 40 ms at every supported rate", "[audio]") {
    for (std::uint32_t hz : {8000u, 11025u, 16000u, 22050u, 24000u, 32000u, 44100u, 48000u}) {
        CAPTURE(hz);
        const std::size_t max = lpm::max_packet_samples(hz);
        CHECK(max * 1000 == std::size_t{hz} * 40);  // exactly 40 ms, no rounding
        const std::vector<float> mono = ramp(hz / 10 + 7);  // 100 ms and a bit
        const auto packets = lpm::packetize(mono, hz, lpm::Clock::now());
        std::vector<float> joined;
        for (const auto& p : packets) {
            CHECK(p.samples.size() <= max);
            CHECK(p.duration_us() <= 40000);
            CHECK(p.sample_rate == hz);
            joined.insert(joined.end(), p.samples.begin(), p.samples.end());
        }
        CHECK(joined == mono);  // in order, nothing lost
        CHECK(packets.size() == 3);
    }
    CHECK(lpm::packetize({}, 16000, lpm::Clock::now()).empty());
}

TEST_CASE("the queue is bounded in duration, all or nothing", "[audio]") {
    lpm::AudioQueue queue(100000);  // 100 ms
    const auto now = lpm::Clock::now();
    CHECK(queue.push(lpm::packetize(ramp(1280), 16000, now)));  // 80 ms
    CHECK(queue.queued_us() == 80000);
    CHECK_FALSE(queue.push(lpm::packetize(ramp(640), 16000, now)));  // +40 ms: refused whole
    CHECK(queue.queued_us() == 80000);
    CHECK(queue.push(lpm::packetize(ramp(320), 16000, now)));  // +20 ms fits exactly
    CHECK(queue.queued_us() == 100000);
    CHECK(queue.entries() == 3);
    const lpm::AudioPacket first = queue.pop();
    CHECK(first.samples.size() == 640);
    CHECK(queue.queued_us() == 60000);
    CHECK(queue.push_end_of_speech(now));
    CHECK(queue.entries() == 3);
    CHECK(queue.clear() == 60000);
    CHECK(queue.empty());
}

TEST_CASE("stale audio is dropped, end-of-speech markers are kept", "[audio]") {
    lpm::AudioQueue queue(10000000);
    const auto t0 = lpm::Clock::now();
    const auto t1 = t0 + std::chrono::milliseconds(500);
    REQUIRE(queue.push(lpm::packetize(ramp(1600), 16000, t0)));  // 100 ms, old
    REQUIRE(queue.push_end_of_speech(t0));
    REQUIRE(queue.push(lpm::packetize(ramp(320), 16000, t1)));  // 20 ms, recent
    const std::int64_t dropped = queue.drop_queued_before(t1 - std::chrono::milliseconds(140));
    CHECK(dropped == 100000);
    CHECK(queue.queued_us() == 20000);
    REQUIRE(queue.entries() == 2);
    CHECK(queue.pop().end_of_speech);
    CHECK(queue.pop().samples.size() == 320);
}

TEST_CASE("the queue also bounds the number of entries", "[audio]") {
    lpm::AudioQueue queue(1000000000, 2);
    const auto now = lpm::Clock::now();
    CHECK(queue.push_end_of_speech(now));
    CHECK(queue.push_end_of_speech(now));
    CHECK_FALSE(queue.push_end_of_speech(now));
}
