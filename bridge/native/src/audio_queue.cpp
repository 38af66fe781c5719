#include "audio_queue.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace lpm {

bool mixdown_to_mono(const float* interleaved, std::size_t frames, std::uint32_t channels,
                     std::vector<float>& mono) {
    mono.resize(frames);
    if (channels == 1) {
        for (std::size_t i = 0; i < frames; ++i) {
            if (!std::isfinite(interleaved[i])) {
                return false;
            }
            mono[i] = interleaved[i];
        }
        return true;
    }
    // Summed in double so that averaging many loud channels neither overflows nor loses bits.
    const double scale = 1.0 / static_cast<double>(channels);
    for (std::size_t i = 0; i < frames; ++i) {
        const float* frame = interleaved + i * channels;
        double sum = 0.0;
        for (std::uint32_t c = 0; c < channels; ++c) {
            if (!std::isfinite(frame[c])) {
                return false;
            }
            sum += frame[c];
        }
        mono[i] = static_cast<float>(sum * scale);
    }
    return true;
}

std::int64_t AudioPacket::duration_us() const {
    if (sample_rate == 0) {
        return 0;
    }
    return static_cast<std::int64_t>(samples.size()) * 1000000 /
           static_cast<std::int64_t>(sample_rate);
}

std::size_t max_packet_samples(std::uint32_t sample_rate) {
    return std::max<std::size_t>(1, std::size_t{sample_rate} * kMaxPacketMs / 1000);
}

std::vector<AudioPacket> packetize(const std::vector<float>& mono, std::uint32_t sample_rate,
                                   Clock::time_point now) {
    std::vector<AudioPacket> packets;
    const std::size_t step = max_packet_samples(sample_rate);
    packets.reserve((mono.size() + step - 1) / step);
    for (std::size_t start = 0; start < mono.size(); start += step) {
        const std::size_t end = std::min(mono.size(), start + step);
        AudioPacket packet;
        packet.samples.assign(mono.begin() + static_cast<std::ptrdiff_t>(start),
                              mono.begin() + static_cast<std::ptrdiff_t>(end));
        packet.sample_rate = sample_rate;
        packet.queued_at = now;
        packets.push_back(std::move(packet));
    }
    return packets;
}

AudioQueue::AudioQueue(std::int64_t capacity_us, std::size_t max_entries)
    : capacity_us_(capacity_us), max_entries_(max_entries) {}

bool AudioQueue::push(std::vector<AudioPacket>&& packets) {
    std::int64_t added = 0;
    for (const AudioPacket& p : packets) {
        added += p.duration_us();
    }
    if (queued_us_ + added > capacity_us_ || packets_.size() + packets.size() > max_entries_) {
        return false;
    }
    for (AudioPacket& p : packets) {
        packets_.push_back(std::move(p));
    }
    queued_us_ += added;
    return true;
}

bool AudioQueue::push_end_of_speech(Clock::time_point now) {
    if (packets_.size() >= max_entries_) {
        return false;
    }
    AudioPacket marker;
    marker.end_of_speech = true;
    marker.queued_at = now;
    packets_.push_back(std::move(marker));
    return true;
}

AudioPacket AudioQueue::pop() {
    AudioPacket packet = std::move(packets_.front());
    packets_.pop_front();
    queued_us_ -= packet.duration_us();
    return packet;
}

std::int64_t AudioQueue::drop_queued_before(Clock::time_point cutoff) {
    std::int64_t dropped = 0;
    auto keep = std::remove_if(packets_.begin(), packets_.end(), [&](const AudioPacket& p) {
        if (p.end_of_speech || p.queued_at >= cutoff) {
            return false;
        }
        dropped += p.duration_us();
        return true;
    });
    packets_.erase(keep, packets_.end());
    queued_us_ -= dropped;
    return dropped;
}

std::int64_t AudioQueue::clear() {
    const std::int64_t discarded = queued_us_;
    packets_.clear();
    queued_us_ = 0;
    return discarded;
}

}  // namespace lpm
