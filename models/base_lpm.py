"""Base LPM: the bidirectional motion DiT, trained by flow matching (DESIGN §5, paper "Base LPM").

The paper denoises video latents; here the same architecture denoises **motion**: a window of
``T`` frames of the 61 curves, conditioned on the character's speak and listen audio, a text
caption and the character's rest pose. It is used offline — as the teacher of the Online model
and to pre-generate clips — and runs many sampling steps with classifier-free guidance.

Prediction target: **velocity** ``v = ε − x₀`` (`models.flow`) of the *normalised* curves
``(curves − mean) / std`` (per-curve statistics of the training corpus, stored in the model).

Inputs of `BaseLPM.forward` (all tensors batch-first):

| name | shape | meaning |
|---|---|---|
| ``x_t`` | ``[B, T, 61]`` | noisy normalised motion |
| ``t`` | ``[B]`` | flow time in [0, 1] |
| ``speak``, ``listen`` | ``[B, T, 323]`` | `models.encoders.audio_frame_features` per frame |
| ``text``, ``text_mask`` | ``[B, L, 384]``, ``[B, L]`` | frozen token states of the caption |
| ``rest`` | ``[B, 61]`` | the character's rest pose (raw curves), the global reference token |
| ``context``, ``context_mask`` | ``[B, T, 61]``, ``[B, T]`` | clean normalised frames known |
| ``audio_keep``, ``text_keep`` | ``[B]`` bool | False drops that condition (CFG) |

Long clips are generated window by window; each window after the first takes the last
``overlap`` frames of the previous one as clean context (trained with random clean prefixes, the
motion analogue of the paper's long-video adaptation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from models.dit import DiTBlock, DiTConfig, rope_tables, timestep_embedding, window_mask
from models.encoders import TEXT_DIM, AudioEncoder
from models.flow import guided, sample_euler, time_grid
from models.motion import CURVE_MAX, CURVE_MIN, NUM_CURVES, idx


@dataclass(frozen=True)
class BaseLPMConfig:
    dit: DiTConfig = field(default_factory=DiTConfig)
    window: int = 75  # frames per training and sampling window (3 s at 25 fps)
    rest_position: float = -64.0  # temporal RoPE index of the rest-pose reference token
    text_drop: float = 0.1  # training: share of samples with the caption dropped (CFG)
    audio_drop: float = 0.1  # training: share of samples with both audio streams dropped (CFG)
    context_prob: float = 0.5  # training: share of windows given a clean prefix
    max_context: int = 25  # training: longest clean prefix, frames; sampling overlap ≤ this

    def __post_init__(self) -> None:
        if self.window < 8:
            raise ValueError("window must be at least 8 frames")
        if not 0 <= self.max_context < self.window:
            raise ValueError("max_context must be shorter than the window")
        for name in ("text_drop", "audio_drop", "context_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaseLPMConfig:
        data = dict(data)
        data["dit"] = DiTConfig(**data["dit"])
        return cls(**data)


def base_tiny() -> BaseLPMConfig:
    """For tests and CI: trains in seconds, learns the easy parts (mouth follows loudness)."""
    return BaseLPMConfig(dit=DiTConfig(dim=64, depth=2, heads=2), window=32, max_context=8)


def base_small() -> BaseLPMConfig:
    """The shipped teacher: ~4.3 M parameters (~9 MB as float16)."""
    return BaseLPMConfig(dit=DiTConfig(dim=160, depth=6, heads=4), window=75, max_context=25)


PRESETS = {"tiny": base_tiny, "small": base_small}


# Resting expressions a character may hold (curves, low, high): what the rest-pose reference
# token is trained on (`models.train_base.random_rest`), so what the learned models carry.
PERSONA_RESTS: tuple[tuple[tuple[str, ...], float, float], ...] = (
    (("mouthSmileLeft", "mouthSmileRight"), 0.0, 0.35),
    (("mouthFrownLeft", "mouthFrownRight"), 0.0, 0.2),
    (("browInnerUp",), 0.0, 0.25),
    (("browDownLeft", "browDownRight"), 0.0, 0.2),
    (("eyeSquintLeft", "eyeSquintRight"), 0.0, 0.25),
    (("headRoll",), -0.06, 0.06),
    (("headPitch",), -0.05, 0.05),
)


def split_rest(rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A character's rest pose ``[61]`` as (what the learned models condition on, an offset).

    The models were trained on rest poses within `PERSONA_RESTS` only; a portrait may rest
    far outside them (a broad smile, an open mouth). They are conditioned on the pose clipped
    to that range, and the remainder is added to every frame they make, so idle and silence
    come back to the portrait's own expression, as with every generator."""
    rest = np.asarray(rest, np.float32)
    carried = np.zeros(NUM_CURVES, np.float32)
    for names, lo, hi in PERSONA_RESTS:
        for name in names:
            i = idx(name)
            carried[i] = np.clip(rest[i], lo, hi)
    return carried, (rest - carried).astype(np.float32)


class BaseLPM(nn.Module):
    """Bidirectional motion DiT; ``forward`` returns the velocity ``[B, T, 61]``."""

    curve_mean: Tensor  # [61] buffers: per-curve statistics of the training corpus
    curve_std: Tensor

    def __init__(self, config: BaseLPMConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dit.dim
        self.in_proj = nn.Linear(2 * NUM_CURVES + 1, d)  # x_t, clean context, context flag
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.audio = AudioEncoder(d)
        self.null_audio = nn.Parameter(torch.zeros(d))
        self.text_proj = nn.Linear(TEXT_DIM, d)
        self.null_text = nn.Parameter(torch.zeros(1, 1, d))  # always attendable
        self.rest_proj = nn.Linear(NUM_CURVES, d)
        self.blocks = nn.ModuleList(DiTBlock(config.dit, i) for i in range(config.dit.depth))
        self.out_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        out_ada = nn.Linear(d, 2 * d)
        self.out_ada = nn.Sequential(nn.SiLU(), out_ada)
        self.out = nn.Linear(d, NUM_CURVES)
        for layer in (out_ada, self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        # Per-curve normalisation of the training corpus (set before training, saved with it).
        self.register_buffer("curve_mean", torch.zeros(NUM_CURVES))
        self.register_buffer("curve_std", torch.ones(NUM_CURVES))

    # -- normalisation ----------------------------------------------------------------------
    def normalise(self, curves: Tensor) -> Tensor:
        return (curves - self.curve_mean) / self.curve_std

    def denormalise(self, x: Tensor) -> Tensor:
        return x * self.curve_std + self.curve_mean

    # -- network ----------------------------------------------------------------------------
    def forward(
        self,
        x_t: Tensor,
        t: Tensor,
        speak: Tensor,
        listen: Tensor,
        text: Tensor,
        text_mask: Tensor,
        rest: Tensor,
        context: Tensor | None = None,
        context_mask: Tensor | None = None,
        audio_keep: Tensor | None = None,
        text_keep: Tensor | None = None,
    ) -> Tensor:
        b, frames, _ = x_t.shape
        if context is None or context_mask is None:
            context = torch.zeros_like(x_t)
            context_mask = torch.zeros(b, frames, dtype=torch.bool, device=x_t.device)
        flag = context_mask.to(x_t.dtype)[..., None]
        h = self.in_proj(torch.cat((x_t, context * flag, flag), dim=-1))
        c = self.time(timestep_embedding(t, h.shape[-1]))

        sp, li = self.audio(speak), self.audio(listen)
        if audio_keep is not None:
            keep = audio_keep.view(b, 1, 1)
            sp = torch.where(keep, sp, self.null_audio)
            li = torch.where(keep, li, self.null_audio)
        tokens = self.text_proj(text)
        tmask = text_mask if text_keep is None else text_mask & text_keep[:, None]
        tokens = torch.cat((self.null_text.expand(b, 1, -1), tokens), dim=1)
        tmask = torch.cat((torch.ones(b, 1, dtype=torch.bool, device=x_t.device), tmask), dim=1)
        tmask = tmask[:, None, None, :]

        ref = self.rest_proj(self.normalise(rest))[:, None]
        x = torch.cat((h, ref), dim=1)
        pos = torch.arange(frames, dtype=torch.float32, device=x_t.device)
        seq_pos = torch.cat((pos, pos.new_tensor([self.config.rest_position])))
        head_dim, base = self.config.dit.head_dim, self.config.dit.rope_base
        rope = rope_tables(seq_pos[None], head_dim, base)
        frame_rope = rope_tables(pos[None], head_dim, base)
        masks = {
            "speak": window_mask(pos, pos, self.config.dit.speak_window),
            "listen": window_mask(pos, pos, self.config.dit.listen_window),
        }
        for block in self.blocks:
            assert isinstance(block, DiTBlock)
            audio = sp if block.hears == "speak" else li
            x = block(
                x, c, frames, rope, None, tokens, tmask, audio, masks[block.hears],
                frame_rope, frame_rope,
            )  # fmt: skip
        shift, scale = self.out_ada(c).chunk(2, dim=-1)
        f = self.out_norm(x[:, :frames]) * (1 + scale[:, None]) + shift[:, None]
        return self.out(f)


@dataclass(frozen=True)
class SamplingOptions:
    steps: int = 24  # Euler steps from noise to motion
    shift: float = 1.0  # time-grid shift (> 1 spends more steps at high noise)
    audio_scale: float = 1.5  # CFG scale on the audio streams
    text_scale: float = 2.0  # CFG scale on the caption
    overlap: int = 15  # frames carried between windows of a long clip

    def __post_init__(self) -> None:
        if self.steps < 1 or self.overlap < 0:
            raise ValueError("need steps ≥ 1 and overlap ≥ 0")


@torch.no_grad()
def sample_window(
    model: BaseLPM,
    speak: Tensor,
    listen: Tensor,
    text: Tensor,
    text_mask: Tensor,
    rest: Tensor,
    noise: Tensor,
    options: SamplingOptions,
    context: Tensor | None = None,
    context_mask: Tensor | None = None,
) -> Tensor:
    """One window: normalised motion ``[B, T, 61]`` from ``noise`` (same shape), with CFG.

    The three CFG branches (unconditional, audio only, audio + text) run as one batch of 3B.
    Known context frames are kept exactly in the output.
    """
    b = noise.shape[0]
    guide = options.audio_scale != 1.0 or options.text_scale != 1.0
    reps = 3 if guide else 1

    def rep(x: Tensor | None) -> Tensor | None:
        return None if x is None else x.repeat(reps, *([1] * (x.dim() - 1)))

    ones = torch.ones(b, dtype=torch.bool, device=noise.device)
    if guide:
        audio_keep = torch.cat((~ones, ones, ones))
        text_keep = torch.cat((~ones, ~ones, ones))
    else:
        audio_keep = text_keep = ones
    args = [rep(a) for a in (speak, listen, text, text_mask, rest, context, context_mask)]

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        v = model(rep(x), rep(t), *args, audio_keep=audio_keep, text_keep=text_keep)
        if not guide:
            return v
        uncond, audio_only, full = v.chunk(3)
        return guided(uncond, audio_only, full, options.audio_scale, options.text_scale)

    x = sample_euler(velocity, noise, time_grid(options.steps, options.shift).to(noise.device))
    if context is not None and context_mask is not None:
        x = torch.where(context_mask[..., None], context, x)
    return x


@torch.no_grad()
def generate(
    model: BaseLPM,
    speak: np.ndarray,
    listen: np.ndarray,
    text: np.ndarray,
    rest: np.ndarray,
    options: SamplingOptions | None = None,
    seed: int = 0,
) -> np.ndarray:
    """A clip of any length: curves ``[T, 61]`` (raw units, clipped to the curve ranges).

    ``speak``/``listen`` are ``[T, 323]`` frame features, ``text`` ``[L, 384]`` token states
    (``L`` may be 0), ``rest`` ``[61]`` (beyond the trained range: `split_rest`). Windows of
    ``config.window`` frames advance by ``window − overlap``; each continues from the previous
    window's last ``overlap`` frames.
    """
    options = options or SamplingOptions()
    model.eval()
    cfg = model.config
    total = speak.shape[0]
    if listen.shape[0] != total:
        raise ValueError("speak and listen features must cover the same frames")
    overlap = min(options.overlap, cfg.max_context)
    win = cfg.window
    gen = torch.Generator().manual_seed(seed)
    noise_all = torch.randn(1, max(total, win) + win, NUM_CURVES, generator=gen)

    def padded(a: np.ndarray, start: int) -> Tensor:
        piece = a[start : start + win]
        out = np.zeros((win, a.shape[1]), np.float32)
        out[: len(piece)] = piece
        return torch.from_numpy(out)[None]

    text_t = torch.from_numpy(np.array(text, np.float32))[None]
    text_mask = torch.ones(1, text_t.shape[1], dtype=torch.bool)
    carried, offset = split_rest(rest)
    rest_t = torch.from_numpy(carried)[None]
    out = torch.zeros(1, max(total, 1), NUM_CURVES)
    start = 0
    while True:
        context = torch.zeros(1, win, NUM_CURVES)
        cmask = torch.zeros(1, win, dtype=torch.bool)
        if start > 0:
            context[:, :overlap] = out[:, start : start + overlap]
            cmask[:, :overlap] = True
        x = sample_window(
            model, padded(speak, start), padded(listen, start), text_t, text_mask, rest_t,
            noise_all[:, start : start + win], options, context, cmask,
        )  # fmt: skip
        n = min(win, total - start)
        out[:, start : start + n] = x[:, :n]
        if start + win >= total:
            break
        start += win - overlap
    curves = model.denormalise(out[0, :total]).numpy() + offset
    return np.clip(curves, CURVE_MIN, CURVE_MAX).astype(np.float32)
