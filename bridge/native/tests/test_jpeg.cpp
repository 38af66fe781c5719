// JPEG frames (PROTOCOL.md section 6): an RGB JPEG plus a greyscale alpha JPEG become one
// straight-alpha RGBA image. Without libjpeg-turbo the decoder says it is unavailable.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "jpeg_decoder.hpp"

#if defined(LPM_HAVE_TURBOJPEG)
#include <turbojpeg.h>

namespace {

std::vector<std::uint8_t> compress(const std::vector<std::uint8_t>& pixels, int width, int height,
                                   int format, int subsampling) {
    tjhandle handle = tjInitCompress();
    REQUIRE(handle != nullptr);
    unsigned char* jpeg = nullptr;
    unsigned long size = 0;
    REQUIRE(tjCompress2(handle, pixels.data(), width, 0, height, format, &jpeg, &size,
                        subsampling, 95, 0) == 0);
    std::vector<std::uint8_t> out(jpeg, jpeg + size);
    tjFree(jpeg);
    tjDestroy(handle);
    return out;
}

}  // namespace

TEST_CASE("an RGB JPEG and an alpha JPEG decode to RGBA", "[jpeg]") {
    const int w = 32, h = 24;
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w * h * 3));
    std::vector<std::uint8_t> alpha(static_cast<std::size_t>(w * h));
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            const std::size_t i = static_cast<std::size_t>(y * w + x);
            rgb[3 * i + 0] = static_cast<std::uint8_t>(x * 8);
            rgb[3 * i + 1] = static_cast<std::uint8_t>(y * 10);
            rgb[3 * i + 2] = 128;
            alpha[i] = x < w / 2 ? 0 : 255;
        }
    }
    const auto rgb_jpeg = compress(rgb, w, h, TJPF_RGB, TJSAMP_444);
    const auto alpha_jpeg = compress(alpha, w, h, TJPF_GRAY, TJSAMP_GRAY);

    lpm::JpegDecoder decoder;
    REQUIRE(lpm::JpegDecoder::available());
    std::vector<std::uint8_t> rgba;
    std::string problem;
    REQUIRE(decoder.decode(rgb_jpeg.data(), rgb_jpeg.size(), alpha_jpeg.data(),
                           alpha_jpeg.size(), w, h, rgba, &problem));
    REQUIRE(rgba.size() == static_cast<std::size_t>(w * h * 4));
    int worst = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(w * h); ++i) {
        for (int c = 0; c < 3; ++c) {
            worst = std::max(worst, std::abs(rgba[4 * i + static_cast<std::size_t>(c)] -
                                             rgb[3 * i + static_cast<std::size_t>(c)]));
        }
        worst = std::max(worst, std::abs(rgba[4 * i + 3] - alpha[i]) / 4);  // edge ringing
    }
    CHECK(worst < 24);  // lossy, but the same picture
    CHECK(rgba[3] < 16);                             // left half transparent
    CHECK(rgba[4 * static_cast<std::size_t>(w - 1) + 3] > 240);  // right half opaque

    // A size that does not match the frame header, and bytes that are not a JPEG, are refused.
    CHECK_FALSE(decoder.decode(rgb_jpeg.data(), rgb_jpeg.size(), alpha_jpeg.data(),
                               alpha_jpeg.size(), w + 1, h, rgba, &problem));
    const std::uint8_t junk[] = {1, 2, 3, 4, 5};
    CHECK_FALSE(decoder.decode(junk, sizeof(junk), alpha_jpeg.data(), alpha_jpeg.size(), w, h,
                               rgba, &problem));
    CHECK_FALSE(problem.empty());
}

#else

TEST_CASE("without libjpeg-turbo JPEG is reported unavailable", "[jpeg]") {
    CHECK_FALSE(lpm::JpegDecoder::available());
    lpm::JpegDecoder decoder;
    std::vector<std::uint8_t> rgba;
    const std::uint8_t junk[] = {1};
    CHECK_FALSE(decoder.decode(junk, 1, junk, 1, 16, 16, rgba, nullptr));
}

#endif
