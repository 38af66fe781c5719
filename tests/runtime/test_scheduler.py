"""Pacing without sockets: sessions on a hand-driven clock, the real scheduler and front-end."""

from __future__ import annotations

import numpy as np
import pytest

from models.generator import SAMPLE_RATE, CharacterConditioning
from models.logmel import LogMelFrontEnd
from models.performer import ProceduralPerformer
from runtime.frontend import SileroVad
from runtime.scheduler import Scheduler
from runtime.session import Pacing, Session

MS = 1_000_000  # ns


class Clock:
    def __init__(self) -> None:
        self.ns = 10_000 * MS

    def __call__(self) -> int:
        return self.ns


def make_session(
    clock: Clock, pacing: Pacing | None = None, sid: str = "s", vad: SileroVad | None = None
) -> Session:
    return Session(
        sid,
        "client",
        "astronaut",
        CharacterConditioning(),
        ProceduralPerformer(),
        pacing or Pacing(),
        width=64,
        height=64,
        encoding="rgba8",
        jpeg_quality=80,
        prompt=None,
        seed=0,
        vad=vad,
        features=LogMelFrontEnd(),
        clock=clock,
    )


def run_due(scheduler: Scheduler, sessions: list[Session], clock: Clock) -> list[tuple[str, int]]:
    """Schedule and 'make' every due chunk at the current time (cursor moves as the engine's)."""
    made = []
    while True:
        plan = scheduler.schedule(sessions, clock.ns)
        if not plan.jobs:
            return made
        for job in plan.jobs:
            job.session.cursor = job.start + job.num_frames
            made.append((job.session.id, job.start))


def test_idle_frames_come_in_real_time_after_the_grace() -> None:
    clock = Clock()
    s = make_session(clock)
    p = s.pacing
    sched = Scheduler()
    assert run_due(sched, [s], clock) == []
    clock.ns += 40 * MS + p.grace_us * 1000 - 1 * MS  # frame 0 ends at 40 ms; grace not over
    assert run_due(sched, [s], clock) == []
    clock.ns += 1 * MS
    assert run_due(sched, [s], clock) == [("s", 0)]
    plan = sched.schedule([s], clock.ns)
    assert plan.wake_ns == s.ns_at(2 * p.spf + p.grace_us * SAMPLE_RATE // 1_000_000)
    clock.ns += 400 * MS  # ten more frames are due at once, in order
    assert [k for _, k in run_due(sched, [s], clock)] == list(range(1, 11))


def test_speech_runs_ahead_up_to_the_horizon_only() -> None:
    clock = Clock()
    s = make_session(clock, Pacing(horizon_us=200_000))
    s.push_speak(np.full(SAMPLE_RATE * 2, 0.1, np.float32), SAMPLE_RATE, None)  # 2 s of speech
    made = run_due(Scheduler(), [s], clock)
    # Frames whose start lies within 200 ms of now: 0..5 (frame 5 starts at 200 ms).
    assert [k for _, k in made] == [0, 1, 2, 3, 4, 5]
    clock.ns += 100 * MS
    assert [k for _, k in run_due(Scheduler(), [s], clock)] == [6, 7]


def test_a_session_far_behind_skips_frames_and_says_how_many() -> None:
    clock = Clock()
    s = make_session(clock, Pacing(max_behind_us=500_000))
    clock.ns += 3_000 * MS
    plan = Scheduler().schedule([s], clock.ns)
    assert plan.skipped["s"] > 0
    assert len(plan.jobs) == 1
    assert plan.jobs[0].start * 40 >= 3_000 - 40 - 60 - 40  # close to real time, not frame 0


def test_jobs_are_ordered_by_deadline_and_one_per_session() -> None:
    clock = Clock()
    late = make_session(clock, sid="late")
    clock.ns += 200 * MS
    fresh = make_session(clock, sid="fresh")
    clock.ns += 200 * MS
    plan = Scheduler().schedule([fresh, late], clock.ns)
    assert [j.session.id for j in plan.jobs] == ["late", "fresh"]


@pytest.mark.parametrize("rate", [16_000, 22_050, 44_100, 48_000])
def test_speak_audio_lands_on_the_timeline_at_its_duration(rate: int) -> None:
    clock = Clock()
    s = make_session(clock)
    clock.ns += 100 * MS
    t = np.arange(rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    scheduled = None
    for i in range(0, rate, rate // 50):  # 20 ms packets, sent in real time
        got = s.push_speak(tone[i : i + rate // 50], rate, None)
        scheduled = scheduled or got
        clock.ns += 20 * MS
    s.end_of_speech()
    assert scheduled is not None and scheduled[0] == 100_000  # placed at "now"
    assert s.stats.speak_dropped_samples == 0
    assert abs(s.stats.speak_samples - SAMPLE_RATE) <= 2
    audio, _ = s.speak.read(scheduled[0] * SAMPLE_RATE // 1_000_000, SAMPLE_RATE)
    spectrum = np.abs(np.fft.rfft(audio[1000:-1000]))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / (SAMPLE_RATE - 2000) - 440) < 3


def test_speech_for_frames_already_made_is_dropped_and_counted() -> None:
    clock = Clock()
    s = make_session(clock)
    s.cursor = 50  # frames 0..49 exist
    s.push_speak(np.ones(SAMPLE_RATE, np.float32) * 0.1, SAMPLE_RATE, pts_us=1_000_000)
    assert s.stats.speak_dropped_samples == SAMPLE_RATE  # all of [1 s, 2 s) is in the past
    s2 = make_session(clock)
    s2.cursor = 50
    s2.push_speak(np.ones(SAMPLE_RATE, np.float32) * 0.1, SAMPLE_RATE, pts_us=1_500_000)
    assert s2.stats.speak_dropped_samples == SAMPLE_RATE // 2


def test_interrupt_rolls_back_to_the_playhead_and_forgets_speech() -> None:
    clock = Clock()
    s = make_session(clock, Pacing(horizon_us=1_000_000))
    s.push_speak(np.full(SAMPLE_RATE * 2, 0.1, np.float32), SAMPLE_RATE, None)
    sched = Scheduler()
    while plan := sched.schedule([s], clock.ns).jobs:
        for job in plan:
            s.history.append((job.start, (("state-before", job.start), s.feature_state)))
            s.cursor = job.start + job.num_frames
    assert s.cursor == 26  # 1 s ahead
    clock.ns += 400 * MS  # playhead = 400 - 140 = 260 ms → frame 6.5
    redo = s.interrupt()
    assert s.cursor == 7 and redo == 19
    assert s.gen_state == ("state-before", 7)
    assert s.speak.covered_until(7 * 640) == 7 * 640  # speech after the playhead is gone
    assert s.epoch == 1


def test_state_machine_hangover_and_overlap() -> None:
    clock = Clock()
    s = make_session(clock)
    speak = np.array([0.9, 0.9, 0.2, 0.2, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    listen = np.array([0, 0, 0, 0, 0.8, 0.8, 0, 0, 0, 0, 0, 0.8])
    states = s.frame_states(speak, listen)
    assert states[:5] == ["speak", "speak", "speak", "speak", "both"]
    assert states[5] == "both"  # hangover keeps speaking through a short pause
    assert "idle" in states[6:11]
    assert states[11] == "listen"


def test_vad_tells_speech_from_silence_and_noise() -> None:
    from models.tts import EspeakEngine

    speech = EspeakEngine.shared().synthesize("Good morning, how can I help you today?")
    clock = Clock()
    s = make_session(clock, vad=SileroVad.shared())
    rng = np.random.default_rng(0)
    noise = (0.01 * rng.standard_normal(speech.sample_rate)).astype(np.float32)  # 1 s
    audio = np.concatenate([noise, speech.samples.astype(np.float32), noise])
    s.push_speak(audio, speech.sample_rate, pts_us=0)
    _, prob = s.speak.read(0, s.speak.end)
    n = SAMPLE_RATE  # one second of noise on the 16 kHz timeline
    assert prob[: n - 2048].mean() < 0.1  # noise
    voiced = prob[n + 2048 : s.speak.end - n - 2048]
    assert voiced.mean() > 0.6


def test_speech_waits_for_real_time_while_the_player_talks() -> None:
    from models.tts import EspeakEngine

    player = EspeakEngine.shared().synthesize("Wait, what did you say about the gate?")
    clock = Clock()
    s = make_session(clock, Pacing(horizon_us=500_000), vad=SileroVad.shared())
    clock.ns += 1_500 * MS
    heard = player.samples.size * SAMPLE_RATE // player.sample_rate
    s.push_listen(player.samples.astype(np.float32), player.sample_rate, pts_us=0)
    s.push_speak(np.full(SAMPLE_RATE * 5, 0.1, np.float32), SAMPLE_RATE, pts_us=0)  # 0..5 s
    assert s.listen.last_speech_end > heard // 2
    made = run_due(Scheduler(), [s], clock)
    now_frames = 1_500 // 40
    assert max(k for _, k in made) < now_frames  # nothing ahead of real time
    silent_ms = s.listen.last_speech_end * 1000 // SAMPLE_RATE + 600
    clock.ns = s.created_ns + silent_ms * MS  # the player has been silent for 0.6 s
    made = run_due(Scheduler(), [s], clock)
    assert max(k for _, k in made) * 40 > silent_ms + 300  # speech runs ahead again


def test_speech_streamed_in_real_time_waits_for_the_look_ahead() -> None:
    clock = Clock()
    p = Pacing(chunk_frames=4, lookahead_frames=2)
    s = make_session(clock, p)
    packet = SAMPLE_RATE // 50  # 20 ms packets, each sent when its audio has been spoken
    grace = p.grace_us * 1000

    def stream_until(ms: int) -> None:
        while s.speak.end * 1000 // SAMPLE_RATE < ms:
            s.push_speak(np.full(packet, 0.1, np.float32), SAMPLE_RATE, None)
        clock.ns = s.created_ns + ms * MS

    stream_until(160)
    clock.ns += grace  # the chunk's grace is over, but its 80 ms look-ahead has not arrived
    assert run_due(Scheduler(), [s], clock) == []
    stream_until(240)  # chunk 0 ends at 160 ms, its look-ahead at 240 ms: now it can run early
    assert run_due(Scheduler(), [s], clock) == [("s", 0)]
    assert p.latency_us == p.chunk_us + p.grace_us + p.lookahead_us + p.budget_us

    # A line that stops inside the look-ahead waits for it at most: then real time goes on.
    quiet = make_session(clock, p, sid="q")
    quiet.push_speak(np.full(SAMPLE_RATE * 170 // 1000, 0.1, np.float32), SAMPLE_RATE, None)
    clock.ns = quiet.created_ns + 160 * MS + grace
    assert run_due(Scheduler(), [quiet], clock) == []
    clock.ns += p.lookahead_us * 1000
    assert run_due(Scheduler(), [quiet], clock) == [("q", 0)]
    # Without speech the same chunk runs at its grace.
    idle = make_session(clock, p, sid="i")
    clock.ns = idle.created_ns + 160 * MS + grace
    assert run_due(Scheduler(), [idle], clock) == [("i", 0)]
