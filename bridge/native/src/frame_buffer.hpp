// Per-session frames keyed by pts, for the playhead rule of PROTOCOL.md section 4:
//   on frame f:   keep[f.pts_us] = f if f.index > keep[f.pts_us].index (or absent)
//   render tick:  show keep[max pts <= playhead]
// Bounded: past `capacity` frames the lowest pts is forgotten.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

#include "codec.hpp"

namespace lpm {

struct Frame {
    std::int64_t index = -1;
    std::int64_t pts_us = 0;
    State state = State::kIdle;
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    std::array<float, kNumCurves> curves{};
    // width*height*4 bytes of straight-alpha RGBA, immutable once received. Shared so a poll
    // can copy it out after releasing the client's lock.
    std::shared_ptr<const std::uint8_t> pixels;
    std::size_t pixel_bytes = 0;
};

class FrameBuffer {
public:
    explicit FrameBuffer(std::size_t capacity);

    enum class Outcome {
        kAdded,     // a new pts
        kReplaced,  // same pts, higher index (frames re-sent after an interrupt)
        kStale,     // same pts, not a higher index: ignored
    };
    struct InsertResult {
        Outcome outcome;
        // Frames forgotten to make room whose pts was after `shown_up_to_pts`: no playhead
        // had reached them yet, so they were never shown (counted as dropped).
        std::size_t evicted_unshown;
    };
    InsertResult insert(Frame frame, std::int64_t shown_up_to_pts);

    // The frame with the largest pts <= playhead_us (highest index for it); nullptr if none.
    const Frame* at(std::int64_t playhead_us) const;
    const Frame* newest() const;

    void clear() { frames_.clear(); }
    std::size_t size() const { return frames_.size(); }
    std::size_t capacity() const { return capacity_; }

private:
    std::size_t capacity_;
    std::map<std::int64_t, Frame> frames_;  // by pts_us
};

}  // namespace lpm
