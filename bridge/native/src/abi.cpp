// ABI self-description: version, struct sizes by name, status and curve names. The layout
// checks below pin the structs of lpm_client.h for the 64-bit targets the plugins ship on
// (x86_64 and arm64; Windows x64 has the same layout), so a change that would break a binding
// (the C# P/Invoke structs) fails the build.
#include <cstddef>
#include <cstring>

#include "codec.hpp"
#include "lpm_client.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__aarch64__) || defined(_M_ARM64)
static_assert(sizeof(lpm_client_config) == 56, "lpm_client_config layout");
static_assert(offsetof(lpm_client_config, endpoint) == 8, "lpm_client_config layout");
static_assert(offsetof(lpm_client_config, client_secret_key) == 32, "lpm_client_config layout");
static_assert(offsetof(lpm_client_config, keepalive_ms) == 40, "lpm_client_config layout");
static_assert(offsetof(lpm_client_config, frame_buffer) == 52, "lpm_client_config layout");

static_assert(sizeof(lpm_session_options) == 48, "lpm_session_options layout");
static_assert(offsetof(lpm_session_options, character) == 8, "lpm_session_options layout");
static_assert(offsetof(lpm_session_options, prompt) == 16, "lpm_session_options layout");
static_assert(offsetof(lpm_session_options, width) == 24, "lpm_session_options layout");
static_assert(offsetof(lpm_session_options, seed) == 40, "lpm_session_options layout");

static_assert(sizeof(lpm_session_info) == 160, "lpm_session_info layout");
static_assert(offsetof(lpm_session_info, fps) == 16, "lpm_session_info layout");
static_assert(offsetof(lpm_session_info, latency_us) == 24, "lpm_session_info layout");
static_assert(offsetof(lpm_session_info, session_id) == 32, "lpm_session_info layout");
static_assert(offsetof(lpm_session_info, character) == 96, "lpm_session_info layout");

static_assert(sizeof(lpm_frame_info) == 280, "lpm_frame_info layout");
static_assert(offsetof(lpm_frame_info, state) == 12, "lpm_frame_info layout");
static_assert(offsetof(lpm_frame_info, index) == 16, "lpm_frame_info layout");
static_assert(offsetof(lpm_frame_info, pts_us) == 24, "lpm_frame_info layout");
static_assert(offsetof(lpm_frame_info, curves) == 32, "lpm_frame_info layout");

static_assert(sizeof(lpm_event) == 360, "lpm_event layout");
static_assert(offsetof(lpm_event, session) == 8, "lpm_event layout");
static_assert(offsetof(lpm_event, state) == 16, "lpm_event layout");
static_assert(offsetof(lpm_event, pts_us) == 24, "lpm_event layout");
static_assert(offsetof(lpm_event, value) == 32, "lpm_event layout");
static_assert(offsetof(lpm_event, name) == 40, "lpm_event layout");
static_assert(offsetof(lpm_event, text) == 104, "lpm_event layout");

static_assert(sizeof(lpm_stats) == 56, "lpm_stats layout");
static_assert(offsetof(lpm_stats, fps) == 12, "lpm_stats layout");
static_assert(offsetof(lpm_stats, frames_received) == 24, "lpm_stats layout");
static_assert(offsetof(lpm_stats, events_dropped) == 48, "lpm_stats layout");
#endif

static_assert(LPM_NUM_CURVES == lpm::kNumCurves, "curve count");
static_assert(sizeof(lpm_session) == 4, "lpm_session is a uint32_t handle");

extern "C" {

LPM_API int32_t lpm_abi_version(void) { return LPM_ABI_VERSION; }

LPM_API uint32_t lpm_abi_struct_size(const char* struct_name) {
    if (struct_name == nullptr) {
        return 0;
    }
    struct Entry {
        const char* name;
        uint32_t size;
    };
    static const Entry kSizes[] = {
        {"lpm_client_config", sizeof(lpm_client_config)},
        {"lpm_session_options", sizeof(lpm_session_options)},
        {"lpm_session_info", sizeof(lpm_session_info)},
        {"lpm_frame_info", sizeof(lpm_frame_info)},
        {"lpm_event", sizeof(lpm_event)},
        {"lpm_stats", sizeof(lpm_stats)},
    };
    for (const Entry& e : kSizes) {
        if (std::strcmp(e.name, struct_name) == 0) {
            return e.size;
        }
    }
    return 0;
}

LPM_API const char* lpm_status_name(int32_t status) {
    switch (status) {
        case LPM_OK: return "LPM_OK";
        case LPM_NO_DATA: return "LPM_NO_DATA";
        case LPM_ERR_INVALID_ARGUMENT: return "LPM_ERR_INVALID_ARGUMENT";
        case LPM_ERR_UNKNOWN_SESSION: return "LPM_ERR_UNKNOWN_SESSION";
        case LPM_ERR_NOT_READY: return "LPM_ERR_NOT_READY";
        case LPM_ERR_QUEUE_FULL: return "LPM_ERR_QUEUE_FULL";
        case LPM_ERR_BUFFER_TOO_SMALL: return "LPM_ERR_BUFFER_TOO_SMALL";
        case LPM_ERR_NOT_CONNECTED: return "LPM_ERR_NOT_CONNECTED";
        case LPM_ERR_LIMIT: return "LPM_ERR_LIMIT";
        case LPM_ERR_INTERNAL: return "LPM_ERR_INTERNAL";
        default: return "LPM_UNKNOWN_STATUS";
    }
}

LPM_API const char* lpm_curve_name(int32_t index) { return lpm::curve_name(index); }

}  // extern "C"
