// Minimal RIFF/WAVE reader for the example and the tests: 16-bit PCM, 32-bit float, and
// WAVE_FORMAT_EXTENSIBLE holding either. Samples come back interleaved float32 in -1..1.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace lpm_example {

struct WavAudio {
    std::vector<float> samples;  // interleaved, frames() * channels
    std::uint32_t sample_rate = 0;
    std::uint32_t channels = 0;
    std::size_t frames() const { return channels == 0 ? 0 : samples.size() / channels; }
};

inline bool read_wav(const std::string& path, WavAudio& out, std::string& problem) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        problem = "cannot open " + path;
        return false;
    }
    const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(file)),
                                           std::istreambuf_iterator<char>());
    const auto u16 = [&](std::size_t at) {
        return static_cast<std::uint32_t>(bytes[at] | (bytes[at + 1] << 8));
    };
    const auto u32 = [&](std::size_t at) {
        return u16(at) | (u16(at + 2) << 16);
    };
    if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0 ||
        std::memcmp(bytes.data() + 8, "WAVE", 4) != 0) {
        problem = path + " is not a RIFF/WAVE file";
        return false;
    }
    std::uint32_t format = 0, bits = 0;
    std::size_t data_at = 0, data_size = 0;
    for (std::size_t at = 12; at + 8 <= bytes.size();) {
        const std::uint32_t size = u32(at + 4);
        const std::size_t body = at + 8;
        if (body + size > bytes.size()) {
            break;
        }
        if (std::memcmp(bytes.data() + at, "fmt ", 4) == 0 && size >= 16) {
            format = u16(body);
            out.channels = u16(body + 2);
            out.sample_rate = u32(body + 4);
            bits = u16(body + 14);
            if (format == 0xFFFE && size >= 40) {
                format = u16(body + 24);  // the sub-format GUID starts with the format tag
            }
        } else if (std::memcmp(bytes.data() + at, "data", 4) == 0) {
            data_at = body;
            data_size = size;
        }
        at = body + size + (size & 1u);  // chunks are padded to an even size
    }
    if (out.channels == 0 || out.sample_rate == 0 || data_at == 0) {
        problem = path + ": no fmt or data chunk";
        return false;
    }
    if (format == 1 && bits == 16) {
        out.samples.resize(data_size / 2);
        for (std::size_t i = 0; i < out.samples.size(); ++i) {
            const auto v = static_cast<std::int16_t>(u16(data_at + 2 * i));
            out.samples[i] = static_cast<float>(v) / 32768.0f;
        }
    } else if (format == 3 && bits == 32) {
        out.samples.resize(data_size / 4);
        for (std::size_t i = 0; i < out.samples.size(); ++i) {
            const std::uint32_t raw = u32(data_at + 4 * i);
            std::memcpy(&out.samples[i], &raw, sizeof(float));
        }
    } else {
        problem = path + ": only 16-bit PCM and 32-bit float WAV are read";
        return false;
    }
    out.samples.resize(out.frames() * out.channels);
    return true;
}

}  // namespace lpm_example
