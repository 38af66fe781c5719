// Test helper: builds msgpack maps the way the runtime's encoder does, to feed the decoder and
// to play the runtime in the fake-runtime tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include <msgpack.hpp>

namespace lpm_test {

struct Packer {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk{buffer};

    Packer& map(std::uint32_t n) { pk.pack_map(n); return *this; }
    Packer& array(std::uint32_t n) { pk.pack_array(n); return *this; }
    Packer& str(const std::string& s) { pk.pack(s); return *this; }
    Packer& i(std::int64_t v) { pk.pack_int64(v); return *this; }
    // A real float64 (packer::pack_double would write 1.0 as the int 1).
    Packer& f(double v) {
        std::uint64_t bits = 0;
        std::memcpy(&bits, &v, sizeof(bits));
        char bytes[9];
        bytes[0] = static_cast<char>(0xcb);
        for (int k = 0; k < 8; ++k) {
            bytes[1 + k] = static_cast<char>((bits >> (56 - 8 * k)) & 0xFFu);
        }
        buffer.write(bytes, sizeof(bytes));
        return *this;
    }
    Packer& b(bool v) {
        if (v) {
            pk.pack_true();
        } else {
            pk.pack_false();
        }
        return *this;
    }
    Packer& nil() { pk.pack_nil(); return *this; }
    Packer& bin(const std::string& bytes) {
        pk.pack_bin(static_cast<std::uint32_t>(bytes.size()));
        pk.pack_bin_body(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
        return *this;
    }
    std::string bytes() const { return std::string(buffer.data(), buffer.size()); }
};

}  // namespace lpm_test
