// Outgoing audio of one session stream (speak or listen), PROTOCOL.md sections 5 and 9.
//
// The caller's thread mixes its interleaved float32 down to mono and cuts it into packets of at
// most kMaxPacketMs (the protocol asks for 10-40 ms packets sent as they are produced); the I/O
// thread pops them in order. The queue is bounded in duration: a push that does not fit is
// refused whole. While a session is being resumed after a lost connection, audio older than the
// session latency L is dropped rather than sent late.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace lpm {

using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kMaxPacketMs = 40;
constexpr std::uint32_t kMaxMixdownChannels = 64;  // any layout a game engine hands over

// Averages `channels` interleaved channels of `frames` sample frames into `mono` (resized).
// false when any sample is NaN or +-Inf (nothing may be sent then, section 5).
bool mixdown_to_mono(const float* interleaved, std::size_t frames, std::uint32_t channels,
                     std::vector<float>& mono);

struct AudioPacket {
    std::vector<float> samples;  // mono float32, nominal range -1..1
    std::uint32_t sample_rate = 0;
    bool end_of_speech = false;  // a marker carrying no samples: send end_of_speech here
    Clock::time_point queued_at{};

    // Duration in microseconds (0 for a marker).
    std::int64_t duration_us() const;
};

// Samples per packet at `sample_rate`: kMaxPacketMs worth (all supported rates divide evenly).
std::size_t max_packet_samples(std::uint32_t sample_rate);

// Cuts mono samples into packets of at most max_packet_samples(sample_rate), in order.
std::vector<AudioPacket> packetize(const std::vector<float>& mono, std::uint32_t sample_rate,
                                   Clock::time_point now);

class AudioQueue {
public:
    // capacity_us: most audio held at once; max_entries bounds markers and tiny packets too.
    explicit AudioQueue(std::int64_t capacity_us, std::size_t max_entries = 4096);

    // All packets or none: false when they would exceed the capacity.
    bool push(std::vector<AudioPacket>&& packets);
    bool push_end_of_speech(Clock::time_point now);

    bool empty() const { return packets_.empty(); }
    std::size_t entries() const { return packets_.size(); }
    AudioPacket pop();  // precondition: !empty()

    // Drops audio packets queued before `cutoff` (markers are kept); returns the dropped µs.
    std::int64_t drop_queued_before(Clock::time_point cutoff);
    // Empties the queue; returns the discarded µs of audio.
    std::int64_t clear();

    std::int64_t queued_us() const { return queued_us_; }
    std::int64_t capacity_us() const { return capacity_us_; }

private:
    std::deque<AudioPacket> packets_;
    std::int64_t queued_us_ = 0;
    std::int64_t capacity_us_;
    std::size_t max_entries_;
};

}  // namespace lpm
