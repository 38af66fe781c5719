"""Real captures → corpus samples: a Live Link Face CSV and the WAV recorded with it.

The CSV is read by :func:`models.motion.read_live_link_csv` (timecodes → 25 fps, degrees
detected, missing columns neutral); the WAV is resampled to 16 kHz and taken to start at the
CSV's first frame (``audio_offset_s`` shifts it: positive when the audio starts later). The
capture is the character's own voice; frames where it talks (the performer's voice-activity
detector) are ``speak``, the rest ``idle``. Long captures are cut into clips of at most
``clip_s`` seconds; there are no phone timings.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from pathlib import Path

import numpy as np

from models.audio_features import AudioFrontEnd, FeatureConfig, VadConfig, VoiceActivityDetector
from models.audio_io import load_audio, to_model_rate
from models.corpus.schema import (
    CLIP_SECONDS,
    FPS,
    SAMPLE_RATE_HZ,
    SAMPLES_PER_FRAME,
    CorpusSample,
    state_from_activity,
)
from models.motion import read_live_link_csv

log = logging.getLogger(__name__)


def _speech_frames(audio: np.ndarray) -> np.ndarray:
    """bool ``[T]``: frames of ``audio`` (16 kHz, ``T * 640`` samples) that hold speech."""
    front = AudioFrontEnd(FeatureConfig(), FPS)
    vad = VoiceActivityDetector(VadConfig(), FPS)
    features, _ = front.process(front.init_state(), audio)
    decision, _ = vad.process(vad.init_state(), features.level_db, features.voicing)
    return np.asarray(decision.active, dtype=bool)


def import_capture(
    csv_path: Path,
    wav_path: Path | None = None,
    split: str = "train",
    caption: str = "",
    voice: str = "",
    text: str = "",
    audio_offset_s: float = 0.0,
    clip_s: float = 10.0,
) -> list[CorpusSample]:
    """Samples (kind ``capture``) from a Live Link Face CSV and its WAV (``None``: silence).

    ``voice`` defaults to ``capture:<csv stem>``. The capture is cut into equal clips of at most
    ``clip_s`` seconds.
    """
    csv_path = Path(csv_path)
    lo, hi = CLIP_SECONDS
    if not lo <= clip_s <= hi:
        raise ValueError(f"clip_s must be within {lo}..{hi} s, got {clip_s}")
    clip = read_live_link_csv(csv_path, fps=FPS)
    frames = clip.num_frames
    if frames == 0:
        raise ValueError(f"{csv_path}: no frames")
    audio = np.zeros(frames * SAMPLES_PER_FRAME, np.float32)
    if wav_path is not None:
        samples, rate = load_audio(wav_path)
        pcm = to_model_rate(samples, rate)
        shift = round(audio_offset_s * SAMPLE_RATE_HZ)
        src = pcm[max(0, -shift) :]
        dst = max(0, shift)
        n = max(0, min(audio.size - dst, src.size))
        audio[dst : dst + n] = src[:n]
    speaking = _speech_frames(audio) if wav_path is not None else np.zeros(frames, bool)
    state = state_from_activity(speaking, np.zeros(frames, bool))
    voice = voice or f"capture:{csv_path.stem}"
    digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()[:12]

    # Even pieces of at most clip_s: each at least half of it once there are two or more.
    pieces = -(-frames // round(clip_s * FPS))
    bounds = [round(k * frames / pieces) for k in range(pieces + 1)]
    if frames < round(lo * FPS):
        log.warning("%s: only %.1f s, shorter than a corpus clip", csv_path, frames / FPS)
    out: list[CorpusSample] = []
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        out.append(
            CorpusSample(
                id=f"capture-{csv_path.stem}-{k:03d}",
                kind="capture",
                split=split,
                speak=audio[a * SAMPLES_PER_FRAME : b * SAMPLES_PER_FRAME].copy(),
                listen=np.zeros((b - a) * SAMPLES_PER_FRAME, np.float32),
                motion=clip.curves[a:b].copy(),
                state=state[a:b].copy(),
                caption=caption,
                voice=voice,
                text=text if k == 0 else "",
                phones=(),
                meta={
                    "source_csv": csv_path.name,
                    "source_wav": Path(wav_path).name if wav_path is not None else "",
                    "csv_sha256": digest,
                    "start_s": round(a / FPS, 4),
                    "audio_offset_s": audio_offset_s,
                    "listen_voice": "",
                },
            )
        )
    log.debug("%s: %d frames → %d clips", csv_path, frames, len(out))
    return out


def find_captures(directory: Path) -> list[tuple[Path, Path | None]]:
    """``(csv, wav or None)`` pairs in a folder: each ``*.csv`` with the same-stem ``.wav``."""
    pairs: list[tuple[Path, Path | None]] = []
    for csv_path in sorted(Path(directory).glob("*.csv")):
        wav = csv_path.with_suffix(".wav")
        pairs.append((csv_path, wav if wav.is_file() else None))
    return pairs
