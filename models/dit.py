"""The motion diffusion transformer block shared by Base and Online LPM (DESIGN §5).

One block, top to bottom:

    x = x + gate₁ · SelfAttn(AdaLN₁(x, c))           frames + reference tokens, temporal RoPE
    f = f + TextAttn(LN(f)) + AudioAttn(LN(f))       frames only; separate K/V and output
                                                     projections, summed (paper: "interleaved
                                                     dual-audio injection")
    x = x + gate₂ · FFN(AdaLN₂(x, c))

where ``c`` is the conditioning vector (flow time embedding), ``f`` the frame tokens of ``x``.
Even layers cross-attend to the *speak* stream (the character's own voice) inside a local window;
odd layers to the *listen* stream (the partner) inside a wider one. Reference tokens (the
character's rest pose, style clips) are appended to the self-attention sequence and told apart
by offsets on the temporal RoPE index, so they add no parameters to the block.

Shapes: ``B`` batch, ``T`` frames, ``R`` reference tokens, ``L`` text tokens, ``D`` model width.
Everything is plain ``torch`` with boolean attention masks passed in, so the same block runs
bidirectionally (Base) or block-causally with a cache (Online) and exports to ONNX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class DiTConfig:
    dim: int = 192  # model width D
    depth: int = 6  # number of blocks; even blocks hear the speak stream, odd the listen stream
    heads: int = 4  # attention heads (dim must divide)
    mlp_ratio: float = 4.0  # FFN hidden width = mlp_ratio × dim
    text_dim: int = 384  # width of the frozen text encoder's token states
    speak_window: int = 6  # frames either side a speak layer may attend to (±240 ms at 25 fps)
    listen_window: int = 25  # frames either side a listen layer may attend to (±1 s)
    rope_base: float = 10000.0  # RoPE frequency base over the temporal index

    def __post_init__(self) -> None:
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError("dim must split into heads of even width")
        if self.depth < 2:
            raise ValueError("depth must be at least 2 (one speak and one listen layer)")
        if self.speak_window < 0 or self.listen_window < 0:
            raise ValueError("audio windows must be non-negative")

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads


def rope_tables(positions: Tensor, head_dim: int, base: float) -> tuple[Tensor, Tensor]:
    """cos/sin tables ``[..., N, head_dim/2]`` for (possibly fractional) temporal positions."""
    freqs = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = positions.to(torch.float32)[..., None] * freqs.to(positions.device)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate pairs (x₂ᵢ, x₂ᵢ₊₁) of ``x [B, H, N, Dh]`` by ``cos/sin [B|1, N, Dh/2]``."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # broadcast over heads
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2)


def window_mask(q_pos: Tensor, k_pos: Tensor, window: int) -> Tensor:
    """``[Nq, Nk]`` True where ``|q − k| ≤ window`` (which keys a query may attend to)."""
    return (q_pos[:, None] - k_pos[None, :]).abs() <= window


class Attention(nn.Module):
    """Multi-head attention with separate query and key/value inputs and optional RoPE."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, -1).transpose(1, 2)  # [B, H, N, Dh]

    def forward(
        self,
        x: Tensor,
        context: Tensor,
        mask: Tensor | None = None,
        q_rope: tuple[Tensor, Tensor] | None = None,
        k_rope: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """``x [B, Nq, D]`` attends to ``context [B, Nk, Dkv]``; ``mask`` broadcasts to
        ``[B, H, Nq, Nk]`` (True = may attend)."""
        q = self._split(self.q(x))
        k, v = (self._split(t) for t in self.kv(context).chunk(2, dim=-1))
        if q_rope is not None:
            q = apply_rope(q, *q_rope)
        if k_rope is not None:
            k = apply_rope(k, *k_rope)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).flatten(2))


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """One block; ``layer`` decides which audio stream it hears (even: speak, odd: listen)."""

    def __init__(self, config: DiTConfig, layer: int) -> None:
        super().__init__()
        d = config.dim
        self.hears = "speak" if layer % 2 == 0 else "listen"
        self.window = config.speak_window if self.hears == "speak" else config.listen_window
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.self_attn = Attention(d, config.heads)
        self.norm_cross = nn.LayerNorm(d, eps=1e-6)
        self.text_attn = Attention(d, config.heads)
        self.audio_attn = Attention(d, config.heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * config.mlp_ratio)
        self.ffn = nn.Sequential(
            nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d)
        )
        # AdaLN-Zero: shift/scale/gate for the two residual branches, gates start at zero.
        ada = nn.Linear(d, 6 * d)
        nn.init.zeros_(ada.weight)
        nn.init.zeros_(ada.bias)
        self.ada = nn.Sequential(nn.SiLU(), ada)

    def forward(
        self,
        x: Tensor,
        c: Tensor,
        frames: int,
        rope: tuple[Tensor, Tensor],
        self_mask: Tensor | None,
        text: Tensor,
        text_mask: Tensor,
        audio: Tensor,
        audio_mask: Tensor,
        frame_rope: tuple[Tensor, Tensor],
        audio_rope: tuple[Tensor, Tensor],
    ) -> Tensor:
        """``x [B, T+R, D]`` (frames first), ``c [B, D]``; ``audio [B, Ta, D]`` is this layer's
        stream with ``audio_mask [Tq, Ta]`` already windowed; ``text [B, L, D]`` with
        ``text_mask [B, 1, 1, L]``."""
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).chunk(6, dim=-1)
        h = modulate(self.norm1(x), shift1, scale1)
        x = x + gate1[:, None] * self.self_attn(h, h, self_mask, rope, rope)
        f = self.norm_cross(x[:, :frames])
        cross = self.text_attn(f, text, text_mask) + self.audio_attn(
            f, audio, audio_mask, frame_rope, audio_rope
        )
        x = torch.cat((x[:, :frames] + cross, x[:, frames:]), dim=1)
        return x + gate2[:, None] * self.ffn(modulate(self.norm2(x), shift2, scale2))


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding ``[B, dim]`` of flow times ``t ∈ [0, 1]`` (scaled by 1000)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = 1000.0 * t.to(torch.float32)[:, None] * freqs.to(t.device)[None]
    return torch.cat((args.cos(), args.sin()), dim=-1)
