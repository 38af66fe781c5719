"""Online LPM: the KV-cache stream equals one causal pass, caches stay bounded, batching is exact,
and the four-stage distillation runs, resumes and ships a loadable checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from models.corpus.builder import build_corpus
from models.distill_online import (
    DistillConfig,
    Sequences,
    backbone_passes,
    backbone_rollout,
    distill_online,
    refiner_rollout,
)
from models.encoders import AUDIO_FEATURE_DIM
from models.motion import CURVE_MAX, CURVE_MIN
from models.online_lpm import (
    OnlineLPM,
    OnlineLPMConfig,
    OnlineNet,
    batch_states,
    commit_kv,
    empty_kv,
    flatten_state,
    load_online,
    online_tiny,
    rollout,
    split_state,
    state_nbytes,
)
from models.train_base import TrainConfig, train_base

torch.set_num_threads(1)


def _randomised(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every zero-initialised layer (AdaLN gates, output head) random weights, so that
    every path of the network carries signal and a parity test can fail."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.abs().sum() == 0 or name.endswith(("ada.1.weight", "out.weight")):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def _sequences(cfg: OnlineLPMConfig, batch: int, frames: int, seed: int) -> Sequences:
    gen = torch.Generator().manual_seed(seed)
    text_mask = torch.ones(batch, 5, dtype=torch.bool)
    text_mask[0, 3:] = False
    return Sequences(
        x0=torch.randn(batch, frames, 61, generator=gen),
        speak=torch.randn(batch, frames + cfg.lookahead, AUDIO_FEATURE_DIM, generator=gen),
        listen=torch.randn(batch, frames, AUDIO_FEATURE_DIM, generator=gen),
        text=torch.randn(batch, 5, 384, generator=gen),
        text_mask=text_mask,
        rest=0.1 * torch.randn(batch, 61, generator=gen),
    )


@pytest.fixture(scope="module")
def model() -> OnlineLPM:
    torch.manual_seed(0)
    m = OnlineLPM(online_tiny())
    _randomised(m)
    return m.eval()


def test_200_streamed_chunks_equal_one_causal_pass(model: OnlineLPM) -> None:
    """Network level: chunk by chunk against the KV cache (sink, sliding window, re-rotated
    keys) gives the velocities of one block-causal pass over all 800 frames."""
    cfg = model.config
    net = model.backbone
    chunks = 200
    frames = chunks * cfg.chunk
    seq = _sequences(cfg, 2, frames, seed=1)
    gen = torch.Generator().manual_seed(2)
    x_hist = torch.randn(2, frames, 61, generator=gen)
    x_cur = torch.randn(2, frames, 61, generator=gen)
    t_hist = torch.full((2, frames), 0.5)
    t_cur = torch.rand(2, chunks, generator=gen).repeat_interleave(cfg.chunk, dim=1)
    with torch.no_grad():
        whole = net.forward_sequence(
            x_hist, t_hist, x_cur, t_cur, seq.rest, seq.speak, seq.listen, seq.text,
            seq.text_mask,
        )  # fmt: skip
        state = model.init_state(seq.rest)
        cache, frames_done = state.backbone, state.frames
        sp_hist, li_hist = state.speak_hist, state.listen_hist
        streamed = []
        for k in range(chunks):
            a = k * cfg.chunk
            sp = torch.cat((sp_hist, seq.speak[:, a : a + cfg.chunk + cfg.lookahead]), 1)
            li = torch.cat((li_hist, seq.listen[:, a : a + cfg.chunk]), 1)
            v, _, _ = net.forward_chunk(
                x_cur[:, a : a + cfg.chunk], t_cur[:, a], frames_done, cache, sp, li, seq.text,
                seq.text_mask,
            )  # fmt: skip
            streamed.append(v)
            _, kk, vv = net.forward_chunk(
                x_hist[:, a : a + cfg.chunk], t_hist[:, a], frames_done, cache, sp, li,
                seq.text, seq.text_mask,
            )  # fmt: skip
            cache = commit_kv(cache, frames_done, kk, vv)
            frames_done = frames_done + cfg.chunk
            sp_hist = sp[:, -cfg.lookahead - cfg.speak_history : -cfg.lookahead]
            li_hist = li[:, -cfg.listen_history :]
    stream = torch.cat(streamed, dim=1)
    assert whole.abs().mean() > 0.1  # a real signal, not zeros on both sides
    assert (stream - whole).abs().max() < 1e-4
    # Positions stay bounded: the window filled long ago and the cache did not grow.
    assert cache.win_k.shape[3] == cfg.window and cache.sink_k.shape[3] == cfg.sink


def test_generation_streamed_equals_the_whole_sequence_training_pass(model: OnlineLPM) -> None:
    """What distillation trains on (one pass per backbone step with the rollout's history as the
    cache, then the refiner likewise) reproduces what the stream generated, chunk for chunk."""
    cfg = model.config
    frames = 30 * cfg.chunk
    seq = _sequences(cfg, 2, frames, seed=3)
    gen = torch.Generator().manual_seed(4)
    noise = torch.randn(2, frames, 61, generator=gen)
    refine_noise = torch.randn(2, frames, 61, generator=gen)
    with torch.no_grad():
        hist, x0 = backbone_rollout(model.backbone, model, seq, noise)
        assert (backbone_passes(model.backbone, cfg, seq, noise, hist) - x0).abs().max() < 1e-4
        tr = cfg.refine_time
        x_r = (1 - tr) * x0 + tr * refine_noise
        clean = refiner_rollout(model.refiner, model, seq, x_r)
        v = model.refiner.forward_sequence(
            clean, torch.zeros(2, frames), x_r, torch.full((2, frames), tr), seq.rest,
            seq.speak, seq.listen, seq.text, seq.text_mask,
        )  # fmt: skip
        assert (x_r - tr * v - clean).abs().max() < 1e-4
        # And OnlineLPM.step, fed the same noise, makes exactly those curves.
        state = model.init_state(seq.rest)
        out = []
        for a in range(0, frames, cfg.chunk):
            s = slice(a, a + cfg.chunk)
            curves, state = model.step(
                state, seq.speak[:, a : a + cfg.chunk + cfg.lookahead], seq.listen[:, s],
                seq.text, seq.text_mask, noise[:, s], refine_noise[:, s],
            )  # fmt: skip
            out.append(curves)
    expected = clean * model.curve_std + model.curve_mean
    lo, hi = torch.tensor(CURVE_MIN), torch.tensor(CURVE_MAX)
    expected = torch.minimum(torch.maximum(expected, lo), hi)
    assert (torch.cat(out, 1) - expected).abs().max() < 1e-4


def test_batched_sessions_step_exactly_like_each_alone(model: OnlineLPM) -> None:
    """Three sessions at different points of their streams (one still filling its window)."""
    cfg = model.config
    seqs = [_sequences(cfg, 1, 40 * cfg.chunk, seed=10 + i) for i in range(3)]
    states = [model.init_state(s.rest) for s in seqs]
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for i, (s, steps) in enumerate(zip(seqs, (2, 9, 30), strict=True)):
            for k in range(steps):
                a = k * cfg.chunk
                _, states[i] = model.step(
                    states[i], s.speak[:, a : a + cfg.chunk + cfg.lookahead],
                    s.listen[:, a : a + cfg.chunk], s.text, s.text_mask,
                    torch.randn(1, cfg.chunk, 61, generator=gen),
                    torch.randn(1, cfg.chunk, 61, generator=gen),
                )  # fmt: skip
        noise = torch.randn(3, cfg.chunk, 61, generator=gen)
        refine = torch.randn(3, cfg.chunk, 61, generator=gen)
        a = 30 * cfg.chunk
        sp = torch.cat([s.speak[:, a : a + cfg.chunk + cfg.lookahead] for s in seqs])
        li = torch.cat([s.listen[:, a : a + cfg.chunk] for s in seqs])
        text = torch.cat([s.text for s in seqs])
        mask = torch.cat([s.text_mask for s in seqs])
        together, joint = model.step(batch_states(states), sp, li, text, mask, noise, refine)
        for i in range(3):
            alone, own = model.step(
                states[i], sp[i : i + 1], li[i : i + 1], text[i : i + 1], mask[i : i + 1],
                noise[i : i + 1], refine[i : i + 1],
            )  # fmt: skip
            assert (together[i : i + 1] - alone).abs().max() < 1e-5
            for x, y in zip(flatten_state(split_state(joint)[i]), flatten_state(own), strict=True):
                assert x.shape == y.shape and (x.float() - y.float()).abs().max() < 1e-5


def test_state_size_is_constant_and_long_streams_stay_finite(model: OnlineLPM) -> None:
    """Sizes come from the config; after the window fills nothing grows, and 2 minutes of
    chunks stay finite with steady statistics (the hour-long run is in test_online_export)."""
    cfg = model.config
    gen = torch.Generator().manual_seed(6)
    state = model.init_state(torch.zeros(1, 61))
    size0 = state_nbytes(state)
    per_minute = int(60 * 25 / cfg.chunk)
    stats = []
    with torch.inference_mode():
        for _minute in range(2):
            curves_min = []
            for _ in range(per_minute):
                curves, state = model.step(
                    state, torch.randn(1, cfg.chunk + cfg.lookahead, AUDIO_FEATURE_DIM,
                                       generator=gen),
                    torch.randn(1, cfg.chunk, AUDIO_FEATURE_DIM, generator=gen),
                    torch.zeros(1, 1, 384), torch.zeros(1, 1, dtype=torch.bool),
                    torch.randn(1, cfg.chunk, 61, generator=gen),
                    torch.randn(1, cfg.chunk, 61, generator=gen),
                )  # fmt: skip
                assert state_nbytes(state) == size0
                curves_min.append(curves)
            block = torch.cat(curves_min, 1)
            assert torch.isfinite(block).all()
            stats.append((block.mean(1), block.std(1)))
    assert int(state.frames) == 2 * per_minute * cfg.chunk
    assert (stats[0][0] - stats[1][0]).abs().max() < 0.1
    assert (stats[0][1] - stats[1][1]).abs().max() < 0.1


def test_config_sizes_and_validation() -> None:
    cfg = online_tiny()
    kv = empty_kv(cfg, batch=3)
    assert kv.sink_k.shape == (cfg.base.dit.depth, 3, cfg.base.dit.heads, cfg.sink,
                               cfg.base.dit.head_dim)  # fmt: skip
    assert kv.win_k.shape[3] == cfg.window
    with pytest.raises(ValueError, match="multiple of chunk"):
        OnlineLPMConfig(base=cfg.base, chunk=4, window=10)
    with pytest.raises(ValueError, match="lookahead"):
        OnlineLPMConfig(base=cfg.base, lookahead=cfg.base.dit.speak_window + 1)
    with pytest.raises(ValueError, match="a chunk is"):
        net = OnlineNet(cfg)
        state = OnlineLPM(cfg).init_state(torch.zeros(1, 61))
        net.forward_chunk(
            torch.zeros(1, cfg.chunk + 1, 61), torch.ones(1), state.frames, state.backbone,
            torch.zeros(1, cfg.speak_history + cfg.chunk + cfg.lookahead, AUDIO_FEATURE_DIM),
            torch.zeros(1, cfg.listen_history + cfg.chunk, AUDIO_FEATURE_DIM),
            torch.zeros(1, 1, 384), torch.ones(1, 1, dtype=torch.bool),
        )  # fmt: skip


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("online")
    corpus = root / "corpus"
    build_corpus(corpus, hours=0.04, seed=5, workers=2, shard_size=8)
    cfg = TrainConfig(preset="tiny", steps=30, batch=8, eval_every=30, checkpoint_every=30)
    train_base(corpus, root / "teacher", cfg)
    return corpus, root / "teacher" / "base_tiny.safetensors"


def test_four_stage_distillation_resumes_bit_identically_and_ships(
    teacher: tuple[Path, Path], tmp_path: Path
) -> None:
    corpus, ckpt = teacher
    cfg = DistillConfig(preset="tiny", batch=4, steps=(3, 2, 2, 2), checkpoint_every=1,
                        eval_windows=4)  # fmt: skip
    straight = distill_online(corpus, ckpt, tmp_path / "straight", cfg)
    assert straight is not None
    # Stopped inside stage 3, then resumed: the same weights as the uninterrupted run.
    assert distill_online(corpus, ckpt, tmp_path / "resumed", cfg, stop_at=("onpolicy", 1)) is None
    assert (tmp_path / "resumed" / "stage-2.done.pt").exists()
    resumed = distill_online(corpus, ckpt, tmp_path / "resumed", cfg)
    assert resumed is not None
    a = load_online(straight.checkpoint).state_dict()
    b = load_online(resumed.checkpoint).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Every stage logged its evaluation.
    evaluated = [h["stage"] for h in straight.history if "r_jaw_truth" in h]
    assert evaluated == ["teacher-init", "ode", "offpolicy", "onpolicy", "refine"]
    assert all(math.isfinite(h["mse_to_teacher"]) for h in straight.history if "spread" in h)
    # The shipped checkpoint streams.
    model = load_online(straight.checkpoint)
    curves = rollout(
        model, torch.zeros(1, 23, AUDIO_FEATURE_DIM), torch.zeros(1, 23, AUDIO_FEATURE_DIM),
        torch.zeros(1, 1, 384), torch.zeros(1, 1, dtype=torch.bool), torch.zeros(1, 61),
    )  # fmt: skip
    assert curves.shape == (1, 23, 61) and torch.isfinite(curves).all()
    # A different config in the same directory is refused, not silently mixed.
    other = DistillConfig(preset="tiny", batch=2, steps=(3, 2, 2, 2), eval_windows=4)
    with pytest.raises(ValueError, match="different run"):
        distill_online(corpus, ckpt, tmp_path / "straight", other)
