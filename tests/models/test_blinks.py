"""The blink layer: a human rate, whole blinks, streaming-invariant, and the Online generator's
faces blink with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.blinks import EYE_BLINK, BlinkConfig, BlinkLayer
from models.generator import CharacterConditioning, ChunkInputs
from models.online_generator import load_online_generator

torch.set_num_threads(1)

FPS = 25.0


def _blink_starts(lid: np.ndarray) -> np.ndarray:
    closed = lid > 0.5
    return np.flatnonzero(closed[1:] & ~closed[:-1]) + 1


def test_ten_minutes_blink_at_a_human_rate_with_irregular_intervals() -> None:
    layer = BlinkLayer(FPS)
    lid, _ = layer.step(layer.init_state(seed=1), int(600 * FPS))
    starts = _blink_starts(lid)
    rate = len(starts) / 10.0
    assert 13.0 <= rate <= 20.0, rate  # configured 16 per minute
    assert lid.min() == 0.0 and lid.max() == pytest.approx(1.0)  # fully open, fully closed
    gaps = np.diff(starts) / FPS
    assert gaps.max() <= 8.0  # never a long stare
    assert gaps.std() / gaps.mean() > 0.3  # not metronomic
    # Each blink is brief: closed (> 0.5) for at most 0.3 s.
    closed = np.concatenate([[0], (lid > 0.5).astype(int), [0]])
    runs = np.flatnonzero(np.diff(closed) == -1) - np.flatnonzero(np.diff(closed) == 1)
    assert runs.max() / FPS <= 0.3


def test_stepping_in_any_chunks_gives_the_same_lids_and_leaves_the_state_alone() -> None:
    layer = BlinkLayer(FPS, BlinkConfig(rate_per_min=40.0))
    state = layer.init_state(seed=7)
    whole, _ = layer.step(state, 400)
    again, _ = layer.step(state, 400)  # the state was not changed by the first call
    np.testing.assert_array_equal(whole, again)
    parts, s = [], state
    for n in (1, 3, 4, 8, 4, 380):
        lid, s = layer.step(s, n)
        parts.append(lid)
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    other, _ = layer.step(layer.init_state(seed=8), 400)
    assert not np.array_equal(other, whole)  # sessions blink on their own


def test_apply_keeps_the_generators_own_lids_where_they_close_more() -> None:
    curves = np.zeros((3, 61), np.float32)
    curves[2, EYE_BLINK[0]] = 0.9
    out = BlinkLayer.apply(curves, np.array([0.0, 0.6, 0.2], np.float32))
    assert out[:, EYE_BLINK[0]].tolist() == pytest.approx([0.0, 0.6, 0.9])
    assert out[:, EYE_BLINK[1]].tolist() == pytest.approx([0.0, 0.6, 0.2])
    assert not curves[1].any()  # a copy


def test_the_shipped_online_model_blinks_only_with_the_layer() -> None:
    with_blinks = load_online_generator(backend="torch")
    without = load_online_generator(backend="torch")
    without.blink_layer = None
    rest = CharacterConditioning()
    states = [g.init_state(rest, seed=2) for g in (with_blinks, without)]
    lids: list[list[np.ndarray]] = [[], []]
    for _ in range(50):  # 8 s of silence
        chunk = ChunkInputs.silence(with_blinks.chunk_frames)
        for i, g in enumerate((with_blinks, without)):
            curves, states[i] = g.step(states[i], chunk)
            lids[i].append(curves[:, EYE_BLINK[0]])
    blinked, plain = np.concatenate(lids[0]), np.concatenate(lids[1])
    assert len(_blink_starts(plain)) == 0  # the distilled model stares
    assert len(_blink_starts(blinked)) >= 1 and blinked.max() > 0.95
    assert np.all(blinked >= plain - 1e-6)  # the model's own lids are kept underneath
