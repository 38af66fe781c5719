"""Distilling Base LPM into Online LPM: the paper's four-stage curriculum (`lpm train online`).

The teacher is a trained, frozen Base LPM (bidirectional, many steps, classifier-free guidance);
the student is `models.online_lpm.OnlineLPM` (causal, chunked, 2-step backbone + 1-step refiner),
initialised from the teacher's weights. Every stage trains on sequences of ``T`` frames cut from
the training corpus (``T`` = the largest multiple of the chunk that, with the look-ahead, fits
the teacher's window), with the corpus's audio, captions and random rest poses as conditions.

1. **ODE initialisation** (backbone). The teacher integrates its guided ODE from noise ``ε``;
   the student gets the trajectory's point at each backbone time ``tᵢ`` for every chunk, with the
   trajectory's point at the last backbone time as the cached history, and regresses the
   trajectory's end ``x₀`` (the student's ``x₀ = x_t − t·v``).
2. **Off-policy DMD** (backbone). Teacher samples re-noised to a backbone time are the student's
   input and history; its one-step ``x̂₀`` is scored by distribution matching distillation
   (Yin et al. 2024): re-noise ``x̂₀`` to a random ``t``; the frozen teacher's guided ``x₀``
   ("real score") and a trainable *fake score* network's ``x₀`` (a copy of the teacher that
   keeps learning, by flow matching, the distribution the student currently makes) give the
   gradient ``(x₀_fake − x₀_real) / mean|x̂₀ − x₀_real|`` on ``x̂₀``. A small regression to the
   teacher's ``x₀`` keeps this first DMD stage anchored.
3. **On-policy DMD** (backbone). The student rolls out autoregressively with its own KV cache;
   one whole-sequence pass with that rollout's own history as the cache reproduces the rollout
   exactly (`OnlineNet.forward_sequence`), so the DMD gradient reaches every chunk's steps with
   the history the student itself made (no exposure bias, as in Self-Forcing).
4. **Refinement DMD** (refiner, backbone frozen). Backbone outputs re-noised to
   ``refine_time``, one refiner step, its clean history in its cache; DMD as above.

Each stage writes a resumable ``stage-N.pt`` (student, fake score, optimisers, random state,
step) every ``checkpoint_every`` steps and a ``stage-N.done.json`` with its evaluation when it
ends; a run started again with the same ``--out`` skips finished stages and resumes the current
one. The evaluation after each stage (fixed validation windows, fixed noise) reports r(jawOpen)
against the corpus's truth and the distance to the teacher's own samples, so each stage's effect
is visible in the log and in ``history.json``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.base_lpm import BaseLPM
from models.encoders import shared_text_encoder
from models.flow import guided, noisy, time_grid, training_times, velocity_target
from models.motion import idx
from models.online_lpm import (
    PRESETS,
    KVCache,
    OnlineLPM,
    OnlineLPMConfig,
    OnlineNet,
    commit_kv,
    save_online,
)
from models.train_base import Batch, ClipSet, code_version, load_base, make_batch

if TYPE_CHECKING:
    from models.corpus.reader import Corpus

log = logging.getLogger(__name__)

STAGES = ("ode", "offpolicy", "onpolicy", "refine")


@dataclass(frozen=True)
class DistillConfig:
    preset: str = "small"  # student preset (models.online_lpm.PRESETS); matches the teacher
    batch: int = 8  # sequences per step
    steps: tuple[int, ...] = (300, 150, 150, 150)  # per stage, in STAGES order
    lr: float = 1e-4  # student (AdamW)
    fake_lr: float = 2e-4  # fake score network
    fake_updates: int = 1  # fake-score steps per student step (DMD's two time scales)
    teacher_steps: int = 8  # Euler steps of the teacher's ODE (its grid holds the backbone times)
    audio_scale: float = 1.5  # the teacher's guidance, baked into the student
    text_scale: float = 2.0
    reg_weight: float = 0.25  # stage 2: weight of the regression to the teacher's x₀
    checkpoint_every: int = 25
    eval_windows: int = 16  # validation windows of the per-stage evaluation
    seed: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {sorted(PRESETS)}")
        if len(self.steps) != len(STAGES) or min(self.steps) < 0:
            raise ValueError("steps: one non-negative count per stage")
        if self.batch < 1 or self.lr <= 0 or self.fake_lr <= 0 or self.fake_updates < 1:
            raise ValueError("batch, learning rates and fake_updates must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sequence_frames(cfg: OnlineLPMConfig) -> int:
    """Student sequence length: the largest multiple of the chunk that fits the teacher window
    together with the look-ahead."""
    frames = (cfg.base.window - cfg.lookahead) // cfg.chunk * cfg.chunk
    if frames < 2 * cfg.chunk:
        raise ValueError("the teacher's window is too short for two chunks")
    return frames


@dataclass
class Sequences:
    """A batch of training sequences cut to the student's length (normalised motion)."""

    x0: Tensor  # [B, T, 61] the corpus's truth
    speak: Tensor  # [B, T + L, 323]
    listen: Tensor  # [B, T, 323]
    text: Tensor
    text_mask: Tensor
    rest: Tensor  # [B, 61] raw

    def teacher_batch(self) -> Batch:
        """The same conditions as a Base LPM batch over ``T`` frames (no clean context)."""
        frames = self.x0.shape[1]
        return Batch(
            x0=self.x0,
            speak=self.speak[:, :frames],
            listen=self.listen,
            text=self.text,
            text_mask=self.text_mask,
            rest=self.rest,
            context_mask=torch.zeros(self.x0.shape[:2], dtype=torch.bool),
        )


def draw_sequences(
    clips: ClipSet, teacher: BaseLPM, rng: np.random.Generator, batch: int, frames: int, ahead: int
) -> Sequences:
    b = make_batch(clips, teacher, shared_text_encoder(), rng, batch)
    return Sequences(
        x0=b.x0[:, :frames],
        speak=b.speak[:, : frames + ahead],
        listen=b.listen[:, :frames],
        text=b.text,
        text_mask=b.text_mask,
        rest=b.rest,
    )


def teacher_velocity(
    teacher: BaseLPM, seq: Batch, x: Tensor, t: Tensor, audio_scale: float, text_scale: float
) -> Tensor:
    """The teacher's guided velocity (nested CFG, three branches in one batch)."""
    b = x.shape[0]
    ones = torch.ones(b, dtype=torch.bool)
    audio_keep = torch.cat((~ones, ones, ones))
    text_keep = torch.cat((~ones, ~ones, ones))

    def rep(a: Tensor) -> Tensor:
        return a.repeat(3, *([1] * (a.dim() - 1)))

    v = teacher(
        rep(x), rep(t), rep(seq.speak), rep(seq.listen), rep(seq.text), rep(seq.text_mask),
        rep(seq.rest), audio_keep=audio_keep, text_keep=text_keep,
    )  # fmt: skip
    uncond, audio_only, full = v.chunk(3)
    return guided(uncond, audio_only, full, audio_scale, text_scale)


@torch.no_grad()
def teacher_trajectory(
    teacher: BaseLPM, seq: Sequences, noise: Tensor, dcfg: DistillConfig, keep: tuple[float, ...]
) -> dict[float, Tensor]:
    """The teacher's guided ODE from ``noise``; the states at the times in ``keep`` (and 0)."""
    tb = seq.teacher_batch()
    grid = time_grid(dcfg.teacher_steps)
    wanted = {round(float(t), 6) for t in keep} | {0.0}
    missing = wanted - {round(float(t), 6) for t in grid}
    if missing:
        raise ValueError(f"teacher grid of {dcfg.teacher_steps} steps misses times {missing}")
    out = {1.0: noise}
    x = noise
    for i in range(len(grid) - 1):
        t = grid[i].expand(x.shape[0])
        x = x + (grid[i + 1] - grid[i]) * teacher_velocity(
            teacher, tb, x, t, dcfg.audio_scale, dcfg.text_scale
        )
        key = round(float(grid[i + 1]), 6)
        if key in wanted:
            out[key] = x
    return out


def _times(value: float, like: Tensor) -> Tensor:
    return torch.full(like.shape[:2], value, dtype=like.dtype)


def backbone_passes(
    net: OnlineNet, cfg: OnlineLPMConfig, seq: Sequences, noise: Tensor, hist: Tensor
) -> Tensor:
    """The backbone's Euler steps over the whole sequence in parallel, every chunk's cache made
    of ``hist`` (at the last backbone time): the ``x₀`` streaming would give."""
    times = [*cfg.backbone_times, 0.0]
    t_hist = _times(cfg.backbone_times[-1], hist)
    x = noise
    for i in range(len(times) - 1):
        v = net.forward_sequence(
            hist, t_hist, x, _times(times[i], x), seq.rest, seq.speak, seq.listen, seq.text,
            seq.text_mask,
        )  # fmt: skip
        x = x + (times[i + 1] - times[i]) * v
    return x


def _chunk_audio(full: Tensor, history: int, start: int, length: int) -> Tensor:
    """Frames ``[start − history, start + length)`` of ``full [B, N, F]``, zeros before 0."""
    pad = full.new_zeros(full.shape[0], history, full.shape[2])
    return torch.cat((pad, full), dim=1)[:, start : start + history + length]


@torch.no_grad()
def backbone_rollout(
    net: OnlineNet, model: OnlineLPM, seq: Sequences, noise: Tensor
) -> tuple[Tensor, Tensor]:
    """Stream the backbone chunk by chunk with its own cache: (its cached history ``x`` at the
    last backbone time, its ``x₀``), both ``[B, T, 61]``."""
    cfg = model.config
    c, ahead = cfg.chunk, cfg.lookahead
    cache = model.empty_cache(net, seq.rest)
    frames = torch.zeros(noise.shape[0], dtype=torch.int64)
    times = [*cfg.backbone_times, 0.0]
    hist_out, x0_out = [], []
    for a in range(0, noise.shape[1], c):
        sp = _chunk_audio(seq.speak, cfg.speak_history, a, c + ahead)
        li = _chunk_audio(seq.listen, cfg.listen_history, a, c)
        x = noise[:, a : a + c]
        k = v = None
        ctx = net.prepare(frames, cache, sp, li, seq.text, seq.text_mask)
        for i in range(len(times) - 1):
            if i == len(times) - 2:
                hist_out.append(x)
            t = torch.full((x.shape[0],), times[i])
            vel, k, v = net.forward_prepared(x, t, ctx)
            x = x + (times[i + 1] - times[i]) * vel
        assert k is not None and v is not None
        cache = commit_kv(cache, frames, k, v)
        frames = frames + c
        x0_out.append(x)
    return torch.cat(hist_out, 1), torch.cat(x0_out, 1)


@torch.no_grad()
def refiner_rollout(net: OnlineNet, model: OnlineLPM, seq: Sequences, x_r: Tensor) -> Tensor:
    """Stream the refiner over re-noised backbone output ``x_r``: its clean output ``[B, T, 61]``
    (which is also the history its cache holds)."""
    cfg = model.config
    c, ahead, tr = cfg.chunk, cfg.lookahead, cfg.refine_time
    cache: KVCache = model.empty_cache(net, seq.rest)
    frames = torch.zeros(x_r.shape[0], dtype=torch.int64)
    out = []
    b = x_r.shape[0]
    for a in range(0, x_r.shape[1], c):
        sp = _chunk_audio(seq.speak, cfg.speak_history, a, c + ahead)
        li = _chunk_audio(seq.listen, cfg.listen_history, a, c)
        x = x_r[:, a : a + c]
        ctx = net.prepare(frames, cache, sp, li, seq.text, seq.text_mask)
        vel, _, _ = net.forward_prepared(x, torch.full((b,), tr), ctx)
        clean = x - tr * vel
        k, v = net.chunk_kv(clean, torch.zeros(b), ctx)
        cache = commit_kv(cache, frames, k, v)
        frames = frames + c
        out.append(clean)
    return torch.cat(out, 1)


def dmd_loss(
    x0: Tensor,
    seq: Sequences,
    teacher: BaseLPM,
    fake: BaseLPM,
    dcfg: DistillConfig,
    gen: torch.Generator,
) -> Tensor:
    """Distribution matching: the surrogate whose gradient on ``x0`` is
    ``(x₀_fake − x₀_real) / mean|x0 − x₀_real|`` at a random re-noising of ``x0``."""
    b = x0.shape[0]
    t = 0.02 + 0.96 * torch.rand(b, generator=gen)
    eps = torch.randn(x0.shape, generator=gen)
    tb = seq.teacher_batch()
    with torch.no_grad():
        x_t = noisy(x0.detach(), eps, t)
        tt = t.view(-1, 1, 1)
        v_real = teacher_velocity(teacher, tb, x_t, t, dcfg.audio_scale, dcfg.text_scale)
        x0_real = x_t - tt * v_real
        fake.eval()
        v_fake = fake(x_t, t, tb.speak, tb.listen, tb.text, tb.text_mask, tb.rest)
        fake.train()
        x0_fake = x_t - tt * v_fake
        scale = (x0.detach() - x0_real).abs().mean(dim=(1, 2), keepdim=True).clamp_min(1e-3)
        grad = (x0_fake - x0_real) / scale
    return 0.5 * F.mse_loss(x0, (x0 - grad).detach())


def fake_score_loss(fake: BaseLPM, x0: Tensor, seq: Sequences, gen: torch.Generator) -> Tensor:
    """Flow matching of the fake score on what the student makes now."""
    tb = seq.teacher_batch()
    t = training_times(x0.shape[0], gen)
    eps = torch.randn(x0.shape, generator=gen)
    v = fake(noisy(x0, eps, t), t, tb.speak, tb.listen, tb.text, tb.text_mask, tb.rest)
    return F.mse_loss(v, velocity_target(x0, eps))


# -- evaluation after each stage ---------------------------------------------------------------
@dataclass
class EvalSet:
    seq: Sequences
    noise: Tensor  # [B, T, 61] the same noise for the teacher and the student
    refine_noise: Tensor  # [B, T, 61] the refiner's re-noising
    teacher_x0: Tensor  # [B, T, 61] normalised: the teacher's guided ODE from ``noise``


def make_eval_set(
    val: ClipSet, teacher: BaseLPM, frames: int, ahead: int, dcfg: DistillConfig
) -> EvalSet:
    rng = np.random.default_rng(4321)
    seq = draw_sequences(val, teacher, rng, dcfg.eval_windows, frames, ahead)
    gen = torch.Generator().manual_seed(4321)
    noise = torch.randn(seq.x0.shape, generator=gen)
    refine_noise = torch.randn(seq.x0.shape, generator=gen)
    traj = teacher_trajectory(teacher, seq, noise, dcfg, ())
    return EvalSet(seq, noise, refine_noise, traj[0.0])


def _pearson(a: Tensor, b: Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else 0.0


@torch.no_grad()
def evaluate(model: OnlineLPM, ev: EvalSet, refiner: bool) -> dict[str, float]:
    """Streamed on fixed validation windows with the teacher's noise: r(jawOpen) against the
    corpus truth (and the teacher's own r), the distance to the teacher's ODE from the same
    noise, and the motion's spread against the truth's (over-smoothing shows as < 1)."""
    model.eval()
    seq = ev.seq
    _, x0 = backbone_rollout(model.backbone, model, seq, ev.noise)
    if refiner:
        tr = model.config.refine_time
        x0 = refiner_rollout(model.refiner, model, seq, (1 - tr) * x0 + tr * ev.refine_noise)
    base = model.backbone.base
    jaw = idx("jawOpen")
    truth = base.denormalise(seq.x0)
    pred = base.denormalise(x0)
    teacher = base.denormalise(ev.teacher_x0)
    model.train()
    return {
        "r_jaw_truth": _pearson(pred[..., jaw], truth[..., jaw]),
        "r_jaw_teacher": _pearson(teacher[..., jaw], truth[..., jaw]),
        "mse_to_teacher": float(F.mse_loss(x0, ev.teacher_x0)),
        "spread": float(x0.std(dim=1).mean() / seq.x0.std(dim=1).mean().clamp_min(1e-6)),
    }


# -- the run -------------------------------------------------------------------------------------
@dataclass
class DistillResult:
    out_dir: Path
    history: list[dict[str, Any]]
    seconds: float
    checkpoint: Path


def distill_online(
    corpus_dir: Path,
    teacher_path: Path,
    out_dir: Path,
    dcfg: DistillConfig,
    on_step: Callable[[str, int, int, float], None] | None = None,
    max_seconds: float | None = None,
    stop_at: tuple[str, int] | None = None,
) -> DistillResult | None:
    """Run (or resume) the four stages. Returns None when stopped early (time budget or
    ``stop_at = (stage, step)``); running again with the same ``out_dir`` resumes."""
    if dcfg.threads:
        torch.set_num_threads(dcfg.threads)
    from models.corpus.reader import Corpus

    out_dir.mkdir(parents=True, exist_ok=True)
    corpus: Corpus = Corpus(corpus_dir)
    teacher = load_base(teacher_path).requires_grad_(False)
    ocfg: OnlineLPMConfig = PRESETS[dcfg.preset]()
    if ocfg.base != teacher.config:
        raise ValueError(
            f"the {dcfg.preset} student needs a teacher of the same shape; "
            f"{teacher_path} has {teacher.config.dit}"
        )
    frames = sequence_frames(ocfg)
    train = ClipSet.load(corpus, "train", ocfg.base.window)
    val = ClipSet.load(corpus, "validation", ocfg.base.window)
    ev = make_eval_set(val, teacher, frames, ocfg.lookahead, dcfg)
    fingerprint = {
        "distill_config": dcfg.to_dict(),
        "corpus_hash": corpus.manifest.hash,
        "teacher": teacher_path.name,
    }

    torch.manual_seed(dcfg.seed)
    model = OnlineLPM.from_teacher(ocfg, teacher).train()
    fake = copy.deepcopy(teacher).requires_grad_(True).train()
    history: list[dict[str, Any]] = []
    started = time.monotonic()

    hist_path = out_dir / "history.json"
    if hist_path.exists():
        history = json.loads(hist_path.read_text())

    for si, stage in enumerate(STAGES):
        done_path = out_dir / f"stage-{si + 1}.done.pt"
        if done_path.exists():
            saved = torch.load(done_path, weights_only=False)
            if saved["fingerprint"] != fingerprint:
                raise ValueError(f"{done_path} was written by a different run; use a new --out")
            model.load_state_dict(saved["model"])
            fake.load_state_dict(saved["fake"])
            continue
        if si == 3:  # the refiner starts from the distilled backbone
            model.refiner.load_state_dict(model.backbone.state_dict())
        if si == 0:
            metrics = evaluate(model, ev, refiner=False)
            history.append({"stage": "teacher-init", "step": 0, **metrics})
            log.info("before distillation: %s", _fmt(metrics))
        finished = _run_stage(
            si, stage, model, fake, teacher, train, frames, dcfg, fingerprint, out_dir, history,
            on_step, started, max_seconds, stop_at,
        )  # fmt: skip
        if not finished:
            hist_path.write_text(json.dumps(history, indent=2) + "\n")
            return None
        metrics = evaluate(model, ev, refiner=si == 3)
        history.append({"stage": stage, "step": dcfg.steps[si], **metrics})
        log.info("stage %d (%s) done: %s", si + 1, stage, _fmt(metrics))
        _atomic_save(
            {"model": model.state_dict(), "fake": fake.state_dict(), "fingerprint": fingerprint},
            done_path,
        )
        (out_dir / f"stage-{si + 1}.pt").unlink(missing_ok=True)
        hist_path.write_text(json.dumps(history, indent=2) + "\n")

    stem = out_dir / f"online_{dcfg.preset}"
    ckpt = save_online(
        model,
        stem,
        {
            "preset": dcfg.preset,
            "distill_config": dcfg.to_dict(),
            "teacher": teacher_path.name,
            "corpus_hash": corpus.manifest.hash,
            "code_version": code_version(),
            "metrics": history[-1],
            "history": history,
        },
    )
    return DistillResult(out_dir, history, time.monotonic() - started, ckpt)


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())


def _atomic_save(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _run_stage(
    si: int,
    stage: str,
    model: OnlineLPM,
    fake: BaseLPM,
    teacher: BaseLPM,
    train: ClipSet,
    frames: int,
    dcfg: DistillConfig,
    fingerprint: dict[str, Any],
    out_dir: Path,
    history: list[dict[str, Any]],
    on_step: Callable[[str, int, int, float], None] | None,
    started: float,
    max_seconds: float | None,
    stop_at: tuple[str, int] | None,
) -> bool:
    """One stage from its last checkpoint to its end; False when stopped early."""
    cfg = model.config
    student = model.refiner if stage == "refine" else model.backbone
    model.requires_grad_(False)
    student.requires_grad_(True)
    opt = torch.optim.AdamW(student.parameters(), lr=dcfg.lr, weight_decay=0.0)
    fopt = torch.optim.AdamW(fake.parameters(), lr=dcfg.fake_lr, weight_decay=0.0)
    rng = np.random.default_rng(dcfg.seed + 1000 * (si + 1))
    gen = torch.Generator().manual_seed(dcfg.seed + 1000 * (si + 1))
    step = 0
    state_path = out_dir / f"stage-{si + 1}.pt"
    if state_path.exists():
        saved = torch.load(state_path, weights_only=False)
        if saved["fingerprint"] != fingerprint:
            raise ValueError(f"{state_path} was written by a different run; use a new --out")
        model.load_state_dict(saved["model"])
        fake.load_state_dict(saved["fake"])
        opt.load_state_dict(saved["opt"])
        fopt.load_state_dict(saved["fopt"])
        rng.bit_generator.state = saved["numpy_rng"]
        gen.set_state(saved["torch_rng"])
        step = saved["step"]
        log.info("stage %d (%s): resuming from step %d", si + 1, stage, step)

    def save() -> None:
        _atomic_save(
            {
                "model": model.state_dict(), "fake": fake.state_dict(), "opt": opt.state_dict(),
                "fopt": fopt.state_dict(), "numpy_rng": rng.bit_generator.state,
                "torch_rng": gen.get_state(), "step": step, "fingerprint": fingerprint,
            },
            state_path,
        )  # fmt: skip

    total = dcfg.steps[si]
    smooth = float("nan")
    t_last = cfg.backbone_times[-1]
    while step < total:
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            save()
            log.info("time budget reached in stage %d at step %d", si + 1, step)
            return False
        if stop_at is not None and stop_at == (stage, step):
            save()
            return False
        seq = draw_sequences(train, teacher, rng, dcfg.batch, frames, cfg.lookahead)
        noise = torch.randn(seq.x0.shape, generator=gen)
        if stage == "ode":
            traj = teacher_trajectory(teacher, seq, noise, dcfg, cfg.backbone_times)
            hist = traj[round(t_last, 6)]
            pick = torch.randint(len(cfg.backbone_times), (noise.shape[0], frames // cfg.chunk),
                                 generator=gen)  # fmt: skip
            x_cur = torch.zeros_like(noise)
            t_cur = torch.zeros(noise.shape[:2])
            for i, tv in enumerate(cfg.backbone_times):
                chosen = (pick == i).repeat_interleave(cfg.chunk, dim=1)
                x_cur = torch.where(chosen[..., None], traj[round(tv, 6)], x_cur)
                t_cur = torch.where(chosen, torch.tensor(tv), t_cur)
            v = student.forward_sequence(
                hist, _times(t_last, hist), x_cur, t_cur, seq.rest, seq.speak, seq.listen,
                seq.text, seq.text_mask,
            )  # fmt: skip
            x0 = x_cur - t_cur[..., None] * v
            loss = F.mse_loss(x0, traj[0.0])
        elif stage == "offpolicy":
            traj = teacher_trajectory(teacher, seq, noise, dcfg, ())
            target = traj[0.0]
            renoise = torch.randn(seq.x0.shape, generator=gen)
            hist = noisy(target, renoise, torch.full((noise.shape[0],), t_last))
            ti = torch.tensor(cfg.backbone_times)[
                torch.randint(len(cfg.backbone_times), (noise.shape[0],), generator=gen)
            ]
            x_in = noisy(target, noise, ti)
            t_cur = ti[:, None].expand(-1, frames).contiguous()
            v = student.forward_sequence(
                hist, _times(t_last, hist), x_in, t_cur, seq.rest, seq.speak, seq.listen,
                seq.text, seq.text_mask,
            )  # fmt: skip
            x0 = x_in - t_cur[..., None] * v
            loss = dmd_loss(x0, seq, teacher, fake, dcfg, gen)
            loss = loss + dcfg.reg_weight * F.mse_loss(x0, target)
        elif stage == "onpolicy":
            hist, _ = backbone_rollout(student, model, seq, noise)
            x0 = backbone_passes(student, cfg, seq, noise, hist)
            loss = dmd_loss(x0, seq, teacher, fake, dcfg, gen)
        else:  # refine
            _, bb = backbone_rollout(model.backbone, model, seq, noise)
            tr = cfg.refine_time
            x_r = noisy(bb, torch.randn(bb.shape, generator=gen), torch.full((bb.shape[0],), tr))
            clean_hist = refiner_rollout(student, model, seq, x_r)
            v = student.forward_sequence(
                clean_hist, _times(0.0, clean_hist), x_r, _times(tr, x_r), seq.rest,
                seq.speak, seq.listen, seq.text, seq.text_mask,
            )  # fmt: skip
            x0 = x_r - tr * v
            loss = dmd_loss(x0, seq, teacher, fake, dcfg, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        if stage != "ode":
            for _ in range(dcfg.fake_updates):
                fl = fake_score_loss(fake, x0.detach(), seq, gen)
                fopt.zero_grad(set_to_none=True)
                fl.backward()
                torch.nn.utils.clip_grad_norm_(fake.parameters(), 1.0)
                fopt.step()
        step += 1
        value = float(loss.item())
        smooth = value if np.isnan(smooth) else 0.95 * smooth + 0.05 * value
        if step % dcfg.checkpoint_every == 0:
            save()
            history.append({"stage": stage, "step": step, "loss": smooth})
        if on_step is not None:
            on_step(stage, step, total, smooth)
    save()
    return True
