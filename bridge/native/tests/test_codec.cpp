// Codec of PROTOCOL.md: the worked examples of section 12 byte for byte, encoder/decoder round
// trips, and the decoder's type rules (section 1 and the conventions at the top of the page).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "codec.hpp"
#include "msgpack_builder.hpp"

namespace {

std::string from_hex(const std::string& text) {
    std::istringstream in(text);
    std::string out;
    unsigned byte = 0;
    while (in >> std::hex >> byte) {
        out.push_back(static_cast<char>(byte));
    }
    return out;
}

std::string curves_with(int index, float value) {
    std::vector<float> curves(lpm::kNumCurves, 0.0f);
    curves[static_cast<std::size_t>(index)] = value;
    std::string out(lpm::kCurveBytes, '\0');
    lpm::write_f32_le(curves.data(), curves.size(), reinterpret_cast<std::uint8_t*>(&out[0]));
    return out;
}

lpm::HeaderMap parse(const std::string& bytes) {
    std::string problem;
    auto h = lpm::HeaderMap::parse(bytes.data(), bytes.size(), &problem);
    INFO(problem);
    REQUIRE(h.has_value());
    return std::move(*h);
}

}  // namespace

TEST_CASE("speak_audio header matches the worked example of section 12", "[codec]") {
    const std::string expected = from_hex(
        "87 a1 76 01 a4 74 79 70 65 ab 73 70 65 61 6b 5f 61 75 64 69 6f a2 69 64 07 a7 73 65 73 "
        "73 69 6f 6e ab 73 31 2d 33 66 32 61 39 63 30 31 ab 73 61 6d 70 6c 65 5f 72 61 74 65 cd "
        "bb 80 a8 63 68 61 6e 6e 65 6c 73 01 a6 66 6f 72 6d 61 74 a3 73 31 36");
    REQUIRE(expected.size() == 81);
    const std::string header = lpm::encode_audio(lpm::AudioStream::kSpeak, 7, "s1-3f2a9c01",
                                                 48000, 1, "s16", std::nullopt);
    CHECK(header == expected);
}

TEST_CASE("f32 payload bytes match the worked example", "[codec]") {
    const float samples[] = {0.5f, -0.25f};
    std::uint8_t out[8] = {};
    lpm::write_f32_le(samples, 2, out);
    const std::uint8_t expected[] = {0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0xbe};
    CHECK(std::memcmp(out, expected, sizeof(expected)) == 0);
}

TEST_CASE("the worked example error decodes", "[codec]") {
    const std::string bytes = from_hex(
        "87 a1 76 01 a4 74 79 70 65 a5 65 72 72 6f 72 a2 69 64 07 a4 63 6f 64 65 09 a4 6e 61 6d "
        "65 af 55 4e 4b 4e 4f 57 4e 5f 53 45 53 53 49 4f 4e a7 6d 65 73 73 61 67 65 af 6e 6f 20 "
        "73 65 73 73 69 6f 6e 20 27 73 39 27 a7 73 65 73 73 69 6f 6e a2 73 39");
    REQUIRE(bytes.size() == 81);
    lpm::ServerMessage m;
    REQUIRE(lpm::decode_server_message(bytes.data(), bytes.size(), m, nullptr));
    CHECK(m.kind == lpm::MessageKind::kError);
    CHECK(m.id == 7);
    CHECK(m.error.code == 9);
    CHECK(m.error.name == "UNKNOWN_SESSION");
    CHECK(m.error.message == "no session 's9'");
    CHECK(m.error.session == "s9");
}

TEST_CASE("the worked example frame header decodes with its curves", "[codec]") {
    std::string bytes = from_hex(
        "8a a1 76 01 a4 74 79 70 65 a5 66 72 61 6d 65 a7 73 65 73 73 69 6f 6e ab 73 31 2d 33 66 "
        "32 61 39 63 30 31 a5 69 6e 64 65 78 2a a6 70 74 73 5f 75 73 ce 00 19 a2 80 a5 73 74 61 "
        "74 65 a5 73 70 65 61 6b a8 65 6e 63 6f 64 69 6e 67 a5 72 67 62 61 38 a5 77 69 64 74 68 "
        "cd 01 00 a6 68 65 69 67 68 74 cd 01 00 a6 63 75 72 76 65 73 c4 f4");
    std::vector<float> curves(lpm::kNumCurves, 0.0f);
    curves[17] = 0.5f;   // jawOpen
    curves[52] = -0.1f;  // headYaw
    std::string curve_bytes(lpm::kCurveBytes, '\0');
    lpm::write_f32_le(curves.data(), curves.size(),
                      reinterpret_cast<std::uint8_t*>(&curve_bytes[0]));
    CHECK(curve_bytes.substr(68, 4) == from_hex("00 00 00 3f"));
    CHECK(curve_bytes.substr(208, 4) == from_hex("cd cc cc bd"));
    bytes += curve_bytes;
    REQUIRE(bytes.size() == 353);

    lpm::ServerMessage m;
    std::string problem;
    REQUIRE(lpm::decode_server_message(bytes.data(), bytes.size(), m, &problem));
    CHECK(m.kind == lpm::MessageKind::kFrame);
    CHECK(m.frame.session == "s1-3f2a9c01");
    CHECK(m.frame.index == 42);
    CHECK(m.frame.pts_us == 1680000);
    CHECK(m.frame.state == lpm::State::kSpeak);
    CHECK(m.frame.encoding == lpm::Encoding::kRgba8);
    CHECK(m.frame.width == 256);
    CHECK(m.frame.height == 256);
    CHECK(m.frame.curves[17] == 0.5f);
    CHECK(m.frame.curves[52] == -0.1f);
    CHECK(lpm::expected_payload_parts(m) == 1);
}

TEST_CASE("request encoders round-trip through the header parser", "[codec]") {
    SECTION("ping") {
        const auto h = parse(lpm::encode_ping(3, 123456789));
        std::int64_t v = 0, t = 0;
        std::uint64_t id = 0;
        std::string type;
        CHECK((h.get_int("v", v) && v == 1));
        CHECK((h.get_str("type", type) && type == "ping"));
        CHECK((h.get_uint("id", id) && id == 3));
        CHECK((h.get_int("t_us", t) && t == 123456789));
        CHECK(h.size() == 4);
    }
    SECTION("create_session with every option") {
        lpm::SessionOptions o;
        o.character = "astronaut";
        o.prompt = "smiles warmly";
        o.width = 128;
        o.height = 96;
        o.encoding = lpm::Encoding::kJpeg;
        o.jpeg_quality = 70;
        o.seed = 4294967295u;
        const auto h = parse(lpm::encode_create_session(9, o));
        std::string s;
        std::int64_t v = 0;
        CHECK((h.get_str("type", s) && s == "create_session"));
        CHECK((h.get_str("character", s) && s == "astronaut"));
        CHECK((h.get_str("prompt", s) && s == "smiles warmly"));
        CHECK((h.get_str("encoding", s) && s == "jpeg"));
        CHECK((h.get_int("width", v) && v == 128));
        CHECK((h.get_int("height", v) && v == 96));
        CHECK((h.get_int("jpeg_quality", v) && v == 70));
        CHECK((h.get_int("seed", v) && v == 4294967295LL));
    }
    SECTION("create_session with defaults leaves the optional fields out") {
        const auto h = parse(lpm::encode_create_session(1, lpm::SessionOptions{}));
        CHECK(h.find("character") == nullptr);
        CHECK(h.find("prompt") == nullptr);
        CHECK(h.find("width") == nullptr);
        CHECK(h.find("jpeg_quality") == nullptr);
    }
    SECTION("audio without pts_us, and with it") {
        auto h = parse(lpm::encode_audio(lpm::AudioStream::kListen, 5, "s2", 16000, 1, "f32",
                                         std::nullopt));
        std::string s;
        CHECK((h.get_str("type", s) && s == "listen_audio"));
        CHECK(h.find("pts_us") == nullptr);
        h = parse(lpm::encode_audio(lpm::AudioStream::kSpeak, 6, "s2", 16000, 1, "f32",
                                    std::int64_t{1} << 40));
        std::int64_t pts = 0;
        CHECK((h.get_int("pts_us", pts) && pts == (std::int64_t{1} << 40)));
    }
    SECTION("set_prompt: an empty prompt is left out, which clears it") {
        auto h = parse(lpm::encode_set_prompt(2, "s1", "looks worried"));
        std::string s;
        CHECK((h.get_str("prompt", s) && s == "looks worried"));
        h = parse(lpm::encode_set_prompt(2, "s1", ""));
        CHECK(h.find("prompt") == nullptr);
    }
    SECTION("trigger_emote carries floats") {
        const auto h = parse(lpm::encode_trigger_emote(4, "s1", "nods", 0.5, 2.0));
        double intensity = 0, duration = 0;
        CHECK((h.get_float("intensity", intensity) && intensity == 0.5));
        CHECK((h.get_float("duration_s", duration) && duration == 2.0));
        CHECK(h.find("intensity")->type == msgpack::type::FLOAT64);
        CHECK(h.find("duration_s")->type == msgpack::type::FLOAT64);  // 2.0 stays a float
    }
    SECTION("session requests and prepare_character") {
        for (const char* type : {"resume_session", "close_session", "interrupt", "end_of_speech"}) {
            const auto h = parse(lpm::encode_session_request(type, 11, "s1-abc"));
            std::string t, s;
            CHECK((h.get_str("type", t) && t == type));
            CHECK((h.get_str("session", s) && s == "s1-abc"));
        }
        const auto h = parse(lpm::encode_prepare_character(12, "hero_1"));
        std::string name;
        CHECK((h.get_str("name", name) && name == "hero_1"));
    }
    SECTION("id 0 is left out") {
        CHECK(parse(lpm::encode_list_characters(0)).find("id") == nullptr);
    }
}

TEST_CASE("server replies decode", "[codec]") {
    SECTION("session_info, with an int where a float is expected") {
        lpm_test::Packer p;
        p.map(10).str("v").i(1).str("type").str("session_info").str("id").i(3);
        p.str("session").str("s1-ab").str("character").str("astronaut");
        p.str("fps").i(25).str("width").i(128).str("height").i(128);
        p.str("latency_us").i(140000).str("now_us").i(384);
        lpm::ServerMessage m;
        REQUIRE(lpm::decode_server_message(p.bytes().data(), p.bytes().size(), m, nullptr));
        CHECK(m.kind == lpm::MessageKind::kSessionInfo);
        CHECK(m.id == 3);
        CHECK(m.info.session == "s1-ab");
        CHECK(m.info.fps == 25.0);
        CHECK(m.info.latency_us == 140000);
        CHECK(m.info.now_us == 384);
    }
    SECTION("characters") {
        lpm_test::Packer p;
        p.map(4).str("v").i(1).str("type").str("characters").str("default").str("a");
        p.str("items");
        p.pk.pack_array(2);
        p.map(2).str("id").str("a").str("width").i(128);
        p.map(2).str("id").str("b").str("new_field").b(true);
        lpm::ServerMessage m;
        REQUIRE(lpm::decode_server_message(p.bytes().data(), p.bytes().size(), m, nullptr));
        CHECK(m.kind == lpm::MessageKind::kCharacters);
        CHECK(m.default_character == "a");
        CHECK(m.characters == std::vector<std::string>{"a", "b"});
    }
    SECTION("events, including one this client does not know") {
        lpm_test::Packer p;
        p.map(6).str("v").i(1).str("type").str("event").str("event").str("speak_scheduled");
        p.str("session").str("s1").str("pts_us").i(506375).str("duration_us").i(20000);
        lpm::ServerMessage m;
        REQUIRE(lpm::decode_server_message(p.bytes().data(), p.bytes().size(), m, nullptr));
        CHECK(m.event.event == "speak_scheduled");
        CHECK(m.event.pts_us == 506375);
        CHECK(m.event.duration_us == 20000);
        lpm_test::Packer q;
        q.map(3).str("v").i(1).str("type").str("event").str("event").str("something_new");
        lpm::ServerMessage n;
        CHECK(lpm::decode_server_message(q.bytes().data(), q.bytes().size(), n, nullptr));
    }
    SECTION("an unknown error code is treated as INTERNAL") {
        lpm_test::Packer p;
        p.map(4).str("v").i(1).str("type").str("error").str("code").i(99).str("name").str("X");
        lpm::ServerMessage m;
        REQUIRE(lpm::decode_server_message(p.bytes().data(), p.bytes().size(), m, nullptr));
        CHECK(m.error.code == 17);
    }
    SECTION("an unknown message type is kept as kUnknown, not an error") {
        lpm_test::Packer p;
        p.map(2).str("v").i(1).str("type").str("hologram");
        lpm::ServerMessage m;
        REQUIRE(lpm::decode_server_message(p.bytes().data(), p.bytes().size(), m, nullptr));
        CHECK(m.kind == lpm::MessageKind::kUnknown);
    }
}

TEST_CASE("the decoder follows the type rules", "[codec]") {
    const auto decodes = [](const lpm_test::Packer& p) {
        lpm::ServerMessage m;
        return lpm::decode_server_message(p.bytes().data(), p.bytes().size(), m, nullptr);
    };
    const auto frame = [](lpm_test::Packer& p, std::uint32_t extra) -> lpm_test::Packer& {
        p.map(8 + extra).str("v").i(1).str("type").str("frame").str("session").str("s1");
        p.str("pts_us").i(0).str("encoding").str("rgba8").str("width").i(16).str("height").i(16);
        p.str("curves").bin(curves_with(17, 0.25f));
        return p;
    };
    lpm_test::Packer good;
    frame(good, 1).str("index").i(0);
    CHECK(decodes(good));

    lpm_test::Packer bool_index;  // a bool is never an int
    frame(bool_index, 1).str("index").b(true);
    CHECK_FALSE(decodes(bool_index));

    lpm_test::Packer float_index;  // a float is never an int
    frame(float_index, 1).str("index").f(1.0);
    CHECK_FALSE(decodes(float_index));

    lpm_test::Packer nil_index;  // nil counts as absent, and index is required
    frame(nil_index, 1).str("index").nil();
    CHECK_FALSE(decodes(nil_index));

    lpm_test::Packer extra_keys;  // unknown keys are ignored
    frame(extra_keys, 2).str("index").i(1).str("future").str("x");
    CHECK(decodes(extra_keys));

    lpm_test::Packer short_curves;
    short_curves.map(9).str("v").i(1).str("type").str("frame").str("session").str("s1");
    short_curves.str("index").i(0).str("pts_us").i(0).str("encoding").str("rgba8");
    short_curves.str("width").i(16).str("height").i(16).str("curves").bin(std::string(10, 'x'));
    CHECK_FALSE(decodes(short_curves));

    lpm_test::Packer v2;
    v2.map(2).str("v").i(2).str("type").str("pong");
    CHECK_FALSE(decodes(v2));
    lpm_test::Packer v_bool;
    v_bool.map(2).str("v").b(true).str("type").str("pong");
    CHECK_FALSE(decodes(v_bool));
    lpm_test::Packer no_type;
    no_type.map(1).str("v").i(1);
    CHECK_FALSE(decodes(no_type));
    lpm_test::Packer negative_id;
    negative_id.map(3).str("v").i(1).str("type").str("pong").str("id").i(-1);
    CHECK_FALSE(decodes(negative_id));

    lpm_test::Packer not_a_map;
    not_a_map.pk.pack_array(0);
    CHECK_FALSE(decodes(not_a_map));
    lpm_test::Packer ok;
    ok.map(2).str("v").i(1).str("type").str("pong");
    const std::string trailing = ok.bytes() + "\x01";
    lpm::ServerMessage m;
    CHECK_FALSE(lpm::decode_server_message(trailing.data(), trailing.size(), m, nullptr));
    const std::string garbage = "\xc1\xff";
    CHECK_FALSE(lpm::decode_server_message(garbage.data(), garbage.size(), m, nullptr));
    const std::string truncated = ok.bytes().substr(0, 5);
    CHECK_FALSE(lpm::decode_server_message(truncated.data(), truncated.size(), m, nullptr));
    CHECK_FALSE(lpm::decode_server_message(nullptr, 0, m, nullptr));
}

TEST_CASE("curve names and sample rates follow the protocol", "[codec]") {
    CHECK(std::string(lpm::curve_name(0)) == "eyeBlinkLeft");
    CHECK(std::string(lpm::curve_name(17)) == "jawOpen");
    CHECK(std::string(lpm::curve_name(52)) == "headYaw");
    CHECK(std::string(lpm::curve_name(60)) == "rightEyeRoll");
    CHECK(lpm::curve_name(61) == nullptr);
    CHECK(lpm::curve_name(-1) == nullptr);
    for (std::uint32_t hz : {8000u, 11025u, 16000u, 22050u, 24000u, 32000u, 44100u, 48000u}) {
        CHECK(lpm::is_supported_sample_rate(hz));
    }
    CHECK_FALSE(lpm::is_supported_sample_rate(44000));
    CHECK_FALSE(lpm::is_supported_sample_rate(0));
}
