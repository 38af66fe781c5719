"""The report's tables: the headline (pooled per generator), the suite tables, markdown.

The headline pools every case of the suites a metric applies to, per generator: counts (phrase
ends answered, prompts obeyed, silent frames closed, blinks) are summed over the cases and
divided once; other metrics are the mean of the per-case values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LIPSYNC_SUITES = ("speaking", "conversation")


@dataclass(frozen=True)
class Headline:
    """One row of the headline table."""

    label: str
    unit: str
    keys: tuple[str, ...] = ()  # per-case metrics averaged over cases (several: "a / b / c")
    suites: tuple[str, ...] | None = None  # the suites it is pooled over (None: all)
    fmt: str = "{:.2f}"
    ratio: tuple[str, str] | None = None  # pooled instead: Σ numerator / Σ denominator
    scale: float = 1.0  # 100 for percentages
    good: str = ""  # what a good value looks like


HEADLINES: tuple[Headline, ...] = (
    Headline(
        "lip sync, motion: r(jawOpen, phone target)",
        "r",
        ("lipsync_motion_r",),
        LIPSYNC_SUITES,
        good="→ 1",
    ),
    Headline(
        "AV offset, motion",
        "frames",
        ("av_offset_motion_frames",),
        LIPSYNC_SUITES,
        "{:+.1f}",
        good="0 (+ = mouth late)",
    ),
    Headline(
        "lip sync, pixels: r(mouth opening, loudness)",
        "r",
        ("lipsync_pixel_r",),
        (*LIPSYNC_SUITES, "characters"),
        good="→ 1",
    ),
    Headline(
        "AV offset, pixels",
        "frames",
        ("av_offset_pixel_frames",),
        (*LIPSYNC_SUITES, "characters"),
        "{:+.1f}",
        good="0 (+ = mouth late)",
    ),
    Headline(
        "mouth closed in silences > 300 ms (pixels)",
        "%",
        ratio=("silence_closed_frames", "silence_measured_frames"),
        fmt="{:.1f}",
        scale=100.0,
        good="100",
    ),
    Headline(
        "identity distance, all frames",
        "dlib",
        ("identity_all",),
        fmt="{:.3f}",
        good="low; same person < 0.6",
    ),
    Headline(
        "identity distance, near-rest frames",
        "dlib",
        ("identity_near_rest",),
        fmt="{:.3f}",
        good="≈ rendered rest frame",
    ),
    Headline(
        "identity drift, long horizon",
        "dlib / min",
        ("identity_slope_per_min",),
        ("long",),
        "{:+.4f}",
        good="0",
    ),
    Headline(
        "blink rate",
        "/ min",
        ratio=("blinks", "minutes"),
        fmt="{:.1f}",
        good="15-20 (people at rest)",
    ),
    Headline(
        "head range yaw / pitch / roll",
        "deg",
        ("head_range_yaw_deg", "head_range_pitch_deg", "head_range_roll_deg"),
        fmt="{:.1f}",
        good="a few degrees",
    ),
    Headline("frozen stretches ≥ 1 s", "%", ("frozen_share",), fmt="{:.1f}", scale=100.0, good="0"),
    Headline(
        "listening: phrase ends answered within 1.2 s",
        "%",
        ratio=("backchannels", "phrase_ends"),
        fmt="{:.0f}",
        scale=100.0,
        good="high",
    ),
    Headline(
        "listening: same test mid-phrase (chance level)",
        "%",
        ratio=("control_hits", "control_points"),
        fmt="{:.0f}",
        scale=100.0,
        good="low",
    ),
    Headline(
        "text controllability",
        "%",
        ratio=("prompts_passed", "prompts"),
        fmt="{:.0f}",
        scale=100.0,
        good="100",
    ),
    Headline(
        "temporal jitter (landmark acceleration)",
        "IOD / frame²",
        ("jitter_iod_per_frame2",),
        fmt="{:.4f}",
        good="low",
    ),
)

# Per-suite tables: (column heading, metric key, format, scale).
Column = tuple[str, str, str, float]
_R = "{:.2f}"
_OFF = "{:+.0f}"
_PCT = "{:.0f}"
_ID = "{:.3f}"
SUITE_COLUMNS: dict[str, list[Column]] = {
    "speaking": [
        ("motion r", "lipsync_motion_r", _R, 1),
        ("offset", "av_offset_motion_frames", _OFF, 1),
        ("closure r", "closure_motion_r", _R, 1),
        ("rounding r", "rounding_motion_r", _R, 1),
        ("pixel r", "lipsync_pixel_r", _R, 1),
        ("offset", "av_offset_pixel_frames", _OFF, 1),
        ("closed in silence %", "silence_closed_pixel", _PCT, 100),
        ("identity", "identity_all", _ID, 1),
        ("jitter", "jitter_iod_per_frame2", "{:.4f}", 1),
    ],
    "listening": [
        ("answered %", "responsiveness", _PCT, 100),
        ("mid-phrase %", "responsiveness_control", _PCT, 100),
        ("closed in silence %", "silence_closed_pixel", _PCT, 100),
        ("blinks / min", "blink_rate_per_min", "{:.1f}", 1),
        ("pitch range °", "head_range_pitch_deg", "{:.1f}", 1),
        ("identity", "identity_all", _ID, 1),
    ],
    "conversation": [
        ("motion r", "lipsync_motion_r", _R, 1),
        ("offset", "av_offset_motion_frames", _OFF, 1),
        ("pixel r", "lipsync_pixel_r", _R, 1),
        ("offset", "av_offset_pixel_frames", _OFF, 1),
        ("closed in silence %", "silence_closed_pixel", _PCT, 100),
        ("answered %", "responsiveness", _PCT, 100),
        ("prompts %", "controllability", _PCT, 100),
        ("identity", "identity_all", _ID, 1),
    ],
    "idle": [
        ("blinks / min", "blink_rate_per_min", "{:.1f}", 1),
        ("yaw range °", "head_range_yaw_deg", "{:.1f}", 1),
        ("pitch range °", "head_range_pitch_deg", "{:.1f}", 1),
        ("roll range °", "head_range_roll_deg", "{:.1f}", 1),
        ("frozen %", "frozen_share", "{:.1f}", 100),
        ("identity", "identity_all", _ID, 1),
        ("near rest", "identity_near_rest", _ID, 1),
    ],
    "emotes": [
        ("prompts %", "controllability", _PCT, 100),
        ("identity", "identity_all", _ID, 1),
        ("near rest", "identity_near_rest", _ID, 1),
        ("identity max", "identity_max", _ID, 1),
        ("jitter", "jitter_iod_per_frame2", "{:.4f}", 1),
    ],
    "long": [
        ("minutes", "minutes", "{:.1f}", 1),
        ("identity", "identity_all", _ID, 1),
        ("near rest", "identity_near_rest", _ID, 1),
        ("drift / min", "identity_slope_per_min", "{:+.4f}", 1),
        ("near-rest drift / min", "identity_near_rest_slope_per_min", "{:+.4f}", 1),
        ("blinks / min", "blink_rate_per_min", "{:.1f}", 1),
        ("frozen %", "frozen_share", "{:.1f}", 100),
        ("RSS start MB", "rss_start_mb", "{:.0f}", 1),
        ("RSS end MB", "rss_end_mb", "{:.0f}", 1),
        ("prompts %", "controllability", _PCT, 100),
    ],
    "characters": [
        ("face found %", "face_found", _PCT, 100),
        ("pixel r", "lipsync_pixel_r", _R, 1),
        ("rest-frame identity", "identity_rest_frame", _ID, 1),
        ("identity", "identity_all", _ID, 1),
    ],
}


def fmt_value(value: float | None, fmt: str, scale: float = 1.0) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    text = fmt.format(value * scale)
    if text.startswith("-") and not text.strip("-+0."):
        text = fmt.format(0.0)  # no "-0.0000"
    return text


def pair(a: float | None, b: float | None, fmt: str, sep: str = " / ") -> str:
    """Two values in one cell: ``a / b``."""
    return f"{fmt_value(a, fmt)}{sep}{fmt_value(b, fmt)}"


# --- aggregation ----------------------------------------------------------------------------------


def ok_cases(cases: Sequence[dict[str, Any]], generator: str, suites: Sequence[str] | None) -> list:
    return [
        c
        for c in cases
        if c["generator"] == generator
        and c["status"] == "ok"
        and (suites is None or c["suite"] in suites)
    ]


def _metric(case: dict[str, Any], key: str) -> float:
    v = case["metrics"].get(key)
    return math.nan if v is None else float(v)


def pooled(cases: Sequence[dict[str, Any]], headline: Headline) -> list[float]:
    """The headline's value(s) over ``cases`` (already filtered): one per key, or the ratio."""
    if headline.ratio is not None:
        num, den = headline.ratio
        n = sum(np.nan_to_num(_metric(c, num)) for c in cases)
        d = sum(np.nan_to_num(_metric(c, den)) for c in cases)
        return [n / d if d > 0 else math.nan]
    out = []
    for key in headline.keys:
        values = [_metric(c, key) for c in cases]
        finite = [v for v in values if math.isfinite(v)]
        out.append(float(np.mean(finite)) if finite else math.nan)
    return out


def headline_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows ``{label, unit, good, values: {generator: text}, raw: {generator: [floats]}}``."""
    cases = report["cases"]
    generators = list(report["generators"])
    rows = []
    for h in HEADLINES:
        values, raw = {}, {}
        for g in generators:
            v = pooled(ok_cases(cases, g, h.suites), h)
            raw[g] = [None if not math.isfinite(x) else x * h.scale for x in v]
            values[g] = " / ".join(fmt_value(x, h.fmt, h.scale) for x in v)
        rows.append(
            {"label": h.label, "unit": h.unit, "good": h.good, "values": values, "raw": raw}
        )
    rows.extend(_speed_rows(report, generators))
    rows.append(_characters_row(cases, generators))
    return rows


def _speed_rows(report: dict[str, Any], generators: list[str]) -> list[dict[str, Any]]:
    rows = []
    by_gen = report["speed"]["by_generator"]
    sizes = sorted({int(s) for g in generators for s in by_gen.get(g, {})})
    for size in sizes:
        for label, key, fmt, good in (
            (f"real-time factor, {size} px (one thread, CPU time)", "rtf", "{:.3f}", "< 1"),
            (f"sessions per core at 25 fps, {size} px", "sessions_per_core", "{:.1f}", "high"),
        ):
            vals = {g: by_gen.get(g, {}).get(str(size), {}).get(key) for g in generators}
            rows.append(
                {
                    "label": label,
                    "unit": "",
                    "good": good,
                    "values": {g: fmt_value(v, fmt) for g, v in vals.items()},
                    "raw": {g: [v] for g, v in vals.items()},
                }
            )
    serve = report["serve"]
    if serve.get("status") == "ok":
        row = serve["row"]
        text = pair(row["server_p50_ms"], row["server_p99_ms"], "{:.1f}")
        client = pair(row["client_p50_ms"], row["client_p99_ms"], "{:.0f}")
        latency = f"server {text}, client {client}"
    else:
        latency = str(serve.get("status", "not run"))
    served = str(serve.get("generator", generators[0] if generators else "procedural"))
    rows.append(
        {
            "label": "audio→frame latency p50 / p99 (real server, 1 session)",
            "unit": "ms",
            "good": "client ≤ the latency a session announces (online 340, procedural 140)",
            "values": {
                g: latency if g == served else f"n/a (the server runs {served})" for g in generators
            },
            "raw": {},
        }
    )
    return rows


def _characters_row(cases: list[dict[str, Any]], generators: list[str]) -> dict[str, Any]:
    values = {}
    for g in generators:
        mine = [c for c in cases if c["suite"] == "characters" and c["generator"] == g]
        counts = [sum(c["status"] == s for c in mine) for s in ("ok", "refused", "error")]
        values[g] = " / ".join(str(n) for n in counts) if mine else "–"
    return {
        "label": "characters: prepared / refused with a message / crashed",
        "unit": "count",
        "good": "crashed 0",
        "values": values,
        "raw": {},
    }


# --- markdown -------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += [
        "| " + " | ".join(" ".join(cell.split()).replace("|", "\\|") for cell in row) + " |"
        for row in rows
    ]
    return out


def _duration(seconds: float) -> str:
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes} min {sec:02d} s" if minutes else f"{sec} s"


def markdown(report: dict[str, Any]) -> str:
    generators = list(report["generators"])
    missing = [g for g in ("base", "online") if g not in report["available_generators"]]
    lines = [
        "# LPM benchmark report",
        "",
        f"{report['mode']} run · {report['created']} · {report['machine']['cpus']} CPUs "
        f"({report['machine']['platform']}) · took {_duration(report.get('duration_s', 0))} · "
        f"load average {_load(report)} (speed numbers are one thread's share of a shared "
        "machine)",
        "",
        "Generators: "
        + ", ".join(f"**{g}** ({d})" for g, d in report["generators"].items())
        + (f". Not in this build: {', '.join(missing)}." if missing else "."),
        "",
        "Every metric is defined with its formula and units in `docs/metrics.md`.",
        "",
        "## Headline",
        "",
    ]
    rows = [
        [r["label"], r["unit"], *[r["values"].get(g, "–") for g in generators], r["good"]]
        for r in report["headline"]
    ]
    lines += _table(["metric", "unit", *generators, "good"], rows)
    if report["errors"]:
        lines += ["", "**Errors:**", ""] + [f"- {e}" for e in report["errors"]]
    lines += ["", "## Speed", "", *_speed_md(report)]
    lines += ["", "## Suites", ""]
    for suite, columns in SUITE_COLUMNS.items():
        mine = [c for c in report["cases"] if c["suite"] == suite]
        if not mine:
            continue
        lines += [f"### {suite}", ""]
        if suite == "characters":
            lines += _characters_md(mine, columns)
        else:
            rows = [
                [
                    c["case"],
                    c["generator"],
                    f"{c['seconds']:.0f}",
                    *[fmt_value(c["metrics"].get(k), f, s) for _, k, f, s in columns],
                ]
                for c in mine
                if c["status"] == "ok"
            ]
            lines += _table(["case", "generator", "s", *[h for h, *_ in columns]], rows)
            bad = [c for c in mine if c["status"] != "ok"]
            lines += [
                f"- {c['case']} · {c['generator']}: {c['status']}: {c['message']}" for c in bad
            ]
        if suite == "emotes" or any(c["details"].get("prompts") for c in mine):
            lines += ["", _prompts_md(mine)] if _prompts_md(mine) else []
        lines.append("")
    if report.get("plots"):
        lines += ["## Plots", ""]
        for title, path in report["plots"]:
            lines += [f"**{title}**", "", f"![{title}]({path})", ""]
    if report.get("clips"):
        lines += ["## Clips", ""]
        lines += [f"- [{Path(p).name}]({p}): {what}" for what, p in report["clips"]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _load(report: dict[str, Any]) -> str:
    """1-minute load average at the start and the end of the run."""
    a, b = report["machine"].get("load_start"), report["machine"].get("load_end")
    return f"{fmt_value(a, '{:.1f}')} → {fmt_value(b, '{:.1f}')}"


def _speed_md(report: dict[str, Any]) -> list[str]:
    speed = report["speed"]
    rows = []
    for g, sizes in speed["by_generator"].items():
        for size, r in sizes.items():
            if "error" in r:
                rows.append([g, size, r["error"], *[""] * 8])
                continue
            stages = ("features_ms", "generator_ms", "renderer_ms", "encode_ms", "total_ms")
            rows.append(
                [
                    g,
                    size,
                    *[fmt_value(r[k], "{:.2f}") for k in stages],
                    pair(r.get("wall_ms"), r.get("wall_p99_ms"), "{:.1f}"),
                    fmt_value(r["rtf"], "{:.3f}"),
                    fmt_value(r["sessions_per_core"], "{:.1f}"),
                ]
            )
    out = [
        f"In-process, one thread, one session: the `{speed['case']}` case streamed in "
        f"{speed['chunk_frames']}-frame chunks for {speed['seconds']:.0f} s. Milliseconds of "
        "this thread's CPU time per frame (other processes on a shared machine do not inflate "
        "it; the wall-clock total, which they do, is beside it). Encode = the wire's JPEG mode, "
        "RGB + alpha at quality 85.",
        "",
    ]
    headers = ["generator", "px", "features", "generator", "renderer", "encode", "total CPU",
               "wall mean / p99", "RTF", "sessions / core"]  # fmt: skip
    out += _table(headers, rows)
    serve = report["serve"]
    out.append("")
    if serve.get("status") != "ok":
        out.append(f"Real server (`lpm bench serve`, 1 session): {serve.get('status')}.")
        return out
    r = serve["row"]
    spc = serve.get("sessions_per_core")
    out += [
        f"Real server: an `lpm serve` process ({serve.get('generator', 'default')} generator) "
        "and one client process streaming a conversation in real time "
        f"({report['settings']['serve_seconds']:.0f} s, 256 px raw RGBA, ZeroMQ).",
        "",
        *_table(
            [
                "fps",
                "server p50 / p99 ms",
                "client p50 / p99 ms",
                "late frames",
                "server CPU %",
                "sessions / core (100 / CPU %)",
                "server RSS MB",
            ],
            [
                [
                    fmt_value(r["fps_mean"], "{:.1f}"),
                    pair(r["server_p50_ms"], r["server_p99_ms"], "{:.1f}"),
                    pair(r["client_p50_ms"], r["client_p99_ms"], "{:.0f}"),
                    str(r["late_frames"]),
                    fmt_value(r["cpu_percent"], "{:.0f}"),
                    fmt_value(spc, "{:.1f}"),
                    pair(r["rss_start_mb"], r["rss_end_mb"], "{:.0f}", " → "),
                ]
            ],
        ),
    ]
    return out


def _characters_md(cases: list[dict[str, Any]], columns: list[Column]) -> list[str]:
    rows = []
    for c in cases:
        cells = [fmt_value(c["metrics"].get(k), f, s) for _, k, f, s in columns]
        note = c["message"] if c["status"] != "ok" else ""
        rows.append([Path(c["portrait"]).name, c["generator"], c["status"], *cells, note])
    return _table(["portrait", "generator", "result", *[h for h, *_ in columns], "message"], rows)


def _prompts_md(cases: list[dict[str, Any]], max_rows: int = 12) -> str:
    rows = []
    for c in cases:
        prompts = c["details"].get("prompts", [])
        if len(prompts) > max_rows:  # a long case repeats its prompts: one line for all
            done = sum(p["passed"] is True for p in prompts)
            judged = sum(p["passed"] is not None for p in prompts)
            rows.append(
                [
                    c["case"],
                    c["generator"],
                    "…",
                    f"{len(prompts)} prompts",
                    f"{done} of {judged} judged",
                ]
            )
            continue
        for p in prompts:
            rows.append(
                [
                    c["case"],
                    c["generator"],
                    f"{p['at_s']:.1f}",
                    p["prompt"],
                    {True: "yes", False: "**no**"}.get(p["passed"], "n/a: saturated at rest"),
                ]
            )
    if not rows:
        return ""
    return "\n".join(
        [
            "Prompts against the same run without them:",
            "",
            *_table(["case", "generator", "at s", "prompt", "moved as expected"], rows),
        ]
    )
