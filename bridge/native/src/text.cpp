#include "text.hpp"

#include <cstdint>
#include <cstring>

namespace lpm {

namespace {

// Length of the UTF-8 sequence starting at text[i] (1..4), or 0 when it is malformed.
std::size_t sequence_length(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[k]); };
    const std::uint8_t lead = byte(i);
    if (lead < 0x80) {
        return 1;
    }
    std::size_t length = 0;
    std::uint32_t code = 0;
    if ((lead & 0xE0) == 0xC0) {
        length = 2;
        code = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
        length = 3;
        code = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
        length = 4;
        code = lead & 0x07u;
    } else {
        return 0;
    }
    if (i + length > text.size()) {
        return 0;
    }
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) {
            return 0;
        }
        code = (code << 6) | (byte(i + k) & 0x3Fu);
    }
    static constexpr std::uint32_t kMinimum[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kMinimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
        return 0;
    }
    return length;
}

}  // namespace

std::optional<std::size_t> utf8_length(std::string_view text) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t length = sequence_length(text, i);
        if (length == 0) {
            return std::nullopt;
        }
        i += length;
        ++count;
    }
    return count;
}

void copy_truncated(std::string_view text, char* out, std::size_t capacity) {
    if (out == nullptr || capacity == 0) {
        return;
    }
    std::size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
    // Step back over continuation bytes so a multi-byte character is never cut in half.
    if (n < text.size()) {
        while (n > 0 && (static_cast<std::uint8_t>(text[n]) & 0xC0) == 0x80) {
            --n;
        }
    }
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
}

}  // namespace lpm
