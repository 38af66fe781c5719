"""Phones of every speech engine → one shared viseme set, and phone-timing clean-up.

The shared set has 15 visemes (silence included), the classes commonly used for real-time lip
sync: ``sil``; consonants ``PP`` (p b m), ``FF`` (f v), ``TH`` (th dh), ``DD`` (t d), ``kk``
(k g ng), ``CH`` (ch jh sh zh), ``SS`` (s z), ``nn`` (n l), ``RR`` (r, r-coloured vowels); vowels
``aa``, ``E``, ``ih``, ``oh``, ``ou``.

Engines label phones differently: festival and flite use ARPAbet (``pau hh ax l ow``), espeak-ng
its own mnemonics with stress marks (``'oU``, ``@``, ``_:``). Each label maps to a viseme; ``h``
and the glottal stop have no mouth shape of their own and take the next phone's viseme.
Diphthongs map to their first part; :data:`DIPHTHONG_END` names the viseme they glide to.

espeak-ng reports a voiceless stop (and a voiced one after a pause) at its release, so the
silent closure before it is counted in the previous phone; :func:`correct_stop_closures` moves
each such boundary back to where the closure starts, read from the audio.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from models.corpus.schema import Phone

log = logging.getLogger(__name__)

VISEMES: tuple[str, ...] = (
    "sil",
    "PP",
    "FF",
    "TH",
    "DD",
    "kk",
    "CH",
    "SS",
    "nn",
    "RR",
    "aa",
    "E",
    "ih",
    "oh",
    "ou",
)
VOWEL_VISEMES = frozenset({"aa", "E", "ih", "oh", "ou"})
OPEN_VOWEL_VISEMES = frozenset({"aa"})
BILABIAL_VISEMES = frozenset({"PP"})
ROUNDED_VISEMES = frozenset({"oh", "ou"})
_NEXT = "<next>"  # a label that borrows the following phone's viseme

# ARPAbet (festival's radio phone set, flite's CMU set), lower case.
_ARPABET: dict[str, str] = {
    **dict.fromkeys(("pau", "h#", "brth", "sil", "ssil"), "sil"),
    **dict.fromkeys(("p", "b", "m", "em"), "PP"),
    **dict.fromkeys(("f", "v"), "FF"),
    **dict.fromkeys(("th", "dh"), "TH"),
    **dict.fromkeys(("t", "d", "dx"), "DD"),
    **dict.fromkeys(("k", "g", "ng"), "kk"),
    **dict.fromkeys(("ch", "jh", "sh", "zh"), "CH"),
    **dict.fromkeys(("s", "z"), "SS"),
    **dict.fromkeys(("n", "en", "nx", "l", "el"), "nn"),
    **dict.fromkeys(("r", "er", "axr"), "RR"),
    **dict.fromkeys(("aa", "ae", "ah", "ay", "aw"), "aa"),
    **dict.fromkeys(("eh", "ey", "ax"), "E"),
    **dict.fromkeys(("ih", "iy", "y"), "ih"),
    **dict.fromkeys(("ao", "ow", "oy"), "oh"),
    **dict.fromkeys(("uh", "uw", "w"), "ou"),
    **dict.fromkeys(("hh", "hv"), _NEXT),
}
# espeak-ng English mnemonics (stress marks stripped), case-sensitive.
_ESPEAK: dict[str, str] = {
    **dict.fromkeys(("_", "_:", "_!", "_|", "_;"), "sil"),
    **dict.fromkeys(("p", "b", "m", "m-"), "PP"),
    **dict.fromkeys(("f", "v"), "FF"),
    **dict.fromkeys(("T", "D"), "TH"),
    **dict.fromkeys(("t", "d", "t#", "t2", "t[", "d#", "d["), "DD"),
    **dict.fromkeys(("k", "g", "N", "x"), "kk"),
    **dict.fromkeys(("tS", "dZ", "S", "Z"), "CH"),
    **dict.fromkeys(("s", "z"), "SS"),
    **dict.fromkeys(("n", "n-", "l", "l-", "@L", "L"), "nn"),
    **dict.fromkeys(("r", "r-", "3", "3:", "@r", "IR", "VR", "UR", "A@r"), "RR"),
    **dict.fromkeys(
        ("a", "a#", "A:", "A@", "aa", "V", "aI", "aI2", "aI3", "aI@", "aU", "aU@"), "aa"
    ),
    **dict.fromkeys(("E", "e", "e@", "eI", "@", "@2", "@5", "@-", "a2"), "E"),
    **dict.fromkeys(("I", "I#", "I2", "i", "i:", "i@", "i@3", "j", ";"), "ih"),
    **dict.fromkeys(("0", "O", "O:", "O@", "O2", "o@", "oU", "oU#", "OI"), "oh"),
    **dict.fromkeys(("u:", "U", "U@", "u@", "w", "w#"), "ou"),
    **dict.fromkeys(("h", "?"), _NEXT),
}
# Where a diphthong glides to (its second half), by the engine's label.
DIPHTHONG_END: dict[str, str] = {
    "ay": "ih",
    "aw": "ou",
    "ey": "ih",
    "ow": "ou",
    "oy": "ih",
    "aI": "ih",
    "aI2": "ih",
    "aI3": "ih",
    "aI@": "ih",
    "aU": "ou",
    "aU@": "ou",
    "eI": "ih",
    "oU": "ou",
    "oU#": "ou",
    "OI": "ih",
    "i@": "E",
    "i@3": "E",
    "U@": "E",
    "u@": "E",
}
# espeak-ng stops whose closure may precede the reported event.
ESPEAK_STOPS = frozenset({"p", "b", "t", "d", "k", "g", "t#", "t2", "t[", "tS", "dZ"})
_STRESS_MARKS = "'\",%="


def normalize_espeak(label: str) -> str:
    """An espeak-ng phoneme mnemonic without stress marks (``'oU`` → ``oU``)."""
    return label.strip().lstrip(_STRESS_MARKS).strip(_STRESS_MARKS) or label.strip()


def _lookup(label: str, engine: str) -> str:
    if engine == "espeak":
        table, key = _ESPEAK, label
    else:
        table, key = _ARPABET, label.lower()
    if key in table:
        return table[key]
    # Unknown labels: drop trailing variant marks (digits, '#', ':'), then guess by the letter.
    trimmed = key.rstrip("0123456789#:[")
    if trimmed in table:
        return table[trimmed]
    log.debug("no viseme for %s phone %r; treated as a neutral consonant", engine, label)
    return "E" if trimmed[:1].lower() in "aeiou@" else "nn"


def viseme_sequence(labels: Sequence[str], engine: str) -> list[str]:
    """Viseme of each phone label of one utterance (``engine``: espeak, festival or flite).

    Labels that borrow the next phone's shape (``h``, glottal stop) take the following phone's
    viseme, or ``sil`` at the end of the utterance.
    """
    visemes = [_lookup(label, engine) for label in labels]
    following = "sil"
    for i in range(len(visemes) - 1, -1, -1):
        if visemes[i] == _NEXT:
            visemes[i] = following
        following = visemes[i]
    return visemes


def phones_from_starts(
    labels: Sequence[str],
    starts: Sequence[float],
    duration_s: float,
    engine: str,
    stream: str = "speak",
) -> list[Phone]:
    """Contiguous phones covering ``[0, duration_s]`` from engine labels and start times.

    Each phone ends where the next starts (times clipped into the utterance and made
    non-decreasing); zero-length phones are dropped; time before the first phone becomes a
    pause (``_`` or ``pau``) and the last phone runs to ``duration_s``.
    """
    if len(labels) != len(starts):
        raise ValueError("labels and starts must have the same length")
    names = [normalize_espeak(x) if engine == "espeak" else x.strip().lower() for x in labels]
    times = [min(max(float(t), 0.0), duration_s) for t in starts]
    if not names or times[0] > 0.005:
        names.insert(0, "_" if engine == "espeak" else "pau")
        times.insert(0, 0.0)
    visemes = viseme_sequence(names, engine)
    bounds = np.maximum.accumulate(np.asarray(times, np.float64))
    bounds[0] = 0.0
    edges = np.append(bounds, duration_s)
    out: list[Phone] = []
    for i, (name, vis) in enumerate(zip(names, visemes, strict=True)):
        start, end = float(edges[i]), float(edges[i + 1])
        if end - start > 1e-6:
            out.append(Phone(start, end, name, vis, stream))
    return out


def _energy_db(samples: np.ndarray, sample_rate: int, hop_s: float, win_s: float) -> np.ndarray:
    """Short-time energy (dB) of the pre-emphasised signal, one value per hop: a voice bar
    (the low hum of a voiced closure) is weak there, so closures of voiced stops read low too."""
    x = np.asarray(samples, np.float64)
    y = np.empty_like(x)
    if x.size:
        y[0] = x[0]
        y[1:] = x[1:] - 0.95 * x[:-1]
    hop = max(1, round(hop_s * sample_rate))
    win = max(hop, round(win_s * sample_rate))
    n = max(0, (y.size - win) // hop + 1)
    if n == 0:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(y, win)[::hop][:n]
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def correct_stop_closures(
    phones: Sequence[Phone],
    samples: np.ndarray,
    sample_rate: int,
    drop_db: float = 28.0,
    max_closure_s: float = 0.1,
    min_closure_s: float = 0.01,
    min_keep_s: float = 0.02,
) -> list[Phone]:
    """Move each espeak stop's start back over the closure that precedes its reported time.

    ``phones`` start at 0 on the timeline of ``samples``. A closure is the run of frames right
    before the stop whose pre-emphasised energy is at least ``drop_db`` under the utterance's
    loud level (the 90th percentile); runs shorter than ``min_closure_s`` are ignored (an
    intervocalic voiced stop is already reported at its closure), longer ones are capped at
    ``max_closure_s``, and the previous phone keeps at least ``min_keep_s`` (or half its length).
    """
    hop_s = 0.002
    energy = _energy_db(samples, sample_rate, hop_s, 0.005)
    if energy.size == 0:
        return list(phones)
    threshold = float(np.percentile(energy, 90)) - drop_db
    out = list(phones)
    for i in range(1, len(out)):
        stop = out[i]
        if stop.phone not in ESPEAK_STOPS:
            continue
        prev = out[i - 1]
        # The window of frame k covers [k*hop, k*hop + 5 ms): frames ending before the event.
        k = int(stop.start_s / hop_s) - 3
        run = 0
        while k - run >= 0 and energy[k - run] < threshold:
            run += 1
        # The first silent frame starts where the closure does (to within a sample or two).
        closure_start = (k - run + 1) * hop_s
        if stop.start_s - closure_start < min_closure_s:
            continue
        keep = min(min_keep_s, 0.5 * prev.duration_s)
        new_start = max(closure_start, stop.start_s - max_closure_s, prev.start_s + keep)
        if new_start >= stop.start_s:
            continue
        out[i - 1] = Phone(prev.start_s, new_start, prev.phone, prev.viseme, prev.stream)
        out[i] = Phone(new_start, stop.end_s, stop.phone, stop.viseme, stop.stream)
    return out


def shift_phones(phones: Sequence[Phone], offset_s: float, stream: str) -> list[Phone]:
    """Phones moved by ``offset_s`` seconds and assigned to ``stream``."""
    return [
        Phone(p.start_s + offset_s, p.end_s + offset_s, p.phone, p.viseme, stream) for p in phones
    ]


def truncate_phones(phones: Sequence[Phone], end_s: float) -> list[Phone]:
    """Phones cut at ``end_s``: later ones dropped, the one spanning it shortened."""
    out: list[Phone] = []
    for p in phones:
        if p.start_s >= end_s - 1e-6:
            break
        out.append(Phone(p.start_s, min(p.end_s, end_s), p.phone, p.viseme, p.stream))
    return out


def speech_intervals(
    phones: Sequence[Phone], stream: str, bridge_s: float = 0.5
) -> list[tuple[float, float]]:
    """Intervals ``(start_s, end_s)`` where ``stream`` is speaking: non-silence phones, with
    pauses shorter than ``bridge_s`` inside speech counted as speaking."""
    spans = sorted((p.start_s, p.end_s) for p in phones if p.stream == stream and p.viseme != "sil")
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] < bridge_s:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def frame_activity(
    intervals: Sequence[tuple[float, float]], num_frames: int, fps: float
) -> np.ndarray:
    """bool ``[num_frames]``: frames at least half covered by the intervals."""
    cover = np.zeros(num_frames, np.float64)
    for start, end in intervals:
        a, b = start * fps, end * fps
        first, last = max(0, int(np.floor(a))), min(num_frames - 1, int(np.ceil(b)) - 1)
        for f in range(first, last + 1):
            cover[f] += max(0.0, min(b, f + 1) - max(a, f))
    return cover >= 0.5
