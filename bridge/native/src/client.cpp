// The C ABI of lpm_client.h. Every entry point validates its arguments, takes the client's
// mutex only to copy data in or out, and catches everything: no exception crosses the boundary.
// Network work is queued for the I/O thread (io_thread.cpp) and the caller never waits on it.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "client_state.hpp"
#include "io_thread.hpp"
#include "jpeg_decoder.hpp"
#include "lpm_client.h"
#include "text.hpp"

struct lpm_client {
    explicit lpm_client(lpm::ClientConfig config_)
        : config(std::move(config_)), context(1), waker(context),
          io(config, context, shared, waker) {}

    ~lpm_client() {
        {
            std::lock_guard<std::mutex> lock(shared.mutex);
            shared.stopping = true;
        }
        waker.wake();
        io.join();
    }

    lpm_client(const lpm_client&) = delete;
    lpm_client& operator=(const lpm_client&) = delete;

    // Declaration order is destruction order reversed: the thread goes before its sockets'
    // context.
    lpm::ClientConfig config;
    zmq::context_t context;
    lpm::SharedState shared;
    lpm::Waker waker;
    lpm::IoThread io;
};

namespace {

using lpm::Clock;
using Lock = std::lock_guard<std::mutex>;

constexpr uint32_t kDefaultKeepaliveMs = 1000;
constexpr uint32_t kDefaultTimeoutMs = 3000;
constexpr uint32_t kDefaultAudioQueueMs = 2000;
constexpr uint32_t kDefaultFrameBuffer = 64;
constexpr uint32_t kMaxFrameBuffer = 4096;
constexpr std::size_t kZ85KeyChars = 40;

// Runs `body`, turning any exception into a status code.
template <class Body>
int32_t guarded(Body&& body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return LPM_ERR_INTERNAL;
    } catch (...) {
        return LPM_ERR_INTERNAL;
    }
}

template <class T>
bool valid_struct(const T* p) {
    return p != nullptr && p->struct_size == sizeof(T);
}

lpm::Session* find_session(lpm_client* client, lpm_session handle) {
    auto it = client->shared.sessions.find(handle);
    return it == client->shared.sessions.end() ? nullptr : it->second.get();
}

// A text argument: NULL allowed as "" when `optional`; UTF-8; at most `max_chars` code points.
// Returns LPM_OK, LPM_ERR_INVALID_ARGUMENT (bad UTF-8, NULL) or LPM_ERR_LIMIT (too long).
int32_t check_text(const char* text, std::size_t max_chars, bool optional) {
    if (text == nullptr) {
        return optional ? LPM_OK : LPM_ERR_INVALID_ARGUMENT;
    }
    const std::optional<std::size_t> chars = lpm::utf8_length(text);
    if (!chars) {
        return LPM_ERR_INVALID_ARGUMENT;
    }
    return *chars > max_chars ? LPM_ERR_LIMIT : LPM_OK;
}

bool valid_z85_key(const char* key) {
    if (key == nullptr || std::strlen(key) != kZ85KeyChars) {
        return false;
    }
    static const char kAlphabet[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    for (const char* c = key; *c != '\0'; ++c) {
        if (std::strchr(kAlphabet, *c) == nullptr) {
            return false;
        }
    }
    return true;
}

bool valid_character_name(const char* name) {
    const std::size_t n = std::strlen(name);
    if (n == 0) {
        return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
        const char c = name[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

int32_t push_audio(lpm_client* client, lpm_session session, const float* samples,
                   uint32_t frames, uint32_t channels, uint32_t sample_rate,
                   lpm::AudioStream stream) {
    if (client == nullptr || channels == 0 || channels > lpm::kMaxMixdownChannels ||
        !lpm::is_supported_sample_rate(sample_rate) || (samples == nullptr && frames > 0)) {
        return LPM_ERR_INVALID_ARGUMENT;
    }
    const std::int64_t duration_us =
        static_cast<std::int64_t>(frames) * 1000000 / static_cast<std::int64_t>(sample_rate);
    if (duration_us > client->config.audio_queue_us) {
        // Can never fit: refuse before copying (a mistaken length must not allocate gigabytes).
        Lock lock(client->shared.mutex);
        lpm::Session* s = find_session(client, session);
        if (s == nullptr) {
            return LPM_ERR_UNKNOWN_SESSION;
        }
        if (s->failed) {
            return LPM_ERR_NOT_READY;
        }
        s->audio_dropped_us += duration_us;
        return LPM_ERR_QUEUE_FULL;
    }
    // Mixdown, NaN check and packetizing happen before the lock: only the enqueue is inside.
    std::vector<float> mono;
    if (!lpm::mixdown_to_mono(samples, frames, channels, mono)) {
        return LPM_ERR_INVALID_ARGUMENT;  // NaN or Inf: nothing is sent
    }
    std::vector<lpm::AudioPacket> packets = lpm::packetize(mono, sample_rate, Clock::now());
    {
        Lock lock(client->shared.mutex);
        lpm::Session* s = find_session(client, session);
        if (s == nullptr) {
            return LPM_ERR_UNKNOWN_SESSION;
        }
        if (s->failed) {
            return LPM_ERR_NOT_READY;
        }
        if (packets.empty()) {
            return LPM_OK;
        }
        lpm::AudioQueue& queue = stream == lpm::AudioStream::kSpeak ? s->speak : s->listen;
        if (!queue.push(std::move(packets))) {
            s->audio_dropped_us += duration_us;
            return LPM_ERR_QUEUE_FULL;
        }
    }
    client->waker.wake();
    return LPM_OK;
}

int32_t queue_control(lpm_client* client, lpm_session session, lpm::ControlOp op) {
    {
        Lock lock(client->shared.mutex);
        lpm::Session* s = find_session(client, session);
        if (s == nullptr) {
            return LPM_ERR_UNKNOWN_SESSION;
        }
        if (s->failed) {
            return LPM_ERR_NOT_READY;
        }
        if (s->controls.size() >= lpm::kMaxControlOps) {
            return LPM_ERR_QUEUE_FULL;
        }
        if (op.kind == lpm::ControlOp::Kind::kSetPrompt) {
            s->options.prompt = op.text;  // a re-created session starts with the latest prompt
        } else if (op.kind == lpm::ControlOp::Kind::kInterrupt) {
            s->speak.clear();  // the interrupted line's unsent audio goes too
        }
        s->controls.push_back(std::move(op));
    }
    client->waker.wake();
    return LPM_OK;
}

// poll (rgba may be NULL) and borrow (out_borrowed set) share this.
int32_t take_frame(lpm_client* client, lpm_session session, int64_t playhead_us,
                   lpm_frame_info* out_info, uint8_t* rgba, size_t rgba_capacity,
                   const uint8_t** out_borrowed) {
    std::shared_ptr<const uint8_t> pixels;
    std::size_t bytes = 0;
    {
        Lock lock(client->shared.mutex);
        lpm::Session* s = find_session(client, session);
        if (s == nullptr) {
            return LPM_ERR_UNKNOWN_SESSION;
        }
        if (!s->has_info) {
            return LPM_NO_DATA;  // no frame can exist before the session is ready
        }
        const int64_t playhead =
            playhead_us == LPM_PLAYHEAD_AUTO
                ? s->timeline_now_us(Clock::now()) - s->info.latency_us
                : playhead_us;
        const lpm::Frame* f = s->frames.at(playhead);
        if (f == nullptr || f->index == s->shown_index) {
            return LPM_NO_DATA;
        }
        if (rgba != nullptr && rgba_capacity < f->pixel_bytes) {
            return LPM_ERR_BUFFER_TOO_SMALL;
        }
        out_info->width = f->width;
        out_info->height = f->height;
        out_info->state = static_cast<int32_t>(f->state);
        out_info->index = f->index;
        out_info->pts_us = f->pts_us;
        std::memcpy(out_info->curves, f->curves.data(), sizeof(out_info->curves));
        s->shown_index = f->index;
        s->shown_pts = f->pts_us;
        pixels = f->pixels;
        bytes = f->pixel_bytes;
        s->borrowed = out_borrowed != nullptr ? pixels : nullptr;
    }
    if (out_borrowed != nullptr) {
        *out_borrowed = pixels.get();
    } else if (rgba != nullptr && pixels) {
        std::memcpy(rgba, pixels.get(), bytes);  // immutable shared pixels: no lock needed
    }
    return LPM_OK;
}

}  // namespace

extern "C" {

// --- Client ----------------------------------------------------------------------------------

LPM_API int32_t lpm_client_create(const lpm_client_config* config, lpm_client** out_client) {
    return guarded([&]() -> int32_t {
        if (out_client == nullptr) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        *out_client = nullptr;
        if (!valid_struct(config) || config->endpoint == nullptr || config->endpoint[0] == '\0') {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        lpm::ClientConfig cfg;
        cfg.endpoint = config->endpoint;
        if (config->server_public_key != nullptr) {
            if (!valid_z85_key(config->server_public_key) ||
                !valid_z85_key(config->client_public_key) ||
                !valid_z85_key(config->client_secret_key) || zmq_has("curve") == 0) {
                return LPM_ERR_INVALID_ARGUMENT;
            }
            cfg.server_public_key = config->server_public_key;
            cfg.client_public_key = config->client_public_key;
            cfg.client_secret_key = config->client_secret_key;
        } else if (config->client_public_key != nullptr || config->client_secret_key != nullptr) {
            return LPM_ERR_INVALID_ARGUMENT;  // client keys mean nothing without the server's
        }
        const uint32_t keepalive = config->keepalive_ms != 0 ? config->keepalive_ms
                                                             : kDefaultKeepaliveMs;
        const uint32_t timeout = config->timeout_ms != 0 ? config->timeout_ms : kDefaultTimeoutMs;
        if (timeout <= keepalive) {
            return LPM_ERR_INVALID_ARGUMENT;  // every ping interval would look like an outage
        }
        const uint32_t queue_ms = config->audio_queue_ms != 0 ? config->audio_queue_ms
                                                              : kDefaultAudioQueueMs;
        const uint32_t frames = config->frame_buffer != 0 ? config->frame_buffer
                                                          : kDefaultFrameBuffer;
        if (frames > kMaxFrameBuffer) {
            return LPM_ERR_LIMIT;
        }
        cfg.keepalive = std::chrono::milliseconds(keepalive);
        cfg.timeout = std::chrono::milliseconds(timeout);
        cfg.audio_queue_us = static_cast<std::int64_t>(queue_ms) * 1000;
        cfg.frame_buffer = frames;
        std::unique_ptr<lpm_client> client;
        try {
            client = std::make_unique<lpm_client>(std::move(cfg));
        } catch (const zmq::error_t& e) {
            // A malformed endpoint or an unusable key is the caller's; anything else is ours.
            const int n = e.num();
            return n == EINVAL || n == EPROTONOSUPPORT || n == ENOCOMPATPROTO
                       ? LPM_ERR_INVALID_ARGUMENT
                       : LPM_ERR_INTERNAL;
        }
        client->io.start();
        *out_client = client.release();
        return LPM_OK;
    });
}

LPM_API void lpm_client_destroy(lpm_client* client) {
    if (client == nullptr) {
        return;
    }
    try {
        delete client;
    } catch (...) {
        // Nothing can be reported from here; the thread is joined by then.
    }
}

LPM_API int32_t lpm_client_poll_event(lpm_client* client, lpm_event* out_event) {
    return guarded([&]() -> int32_t {
        if (client == nullptr || !valid_struct(out_event)) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        Lock lock(client->shared.mutex);
        return client->shared.events.pop(*out_event) ? LPM_OK : LPM_NO_DATA;
    });
}

LPM_API int32_t lpm_client_get_stats(lpm_client* client, lpm_session session, lpm_stats* out) {
    return guarded([&]() -> int32_t {
        if (client == nullptr || !valid_struct(out)) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        const Clock::time_point now = Clock::now();
        Lock lock(client->shared.mutex);
        const lpm::SharedState& shared = client->shared;
        lpm_stats stats;
        std::memset(&stats, 0, sizeof(stats));
        stats.struct_size = sizeof(lpm_stats);
        stats.connected = shared.connected ? 1 : 0;
        stats.reconnects = shared.reconnects;
        stats.rtt_ms = shared.rtt_ms;
        stats.events_dropped = shared.events.dropped();
        double fps = 0.0;
        int64_t audio_dropped_us = 0;
        int64_t latency_us = 0;
        const auto add = [&](const lpm::Session& s) {
            fps += s.arrivals.per_second(now);
            stats.frames_received += s.frames_received;
            stats.frames_dropped += s.frames_dropped;
            audio_dropped_us += s.audio_dropped_us;
            latency_us = std::max(latency_us, s.info.latency_us);
        };
        if (session != 0) {
            const lpm::Session* s = find_session(client, session);
            if (s == nullptr) {
                return LPM_ERR_UNKNOWN_SESSION;
            }
            add(*s);
        } else {
            for (const auto& entry : shared.sessions) {
                add(*entry.second);  // client-wide: totals over the open sessions
            }
        }
        stats.fps = static_cast<float>(fps);
        stats.latency_ms = static_cast<float>(latency_us) / 1000.0f;
        stats.audio_dropped_ms = static_cast<uint64_t>(audio_dropped_us / 1000);
        *out = stats;
        return LPM_OK;
    });
}

LPM_API int32_t lpm_client_get_characters(lpm_client* client, char* buffer, size_t capacity,
                                          size_t* needed) {
    return guarded([&]() -> int32_t {
        if (client == nullptr || (buffer == nullptr && capacity > 0)) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        std::string joined;
        bool known = false;
        {
            Lock lock(client->shared.mutex);
            known = client->shared.characters_known;
            for (const std::string& id : client->shared.characters) {
                if (!joined.empty()) {
                    joined += '\n';
                }
                joined += id;
            }
        }
        if (needed != nullptr) {
            *needed = joined.size() + 1;
        }
        if (capacity > 0) {
            buffer[0] = '\0';
        }
        if (!known) {
            return LPM_NO_DATA;  // not received yet: LPM_EVENT_CHARACTERS says when
        }
        if (capacity < joined.size() + 1) {
            return LPM_ERR_BUFFER_TOO_SMALL;
        }
        std::memcpy(buffer, joined.c_str(), joined.size() + 1);
        return LPM_OK;
    });
}

LPM_API int32_t lpm_client_prepare_character(lpm_client* client, const char* name,
                                             const uint8_t* image, size_t image_bytes) {
    return guarded([&]() -> int32_t {
        if (client == nullptr || name == nullptr || image == nullptr || image_bytes == 0) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        if (!valid_character_name(name)) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        if (std::strlen(name) > lpm::kMaxIdChars || image_bytes > lpm::kMaxImageBytes) {
            return LPM_ERR_LIMIT;
        }
        lpm::PrepareRequest request;
        request.name = name;
        request.image.assign(image, image + image_bytes);  // copied before the lock
        {
            Lock lock(client->shared.mutex);
            if (client->shared.prepares.size() >= lpm::kMaxPendingPrepares) {
                return LPM_ERR_QUEUE_FULL;
            }
            client->shared.prepares.push_back(std::move(request));
        }
        client->waker.wake();
        return LPM_OK;
    });
}

// --- Sessions --------------------------------------------------------------------------------

LPM_API int32_t lpm_session_create(lpm_client* client, const lpm_session_options* options,
                                   lpm_session* out_session) {
    return guarded([&]() -> int32_t {
        if (out_session != nullptr) {
            *out_session = 0;
        }
        if (client == nullptr || out_session == nullptr || !valid_struct(options)) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        int32_t status = check_text(options->character, lpm::kMaxIdChars, true);
        if (status != LPM_OK) {
            return status;
        }
        status = check_text(options->prompt, lpm::kMaxPromptChars, true);
        if (status != LPM_OK) {
            return status;
        }
        const auto valid_side = [](uint32_t side) {
            return side == 0 || (side >= lpm::kMinFrameSide && side <= lpm::kMaxFrameSide);
        };
        if (!valid_side(options->width) || !valid_side(options->height) ||
            options->encoding > LPM_ENCODING_JPEG || options->jpeg_quality > 100) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        if (options->encoding == LPM_ENCODING_JPEG && !lpm::JpegDecoder::available()) {
            return LPM_ERR_INVALID_ARGUMENT;  // built without libjpeg-turbo
        }
        lpm::SessionOptions opts;
        opts.character = options->character != nullptr ? options->character : "";
        opts.prompt = options->prompt != nullptr ? options->prompt : "";
        opts.width = options->width;
        opts.height = options->height;
        opts.encoding = static_cast<lpm::Encoding>(options->encoding);
        opts.jpeg_quality = options->jpeg_quality != 0 ? options->jpeg_quality : 85;
        opts.seed = options->seed;
        {
            Lock lock(client->shared.mutex);
            lpm::SharedState& shared = client->shared;
            if (shared.stopping) {
                return LPM_ERR_INVALID_ARGUMENT;
            }
            if (shared.sessions.size() >= lpm::kMaxSessions) {
                return LPM_ERR_LIMIT;
            }
            if (shared.next_handle == 0) {
                shared.next_handle = 1;  // 0 is never a valid handle
            }
            const lpm_session handle = shared.next_handle++;
            shared.sessions.emplace(
                handle, std::make_unique<lpm::Session>(handle, std::move(opts), client->config));
            *out_session = handle;
        }
        client->waker.wake();
        return LPM_OK;
    });
}

LPM_API int32_t lpm_session_close(lpm_client* client, lpm_session session) {
    return guarded([&]() -> int32_t {
        if (client == nullptr) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        {
            Lock lock(client->shared.mutex);
            auto it = client->shared.sessions.find(session);
            if (it == client->shared.sessions.end()) {
                return LPM_ERR_UNKNOWN_SESSION;
            }
            lpm::ClosingSession closing;
            closing.handle = session;
            closing.server_id = it->second->server_id;
            closing.sync_request = it->second->sync_request;
            client->shared.closing.push_back(std::move(closing));
            client->shared.sessions.erase(it);  // frees its frames and any borrowed pixels
        }
        client->waker.wake();
        return LPM_OK;
    });
}

LPM_API int32_t lpm_session_get_info(lpm_client* client, lpm_session session,
                                     lpm_session_info* out_info) {
    return guarded([&]() -> int32_t {
        if (client == nullptr || !valid_struct(out_info)) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        Lock lock(client->shared.mutex);
        const lpm::Session* s = find_session(client, session);
        if (s == nullptr) {
            return LPM_ERR_UNKNOWN_SESSION;
        }
        if (!s->has_info || s->failed) {
            return LPM_ERR_NOT_READY;
        }
        out_info->width = s->info.width;
        out_info->height = s->info.height;
        out_info->encoding = static_cast<uint32_t>(s->info.encoding);
        out_info->fps = static_cast<float>(s->info.fps);
        out_info->sample_rate = s->info.sample_rate;
        out_info->latency_us = s->info.latency_us;
        lpm::copy_truncated(s->info.session, out_info->session_id, sizeof(out_info->session_id));
        lpm::copy_truncated(s->info.character, out_info->character, sizeof(out_info->character));
        return LPM_OK;
    });
}

LPM_API int32_t lpm_session_timeline_now(lpm_client* client, lpm_session session,
                                         int64_t* out_us) {
    return guarded([&]() -> int32_t {
        if (client == nullptr || out_us == nullptr) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        Lock lock(client->shared.mutex);
        const lpm::Session* s = find_session(client, session);
        if (s == nullptr) {
            return LPM_ERR_UNKNOWN_SESSION;
        }
        if (!s->has_info) {
            return LPM_ERR_NOT_READY;
        }
        *out_us = s->timeline_now_us(Clock::now());
        return LPM_OK;
    });
}

LPM_API int32_t lpm_session_push_speak(lpm_client* client, lpm_session session,
                                       const float* samples, uint32_t frames, uint32_t channels,
                                       uint32_t sample_rate) {
    return guarded([&]() -> int32_t {
        return push_audio(client, session, samples, frames, channels, sample_rate,
                          lpm::AudioStream::kSpeak);
    });
}

LPM_API int32_t lpm_session_push_listen(lpm_client* client, lpm_session session,
                                        const float* samples, uint32_t frames, uint32_t channels,
                                        uint32_t sample_rate) {
    return guarded([&]() -> int32_t {
        return push_audio(client, session, samples, frames, channels, sample_rate,
                          lpm::AudioStream::kListen);
    });
}

LPM_API int32_t lpm_session_end_of_speech(lpm_client* client, lpm_session session) {
    return guarded([&]() -> int32_t {
        if (client == nullptr) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        {
            Lock lock(client->shared.mutex);
            lpm::Session* s = find_session(client, session);
            if (s == nullptr) {
                return LPM_ERR_UNKNOWN_SESSION;
            }
            if (s->failed) {
                return LPM_ERR_NOT_READY;
            }
            if (!s->speak.push_end_of_speech(Clock::now())) {
                return LPM_ERR_QUEUE_FULL;
            }
        }
        client->waker.wake();
        return LPM_OK;
    });
}

LPM_API int32_t lpm_session_set_prompt(lpm_client* client, lpm_session session,
                                       const char* prompt) {
    return guarded([&]() -> int32_t {
        if (client == nullptr) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        const int32_t status = check_text(prompt, lpm::kMaxPromptChars, true);
        if (status != LPM_OK) {
            return status;
        }
        lpm::ControlOp op;
        op.kind = lpm::ControlOp::Kind::kSetPrompt;
        op.text = prompt != nullptr ? prompt : "";
        return queue_control(client, session, std::move(op));
    });
}

LPM_API int32_t lpm_session_trigger_emote(lpm_client* client, lpm_session session,
                                          const char* emote, float intensity, float duration_s) {
    return guarded([&]() -> int32_t {
        if (client == nullptr || emote == nullptr || emote[0] == '\0') {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        const int32_t status = check_text(emote, lpm::kMaxPromptChars, false);
        if (status != LPM_OK) {
            return status;
        }
        // PROTOCOL.md section 5: intensity 0..1, duration 0.1..60 s.
        if (!std::isfinite(intensity) || intensity < 0.0f || intensity > 1.0f ||
            !std::isfinite(duration_s) || duration_s < 0.1f || duration_s > 60.0f) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        lpm::ControlOp op;
        op.kind = lpm::ControlOp::Kind::kTriggerEmote;
        op.text = emote;
        op.intensity = intensity;
        op.duration_s = duration_s;
        return queue_control(client, session, std::move(op));
    });
}

LPM_API int32_t lpm_session_interrupt(lpm_client* client, lpm_session session) {
    return guarded([&]() -> int32_t {
        if (client == nullptr) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        lpm::ControlOp op;
        op.kind = lpm::ControlOp::Kind::kInterrupt;
        return queue_control(client, session, std::move(op));
    });
}

// --- Frames ----------------------------------------------------------------------------------

LPM_API int32_t lpm_session_poll_frame(lpm_client* client, lpm_session session,
                                       int64_t playhead_us, lpm_frame_info* out_info,
                                       uint8_t* rgba, size_t rgba_capacity) {
    return guarded([&]() -> int32_t {
        if (client == nullptr || !valid_struct(out_info)) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        return take_frame(client, session, playhead_us, out_info, rgba, rgba_capacity, nullptr);
    });
}

LPM_API int32_t lpm_session_borrow_frame(lpm_client* client, lpm_session session,
                                         int64_t playhead_us, lpm_frame_info* out_info,
                                         const uint8_t** out_rgba) {
    return guarded([&]() -> int32_t {
        if (client == nullptr || !valid_struct(out_info) || out_rgba == nullptr) {
            return LPM_ERR_INVALID_ARGUMENT;
        }
        return take_frame(client, session, playhead_us, out_info, nullptr, 0, out_rgba);
    });
}

}  // extern "C"
