// The playhead rule of PROTOCOL.md section 4: per pts the highest index wins, and the frame
// shown is the one with the largest pts <= playhead.
#include <catch2/catch.hpp>

#include <cstdint>

#include "frame_buffer.hpp"

namespace {

constexpr std::int64_t kFrameUs = 40000;  // 25 fps
constexpr std::int64_t kNothingShown = INT64_MIN;

lpm::Frame frame(std::int64_t index, std::int64_t pts_us) {
    lpm::Frame f;
    f.index = index;
    f.pts_us = pts_us;
    f.width = f.height = 16;
    return f;
}

}  // namespace

TEST_CASE("the playhead shows the newest frame at or before it", "[frame_buffer]") {
    lpm::FrameBuffer buffer(64);
    for (std::int64_t k = 0; k < 10; ++k) {
        buffer.insert(frame(k, k * kFrameUs), kNothingShown);
    }
    CHECK(buffer.at(-1) == nullptr);
    CHECK(buffer.at(0)->index == 0);
    CHECK(buffer.at(kFrameUs - 1)->index == 0);
    CHECK(buffer.at(kFrameUs)->index == 1);
    CHECK(buffer.at(3 * kFrameUs + 20000)->index == 3);
    CHECK(buffer.at(1000000000)->index == 9);  // ahead of everything: the newest
    CHECK(buffer.newest()->index == 9);
}

TEST_CASE("for one pts the highest index wins", "[frame_buffer]") {
    lpm::FrameBuffer buffer(64);
    CHECK(buffer.insert(frame(1, kFrameUs), kNothingShown).outcome ==
          lpm::FrameBuffer::Outcome::kAdded);
    // Re-sent after an interrupt with a higher index: replaces.
    CHECK(buffer.insert(frame(5, kFrameUs), kNothingShown).outcome ==
          lpm::FrameBuffer::Outcome::kReplaced);
    // An older copy arriving late: ignored.
    CHECK(buffer.insert(frame(3, kFrameUs), kNothingShown).outcome ==
          lpm::FrameBuffer::Outcome::kStale);
    CHECK(buffer.insert(frame(5, kFrameUs), kNothingShown).outcome ==
          lpm::FrameBuffer::Outcome::kStale);
    CHECK(buffer.at(kFrameUs)->index == 5);
    CHECK(buffer.size() == 1);
}

TEST_CASE("frames arriving out of pts order are placed by pts", "[frame_buffer]") {
    lpm::FrameBuffer buffer(8);
    buffer.insert(frame(10, 2 * kFrameUs), kNothingShown);
    buffer.insert(frame(11, 0), kNothingShown);
    buffer.insert(frame(12, kFrameUs), kNothingShown);
    CHECK(buffer.at(kFrameUs)->index == 12);
    CHECK(buffer.at(5 * kFrameUs)->index == 10);
}

TEST_CASE("the buffer is bounded and counts frames forgotten before any playhead reached them",
          "[frame_buffer]") {
    lpm::FrameBuffer buffer(4);
    std::size_t unshown = 0;
    // The caller has shown up to pts 2 * kFrameUs; frames 0..2 were reachable, 3.. were not.
    for (std::int64_t k = 0; k < 8; ++k) {
        unshown += buffer.insert(frame(k, k * kFrameUs), 2 * kFrameUs).evicted_unshown;
    }
    CHECK(buffer.size() == 4);
    CHECK(buffer.at(0) == nullptr);  // the lowest pts went first
    CHECK(buffer.at(4 * kFrameUs)->index == 4);
    CHECK(unshown == 1);  // frame 3 was forgotten before being shown; 0..2 were behind
    buffer.clear();
    CHECK(buffer.size() == 0);
    CHECK(buffer.newest() == nullptr);
}

TEST_CASE("a buffer of one keeps the newest pts", "[frame_buffer]") {
    lpm::FrameBuffer buffer(0);  // clamped to 1
    CHECK(buffer.capacity() == 1);
    buffer.insert(frame(0, 0), kNothingShown);
    buffer.insert(frame(1, kFrameUs), kNothingShown);
    CHECK(buffer.size() == 1);
    CHECK(buffer.at(kFrameUs)->index == 1);
}
