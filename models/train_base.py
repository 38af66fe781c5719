"""Training of Base LPM by flow matching on the performance corpus (`lpm train base`).

One step: draw windows of ``config.window`` frames from training clips, a flow time per window
(logit-normal), noise, and regress the velocity ``ε − x₀`` (`models.flow`) on the frames that are
not given as clean context. Conditions are dropped independently for CFG: the caption with
``text_drop``, both audio streams with ``audio_drop``. Each window gets a random *rest pose*
(a persona's resting smile, brow, squint, head tilt) added to its motion and passed as the
reference token, so the model learns to carry a character's rest expression through every
frame, as the renderer's characters need.

Everything that streams through training is explicit and saved: model, EMA weights, optimiser,
step and random generators go into ``train-state.pt`` every ``checkpoint_every`` steps
(written atomically), and a run started again with the same ``--out`` resumes from it. The
result is the EMA weights as safetensors plus a JSON file with the config, the corpus hash, the
code version and the metrics.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from models.base_lpm import PERSONA_RESTS, PRESETS, BaseLPM, BaseLPMConfig
from models.encoders import TEXT_DIM, TextEncoder, audio_frame_features, shared_text_encoder
from models.flow import noisy, training_times, velocity_target
from models.motion import CURVE_MAX, CURVE_MIN, NUM_CURVES, idx

if TYPE_CHECKING:
    from models.corpus.reader import Corpus

log = logging.getLogger(__name__)

STATE_FILE = "train-state.pt"


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "small"  # model preset (models.base_lpm.PRESETS)
    steps: int = 10_000  # optimiser steps
    batch: int = 16  # windows per step
    lr: float = 3e-4  # peak learning rate (AdamW)
    warmup: int = 300  # linear warm-up steps, then cosine decay to lr/10
    weight_decay: float = 0.01
    ema: float = 0.999  # decay of the weight average used for sampling
    grad_clip: float = 1.0  # max global gradient norm
    eval_every: int = 500  # steps between validation losses
    checkpoint_every: int = 200  # steps between resumable checkpoints
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = torch's default

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {sorted(PRESETS)}")
        if self.steps < 1 or self.batch < 1 or self.lr <= 0:
            raise ValueError("steps, batch and lr must be positive")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError("ema must be in [0, 1)")


def random_rest(rng: np.random.Generator) -> np.ndarray:
    """A random rest pose ``[61]``: half the time neutral, else 1–3 persona traits."""
    rest = np.zeros(NUM_CURVES, np.float32)
    if rng.random() < 0.5:
        return rest
    for k in rng.choice(len(PERSONA_RESTS), size=rng.integers(1, 4), replace=False):
        names, lo, hi = PERSONA_RESTS[k]
        value = rng.uniform(lo, hi)
        for name in names:
            rest[idx(name)] = value
    return rest


@dataclass
class ClipSet:
    """A split of the corpus in memory, ready for windows: features, motion, captions."""

    speak: list[np.ndarray] = field(default_factory=list)  # [T, 323] each
    listen: list[np.ndarray] = field(default_factory=list)
    motion: list[np.ndarray] = field(default_factory=list)  # [T, 61]
    caption: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.motion)

    @classmethod
    def load(
        cls,
        corpus: Corpus,
        split: str,
        min_frames: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> ClipSet:
        out = cls()
        ids = corpus.ids(split)
        for i, sample in enumerate(corpus.samples(split)):
            if sample.motion.shape[0] >= min_frames:
                out.speak.append(audio_frame_features(sample.speak))
                out.listen.append(audio_frame_features(sample.listen))
                out.motion.append(np.asarray(sample.motion, np.float32))
                out.caption.append(sample.caption)
                out.ids.append(sample.id)
            if progress is not None:
                progress(i + 1, len(ids))
        if not out.motion:
            raise ValueError(f"no {split} clips of at least {min_frames} frames in the corpus")
        return out


@dataclass
class Batch:
    x0: Tensor  # [B, T, 61] normalised clean motion
    speak: Tensor  # [B, T, 323]
    listen: Tensor
    text: Tensor  # [B, L, 384]
    text_mask: Tensor  # [B, L]
    rest: Tensor  # [B, 61] raw
    context_mask: Tensor  # [B, T]


def make_batch(
    clips: ClipSet,
    model: BaseLPM,
    text: TextEncoder,
    rng: np.random.Generator,
    batch: int,
) -> Batch:
    cfg = model.config
    win = cfg.window
    lengths = np.array([m.shape[0] for m in clips.motion], np.float64)
    picks = rng.choice(len(clips), size=batch, p=lengths / lengths.sum())
    sp = np.zeros((batch, win, clips.speak[0].shape[1]), np.float32)
    li = np.zeros_like(sp)
    mo = np.zeros((batch, win, NUM_CURVES), np.float32)
    rest = np.zeros((batch, NUM_CURVES), np.float32)
    cmask = np.zeros((batch, win), bool)
    captions: list[str | None] = []
    for b, k in enumerate(picks):
        start = int(rng.integers(0, clips.motion[k].shape[0] - win + 1))
        sl = slice(start, start + win)
        sp[b], li[b] = clips.speak[k][sl], clips.listen[k][sl]
        rest[b] = random_rest(rng)
        mo[b] = np.clip(clips.motion[k][sl] + rest[b], CURVE_MIN, CURVE_MAX)
        if cfg.max_context > 0 and rng.random() < cfg.context_prob:
            cmask[b, : rng.integers(1, cfg.max_context + 1)] = True
        captions.append(clips.caption[k])
    tokens, tmask = text.encode_batch(captions)
    with torch.no_grad():
        x0 = model.normalise(torch.from_numpy(mo))
    return Batch(
        x0=x0,
        speak=torch.from_numpy(sp),
        listen=torch.from_numpy(li),
        text=torch.from_numpy(tokens),
        text_mask=torch.from_numpy(tmask),
        rest=torch.from_numpy(rest),
        context_mask=torch.from_numpy(cmask),
    )


def flow_loss(
    model: BaseLPM,
    batch: Batch,
    t: Tensor,
    noise: Tensor,
    audio_keep: Tensor | None = None,
    text_keep: Tensor | None = None,
) -> Tensor:
    """Mean squared velocity error over the frames that are not clean context."""
    x_t = noisy(batch.x0, noise, t)
    x_t = torch.where(batch.context_mask[..., None], batch.x0, x_t)
    v = model(
        x_t, t, batch.speak, batch.listen, batch.text, batch.text_mask, batch.rest,
        batch.x0, batch.context_mask, audio_keep, text_keep,
    )  # fmt: skip
    target = velocity_target(batch.x0, noise)
    weight = (~batch.context_mask).to(v.dtype)[..., None]
    return ((v - target) ** 2 * weight).sum() / (weight.sum() * NUM_CURVES).clamp_min(1.0)


def curve_statistics(clips: ClipSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-curve mean and std of the training motion; std floored so still curves stay sane."""
    allm = np.concatenate(clips.motion, axis=0).astype(np.float64)
    return allm.mean(axis=0).astype(np.float32), np.maximum(allm.std(axis=0), 0.02).astype(
        np.float32
    )


def learning_rate(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def code_version() -> str:
    """The package version and, inside a git checkout, the commit."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("lpm-runtime")
    except PackageNotFoundError:
        ver = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{ver}+{commit}" if commit else ver


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    train_loss: float
    val_loss: float
    seconds: float
    history: list[dict[str, float]]


@torch.no_grad()
def validation_loss(model: BaseLPM, batches: list[tuple[Batch, Tensor, Tensor]]) -> float:
    model.eval()
    total = [flow_loss(model, b, t, n).item() for b, t, n in batches]
    model.train()
    return float(np.mean(total))


def train_base(
    corpus_dir: Path,
    out_dir: Path,
    cfg: TrainConfig,
    on_step: Callable[[int, int, float], None] | None = None,
    on_load: Callable[[int, int], None] | None = None,
    max_seconds: float | None = None,
    stop_at: int | None = None,
) -> TrainResult:
    """Train (or resume) a Base LPM; returns when ``cfg.steps`` are done, time runs out
    (``max_seconds``) or step ``stop_at`` is reached; the last two can be resumed."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    from models.corpus.reader import Corpus

    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(corpus_dir)
    mcfg: BaseLPMConfig = PRESETS[cfg.preset]()
    train = ClipSet.load(corpus, "train", mcfg.window, on_load)
    val = ClipSet.load(corpus, "validation", mcfg.window)
    text = shared_text_encoder()

    torch.manual_seed(cfg.seed)
    model = BaseLPM(mcfg)
    mean, std = curve_statistics(train)
    model.curve_mean.copy_(torch.from_numpy(mean))
    model.curve_std.copy_(torch.from_numpy(std))
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, history = 0, []

    state_path = out_dir / STATE_FILE
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        if state["train_config"] != asdict(cfg) or state["corpus_hash"] != corpus.manifest.hash:
            raise ValueError(
                f"{state_path} was written by a different config or corpus; "
                "use a new --out or delete it to start over"
            )
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        gen.set_state(state["torch_rng"])
        step, history = state["step"], state["history"]
        log.info("resuming from step %d", step)

    # Fixed validation windows, times and noise: comparable from eval to eval.
    vrng = np.random.default_rng(12345)
    vgen = torch.Generator().manual_seed(12345)
    val_batches = []
    for _ in range(4):
        vb = make_batch(val, model, text, vrng, cfg.batch)
        t = training_times(cfg.batch, vgen)
        val_batches.append((vb, t, torch.randn(vb.x0.shape, generator=vgen)))

    def save_state() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": opt.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": gen.get_state(),
                "step": step,
                "history": history,
                "train_config": asdict(cfg),
                "corpus_hash": corpus.manifest.hash,
            },
            tmp,
        )
        os.replace(tmp, state_path)

    started = time.monotonic()
    model.train()
    smooth = float("nan")
    while step < cfg.steps:
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            log.info("time budget reached at step %d", step)
            break
        if stop_at is not None and step >= stop_at:
            break
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg, step)
        batch = make_batch(train, model, text, rng, cfg.batch)
        b = cfg.batch
        t = training_times(b, gen)
        noise = torch.randn(batch.x0.shape, generator=gen)
        audio_keep = torch.rand(b, generator=gen) >= mcfg.audio_drop
        text_keep = torch.rand(b, generator=gen) >= mcfg.text_drop
        loss = flow_loss(model, batch, t, noise, audio_keep, text_keep)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                pe.lerp_(pm, 1.0 - cfg.ema)
        step += 1
        value = float(loss.item())
        smooth = value if math.isnan(smooth) else 0.98 * smooth + 0.02 * value
        if step % cfg.eval_every == 0 or step == cfg.steps:
            vl = validation_loss(ema, val_batches)
            history.append({"step": step, "train_loss": smooth, "val_loss": vl})
            log.info("step %d: train %.4f, validation %.4f", step, smooth, vl)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_state()
        if on_step is not None:
            on_step(step, cfg.steps, smooth)

    save_state()
    val_loss = validation_loss(ema, val_batches)
    metrics = {"train_loss": smooth, "val_loss": val_loss, "steps": step}
    export(ema, out_dir / f"base_{cfg.preset}", cfg, corpus.manifest.hash, metrics, history)
    return TrainResult(out_dir, step, smooth, val_loss, time.monotonic() - started, history)


def export(
    model: BaseLPM,
    stem: Path,
    cfg: TrainConfig,
    corpus_hash: str,
    metrics: dict[str, Any],
    history: list[dict[str, float]],
) -> Path:
    """``stem.safetensors`` (float16 weights, float32 statistics) and ``stem.json``."""
    tensors = {
        k: (v.half() if k not in ("curve_mean", "curve_std") else v).contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(tensors, str(stem.with_suffix(".safetensors")))
    meta = {
        "model": "base_lpm",
        "preset": cfg.preset,
        "config": model.config.to_dict(),
        "train_config": asdict(cfg),
        "corpus_hash": corpus_hash,
        "code_version": code_version(),
        "metrics": metrics,
        "history": history,
        "text_dim": TEXT_DIM,
    }
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return stem.with_suffix(".safetensors")


def load_base(path: Path) -> BaseLPM:
    """A Base LPM from ``*.safetensors`` + its ``*.json`` (float32 weights, eval mode)."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        raise FileNotFoundError(f"need both {path.name} and {meta_path.name} in {path.parent}")
    meta = json.loads(meta_path.read_text())
    model = BaseLPM(BaseLPMConfig.from_dict(meta["config"]))
    tensors = {k: v.float() for k, v in load_file(str(path)).items()}
    model.load_state_dict(tensors)
    return model.eval()
