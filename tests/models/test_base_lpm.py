"""Base LPM: shapes, stream routing, windows, CFG, determinism, and that training learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.base_lpm import BaseLPM, SamplingOptions, base_tiny, generate, sample_window
from models.dit import DiTBlock, DiTConfig, rope_tables, window_mask
from models.encoders import AUDIO_FEATURE_DIM, TextEncoder, audio_frame_features
from models.flow import guided, noisy, time_grid, velocity_target, x0_from_velocity
from models.motion import NUM_CURVES, idx
from models.train_base import ClipSet, flow_loss, make_batch

B, T, L = 2, 32, 3


def _inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "x_t": torch.randn(B, T, NUM_CURVES, generator=g),
        "t": torch.rand(B, generator=g),
        "speak": torch.randn(B, T, AUDIO_FEATURE_DIM, generator=g),
        "listen": torch.randn(B, T, AUDIO_FEATURE_DIM, generator=g),
        "text": torch.randn(B, L, 384, generator=g),
        "text_mask": torch.ones(B, L, dtype=torch.bool),
        "rest": torch.zeros(B, NUM_CURVES),
    }


def _model(seed: int = 0) -> BaseLPM:
    torch.manual_seed(seed)
    model = BaseLPM(base_tiny())
    # AdaLN-Zero starts every gate and the output at zero; give them weights so every path
    # carries signal in these tests.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 1 and torch.count_nonzero(p) == 0:
                p.normal_(0, 0.05)
    return model.eval()


def test_shapes_and_dtypes() -> None:
    model = _model()
    v = model(**_inputs())
    assert v.shape == (B, T, NUM_CURVES) and v.dtype == torch.float32
    assert torch.isfinite(v).all()


def _perturb_after(inputs: dict[str, torch.Tensor], name: str, start: int) -> dict:
    out = dict(inputs)
    noise = torch.randn_like(inputs[name][:, start:]) * 3
    out[name] = torch.cat((inputs[name][:, :start], inputs[name][:, start:] + noise), dim=1)
    return out


@torch.no_grad()
def test_each_stream_reaches_the_output_only_through_its_own_layers() -> None:
    model = _model()
    base = _inputs()
    for silenced, stream in (("listen", "listen"), ("speak", "speak")):
        m = _model()
        for block in m.blocks:
            assert isinstance(block, DiTBlock)
            if block.hears == silenced:
                block.audio_attn.out.weight.zero_()
                block.audio_attn.out.bias.zero_()
        changed = _perturb_after(base, stream, 0)
        assert torch.equal(m(**base), m(**changed)), f"{stream} leaked past its layers"
    # And with every layer intact, each stream does change the output.
    for stream in ("speak", "listen"):
        assert not torch.allclose(model(**base), model(**_perturb_after(base, stream, 0)))


@torch.no_grad()
def test_speak_layers_see_only_their_window() -> None:
    cfg = DiTConfig(dim=32, depth=2, heads=2, speak_window=3, listen_window=10)
    block = DiTBlock(cfg, layer=0)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.1)
    x = torch.randn(1, T, 32)
    c = torch.randn(1, 32)
    audio = torch.randn(1, T, 32)
    pos = torch.arange(T, dtype=torch.float32)
    rope = rope_tables(pos[None], cfg.head_dim, cfg.rope_base)
    text = torch.randn(1, 2, 32)
    tmask = torch.ones(1, 1, 1, 2, dtype=torch.bool)
    mask = window_mask(pos, pos, cfg.speak_window)

    def run(a: torch.Tensor) -> torch.Tensor:
        return block(x, c, T, rope, None, text, tmask, a, mask, rope, rope)

    out = run(audio)
    moved = audio.clone()
    moved[:, 20] += 5.0  # audio at frame 20 only
    diff = (run(moved) - out).abs().amax(dim=-1)[0]
    inside = [i for i in range(T) if abs(i - 20) <= cfg.speak_window]
    assert (diff[inside] > 1e-4).all()
    assert torch.count_nonzero(diff[[i for i in range(T) if i not in inside]]) == 0


def test_flow_maths() -> None:
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(3, 5, 61, generator=g), torch.randn(3, 5, 61, generator=g)
    t = torch.tensor([0.0, 0.3, 1.0])
    xt = noisy(x0, eps, t)
    assert torch.allclose(xt[0], x0[0]) and torch.allclose(xt[2], eps[2])
    assert torch.allclose(x0_from_velocity(xt, velocity_target(x0, eps), t), x0, atol=1e-6)
    grid = time_grid(4, shift=3.0)
    assert grid[0] == 1.0 and grid[-1] == 0.0 and (grid.diff() < 0).all()
    u, a, f = (torch.randn(4, generator=g) for _ in range(3))
    assert torch.allclose(guided(u, a, f, 1.0, 1.0), f, atol=1e-6)


@torch.no_grad()
def test_cfg_at_scale_one_is_the_conditional_prediction() -> None:
    model = _model()
    inp = _inputs()
    # The three CFG branches batched together, combined at scale 1, equal one conditional call.
    rep = {k: v.repeat(3, *([1] * (v.dim() - 1))) for k, v in inp.items()}
    ones = torch.ones(B, dtype=torch.bool)
    v = model(
        **rep,
        audio_keep=torch.cat((~ones, ones, ones)),
        text_keep=torch.cat((~ones, ~ones, ones)),
    )
    u, a, f = v.chunk(3)
    assert torch.allclose(guided(u, a, f, 1.0, 1.0), model(**inp), atol=1e-5)
    # Dropping the text must matter (or the text path is dead).
    assert not torch.allclose(a, f, atol=1e-4)


@torch.no_grad()
def test_sampling_is_deterministic_under_a_seed_and_keeps_context() -> None:
    model = _model()
    rng = np.random.default_rng(0)
    speak = rng.standard_normal((70, AUDIO_FEATURE_DIM)).astype(np.float32)
    listen = np.zeros_like(speak)
    text = np.zeros((0, 384), np.float32)
    rest = np.zeros(NUM_CURVES, np.float32)
    opts = SamplingOptions(steps=3, overlap=6)
    a = generate(model, speak, listen, text, rest, opts, seed=7)
    b = generate(model, speak, listen, text, rest, opts, seed=7)
    c = generate(model, speak, listen, text, rest, opts, seed=8)
    assert a.shape == (70, NUM_CURVES) and np.array_equal(a, b) and not np.allclose(a, c)

    inp = _inputs()
    context = torch.randn(B, T, NUM_CURVES)
    cmask = torch.zeros(B, T, dtype=torch.bool)
    cmask[:, :5] = True
    out = sample_window(
        model, inp["speak"], inp["listen"], inp["text"], inp["text_mask"], inp["rest"],
        torch.randn(B, T, NUM_CURVES), opts, context, cmask,
    )  # fmt: skip
    assert torch.equal(out[:, :5], context[:, :5])


def _synthetic_clips(n: int, frames: int, seed: int) -> ClipSet:
    """Tone bursts as speech; jawOpen follows them exactly (the mapping the model must learn)."""
    rng = np.random.default_rng(seed)
    clips = ClipSet()
    jaw = idx("jawOpen")
    for i in range(n):
        on = np.repeat(rng.random(frames // 5) < 0.5, 5)[:frames]
        tone = np.sin(2 * np.pi * 220 * np.arange(frames * 640) / 16000).astype(np.float32)
        audio = tone * np.repeat(on, 640) * 0.3
        motion = np.zeros((frames, NUM_CURVES), np.float32)
        motion[:, jaw] = on * 0.6
        clips.speak.append(audio_frame_features(audio))
        clips.listen.append(audio_frame_features(np.zeros_like(audio)))
        clips.motion.append(motion)
        clips.caption.append("")
        clips.ids.append(f"clip{i}")
    return clips


def test_tiny_training_lowers_the_loss() -> None:
    torch.manual_seed(0)
    model = BaseLPM(base_tiny())
    clips = _synthetic_clips(8, 60, seed=1)
    text = TextEncoder()  # empty captions: the encoder is never loaded
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(0)
    fixed = make_batch(clips, model, text, np.random.default_rng(99), 16)
    t_fixed = torch.full((16,), 0.5)
    n_fixed = torch.randn(fixed.x0.shape, generator=g)

    def held_out() -> float:
        with torch.no_grad():
            return float(flow_loss(model, fixed, t_fixed, n_fixed))

    before = held_out()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(150):
        batch = make_batch(clips, model, text, rng, 16)
        loss = flow_loss(model, batch, torch.rand(16, generator=g), torch.randn(batch.x0.shape))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = held_out()
    assert after < 0.6 * before, (before, after)


@pytest.mark.parametrize("bad", [dict(window=4), dict(max_context=40), dict(text_drop=1.5)])
def test_config_validation(bad: dict) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError):
        replace(base_tiny(), **bad)


def test_text_encoder_loads_offline_and_caches() -> None:
    enc = TextEncoder()
    a = enc.encode("smiles warmly")
    assert a.ndim == 2 and a.shape[1] == 384 and a.shape[0] >= 3  # [CLS] tokens [SEP]
    assert enc.encode("smiles warmly") is a  # cached
    assert enc.encode("").shape == (0, 384)
    b = enc.encode("frowns, annoyed")
    assert np.isfinite(a).all() and not np.allclose(a.mean(0), b.mean(0), atol=1e-3)
    tokens, mask = enc.encode_batch(["smiles warmly", None])
    assert tokens.shape[0] == 2 and mask[0].sum() == a.shape[0] and not mask[1].any()
