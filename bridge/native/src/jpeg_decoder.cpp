#include "jpeg_decoder.hpp"

#if defined(LPM_HAVE_TURBOJPEG)
#include <turbojpeg.h>
#endif

namespace lpm {

#if defined(LPM_HAVE_TURBOJPEG)

namespace {

bool check_size(tjhandle handle, const std::uint8_t* data, std::size_t size,
                std::uint32_t width, std::uint32_t height, std::string* problem) {
    int w = 0, h = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(handle, data, static_cast<unsigned long>(size), &w, &h, &subsampling,
                            &colorspace) != 0) {
        if (problem != nullptr) *problem = std::string("JPEG header: ") + tjGetErrorStr2(handle);
        return false;
    }
    if (static_cast<std::uint32_t>(w) != width || static_cast<std::uint32_t>(h) != height) {
        if (problem != nullptr) *problem = "JPEG size does not match the frame header";
        return false;
    }
    return true;
}

}  // namespace

JpegDecoder::JpegDecoder() : handle_(tjInitDecompress()) {}

JpegDecoder::~JpegDecoder() {
    if (handle_ != nullptr) {
        tjDestroy(static_cast<tjhandle>(handle_));
    }
}

bool JpegDecoder::available() { return true; }

bool JpegDecoder::decode(const std::uint8_t* rgb, std::size_t rgb_size,
                         const std::uint8_t* alpha, std::size_t alpha_size,
                         std::uint32_t width, std::uint32_t height,
                         std::vector<std::uint8_t>& rgba, std::string* problem) {
    auto handle = static_cast<tjhandle>(handle_);
    if (handle == nullptr) {
        if (problem != nullptr) *problem = "TurboJPEG did not initialise";
        return false;
    }
    if (!check_size(handle, rgb, rgb_size, width, height, problem) ||
        !check_size(handle, alpha, alpha_size, width, height, problem)) {
        return false;
    }
    const std::size_t pixels = std::size_t{width} * height;
    rgba.resize(pixels * 4);
    plane_.resize(pixels);
    const int w = static_cast<int>(width), h = static_cast<int>(height);
    if (tjDecompress2(handle, rgb, static_cast<unsigned long>(rgb_size), rgba.data(), w, 0, h,
                      TJPF_RGBA, 0) != 0 ||
        tjDecompress2(handle, alpha, static_cast<unsigned long>(alpha_size), plane_.data(), w, 0,
                      h, TJPF_GRAY, 0) != 0) {
        if (problem != nullptr) *problem = std::string("JPEG decode: ") + tjGetErrorStr2(handle);
        return false;
    }
    for (std::size_t i = 0; i < pixels; ++i) {
        rgba[4 * i + 3] = plane_[i];
    }
    return true;
}

#else  // no libjpeg-turbo

JpegDecoder::JpegDecoder() = default;
JpegDecoder::~JpegDecoder() = default;

bool JpegDecoder::available() { return false; }

bool JpegDecoder::decode(const std::uint8_t*, std::size_t, const std::uint8_t*, std::size_t,
                         std::uint32_t, std::uint32_t, std::vector<std::uint8_t>&,
                         std::string* problem) {
    if (problem != nullptr) *problem = "built without JPEG support";
    return false;
}

#endif

}  // namespace lpm
