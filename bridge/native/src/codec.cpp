#include "codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace lpm {

namespace {

constexpr std::uint32_t kSupportedRates[] = {8000,  11025, 16000, 22050,
                                             24000, 32000, 44100, 48000};

// Live Link Face CSV column order, ARKit camelCase names (PROTOCOL.md section 6).
constexpr const char* kCurveNames[kNumCurves] = {
    "eyeBlinkLeft",     "eyeLookDownLeft",   "eyeLookInLeft",     "eyeLookOutLeft",
    "eyeLookUpLeft",    "eyeSquintLeft",     "eyeWideLeft",       "eyeBlinkRight",
    "eyeLookDownRight", "eyeLookInRight",    "eyeLookOutRight",   "eyeLookUpRight",
    "eyeSquintRight",   "eyeWideRight",      "jawForward",        "jawRight",
    "jawLeft",          "jawOpen",           "mouthClose",        "mouthFunnel",
    "mouthPucker",      "mouthRight",        "mouthLeft",         "mouthSmileLeft",
    "mouthSmileRight",  "mouthFrownLeft",    "mouthFrownRight",   "mouthDimpleLeft",
    "mouthDimpleRight", "mouthStretchLeft",  "mouthStretchRight", "mouthRollLower",
    "mouthRollUpper",   "mouthShrugLower",   "mouthShrugUpper",   "mouthPressLeft",
    "mouthPressRight",  "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft",     "browDownRight",     "browInnerUp",
    "browOuterUpLeft",  "browOuterUpRight",  "cheekPuff",         "cheekSquintLeft",
    "cheekSquintRight", "noseSneerLeft",     "noseSneerRight",    "tongueOut",
    "headYaw",          "headPitch",         "headRoll",          "leftEyeYaw",
    "leftEyePitch",     "leftEyeRoll",       "rightEyeYaw",       "rightEyePitch",
    "rightEyeRoll",
};

// Packs a msgpack map whose number of pairs is known only at the end: pairs are packed into a
// body buffer, and finish() prefixes the map header. Integers get their smallest encoding.
class MapWriter {
public:
    // Every message starts with v, type and (when non-zero) id.
    MapWriter(std::string_view type, std::uint64_t id) : packer_(body_) {
        put_int("v", kProtocolVersion).put("type", type);
        if (id != 0) {
            put_uint("id", id);
        }
    }
    MapWriter(const MapWriter&) = delete;
    MapWriter& operator=(const MapWriter&) = delete;

    MapWriter& put(std::string_view key, std::string_view value) {
        pack_key(key);
        pack_string(value);
        return *this;
    }
    MapWriter& put(std::string_view key, const char* value) {
        return put(key, std::string_view(value));
    }
    MapWriter& put_int(std::string_view key, std::int64_t value) {
        pack_key(key);
        packer_.pack_int64(value);
        return *this;
    }
    MapWriter& put_uint(std::string_view key, std::uint64_t value) {
        pack_key(key);
        packer_.pack_uint64(value);
        return *this;
    }
    // Always a msgpack float64: packer::pack_double turns integral values (1.0) into ints.
    MapWriter& put_double(std::string_view key, double value) {
        pack_key(key);
        std::uint64_t bits = 0;
        std::memcpy(&bits, &value, sizeof(bits));
        char bytes[9];
        bytes[0] = static_cast<char>(0xcb);
        for (int i = 0; i < 8; ++i) {
            bytes[1 + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xFFu);
        }
        body_.write(bytes, sizeof(bytes));
        return *this;
    }

    std::string finish() {
        msgpack::sbuffer head;
        msgpack::packer<msgpack::sbuffer> packer(head);
        packer.pack_map(pairs_);
        std::string out;
        out.reserve(head.size() + body_.size());
        out.append(head.data(), head.size());
        out.append(body_.data(), body_.size());
        return out;
    }

private:
    void pack_key(std::string_view key) {
        pack_string(key);
        ++pairs_;
    }
    void pack_string(std::string_view s) {
        packer_.pack_str(static_cast<std::uint32_t>(s.size()));
        packer_.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
    }

    msgpack::sbuffer body_;
    msgpack::packer<msgpack::sbuffer> packer_;
    std::uint32_t pairs_ = 0;
};

bool key_equals(const msgpack::object& key, std::string_view name) {
    return key.type == msgpack::type::STR && key.via.str.size == name.size() &&
           std::memcmp(key.via.str.ptr, name.data(), name.size()) == 0;
}

bool fail(std::string* problem, std::string text) {
    if (problem != nullptr) {
        *problem = std::move(text);
    }
    return false;
}

bool read_u32(const HeaderMap& h, std::string_view key, std::uint32_t& out) {
    std::int64_t v = 0;
    if (!h.get_int(key, v) || v < 0 || v > std::numeric_limits<std::uint32_t>::max()) {
        return false;
    }
    out = static_cast<std::uint32_t>(v);
    return true;
}

bool read_encoding(const HeaderMap& h, Encoding& out) {
    std::string name;
    if (!h.get_str("encoding", name)) {
        return false;
    }
    if (name == "rgba8") {
        out = Encoding::kRgba8;
    } else if (name == "jpeg") {
        out = Encoding::kJpeg;
    } else {
        return false;
    }
    return true;
}

bool decode_session_info(const HeaderMap& h, SessionInfoFields& info, std::string* problem) {
    if (!h.get_str("session", info.session) || info.session.empty()) {
        return fail(problem, "session_info without 'session'");
    }
    h.get_str("character", info.character);
    if (!h.get_float("fps", info.fps) || !(info.fps > 0.0)) {
        return fail(problem, "session_info without a positive 'fps'");
    }
    if (!read_u32(h, "width", info.width) || !read_u32(h, "height", info.height)) {
        return fail(problem, "session_info without 'width'/'height'");
    }
    if (h.find("encoding") != nullptr && !read_encoding(h, info.encoding)) {
        return fail(problem, "session_info with an unknown 'encoding'");
    }
    if (!h.get_int("latency_us", info.latency_us) || info.latency_us < 0) {
        return fail(problem, "session_info without 'latency_us'");
    }
    if (!h.get_int("now_us", info.now_us)) {
        return fail(problem, "session_info without 'now_us'");
    }
    h.get_int("next_index", info.next_index);
    read_u32(h, "sample_rate", info.sample_rate);
    h.get_float("resume_timeout_s", info.resume_timeout_s);
    return true;
}

bool decode_frame(const HeaderMap& h, FrameHeader& frame, std::string* problem) {
    if (!h.get_str("session", frame.session) || frame.session.empty()) {
        return fail(problem, "frame without 'session'");
    }
    if (!h.get_int("index", frame.index) || !h.get_int("pts_us", frame.pts_us)) {
        return fail(problem, "frame without 'index'/'pts_us'");
    }
    if (!read_encoding(h, frame.encoding)) {
        return fail(problem, "frame without a known 'encoding'");
    }
    if (!read_u32(h, "width", frame.width) || !read_u32(h, "height", frame.height) ||
        frame.width == 0 || frame.height == 0 || frame.width > 16384 || frame.height > 16384) {
        return fail(problem, "frame without a valid 'width'/'height'");
    }
    const std::uint8_t* curves = nullptr;
    std::size_t curve_bytes = 0;
    if (!h.get_bin("curves", curves, curve_bytes) || curve_bytes != kCurveBytes) {
        return fail(problem, "frame without 244 bytes of 'curves'");
    }
    frame.curves = read_curves(curves);
    std::string state;
    frame.state = State::kIdle;
    if (h.get_str("state", state)) {
        frame.state = state_from_name(state).value_or(State::kIdle);
    }
    return true;
}

void decode_event(const HeaderMap& h, EventFields& event) {
    h.get_str("event", event.event);
    h.get_str("session", event.session);
    std::string state;
    if (h.get_str("state", state)) {
        event.state = state_from_name(state).value_or(State::kIdle);
    }
    std::int64_t v = 0;
    if (h.get_int("pts_us", v)) {
        event.pts_us = v;
    }
    if (h.get_int("duration_us", v)) {
        event.duration_us = v;
    }
    if (h.get_int("count", v)) {
        event.count = v;
    }
    h.get_str("reason", event.reason);
}

void decode_error(const HeaderMap& h, ErrorFields& error) {
    std::int64_t code = error_code::kInternal;
    h.get_int("code", code);
    // Section 1: a code this client does not know is treated as INTERNAL.
    error.code = code >= 1 && code <= error_code::kLast ? static_cast<std::int32_t>(code)
                                                         : error_code::kInternal;
    h.get_str("name", error.name);
    h.get_str("message", error.message);
    h.get_str("session", error.session);
}

void decode_characters(const HeaderMap& h, ServerMessage& out) {
    h.get_str("default", out.default_character);
    const msgpack::object* items = h.find("items");
    if (items == nullptr || items->type != msgpack::type::ARRAY) {
        return;
    }
    for (std::uint32_t i = 0; i < items->via.array.size; ++i) {
        const msgpack::object& item = items->via.array.ptr[i];
        if (item.type != msgpack::type::MAP) {
            continue;
        }
        for (std::uint32_t k = 0; k < item.via.map.size; ++k) {
            std::string id;
            if (key_equals(item.via.map.ptr[k].key, "id") && read_str(item.via.map.ptr[k].val, id)) {
                out.characters.push_back(std::move(id));
            }
        }
    }
}

void decode_character_prepared(const HeaderMap& h, ServerMessage& out) {
    const msgpack::object* character = h.find("character");
    if (character == nullptr || character->type != msgpack::type::MAP) {
        return;
    }
    for (std::uint32_t k = 0; k < character->via.map.size; ++k) {
        if (key_equals(character->via.map.ptr[k].key, "id")) {
            read_str(character->via.map.ptr[k].val, out.prepared_character);
        }
    }
}

}  // namespace

// --- small helpers ---------------------------------------------------------------------------

bool is_supported_sample_rate(std::uint32_t hz) {
    return std::find(std::begin(kSupportedRates), std::end(kSupportedRates), hz) !=
           std::end(kSupportedRates);
}

const char* curve_name(int index) {
    if (index < 0 || index >= static_cast<int>(kNumCurves)) {
        return nullptr;
    }
    return kCurveNames[index];
}

std::optional<State> state_from_name(std::string_view name) {
    if (name == "idle") return State::kIdle;
    if (name == "speak") return State::kSpeak;
    if (name == "listen") return State::kListen;
    if (name == "both") return State::kBoth;
    return std::nullopt;
}

std::array<float, kNumCurves> read_curves(const std::uint8_t* bytes) {
    std::array<float, kNumCurves> curves{};
    for (std::size_t i = 0; i < kNumCurves; ++i) {
        const std::uint8_t* b = bytes + 4 * i;
        const std::uint32_t bits = static_cast<std::uint32_t>(b[0]) |
                                   (static_cast<std::uint32_t>(b[1]) << 8) |
                                   (static_cast<std::uint32_t>(b[2]) << 16) |
                                   (static_cast<std::uint32_t>(b[3]) << 24);
        std::memcpy(&curves[i], &bits, sizeof(float));
    }
    return curves;
}

void write_f32_le(const float* samples, std::size_t count, std::uint8_t* out) {
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t bits = 0;
        std::memcpy(&bits, &samples[i], sizeof(float));
        out[4 * i + 0] = static_cast<std::uint8_t>(bits);
        out[4 * i + 1] = static_cast<std::uint8_t>(bits >> 8);
        out[4 * i + 2] = static_cast<std::uint8_t>(bits >> 16);
        out[4 * i + 3] = static_cast<std::uint8_t>(bits >> 24);
    }
}

// --- encoders --------------------------------------------------------------------------------

std::string encode_ping(std::uint64_t id, std::int64_t t_us) {
    return MapWriter("ping", id).put_int("t_us", t_us).finish();
}

std::string encode_list_characters(std::uint64_t id) {
    return MapWriter("list_characters", id).finish();
}

std::string encode_create_session(std::uint64_t id, const SessionOptions& options) {
    MapWriter w("create_session", id);
    if (!options.character.empty()) {
        w.put("character", options.character);
    }
    w.put("encoding", options.encoding == Encoding::kJpeg ? "jpeg" : "rgba8");
    if (options.width != 0) {
        w.put_uint("width", options.width);
    }
    if (options.height != 0) {
        w.put_uint("height", options.height);
    }
    if (options.encoding == Encoding::kJpeg) {
        w.put_uint("jpeg_quality", options.jpeg_quality);
    }
    if (!options.prompt.empty()) {
        w.put("prompt", options.prompt);
    }
    w.put_uint("seed", options.seed);
    return w.finish();
}

std::string encode_session_request(std::string_view type, std::uint64_t id,
                                   std::string_view session) {
    return MapWriter(type, id).put("session", session).finish();
}

std::string encode_audio(AudioStream stream, std::uint64_t id, std::string_view session,
                         std::uint32_t sample_rate, std::uint32_t channels,
                         std::string_view format, std::optional<std::int64_t> pts_us) {
    MapWriter w(stream == AudioStream::kSpeak ? "speak_audio" : "listen_audio", id);
    w.put("session", session)
        .put_uint("sample_rate", sample_rate)
        .put_uint("channels", channels)
        .put("format", format);
    if (pts_us.has_value()) {
        w.put_int("pts_us", *pts_us);
    }
    return w.finish();
}

std::string encode_set_prompt(std::uint64_t id, std::string_view session,
                              std::string_view prompt) {
    MapWriter w("set_prompt", id);
    w.put("session", session);
    if (!prompt.empty()) {
        w.put("prompt", prompt);
    }
    return w.finish();
}

std::string encode_trigger_emote(std::uint64_t id, std::string_view session,
                                 std::string_view emote, double intensity, double duration_s) {
    return MapWriter("trigger_emote", id)
        .put("session", session)
        .put("emote", emote)
        .put_double("intensity", intensity)
        .put_double("duration_s", duration_s)
        .finish();
}

std::string encode_prepare_character(std::uint64_t id, std::string_view name) {
    return MapWriter("prepare_character", id).put("name", name).finish();
}

// --- HeaderMap -------------------------------------------------------------------------------

std::optional<HeaderMap> HeaderMap::parse(const void* data, std::size_t size,
                                          std::string* problem) {
    if (data == nullptr || size == 0) {
        fail(problem, "empty header");
        return std::nullopt;
    }
    if (size > kMaxHeaderBytes) {
        fail(problem, "header over 65536 bytes");
        return std::nullopt;
    }
    // Limits keep a hostile header from allocating much: it is at most 64 KiB anyway.
    const msgpack::unpack_limit limit(/*array=*/4096, /*map=*/1024, /*str=*/kMaxHeaderBytes,
                                      /*bin=*/kMaxHeaderBytes, /*ext=*/0, /*depth=*/16);
    try {
        std::size_t offset = 0;
        msgpack::object_handle handle = msgpack::unpack(static_cast<const char*>(data), size,
                                                        offset, nullptr, nullptr, limit);
        if (offset != size) {
            fail(problem, "trailing bytes after the header map");
            return std::nullopt;
        }
        const msgpack::object& root = handle.get();
        if (root.type != msgpack::type::MAP) {
            fail(problem, "header is not a msgpack map");
            return std::nullopt;
        }
        for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
            if (root.via.map.ptr[i].key.type != msgpack::type::STR) {
                fail(problem, "header map has a non-str key");
                return std::nullopt;
            }
        }
        return HeaderMap(std::move(handle));
    } catch (const std::exception& e) {
        fail(problem, std::string("header is not msgpack: ") + e.what());
        return std::nullopt;
    }
}

const msgpack::object* HeaderMap::find(std::string_view key) const {
    const msgpack::object& root = handle_.get();
    for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
        const msgpack::object_kv& kv = root.via.map.ptr[i];
        if (key_equals(kv.key, key)) {
            return kv.val.type == msgpack::type::NIL ? nullptr : &kv.val;
        }
    }
    return nullptr;
}

std::size_t HeaderMap::size() const { return handle_.get().via.map.size; }

bool read_int(const msgpack::object& o, std::int64_t& out) {
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
        if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return false;
        }
        out = static_cast<std::int64_t>(o.via.u64);
        return true;
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) {
        out = o.via.i64;
        return true;
    }
    return false;  // bool, float, str... are never ints
}

bool read_float(const msgpack::object& o, double& out) {
    if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64) {
        out = o.via.f64;
        return std::isfinite(out);
    }
    std::int64_t v = 0;
    if (read_int(o, v)) {
        out = static_cast<double>(v);
        return true;
    }
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
        out = static_cast<double>(o.via.u64);
        return true;
    }
    return false;
}

bool read_str(const msgpack::object& o, std::string& out) {
    if (o.type != msgpack::type::STR) {
        return false;
    }
    out.assign(o.via.str.ptr, o.via.str.size);
    return true;
}

bool HeaderMap::get_int(std::string_view key, std::int64_t& out) const {
    const msgpack::object* o = find(key);
    return o != nullptr && read_int(*o, out);
}

bool HeaderMap::get_uint(std::string_view key, std::uint64_t& out) const {
    const msgpack::object* o = find(key);
    if (o == nullptr || o->type != msgpack::type::POSITIVE_INTEGER) {
        return false;
    }
    out = o->via.u64;
    return true;
}

bool HeaderMap::get_float(std::string_view key, double& out) const {
    const msgpack::object* o = find(key);
    return o != nullptr && read_float(*o, out);
}

bool HeaderMap::get_str(std::string_view key, std::string& out) const {
    const msgpack::object* o = find(key);
    return o != nullptr && read_str(*o, out);
}

bool HeaderMap::get_bin(std::string_view key, const std::uint8_t*& data,
                        std::size_t& size) const {
    const msgpack::object* o = find(key);
    if (o == nullptr || o->type != msgpack::type::BIN) {
        return false;
    }
    data = reinterpret_cast<const std::uint8_t*>(o->via.bin.ptr);
    size = o->via.bin.size;
    return true;
}

// --- decoder ---------------------------------------------------------------------------------

bool decode_server_message(const void* data, std::size_t size, ServerMessage& out,
                           std::string* problem) {
    std::optional<HeaderMap> parsed = HeaderMap::parse(data, size, problem);
    if (!parsed) {
        return false;
    }
    const HeaderMap& h = *parsed;
    std::int64_t version = 0;
    if (!h.get_int("v", version) || version != kProtocolVersion) {
        return fail(problem, "header 'v' is not 1");
    }
    if (!h.get_str("type", out.type)) {
        return fail(problem, "header without a str 'type'");
    }
    if (h.find("id") != nullptr) {
        std::int64_t id = 0;
        if (!h.get_int("id", id) || id < 0) {
            return fail(problem, "header 'id' is not a non-negative int");
        }
        out.id = static_cast<std::uint64_t>(id);
    }
    const std::string& type = out.type;
    if (type == "frame") {
        out.kind = MessageKind::kFrame;
        return decode_frame(h, out.frame, problem);
    }
    if (type == "session_info") {
        out.kind = MessageKind::kSessionInfo;
        return decode_session_info(h, out.info, problem);
    }
    if (type == "event") {
        out.kind = MessageKind::kEvent;
        decode_event(h, out.event);
        return true;
    }
    if (type == "error") {
        out.kind = MessageKind::kError;
        decode_error(h, out.error);
        return true;
    }
    if (type == "pong") {
        out.kind = MessageKind::kPong;
        h.get_int("t_us", out.pong_t_us);
        h.get_int("server_time_us", out.pong_server_time_us);
        return true;
    }
    if (type == "ok") {
        out.kind = MessageKind::kOk;
        h.get_str("session", out.session);
        return true;
    }
    if (type == "characters") {
        out.kind = MessageKind::kCharacters;
        decode_characters(h, out);
        return true;
    }
    if (type == "character_prepared") {
        out.kind = MessageKind::kCharacterPrepared;
        decode_character_prepared(h, out);
        return true;
    }
    if (type == "stats") {
        out.kind = MessageKind::kStats;
        h.get_str("session", out.session);
        return true;
    }
    out.kind = MessageKind::kUnknown;
    return true;
}

std::size_t expected_payload_parts(const ServerMessage& message) {
    if (message.kind != MessageKind::kFrame) {
        return 0;
    }
    return message.frame.encoding == Encoding::kJpeg ? 2 : 1;
}

}  // namespace lpm
