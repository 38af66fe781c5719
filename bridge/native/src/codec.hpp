// msgpack codec of the LPM wire protocol v1 (bridge/PROTOCOL.md sections 3, 5, 6).
//
// A message is multipart [header, payload...]: the header is a msgpack map with str keys; pixels
// and PCM are separate parts and never pass through this codec. Encoders return the packed
// header bytes. The decoder turns a server header into a flat ServerMessage; it validates types
// (an int is never a bool, a float may be given as an int) and ignores keys it does not know
// (section 1: a minor revision may add fields).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>

namespace lpm {

constexpr int kProtocolVersion = 1;
constexpr std::size_t kNumCurves = 61;
constexpr std::size_t kCurveBytes = kNumCurves * 4;  // 61 float32 little-endian
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr std::size_t kMaxIdChars = 128;
constexpr std::size_t kMaxPromptChars = 500;
constexpr std::size_t kMaxImageBytes = 20 * 1024 * 1024;
constexpr std::uint32_t kMinFrameSide = 16;
constexpr std::uint32_t kMaxFrameSide = 2048;
constexpr int kJawOpenCurve = 17;

// Protocol error codes (section 8) the client reacts to; others are passed through as numbers.
namespace error_code {
constexpr std::int32_t kUnknownSession = 9;
constexpr std::int32_t kUnauthenticated = 15;
constexpr std::int32_t kShuttingDown = 16;
constexpr std::int32_t kInternal = 17;
constexpr std::int32_t kLast = 17;  // codes above this are unknown: treated as INTERNAL
}  // namespace error_code

// Session states of section 7, numbered as lpm_state in lpm_client.h.
enum class State : std::int32_t { kIdle = 0, kSpeak = 1, kListen = 2, kBoth = 3 };
enum class Encoding : std::uint32_t { kRgba8 = 0, kJpeg = 1 };

bool is_supported_sample_rate(std::uint32_t hz);
const char* curve_name(int index);  // Live Link Face order; nullptr out of range
std::optional<State> state_from_name(std::string_view name);

// Reads 61 little-endian float32 from `bytes` (kCurveBytes), whatever the host's byte order.
std::array<float, kNumCurves> read_curves(const std::uint8_t* bytes);
// Writes `count` floats as little-endian float32 to out[0 .. 4*count).
void write_f32_le(const float* samples, std::size_t count, std::uint8_t* out);

// --- client -> server ------------------------------------------------------------------------

struct SessionOptions {
    std::string character;  // "" = the runtime's default
    std::string prompt;     // "" = none
    std::uint32_t width = 0;   // 0 = runtime default
    std::uint32_t height = 0;  // 0 = runtime default
    Encoding encoding = Encoding::kRgba8;
    std::uint32_t jpeg_quality = 85;
    std::uint32_t seed = 0;
};

enum class AudioStream { kSpeak, kListen };

std::string encode_ping(std::uint64_t id, std::int64_t t_us);
std::string encode_list_characters(std::uint64_t id);
std::string encode_create_session(std::uint64_t id, const SessionOptions& options);
// resume_session, close_session, subscribe, interrupt, get_stats, end_of_speech.
std::string encode_session_request(std::string_view type, std::uint64_t id,
                                   std::string_view session);
// speak_audio / listen_audio header; the PCM goes in the next part. Key order as in section 12.
std::string encode_audio(AudioStream stream, std::uint64_t id, std::string_view session,
                         std::uint32_t sample_rate, std::uint32_t channels,
                         std::string_view format, std::optional<std::int64_t> pts_us);
std::string encode_set_prompt(std::uint64_t id, std::string_view session,
                              std::string_view prompt);  // "" clears (field left out)
std::string encode_trigger_emote(std::uint64_t id, std::string_view session,
                                 std::string_view emote, double intensity, double duration_s);
std::string encode_prepare_character(std::uint64_t id, std::string_view name);

// --- generic header access -------------------------------------------------------------------

// One decoded header map (owns its memory; independent of the input buffer).
class HeaderMap {
public:
    // std::nullopt (and `problem`) when the bytes are not exactly one msgpack map with str keys
    // of at most kMaxHeaderBytes.
    static std::optional<HeaderMap> parse(const void* data, std::size_t size,
                                          std::string* problem);

    // The value under `key`; nullptr when absent or nil (nil counts as absent, section 1).
    const msgpack::object* find(std::string_view key) const;
    std::size_t size() const;

    bool get_int(std::string_view key, std::int64_t& out) const;   // int, never bool
    bool get_uint(std::string_view key, std::uint64_t& out) const; // int >= 0
    bool get_float(std::string_view key, double& out) const;       // float or int
    bool get_str(std::string_view key, std::string& out) const;    // str, never bin
    bool get_bin(std::string_view key, const std::uint8_t*& data, std::size_t& size) const;

private:
    explicit HeaderMap(msgpack::object_handle handle) : handle_(std::move(handle)) {}
    msgpack::object_handle handle_;
};

// Typed readers of one msgpack value (the same rules as HeaderMap::get_*).
bool read_int(const msgpack::object& o, std::int64_t& out);
bool read_float(const msgpack::object& o, double& out);
bool read_str(const msgpack::object& o, std::string& out);

// --- server -> client ------------------------------------------------------------------------

enum class MessageKind {
    kSessionInfo,
    kOk,
    kPong,
    kCharacters,
    kCharacterPrepared,
    kStats,
    kError,
    kFrame,
    kEvent,
    kUnknown,  // a type this client does not know: ignored
};

struct SessionInfoFields {
    std::string session;
    std::string character;
    double fps = 25.0;
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    Encoding encoding = Encoding::kRgba8;
    std::int64_t latency_us = 0;
    std::uint32_t sample_rate = 16000;
    std::int64_t next_index = 0;
    std::int64_t now_us = 0;
    double resume_timeout_s = 0.0;
};

struct FrameHeader {
    std::string session;
    std::int64_t index = 0;
    std::int64_t pts_us = 0;
    State state = State::kIdle;
    Encoding encoding = Encoding::kRgba8;
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    std::array<float, kNumCurves> curves{};
};

struct EventFields {
    std::string event;    // its name: state_changed, speak_scheduled, late, session_closed, ...
    std::string session;  // "" for server-wide events
    State state = State::kIdle;
    std::optional<std::int64_t> pts_us;
    std::optional<std::int64_t> duration_us;
    std::optional<std::int64_t> count;
    std::string reason;
};

struct ErrorFields {
    std::int32_t code = error_code::kInternal;
    std::string name;
    std::string message;
    std::string session;  // "" when the server did not name one
};

struct ServerMessage {
    MessageKind kind = MessageKind::kUnknown;
    std::string type;
    std::uint64_t id = 0;  // request id echoed by replies and errors; 0 = none
    SessionInfoFields info;                // kSessionInfo
    FrameHeader frame;                     // kFrame
    EventFields event;                     // kEvent
    ErrorFields error;                     // kError
    std::int64_t pong_t_us = 0;            // kPong
    std::int64_t pong_server_time_us = 0;  // kPong
    std::string default_character;         // kCharacters
    std::vector<std::string> characters;   // kCharacters: ids
    std::string prepared_character;        // kCharacterPrepared: id
    std::string session;                   // kOk, kStats: the session named, if any
};

// Decodes one server -> client header. false (and `problem`) when it is not a valid v1 message.
bool decode_server_message(const void* data, std::size_t size, ServerMessage& out,
                           std::string* problem);

// Payload parts that follow a header of this kind (frames: 1 for rgba8, 2 for jpeg).
std::size_t expected_payload_parts(const ServerMessage& message);

}  // namespace lpm
