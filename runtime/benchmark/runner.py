"""``lpm bench``: every selected case × every available generator, then speed, then the report."""

from __future__ import annotations

import logging
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.benchmark.cases import Case, builtin_case_dir, expand_portraits, load_case, load_cases
from runtime.benchmark.generators import GeneratorSpec, available_generators, select_generators
from runtime.benchmark.report import load_average, write_report
from runtime.benchmark.suites import (
    BenchContext,
    BenchSettings,
    CaseResult,
    run_case,
    serve_suite,
    speed_suite,
)

log = logging.getLogger(__name__)

SPEED_CASE = "conversation_turns"  # the shipped case whose timeline the speed suite streams
REPORT_VERSION = 1

# (what is running, units done, units in all)
Progress = Callable[[str, int, int], None]


def default_portraits_dir() -> Path | None:
    """The shared test portraits beside the repository (``../shared/testdata/portraits``)."""
    here = Path(__file__).resolve()
    for root in (Path.cwd().parent, here.parents[3]):
        candidate = root / "shared" / "testdata" / "portraits"
        if candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True)
class BenchOptions:
    """What ``lpm bench`` was asked to do."""

    out: Path  # report folder
    quick: bool = False  # the CI run: a few short cases, no server
    long_minutes: float | None = None  # long-horizon length (default 10, quick 0.5)
    generators: str | None = None  # comma list; None = every available one
    cases: str = "*"  # comma list of case-name globs or suite names
    case_dir: Path | None = None  # default: the shipped cases
    portraits_dir: Path | None = None  # default: ../shared/testdata/portraits
    clips: bool = True  # write MP4 clips of the cases marked clip = true

    def settings(self) -> BenchSettings:
        portraits = self.portraits_dir or default_portraits_dir()
        changes: dict[str, Any] = {"portraits_dir": portraits}
        if self.long_minutes is not None:
            if not self.long_minutes > 0:
                raise ValueError(f"--long must be positive minutes, got {self.long_minutes}")
            changes["long_minutes"] = float(self.long_minutes)
        return BenchSettings.quick_run(**changes) if self.quick else BenchSettings(**changes)


def _units(cases: list[Case], settings: BenchSettings) -> list[tuple[Case, str | None]]:
    """(case, portrait) pairs: characters cases expand to one run per portrait."""
    units: list[tuple[Case, str | None]] = []
    for case in cases:
        if case.suite == "characters":
            portraits = expand_portraits(case, settings.portraits_dir, settings.quick)
            if not portraits:
                log.warning("%s: no portraits found (folder %s)", case.name, settings.portraits_dir)
            units.extend((case, p) for p in portraits)
        else:
            units.append((case, None))
    return units


def run_benchmark(options: BenchOptions, progress: Progress | None = None) -> dict[str, Any]:
    """Run the benchmark and write the report into ``options.out``; returns the report dict."""
    started = time.perf_counter()
    load_start = load_average()
    settings = options.settings()
    specs = select_generators(options.generators)
    cases = load_cases(options.case_dir, options.cases)
    if settings.quick:
        cases = [c for c in cases if c.quick]
    if not cases:
        raise ValueError(f"no case matches {options.cases!r}")
    units = _units(cases, settings)
    ctx = BenchContext(settings)
    total = len(units) * len(specs) + len(specs) * len(settings.speed_sizes) + 2
    done = 0

    def tick(what: str) -> None:
        if progress is not None:
            progress(what, done, total)

    results: list[CaseResult] = []
    for case, portrait in units:
        for spec in specs:
            label = f"{case.name}{'/' + Path(portrait).stem if portrait else ''} · {spec.name}"
            tick(label)
            results.append(_run_one(ctx, case, spec, portrait))
            done += 1
    tick("speed")
    speed = _speed(ctx, specs, settings)
    done += len(specs) * len(settings.speed_sizes)
    serve: dict[str, Any]
    if settings.quick:
        serve = {"status": "not run in quick mode"}
    else:
        tick("real server (lpm serve + one client)")
        try:
            serve = {"status": "ok", **serve_suite(settings.serve_seconds)}
        except Exception as exc:  # the report says what failed; the rest stands
            log.exception("serve suite failed")
            last = (str(exc).strip().splitlines() or [""])[-1]
            serve = {"status": f"error: {type(exc).__name__}: {last}"}
    done += 1
    tick("report")
    report = {
        "version": REPORT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if settings.quick else "full",
        "settings": _settings_json(settings),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": _cpus(),
            "load_start": load_start,
        },
        "generators": {s.name: s.description for s in specs},
        "available_generators": list(available_generators()),
        "cases": [r.as_json() for r in results],
        "speed": speed,
        "serve": serve,
        "errors": [
            f"{r.case} · {r.generator}: {r.message}" for r in results if r.status == "error"
        ],
    }
    write_report(report, results, ctx, cases, options.out, options.clips, started)
    done = total
    tick("done")
    return report


def _run_one(
    ctx: BenchContext, case: Case, spec: GeneratorSpec, portrait: str | None
) -> CaseResult:
    try:
        return run_case(ctx, case, spec, portrait)
    except Exception as exc:  # one broken case must not hide the others
        log.exception("%s with %s failed", case.name, spec.name)
        name = case.name if portrait is None else f"{case.name}/{Path(portrait).stem}"
        return CaseResult(
            name,
            case.suite,
            spec.name,
            portrait or case.portrait,
            status="error",
            message=f"{type(exc).__name__}: {exc}",
        )


def _speed(
    ctx: BenchContext, specs: list[GeneratorSpec], settings: BenchSettings
) -> dict[str, Any]:
    path = builtin_case_dir() / f"{SPEED_CASE}.toml"
    timeline = ctx.timeline(load_case(path))
    out: dict[str, Any] = {
        "case": SPEED_CASE,
        "chunk_frames": settings.speed_chunk_frames,
        "seconds": min(settings.speed_seconds, timeline.seconds),
        "by_generator": {},
    }
    for spec in specs:
        rows: dict[str, dict[str, Any]] = {}
        for size in settings.speed_sizes:
            try:
                rows[str(size)] = speed_suite(ctx, spec, timeline, size)
            except Exception as exc:
                log.exception("speed suite failed for %s at %d px", spec.name, size)
                rows[str(size)] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
        out["by_generator"][spec.name] = rows
    return out


def _settings_json(settings: BenchSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.__dict__.items():
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
