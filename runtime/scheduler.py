"""Which session makes its next chunk now: pacing and deadlines, without sockets or models.

A chunk of session ``s`` covers frames ``[k, k+C)`` = samples ``[a, b)`` on its timeline.
It is **due** when either

* real time has passed its end plus a grace for in-flight audio (``now >= b + grace``): listen
  and idle frames are made in real time; a chunk the NPC speaks in waits for the speak
  look-ahead its generator hears, at most until ``b + lookahead + grace`` (speech streamed in
  real time), and runs as soon as real time has passed ``b`` with that look-ahead here, or
* the NPC's own speech covers it (plus the look-ahead), it lies within the horizon
  (``a <= now + horizon``) and the player is not talking: TTS usually arrives faster than real
  time, and frames made early absorb jitter; but a frame made early cannot react to the player.

Its **deadline** is when the client's playhead reaches it: ``a + latency`` on the timeline. A
chunk published after that is late (counted per session). A session further behind than
``max_behind`` skips frames rather than making stale ones, so one stall cannot snowball.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from models.generator import SAMPLE_RATE
from runtime.session import Session


@dataclass(frozen=True)
class ChunkJob:
    """One chunk to make: ``num_frames`` frames of ``session`` from frame ``start``."""

    session: Session
    start: int  # timeline frame number of the first frame
    num_frames: int
    epoch: int  # the session's epoch when scheduled; an interrupt voids older jobs
    early: bool  # made ahead of real time from speak audio

    @property
    def deadline_ns(self) -> int:
        p = self.session.pacing
        return self.session.ns_at(self.start * p.spf) + p.latency_us * 1000


@dataclass(frozen=True)
class Plan:
    jobs: list[ChunkJob]
    skipped: dict[str, int]  # frames skipped per session id (too far behind)
    wake_ns: int | None  # when the next chunk falls due in real time (None: nothing pending)


class Scheduler:
    """Picks at most one chunk per session per tick, so sessions share the CPU fairly."""

    def schedule(self, sessions: Iterable[Session], now_ns: int) -> Plan:
        jobs: list[ChunkJob] = []
        skipped: dict[str, int] = {}
        wake: int | None = None
        for s in sessions:
            if s.closed:
                continue
            p = s.pacing
            spf, c = p.spf, p.chunk_frames
            now = s.now_s(now_ns)
            grace = p.grace_us * SAMPLE_RATE // 1_000_000
            behind = now - (s.cursor + c) * spf - grace
            limit = p.max_behind_us * SAMPLE_RATE // 1_000_000
            if behind > limit:
                target = (now - grace) // spf - c  # the newest chunk that is due
                if target > s.cursor:
                    skipped[s.id] = target - s.cursor
                    s.cursor = target
            a, b = s.cursor * spf, (s.cursor + c) * spf
            need = b + p.lookahead_frames * spf
            covered = s.speak.covered_until(a)
            # While the NPC speaks, real time also waits for the look-ahead; once the chunk's
            # speech and look-ahead are here, nothing is in flight: no grace is needed.
            wait = need - b if a < covered < need else 0
            spoken = covered >= need
            realtime = now >= b + wait + grace or (spoken and now >= b)
            horizon = p.horizon_us * SAMPLE_RATE // 1_000_000
            early = not realtime and spoken and a <= now + horizon and not s.player_talking(now)
            if realtime or early:
                jobs.append(ChunkJob(s, s.cursor, c, s.epoch, early=early))
                wake = now_ns  # more may be due right away
            else:
                due = s.ns_at(b if spoken else b + wait + grace)
                if spoken:  # speech waits only for the horizon
                    due = min(due, s.ns_at(a - horizon))
                wake = due if wake is None else min(wake, due)
        jobs.sort(key=lambda j: j.deadline_ns)  # earliest deadline first
        return Plan(jobs, skipped, wake)
