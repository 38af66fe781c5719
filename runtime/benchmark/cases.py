"""Benchmark cases: TOML files in ``runtime/benchmark/cases/`` (one case per file).

A case says who performs (a portrait), what they hear and say, which prompts they get and what
those prompts should do. Adding a case is adding a file::

    suite = "speaking"           # speaking, listening, conversation, idle, emotes, long,
                                 # characters
    description = "An NPC gives directions."
    portrait = "default"         # a file in the portraits folder, or "default" (the astronaut)
    seconds = 12.0               # optional: clip length (default: last event's end + tail_s)
    tail_s = 1.5                 # optional: silence after the last event
    quick = true                 # optional: part of ``lpm bench --quick``
    clip = true                  # optional: write an MP4 of this case
    seed = 0                     # optional: performance seed

    [[speak]]                    # the character's own lines
    at = 0.5                     # seconds on the case's timeline
    text = "Follow the coast road north."   # synthesised (phone timings known) ...
    # wav = "voices/npc.wav"     # ... or a recording, relative to this file
    voice = "en-us+f3"           # optional synthesiser voice; rate (wpm) and pitch too
    # cut_at = 1.2               # optional: the line stops here (barge-in), seconds into it

    [[listen]]                   # the partner's lines (same keys)
    at = 4.0
    text = "Thanks!"

    [[prompt]]
    at = 8.0
    until = 11.0                 # optional, default: the end of the clip
    text = "smiles warmly"
    up = ["mouthSmileLeft", "mouthSmileRight"]   # expected to rise against no prompt
    # down = [...]; moves = [...] (a gesture: the curve's spread grows)

Two suites take extra keys: ``characters`` cases list ``portraits`` (globs in the portraits
folder, one run per match, ``quick_portraits`` in quick mode); ``long`` cases last ``--long``
minutes and repeat their events every ``repeat_s`` seconds.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from models.audio_io import load_audio, to_model_rate
from models.generator import SAMPLE_RATE, samples_per_frame
from models.motion import CURVE_INDEX
from models.tts import Speech, TimedUnit, synthesize
from runtime.benchmark.metrics import Expectation
from runtime.benchmark.targets import TimedLine

log = logging.getLogger(__name__)

SUITES = ("speaking", "listening", "conversation", "idle", "emotes", "long", "characters")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
DEFAULT_PORTRAIT = "default"
DEFAULT_VOICE = "en-us"
_CASE_KEYS = {
    "name",
    "suite",
    "description",
    "portrait",
    "portraits",
    "quick_portraits",
    "seconds",
    "tail_s",
    "quick",
    "clip",
    "seed",
    "repeat_s",
    "speak",
    "listen",
    "prompt",
}
_LINE_KEYS = {"at", "text", "wav", "voice", "rate", "pitch", "cut_at"}
_PROMPT_KEYS = {"at", "until", "text", "up", "down", "moves"}


class CaseError(ValueError):
    """A case file is malformed (one line naming the file and the problem)."""


@dataclass(frozen=True)
class Line:
    """One line of speech on a case's timeline (the character's or the partner's)."""

    at: float  # seconds from the start of the case
    text: str | None = None  # synthesised when given
    wav: Path | None = None  # a recording instead of text
    voice: str = DEFAULT_VOICE
    rate: int = 165  # words per minute (synthesiser)
    pitch: int = 50  # 0..100 (synthesiser)
    cut_at: float | None = None  # seconds into the line where it stops (barge-in)


@dataclass(frozen=True)
class Prompt:
    """A text prompt in force over ``[at, until)`` seconds and what it should move."""

    at: float
    text: str
    until: float | None = None
    up: tuple[str, ...] = ()
    down: tuple[str, ...] = ()
    moves: tuple[str, ...] = ()

    @property
    def expectations(self) -> list[tuple[str, tuple[str, ...]]]:
        return [
            (d, c) for d, c in (("up", self.up), ("down", self.down), ("moves", self.moves)) if c
        ]


@dataclass(frozen=True)
class Case:
    """One benchmark case (see the module docstring for the file format)."""

    name: str
    suite: str
    path: Path | None = None  # the file it came from
    description: str = ""
    portrait: str = DEFAULT_PORTRAIT
    portraits: tuple[str, ...] = ()  # characters suite: globs in the portraits folder
    quick_portraits: tuple[str, ...] = ()
    seconds: float | None = None
    tail_s: float = 1.5
    quick: bool = False
    clip: bool = False
    seed: int = 0
    repeat_s: float | None = None  # long suite: events repeat with this period
    speak: tuple[Line, ...] = ()
    listen: tuple[Line, ...] = ()
    prompts: tuple[Prompt, ...] = ()


# --- loading --------------------------------------------------------------------------------------


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CaseError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _number(where: str, value: Any, key: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CaseError(f"{where}: {key} must be a number, got {value!r}")
    if value < minimum:
        raise CaseError(f"{where}: {key} must be >= {minimum}, got {value}")
    return float(value)


def _curves(where: str, value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CaseError(f"{where}: {key} must be a list of curve names")
    for name in value:
        if name not in CURVE_INDEX:
            raise CaseError(f"{where}: {key} names an unknown curve {name!r}")
    return tuple(value)


def _line(where: str, raw: Any, base: Path | None) -> Line:
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: expected a table")
    _check_keys(where, raw, _LINE_KEYS)
    if ("text" in raw) == ("wav" in raw):
        raise CaseError(f"{where}: give exactly one of text or wav")
    text = raw.get("text")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise CaseError(f"{where}: text must be a non-empty string")
    wav = None
    if "wav" in raw:
        wav = Path(str(raw["wav"]))
        if not wav.is_absolute() and base is not None:
            wav = base / wav
    cut = raw.get("cut_at")
    return Line(
        at=_number(where, raw.get("at", 0.0), "at"),
        text=text,
        wav=wav,
        voice=str(raw.get("voice", DEFAULT_VOICE)),
        rate=int(_number(where, raw.get("rate", 165), "rate", 80)),
        pitch=int(_number(where, raw.get("pitch", 50), "pitch")),
        cut_at=None if cut is None else _number(where, cut, "cut_at"),
    )


def _prompt(where: str, raw: Any) -> Prompt:
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: expected a table")
    _check_keys(where, raw, _PROMPT_KEYS)
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CaseError(f"{where}: text must be a non-empty string")
    at = _number(where, raw.get("at", 0.0), "at")
    until = raw.get("until")
    if until is not None and _number(where, until, "until") <= at:
        raise CaseError(f"{where}: until must be after at")
    return Prompt(
        at=at,
        text=text,
        until=None if until is None else float(until),
        up=_curves(where, raw.get("up", []), "up"),
        down=_curves(where, raw.get("down", []), "down"),
        moves=_curves(where, raw.get("moves", []), "moves"),
    )


def parse_case(data: dict[str, Any], name: str, path: Path | None = None) -> Case:
    """A :class:`Case` from a parsed TOML table; :class:`CaseError` on anything malformed."""
    where = path.name if path is not None else name
    _check_keys(where, data, _CASE_KEYS)
    suite = data.get("suite")
    if suite not in SUITES:
        raise CaseError(f"{where}: suite must be one of {', '.join(SUITES)}, got {suite!r}")
    base = path.parent if path is not None else None

    def tables(key: str) -> list[Any]:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise CaseError(f"{where}: {key} must be an array of tables ([[{key}]])")
        return value

    seconds = data.get("seconds")
    repeat = data.get("repeat_s")
    case = Case(
        name=str(data.get("name", name)),
        suite=suite,
        path=path,
        description=str(data.get("description", "")),
        portrait=str(data.get("portrait", DEFAULT_PORTRAIT)),
        portraits=tuple(str(p) for p in data.get("portraits", [])),
        quick_portraits=tuple(str(p) for p in data.get("quick_portraits", [])),
        seconds=None if seconds is None else _number(where, seconds, "seconds", 0.2),
        tail_s=_number(where, data.get("tail_s", 1.5), "tail_s"),
        quick=bool(data.get("quick", False)),
        clip=bool(data.get("clip", False)),
        seed=int(data.get("seed", 0)),
        repeat_s=None if repeat is None else _number(where, repeat, "repeat_s", 1.0),
        speak=tuple(_line(f"{where} speak[{i}]", t, base) for i, t in enumerate(tables("speak"))),
        listen=tuple(
            _line(f"{where} listen[{i}]", t, base) for i, t in enumerate(tables("listen"))
        ),
        prompts=tuple(_prompt(f"{where} prompt[{i}]", t) for i, t in enumerate(tables("prompt"))),
    )
    if suite == "characters" and not case.portraits:
        raise CaseError(f"{where}: a characters case lists portraits (globs)")
    if suite == "long" and case.repeat_s is None:
        raise CaseError(f"{where}: a long case sets repeat_s (its events repeat)")
    return case


def load_case(path: Path) -> Case:
    """Read one case file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CaseError(f"{path.name}: {exc}") from exc
    return parse_case(data, path.stem, path)


def builtin_case_dir() -> Path:
    """The folder of the cases shipped with the package."""
    return Path(str(resources.files("runtime.benchmark").joinpath("cases")))


def load_cases(directory: Path | None = None, pattern: str = "*") -> list[Case]:
    """Every ``*.toml`` case in ``directory`` (default: the shipped ones) whose name matches
    the glob ``pattern``, sorted by suite (in :data:`SUITES` order), then name."""
    folder = directory or builtin_case_dir()
    cases = [load_case(p) for p in sorted(folder.glob("*.toml"))]
    patterns = [p.strip() for p in pattern.split(",") if p.strip()] or ["*"]
    chosen = [c for c in cases if any(fnmatch.fnmatch(c.name, p) or c.suite == p for p in patterns)]
    names = [c.name for c in chosen]
    if len(set(names)) != len(names):
        raise CaseError(f"two cases share a name in {folder}")
    return sorted(chosen, key=lambda c: (SUITES.index(c.suite), c.name))


def expand_portraits(case: Case, portraits_dir: Path | None, quick: bool) -> list[str]:
    """The portrait files a characters case runs on (file names in ``portraits_dir``)."""
    if portraits_dir is None or not portraits_dir.is_dir():
        return []
    files = sorted(p.name for p in portraits_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    globs = case.quick_portraits if quick and case.quick_portraits else case.portraits
    return [f for f in files if any(fnmatch.fnmatch(f, g) for g in globs)]


# --- timelines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedLine:
    """A line's audio on the timeline: ``[start_s, end_s)`` is where its voice is."""

    start_s: float
    end_s: float  # end of the voiced part (trailing silence of the recording excluded)
    phonemes: tuple[TimedUnit, ...] = ()  # start times from the line's start; () for recordings


@dataclass(frozen=True)
class PromptSpan:
    """A prompt in frames ``[start, stop)``."""

    prompt: Prompt
    start: int
    stop: int

    def expectations(self) -> list[Expectation]:
        return [Expectation(c, d, self.start, self.stop) for d, c in self.prompt.expectations]


@dataclass
class Timeline:
    """A case made concrete: both audio tracks at 16 kHz, the prompt of every frame, and the
    known timings (lines, phones, prompt spans)."""

    fps: float
    speak: np.ndarray  # float32 [T * spf]
    listen: np.ndarray  # float32 [T * spf]
    prompts: list[str | None]  # [T]
    speak_lines: list[PlacedLine] = field(default_factory=list)
    listen_lines: list[PlacedLine] = field(default_factory=list)
    prompt_spans: list[PromptSpan] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return len(self.prompts)

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps

    def timed_lines(self) -> list[TimedLine]:
        """The character's synthesised lines, for phone-based targets."""
        return [TimedLine(s.start_s, s.end_s, s.phonemes) for s in self.speak_lines if s.phonemes]

    def without_prompts(self) -> Timeline:
        return Timeline(self.fps, self.speak, self.listen, [None] * self.num_frames)


VoiceSource = Callable[[Line], tuple[np.ndarray, tuple[TimedUnit, ...]]]


class VoiceCache:
    """Synthesised or loaded line audio at 16 kHz, each distinct line made once per run."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], tuple[np.ndarray, tuple[TimedUnit, ...]]] = {}

    def __call__(self, line: Line) -> tuple[np.ndarray, tuple[TimedUnit, ...]]:
        key = (line.text, str(line.wav), line.voice, line.rate, line.pitch)
        if key not in self._cache:
            if line.wav is not None:
                samples, rate = load_audio(line.wav)
                self._cache[key] = (to_model_rate(samples, rate).astype(np.float32), ())
            else:
                assert line.text is not None
                speech: Speech = synthesize(
                    line.text, line.voice, line.rate, line.pitch, sample_rate=SAMPLE_RATE
                )
                self._cache[key] = (speech.samples.astype(np.float32), tuple(speech.phonemes))
        return self._cache[key]


def _voiced_end(audio: np.ndarray, floor: float = 1e-3) -> int:
    """Samples up to the last one louder than ``floor`` (trailing silence dropped)."""
    loud = np.flatnonzero(np.abs(audio) > floor)
    return int(loud[-1]) + 1 if loud.size else 0


def _repeat(items: Sequence[Any], period: float | None, until: float) -> list[Any]:
    """``items`` (with an ``at``) repeated every ``period`` seconds while they start before
    ``until``; prompts' ``until`` shift with them."""
    if period is None:
        return list(items)
    out: list[Any] = []
    k = 0
    while k * period < until:
        for item in items:
            shift = k * period
            if item.at + shift >= until:
                continue
            changes: dict[str, Any] = {"at": item.at + shift}
            if isinstance(item, Prompt) and item.until is not None:
                changes["until"] = item.until + shift
            out.append(replace(item, **changes))
        k += 1
    return out


def build_timeline(
    case: Case,
    fps: float = 25.0,
    voices: VoiceSource | None = None,
    long_minutes: float = 10.0,
) -> Timeline:
    """Lay out a case's lines and prompts on one timeline (long cases last ``long_minutes``)."""
    voices = voices or VoiceCache()
    spf = samples_per_frame(fps)
    total_s = long_minutes * 60.0 if case.suite == "long" else None
    period_until = total_s if total_s is not None else math.inf
    speak_lines = _repeat(case.speak, case.repeat_s, period_until)
    listen_lines = _repeat(case.listen, case.repeat_s, period_until)
    prompts = _repeat(case.prompts, case.repeat_s, period_until)

    placed: dict[str, list[tuple[int, np.ndarray, PlacedLine]]] = {"speak": [], "listen": []}
    end_s = 0.0
    for track, lines in (("speak", speak_lines), ("listen", listen_lines)):
        for line in lines:
            audio, phones = voices(line)
            if line.cut_at is not None:
                audio = audio[: int(line.cut_at * SAMPLE_RATE)]
                phones = tuple(u for u in phones if u.start < line.cut_at)
            voiced = _voiced_end(audio)
            start = round(line.at * SAMPLE_RATE)
            info = PlacedLine(line.at, line.at + voiced / SAMPLE_RATE, phones)
            placed[track].append((start, audio[:voiced], info))
            end_s = max(end_s, info.end_s)
    for p in prompts:
        end_s = max(end_s, p.until if p.until is not None else p.at + 3.0)
    seconds = total_s or case.seconds or end_s + case.tail_s
    num_frames = max(1, math.ceil(seconds * fps - 1e-9))
    n = num_frames * spf
    tracks = {"speak": np.zeros(n, np.float32), "listen": np.zeros(n, np.float32)}
    infos: dict[str, list[PlacedLine]] = {"speak": [], "listen": []}
    for track, items in placed.items():
        for start, audio, info in items:
            if start >= n:
                continue
            m = min(len(audio), n - start)
            tracks[track][start : start + m] += audio[:m]
            infos[track].append(info)
    per_frame: list[str | None] = [None] * num_frames
    spans = []
    for p in sorted(prompts, key=lambda p: p.at):
        a = min(num_frames, round(p.at * fps))
        b = num_frames if p.until is None else min(num_frames, round(p.until * fps))
        for i in range(a, b):
            per_frame[i] = p.text
        if b > a:
            spans.append(PromptSpan(p, a, b))
    return Timeline(
        fps, tracks["speak"], tracks["listen"], per_frame, infos["speak"], infos["listen"], spans
    )
