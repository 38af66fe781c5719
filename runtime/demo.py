"""``lpm demo``: a short conversation with an NPC, end to end on this machine.

The player speaks (the NPC listens and reacts), the NPC answers (lip-synced to its own voice),
then emotes on a text prompt. Voices come from the bundled speech synthesiser unless WAV files
are given. Writes ``demo.mp4`` (25 fps, both voices mixed as a bystander hears them), the NPC's
voice alone as ``demo.npc.wav`` (same timeline, for lip-sync measurement), the curves as a Live
Link Face CSV and a contact sheet PNG.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.audio_io import load_audio, save_wav, to_model_rate
from models.generator import (
    SAMPLE_RATE,
    CharacterConditioning,
    ChunkInputs,
    PerformanceGenerator,
    samples_per_frame,
)
from models.motion import MotionClip, write_live_link_csv
from models.performer import ProceduralPerformer
from models.render.asset import CharacterAsset
from models.render.warp import WarpRenderer
from models.tts import synthesize
from runtime.media import Mp4Writer, contact_sheet, save_png

log = logging.getLogger(__name__)

DEFAULT_NPC_LINE = (
    "The lighthouse? Follow the coast road north, past the harbour. "
    "You really can't miss it, but do watch the tide."
)
DEFAULT_PLAYER_LINE = "Excuse me, do you know the way to the old lighthouse?"
DEFAULT_PROMPT = "smiles warmly, then nods"


@dataclass(frozen=True)
class DemoScript:
    """Timeline of the demo conversation, all audio mono float32 at 16 kHz."""

    listen: np.ndarray  # the player's voice on the conversation timeline
    speak: np.ndarray  # the NPC's voice on the same timeline
    prompts: list[str | None] = field(default_factory=list)  # per video frame
    fps: float = 25.0

    @property
    def num_frames(self) -> int:
        return len(self.prompts)


def _voice(text: str | None, wav: Path | None, voice: str, pitch: int) -> tuple[np.ndarray, str]:
    if wav is not None:
        samples, rate = load_audio(wav)
        return to_model_rate(samples, rate), wav.name
    assert text is not None
    speech = synthesize(text, voice=voice, pitch=pitch, sample_rate=SAMPLE_RATE)
    return speech.samples.astype(np.float32), f"tts:{voice}"


def build_script(
    npc_text: str | None = DEFAULT_NPC_LINE,
    npc_wav: Path | None = None,
    player_text: str | None = DEFAULT_PLAYER_LINE,
    player_wav: Path | None = None,
    prompt: str | None = DEFAULT_PROMPT,
    fps: float = 25.0,
) -> DemoScript:
    """Idle → player speaks → pause → NPC answers → emote on the prompt → idle."""
    spf = samples_per_frame(fps)
    player, _ = _voice(player_text, player_wav, voice="en-GB-x-rp", pitch=40)
    npc, _ = _voice(npc_text, npc_wav, voice="en-us+f3", pitch=55)
    lead, gap, tail = int(0.8 * SAMPLE_RATE), int(0.7 * SAMPLE_RATE), int(3.2 * SAMPLE_RATE)
    total = lead + len(player) + gap + len(npc) + tail
    total = int(np.ceil(total / spf)) * spf
    listen = np.zeros(total, np.float32)
    speak = np.zeros(total, np.float32)
    listen[lead : lead + len(player)] = player
    npc_start = lead + len(player) + gap
    speak[npc_start : npc_start + len(npc)] = npc
    n_frames = total // spf
    emote_frame = int(np.ceil((npc_start + len(npc)) / spf)) + int(0.4 * fps)
    prompts: list[str | None] = [None] * n_frames
    for i in range(emote_frame, n_frames):
        prompts[i] = prompt
    return DemoScript(listen=listen, speak=speak, prompts=prompts, fps=fps)


def make_generator(
    name: str | None = None, online_checkpoint: Path | None = None, online_backend: str = "onnx"
) -> PerformanceGenerator[Any]:
    """The demo's generator by name (default: the server's, `runtime.config.DEFAULT_GENERATOR`)."""
    from runtime.config import DEFAULT_GENERATOR
    from runtime.engine import generator_by_name

    return generator_by_name(name or DEFAULT_GENERATOR, online_checkpoint, online_backend)


def perform_script(
    script: DemoScript,
    rest_curves: np.ndarray,
    seed: int = 0,
    chunk_frames: int = 4,
    generator: PerformanceGenerator[Any] | None = None,
) -> MotionClip:
    """Run a generator (default: the procedural performer) over the script in streaming chunks."""
    performer = generator or ProceduralPerformer()
    state = performer.init_state(CharacterConditioning(rest_curves=rest_curves), seed=seed)
    spf = samples_per_frame(script.fps)
    model_chunk = getattr(performer, "chunk_frames", None)
    if model_chunk is not None:  # a learned model: whole model chunks, the look-ahead known
        return _perform_in_model_chunks(performer, state, script, chunk_frames, model_chunk)
    out = []
    for start in range(0, script.num_frames, chunk_frames):
        n = min(chunk_frames, script.num_frames - start)
        a, b = start * spf, (start + n) * spf
        # A prompt change between chunks starts the emote on the chunk's first frame.
        chunk = ChunkInputs(
            n, script.speak[a:b], script.listen[a:b], script.prompts[start], script.fps
        )
        curves, state = performer.step(state, chunk)
        out.append(curves)
    return MotionClip(np.concatenate(out), script.fps)


def _perform_in_model_chunks(
    generator: PerformanceGenerator[Any],
    state: Any,
    script: DemoScript,
    chunk_frames: int,
    model_chunk: int,
) -> MotionClip:
    """Chunks of a multiple of the model's chunk; the script's audio is known ahead (as TTS
    audio is), so each chunk hears its real look-ahead. The tail is padded with silence."""
    spf = samples_per_frame(script.fps)
    chunk = -(-chunk_frames // model_chunk) * model_chunk
    ahead = int(getattr(generator, "lookahead_frames", 0))
    total = -(-script.num_frames // chunk) * chunk
    pad = (total + ahead) * spf
    speak = np.zeros(pad, np.float32)
    listen = np.zeros(pad, np.float32)
    speak[: script.speak.size] = script.speak
    listen[: script.listen.size] = script.listen
    out = []
    for start in range(0, total, chunk):
        a, b = start * spf, (start + chunk) * spf
        prompt = script.prompts[min(start, script.num_frames - 1)]
        inputs = ChunkInputs(
            chunk,
            speak[a:b],
            listen[a:b],
            prompt,
            script.fps,
            speak_ahead=speak[b : b + ahead * spf] if ahead else None,
        )
        curves, state = generator.step(state, inputs)
        out.append(curves)
    return MotionClip(np.concatenate(out)[: script.num_frames], script.fps)


def run_demo(
    asset: CharacterAsset,
    script: DemoScript,
    out: Path,
    size: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    generator: PerformanceGenerator[Any] | None = None,
) -> dict[str, Path]:
    """Perform (default: the procedural performer), render and write the demo files; returns
    their paths by kind."""
    clip = perform_script(script, asset.rest_curves, seed=seed, generator=generator)
    renderer = WarpRenderer(asset, output_size=size)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = out.with_suffix("")
    paths = {
        "video": out,
        "npc_wav": Path(f"{stem}.npc.wav"),
        "csv": Path(f"{stem}.csv"),
        "sheet": Path(f"{stem}.sheet.png"),
        "asset": Path(f"{stem}.lpmchar"),
    }
    mix = script.speak + script.listen
    peak = float(np.abs(mix).max(initial=0.0))
    if peak > 0.98:
        mix = mix * (0.98 / peak)
    sheet_every = max(1, clip.num_frames // 12)
    thumbs: list[np.ndarray] = []
    labels: list[str] = []
    with Mp4Writer(out, fps=script.fps, audio=mix, sample_rate=SAMPLE_RATE) as writer:
        for i, curves in enumerate(clip.curves):
            frame = renderer.render(curves)
            writer.write(frame[..., :3])
            if i % sheet_every == 0 and len(thumbs) < 12:
                thumbs.append(frame[..., :3])
                labels.append(_label(i, script))
            if progress is not None:
                progress(i + 1, clip.num_frames)
    save_wav(paths["npc_wav"], script.speak, SAMPLE_RATE)
    asset.save(paths["asset"])
    write_live_link_csv(clip, paths["csv"])
    save_png(paths["sheet"], contact_sheet(thumbs, labels, columns=6, cell_size=256))
    log.info("demo written: %s", ", ".join(str(p) for p in paths.values()))
    return paths


def _label(frame: int, script: DemoScript) -> str:
    spf = samples_per_frame(script.fps)
    sl = slice(frame * spf, (frame + 1) * spf)
    t = frame / script.fps
    if np.abs(script.speak[sl]).max(initial=0.0) > 0.01:
        what = "speaks"
    elif np.abs(script.listen[sl]).max(initial=0.0) > 0.01:
        what = "listens"
    elif script.prompts[frame]:
        what = str(script.prompts[frame])
    else:
        what = "idle"
    return f"{t:4.1f}s {what}"
