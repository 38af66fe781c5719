// Decodes JPEG frames (PROTOCOL.md section 6: part 0 a baseline JPEG of the RGB, part 1 a
// greyscale JPEG of the alpha plane) into straight-alpha RGBA. Built on libjpeg-turbo's
// TurboJPEG API when available (LPM_HAVE_TURBOJPEG); otherwise available() is false and the
// client refuses JPEG sessions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lpm {

class JpegDecoder {
public:
    JpegDecoder();
    ~JpegDecoder();
    JpegDecoder(const JpegDecoder&) = delete;
    JpegDecoder& operator=(const JpegDecoder&) = delete;

    static bool available();

    // rgba is resized to width*height*4. false (and `problem`) when either image does not
    // decode or is not width x height.
    bool decode(const std::uint8_t* rgb, std::size_t rgb_size, const std::uint8_t* alpha,
                std::size_t alpha_size, std::uint32_t width, std::uint32_t height,
                std::vector<std::uint8_t>& rgba, std::string* problem);

private:
    void* handle_ = nullptr;          // tjhandle
    std::vector<std::uint8_t> plane_; // decoded alpha, reused between frames
};

}  // namespace lpm
