// UTF-8 helpers for the strings that cross the C ABI (prompts, ids, event texts).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace lpm {

// Number of Unicode code points in `text` (the protocol's string limits count code points);
// std::nullopt when `text` is not well-formed UTF-8 (overlong forms and surrogates refused).
std::optional<std::size_t> utf8_length(std::string_view text);

// Copies `text` into out[0..capacity) NUL-terminated, cut at a code point boundary when it does
// not fit. capacity 0 writes nothing.
void copy_truncated(std::string_view text, char* out, std::size_t capacity);

}  // namespace lpm
