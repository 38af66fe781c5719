"""The report's PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.motion import CURVE_INDEX
from runtime.benchmark.tables import HEADLINES, SUITE_COLUMNS, ok_cases, pooled

if TYPE_CHECKING:
    from runtime.benchmark.suites import CaseResult


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "figure.dpi": 110})
    return plt


def _colors(generators: Sequence[str]) -> dict[str, str]:
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    return {g: palette[i % len(palette)] for i, g in enumerate(generators)}


def plot_curves(path: Path, case_results: list[CaseResult], fps: float) -> None:
    """Speech, the phone target and jawOpen, the mouth opening on pixels, head pitch."""
    plt = _pyplot()
    colors = _colors([r.generator for r in case_results])
    first = case_results[0]
    n = len(first.series["curves"])
    t = np.arange(n) / fps
    fig, axes = plt.subplots(4, 1, figsize=(11, 8), sharex=True)
    ax = axes[0]
    speak, listen = first.series["speak_envelope"], first.series["listen_envelope"]
    peak = max(float(speak.max(initial=0)), float(listen.max(initial=0)), 1e-6)
    ax.fill_between(t, 0, speak / peak, color="tab:gray", alpha=0.5, label="character's voice")
    ax.fill_between(t, 0, -listen / peak, color="tab:cyan", alpha=0.5, label="partner's voice")
    ax.set_ylabel("loudness\n(normalised)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"{first.case}: curves over time against the truth")
    ax = axes[1]
    if "target_jawOpen" in first.series:
        rest = float(first.details.get("rest_jawOpen", 0.0))
        ax.step(
            t,
            rest + 0.5 * first.series["target_jawOpen"],
            where="mid",
            color="black",
            lw=1,
            label="rest + 0.5 × phone target",
        )
    for r in case_results:
        ax.plot(
            t,
            r.series["curves"][:, CURVE_INDEX["jawOpen"]],
            color=colors[r.generator],
            lw=1.2,
            label=f"jawOpen · {r.generator}",
        )
    ax.set_ylabel("jawOpen")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    for r in case_results:
        if "opening" in r.series:
            ax.plot(
                t,
                r.series["opening"],
                color=colors[r.generator],
                lw=1.2,
                label=f"dlib inner-lip gap · {r.generator}",
            )
    silent = first.series.get("silent")
    if silent is not None and silent.any():
        ax.fill_between(
            t,
            0,
            1,
            where=silent,
            transform=ax.get_xaxis_transform(),
            color="tab:green",
            alpha=0.08,
            label="silence > 300 ms",
        )
    ax.set_ylabel("mouth opening\n(IOD)")
    ax.legend(loc="upper right", fontsize=8)
    ax = axes[3]
    for r in case_results:
        ax.plot(
            t,
            np.degrees(r.series["curves"][:, CURVE_INDEX["headPitch"]]),
            color=colors[r.generator],
            lw=1.2,
            label=f"head pitch · {r.generator}",
        )
    for k, f in enumerate(first.details.get("phrase_end_frames", [])):
        ax.axvspan(
            f / fps,
            f / fps + 1.2,
            color="tab:cyan",
            alpha=0.15,
            label="partner's phrase end + 1.2 s" if k == 0 else None,
        )
    ax.set_ylabel("head pitch °\n(+ = down)")
    ax.set_xlabel("seconds")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_prompts(
    path: Path, result: CaseResult, spans: list[tuple[float, float, str]], fps: float
) -> None:
    """Curves with and without the prompts, prompt spans shaded."""
    plt = _pyplot()
    with_p, without = result.series["curves"], result.series["curves_no_prompt"]
    t = np.arange(len(with_p)) / fps
    panels = [
        (
            "smile",
            lambda c: (
                0.5 * (c[:, CURVE_INDEX["mouthSmileLeft"]] + c[:, CURVE_INDEX["mouthSmileRight"]])
            ),
        ),
        (
            "frown + browDown",
            lambda c: (
                0.5 * (c[:, CURVE_INDEX["mouthFrownLeft"]] + c[:, CURVE_INDEX["browDownLeft"]])
            ),
        ),
        ("browInnerUp", lambda c: c[:, CURVE_INDEX["browInnerUp"]]),
        ("head pitch °", lambda c: np.degrees(c[:, CURVE_INDEX["headPitch"]])),
        ("head yaw °", lambda c: np.degrees(c[:, CURVE_INDEX["headYaw"]])),
        ("eye pitch ° (− = up)", lambda c: np.degrees(c[:, CURVE_INDEX["leftEyePitch"]])),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 9), sharex=True)
    for ax, (label, fn) in zip(axes, panels, strict=True):
        ax.plot(t, fn(without), color="tab:gray", lw=1, label="no prompt")
        ax.plot(t, fn(with_p), color="tab:blue", lw=1.3, label="with the prompts")
        ax.set_ylabel(label)
        for a, b, _ in spans:
            ax.axvspan(a, b, color="tab:orange", alpha=0.12)
    for a, b, text in spans:
        axes[0].text(
            (a + b) / 2,
            1.02,
            text,
            transform=axes[0].get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7.5,
        )
    axes[0].legend(loc="upper left", fontsize=8, bbox_to_anchor=(0.0, 0.85))
    axes[-1].set_xlabel("seconds")
    fig.suptitle(
        f"{result.case} · {result.generator}: text prompts against the same run without them",
        y=0.995,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_identity(path: Path, results: list[CaseResult]) -> None:
    """Identity distance over time in the long cases, near-rest frames marked."""
    plt = _pyplot()
    colors = _colors([r.generator for r in results])
    fig, ax = plt.subplots(figsize=(10, 4.2))
    top = 0.65
    for r in results:
        t, d = r.series["identity_t"] / 60.0, r.series["identity_d"]
        rest = r.series["identity_near_rest"]
        c = colors[r.generator]
        ax.scatter(
            t[~rest],
            d[~rest],
            s=9,
            color=c,
            alpha=0.35,
            label=f"{r.case} · {r.generator}: all sampled frames",
        )
        ax.scatter(
            t[rest],
            d[rest],
            s=16,
            color=c,
            marker="D",
            edgecolor="black",
            lw=0.4,
            label="near-rest frames",
        )
        if len(t) >= 2:
            k, b = np.polyfit(t, d, 1)
            ax.plot(t, k * t + b, color=c, lw=1.5, label=f"trend, all: {k:+.4f} / min")
        if rest.sum() >= 2:
            k, b = np.polyfit(t[rest], d[rest], 1)
            ax.plot(
                t, k * t + b, color=c, lw=1.2, ls=":", label=f"trend, near rest: {k:+.4f} / min"
            )
        top = max(top, float(d.max()) + 0.05)
    ax.axhline(0.6, color="tab:red", ls="--", lw=1, label="dlib same-person threshold 0.6")
    ax.set_ylim(0, top)
    ax.set_xlabel("minutes")
    ax.set_ylabel("descriptor distance to the portrait")
    ax.set_title("Identity over a long run (dlib 128-d descriptor of rendered frames)")
    ax.legend(loc="upper right", fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_bars(path: Path, report: dict[str, Any]) -> None:
    """One panel per metric: its value in each suite it applies to, one bar per generator."""
    plt = _pyplot()
    generators = list(report["generators"])
    colors = _colors(generators)
    panels = []
    for h in HEADLINES:
        if len(h.keys) > 1:
            continue
        table = {
            suite: [
                pooled(ok_cases(report["cases"], g, (suite,)), h)[0] * h.scale for g in generators
            ]
            for suite in (h.suites or SUITE_COLUMNS)
        }
        table = {k: v for k, v in table.items() if any(math.isfinite(x) for x in v)}
        if table:
            panels.append((h, table))
    if not panels:
        return
    cols = 4
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(13, 2.9 * rows), squeeze=False)
    flat = list(axes.ravel())
    width = 0.8 / max(1, len(generators))
    for ax, (h, table) in zip(flat, panels, strict=False):
        suites = list(table)
        for k, g in enumerate(generators):
            vals = np.array([table[suite][k] for suite in suites])
            x = np.arange(len(suites)) + k * width
            ax.bar(x, np.nan_to_num(vals), width=width, color=colors[g], label=g)
            for xi, v in zip(x, vals, strict=True):
                if math.isfinite(v):
                    ax.annotate(
                        h.fmt.format(v),
                        (xi, v),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        xytext=(0, 1),
                        textcoords="offset points",
                    )
        ax.set_xticks(np.arange(len(suites)) + 0.4 - width / 2, suites, rotation=25, fontsize=7.5)
        ax.set_title(f"{h.label}\n({h.unit})", fontsize=8.5)
        ax.axhline(0, color="black", lw=0.5)
        ax.margins(y=0.18)
    for ax in flat[len(panels) :]:
        ax.axis("off")
    flat[0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_speed(path: Path, report: dict[str, Any]) -> None:
    """Per-stage milliseconds per frame against the 40 ms frame budget."""
    plt = _pyplot()
    stages = [
        ("features", "features_ms"),
        ("generator", "generator_ms"),
        ("renderer", "renderer_ms"),
        ("encode (JPEG)", "encode_ms"),
    ]
    labels, data = [], []
    for g, sizes in report["speed"]["by_generator"].items():
        for size, r in sizes.items():
            if "error" not in r:
                labels.append(f"{g} · {size} px")
                data.append([r[k] for _, k in stages])
    if not data:
        return
    arr = np.array(data)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.6 * len(labels)))
    left = np.zeros(len(labels))
    for j, (name, _) in enumerate(stages):
        ax.barh(labels, arr[:, j], left=left, label=name)
        left += arr[:, j]
    for y, total in enumerate(left):
        ax.text(total + 0.3, y, f"{total:.1f} ms", va="center", fontsize=8)
    budget = 1000.0 / report["settings"]["fps"]
    ax.axvline(budget, color="tab:red", ls="--", lw=1, label=f"frame budget {budget:.0f} ms")
    ax.set_xlim(0, max(budget * 1.1, float(left.max()) * 1.25))
    ax.set_xlabel("ms of CPU time per frame, one thread")
    ax.set_title("Time per stage (in-process)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_latency(path: Path, serve: dict[str, Any]) -> None:
    """Histogram of audio→frame latency measured by the real-time client."""
    plt = _pyplot()
    ms = np.asarray(serve["receipt_ms"], np.float64)
    if not ms.size:
        return
    p50, p99 = np.percentile(ms, [50, 99])
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.hist(ms, bins=60, color="tab:blue", alpha=0.8)
    for v, name in ((p50, "p50"), (p99, "p99")):
        ax.axvline(v, color="black", ls="--", lw=1)
        ax.text(v, ax.get_ylim()[1] * 0.92, f" {name} {v:.0f} ms", fontsize=8)
    row = serve["row"]
    ax.set_title(
        f"Audio→frame latency, real server, 1 session ({len(ms)} frames); server side "
        f"p50 {row['server_p50_ms']:.1f} ms, p99 {row['server_p99_ms']:.1f} ms",
        fontsize=9,
    )
    ax.set_xlabel("ms from sending a 20 ms audio packet to receiving the frame that covers it")
    ax.set_ylabel("frames")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_memory(path: Path, results: list[CaseResult], serve: dict[str, Any]) -> None:
    """RSS over time: the benchmark process during the long cases, and the real server."""
    plt = _pyplot()
    have_serve = serve.get("status") == "ok" and serve.get("rss_mb")
    fig, axes = plt.subplots(1, 2 if have_serve else 1, figsize=(11 if have_serve else 7, 3.6))
    axes = list(np.ravel(axes))
    colors = _colors([r.generator for r in results])
    for r in results:
        axes[0].plot(
            r.series["rss_t"] / 60.0,
            r.series["rss_mb"],
            color=colors[r.generator],
            marker=".",
            label=f"{r.case} · {r.generator}",
        )
    axes[0].set_xlabel("minutes of performance")
    axes[0].set_ylabel("RSS MB")
    axes[0].set_title("benchmark process (generator + front-end)")
    axes[0].legend(fontsize=8)
    if have_serve:
        data = np.asarray(serve["rss_mb"])
        axes[1].plot(data[:, 0], data[:, 1], color="tab:green", marker=".")
        axes[1].set_xlabel("seconds")
        axes[1].set_ylabel("RSS MB")
        axes[1].set_title("lpm serve process, 1 session")
    for ax in axes:
        lo, hi = ax.get_ylim()
        mid = 0.5 * (lo + hi)
        ax.set_ylim(min(lo, mid - 10), max(hi, mid + 10))  # a flat line looks flat
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
