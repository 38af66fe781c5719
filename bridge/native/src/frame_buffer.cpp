#include "frame_buffer.hpp"

#include <iterator>
#include <utility>

namespace lpm {

FrameBuffer::FrameBuffer(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

FrameBuffer::InsertResult FrameBuffer::insert(Frame frame, std::int64_t shown_up_to_pts) {
    InsertResult result{Outcome::kAdded, 0};
    auto found = frames_.find(frame.pts_us);
    if (found != frames_.end()) {
        if (frame.index <= found->second.index) {
            result.outcome = Outcome::kStale;
            return result;
        }
        found->second = std::move(frame);
        result.outcome = Outcome::kReplaced;
        return result;
    }
    frames_.emplace(frame.pts_us, std::move(frame));
    while (frames_.size() > capacity_) {
        auto oldest = frames_.begin();
        if (oldest->first > shown_up_to_pts) {
            ++result.evicted_unshown;
        }
        frames_.erase(oldest);
    }
    return result;
}

const Frame* FrameBuffer::at(std::int64_t playhead_us) const {
    auto after = frames_.upper_bound(playhead_us);  // first pts > playhead
    if (after == frames_.begin()) {
        return nullptr;
    }
    return &std::prev(after)->second;
}

const Frame* FrameBuffer::newest() const {
    return frames_.empty() ? nullptr : &frames_.rbegin()->second;
}

}  // namespace lpm
