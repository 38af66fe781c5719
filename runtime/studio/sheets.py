"""Contact sheets of a character performing: the rest pose, talking (the widest mouths of a
spoken line), blinking and a few emotes, rendered by the real generator and renderer — the
picture to look at after setting up a stylised character."""

from __future__ import annotations

import numpy as np

from models.generator import CharacterConditioning, ChunkInputs, samples_per_frame
from models.motion import CURVE_INDEX
from models.performer import ProceduralPerformer
from models.render.asset import CharacterAsset
from models.render.warp import WarpRenderer
from runtime.media import contact_sheet

FPS = 25.0


def _perform(asset: CharacterAsset, speak: np.ndarray, prompt: str | None, seed: int) -> np.ndarray:
    """Curves ``[n, 61]`` of the procedural performer over ``speak`` (16 kHz), 4-frame chunks."""
    performer = ProceduralPerformer()
    state = performer.init_state(CharacterConditioning(rest_curves=asset.rest_curves), seed=seed)
    spf = samples_per_frame(FPS)
    n = len(speak) // spf
    out = []
    for start in range(0, n, 4):
        k = min(4, n - start)
        pcm = speak[start * spf : (start + k) * spf]
        chunk = ChunkInputs(k, pcm, np.zeros_like(pcm), prompt, FPS)
        curves, state = performer.step(state, chunk)
        out.append(curves)
    return np.concatenate(out)


def performance_sheet(
    asset: CharacterAsset, speak: np.ndarray, cell_size: int = 192, seed: int = 0
) -> np.ndarray:
    """RGB sheet: rest, six talking frames (spread over the line, widest jaw in each part),
    a blink closing and closed, then smile, surprised and a frown held."""
    renderer = WarpRenderer(asset)
    talk = _perform(asset, speak, None, seed)
    jaw = talk[:, CURVE_INDEX["jawOpen"]]
    cells: list[tuple[str, np.ndarray]] = [("rest", asset.rest_curves.copy())]
    for part in np.array_split(np.arange(len(talk)), 6):
        if len(part):
            i = int(part[np.argmax(jaw[part])])
            cells.append((f"talking {i / FPS:.2f} s (jaw {jaw[i]:.2f})", talk[i]))
    for amount in (0.5, 1.0):
        c = asset.rest_curves.copy()
        c[CURVE_INDEX["eyeBlinkLeft"]] = c[CURVE_INDEX["eyeBlinkRight"]] = amount
        cells.append((f"blink {amount:.1f}", c))
    silence = np.zeros(int(2.0 * 16_000), np.float32)
    for prompt in ("smiles warmly", "surprised", "frowns"):
        curves = _perform(asset, silence, prompt, seed)
        cells.append((prompt, curves[-1]))
    frames = [renderer.render(c)[..., :3] for _, c in cells]
    return contact_sheet(frames, [label for label, _ in cells], columns=6, cell_size=cell_size)
