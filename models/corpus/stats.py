"""``lpm data stats``: what a corpus holds, as numbers (``stats.json``) and plots (PNG).

Plots: samples and hours per split and kind, state balance per kind, clip durations, the
distribution of every curve (box plots over all frames: blendshapes 0..1, rotations in
degrees), time per viseme, and one speech sample drawn in full (audio, phones, mouth curves,
state) to check lip sync by eye. Plotting needs matplotlib; the numbers do not.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.corpus.phones import VISEMES
from models.corpus.reader import Corpus
from models.corpus.schema import FPS, KINDS, SPLITS, STATE_NAMES, CorpusSample
from models.motion import CURVE_NAMES, NUM_BLENDSHAPES

log = logging.getLogger(__name__)

_MAX_FRAMES = 400_000  # curve statistics use at most this many frames (evenly strided)
_PERCENTILES = (1, 25, 50, 75, 99)


@dataclass
class CorpusStats:
    """Summary numbers of a corpus (JSON-ready)."""

    root: str
    seed: int
    hours: float
    num_samples: int
    counts: dict[str, dict[str, int]]  # split → kind → samples
    hours_per_split: dict[str, float]
    hours_per_kind: dict[str, float]
    state_frames: dict[str, dict[str, int]]  # kind → state name → frames
    durations: dict[str, list[float]]  # kind → clip durations (s)
    voices: dict[str, list[str]]  # split → voice ids
    curve_percentiles: dict[str, list[float]]  # curve → values at _PERCENTILES
    curve_active: dict[str, float]  # curve → share of frames above 0.05 (|deg| > 1 for angles)
    viseme_seconds: dict[str, float]  # speak-stream phones
    captions: dict[str, int]  # caption → samples
    example_id: str = ""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=False) + "\n"


def compute_stats(
    corpus: Corpus, progress: Callable[[int, int], None] | None = None
) -> CorpusStats:
    """One pass over every sample of ``corpus``; ``progress(done, total)`` after each."""
    m = corpus.manifest
    hours_split = dict.fromkeys(SPLITS, 0.0)
    hours_kind = dict.fromkeys(KINDS, 0.0)
    states = {kind: dict.fromkeys(STATE_NAMES, 0) for kind in KINDS}
    durations: dict[str, list[float]] = {kind: [] for kind in KINDS}
    visemes = dict.fromkeys(VISEMES, 0.0)
    captions: Counter[str] = Counter()
    motion: list[np.ndarray] = []
    example = ""
    total_frames = sum(int(corpus.record(i)["num_frames"]) for i in corpus.ids())
    stride = max(1, -(-total_frames // _MAX_FRAMES))
    for done, sample in enumerate(corpus.samples(), start=1):
        if progress:
            progress(done, len(corpus))
        d = sample.duration_s
        hours_split[sample.split] += d / 3600.0
        hours_kind[sample.kind] += d / 3600.0
        durations[sample.kind].append(round(d, 3))
        counts = np.bincount(sample.state, minlength=len(STATE_NAMES))
        for name, n in zip(STATE_NAMES, counts.tolist(), strict=True):
            states[sample.kind][name] += n
        for p in sample.stream_phones("speak"):
            if p.viseme in visemes:
                visemes[p.viseme] += p.duration_s
        captions[sample.caption] += 1
        motion.append(sample.motion[::stride])
        if not example and sample.kind == "speak" and len(sample.text) > 30:
            example = sample.id
    frames = np.concatenate(motion) if motion else np.zeros((0, len(CURVE_NAMES)), np.float32)
    pct = (
        np.percentile(frames, _PERCENTILES, axis=0)
        if frames.size
        else np.zeros((len(_PERCENTILES), len(CURVE_NAMES)))
    )
    active = np.zeros(len(CURVE_NAMES))
    if frames.size:
        active[:NUM_BLENDSHAPES] = (frames[:, :NUM_BLENDSHAPES] > 0.05).mean(axis=0)
        active[NUM_BLENDSHAPES:] = (np.abs(frames[:, NUM_BLENDSHAPES:]) > np.radians(1.0)).mean(
            axis=0
        )
    return CorpusStats(
        root=str(corpus.root),
        seed=m.seed,
        hours=m.hours,
        num_samples=len(corpus),
        counts=m.counts,
        hours_per_split={k: round(v, 4) for k, v in hours_split.items()},
        hours_per_kind={k: round(v, 4) for k, v in hours_kind.items()},
        state_frames=states,
        durations=durations,
        voices=m.voices,
        curve_percentiles={
            name: [round(float(x), 5) for x in pct[:, c]] for c, name in enumerate(CURVE_NAMES)
        },
        curve_active={name: round(float(active[c]), 4) for c, name in enumerate(CURVE_NAMES)},
        viseme_seconds={k: round(v, 2) for k, v in visemes.items()},
        captions=dict(captions.most_common()),
        example_id=example,
    )


# --- plots ------------------------------------------------------------------------------------

_KIND_COLORS = {
    "speak": "#1f77b4",
    "listen": "#2ca02c",
    "conversation": "#9467bd",
    "idle": "#7f7f7f",
    "emote": "#ff7f0e",
    "capture": "#8c564b",
}
_STATE_COLORS = {"idle": "#c7c7c7", "speak": "#1f77b4", "listen": "#2ca02c", "both": "#d62728"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("plots need matplotlib (pip install matplotlib)") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(stats: CorpusStats, corpus: Corpus, out_dir: Path) -> list[Path]:
    """Write the PNG plots (and ``stats.json``) into ``out_dir``; returns the files written."""
    plt = _pyplot()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out_dir / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)

    kinds = [k for k in KINDS if any(stats.counts[s][k] for s in SPLITS)]

    # Samples and hours per split and kind.
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    x = np.arange(len(SPLITS))
    width = 0.8 / max(1, len(kinds))
    for i, kind in enumerate(kinds):
        values = [stats.counts[s][kind] for s in SPLITS]
        bars = axes[0].bar(x + i * width, values, width, label=kind, color=_KIND_COLORS[kind])
        axes[0].bar_label(bars, fontsize=7)
    axes[0].set_xticks(x + width * (len(kinds) - 1) / 2, SPLITS)
    axes[0].set_ylabel("samples")
    axes[0].set_title("Samples per split and kind")
    axes[0].legend(fontsize=8)
    hours = [stats.hours_per_split[s] for s in SPLITS]
    bars = axes[1].bar(SPLITS, hours, color="#4c72b0")
    axes[1].bar_label(bars, labels=[f"{h:.3f} h" for h in hours], fontsize=8)
    axes[1].set_ylabel("hours")
    axes[1].set_title(f"Audio per split (total {stats.hours:.3f} h, {stats.num_samples} samples)")
    save(fig, "counts.png")

    # State balance per kind (share of frames) and overall.
    fig, ax = plt.subplots(figsize=(10, 0.6 * (len(kinds) + 2) + 1))
    rows = [*kinds, "all"]
    totals = {
        **{k: stats.state_frames[k] for k in kinds},
        "all": {s: sum(stats.state_frames[k][s] for k in kinds) for s in STATE_NAMES},
    }
    left = np.zeros(len(rows))
    for state in STATE_NAMES:
        frames = np.array([totals[r][state] for r in rows], np.float64)
        share = frames / np.maximum([sum(totals[r].values()) for r in rows], 1)
        ax.barh(rows, share, left=left, color=_STATE_COLORS[state], label=state)
        for i, v in enumerate(share):
            if v > 0.04:
                ax.text(left[i] + v / 2, i, f"{100 * v:.0f}%", ha="center", va="center", fontsize=8)
        left += share
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("share of frames")
    ax.set_title("Per-frame state balance")
    ax.legend(ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.08), fontsize=8)
    save(fig, "states.png")

    # Clip durations per kind.
    fig, ax = plt.subplots(figsize=(10, 4.5))
    bins = np.arange(2.5, 12.75, 0.5)
    ax.hist(
        [stats.durations[k] for k in kinds],
        bins=bins,
        stacked=True,
        color=[_KIND_COLORS[k] for k in kinds],
        label=kinds,
    )
    ax.set_xlabel("clip length (s)")
    ax.set_ylabel("samples")
    ax.set_title("Clip durations")
    ax.legend(fontsize=8)
    save(fig, "durations.png")

    # Curve distributions: blendshapes and rotations.
    pct = np.array([stats.curve_percentiles[name] for name in CURVE_NAMES])  # [61, 5]
    fig, (ax_b, ax_r) = plt.subplots(1, 2, figsize=(14, 13), gridspec_kw={"width_ratios": [3, 1.2]})

    def boxes(ax: Any, rows: np.ndarray, names: list[str], scale: float) -> None:
        data = [
            {
                "label": name,
                "whislo": r[0] * scale,
                "q1": r[1] * scale,
                "med": r[2] * scale,
                "q3": r[3] * scale,
                "whishi": r[4] * scale,
                "fliers": [],
            }
            for name, r in zip(names, rows, strict=True)
        ]
        ax.bxp(data, orientation="horizontal", showfliers=False, widths=0.6)
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="x", alpha=0.3)

    names = list(CURVE_NAMES)
    blend_labels = [f"{n} ({100 * stats.curve_active[n]:.0f}%)" for n in names[:NUM_BLENDSHAPES]]
    boxes(ax_b, pct[:NUM_BLENDSHAPES], blend_labels, 1.0)
    ax_b.set_xlim(-0.02, 1.0)
    ax_b.set_title("Blendshapes: 1-25-50-75-99th percentiles (share of frames > 0.05)")
    rot_labels = [f"{n} ({100 * stats.curve_active[n]:.0f}%)" for n in names[NUM_BLENDSHAPES:]]
    boxes(ax_r, pct[NUM_BLENDSHAPES:], rot_labels, 180.0 / np.pi)
    ax_r.set_xlabel("degrees")
    ax_r.set_title("Head and eyes (share of frames > 1°)")
    save(fig, "curves.png")

    # Time per viseme in the speak stream.
    fig, ax = plt.subplots(figsize=(10, 4))
    secs = [stats.viseme_seconds[v] for v in VISEMES]
    bars = ax.bar(VISEMES, secs, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{s / 60:.1f}m" for s in secs], fontsize=7)
    ax.set_ylabel("seconds")
    ax.set_title("Speech time per viseme (character's own voice)")
    save(fig, "visemes.png")

    if stats.example_id:
        save(_example_figure(plt, corpus.load(stats.example_id)), "example.png")

    path = out_dir / "stats.json"
    path.write_text(stats.to_json(), encoding="utf-8")
    written.append(path)
    return written


def _example_figure(plt: Any, sample: CorpusSample) -> Any:
    """One speech sample: waveform with phones, mouth curves, brows/head, state."""
    t_audio = np.arange(sample.speak.size) / 16000.0
    t = (np.arange(sample.num_frames) + 0.5) / FPS
    fig, axes = plt.subplots(
        4, 1, figsize=(14, 10), sharex=True, gridspec_kw={"height_ratios": [1.3, 2, 1.2, 0.4]}
    )
    ax = axes[0]
    ax.plot(t_audio, sample.speak, lw=0.4, color="#1f77b4", label="speak")
    ax.plot(t_audio, sample.listen, lw=0.4, color="#2ca02c", alpha=0.7, label="listen")
    for p in sample.stream_phones("speak"):
        ax.axvline(p.start_s, color="k", lw=0.3, alpha=0.4)
        if p.viseme != "sil":
            ax.text(
                (p.start_s + p.end_s) / 2, 0.9 * max(1e-3, float(np.abs(sample.speak).max())),
                p.phone, ha="center", fontsize=6, rotation=90,
            )  # fmt: skip
    ax.set_title(f"{sample.id} — {sample.voice} — {sample.text!r}", fontsize=9)
    ax.legend(loc="lower right", fontsize=7)
    for name in ("jawOpen", "mouthPressLeft", "mouthClose", "mouthPucker", "mouthFunnel",
                 "mouthStretchLeft", "mouthRollLower", "mouthSmileLeft"):  # fmt: skip
        axes[1].plot(t, sample.motion[:, CURVE_NAMES.index(name)], label=name, lw=1.2)
    axes[1].set_ylabel("mouth")
    axes[1].legend(ncol=4, fontsize=7, loc="upper right")
    for name in ("browInnerUp", "eyeBlinkLeft"):
        axes[2].plot(t, sample.motion[:, CURVE_NAMES.index(name)], label=name)
    for name in ("headPitch", "headYaw", "leftEyeYaw"):
        axes[2].plot(t, np.degrees(sample.motion[:, CURVE_NAMES.index(name)]) / 10.0,
                     label=f"{name} (deg/10)", ls="--")  # fmt: skip
    axes[2].legend(ncol=5, fontsize=7, loc="upper right")
    axes[3].imshow(
        sample.state[None, :], aspect="auto", cmap="viridis", vmin=0, vmax=3,
        extent=(0, sample.duration_s, 0, 1),
    )  # fmt: skip
    axes[3].set_yticks([])
    axes[3].set_ylabel("state")
    axes[3].set_xlabel("seconds")
    return fig
