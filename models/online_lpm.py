"""Online LPM: the causal, few-step streaming student of Base LPM (DESIGN §5, paper "Online LPM").

The network is Base LPM's (same blocks, same parameter names, so a student starts from the
teacher's weights) run **block-causally over chunks** of ``chunk`` frames with a **KV cache**:

    keys a chunk attends to = sink (reference token + the first chunk)
                            + sliding window (the last ``window`` frames before the chunk)
                            + the chunk itself (bidirectional inside the chunk)

Keys are cached *before* RoPE and rotated each step at positions inside that layout: sink frames
at ``0 … chunk−1``, the chunk at ``P₀ … P₀+chunk−1`` with ``P₀ = min(frames so far,
chunk + window)``, the window just before it, the reference at ``rest_position``. Positions
therefore stop growing once the window is full, and a stream can run forever. Because RoPE scores
depend only on position differences, this equals a whole-sequence pass in which window keys sit
at their true frame index and the sink is seen from ``P₀`` (`OnlineNet.forward_sequence`, the
training path and the reference for the streaming-parity test).

Audio: a chunk's frames cross-attend to the speak stream within ``speak_window`` frames back and
``lookahead`` frames ahead (the NPC's voice is usually known a little ahead), and to the listen
stream within ``listen_window`` frames back and none ahead (the player's voice is not).

Two networks make one chunk (`OnlineLPM.step`):

* **backbone**, 2 Euler steps at ``t = 1 → 0.5 → 0``; its cache holds the *noisy* history — the
  keys of each chunk's second-step input (``t = 0.5``), which costs no extra pass;
* **refiner**, 1 step: the backbone's output re-noised to ``refine_time``, then denoised; its
  cache holds the *clean* history (one more pass over the final frames at ``t = 0``).

The cache is an explicit value (`OnlineState`): ``step(state, inputs) -> (curves, state)``, every
size derived from the config. Inputs and state are plain tensors with the batch first, so several
sessions step together and the same function exports to ONNX (`models.online_export`).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from models.base_lpm import BaseLPM, BaseLPMConfig, base_small, base_tiny
from models.dit import Attention, DiTBlock, apply_rope, rope_tables, timestep_embedding
from models.encoders import AUDIO_FEATURE_DIM
from models.motion import CURVE_MAX, CURVE_MIN, NUM_CURVES

_NEG = -1e4  # additive mask value (finite, so fully masked rows never appear and ONNX is happy)


@dataclass(frozen=True)
class OnlineLPMConfig:
    base: BaseLPMConfig = field(default_factory=base_small)
    chunk: int = 4  # frames per step (160 ms at 25 fps)
    window: int = 48  # frames of sliding-window history (~2 s); a multiple of ``chunk``
    lookahead: int = 2  # speak-stream frames past the chunk a step may hear (80 ms)
    backbone_times: tuple[float, ...] = (1.0, 0.5)  # flow times of the backbone's steps
    refine_time: float = 0.25  # the refiner re-noises the backbone's output to this time

    def __post_init__(self) -> None:
        if self.chunk < 1 or self.window < self.chunk or self.window % self.chunk:
            raise ValueError("window must be a positive multiple of chunk")
        if not 0 <= self.lookahead <= self.base.dit.speak_window:
            raise ValueError("lookahead must be within the speak window")
        times = self.backbone_times
        if not times or times[0] != 1.0 or any(a <= b for a, b in itertools.pairwise(times)):
            raise ValueError("backbone_times must start at 1 and decrease")
        if not 0.0 < self.refine_time < 1.0:
            raise ValueError("refine_time must be in (0, 1)")

    # Sizes of the cache, derived (never written as literals elsewhere).
    @property
    def sink(self) -> int:
        """Sink slots: the reference token and the first chunk."""
        return 1 + self.chunk

    @property
    def speak_history(self) -> int:
        return self.base.dit.speak_window

    @property
    def listen_history(self) -> int:
        return self.base.dit.listen_window

    @property
    def max_position(self) -> int:
        """``P₀`` once the window is full: the chunk's first position from then on."""
        return self.chunk + self.window

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OnlineLPMConfig:
        data = dict(data)
        data["base"] = BaseLPMConfig.from_dict(data["base"])
        data["backbone_times"] = tuple(data["backbone_times"])
        return cls(**data)


def online_tiny() -> OnlineLPMConfig:
    return OnlineLPMConfig(base=base_tiny(), chunk=4, window=16, lookahead=2)


def online_small() -> OnlineLPMConfig:
    return OnlineLPMConfig(base=base_small(), chunk=4, window=48, lookahead=2)


PRESETS = {"tiny": online_tiny, "small": online_small}


class KVCache(NamedTuple):
    """One network's cache: keys before RoPE and values, ``[depth, B, heads, slots, head_dim]``.

    ``sink_*`` has `OnlineLPMConfig.sink` slots (slot 0 the reference token, then the first
    chunk); ``win_*`` has ``window`` slots, right-aligned: the newest frame is the last slot.
    """

    sink_k: Tensor
    sink_v: Tensor
    win_k: Tensor
    win_v: Tensor


def empty_kv(config: OnlineLPMConfig, batch: int, dtype: torch.dtype = torch.float32) -> KVCache:
    """A cache of zeros with the sizes the config implies (before the reference is written)."""
    dit = config.base.dit
    sink = torch.zeros(dit.depth, batch, dit.heads, config.sink, dit.head_dim, dtype=dtype)
    win = torch.zeros(dit.depth, batch, dit.heads, config.window, dit.head_dim, dtype=dtype)
    return KVCache(sink, sink.clone(), win, win.clone())


class OnlineState(NamedTuple):
    """Everything a stream carries from one chunk to the next (batch first in every tensor).

    ``frames [B]``: frames made so far (int64). ``speak_hist [B, speak_window, 323]`` and
    ``listen_hist [B, listen_window, 323]``: the last frames of audio features each stream's
    cross-attention still reaches back to.
    """

    frames: Tensor
    backbone: KVCache
    refiner: KVCache
    speak_hist: Tensor
    listen_hist: Tensor


STATE_TENSORS = (
    "frames",
    "backbone.sink_k", "backbone.sink_v", "backbone.win_k", "backbone.win_v",
    "refiner.sink_k", "refiner.sink_v", "refiner.win_k", "refiner.win_v",
    "speak_hist", "listen_hist",
)  # fmt: skip


def flatten_state(state: OnlineState) -> list[Tensor]:
    """The state as a flat list in `STATE_TENSORS` order (the ONNX graph's cache inputs)."""
    return [state.frames, *state.backbone, *state.refiner, state.speak_hist, state.listen_hist]


def unflatten_state(tensors: list[Tensor]) -> OnlineState:
    if len(tensors) != len(STATE_TENSORS):
        raise ValueError(f"expected {len(STATE_TENSORS)} state tensors, got {len(tensors)}")
    return OnlineState(
        tensors[0], KVCache(*tensors[1:5]), KVCache(*tensors[5:9]), tensors[9], tensors[10]
    )


class CrossKV(NamedTuple):
    """One layer's cross-attention memory for a chunk: text keys/values ``[B, H, Lt, Dh]`` and
    the audio stream's keys (RoPE applied) and values ``[B, H, Na, Dh]``, each with its additive
    attention bias (0 where a query may attend, `_NEG` where not)."""

    text_k: Tensor
    text_v: Tensor
    text_bias: Tensor
    audio_k: Tensor
    audio_v: Tensor
    audio_bias: Tensor


class ChunkContext(NamedTuple):
    """What every pass over one chunk shares (`OnlineNet.prepare`): each layer's cross-attention
    keys and values (text and its audio stream: they do not depend on ``x_t``), the RoPE tables
    of the chunk's frames (audio-relative) and positions (self-attention) in the
    `rotate`-ready layout ``[B|1, 1, C, Dh]``, the self-attention bias, and the cache's keys
    already rotated ``[depth, B, H, sink + window, Dh]`` with their values."""

    cross: list[CrossKV]
    frame_rope: tuple[Tensor, Tensor]
    q_rope: tuple[Tensor, Tensor]
    self_bias: Tensor
    cache_k: Tensor
    cache_v: Tensor


def _merge(attn: Attention, y: Tensor) -> Tensor:
    return attn.out(y.transpose(1, 2).flatten(2))


def _modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale) + shift


def _split_heads(x: Tensor, heads: int, n: int) -> Tensor:
    """``[B, n, D] → [B, H, n, Dh]``. Sizes come from the config, never from tensor shapes, so an
    exported graph does no shape arithmetic at run time; ``n = −1`` for a length known only
    then (the prompt's tokens, once per chunk), the batch is then read off ``x``."""
    dh = int(x.shape[-1]) // heads
    shape = (-1, n, heads, dh) if n > 0 else (x.shape[0], -1, heads, dh)
    return x.reshape(shape).transpose(1, 2)


def _join_heads(y: Tensor, n: int, dim: int) -> Tensor:
    """``[B, H, n, Dh] → [B, n, D]``."""
    return y.transpose(1, 2).reshape(-1, n, dim)


def _rotation(head_dim: int, device: torch.device) -> Tensor:
    """``R [Dh, Dh]`` with ``(x @ R)`` = the pairs of ``x`` turned by 90°: ``(−x₂ᵢ₊₁, x₂ᵢ)``."""
    r = np.zeros((head_dim, head_dim), dtype=np.float32)
    r[1::2, 0::2] = -np.eye(head_dim // 2, dtype=np.float32)
    r[0::2, 1::2] = np.eye(head_dim // 2, dtype=np.float32)
    return torch.from_numpy(r).to(device)


def rope_full(positions: Tensor, head_dim: int, base: float) -> tuple[Tensor, Tensor]:
    """`models.dit.rope_tables` of ``positions [B|1, N]`` laid out for `rotate`: cos/sin
    ``[B|1, 1, N, Dh]`` with each pair's angle written twice."""
    cos, sin = rope_tables(positions, head_dim, base)
    return (
        torch.stack((cos, cos), dim=-1).flatten(-2)[:, None],
        torch.stack((sin, sin), dim=-1).flatten(-2)[:, None],
    )


def rotate(x: Tensor, cos: Tensor, sin: Tensor, head_dim: int) -> Tensor:
    """`models.dit.apply_rope` on ``x [B, H, N, Dh]`` with `rope_full` tables, as one matmul
    and three element-wise ops (the same arithmetic: each output is one product minus or plus
    another)."""
    return x * cos + (x @ _rotation(head_dim, x.device)) * sin


def _project_kv(
    attn: Attention, context: Tensor, n: int, rope: tuple[Tensor, Tensor] | None = None
) -> tuple[Tensor, Tensor]:
    """Keys (rotated when ``rope`` is given) and values ``[B, H, N, Dh]`` of ``context``."""
    k, v = (_split_heads(a, attn.heads, n) for a in attn.kv(context).chunk(2, dim=-1))
    return (apply_rope(k, *rope) if rope is not None else k), v


def _weights(*layers: nn.Linear, dim: int = 0) -> tuple[Tensor, Tensor]:
    """Several projections of one input as one: weights stacked (``dim = 0``, outputs side by
    side) or joined along the inputs (``dim = 1``, outputs summed, biases added). In an export
    the joined weights are constants: one matrix product where there were several."""
    weight = torch.cat([layer.weight for layer in layers], dim=dim)
    if dim == 0:
        return weight, torch.cat([layer.bias for layer in layers])
    bias: Tensor = layers[0].bias
    for layer in layers[1:]:
        bias = bias + layer.bias
    return weight, bias


def _attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, head_dim: int) -> Tensor:
    """Softmax attention ``[B, H, Nq, Dh]`` with an additive ``bias`` for the mask (the same
    scaling as `torch.nn.functional.scaled_dot_product_attention`)."""
    scores = (q @ k.transpose(-1, -2)) * (head_dim**-0.5) + bias
    return torch.softmax(scores, dim=-1) @ v


def _bias(allowed: Tensor) -> Tensor:
    return torch.where(allowed, 0.0, _NEG)


class OnlineNet(nn.Module):
    """One causal network (backbone or refiner): Base LPM's parameters, run chunk by chunk."""

    def __init__(self, config: OnlineLPMConfig) -> None:
        super().__init__()
        self.config = config
        self.base = BaseLPM(config.base)

    @classmethod
    def from_teacher(cls, config: OnlineLPMConfig, teacher: BaseLPM) -> OnlineNet:
        net = cls(config)
        net.base.load_state_dict(teacher.state_dict())
        return net

    # -- pieces shared by the streaming and the whole-sequence paths --------------------------
    def _blocks(self) -> list[DiTBlock]:
        out = []
        for block in self.base.blocks:
            assert isinstance(block, DiTBlock)
            out.append(block)
        return out

    def _embed(self, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Frame tokens ``[B, N, D]`` and per-token conditioning ``[B, N, D]`` (``t [B, N]``)."""
        b, n, _ = x_t.shape
        zeros = torch.zeros_like(x_t)
        flag = torch.zeros(b, n, 1, dtype=x_t.dtype, device=x_t.device)
        h = self.base.in_proj(torch.cat((x_t, zeros, flag), dim=-1))
        c = self.base.time(timestep_embedding(t.reshape(-1), h.shape[-1])).view(b, n, -1)
        return h, c

    def _embed_chunk(self, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Chunk tokens ``[B, C, D]`` and conditioning ``[B|1, 1, D]`` shared by the chunk's
        frames (``t [B]``, or ``[1]`` for every stream at once: then the conditioning is a
        constant of an exported graph). The clean-context inputs of ``in_proj`` are zero in a
        chunk, so only the ``x_t`` columns of its weight take part."""
        w = self.base.in_proj.weight[:, :NUM_CURVES]
        h = F.linear(x_t, w, self.base.in_proj.bias)
        c = self.base.time(timestep_embedding(t, h.shape[-1]))[:, None]
        return h, c

    def _text(self, text: Tensor, text_mask: Tensor) -> tuple[Tensor, Tensor]:
        b = text.shape[0]
        tokens = torch.cat((self.base.null_text.expand(b, 1, -1), self.base.text_proj(text)), 1)
        ones = torch.ones(b, 1, dtype=torch.bool, device=text.device)
        return tokens, torch.cat((ones, text_mask), dim=1)[:, None, None, :]

    def _head(self, x: Tensor, c: Tensor) -> Tensor:
        shift, scale = self.base.out_ada(c).chunk(2, dim=-1)
        return self.base.out(_modulate(self.base.out_norm(x), shift, scale))

    def reference_kv(self, rest: Tensor) -> tuple[Tensor, Tensor]:
        """Keys (before RoPE) and values of the rest-pose token at every layer,
        ``[depth, B, H, 1, Dh]``; the token attends only to itself, at ``t = 0``."""
        b = rest.shape[0]
        x = self.base.rest_proj(self.base.normalise(rest))[:, None]
        c = self.base.time(timestep_embedding(torch.zeros(b, device=rest.device), x.shape[-1]))
        c = c[:, None]
        ks, vs = [], []
        for block in self._blocks():
            s1, sc1, g1, s2, sc2, g2 = block.ada(c).chunk(6, dim=-1)
            h = _modulate(block.norm1(x), s1, sc1)
            attn = block.self_attn
            k, v = _project_kv(attn, h, -1)
            ks.append(k)
            vs.append(v)
            # Attending to itself alone, the token's attention output is its own value.
            x = x + g1 * _merge(attn, v)
            x = x + g2 * block.ffn(_modulate(block.norm2(x), s2, sc2))
        return torch.stack(ks), torch.stack(vs)

    # -- streaming: one chunk against the cache -------------------------------------------------
    def forward_chunk(
        self,
        x_t: Tensor,
        t: Tensor,
        frames: Tensor,
        cache: KVCache,
        speak: Tensor,
        listen: Tensor,
        text: Tensor,
        text_mask: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Velocity ``[B, C, 61]`` of chunk ``x_t [B, C, 61]`` at times ``t [B]`` (or ``[1]``: one
        for all), and the chunk's own keys (before RoPE) and values ``[depth, B, H, C, Dh]``
        for the cache.

        ``frames [B]``: frames before this chunk. ``speak [B, Hs + C + L, 323]``: the speak
        history, the chunk and its look-ahead; ``listen [B, Hl + C, 323]``. Several passes over
        one chunk should `prepare` once and call `forward_prepared`.
        """
        ctx = self.prepare(frames, cache, speak, listen, text, text_mask)
        return self.forward_prepared(x_t, t, ctx)

    def prepare(
        self,
        frames: Tensor,
        cache: KVCache,
        speak: Tensor,
        listen: Tensor,
        text: Tensor,
        text_mask: Tensor,
    ) -> ChunkContext:
        """Everything about a chunk that does not depend on ``x_t`` or ``t``: condition tokens,
        masks, RoPE tables and the cache's keys rotated into this chunk's layout."""
        cfg = self.config
        dit = cfg.base.dit
        b, chunk = frames.shape[0], cfg.chunk
        dev = speak.device
        tokens, tmask = self._text(text, text_mask)

        # Self-attention layout (positions per batch element): ref, sink, window, chunk.
        n = frames.to(torch.float32)[:, None]
        p0 = torch.clamp(n, max=float(cfg.max_position))
        j = torch.arange(chunk, dtype=torch.float32, device=dev)[None]
        w = torch.arange(cfg.window, dtype=torch.float32, device=dev)[None]
        q_pos = p0 + j
        ref_pos = torch.full((b, 1), cfg.base.rest_position, device=dev)
        sink_pos = j.expand(b, chunk)
        win_pos = p0 - cfg.window + w
        cache_pos = torch.cat((ref_pos, sink_pos, win_pos), dim=1)
        sink_ok = (n >= cfg.chunk).expand(b, chunk)
        win_ok = w >= cfg.window - torch.clamp(n - cfg.chunk, min=0.0, max=float(cfg.window))
        ref_ok = torch.ones(b, 1, dtype=torch.bool, device=dev)
        own_ok = torch.ones(b, chunk, dtype=torch.bool, device=dev)
        allowed = torch.cat((ref_ok, sink_ok, win_ok, own_ok), dim=1)[:, None, None, :]
        q_rope = rope_full(q_pos, dit.head_dim, dit.rope_base)
        cache_rope = rope_tables(cache_pos, dit.head_dim, dit.rope_base)
        # [depth, B, H, N, Dh] against [B, N, Dh/2] tables: broadcasts over depth and heads.
        cache_k = apply_rope(torch.cat((cache.sink_k, cache.win_k), dim=3), *cache_rope)
        cache_v = torch.cat((cache.sink_v, cache.win_v), dim=3)

        # Audio: positions relative to the chunk's first frame; history before frame 0 is absent.
        audio = {}
        for name, feats, hist, ahead, reach in (
            ("speak", speak, cfg.speak_history, cfg.lookahead, dit.speak_window),
            ("listen", listen, cfg.listen_history, 0, dit.listen_window),
        ):
            a_pos = torch.arange(-hist, chunk + ahead, dtype=torch.float32, device=dev)
            rel = a_pos[None, :] - j[0][:, None]  # [C, Na]: audio frame − query frame
            ok = (rel <= ahead) & (rel >= -reach)
            present = (a_pos[None] + n) >= 0  # [B, Na]
            audio[name] = (
                self.base.audio(feats),
                _bias((ok[None] & present[:, None])[:, None]),
                rope_tables(a_pos[None], dit.head_dim, dit.rope_base),
                hist + chunk + ahead,
            )
        # Cross-attention keys and values depend on the conditions alone: once per chunk.
        text_bias = _bias(tmask)
        cross = []
        for block in self._blocks():
            a_tokens, a_bias, a_rope, a_len = audio[block.hears]
            text_k, text_v = _project_kv(block.text_attn, tokens, -1)
            audio_k, audio_v = _project_kv(block.audio_attn, a_tokens, a_len, a_rope)
            cross.append(CrossKV(text_k, text_v, text_bias, audio_k, audio_v, a_bias))
        frame_rope = rope_full(j, dit.head_dim, dit.rope_base)
        return ChunkContext(cross, frame_rope, q_rope, _bias(allowed), cache_k, cache_v)

    def forward_prepared(
        self, x_t: Tensor, t: Tensor, ctx: ChunkContext
    ) -> tuple[Tensor, Tensor, Tensor]:
        """`forward_chunk` with the chunk's context made by `prepare`."""
        vel, k, v = self._run(x_t, t, ctx, keys_only=False)
        assert vel is not None
        return vel, k, v

    def chunk_kv(self, x_t: Tensor, t: Tensor, ctx: ChunkContext) -> tuple[Tensor, Tensor]:
        """The chunk's keys and values alone (what a cache pass keeps): the last block stops
        after its key/value projection and the output head is skipped."""
        _, k, v = self._run(x_t, t, ctx, keys_only=True)
        return k, v

    def _run(
        self, x_t: Tensor, t: Tensor, ctx: ChunkContext, keys_only: bool
    ) -> tuple[Tensor | None, Tensor, Tensor]:
        chunk = self.config.chunk
        if x_t.shape[1] != chunk:
            raise ValueError(f"a chunk is {chunk} frames, got {x_t.shape[1]}")
        h, c = self._embed_chunk(x_t, t)
        dit = self.config.base.dit
        dim, heads, dh = dit.dim, dit.heads, dit.head_dim
        blocks = self._blocks()
        new_k, new_v = [], []
        for li, block in enumerate(blocks):
            s1, sc1, g1, s2, sc2, g2 = block.ada(c).chunk(6, dim=-1)
            hn = _modulate(block.norm1(h), s1, sc1)
            attn = block.self_attn
            qkv = F.linear(hn, *_weights(attn.q, attn.kv))
            q, k, v = (_split_heads(a, heads, chunk) for a in qkv.split(dim, dim=-1))
            new_k.append(k)
            new_v.append(v)
            if keys_only and li == len(blocks) - 1:
                return None, torch.stack(new_k), torch.stack(new_v)
            keys = torch.cat((ctx.cache_k[li], rotate(k, *ctx.q_rope, dh)), dim=2)
            vals = torch.cat((ctx.cache_v[li], v), dim=2)
            y = _attention(rotate(q, *ctx.q_rope, dh), keys, vals, ctx.self_bias, dh)
            h = h + g1 * attn.out(_join_heads(y, chunk, dim))
            # Text and audio cross-attention: one query projection, one output projection.
            f = block.norm_cross(h)
            text, audio, x = block.text_attn, block.audio_attn, ctx.cross[li]
            q_text, q_audio = (
                _split_heads(a, heads, chunk)
                for a in F.linear(f, *_weights(text.q, audio.q)).split(dim, dim=-1)
            )
            y_text = _attention(q_text, x.text_k, x.text_v, x.text_bias, dh)
            q_audio = rotate(q_audio, *ctx.frame_rope, dh)
            y_audio = _attention(q_audio, x.audio_k, x.audio_v, x.audio_bias, dh)
            y = _join_heads(torch.cat((y_text, y_audio), dim=1), chunk, 2 * dim)
            h = h + F.linear(y, *_weights(text.out, audio.out, dim=1))
            h = h + g2 * block.ffn(_modulate(block.norm2(h), s2, sc2))
        return self._head(h, c), torch.stack(new_k), torch.stack(new_v)

    # -- training and parity: a whole sequence in one pass ----------------------------------------
    def forward_sequence(
        self,
        x_hist: Tensor,
        t_hist: Tensor,
        x_cur: Tensor,
        t_cur: Tensor,
        rest: Tensor,
        speak: Tensor,
        listen: Tensor,
        text: Tensor,
        text_mask: Tensor,
    ) -> Tensor:
        """Velocities ``[B, T, 61]`` of every chunk of ``x_cur`` in one pass, as streaming gives
        them when each chunk's cache was filled from ``x_hist`` (the history the stream keeps).

        ``x_hist``, ``x_cur`` ``[B, T, 61]`` with per-frame times ``t_hist``, ``t_cur`` ``[B, T]``
        (constant within a chunk); ``speak [B, T + L, 323]``, ``listen [B, T, 323]``. ``T`` is a
        multiple of ``chunk``. Chunk ``k`` of ``x_cur`` attends to the sink and window keys of
        ``x_hist`` and to its own keys; the history tokens themselves attend the same way to
        ``x_hist`` (that is how the cache was made).
        """
        cfg = self.config
        dit = cfg.base.dit
        total = x_cur.shape[1]
        chunk = cfg.chunk
        if total % chunk:
            raise ValueError(f"sequence length must be a multiple of {chunk}")
        dev = x_cur.device
        h, c = self._embed(torch.cat((x_hist, x_cur), 1), torch.cat((t_hist, t_cur), 1))
        tokens, tmask = self._text(text, text_mask)
        ref_k, ref_v = self.reference_kv(rest)

        f = torch.arange(total, device=dev)
        kq = f // chunk  # chunk of each query frame
        start = kq * chunk
        true_pos = f.to(torch.float32)
        stream_pos = (torch.clamp(start, max=cfg.max_position) + f - start).to(torch.float32)
        q_true = rope_tables(true_pos[None].repeat(1, 2), dit.head_dim, dit.rope_base)
        q_stream = rope_tables(stream_pos[None].repeat(1, 2), dit.head_dim, dit.rope_base)
        sink_pos = torch.cat(
            (torch.tensor([cfg.base.rest_position], device=dev), torch.arange(chunk, device=dev))
        ).to(torch.float32)
        k_sink_rope = rope_tables(sink_pos[None], dit.head_dim, dit.rope_base)
        k_main_rope = q_true  # main keys sit at their true frame index, both streams

        # Main path (window and own chunk). g: key frame; queries: hist rows then cur rows.
        g = f[None, :]
        q = f[:, None]
        n_q = start[:, None]
        window = (g >= torch.clamp(n_q - cfg.window, min=chunk)) & (g < n_q)
        own = (g >= n_q) & (g < n_q + chunk)
        hist_keys_for_hist = window | own
        hist_keys_for_cur = window
        cur_keys_for_cur = own
        nothing = torch.zeros_like(own)
        main_allowed = torch.cat(
            (
                torch.cat((hist_keys_for_hist, nothing), dim=1),
                torch.cat((hist_keys_for_cur, cur_keys_for_cur), dim=1),
            ),
            dim=0,
        )  # [2T, 2T]
        # Sink path: the reference always, the first chunk (history) once it is past.
        sink_frames_ok = (n_q >= chunk).expand(total, chunk)
        sink_allowed = torch.cat(
            (torch.ones(total, 1, dtype=torch.bool, device=dev), sink_frames_ok), 1
        ).repeat(2, 1)  # [2T, 1 + C]
        allowed = torch.cat((sink_allowed, main_allowed), dim=1)[None, None]

        # Audio: each query frame f hears frames within its windows of each stream.
        audio_masks, audio_rope_k, streams = {}, {}, {}
        for name, feats, ahead, reach in (
            ("speak", speak, cfg.lookahead, dit.speak_window),
            ("listen", listen, 0, dit.listen_window),
        ):
            a = torch.arange(feats.shape[1], device=dev)
            rel = a[None, :] - q
            audio_masks[name] = ((rel <= ahead) & (rel >= -reach)).repeat(2, 1)[None, None]
            audio_rope_k[name] = rope_tables(a[None].to(torch.float32), dit.head_dim, dit.rope_base)
            streams[name] = self.base.audio(feats)

        for li, block in enumerate(self._blocks()):
            s1, sc1, g1, s2, sc2, g2 = block.ada(c).chunk(6, dim=-1)
            hn = _modulate(block.norm1(h), s1, sc1)
            attn = block.self_attn
            qh = _split_heads(attn.q(hn), attn.heads, -1)
            k, v = _project_kv(attn, hn, -1)
            sink_k = torch.cat((ref_k[li], k[:, :, :chunk]), dim=2)  # history's first chunk
            sink_v = torch.cat((ref_v[li], v[:, :, :chunk]), dim=2)
            scale = qh.shape[-1] ** -0.5
            s_sink = apply_rope(qh, *q_stream) @ apply_rope(sink_k, *k_sink_rope).transpose(-1, -2)
            s_main = apply_rope(qh, *q_true) @ apply_rope(k, *k_main_rope).transpose(-1, -2)
            scores = torch.cat((s_sink, s_main), dim=-1) * scale
            scores = scores + _bias(allowed).to(scores.dtype)
            y = torch.softmax(scores, dim=-1) @ torch.cat((sink_v, v), dim=2)
            h = h + g1 * _merge(attn, y)
            fn = block.norm_cross(h)
            cross = block.text_attn(fn, tokens, tmask) + block.audio_attn(
                fn, streams[block.hears], audio_masks[block.hears], q_true,
                audio_rope_k[block.hears],
            )  # fmt: skip
            h = h + cross
            h = h + g2 * block.ffn(_modulate(block.norm2(h), s2, sc2))
        return self._head(h, c)[:, total:]


def _roll_in(win: Tensor, new: Tensor) -> Tensor:
    """Append ``new [depth, B, H, C, Dh]`` to the right-aligned window, dropping the oldest."""
    return torch.cat((win[:, :, :, new.shape[3] :], new), dim=3)


def commit_kv(cache: KVCache, frames: Tensor, k: Tensor, v: Tensor) -> KVCache:
    """The cache after a chunk: the first chunk fills the sink, later ones roll the window."""
    first = (frames == 0).view(1, -1, 1, 1, 1)
    sink_k = torch.cat(
        (cache.sink_k[:, :, :, :1], torch.where(first, k, cache.sink_k[:, :, :, 1:])), 3
    )
    sink_v = torch.cat(
        (cache.sink_v[:, :, :, :1], torch.where(first, v, cache.sink_v[:, :, :, 1:])), 3
    )
    win_k = torch.where(first, cache.win_k, _roll_in(cache.win_k, k))
    win_v = torch.where(first, cache.win_v, _roll_in(cache.win_v, v))
    return KVCache(sink_k, sink_v, win_k, win_v)


class OnlineLPM(nn.Module):
    """Backbone + refiner with the streaming step; curves are normalised inside, raw outside."""

    def __init__(self, config: OnlineLPMConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = OnlineNet(config)
        self.refiner = OnlineNet(config)

    @classmethod
    def from_teacher(cls, config: OnlineLPMConfig, teacher: BaseLPM) -> OnlineLPM:
        model = cls(config)
        model.backbone.base.load_state_dict(teacher.state_dict())
        model.refiner.base.load_state_dict(teacher.state_dict())
        return model

    @property
    def curve_mean(self) -> Tensor:
        return self.backbone.base.curve_mean

    @property
    def curve_std(self) -> Tensor:
        return self.backbone.base.curve_std

    def empty_cache(self, net: OnlineNet, rest: Tensor) -> KVCache:
        cfg = self.config
        dit = cfg.base.dit
        b = rest.shape[0]
        ref_k, ref_v = net.reference_kv(rest)
        zeros = rest.new_zeros(dit.depth, b, dit.heads, cfg.chunk, dit.head_dim)
        win = rest.new_zeros(dit.depth, b, dit.heads, cfg.window, dit.head_dim)
        return KVCache(
            torch.cat((ref_k, zeros), dim=3), torch.cat((ref_v, zeros), dim=3), win, win.clone()
        )

    def init_state(self, rest: Tensor) -> OnlineState:
        """A new stream for characters with rest poses ``rest [B, 61]`` (raw curves)."""
        cfg = self.config
        b = rest.shape[0]
        return OnlineState(
            frames=torch.zeros(b, dtype=torch.int64, device=rest.device),
            backbone=self.empty_cache(self.backbone, rest),
            refiner=self.empty_cache(self.refiner, rest),
            speak_hist=rest.new_zeros(b, cfg.speak_history, AUDIO_FEATURE_DIM),
            listen_hist=rest.new_zeros(b, cfg.listen_history, AUDIO_FEATURE_DIM),
        )

    def step(
        self,
        state: OnlineState,
        speak: Tensor,
        listen: Tensor,
        text: Tensor,
        text_mask: Tensor,
        noise: Tensor,
        refine_noise: Tensor,
    ) -> tuple[Tensor, OnlineState]:
        """One chunk for every stream in the batch.

        ``speak [B, C + L, 323]`` (the chunk's frames and the look-ahead), ``listen
        [B, C, 323]``, ``text [B, L, 384]`` + ``text_mask [B, L]``, ``noise`` and
        ``refine_noise`` ``[B, C, 61]``. Returns curves ``[B, C, 61]`` (raw units, clipped) and
        the next state; ``state`` is not modified.
        """
        cfg = self.config
        sp = torch.cat((state.speak_hist, speak), dim=1)
        li = torch.cat((state.listen_hist, listen), dim=1)

        # Backbone: Euler steps; the last step's input is the noisy history it caches.
        x = noise
        times = [*cfg.backbone_times, 0.0]
        k = v = None
        ctx = self.backbone.prepare(state.frames, state.backbone, sp, li, text, text_mask)
        for i in range(len(times) - 1):
            # One time for every stream: the conditioning becomes a constant of an export.
            t = torch.full((1,), times[i], device=noise.device)
            vel, k, v = self.backbone.forward_prepared(x, t, ctx)
            x = x + (times[i + 1] - times[i]) * vel
        assert k is not None and v is not None
        backbone = commit_kv(state.backbone, state.frames, k, v)

        # Refiner: re-noise, one step, then cache the clean result.
        tr = cfg.refine_time
        x_r = (1 - tr) * x + tr * refine_noise
        ctx = self.refiner.prepare(state.frames, state.refiner, sp, li, text, text_mask)
        vel, _, _ = self.refiner.forward_prepared(
            x_r, torch.full((1,), tr, device=noise.device), ctx
        )
        clean = x_r - tr * vel
        k, v = self.refiner.chunk_kv(clean, torch.zeros(1, device=noise.device), ctx)
        refiner = commit_kv(state.refiner, state.frames, k, v)

        curves = clean * self.curve_std + self.curve_mean
        lo = torch.tensor(CURVE_MIN, dtype=curves.dtype, device=curves.device)
        hi = torch.tensor(CURVE_MAX, dtype=curves.dtype, device=curves.device)
        curves = torch.minimum(torch.maximum(curves, lo), hi)
        chunk = cfg.chunk
        new_state = OnlineState(
            frames=state.frames + chunk,
            backbone=backbone,
            refiner=refiner,
            speak_hist=sp[
                :, sp.shape[1] - cfg.lookahead - cfg.speak_history : sp.shape[1] - cfg.lookahead
            ],
            listen_hist=li[:, li.shape[1] - cfg.listen_history :],
        )
        return curves, new_state


def state_nbytes(state: OnlineState) -> int:
    return sum(t.numel() * t.element_size() for t in flatten_state(state))


def batch_states(states: list[OnlineState]) -> OnlineState:
    """Several streams' states as one batch (the KV caches join on their batch axis, dim 1)."""
    parts = [flatten_state(s) for s in states]
    joined = []
    for i, name in enumerate(STATE_TENSORS):
        dim = 1 if "." in name else 0
        joined.append(torch.cat([p[i] for p in parts], dim=dim))
    return unflatten_state(joined)


def split_state(state: OnlineState) -> list[OnlineState]:
    flat = flatten_state(state)
    b = state.frames.shape[0]
    out = []
    for i in range(b):
        picked = []
        for name, t in zip(STATE_TENSORS, flat, strict=True):
            picked.append(t[:, i : i + 1] if "." in name else t[i : i + 1])
        out.append(unflatten_state(picked))
    return out


def save_online(model: OnlineLPM, stem: Path, meta: dict[str, Any]) -> Path:
    """``stem.safetensors`` (float16 weights, float32 curve statistics) and ``stem.json``
    (``config`` plus whatever ``meta`` carries: preset, teacher, corpus hash, metrics)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.float() if k.endswith(("curve_mean", "curve_std")) else v.half()).contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(tensors, str(stem.with_suffix(".safetensors")))
    doc = {"model": "online_lpm", "config": model.config.to_dict(), **meta}
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    return stem.with_suffix(".safetensors")


def load_online(path: Path) -> OnlineLPM:
    """An Online LPM from ``*.safetensors`` + its ``*.json`` (float32 weights, eval mode)."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        raise FileNotFoundError(f"need both {path.name} and {meta_path.name} in {path.parent}")
    meta = json.loads(meta_path.read_text())
    if meta.get("model") != "online_lpm":
        raise ValueError(f"{meta_path} does not describe an Online LPM checkpoint")
    model = OnlineLPM(OnlineLPMConfig.from_dict(meta["config"]))
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    return model.eval().requires_grad_(False)


@torch.no_grad()
def rollout(
    model: OnlineLPM,
    speak: Tensor,
    listen: Tensor,
    text: Tensor,
    text_mask: Tensor,
    rest: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Stream whole clips through `OnlineLPM.step`: curves ``[B, T, 61]`` (raw units) for
    features ``speak``/``listen`` ``[B, T, 323]`` (the look-ahead past the end is silence-free
    zeros, the way a stream's last chunk sees it). ``T`` need not be a multiple of the chunk."""
    cfg = model.config
    b, total, dim = speak.shape
    chunks = -(-total // cfg.chunk)
    padded = chunks * cfg.chunk + cfg.lookahead
    sp = speak.new_zeros(b, padded, dim)
    sp[:, :total] = speak
    li = listen.new_zeros(b, padded, dim)
    li[:, :total] = listen
    state = model.init_state(rest)
    out = []
    c = cfg.chunk
    for k in range(chunks):
        a = k * c
        noise = torch.randn(b, c, rest.shape[1], generator=generator)
        refine = torch.randn(b, c, rest.shape[1], generator=generator)
        curves, state = model.step(
            state, sp[:, a : a + c + cfg.lookahead], li[:, a : a + c], text, text_mask, noise,
            refine,
        )  # fmt: skip
        out.append(curves)
    return torch.cat(out, dim=1)[:, :total]
