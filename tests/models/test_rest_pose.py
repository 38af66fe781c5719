"""A character's rest pose beyond what the learned models were trained on (a portrait with a broad
smile or an open mouth) is still where idle and silence come back to."""

from __future__ import annotations

import numpy as np
import torch

from models.base_lpm import PERSONA_RESTS, split_rest
from models.generator import CharacterConditioning, ChunkInputs
from models.motion import NUM_CURVES, idx
from models.online_generator import load_online_generator

torch.set_num_threads(1)


def _wide_rest() -> np.ndarray:
    rest = np.zeros(NUM_CURVES, np.float32)
    rest[idx("mouthSmileLeft")] = rest[idx("mouthSmileRight")] = 0.9  # trained up to 0.35
    rest[idx("jawOpen")] = 0.3  # never part of a trained rest pose
    rest[idx("browInnerUp")] = 0.1  # inside the trained range
    return rest


def test_split_rest_keeps_the_trained_range_and_offsets_the_remainder() -> None:
    rest = _wide_rest()
    carried, offset = split_rest(rest)
    np.testing.assert_allclose(carried + offset, rest, atol=1e-7)
    for names, lo, hi in PERSONA_RESTS:
        for name in names:
            assert lo <= carried[idx(name)] <= hi
    assert carried[idx("mouthSmileLeft")] == np.float32(0.35)
    assert carried[idx("jawOpen")] == 0.0 and offset[idx("jawOpen")] == np.float32(0.3)
    assert offset[idx("browInnerUp")] == 0.0
    # A rest pose the models were trained on passes through untouched.
    inside = np.zeros(NUM_CURVES, np.float32)
    inside[idx("eyeSquintLeft")] = inside[idx("eyeSquintRight")] = 0.2
    inside[idx("headRoll")] = -0.05
    carried, offset = split_rest(inside)
    np.testing.assert_array_equal(carried, inside)
    assert not offset.any()


def test_the_shipped_online_model_idles_at_a_rest_pose_outside_its_training_range() -> None:
    gen = load_online_generator(backend="torch")
    rest = _wide_rest()
    state = gen.init_state(CharacterConditioning(rest_curves=rest), seed=3)
    chunks = []
    for _ in range(15):  # 2.4 s of silence
        curves, state = gen.step(state, ChunkInputs.silence(gen.chunk_frames))
        chunks.append(curves)
    idle = np.concatenate(chunks)[25:].mean(axis=0)  # after the first second
    for name in ("mouthSmileLeft", "mouthSmileRight", "jawOpen", "browInnerUp"):
        assert abs(idle[idx(name)] - rest[idx(name)]) < 0.1, (name, idle[idx(name)])
