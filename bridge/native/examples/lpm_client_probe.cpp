// lpm_client_probe: streams a WAV file (or a generated tone) through one session of a running
// `lpm serve` and prints what comes back as JSON lines: events, a stats line per second, and a
// summary. For manual checks of the native client core.
//
//   lpm_client_probe [--endpoint tcp://127.0.0.1:7701] [--wav line.wav | --tone SECONDS]
//                    [--character ID] [--size PX] [--lead SECONDS] [--tail SECONDS]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lpm_client.h"
#include "wav_file.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string endpoint = "tcp://127.0.0.1:7701";
    std::string wav;
    double tone_s = 3.0;
    std::string character;
    unsigned size = 0;
    double lead_s = 0.5;  // idle before the line
    double tail_s = 1.0;  // idle after it
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has_value = i + 1 < argc;
        if (arg == "--endpoint" && has_value) {
            o.endpoint = argv[++i];
        } else if (arg == "--wav" && has_value) {
            o.wav = argv[++i];
        } else if (arg == "--tone" && has_value) {
            o.tone_s = std::atof(argv[++i]);
        } else if (arg == "--character" && has_value) {
            o.character = argv[++i];
        } else if (arg == "--size" && has_value) {
            o.size = static_cast<unsigned>(std::atoi(argv[++i]));
        } else if (arg == "--lead" && has_value) {
            o.lead_s = std::atof(argv[++i]);
        } else if (arg == "--tail" && has_value) {
            o.tail_s = std::atof(argv[++i]);
        } else {
            std::fprintf(stderr,
                         "usage: %s [--endpoint E] [--wav PATH | --tone S] [--character ID] "
                         "[--size PX] [--lead S] [--tail S]\n",
                         argv[0]);
            return false;
        }
    }
    return true;
}

// A voice-like test signal: 180 Hz with harmonics, syllables at 4 Hz.
lpm_example::WavAudio make_tone(double seconds) {
    lpm_example::WavAudio tone;
    tone.sample_rate = 16000;
    tone.channels = 1;
    const auto n = static_cast<std::size_t>(seconds * tone.sample_rate);
    tone.samples.resize(n);
    const double pi = 3.14159265358979323846;
    for (std::size_t i = 0; i < n; ++i) {
        const double t = static_cast<double>(i) / tone.sample_rate;
        const double envelope = 0.5 * (1.0 - std::cos(2.0 * pi * 4.0 * t));
        const double voice = std::sin(2 * pi * 180 * t) + 0.5 * std::sin(2 * pi * 360 * t) +
                             0.25 * std::sin(2 * pi * 540 * t);
        tone.samples[i] = static_cast<float>(0.3 * envelope * voice);
    }
    return tone;
}

// A JSON string literal of `text` (quotes, backslashes and control characters escaped).
std::string json_string(const char* text) {
    std::string out = "\"";
    for (const char* c = text; *c != '\0'; ++c) {
        const auto byte = static_cast<unsigned char>(*c);
        if (*c == '"' || *c == '\\') {
            out += '\\';
            out += *c;
        } else if (byte < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof(escaped), "\\u%04x", byte);
            out += escaped;
        } else {
            out += *c;
        }
    }
    return out + "\"";
}

void print_event(const lpm_event& e, double t) {
    std::printf("{\"t\": %.3f, \"event\": %d, \"session\": %u, \"code\": %d, \"state\": %d, "
                "\"pts_us\": %lld, \"value\": %lld, \"name\": %s, \"text\": %s}\n",
                t, e.type, e.session, e.code, e.state, static_cast<long long>(e.pts_us),
                static_cast<long long>(e.value), json_string(e.name).c_str(),
                json_string(e.text).c_str());
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        return 2;
    }
    lpm_example::WavAudio audio;
    if (!o.wav.empty()) {
        std::string problem;
        if (!lpm_example::read_wav(o.wav, audio, problem)) {
            std::fprintf(stderr, "%s\n", problem.c_str());
            return 2;
        }
    } else {
        audio = make_tone(o.tone_s);
    }

    lpm_client_config config{};
    config.struct_size = sizeof(config);
    config.endpoint = o.endpoint.c_str();
    lpm_client* client = nullptr;
    int32_t status = lpm_client_create(&config, &client);
    if (status != LPM_OK) {
        std::fprintf(stderr, "lpm_client_create: %s\n", lpm_status_name(status));
        return 1;
    }
    lpm_session_options options{};
    options.struct_size = sizeof(options);
    options.character = o.character.empty() ? nullptr : o.character.c_str();
    options.width = options.height = o.size;
    lpm_session session = 0;
    status = lpm_session_create(client, &options, &session);
    if (status != LPM_OK) {
        std::fprintf(stderr, "lpm_session_create: %s\n", lpm_status_name(status));
        lpm_client_destroy(client);
        return 1;
    }

    const Clock::time_point start = Clock::now();
    const auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
    bool ready = false;
    const std::size_t step = audio.sample_rate / 50;  // 20 ms pushes at real-time pace
    std::size_t pushed = 0;
    bool ended = false;
    double speech_start = -1.0;
    double next_report = 1.0;
    long long frames_shown = 0;
    double jaw_max = 0.0;
    std::vector<uint8_t> rgba;
    lpm_frame_info frame{};
    frame.struct_size = sizeof(frame);
    const double speech_s = static_cast<double>(audio.frames()) / audio.sample_rate;

    for (;;) {
        const double t = elapsed();
        lpm_event e{};
        e.struct_size = sizeof(e);
        while (lpm_client_poll_event(client, &e) == LPM_OK) {
            print_event(e, t);
            if (e.type == LPM_EVENT_SESSION_READY) {
                ready = true;
                speech_start = t + o.lead_s;
            } else if (e.type == LPM_EVENT_ERROR && e.session == session) {
                lpm_client_destroy(client);
                return 1;
            }
        }
        if (!ready && t > 15.0) {
            std::fprintf(stderr, "no session after 15 s: is lpm serve running on %s?\n",
                         o.endpoint.c_str());
            lpm_client_destroy(client);
            return 1;
        }
        if (ready) {
            // Push the line at real-time pace: as much as is due by now.
            const double due_s = t - speech_start;
            while (due_s > 0 && pushed < audio.frames() &&
                   static_cast<double>(pushed) / audio.sample_rate <= due_s) {
                const std::size_t n = std::min(step, audio.frames() - pushed);
                lpm_session_push_speak(client, session, &audio.samples[pushed * audio.channels],
                                       static_cast<uint32_t>(n), audio.channels,
                                       audio.sample_rate);
                pushed += n;
            }
            if (pushed >= audio.frames() && !ended) {
                lpm_session_end_of_speech(client, session);
                ended = true;
            }
            lpm_session_info info{};
            info.struct_size = sizeof(info);
            if (lpm_session_get_info(client, session, &info) == LPM_OK) {
                rgba.resize(std::size_t{info.width} * info.height * 4);
            }
            if (lpm_session_poll_frame(client, session, LPM_PLAYHEAD_AUTO, &frame, rgba.data(),
                                       rgba.size()) == LPM_OK) {
                ++frames_shown;
                jaw_max = std::max(jaw_max, static_cast<double>(frame.curves[17]));
            }
            if (ended && t > speech_start + speech_s + o.tail_s) {
                break;
            }
        }
        if (t >= next_report) {
            next_report += 1.0;
            lpm_stats s{};
            s.struct_size = sizeof(s);
            lpm_client_get_stats(client, session, &s);
            std::printf("{\"t\": %.3f, \"connected\": %d, \"fps\": %.1f, \"rtt_ms\": %.2f, "
                        "\"frames_received\": %llu, \"frames_dropped\": %llu, "
                        "\"frames_shown\": %lld, \"jaw_open\": %.3f, \"audio_dropped_ms\": %llu}\n",
                        t, s.connected, s.fps, s.rtt_ms,
                        static_cast<unsigned long long>(s.frames_received),
                        static_cast<unsigned long long>(s.frames_dropped), frames_shown,
                        ready ? frame.curves[17] : 0.0f,
                        static_cast<unsigned long long>(s.audio_dropped_ms));
            std::fflush(stdout);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    lpm_stats s{};
    s.struct_size = sizeof(s);
    lpm_client_get_stats(client, session, &s);
    std::printf("{\"summary\": {\"seconds\": %.2f, \"speech_s\": %.2f, \"frames_received\": %llu, "
                "\"frames_dropped\": %llu, \"frames_shown\": %lld, \"jaw_open_max\": %.3f, "
                "\"rtt_ms\": %.2f, \"reconnects\": %u}}\n",
                elapsed(), speech_s, static_cast<unsigned long long>(s.frames_received),
                static_cast<unsigned long long>(s.frames_dropped), frames_shown, jaw_max,
                s.rtt_ms, s.reconnects);
    lpm_client_destroy(client);
    return 0;
}
