"""The benchmark's report: ``report.json``, ``report.md`` (:mod:`.tables`), PNG plots
(:mod:`.plots`) and MP4 clips of the cases marked ``clip``."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from models.generator import SAMPLE_RATE
from runtime.benchmark.plots import (
    plot_bars,
    plot_curves,
    plot_identity,
    plot_latency,
    plot_memory,
    plot_prompts,
    plot_speed,
)
from runtime.benchmark.tables import headline_table, markdown

if TYPE_CHECKING:
    from runtime.benchmark.cases import Case
    from runtime.benchmark.suites import BenchContext, CaseResult

log = logging.getLogger(__name__)

CLIP_SIZE = 256  # px per generator panel in the MP4 clips


# --- clips ----------------------------------------------------------------------------------------


def write_clip(path: Path, ctx: BenchContext, case: Case, results: list[CaseResult]) -> None:
    """The case's frames of every generator side by side (256 px each), with both voices."""
    from models.render.warp import WarpRenderer
    from runtime.media import Mp4Writer

    timeline = ctx.timeline(case)
    asset = ctx.character(case.portrait)
    renderer = WarpRenderer(asset)
    mix = timeline.speak + timeline.listen
    peak = float(np.abs(mix).max(initial=0.0))
    if peak > 0.98:
        mix = mix * (0.98 / peak)
    with Mp4Writer(path, fps=timeline.fps, audio=mix, sample_rate=SAMPLE_RATE) as writer:
        for i in range(timeline.num_frames):
            panels = []
            for r in results:
                rgb = renderer.render(r.series["curves"][i])[..., :3]
                small = cv2.resize(rgb, (CLIP_SIZE, CLIP_SIZE), interpolation=cv2.INTER_AREA)
                small = np.ascontiguousarray(small)
                cv2.putText(
                    small,
                    r.generator,
                    (6, 18),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.5,
                    (255, 255, 255),
                    1,
                    cv2.LINE_AA,
                )
                prompt = timeline.prompts[i]
                if prompt:
                    cv2.putText(
                        small,
                        prompt[:34],
                        (6, CLIP_SIZE - 10),
                        cv2.FONT_HERSHEY_SIMPLEX,
                        0.42,
                        (255, 255, 255),
                        1,
                        cv2.LINE_AA,
                    )
                panels.append(small)
            writer.write(np.concatenate(panels, axis=1))


# --- writing --------------------------------------------------------------------------------------


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    """NaN and infinities → null (JSON has none)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_report(
    report: dict[str, Any],
    results: list[CaseResult],
    ctx: BenchContext,
    cases: list[Case],
    out: Path,
    clips: bool = True,
    started: float | None = None,
) -> None:
    """Plots and clips first, then ``report.json`` and ``report.md`` (with the duration)."""
    out.mkdir(parents=True, exist_ok=True)
    fps = ctx.settings.fps
    plots: list[tuple[str, str]] = []
    ok = [r for r in results if r.status == "ok"]

    def plot(title: str, name: str, fn: Any, *args: Any) -> None:
        path = out / "plots" / name
        path.parent.mkdir(exist_ok=True)
        try:
            fn(path, *args)
        except Exception:  # a plot that fails must not lose the numbers
            log.exception("plot %s failed", name)
            return
        if path.exists():
            plots.append((title, f"plots/{name}"))

    by_case: dict[str, list[CaseResult]] = {}
    for r in ok:
        by_case.setdefault(r.case, []).append(r)
    # The cases with clips first: their plots and videos show the same thing.
    by_name = {c.name: c for c in cases}  # results of characters cases are "case/portrait"
    shown = sorted(by_case, key=lambda name: not by_name[name.split("/")[0]].clip)
    for suite in ("speaking", "conversation"):
        first = next((name for name in shown if by_case[name][0].suite == suite), None)
        if first is not None:
            plot(
                f"Curves over time against the truth: {first}",
                f"curves_{first}.png",
                plot_curves,
                by_case[first],
                fps,
            )
    emote = next(
        (
            by_case[name][0]
            for name in shown
            if by_case[name][0].suite == "emotes" and "curves_no_prompt" in by_case[name][0].series
        ),
        None,
    )
    if emote is not None:
        spans = [
            (s.start / fps, s.stop / fps, s.prompt.text)
            for s in ctx.timeline(by_name[emote.case]).prompt_spans
        ]
        plot(
            f"Text prompts: {emote.case}",
            f"prompts_{emote.case}.png",
            plot_prompts,
            emote,
            spans,
            fps,
        )
    long_runs = [r for r in ok if r.suite == "long" and "identity_t" in r.series]
    if long_runs:
        plot(
            "Identity distance over time (long horizon)",
            "identity_over_time.png",
            plot_identity,
            long_runs,
        )
    report["headline"] = headline_table(report)
    plot("Metrics per suite, per generator", "metrics_by_generator.png", plot_bars, report)
    plot("Time per stage", "speed_stages.png", plot_speed, report)
    if report["serve"].get("status") == "ok":
        plot(
            "Audio→frame latency (real server)",
            "latency_histogram.png",
            plot_latency,
            report["serve"],
        )
    rss_runs = [r for r in ok if "rss_t" in r.series]
    if rss_runs or report["serve"].get("status") == "ok":
        plot("Memory over time", "memory_over_time.png", plot_memory, rss_runs, report["serve"])
    report["plots"] = plots

    written: list[tuple[str, str]] = []
    if clips:
        for case in cases:
            rs = by_case.get(case.name)
            if not case.clip or not rs:
                continue
            if ctx.settings.max_clips is not None and len(written) >= ctx.settings.max_clips:
                break
            path = out / "clips" / f"{case.name}.mp4"
            path.parent.mkdir(exist_ok=True)
            try:
                write_clip(path, ctx, case, rs)
            except Exception:
                log.exception("clip %s failed", case.name)
                continue
            written.append((case.description or case.name, f"clips/{case.name}.mp4"))
    report["clips"] = written
    if started is not None:
        report["duration_s"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_end"] = load_average()
    report_clean = _clean(report)
    (out / "report.json").write_text(
        json.dumps(report_clean, indent=1, default=_json_default) + "\n", encoding="utf-8"
    )
    (out / "report.md").write_text(markdown(report_clean), encoding="utf-8")
    log.info("report written to %s", out)
