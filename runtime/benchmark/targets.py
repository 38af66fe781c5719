"""Ground-truth mouth targets from phone timings, for motion-level lip sync.

Where speech comes from the synthesiser its phones and their start times are known
(:class:`models.tts.TimedUnit`). A deliberately small rule turns them into per-frame targets a
performance should follow, one per curve it is compared with:

* ``jawOpen`` (how open the mouth should be): vowels 1, close vowels /i ɪ u ʊ/ 0.6, /p b m/ 0,
  /f v/ 0.1, other consonants 0.3, pauses 0;
* ``mouthClose`` (lips together): /p b m/ 1, else 0;
* ``mouthFunnel`` (lips rounded): /u ʊ oʊ ɔ ɒ w/ 1, else 0.

A phone lasts from its start to the next unit's start (the last one to the end of its line).
A frame's target is the time-weighted mean over the frame's ``1/fps`` seconds. Phone names are
espeak-ng mnemonics with stress marks (``'``, ``,``) stripped.

This is a yardstick, not a viseme model: no coarticulation, no anticipation. The signature
:data:`TargetFunction` lets a better source (a viseme corpus) replace it without touching the
suites.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.tts import TimedUnit


@dataclass(frozen=True)
class TimedLine:
    """One synthesised line placed on a case's timeline: its phones (start times in seconds
    from the start of the line) and where the line starts and ends on the timeline."""

    start_s: float
    end_s: float
    phonemes: tuple[TimedUnit, ...]


# (timed lines, number of frames, fps) -> {curve name: target [T] in 0..1}
TargetFunction = Callable[[Sequence[TimedLine], int, float], dict[str, np.ndarray]]

_VOWEL_START = set("aeiouAEIOUV@03")
_CLOSE_VOWELS = ("i", "I", "u", "U")  # /i ɪ u ʊ/: the jaw opens little
_BILABIAL = {"p", "b", "m"}
_LABIODENTAL = {"f", "v"}
_ROUNDED = ("u", "U", "o", "O", "0", "w")  # /u ʊ oʊ ɔ ɒ w/ (aU's glide is left out)


def _name(unit: TimedUnit) -> str:
    return unit.text.replace("'", "").replace(",", "")


def phone_values(name: str) -> tuple[float, float, float]:
    """(open, closed, rounded) targets of one espeak phone mnemonic (stress marks stripped)."""
    if not name or name.startswith("_"):
        return 0.0, 0.0, 0.0
    if name[0] in _VOWEL_START:
        opening = 0.6 if name.startswith(_CLOSE_VOWELS) else 1.0
        rounded = 1.0 if name.startswith(_ROUNDED) and not name.startswith("aU") else 0.0
        return opening, 0.0, rounded
    if name in _BILABIAL:
        return 0.0, 1.0, 0.0
    if name in _LABIODENTAL:
        return 0.1, 0.0, 0.0
    return 0.3, 0.0, 1.0 if name == "w" else 0.0


def phone_class_targets(
    lines: Sequence[TimedLine], num_frames: int, fps: float
) -> dict[str, np.ndarray]:
    """Per-frame targets ``{"jawOpen", "mouthClose", "mouthFunnel"}`` ``[num_frames]`` (0..1)
    from the lines' phone timings (see the module table)."""
    # Integrate piecewise-constant targets on a 1 ms grid, then average per frame.
    res = 1000
    n = round(num_frames / fps * res)
    grid = np.zeros((3, n))
    for line in lines:
        units = [u for u in line.phonemes if u.text]
        for k, unit in enumerate(units):
            a = line.start_s + unit.start
            b = line.start_s + units[k + 1].start if k + 1 < len(units) else line.end_s
            ia, ib = max(0, round(a * res)), min(n, round(b * res))
            if ib > ia:
                grid[:, ia:ib] = np.asarray(phone_values(_name(unit)))[:, None]
    edges = np.round(np.arange(num_frames + 1) * res / fps).astype(int)
    edges = np.minimum(edges, n)
    csum = np.concatenate([np.zeros((3, 1)), np.cumsum(grid, axis=1)], axis=1)
    width = np.maximum(np.diff(edges), 1)
    means = (csum[:, edges[1:]] - csum[:, edges[:-1]]) / width
    return {"jawOpen": means[0], "mouthClose": means[1], "mouthFunnel": means[2]}
