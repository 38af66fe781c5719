// Live tests: the library against a real `lpm serve` (PROTOCOL.md over loopback). The harness
// contract (environment variables, who starts and stops the server) is in README.md.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "live_support.hpp"
#include "wav_file.hpp"

using namespace lpm_live;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

constexpr std::int64_t kFrameUs = 40000;  // 25 fps

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

template <class Tick>
void run_for(milliseconds duration, Tick&& tick) {
    const auto end = Clock::now() + duration;
    while (Clock::now() < end) {
        tick();
        std::this_thread::sleep_for(milliseconds(2));
    }
}

// Keeps ticking until `frames` holds at least `count` entries or `limit` has passed: frames must
// keep arriving, but a loaded machine (a shared CI host) may deliver them later than real time.
template <class Tick>
void run_until_count(const std::vector<PolledFrame>& frames, std::size_t count, seconds limit,
                     Tick&& tick) {
    const auto end = Clock::now() + limit;
    while (frames.size() < count && Clock::now() < end) {
        tick();
        std::this_thread::sleep_for(milliseconds(2));
    }
}

auto event_for(int type, lpm_session session) {
    return [type, session](const lpm_event& e) { return e.type == type && e.session == session; };
}

// Calls `take` until it gives something other than LPM_NO_DATA (a frame not shown yet is due at
// the playhead) or `limit` has passed; returns the last result.
template <class Take>
int32_t when_due(Take&& take, milliseconds limit) {
    const auto end = Clock::now() + limit;
    int32_t result = take();
    while (result == LPM_NO_DATA && Clock::now() < end) {
        std::this_thread::sleep_for(milliseconds(5));
        result = take();
    }
    return result;
}

double mean(const std::vector<float>& v) {
    return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// A playhead that steps along the session timeline one frame at a time, as a game's audio clock
// does, but waits for each frame instead of moving on: every frame the runtime made is checked,
// however loaded the host is. How real time went is recorded, not asserted (a loaded CI host may
// deliver late; the speed numbers come from `lpm bench serve`): a frame counts as late when the
// client's own playhead (LPM_PLAYHEAD_AUTO) had already passed it when it arrived.
class SteppingPlayhead {
public:
    SteppingPlayhead(LiveClient& client, lpm_session session, std::int64_t latency_us)
        : client_(client), session_(session), latency_us_(latency_us) {}

    void tick() {
        client_.pump_events();
        PolledFrame f;
        if (frames.empty()) {
            if (client_.poll(session_, f)) {
                take(f);
            }
            return;
        }
        while (client_.poll(session_, f, next_pts())) {
            if (f.pts_us == next_pts()) {
                take(f);
            } else {
                ++replaced;  // an earlier frame re-sent with a higher index: already shown
            }
        }
        if (Clock::now() - waiting_since_ > kGiveUp) {
            ++missing;  // this frame never came: step over it
            skipped_pts_ += kFrameUs;
            waiting_since_ = Clock::now();
        }
    }

    std::int64_t next_pts() const { return frames.back().pts_us + kFrameUs + skipped_pts_; }

    std::vector<PolledFrame> frames;
    std::size_t late = 0;
    std::size_t replaced = 0;
    std::size_t missing = 0;

private:
    static constexpr std::chrono::seconds kGiveUp{5};

    void take(const PolledFrame& f) {
        std::int64_t now_us = 0;
        if (lpm_session_timeline_now(client_.get(), session_, &now_us) == LPM_OK &&
            now_us - latency_us_ >= f.pts_us + kFrameUs) {
            ++late;
        }
        frames.push_back(f);
        skipped_pts_ = 0;
        waiting_since_ = Clock::now();
    }

    LiveClient& client_;
    lpm_session session_;
    std::int64_t latency_us_;
    std::int64_t skipped_pts_ = 0;
    Clock::time_point waiting_since_ = Clock::now();
};

}  // namespace

TEST_CASE("live speech stream gives lip-synced frames", "[live]") {
    const std::string endpoint = required_env("LPM_TEST_ENDPOINT");
    const std::string wav_path = required_env("LPM_TEST_WAV");
    lpm_example::WavAudio wav;
    std::string problem;
    if (!lpm_example::read_wav(wav_path, wav, problem)) {
        FAIL(problem);
    }
    const double line_s = static_cast<double>(wav.frames()) / wav.sample_rate;
    REQUIRE(line_s > 1.0);

    LiveClient client(endpoint);
    const lpm_session s = client.create();
    REQUIRE(client.wait_ready(s, seconds(15)));
    lpm_session_info info;
    std::memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    REQUIRE(lpm_session_get_info(client.get(), s, &info) == LPM_OK);

    SteppingPlayhead playhead(client, s, info.latency_us);
    const auto tick = [&] { playhead.tick(); };
    run_for(milliseconds(600), tick);  // idle before the line: the silence reference

    // The line in 20 ms pushes at real-time pace, as an audio callback would hand it over.
    const std::size_t step = wav.sample_rate / 50;
    const auto start = Clock::now();
    std::size_t pushed = 0;
    while (pushed < wav.frames()) {
        const double due_s = std::chrono::duration<double>(Clock::now() - start).count();
        while (pushed < wav.frames() && static_cast<double>(pushed) / wav.sample_rate <= due_s) {
            const std::size_t n = std::min(step, wav.frames() - pushed);
            REQUIRE(lpm_session_push_speak(client.get(), s, &wav.samples[pushed * wav.channels],
                                           static_cast<uint32_t>(n), wav.channels,
                                           wav.sample_rate) == LPM_OK);
            pushed += n;
        }
        tick();
        std::this_thread::sleep_for(milliseconds(2));
    }
    REQUIRE(lpm_session_end_of_speech(client.get(), s) == LPM_OK);

    // The tail: every frame up to 1 s after the line, where the mouth closes again.
    const auto scheduled = client.wait_event(event_for(LPM_EVENT_SPEAK_SCHEDULED, s), seconds(10));
    REQUIRE(scheduled.has_value());
    const std::int64_t line_start = scheduled->event.pts_us;
    const std::int64_t line_end = line_start + static_cast<std::int64_t>(line_s * 1e6);
    const auto tail_limit = Clock::now() + seconds(30);
    while ((playhead.frames.empty() || playhead.frames.back().pts_us < line_end + 1000000) &&
           Clock::now() < tail_limit) {
        tick();
        std::this_thread::sleep_for(milliseconds(2));
    }

    for (const TimedEvent& e : client.events()) {
        if (e.event.type == LPM_EVENT_ERROR) {
            FAIL("error event: " << e.event.name << ": " << e.event.text);
        }
    }

    // Every frame shown once, in order, on the 40 ms grid, up to the end of the tail.
    const std::vector<PolledFrame>& shown = playhead.frames;
    REQUIRE(shown.size() > 50);
    std::size_t contiguous = 0;
    for (std::size_t i = 0; i < shown.size(); ++i) {
        CHECK(shown[i].pts_us % kFrameUs == 0);
        if (i > 0) {
            CHECK(shown[i].pts_us > shown[i - 1].pts_us);
            CHECK(shown[i].index > shown[i - 1].index);
            contiguous += shown[i].index == shown[i - 1].index + 1 ? 1 : 0;
        }
    }
    const double expected =
        static_cast<double>(shown.back().pts_us - shown.front().pts_us) / kFrameUs + 1.0;
    metric("speech_frames_expected", expected);
    metric("speech_frames_shown", static_cast<double>(shown.size()));
    metric("speech_frames_missing", static_cast<double>(playhead.missing));
    metric("speech_frames_replaced", static_cast<double>(playhead.replaced));
    metric("speech_frames_late_ratio",
           static_cast<double>(playhead.late) / static_cast<double>(shown.size()));
    metric("speech_index_contiguous_ratio",
           static_cast<double>(contiguous) / static_cast<double>(shown.size() - 1));
    CHECK(playhead.missing == 0);
    CHECK(static_cast<double>(shown.size()) == expected);
    CHECK(shown.back().pts_us >= line_end + 1000000);

    // The mouth opens during the line and not in the idle lead.
    std::vector<float> speech, silence;
    for (const PolledFrame& f : shown) {
        if (f.pts_us >= line_start + 200000 && f.pts_us < line_end - 200000) {
            speech.push_back(f.jaw_open);
        } else if (f.pts_us < line_start) {
            silence.push_back(f.jaw_open);
        }
    }
    REQUIRE(speech.size() > 20);
    REQUIRE(silence.size() > 5);
    const double speech_mean = mean(speech);
    const double silence_mean = mean(silence);
    const double speech_max = *std::max_element(speech.begin(), speech.end());
    metric("jaw_open_speech_mean", speech_mean);
    metric("jaw_open_speech_max", speech_max);
    metric("jaw_open_silence_mean", silence_mean);
    CHECK(speech_mean > silence_mean + 0.1);
    CHECK(speech_max > silence_mean + 0.2);

    // Stats: the 2 s arrival rate is a real-time number, so only its order of magnitude is held.
    lpm_stats stats;
    std::memset(&stats, 0, sizeof(stats));
    stats.struct_size = sizeof(stats);
    REQUIRE(lpm_client_get_stats(client.get(), s, &stats) == LPM_OK);
    metric("speech_fps", stats.fps);
    metric("speech_rtt_ms", stats.rtt_ms);
    metric("speech_frames_dropped", static_cast<double>(stats.frames_dropped));
    CHECK(stats.connected == 1);
    CHECK(stats.frames_received >= shown.size());
    CHECK(stats.audio_dropped_ms == 0);
    CHECK(stats.fps > 5.0f);
    CHECK(stats.fps < 60.0f);
    CHECK(stats.rtt_ms > 0.0f);
}

TEST_CASE("live unknown character is refused with error 13", "[live]") {
    LiveClient client(required_env("LPM_TEST_ENDPOINT"));
    const lpm_session s = client.create("no-such-character");
    const auto error = client.wait_event(event_for(LPM_EVENT_ERROR, s), seconds(10));
    REQUIRE(error.has_value());
    CHECK(error->event.code == 13);
    CHECK(std::string(error->event.name) == "UNKNOWN_CHARACTER");
    CHECK(std::strlen(error->event.text) > 0);
    float silence[320] = {};
    CHECK(lpm_session_push_speak(client.get(), s, silence, 320, 1, 16000) == LPM_ERR_NOT_READY);
    lpm_session_info info;
    std::memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    CHECK(lpm_session_get_info(client.get(), s, &info) == LPM_ERR_NOT_READY);
    CHECK(lpm_session_close(client.get(), s) == LPM_OK);
    CHECK(client.wait_event(event_for(LPM_EVENT_SESSION_CLOSED, s), seconds(2)).has_value());

    // The client stays usable: a good session after the refused one.
    const lpm_session good = client.create();
    CHECK(client.wait_ready(good, seconds(10)));
}

TEST_CASE("live prompts emotes and interrupt are accepted", "[live]") {
    LiveClient client(required_env("LPM_TEST_ENDPOINT"));
    const lpm_session s = client.create(nullptr, "smiles warmly");
    REQUIRE(client.wait_ready(s, seconds(15)));

    lpm_session_info info;
    std::memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    REQUIRE(lpm_session_get_info(client.get(), s, &info) == LPM_OK);
    CHECK(info.width == 128);
    CHECK(info.height == 128);
    CHECK(info.encoding == LPM_ENCODING_RGBA8);
    CHECK(info.fps == 25.0f);
    CHECK(info.latency_us > 0);
    CHECK(std::strlen(info.session_id) > 0);
    CHECK(std::strlen(info.character) > 0);

    // The character list arrives on connect.
    REQUIRE(client.seen(LPM_EVENT_CHARACTERS, seconds(5)));
    size_t needed = 0;
    CHECK(lpm_client_get_characters(client.get(), nullptr, 0, &needed) ==
          LPM_ERR_BUFFER_TOO_SMALL);
    std::vector<char> names(needed);
    REQUIRE(lpm_client_get_characters(client.get(), names.data(), names.size(), &needed) ==
            LPM_OK);
    CHECK(std::string(names.data()).find(info.character) != std::string::npos);

    CHECK(lpm_session_set_prompt(client.get(), s, "looks worried") == LPM_OK);
    CHECK(lpm_session_trigger_emote(client.get(), s, "nods", 0.8f, 1.0f) == LPM_OK);
    CHECK(lpm_session_interrupt(client.get(), s) == LPM_OK);
    CHECK(lpm_session_set_prompt(client.get(), s, nullptr) == LPM_OK);
    float listen[1600];
    for (int i = 0; i < 1600; ++i) {
        listen[i] = 0.2f * static_cast<float>((i % 40) - 20) / 20.0f;
    }
    CHECK(lpm_session_push_listen(client.get(), s, listen, 800, 2, 16000) == LPM_OK);

    // The session timeline runs at the wall clock's rate.
    int64_t t0 = 0, t1 = 0;
    const auto wall0 = Clock::now();
    REQUIRE(lpm_session_timeline_now(client.get(), s, &t0) == LPM_OK);
    std::vector<PolledFrame> shown;
    const auto collect = [&] {
        client.pump_events();
        PolledFrame f;
        if (client.poll(s, f)) {
            shown.push_back(f);
        }
    };
    run_for(milliseconds(1000), collect);
    REQUIRE(lpm_session_timeline_now(client.get(), s, &t1) == LPM_OK);
    const double wall_us = 1000.0 * ms_between(wall0, Clock::now());
    CHECK(static_cast<double>(t1 - t0) == Approx(wall_us).margin(50000.0));
    metric("prompt_frames_in_1s", static_cast<double>(shown.size()));
    run_until_count(shown, 20, seconds(10), collect);
    CHECK(shown.size() >= 20);
    CHECK(client.count_events(LPM_EVENT_ERROR, 0) == 0);

    // Explicit playheads: the frame already shown is not shown again; a small buffer is refused.
    REQUIRE(!shown.empty());
    lpm_frame_info frame;
    std::memset(&frame, 0, sizeof(frame));
    frame.struct_size = sizeof(frame);
    const uint8_t* pixels = nullptr;
    const int32_t again =
        lpm_session_borrow_frame(client.get(), s, shown.back().pts_us, &frame, &pixels);
    if (again == LPM_OK) {  // a re-sent frame with a higher index replaced it in the meantime
        CHECK(frame.pts_us == shown.back().pts_us);
        CHECK(frame.index > shown.back().index);
    } else {
        CHECK(again == LPM_NO_DATA);
    }
    std::this_thread::sleep_for(milliseconds(100));
    uint8_t tiny[16];
    CHECK(when_due(
              [&] {
                  return lpm_session_poll_frame(client.get(), s, LPM_PLAYHEAD_AUTO, &frame, tiny,
                                                sizeof(tiny));
              },
              milliseconds(2000)) == LPM_ERR_BUFFER_TOO_SMALL);
    REQUIRE(when_due(
                [&] {
                    return lpm_session_borrow_frame(client.get(), s, LPM_PLAYHEAD_AUTO, &frame,
                                                    &pixels);
                },
                milliseconds(2000)) == LPM_OK);
    REQUIRE(pixels != nullptr);
    CHECK(frame.width == 128);
    unsigned alpha_sum = 0;
    for (std::size_t i = 3; i < 128 * 128 * 4; i += 4) {
        alpha_sum += pixels[i];
    }
    CHECK(alpha_sum > 0);  // a face, not an empty frame

    lpm_stats stats;
    std::memset(&stats, 0, sizeof(stats));
    stats.struct_size = sizeof(stats);
    REQUIRE(lpm_client_get_stats(client.get(), 0, &stats) == LPM_OK);
    CHECK(stats.connected == 1);
    CHECK(stats.latency_ms == Approx(static_cast<double>(info.latency_us) / 1000.0));
}

TEST_CASE("live close and destroy are prompt", "[live]") {
    LiveClient client(required_env("LPM_TEST_ENDPOINT"));
    const lpm_session a = client.create();
    const lpm_session b = client.create();
    REQUIRE(client.wait_ready(a, seconds(15)));
    REQUIRE(client.wait_ready(b, seconds(15)));
    const auto closing = Clock::now();
    REQUIRE(lpm_session_close(client.get(), a) == LPM_OK);
    const auto closed = client.wait_event(event_for(LPM_EVENT_SESSION_CLOSED, a), seconds(3));
    REQUIRE(closed.has_value());
    CHECK(std::string(closed->event.text) == "closed");
    metric("close_confirmed_ms", ms_between(closing, closed->at));
    CHECK(lpm_session_interrupt(client.get(), a) == LPM_ERR_UNKNOWN_SESSION);

    const auto destroying = Clock::now();
    client.destroy();  // b still open: closed on the runtime, best effort
    const double destroy_ms = ms_between(destroying, Clock::now());
    metric("destroy_with_open_session_ms", destroy_ms);
    CHECK(destroy_ms < 2000.0);  // a few ms when idle; bounded (no lingering socket) when loaded
}

TEST_CASE("live jpeg frames decode to rgba", "[live]") {
    LiveClient client(required_env("LPM_TEST_ENDPOINT"));
    lpm_session_options options;
    std::memset(&options, 0, sizeof(options));
    options.struct_size = sizeof(options);
    options.encoding = LPM_ENCODING_JPEG;
    options.jpeg_quality = 90;
    lpm_session s = 0;
#if !defined(LPM_HAVE_TURBOJPEG)
    CHECK(lpm_session_create(client.get(), &options, &s) == LPM_ERR_INVALID_ARGUMENT);
#else
    REQUIRE(lpm_session_create(client.get(), &options, &s) == LPM_OK);
    REQUIRE(client.wait_ready(s, seconds(15)));
    lpm_session_info info;
    std::memset(&info, 0, sizeof(info));
    info.struct_size = sizeof(info);
    REQUIRE(lpm_session_get_info(client.get(), s, &info) == LPM_OK);
    CHECK(info.encoding == LPM_ENCODING_JPEG);
    std::vector<PolledFrame> shown;
    const auto collect = [&] {
        client.pump_events();
        PolledFrame f;
        if (client.poll(s, f)) {
            shown.push_back(f);
        }
    };
    run_for(milliseconds(600), collect);
    metric("jpeg_frames_in_600ms", static_cast<double>(shown.size()));
    run_until_count(shown, 10, seconds(10), collect);
    CHECK(shown.size() >= 10);
    lpm_frame_info frame;
    std::memset(&frame, 0, sizeof(frame));
    frame.struct_size = sizeof(frame);
    const uint8_t* pixels = nullptr;
    REQUIRE(when_due(
                [&] {
                    return lpm_session_borrow_frame(client.get(), s, LPM_PLAYHEAD_AUTO, &frame,
                                                    &pixels);
                },
                milliseconds(2000)) == LPM_OK);
    const std::size_t n = std::size_t{frame.width} * frame.height;
    REQUIRE(n == std::size_t{info.width} * info.height);
    std::size_t clear = 0, opaque = 0;
    double rgb = 0;
    for (std::size_t i = 0; i < n; ++i) {
        clear += pixels[4 * i + 3] < 16 ? 1 : 0;
        opaque += pixels[4 * i + 3] > 240 ? 1 : 0;
        rgb += pixels[4 * i] + pixels[4 * i + 1] + pixels[4 * i + 2];
    }
    // The alpha JPEG is the character's mask: a transparent background around an opaque face.
    CHECK(static_cast<double>(clear) / static_cast<double>(n) > 0.1);
    CHECK(static_cast<double>(opaque) / static_cast<double>(n) > 0.3);
    const double rgb_mean = rgb / (3.0 * static_cast<double>(n));
    CHECK(rgb_mean > 30.0);
    CHECK(rgb_mean < 230.0);
    CHECK(client.count_events(LPM_EVENT_ERROR, 0) == 0);
#endif
}

TEST_CASE("live server kill and restart resumes the session", "[live][restart]") {
    const std::string endpoint = required_env("LPM_TEST_ENDPOINT");
    const std::string start_command = required_env("LPM_TEST_SERVE_CMD");
    const std::string pidfile = required_env("LPM_TEST_SERVER_PIDFILE");

    LiveClient client(endpoint);
    const lpm_session s = client.create();
    REQUIRE(client.wait_ready(s, seconds(15)));
    lpm_session_info before;
    std::memset(&before, 0, sizeof(before));
    before.struct_size = sizeof(before);
    REQUIRE(lpm_session_get_info(client.get(), s, &before) == LPM_OK);
    std::vector<PolledFrame> shown;
    const auto tick = [&] {
        client.pump_events();
        PolledFrame f;
        if (client.poll(s, f)) {
            shown.push_back(f);
        }
    };
    run_for(milliseconds(500), tick);
    metric("restart_frames_in_500ms_before", static_cast<double>(shown.size()));
    run_until_count(shown, 5, seconds(10), tick);
    REQUIRE(shown.size() >= 5);

    // SIGKILL: no shutdown event, the connection just drops.
    const int pid = read_pid(pidfile);
    REQUIRE(pid > 1);
    const auto killed = Clock::now();
    REQUIRE(kill_and_wait(pid, seconds(5)));
    const auto lost = client.wait_event(
        [](const lpm_event& e) { return e.type == LPM_EVENT_DISCONNECTED; }, seconds(10));
    REQUIRE(lost.has_value());
    metric("restart_disconnect_detected_ms", ms_between(killed, lost->at));

    // A new server on the same port; it has none of the old sessions.
    REQUIRE(run_start_command(start_command));
    const auto up = wait_until_answering(endpoint, seconds(90), tick);
    REQUIRE(up.has_value());
    metric("restart_server_down_s", ms_between(killed, *up) / 1000.0);

    // Soon after the new server answers: RESUMED (re-created) and frames at the playhead.
    std::optional<TimedEvent> resumed;
    std::optional<PolledFrame> first_new;
    const auto deadline = *up + seconds(10);
    while (Clock::now() < deadline && !(resumed && first_new)) {
        client.pump_events();
        if (!resumed) {
            for (const TimedEvent& e : client.events()) {
                if (e.event.type == LPM_EVENT_SESSION_RESUMED && e.event.session == s) {
                    resumed = e;
                }
            }
        }
        PolledFrame f;
        if (client.poll(s, f) && resumed) {
            first_new = f;
        }
        std::this_thread::sleep_for(milliseconds(2));
    }
    REQUIRE(resumed.has_value());
    REQUIRE(first_new.has_value());
    CHECK(resumed->event.value == 1);  // the runtime restarted: the session was re-created
    CHECK(first_new->pts_us < 1000000);  // on the new session's timeline
    const double resume_ms = ms_between(*up, first_new->at);
    metric("restart_resumed_event_after_up_ms", ms_between(*up, resumed->at));
    metric("restart_first_frame_after_up_ms", resume_ms);
    CHECK(resume_ms <= 5000.0);  // a few hundred ms when idle (metric above)
    CHECK(client.count_events(LPM_EVENT_CONNECTED, 0) >= 2);

    // Same handle, new runtime session, frames keep coming.
    lpm_session_info after;
    std::memset(&after, 0, sizeof(after));
    after.struct_size = sizeof(after);
    REQUIRE(lpm_session_get_info(client.get(), s, &after) == LPM_OK);
    CHECK(std::string(after.session_id) != std::string(before.session_id));
    shown.clear();
    run_until_count(shown, 10, seconds(10), tick);
    CHECK(shown.size() >= 10);
    lpm_stats stats;
    std::memset(&stats, 0, sizeof(stats));
    stats.struct_size = sizeof(stats);
    REQUIRE(lpm_client_get_stats(client.get(), s, &stats) == LPM_OK);
    CHECK(stats.connected == 1);
    CHECK(stats.reconnects >= 1);
}
