"""Motion-level evaluation on held-out corpus clips (`lpm eval motion`), every model side by side.

The test split holds voices and texts no training clip has (`lpm data build` splits by both), so
these numbers say how a model does on speech it never heard. All metrics are on curves (no
pixels): the motion-level half of `lpm bench`, with the corpus's exact targets as the truth.

Metrics:

- **r(curve)**: Pearson r of predicted vs. true curve over every frame of clips with speech,
  for jawOpen, mouthClose, mouthFunnel, mouthPucker and mouthSmile (mean of left and right).
- **AV offset**: lag in frames (+ = motion after sound) of the peak cross-correlation of
  predicted vs. true jawOpen within ±5 frames; median over clips.
- **silence closed**: share of frames inside silences of the speak stream longer than 300 ms
  whose jawOpen is at most 0.08.
- **responsiveness**: share of the partner's phrase ends followed by a nod, brow raise or smile
  within 1.2 s.
- **controllability**: share of prompts whose expected curves move the expected way against the
  same clip without a prompt.
- **diversity**: mean absolute curve difference between two seeds, and whether both seeds keep
  r(jawOpen) ≥ 0.5.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from models.corpus.schema import STATE_BOTH, STATE_SPEAK, CorpusSample
from models.generator import CharacterConditioning
from models.motion import CURVE_INDEX, NUM_CURVES
from models.performer import ProceduralPerformer, perform
from runtime.benchmark.metrics import (
    Expectation,
    av_offset,
    moved_as_expected,
    pearson,
    responsiveness,
    runs_of,
)

log = logging.getLogger(__name__)

FPS = 25.0
LIP_CURVES = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmile")
SILENCE_MIN_FRAMES = 8  # > 300 ms at 25 fps
CLOSED_TOLERANCE = 0.08  # jawOpen above rest still counted as closed
PHRASE_GAP_S = 0.3  # a pause this long after the partner's last phone ends a phrase

# Prompts and what they should do, judged over the whole clip against the same clip unprompted.
PROMPTS: tuple[tuple[str, tuple[tuple[tuple[str, ...], str], ...]], ...] = (
    ("smiles warmly", ((("mouthSmileLeft", "mouthSmileRight"), "up"),)),
    ("frowns, annoyed", ((("browDownLeft", "browDownRight"), "up"),)),
    ("looks surprised", ((("browInnerUp",), "up"),)),
    ("nods", ((("headPitch",), "moves"),)),
    ("shakes head", ((("headYaw",), "moves"),)),
    ("laughs", ((("mouthSmileLeft", "mouthSmileRight"), "up"),)),
)


class MotionModel(Protocol):
    """What the evaluation needs of a model: a whole clip in, curves ``[T, 61]`` out."""

    name: str

    def clip(self, sample: CorpusSample, prompt: str | None, seed: int) -> np.ndarray: ...


@dataclass
class ProceduralModel:
    name: str = "procedural"

    def clip(self, sample: CorpusSample, prompt: str | None, seed: int) -> np.ndarray:
        performer = ProceduralPerformer()
        state = performer.init_state(CharacterConditioning(), seed=seed)
        curves = perform(performer, state, sample.speak, sample.listen, prompt or None)
        return curves[: sample.motion.shape[0]]


@dataclass
class BaseModel:
    checkpoint: Path
    steps: int = 24
    name: str = "base"
    _model: Any = field(default=None, repr=False)

    def clip(self, sample: CorpusSample, prompt: str | None, seed: int) -> np.ndarray:
        from models.base_lpm import SamplingOptions, generate
        from models.encoders import audio_frame_features, shared_text_encoder
        from models.train_base import load_base

        if self._model is None:
            self._model = load_base(self.checkpoint)
        text = shared_text_encoder().encode(prompt)
        return generate(
            self._model,
            audio_frame_features(sample.speak),
            audio_frame_features(sample.listen),
            text,
            np.zeros(NUM_CURVES, np.float32),
            SamplingOptions(steps=self.steps),
            seed=seed,
        )


@dataclass
class OnlineModel:
    """The distilled streaming model, streamed chunk by chunk exactly as the runtime runs it
    (its look-ahead included), in torch."""

    checkpoint: Path
    name: str = "online"
    _model: Any = field(default=None, repr=False)

    def clip(self, sample: CorpusSample, prompt: str | None, seed: int) -> np.ndarray:
        import torch

        from models.encoders import audio_frame_features, shared_text_encoder
        from models.online_lpm import load_online, rollout

        if self._model is None:
            self._model = load_online(self.checkpoint)
        text = shared_text_encoder().encode(prompt)
        tokens = torch.from_numpy(np.array(text, np.float32))[None]
        mask = torch.ones(1, tokens.shape[1], dtype=torch.bool)
        if tokens.shape[1] == 0:  # no prompt: one padding token the mask hides
            tokens, mask = torch.zeros(1, 1, tokens.shape[2]), torch.zeros(1, 1, dtype=torch.bool)
        curves = rollout(
            self._model,
            torch.from_numpy(audio_frame_features(sample.speak))[None],
            torch.from_numpy(audio_frame_features(sample.listen))[None],
            tokens,
            mask,
            torch.zeros(1, NUM_CURVES),
            torch.Generator().manual_seed(seed),
        )
        return curves[0].numpy()[: sample.motion.shape[0]]


def _curve(curves: np.ndarray, name: str) -> np.ndarray:
    if name == "mouthSmile":
        return 0.5 * (
            curves[:, CURVE_INDEX["mouthSmileLeft"]] + curves[:, CURVE_INDEX["mouthSmileRight"]]
        )
    return curves[:, CURVE_INDEX[name]]


def phrase_ends(sample: CorpusSample) -> list[int]:
    """Frames where the partner (listen stream) ends a phrase: a phone followed by ≥ 300 ms of
    no listen phone (or the clip's end, if at least 1.2 s of clip remain)."""
    phones = sorted(
        (p for p in sample.phones if p.stream == "listen" and p.viseme != "sil"),
        key=lambda p: p.start_s,
    )
    ends: list[int] = []
    duration = sample.motion.shape[0] / FPS
    for i, p in enumerate(phones):
        nxt = phones[i + 1].start_s if i + 1 < len(phones) else math.inf
        if nxt - p.end_s >= PHRASE_GAP_S and p.end_s + 1.2 <= duration:
            ends.append(round(p.end_s * FPS))
    return ends


def speak_silence(sample: CorpusSample) -> np.ndarray:
    """Frames inside silences of the character's own voice longer than 300 ms."""
    talking = np.isin(sample.state, (STATE_SPEAK, STATE_BOTH))
    return runs_of(~talking, SILENCE_MIN_FRAMES)


@dataclass
class ModelScores:
    name: str
    r: dict[str, float]
    av_offset_frames: float
    silence_closed: float
    responsiveness: float
    controllability: float
    diversity: float
    diverse_valid: bool
    clips: int

    def row(self) -> dict[str, Any]:
        return {
            "model": self.name,
            **{f"r_{k}": v for k, v in self.r.items()},
            "av_offset_frames": self.av_offset_frames,
            "silence_closed": self.silence_closed,
            "responsiveness": self.responsiveness,
            "controllability": self.controllability,
            "diversity": self.diversity,
            "diverse_valid": self.diverse_valid,
            "clips": self.clips,
        }


def evaluate(
    model: MotionModel,
    samples: list[CorpusSample],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ModelScores, dict[str, np.ndarray]]:
    """Scores of one model on ``samples``; also returns its predictions by sample id."""
    preds: dict[str, np.ndarray] = {}
    pooled_p: dict[str, list[np.ndarray]] = {k: [] for k in LIP_CURVES}
    pooled_t: dict[str, list[np.ndarray]] = {k: [] for k in LIP_CURVES}
    lags: list[int] = []
    closed: list[np.ndarray] = []
    hits, n_events = 0.0, 0
    total = len(samples) + len(PROMPTS) + 2
    done = 0
    for sample in samples:
        pred = model.clip(sample, sample.caption, seed=0)
        preds[sample.id] = pred
        has_speech = bool(np.isin(sample.state, (STATE_SPEAK, STATE_BOTH)).sum() >= 10)
        if has_speech:
            for k in LIP_CURVES:
                pooled_p[k].append(_curve(pred, k))
                pooled_t[k].append(_curve(sample.motion, k))
            off = av_offset(_curve(pred, "jawOpen"), _curve(sample.motion, "jawOpen"))
            if math.isfinite(off.r_at_lag):
                lags.append(off.lag_frames)
        silent = speak_silence(sample)
        if silent.any():
            closed.append(_curve(pred, "jawOpen")[silent] <= CLOSED_TOLERANCE)
        events = phrase_ends(sample)
        if events:
            hits += responsiveness(pred, events, FPS) * len(events)
            n_events += len(events)
        done += 1
        if progress is not None:
            progress(done, total)

    r = {
        k: pearson(np.concatenate(pooled_p[k]), np.concatenate(pooled_t[k]))
        if pooled_p[k]
        else math.nan
        for k in LIP_CURVES
    }

    # Controllability on one clip with the partner talking and the character quiet, or any clip.
    probe = next((s for s in samples if s.kind in ("listen", "idle")), samples[0])
    plain = model.clip(probe, None, seed=0)
    passed = []
    for prompt, expects in PROMPTS:
        with_prompt = model.clip(probe, prompt, seed=0)
        n = len(plain)
        passed.append(
            all(moved_as_expected(with_prompt, plain, Expectation(c, d, 0, n)) for c, d in expects)
        )
        done += 1
        if progress is not None:
            progress(done, total)

    # Diversity: the first clip with speech under two seeds.
    speech = next((s for s in samples if s.kind in ("speak", "conversation")), samples[0])
    a, b = model.clip(speech, speech.caption, seed=1), model.clip(speech, speech.caption, seed=2)
    diff = float(np.mean(np.abs(a - b)))
    truth = _curve(speech.motion, "jawOpen")
    valid = all(
        np.isfinite(x).all() and pearson(_curve(x, "jawOpen"), truth) >= 0.5 for x in (a, b)
    )
    done += 2
    if progress is not None:
        progress(done, total)
    scores = ModelScores(
        name=model.name,
        r=r,
        av_offset_frames=float(np.median(lags)) if lags else math.nan,
        silence_closed=float(np.concatenate(closed).mean()) if closed else math.nan,
        responsiveness=hits / n_events if n_events else math.nan,
        controllability=float(np.mean(passed)),
        diversity=diff,
        diverse_valid=bool(valid),
        clips=len(samples),
    )
    return scores, preds


def truth_scores(samples: Iterable[CorpusSample]) -> dict[str, float]:
    """The ground truth scored by the same rules (the ceiling the models aim at)."""
    closed, hits, n_events = [], 0.0, 0
    for s in samples:
        silent = speak_silence(s)
        if silent.any():
            closed.append(_curve(s.motion, "jawOpen")[silent] <= CLOSED_TOLERANCE)
        events = phrase_ends(s)
        if events:
            hits += responsiveness(s.motion, events, FPS) * len(events)
            n_events += len(events)
    return {
        "silence_closed": float(np.concatenate(closed).mean()) if closed else math.nan,
        "responsiveness": hits / n_events if n_events else math.nan,
    }


def plot_clip(sample: CorpusSample, preds: dict[str, np.ndarray], path: Path) -> None:
    """Predicted vs. true curves of one held-out clip (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmile", "headPitch")
    t = np.arange(sample.motion.shape[0]) / FPS
    fig, axes = plt.subplots(len(names), 1, figsize=(11, 1.7 * len(names)), sharex=True)
    for ax, name in zip(axes, names, strict=True):
        ax.plot(t, _curve(sample.motion, name), color="black", lw=2, label="truth")
        for model, curves in preds.items():
            ax.plot(t, _curve(curves, name), lw=1.2, label=model)
        ax.set_ylabel(name, rotation=0, ha="right", fontsize=9)
        ax.grid(alpha=0.3)
    talking = np.isin(sample.state, (STATE_SPEAK, STATE_BOTH))
    for ax in axes:
        ax.fill_between(
            t,
            0,
            1,
            where=talking,
            color="tab:orange",
            alpha=0.08,
            transform=ax.get_xaxis_transform(),
        )
    axes[0].legend(loc="upper right", fontsize=8, ncol=len(preds) + 1)
    axes[0].set_title(f"{sample.id}  voice {sample.voice}: “{sample.text[:70]}”", fontsize=10)
    axes[-1].set_xlabel("seconds (shaded: the character speaks)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(
    out: Path, scores: list[ModelScores], truth: dict[str, float], meta: dict[str, Any]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = [s.row() for s in scores]
    (out / "eval.json").write_text(
        json.dumps({"meta": meta, "truth": truth, "models": rows}, indent=2) + "\n"
    )
